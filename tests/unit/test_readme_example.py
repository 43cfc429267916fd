"""The README's test-kit example runs as a store's own test would: a file run by pytest with the plugin."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"<!-- kit-example:start -->\s*```python\n(.*?)```\s*<!-- kit-example:end -->", re.S)


def test_the_readme_kit_example_passes_as_a_test(tmp_path: Path) -> None:
    match = BLOCK.search(README.read_text())
    assert match, "the README lost its kit example"
    (tmp_path / "test_store_journey.py").write_text(match.group(1))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_store_journey.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout
