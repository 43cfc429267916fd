"""`aftercare lift`: the sent vs held-out comparison per marketing step, as a table and one JSON line.

The main CLI registers it with ``app.command("lift")(lift_command)``. `--db` points it at another SQLite
file (the demo writes `.aftercare/demo.db`); without it the configured database is used.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aftercare.analytics.lift import METHOD_NOTE, data_as_of, format_row, lift, rows_json


def lift_command(
    db: Annotated[Path | None, typer.Option(help="A SQLite database file (e.g. .aftercare/demo.db).")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Any SQLAlchemy URL; overrides --db and settings.")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Measure up to this time (ISO, with zone). Default: the earlier of now and the data's last "
            "event, so a finished simulation's end is not read as months of silence."
        ),
    ] = None,
    step: Annotated[list[str] | None, typer.Option(help="Only these steps (repeatable).")] = None,
) -> None:
    """Per marketing step: outcomes of customers sent the message vs held out, with 95% intervals."""
    from aftercare.clock import SystemClock
    from aftercare.db.engine import make_engine, make_session_factory
    from aftercare.journeys.loading import load_journey
    from aftercare.settings import get_settings

    settings = get_settings()
    url = database_url or (f"sqlite:///{db.as_posix()}" if db is not None else settings.resolved_database_url)
    if db is not None and database_url is None and not db.exists():
        raise typer.BadParameter(f"{db} does not exist (run `aftercare demo` first?)", param_hint="--db")
    engine = make_engine(url)
    journey = load_journey(settings)
    marketing = [s.name for s in journey.steps if s.is_marketing]
    wanted = [s for s in marketing if s in step] if step else marketing
    with make_session_factory(engine)() as session:
        if as_of is not None:
            moment = datetime.fromisoformat(as_of)
            if moment.tzinfo is None:
                raise typer.BadParameter(
                    "give a time zone, e.g. 2026-07-01T00:00:00+00:00", param_hint="--as-of"
                )
        else:
            now = SystemClock().now()
            last = data_as_of(session)
            moment = min(now, last) if last is not None else now
        rows = lift(session, moment, wanted)
    engine.dispose()

    console = Console(width=160)
    table = Table(title=f"Lift per marketing step, as of {moment.isoformat()}", title_justify="left")
    columns = (
        "step",
        "outcome",
        "sent (n)",
        "held out (n)",
        "sent",
        "held out",
        "difference",
        "95% CI",
        "verdict",
    )
    for name in columns:
        table.add_column(
            name, justify="left" if name in ("step", "outcome", "verdict", "95% CI") else "right"
        )
    previous = None
    for row in rows:
        cells = format_row(row)
        if previous is not None and row.step != previous:
            table.add_section()
        previous = row.step
        table.add_row(*(cells[c] for c in columns))
    console.print(table)
    if not rows:
        console.print("No marketing step has been sent or held out yet.")
    console.print(METHOD_NOTE, soft_wrap=False)
    print(rows_json(rows, moment))
