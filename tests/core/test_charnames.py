"""charnames: one visible stand-in for every character, and the code point's name."""

from __future__ import annotations

import unicodedata

import pytest

from headwatch.core.charnames import (
    DOTTED_CIRCLE,
    describe,
    quoted,
    quoted_string,
    readable_text,
    visible,
    visible_string,
)

# One example of every general category, with what it is drawn as and how a tooltip names it.
CATEGORIES = [
    ("Lu", "A", "A", "U+0041 LATIN CAPITAL LETTER A"),
    ("Ll", "é", "é", "U+00E9 LATIN SMALL LETTER E WITH ACUTE"),
    ("Lt", "ǅ", "ǅ", "U+01C5 LATIN CAPITAL LETTER D WITH SMALL LETTER Z WITH CARON"),
    ("Lm", "ʰ", "ʰ", "U+02B0 MODIFIER LETTER SMALL H"),
    ("Lo", "א", "א", "U+05D0 HEBREW LETTER ALEF"),
    ("Lo", "\u3164", "⟨HF⟩", "U+3164 HANGUL FILLER"),  # a letter that draws nothing
    ("Mn", "\u0301", "◌\u0301", "U+0301 COMBINING ACUTE ACCENT"),
    ("Mn", "\ufe0f", "⟨VS16⟩", "U+FE0F VARIATION SELECTOR-16"),  # a mark that draws nothing
    ("Mn", "\u034f", "⟨CGJ⟩", "U+034F COMBINING GRAPHEME JOINER"),
    ("Mc", "\u093e", "◌\u093e", "U+093E DEVANAGARI VOWEL SIGN AA"),
    ("Me", "\u20dd", "◌\u20dd", "U+20DD COMBINING ENCLOSING CIRCLE"),
    ("Nd", "7", "7", "U+0037 DIGIT SEVEN"),
    ("Nl", "Ⅻ", "Ⅻ", "U+216B ROMAN NUMERAL TWELVE"),
    ("No", "½", "½", "U+00BD VULGAR FRACTION ONE HALF"),
    ("Pc", "_", "_", "U+005F LOW LINE"),
    ("Pd", "-", "-", "U+002D HYPHEN-MINUS"),
    ("Ps", "(", "(", "U+0028 LEFT PARENTHESIS"),
    ("Pe", ")", ")", "U+0029 RIGHT PARENTHESIS"),
    ("Pi", "«", "«", "U+00AB LEFT-POINTING DOUBLE ANGLE QUOTATION MARK"),
    ("Pf", "»", "»", "U+00BB RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK"),
    ("Po", "!", "!", "U+0021 EXCLAMATION MARK"),
    ("Sm", "+", "+", "U+002B PLUS SIGN"),
    ("Sc", "€", "€", "U+20AC EURO SIGN"),
    ("Sk", "^", "^", "U+005E CIRCUMFLEX ACCENT"),
    ("So", "©", "©", "U+00A9 COPYRIGHT SIGN"),
    ("Zs", " ", "␣", "U+0020 SPACE"),
    ("Zs", "\u00a0", "⟨NBSP⟩", "U+00A0 NO-BREAK SPACE"),
    ("Zs", "\u2009", "⟨THSP⟩", "U+2009 THIN SPACE"),
    ("Zl", "\u2028", "⟨LSEP⟩", "U+2028 LINE SEPARATOR"),
    ("Zp", "\u2029", "⟨PSEP⟩", "U+2029 PARAGRAPH SEPARATOR"),
    ("Cc", "\n", "↵", "U+000A LINE FEED"),
    ("Cc", "\t", "⇥", "U+0009 HORIZONTAL TABULATION"),
    ("Cc", "\r", "␍", "U+000D CARRIAGE RETURN"),
    ("Cc", "\x0c", "␌", "U+000C FORM FEED"),
    ("Cc", "\x00", "␀", "U+0000 NULL"),
    ("Cc", "\x7f", "␡", "U+007F DELETE"),
    ("Cc", "\x85", "⟨NEL⟩", "U+0085 control NEL"),
    ("Cf", "\u200b", "⟨ZWSP⟩", "U+200B ZERO WIDTH SPACE"),
    ("Cf", "\u200d", "⟨ZWJ⟩", "U+200D ZERO WIDTH JOINER"),
    ("Cf", "\u00ad", "⟨SHY⟩", "U+00AD SOFT HYPHEN"),
    ("Cf", "\ufeff", "⟨BOM⟩", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    ("Cf", "\u200e", "⟨LRM⟩", "U+200E LEFT-TO-RIGHT MARK"),
    ("Cf", "\u202e", "⟨RLO⟩", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("Cf", "\u2067", "⟨RLI⟩", "U+2067 RIGHT-TO-LEFT ISOLATE"),
    ("Cf", "\u061c", "⟨ALM⟩", "U+061C ARABIC LETTER MARK"),
    ("Cf", "\u2061", "⟨U+2061⟩", "U+2061 FUNCTION APPLICATION"),
    ("Cs", "\ud800", "⟨U+D800⟩", "U+D800 surrogate"),
    ("Co", "\ue000", "⟨U+E000⟩", "U+E000 private use"),
    ("Cn", "\u0378", "⟨U+0378⟩", "U+0378 unassigned"),
]
INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}
COMBINING = {"Mn", "Mc", "Me"}


@pytest.mark.parametrize(("category", "ch", "shown", "name"), CATEGORIES)
def test_every_category(category, ch, shown, name):
    assert unicodedata.category(ch) == category
    assert visible(ch) == shown
    assert describe(ch) == name
    assert quoted(ch) == (f"'{ch}'" if shown == ch else f"'{shown}' ({name})")


def test_every_category_is_in_the_table():
    categories = {category for category, *_ in CATEGORIES}
    assert categories == {unicodedata.category(chr(code)) for code in range(0x110000)}


def test_every_stand_in_draws_something_alone():
    """Planes 0, 1 and 14 (tags, variation selectors): no stand-in is empty, starts with a
    mark, or holds a character that draws nothing; a mark only ever rides a dotted circle."""
    codes = [*range(0x20000), *range(0xE0000, 0xE1000)]
    for code in codes:
        shown = visible(chr(code))
        assert shown, code
        assert unicodedata.category(shown[0]) not in COMBINING, code
        for k, part in enumerate(shown):
            category = unicodedata.category(part)
            assert category not in INVISIBLE, (code, shown)
            assert category not in COMBINING or shown[k - 1] == DOTTED_CIRCLE, (code, shown)
        if shown != chr(code):
            assert shown != " " and shown.strip() == shown


def test_control_pictures_can_give_way_to_badges():
    assert visible("\x0c", pictures=False) == "⟨FF⟩"
    assert visible("\x1b", pictures=False) == "⟨ESC⟩"
    assert visible("\x7f", pictures=False) == "⟨DEL⟩"
    assert visible("\n", pictures=False) == "↵"  # familiar ones need no font of their own
    assert quoted("\x0c", pictures=False) == "'⟨FF⟩' (U+000C FORM FEED)"


def test_one_character_only():
    for bad in ("", "ab"):
        with pytest.raises(ValueError, match="one character"):
            visible(bad)
        with pytest.raises(ValueError, match="one character"):
            describe(bad)


def test_strings_on_one_line_and_running_text():
    text = "e\u0301 \u0301x\x0cy\u200bz\u00a0w\n\tq"
    assert visible_string(text) == "e◌\u0301␣◌\u0301x␌y⟨ZWSP⟩z⟨NBSP⟩w↵⇥q"
    # Layout stays layout; the accent on 'e' stays on it, the one after a space gets a circle.
    assert readable_text(text) == "e\u0301 ◌\u0301x␌y⟨ZWSP⟩z⟨NBSP⟩w\n\tq"
    assert readable_text("\u0301b", after="a") == "\u0301b"
    assert readable_text("\u0301b", after="a\n") == "◌\u0301b"


def test_a_string_is_quoted_in_marks_it_does_not_hold():
    assert quoted_string("ROMEO") == "'ROMEO'"
    assert quoted_string("it's\n") == '"it\'s↵"'
    assert quoted_string('say "\'tis"') == '`say␣"\'tis"`'
