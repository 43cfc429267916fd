"""No engine module names a step: a step's condition, data, timing and budget live with the step.

Every string literal in the engine's modules is read (with the tokenizer, so comments and docstrings
that merely mention a step do not count) and compared with the default journey's step names; and no
engine module imports the default journey's stage modules.
"""

from __future__ import annotations

import ast
import tokenize
from pathlib import Path

from aftercare.journeys import default_journey

ROOT = Path(__file__).resolve().parents[2]
ENGINE = [
    *sorted((ROOT / "aftercare").rglob("*.py")),
    *sorted((ROOT / "flows").rglob("*.py")),
    *sorted((ROOT / "tasks").rglob("*.py")),
]
# The journey's own definitions, and the demo's synthetic customers (who react to the messages they get).
NOT_ENGINE = ("aftercare/journeys/", "aftercare/demo/", "aftercare/testing/", "aftercare/migrations/")
# Literals that spell a step's name but mean something else: the CSAT answer (a signed link's kind, an inbox
# topic, a batch query, an outcome's source), not the step that asks for it.
OTHER_MEANINGS = {
    ("aftercare/links.py", "csat"), ("aftercare/webhooks/links.py", "csat"), ("aftercare/webhooks/inbox.py", "csat"),
    ("aftercare/services/batch_state.py", "csat"), ("aftercare/analytics/lift.py", "csat"),
    ("flows/daily_report.py", "csat"),
}


def engine_files() -> list[Path]:
    return [p for p in ENGINE if not p.relative_to(ROOT).as_posix().startswith(NOT_ENGINE)]


def string_literals(path: Path) -> set[str]:
    found: set[str] = set()
    with path.open("rb") as f:
        for tok in tokenize.tokenize(f.readline):
            if tok.type == tokenize.STRING:
                try:
                    value = ast.literal_eval(tok.string)
                except (ValueError, SyntaxError):
                    continue
                if isinstance(value, str):
                    found.add(value)
    return found


def test_no_engine_module_names_a_step() -> None:
    names = set(default_journey().names)
    offenders = []
    for path in engine_files():
        rel = path.relative_to(ROOT).as_posix()
        for literal in string_literals(path) & names:
            if (rel, literal) not in OTHER_MEANINGS:
                offenders.append(f"{rel}: {literal!r}")
    assert offenders == []


def test_no_engine_module_imports_the_default_journeys_stages() -> None:
    offenders = []
    for path in engine_files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module and module.startswith("aftercare.journeys.default"):
                offenders.append(path.relative_to(ROOT).as_posix())
    # The composition root's default (`aftercare.journeys.default:build`) is a setting's value, not an import.
    assert offenders == []


def test_the_check_reads_the_engine() -> None:
    files = {p.relative_to(ROOT).as_posix() for p in engine_files()}
    assert {"aftercare/domain/decisions.py", "aftercare/services/sweep.py", "aftercare/services/message_context.py",
            "aftercare/rendering/renderer.py", "aftercare/services/funnel.py", "aftercare/services/explain.py",
            "aftercare/services/ingest.py", "aftercare/rendering/segments.py"} <= files
    assert "csat" in string_literals(ROOT / "aftercare/links.py")  # the tokenizer does see literals


