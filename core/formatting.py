"""How numbers are written for people, and prompts read from them, the same in the window and
on the command line."""

from __future__ import annotations

from collections.abc import Iterable


def format_duration(seconds: float) -> str:
    """Whole seconds as 0:52, 12:05 or 1:02:05 (rounded to the nearest second: 59.6 s is 1:00).

    Raises ValueError for a negative or non-finite duration.
    """
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"a duration must be a finite number of seconds >= 0, got {seconds!r}")
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def knockout_text(heads: Iterable[tuple[int, int]], ablation: str) -> str:
    """How a caption names knocked-out heads, given 0-based (layer, head):
    "L1·H2, L2·H4 knocked out (mean-ablation)", counted from 1 as the window numbers heads;
    "" for none."""
    names = head_names(heads)
    return f"{names} knocked out ({ablation}-ablation)" if names else ""


def head_names(heads: Iterable[tuple[int, int]]) -> str:
    """0-based (layer, head) pairs named as the window and the CLI name heads, counted from 1:
    "L1·H2, L2·H4"; "" for none."""
    return ", ".join(f"L{layer + 1}·H{head + 1}" for layer, head in heads)


def typed_prompt(text: str) -> str:
    """A prompt typed on one line (the window's prompt field, a --prompt): "\\n" in it stands
    for a new line, as the lecture's text has them after each speaker's name."""
    return text.replace("\\n", "\n")


def first_of(items: list[str], most: int = 10) -> str:
    """The first `most` items joined with ", ", and " and N more" for the rest."""
    more = f" and {len(items) - most} more" if len(items) > most else ""
    return ", ".join(items[:most]) + more
