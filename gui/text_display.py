"""How prompt characters are shown on axes, tooltips and labels (invisible ones made visible)."""

from __future__ import annotations

_VISIBLE = {"\n": "↵", " ": "␣", "\t": "⇥", "\r": "␍"}


def visible_char(ch: str) -> str:
    """One character as it should appear on a tick label: newline and space drawn visibly."""
    return _VISIBLE.get(ch, ch)


def quoted_char(ch: str) -> str:
    """A character for running text, e.g. in a tooltip: 'e', '↵'."""
    return f"'{visible_char(ch)}'"
