"""Number boxes that take whatever number is typed, for the form to check.

Qt's spin boxes drop a key that would take the number past the box's range ("50" in a box up to
10 stays "5"), and put the last value back when the box loses focus on a number out of range: both
without a word. These boxes keep the number typed, and `check_typed` raises a ConfigError that
names the allowed range, so the form reports it as it reports every other bad setting.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFocusEvent, QHideEvent, QKeyEvent, QValidator
from PySide6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox, QSpinBox, QWidget

from headwatch.core.config import ConfigError


class _TypedNumber:
    """What IntBox and FloatBox add to Qt's spin boxes (a mixin placed before the Qt class);
    each says with `parse(text)` which number a text writes (None: none)."""

    def out_of_range(self) -> float | None:
        """The number typed in the box when it lies outside the box's range, else None."""
        number = self.parse(self.cleanText())
        if number is None or self.minimum() <= number <= self.maximum():
            return None
        return number

    def allowed(self) -> str:
        """The box's range in words, e.g. "from 1 to 24"."""
        return f"from {self.textFromValue(self.minimum())} to {self.textFromValue(self.maximum())}"

    def check_typed(self, field: str, name: str | None = None) -> None:
        """Raises ConfigError (its `field`, the message naming it `name` or else `field`) saying
        the allowed range while the number typed lies outside it; value() still holds the last
        number inside it."""
        if self.out_of_range() is not None:
            said = name or field
            raise ConfigError(f"{said} must be {self.allowed()}, got {self.cleanText()}", field)

    def validate(self, text: str, pos: int) -> object:
        result = super().validate(text, pos)
        state = result[0] if isinstance(result, tuple) else result
        number = self.parse(text.strip())
        outside = number is not None and not self.minimum() <= number <= self.maximum()
        if state == QValidator.State.Invalid and outside:
            state = QValidator.State.Intermediate  # kept, and reported by the form
        return state, text, pos

    def stepBy(self, steps: int) -> None:
        number = self.out_of_range()
        if number is None:
            super().stepBy(steps)
        else:  # from a number out of range, the arrows go to the range's nearest end
            end = self.maximum() if number > self.maximum() else self.minimum()
            # the text first: its change is announced (textChanged) even when value() was end
            self.lineEdit().setText(self.textFromValue(end))
            self.setValue(end)

    def stepEnabled(self) -> QAbstractSpinBox.StepEnabledFlag:
        if self.out_of_range() is None:
            return super().stepEnabled()
        flags = QAbstractSpinBox.StepEnabledFlag
        return flags.StepUpEnabled | flags.StepDownEnabled  # value() may sit at an end

    # Qt would put the last value back here: the number typed stays until the user changes it

    def focusOutEvent(self, event: QFocusEvent) -> None:
        if self.out_of_range() is None:
            super().focusOutEvent(event)
            return
        self.lineEdit().event(event)  # the caret stops blinking
        QWidget.focusOutEvent(self, event)
        self.editingFinished.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and self.out_of_range() is not None:
            event.ignore()
            return
        super().keyPressEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        if self.out_of_range() is None:
            super().hideEvent(event)
        else:
            QWidget.hideEvent(self, event)


class IntBox(_TypedNumber, QSpinBox):
    """A QSpinBox that keeps a whole number typed outside its range (see the module)."""

    def parse(self, text: str) -> float | None:
        number, ok = self.locale().toLongLong(text)
        return number if ok else None


class FloatBox(_TypedNumber, QDoubleSpinBox):
    """A QDoubleSpinBox that keeps a number typed outside its range (see the module)."""

    def parse(self, text: str) -> float | None:
        number, ok = self.locale().toDouble(text)
        return number if ok else None
