"""What an attention head does, as one of a few names: defined once, torch-free, so that the
analysis (core/diagnostics.py) and the views (head table, grid badges) share the same words."""

from __future__ import annotations

from enum import Enum


class HeadLabel(str, Enum):
    """A head's label from its attention statistics (see core.diagnostics.label_head).

    A str subclass: it compares equal to its value, and serialises as it ("previous-token").
    """

    PREVIOUS_TOKEN = "previous-token"  # most attention on the character before the query
    SELF = "self"  # most attention on the query's own character
    FIRST_POSITION = "first-position"  # most attention on the window's first character
    BROAD = "broad"  # spread nearly evenly over every visible character
    MIXED = "mixed"  # none of the above

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__
    __hash__ = str.__hash__  # Enum hashes the name: a dict keyed by members must find "self"
