"""The import-linter contracts: core knows no Qt, the GUI in layers, views import no torch."""

from __future__ import annotations

import re
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


def test_the_window_imports_no_torch_before_it_shows():
    """torch takes over a second to import: the window shows first, the controller loads it
    with the corpus (bench/startup.py measures the launch)."""
    code = (
        "import headwatch.gui.app, headwatch.gui.main_window, sys; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_every_gui_module_has_its_place_in_the_layers():
    """A module left out of the layers contract would be checked by nothing: list each one."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    layers = text[text.index('type = "layers"') :].split("]", 1)[0]
    placed = set(re.findall(r"headwatch\.gui\.\w+", layers))
    modules = {f"headwatch.gui.{p.stem}" for p in (ROOT / "gui").glob("*.py")} - {
        "headwatch.gui.__init__"
    }
    assert modules - placed == set()
