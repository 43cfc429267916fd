"""The `aftercare` command line: the demo, one sweep now, reruns, and looking inside the journey."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Post-purchase customer journeys on Prefect.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
console = Console(width=max(Console().width, 150))


def _quiet_prefect() -> None:
    """Keep Prefect's per-task-run log lines off the terminal unless the user asked for them."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "WARNING")
    # The ephemeral server's telemetry and shutdown chatter is not the user's business in a CLI run.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    # Should a temporary server start after all (a flow run outside the CLI's own paths), give a busy machine time.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _through_prefect() -> bool:
    """Run as a Prefect flow only when a Prefect API is configured; else the same code runs directly, with no
    temporary Prefect server to wait for (see `aftercare.prefect_api`)."""
    from aftercare.prefect_api import prefect_api_configured

    if prefect_api_configured():
        return True
    Console(stderr=True).print("[dim]no Prefect API configured (PREFECT_API_URL): running directly, "
                               "not as a Prefect flow run[/dim]")
    return False


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same store and funnel.")] = 7,
    customers: Annotated[int, typer.Option(help="Synthetic customers.")] = 1800,
    days: Annotated[int, typer.Option(help="Simulated days to run.")] = 180,
    order_days: Annotated[int, typer.Option(help="Days over which first orders are placed.")] = 90,
    tick_minutes: Annotated[int, typer.Option(help="Simulated minutes between sweeps.")] = 180,
    home: Annotated[Path, typer.Option(help="Where the demo database and outbox go.",
                                       envvar="AFTERCARE_HOME")] = Path(".aftercare"),
) -> None:
    """Seed a synthetic store, run 180 simulated days through the real flows, print the funnel."""
    _quiet_prefect()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from aftercare.bootstrap import build_services, use_services
    from aftercare.clock import FrozenClock
    from aftercare.console import funnel_table
    from aftercare.demo.simulation import DemoConfig
    from aftercare.services.funnel import funnel
    from aftercare.settings import Settings
    from flows import demo as demo_flow

    db = home / "demo.db"
    outbox = home / "outbox"
    for path in (db, db.with_suffix(".db-wal"), db.with_suffix(".db-shm")):
        path.unlink(missing_ok=True)
    shutil.rmtree(outbox, ignore_errors=True)
    settings = Settings(home=home, database_url=f"sqlite:///{db.as_posix()}", outbox_dir=outbox,
                        sendgrid_api_key=None, twilio_account_sid=None, environment="development")
    clock = FrozenClock(DemoConfig().start)
    services = build_services(settings, clock=clock)
    started = time.perf_counter()
    with use_services(services), Progress(TextColumn("[bold]simulating"), BarColumn(),
                                          TextColumn("day {task.fields[day]:>3}/{task.fields[days]}"),
                                          TimeElapsedColumn(), console=console) as progress:
        ticks_per_day = 24 * 60 // tick_minutes
        bar = progress.add_task("sim", total=days * ticks_per_day, day=0, days=days)
        demo_flow.progress_hook = lambda done, total: progress.update(bar, completed=done,
                                                                      day=done // ticks_per_day)
        run = demo_flow.demo_store if _through_prefect() else demo_flow.demo_store.fn
        try:
            result = run(seed=seed, customers=customers, order_days=order_days, days=days, tick_minutes=tick_minutes)
        finally:
            demo_flow.progress_hook = None
    wall = time.perf_counter() - started
    with services.session_factory() as session:
        rows = funnel(session, services.journey.names)
    title = f"Journey funnel: {customers} customers, {days} simulated days, seed {seed}"
    console.print(funnel_table(rows, title=title))
    console.print(f"steps decided: {result['claimed']}, messages sent: {result['sent']}, wall time: {wall:.1f} s")
    console.print(f"database: {db}")
    console.print(f"outbox:   {outbox}/ (email/<step>/<id>.<locale>.html|.txt, sms/<step>/<id>.<locale>.json)")


@app.command()
def sweep(
    batch_size: Annotated[int | None, typer.Option(help="Steps per batch.")] = None,
    max_batches: Annotated[int | None, typer.Option(help="Stop after this many batches.")] = None,
) -> None:
    """Run one sweep now (what the scheduled deployment runs). Safe to run again: nothing is sent twice."""
    refuse_unsafe_secrets()
    _quiet_prefect()
    if _through_prefect():
        from flows.journey_sweep import journey_sweep

        result = journey_sweep(batch_size=batch_size, max_batches=max_batches)
    else:  # the sweep service itself, without importing Prefect (an empty sweep: about `aftercare --help`)
        from aftercare.bootstrap import get_services
        from flows.run_context import sweep_worker_id

        sweeper = get_services().sweeper
        result = sweeper.run(worker_id=sweep_worker_id(None), max_batches=max_batches,
                             batch_size=batch_size).as_dict()
    console.print_json(json.dumps(result))


@app.command("run-journey")
def run_journey_command(
    order: Annotated[str, typer.Argument(help="The order: its number (#1042), the platform's id, or our id.")],
    step: Annotated[str | None, typer.Option(help="Only this step; an open one is made due now.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide and report; send nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Make steps due now; re-open skipped ones.")] = False,
) -> None:
    """Run one order's journey now (a manual rerun or backfill)."""
    _quiet_prefect()
    from aftercare.bootstrap import configured_journey
    from flows.run_journey import run_journey

    if step is not None and step not in configured_journey().names:
        raise typer.BadParameter(f"{step!r} is not a step of this journey: {', '.join(configured_journey().names)}",
                                 param_hint="--step")
    run = run_journey if _through_prefect() else run_journey.fn
    console.print_json(json.dumps(run(order=order, step=step or "all", dry_run=dry_run, force=force), default=str))


@app.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations to head)."""
    from aftercare.db.engine import make_engine, migrate
    from aftercare.settings import get_settings

    settings = get_settings()
    migrate(make_engine(settings.resolved_database_url))
    console.print("database is at the newest schema")


@app.command("funnel")
def funnel_command() -> None:
    """Print the funnel of everything in the ledger: per step, sent per channel, deferred, skipped by reason."""
    from aftercare.bootstrap import get_services
    from aftercare.console import funnel_table
    from aftercare.services.funnel import funnel

    services = get_services()
    with services.session_factory() as session:
        console.print(funnel_table(funnel(session, services.journey.names)))


def refuse_unsafe_secrets() -> None:
    """Stop with exit code 2 and the fix, before any work, when the secrets are unsafe (not in development)."""
    from aftercare.bootstrap import installed_services
    from aftercare.secrets_check import UnsafeSecrets, require_safe_secrets
    from aftercare.settings import get_settings

    installed = installed_services()
    try:
        require_safe_secrets(installed.settings if installed is not None else get_settings())
    except UnsafeSecrets as exc:
        Console(stderr=True).print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise typer.BadParameter("give a time zone, e.g. 2026-03-01T12:00:00+00:00")
    return moment


# Commands owned by other modules register here, one line each.
from aftercare.winback.cli import backtest_winback  # noqa: E402

app.command("backtest-winback")(backtest_winback)
from aftercare.webhooks.cli import serve  # noqa: E402

app.command("serve")(serve)
from aftercare.ops.cli import explain, status  # noqa: E402

app.command("explain")(explain)
app.command("status")(status)
from aftercare.ops.consent_cli import consent  # noqa: E402

app.command("consent")(consent)
from aftercare.ops.reconcile_cli import reconcile  # noqa: E402

app.command("reconcile")(reconcile)
from aftercare.analytics.cli import lift_command  # noqa: E402

app.command("lift")(lift_command)
from aftercare.winback.cli import fit_winback  # noqa: E402

app.command("fit-winback")(fit_winback)
from aftercare.ops.recovery_cli import recovery_app  # noqa: E402

app.add_typer(recovery_app, name="recovery")
from aftercare.imports.cli import import_app  # noqa: E402

app.add_typer(import_app, name="import")
from aftercare.rendering.preview import preview_command  # noqa: E402

app.command("preview")(preview_command)
from aftercare.ops.catalog_cli import catalog_app  # noqa: E402

app.add_typer(catalog_app, name="catalog")

if __name__ == "__main__":
    app()
