"""aftercare: the post-purchase customer journey, as tested Python on your own Prefect.

The public entry points are the Typer CLI (`aftercare`), the Prefect flows in `flows/`, and
`aftercare.bootstrap.build_services`, the one place where settings, database, clock, renderer and
providers are put together.
"""

__version__ = "0.1.0"
