"""Writing what the window shows to files: views as SVG, the loss history as CSV, the prompt's
inspection as JSON. Each raises OSError when the file cannot be written."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QWidget

from headwatch.gui.run_list import RunInfo

if TYPE_CHECKING:
    from headwatch.core.inspection import PromptInspection

LOSS_COLUMNS = ("run", "label", "folder", "step", "elapsed", "loss", "train", "val")


def render_svg(widget: QWidget, path: str | Path) -> None:
    """The widget as drawn, into an SVG file (text and lines as vectors, heatmaps as images)."""
    if not Path(path).parent.is_dir():
        raise FileNotFoundError(2, "no such folder", str(Path(path).parent))
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(widget.size())
    generator.setViewBox(widget.rect())
    generator.setTitle(f"HeadWatch — {widget.objectName()}")
    painter = QPainter(generator)
    try:
        widget.render(painter, QPoint(0, 0))
    finally:
        painter.end()


def save_widget(widget: QWidget, path: str | Path) -> None:
    """The widget as drawn: SVG when the file's suffix says so, else PNG."""
    if Path(path).suffix.lower() == ".svg":
        render_svg(widget, path)
    elif not widget.grab().save(str(path), "PNG"):
        raise OSError("the image could not be written")


def write_loss_csv(runs: Sequence[RunInfo], path: str | Path) -> None:
    """One row per metrics line of every run's folder (per-step loss, or an evaluation's
    train and val estimates), labelled as the plot and the compare table label the run."""
    from headwatch.core.runs import read_metrics  # torch-backed: not at the window's start

    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(LOSS_COLUMNS)
        for run in runs:
            if not run.folder:
                continue
            for row in read_metrics(Path(run.folder)):
                values = ["" if v is None else v for v in (row.loss, row.train, row.val)]
                out.writerow([run.run_id, run.label, run.folder, row.step, row.elapsed, *values])


def write_inspection_json(result: PromptInspection, path: str | Path) -> None:
    """The schema of `headwatch inspect --json`."""
    Path(path).write_text(json.dumps(result.to_json()), encoding="utf-8")
