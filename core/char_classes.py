"""Character classes for head profiles: vowel, consonant, space, newline, punctuation, upper case,
digit, other — decided per character from Unicode's own data, so a corpus in another language or
script is classed without a hand-made table of its alphabet.

Letters: an upper-case or title-case letter is "upper case" whatever its sound; a lower-case or
uncased letter is a vowel when its base letter (accents stripped by NFD) is named after a vowel
in its script's Unicode names (LATIN SMALL LETTER E, GREEK SMALL LETTER OMICRON, CYRILLIC SMALL
LETTER YA, DEVANAGARI LETTER AA, ...) or is a vowel sign, and a consonant otherwise.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

CHAR_CLASSES: tuple[str, ...] = (
    "vowel",
    "consonant",
    "space",
    "newline",
    "punctuation",
    "upper case",
    "digit",
    "other",
)

# The last word of a letter's Unicode name when that letter is a vowel: Latin (a e i o u and the
# ligatures), Greek, Cyrillic, and the Brahmic scripts' independent vowels (DEVANAGARI LETTER AA).
# Y stays a consonant in Latin, as in the usual "a e i o u"; Cyrillic YA / YU / YERU are vowels.
_VOWEL_NAMES = frozenset(
    ("A", "E", "I", "O", "U", "AE", "OE", "AA", "II", "UU", "AI", "AU", "EE", "OO")
    + ("ALPHA", "EPSILON", "ETA", "IOTA", "OMICRON", "UPSILON", "OMEGA")
    + ("IE", "IO", "YERU", "YU", "YA", "YI")
)


def char_class(ch: str) -> str:
    """The class of one character, one of CHAR_CLASSES. Raises ValueError for a string that is
    not exactly one character."""
    if len(ch) != 1:
        raise ValueError(f"char_class takes one character, got {ch!r}")
    if ch == "\n":
        return "newline"
    if ch.isspace():
        return "space"
    category = unicodedata.category(ch)
    if category in ("Lu", "Lt"):
        return "upper case"
    if category.startswith("L") or category in ("Mn", "Mc"):
        return "vowel" if _is_vowel(ch) else ("consonant" if category.startswith("L") else "other")
    if category == "Nd":
        return "digit"
    if category.startswith("P"):
        return "punctuation"
    return "other"


def _is_vowel(ch: str) -> bool:
    base = unicodedata.normalize("NFD", ch)[0]
    name = unicodedata.name(base, "")
    return "VOWEL" in name or name.rsplit(" ", 1)[-1] in _VOWEL_NAMES


def class_ids(chars: Iterable[str]) -> list[int]:
    """For a vocabulary (token id -> character), each token's class as an index into
    CHAR_CLASSES: a list as long as the vocabulary."""
    return [CHAR_CLASSES.index(char_class(ch)) for ch in chars]
