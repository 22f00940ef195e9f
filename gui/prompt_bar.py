"""The prompt line and, under it, what was made of the prompt (length, unknown characters)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from headwatch.core.formatting import typed_prompt
from headwatch.gui.text_display import quoted_char
from headwatch.gui.widgets import ElidedLabel

if TYPE_CHECKING:
    from headwatch.core.inspection import PromptInspection

DEFAULT_PROMPT = "ROMEO:\\nBut soft, what light"


class PromptBar(QWidget):
    """`edit` (the prompt, "\\n" for a new line) over `status` (what the inspection made of it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(DEFAULT_PROMPT)
        self.edit.setObjectName("promptEdit")
        self.edit.setPlaceholderText("Type a prompt — \\n starts a new line")
        self.edit.setClearButtonEnabled(True)
        # one line whatever it says: a long status must not widen the window's column
        self.status = ElidedLabel()
        self.status.setObjectName("promptStatus")
        row = QHBoxLayout()
        label = QLabel("Prompt")
        label.setObjectName("promptLabel")
        row.addWidget(label)
        row.addWidget(self.edit, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)

    def prompt(self) -> str:
        return typed_prompt(self.edit.text())

    def show_inspection(self, result: PromptInspection) -> None:
        """Say what was left out or cut, or how long the prompt is; mark a problem in colour."""
        notes, problem = [], False
        if result.prompt.unknown:
            # each character once, with how often it was typed: '~' ×3, 'ü'
            counts = Counter(u.char for u in result.prompt.unknown)
            chars = ", ".join(
                quoted_char(ch) + (f" ×{n}" if n > 1 else "") for ch, n in list(counts.items())[:8]
            )
            notes.append(f"Not in the vocabulary, left out: {chars}")
            problem = True
        if result.prompt.truncated:
            notes.append(
                f"Longer than the block size: showing the last {len(result.tokens)} characters"
            )
        if not notes:
            notes.append(
                f"{len(result.tokens)} characters · weights at step {result.step:,}"
                if result.tokens
                else "Type a prompt to see what every head attends to"
            )
        self.status.setText(" · ".join(notes))
        tip = result.prompt.describe_unknown() if problem else ""
        if self.edit.toolTip() != tip:  # a tooltip change is an event to the styled field
            self.edit.setToolTip(tip)
        if self.edit.property("problem") != problem:  # re-styling costs every keystroke
            for widget in (self.status, self.edit):
                widget.setProperty("problem", problem)
                widget.style().unpolish(widget)
                widget.style().polish(widget)
