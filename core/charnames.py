"""Every corpus character drawn visibly: one stand-in per character, and its code point's name.

A character-level model's vocabulary holds whatever its corpus holds: tabs, form feeds,
zero-width spaces, no-break spaces, combining accents, bidi controls. Drawn as themselves, these
show nothing (or reorder or glue onto the text around them), so every axis, tooltip, bar and
line of output shows ``visible(ch)`` instead:

- control characters: their control picture (U+2400 block, ``␌`` for a form feed), with the
  familiar ``↵`` for a newline, ``⇥`` for a tab and ``␣`` for a space; C1 controls, which have
  no picture, their standard abbreviation in a badge (``⟨NEL⟩``);
- combining marks: a dotted circle carrying the mark (``◌́``), as Unicode charts draw them;
- format characters (zero-width, bidi controls, …), spaces other than U+0020, line and
  paragraph separators, and every other default-ignorable character: a named badge
  (``⟨ZWSP⟩``, ``⟨NBSP⟩``, ``⟨RLO⟩``), or the code point (``⟨U+2061⟩``) where no short name
  is standard;
- surrogates, private-use and unassigned code points: the code point in a badge.

Every other character is drawn as itself. ``describe(ch)`` names the code point for tooltips
("U+200B ZERO WIDTH SPACE"). A screen whose fonts lack the control pictures asks for
``pictures=False`` and gets badges there too (``⟨FF⟩``). Pure Python (``unicodedata``): no Qt,
so the CLI uses it too.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

DOTTED_CIRCLE = "\u25cc"  # the base Unicode charts draw a lone combining mark on

# Stand-ins people already know for the commonest layout characters.
_FAMILIAR = {"\n": "↵", "\t": "⇥", " ": "␣"}

# Standard abbreviations (Unicode's NameAliases.txt) of characters that draw nothing.
_ABBREVIATIONS = {
    0x00A0: "NBSP",
    0x00AD: "SHY",
    0x034F: "CGJ",
    0x061C: "ALM",
    0x115F: "HCF",
    0x1160: "HJF",
    0x180E: "MVS",
    0x2000: "NQSP",
    0x2001: "MQSP",
    0x2002: "ENSP",
    0x2003: "EMSP",
    0x2004: "3/MSP",
    0x2005: "4/MSP",
    0x2006: "6/MSP",
    0x2007: "FSP",
    0x2008: "PSP",
    0x2009: "THSP",
    0x200A: "HSP",
    0x200B: "ZWSP",
    0x200C: "ZWNJ",
    0x200D: "ZWJ",
    0x200E: "LRM",
    0x200F: "RLM",
    0x2028: "LSEP",
    0x2029: "PSEP",
    0x202A: "LRE",
    0x202B: "RLE",
    0x202C: "PDF",
    0x202D: "LRO",
    0x202E: "RLO",
    0x202F: "NNBSP",
    0x205F: "MMSP",
    0x2060: "WJ",
    0x2066: "LRI",
    0x2067: "RLI",
    0x2068: "FSI",
    0x2069: "PDI",
    0x3000: "IDSP",
    0x3164: "HF",
    0xFEFF: "BOM",
}
# fmt: off
_C0_ABBREVIATIONS = (
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL",
    "BS", "HT", "LF", "VT", "FF", "CR", "SO", "SI",
    "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB",
    "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US",
)
_C1_ABBREVIATIONS = (
    "PAD", "HOP", "BPH", "NBH", "IND", "NEL", "SSA", "ESA",
    "HTS", "HTJ", "VTS", "PLD", "PLU", "RI", "SS2", "SS3",
    "DCS", "PU1", "PU2", "STS", "CCH", "MW", "SPA", "EPA",
    "SOS", "SGC", "SCI", "CSI", "ST", "OSC", "PM", "APC",
)
# fmt: on

# Default_Ignorable_Code_Point (DerivedCoreProperties.txt): drawn as nothing by design, whatever
# their general category (some are letters or combining marks).
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_COMBINING = frozenset({"Mn", "Mc", "Me"})
_BADGED = frozenset({"Cf", "Zs", "Zl", "Zp", "Cs", "Co", "Cn"})
_UNNAMED = {"Cs": "surrogate", "Co": "private use", "Cn": "unassigned"}


def _ignorable(code: int) -> bool:
    return any(low <= code <= high for low, high in _IGNORABLE_RANGES)


def _abbreviation(code: int) -> str | None:
    """A short standard name for a character that draws nothing, None if there is none."""
    if code in _ABBREVIATIONS:
        return _ABBREVIATIONS[code]
    if code < 0x20:
        return _C0_ABBREVIATIONS[code]
    if code == 0x7F:
        return "DEL"
    if 0x80 <= code <= 0x9F:
        return _C1_ABBREVIATIONS[code - 0x80]
    if 0xFE00 <= code <= 0xFE0F:
        return f"VS{code - 0xFE00 + 1}"
    if 0xE0100 <= code <= 0xE01EF:
        return f"VS{code - 0xE0100 + 17}"
    if 0x180B <= code <= 0x180F and code != 0x180E:
        return f"FVS{code - 0x180B + 1 - (code > 0x180E)}"
    return None


def _control_picture(code: int) -> str | None:
    """The U+2400 block's picture of a C0 control or DEL, None for any other character."""
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else None


def _single(ch: str) -> int:
    if not isinstance(ch, str) or len(ch) != 1:
        raise ValueError(f"expected one character, got {ch!r}")
    return ord(ch)


@lru_cache(maxsize=4096)
def visible(ch: str, pictures: bool = True) -> str:
    """How one character is drawn on its own (an axis label, a bar, a box): never empty, never
    blank, never combining with or reordering the text around it.

    ch: exactly one character (one code point). Returns ``ch`` itself when it draws visibly on
    its own, else a stand-in: ``'↵'``, ``'⇥'``, ``'␣'``, a control picture (``'␌'``), a dotted
    circle carrying a combining mark (``'◌́'``) or a badge (``'⟨ZWSP⟩'``, ``'⟨U+2061⟩'``).
    pictures=False gives C0 controls a badge (``'⟨FF⟩'``) instead of their control picture,
    for screens whose fonts have no U+2400 block. Raises ValueError for anything but a single
    character.
    """
    code = _single(ch)
    if ch in _FAMILIAR:
        return _FAMILIAR[ch]
    picture = _control_picture(code)
    if picture is not None:
        return picture if pictures else f"⟨{_abbreviation(code)}⟩"
    category = unicodedata.category(ch)
    ignorable = _ignorable(code)
    if category in _COMBINING and not ignorable:
        return DOTTED_CIRCLE + ch
    if ignorable or category in _BADGED or category == "Cc":
        return f"⟨{_abbreviation(code) or f'U+{code:04X}'}⟩"
    return ch


@lru_cache(maxsize=4096)
def describe(ch: str) -> str:
    """The code point and its Unicode name, for tooltips: ``'U+200B ZERO WIDTH SPACE'``.

    Controls, which have no Unicode name, are named by their control picture's name (``'U+000C
    FORM FEED'``) or, in C1, by their abbreviation (``'U+0085 control NEL'``); surrogates,
    private-use and unassigned code points say which they are. Raises ValueError for anything
    but a single character.
    """
    code = _single(ch)
    picture = _control_picture(code)
    if picture is not None:
        name = unicodedata.name(picture).removeprefix("SYMBOL FOR ")
    elif 0x80 <= code <= 0x9F:
        name = f"control {_C1_ABBREVIATIONS[code - 0x80]}"
    else:
        name = unicodedata.name(ch, "") or _UNNAMED.get(unicodedata.category(ch), "unnamed")
    return f"U+{code:04X} {name}"


def quoted(ch: str, pictures: bool = True) -> str:
    """One character for running text such as a tooltip: ``"'e'"`` when it draws as itself,
    else its stand-in (see ``visible``) and name: ``"'⟨ZWSP⟩' (U+200B ZERO WIDTH SPACE)"``.
    The apostrophe goes in double quotes (``"'"``), as Python writes it, never as ``'''``.
    Raises ValueError for anything but a single character."""
    shown = visible(ch, pictures)
    mark = '"' if shown == "'" else "'"  # a quote mark is never quoted by itself
    return f"{mark}{shown}{mark}" if shown == ch else f"{mark}{shown}{mark} ({describe(ch)})"


def visible_string(text: str) -> str:
    """A string on one line with every character visible: each drawn as ``visible(ch)``."""
    return "".join(visible(ch) for ch in text)


def quoted_string(text: str) -> str:
    """``visible_string(text)`` in quote marks it does not hold, as ``quoted`` does for one
    character: ``'ROMEO'``, ``"it's"``, ```say "'tis"``` (single quotes if it holds all three)."""
    shown = visible_string(text)
    mark = next((m for m in ("'", '"', "`") if m not in shown), "'")
    return f"{mark}{shown}{mark}"


def readable_text(text: str, after: str = "", pictures: bool = True) -> str:
    """Running text kept readable: newlines, tabs and spaces stay layout, a combining mark stays
    on the character before it, and every other character that draws nothing gets its stand-in.

    after: the text shown just before `text` (its last character may carry a leading mark);
    pictures: as for ``visible``.
    """
    out = []
    has_base = bool(after) and after[-1] not in _FAMILIAR and visible(after[-1]) == after[-1]
    for ch in text:
        shown = visible(ch, pictures)
        if ch in _FAMILIAR:
            out.append(ch)
            has_base = False
        elif shown == DOTTED_CIRCLE + ch and has_base:
            out.append(ch)  # combines with its base, as in the corpus
        else:
            out.append(shown)
            has_base = shown == ch
    return "".join(out)
