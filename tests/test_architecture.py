"""The import-linter contracts: core knows no Qt, the GUI in layers, views import no torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    """core knows no Qt; the GUI in layers (window, controller, views, core); views no torch."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_core_loads_without_qt_in_a_fresh_interpreter():
    code = (
        "import headwatch.core.cli, headwatch.core.trainer, headwatch.core.runs, "
        "headwatch.core.inspection, sys; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6','pyqtgraph')"
        " or m.startswith('headwatch.gui')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stderr
