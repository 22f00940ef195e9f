"""File → Export replay…: the views at every snapshot of the run, as an animated GIF.

Pillow writes the GIF: it needs no ffmpeg binary (imageio's MP4 writer does), and it is already
a dependency. Frames are made on the GUI thread, one per event-loop turn, so the window stays
live: the controller is asked to show a snapshot (AppController.view_step), and once the
inspection of that step has been drawn the widget is grabbed, captioned with its step, and the
next snapshot is asked for. At the end the viewed step is put back as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:  # Pillow loads at the first export, not at start-up
    from PIL.Image import Image

    from headwatch.core.inspection import PromptInspection
    from headwatch.gui.controller import AppController

FRAME_TIMEOUT_MS = 15_000  # a snapshot thinned away meanwhile never shows: skip it after this
MAX_WIDTH = 960  # frames wider than this are scaled down (GIF size grows with the area)


def to_pil(image: QImage) -> Image:
    """A QImage as an RGB Pillow image (a copy)."""
    import PIL.Image

    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    data = bytes(rgb.constBits())
    return PIL.Image.frombuffer(
        "RGB", (rgb.width(), rgb.height()), data, "raw", "RGB", rgb.bytesPerLine(), 1
    ).copy()


def captioned(image: QImage, text: str) -> QImage:
    """image with text in a white box at its top-right corner (the views' titles are left)."""
    painter = QPainter(image)
    font = painter.font()
    font.setPointSizeF(max(font.pointSizeF(), 10) * 1.2)
    font.setBold(True)
    painter.setFont(font)
    box = painter.fontMetrics().boundingRect(text).adjusted(-6, -3, 6, 3)
    box.moveTopRight(QPoint(image.width() - 5, 4))
    painter.fillRect(box, QColor(255, 255, 255, 230))
    painter.setPen(QColor("#222222"))
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return image


def write_gif(frames: Sequence[Image], path: str | Path, frame_ms: int) -> None:
    """frames as an animated GIF that loops; each shown frame_ms. Raises OSError."""
    first, *rest = frames
    first.save(path, format="GIF", save_all=True, append_images=rest, duration=frame_ms, loop=0)


class ReplayExporter(QObject):
    """Steps the controller through `steps`, grabbing `widget` once each is drawn, and writes
    the frames to `path` as a GIF (frame_ms each). finished(path, frames) or failed(message)."""

    progress = Signal(int, int)  # frames done, frames in all
    finished = Signal(str, int)  # the GIF's path, its frame count
    failed = Signal(str)

    def __init__(
        self,
        controller: AppController,
        widget: QWidget,
        steps: Sequence[int],
        path: str | Path,
        frame_ms: int,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller, self.widget = controller, widget
        self.steps, self.path, self.frame_ms = list(steps), Path(path), frame_ms
        self.frames: list[Image] = []
        self.shown_steps: list[int] = []
        self._index = -1
        self._restore = controller.viewed_step
        self._timeout = QTimer(self, singleShot=True, interval=FRAME_TIMEOUT_MS)
        self._timeout.timeout.connect(self._next)
        self.running = False

    def start(self) -> None:
        self.running = True
        if self.controller.viewed_step is not None:
            self.controller.view_step(None)  # so that asking for any step inspects it afresh
        self.controller.inspected.connect(self._on_inspected)
        self._next()

    def _next(self) -> None:
        self._index += 1
        if self._index >= len(self.steps):
            self._finish()
            return
        self._timeout.start()
        self.controller.view_step(self.steps[self._index])

    def _on_inspected(self, result: PromptInspection) -> None:
        if not self.running or self._index >= len(self.steps):
            return
        if result.step != self.steps[self._index] or self.controller.viewed_step is None:
            return  # an answer to an earlier request
        self._timeout.stop()
        image = captioned(self.widget.grab().toImage(), f"step {result.step:,}")
        if image.width() > MAX_WIDTH:
            image = image.scaledToWidth(MAX_WIDTH, Qt.TransformationMode.SmoothTransformation)
        self.frames.append(to_pil(image))
        self.shown_steps.append(result.step)
        self.progress.emit(len(self.frames), len(self.steps))
        QTimer.singleShot(0, self._next)  # one frame per event-loop turn

    def _finish(self) -> None:
        self.running = False
        self._timeout.stop()
        self.controller.inspected.disconnect(self._on_inspected)
        self.controller.view_step(self._restore)
        if not self.frames:
            self.failed.emit("No snapshot could be shown, so there is nothing to export.")
            return
        frames, self.frames = self.frames, []  # tens of MB: not kept once written
        try:
            write_gif(frames, self.path, self.frame_ms)
        except OSError as exc:
            self.failed.emit(f"{self.path}: {exc.strerror or exc}")
            return
        self.finished.emit(str(self.path), len(frames))
