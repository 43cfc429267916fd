"""`aftercare backtest-winback`: score the lapse rules on CDNOW and say which one the engine will use.

The main CLI registers it with ``app.command("backtest-winback")(backtest_winback)``; standalone:
``python -m aftercare.winback.cli --cutoff 1997-09-30``. The last line printed is one JSON object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta

import typer
from rich.console import Console
from rich.table import Table

from aftercare.winback.backtest import (
    BGNBD,
    CADENCE,
    RULE_NAMES,
    BacktestReport,
    Score,
    choice_reason,
    chosen_name,
    run_backtest,
)

app = typer.Typer(add_completion=False, help="Win-back lapse model backtest on the CDNOW transactions.")


def _table(title: str, report: BacktestReport, scores: Mapping[str, Score]) -> Table:
    table = Table(title=title)
    for column in ("rule", "precision", "recall", "F1", "predicted lapsed", "actually lapsed", "customers"):
        table.add_column(column, justify="left" if column == "rule" else "right")
    for name in RULE_NAMES:
        s = scores[name]
        table.add_row(name, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", str(s.predicted_lapsed),
                      str(s.actually_lapsed), str(s.customers))
    return table


def summary_json(report: BacktestReport) -> dict[str, object]:
    return {
        "cutoff": report.cutoff.isoformat(),
        "weeks": report.weeks,
        "min_purchase_days": report.min_purchase_days,
        "rules": {
            name: {
                "precision": round(report.scores[name].precision, 4),
                "recall": round(report.scores[name].recall, 4),
                "f1": round(report.scores[name].f1, 4),
            }
            for name in RULE_NAMES
        },
        "chosen": chosen_name(report),
    }


def backtest_winback(
    cutoff: str = typer.Option("1997-09-30", help="Last day of history, YYYY-MM-DD."),
    weeks: int = typer.Option(39, help="Weeks after the cutoff in which a purchase means 'came back'."),
    min_purchase_days: int = typer.Option(3, help="Score customers with at least this many purchase days."),
) -> None:
    """Precision, recall and F1 of "lapsed and would not come back": fixed 90-day rule vs the models."""
    try:
        cutoff_day = date.fromisoformat(cutoff)
    except ValueError as exc:
        raise typer.BadParameter(f"cutoff must be YYYY-MM-DD: {exc}") from exc
    try:
        report = run_backtest(cutoff_day, weeks=weeks, min_purchase_days=min_purchase_days)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc

    console = Console(width=110)
    t = report.tuning
    window_end = report.cutoff + timedelta(weeks=report.weeks)
    print(
        f"CDNOW transactions {report.data_start} to {report.data_end}. History up to {report.cutoff}; "
        f"'came back' = any purchase in the {report.weeks} weeks after, to {window_end}."
    )
    console.print(_table(f"Customers with >= {report.min_purchase_days} purchase days before the cutoff",
                         report, report.scores))
    console.print(_table("All customers with a purchase before the cutoff (secondary; under 3 purchase days "
                         "every rule is the fixed 90-day window)", report, report.all_customers))
    p = report.bgnbd_params
    rules = report.rules
    print(f"{CADENCE}: {rules[CADENCE].describe()}; k chosen on validation F1 {t.cadence_validation_f1:.3f}.")
    print(f"{BGNBD}: {rules[BGNBD].describe()}; "
          f"threshold chosen on validation F1 {t.bgnbd_validation_f1:.3f}; "
          f"fitted r={p.r:.3f} alpha={p.alpha:.3f} a={p.a:.3f} b={p.b:.3f} (weeks).")
    print(f"Validation: cutoff {t.validation_cutoff}, {t.validation_weeks} weeks after "
          f"(ending at the test cutoff), {t.validation_customers} customers with >= 3 purchase days; "
          "nothing after the test cutoff is used.")
    e = report.everyone_lapsed
    print(f"Reference: calling every customer lapsed gives precision {e.precision:.3f}, "
          f"recall {e.recall:.3f}, "
          f"F1 {e.f1:.3f} on the same customers.")
    if e.f1 >= max(report.scores[name].f1 for name in RULE_NAMES):
        print("Note: no rule beats calling everyone lapsed on F1 here; "
              "F1 on 'lapsed' rewards flagging widely.")
    print(choice_reason(report))
    print(json.dumps(summary_json(report)))


app.command("backtest-winback")(backtest_winback)


if __name__ == "__main__":
    app()


def fit_winback(
    db: str | None = typer.Option(None, help="A SQLite database file; default: the configured database."),
    weeks: int = typer.Option(26, help="Weeks before the store's last order: the 'came back?' window."),
    min_customers: int = typer.Option(100, help="Fit only with this many customers with >= 3 purchase days."),
) -> None:
    """Backtest the lapse rules on THIS store's orders and record the fit for AFTERCARE_WINBACK_RULE."""
    from aftercare.clock import SystemClock
    from aftercare.db.engine import make_engine, make_session_factory
    from aftercare.settings import get_settings
    from aftercare.winback.store import NotEnoughHistory, backtest_store, choice_record, save_choice

    settings = get_settings()
    engine = make_engine(f"sqlite:///{db}" if db else settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        result = backtest_store(session, weeks=weeks, min_customers=min_customers)
    engine.dispose()
    if isinstance(result, NotEnoughHistory):
        print(f"Not enough order history to choose a lapse model: {result.detail}. "
              f"Nothing recorded; the engine keeps AFTERCARE_WINBACK_RULE={settings.winback_rule}.")
        print(json.dumps({"fitted": False, "customers": result.customers, "needed": result.needed,
                          "detail": result.detail}))
        return
    Console(width=110).print(_table(f"This store, cutoff {result.cutoff}, {result.weeks} weeks after", result,
                                    result.scores))
    print(choice_reason(result))
    record = choice_record(result, SystemClock().now())
    path = settings.resolved_winback_rule_file
    save_choice(path, record)
    print(f"Recorded in {path}. The engine uses AFTERCARE_WINBACK_RULE={settings.winback_rule}; "
          f"set it to {record['chosen']} to follow this backtest.")
    print(json.dumps({"fitted": True, **{k: record[k] for k in ("cutoff", "weeks", "chosen", "scores")}}))
