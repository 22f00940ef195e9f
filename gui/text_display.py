"""Corpus characters as the window draws them: ``headwatch.core.charnames``'s stand-ins, with
control pictures only where an installed font can draw them.

Many Linux desktops have DejaVu alone, which has no U+2400 block: a form feed drawn as '␌' would
be an empty box there, so such screens get the badge '⟨FF⟩' instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication, QRawFont

from headwatch.core.charnames import quoted, readable_text, visible

_PROBE = 0x240C  # SYMBOL FOR FORM FEED: fonts with control pictures have the whole block


def control_pictures_drawable() -> bool:
    """Whether some installed font draws the control pictures (asked once per process; False
    before a QGuiApplication exists, as Qt's font database needs one)."""
    return QGuiApplication.instance() is not None and _fonts_have_pictures()


@cache
def _fonts_have_pictures() -> bool:
    return any(
        QRawFont.fromFont(QFont(family)).supportsCharacter(_PROBE)
        for family in QFontDatabase.families()
    )


def visible_char(ch: str) -> str:
    """One character as drawn alone on an axis, a bar or a box (see charnames.visible)."""
    return visible(ch, control_pictures_drawable())


def visible_chars(chars: Iterable[str]) -> list[str]:
    """visible_char of each character, the fonts asked once (a prompt's axes label hundreds)."""
    pictures = control_pictures_drawable()
    return [visible(ch, pictures) for ch in chars]


def quoted_char(ch: str) -> str:
    """A character for a tooltip: 'e', or its stand-in and name (see charnames.quoted)."""
    return quoted(ch, control_pictures_drawable())


def readable(text: str, after: str = "") -> str:
    """Running text with layout kept and invisible characters shown (charnames.readable_text)."""
    return readable_text(text, after, control_pictures_drawable())
