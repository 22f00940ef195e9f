"""Character classes from Unicode's data, for English and for other scripts."""

from __future__ import annotations

import pytest

from headwatch.core.char_classes import CHAR_CLASSES, char_class, class_ids


@pytest.mark.parametrize(
    ("chars", "expected"),
    [
        ("aeiouéàæœ", "vowel"),
        ("bcdfgyzßç", "consonant"),
        (" \t", "space"),
        ("\n", "newline"),
        (",.;:!?'-()«»", "punctuation"),
        ("AEBZÉΩЯ", "upper case"),
        ("0123456789٣", "digit"),
        ("$+=€\u0301", "other"),
        # other scripts: Greek, Cyrillic, Devanagari letters and vowel signs
        ("αεηιουωяюыеиоа", "vowel"),
        ("βγδλπбвгджзк", "consonant"),
        ("अआइ\u093e\u093f", "vowel"),
        ("कखग", "consonant"),
    ],
)
def test_each_character_gets_its_class(chars, expected):
    assert [char_class(ch) for ch in chars] == [expected] * len(chars)


def test_class_ids_index_the_class_names():
    chars = tuple(sorted(set("Hello, World!\n42 é")))
    ids = class_ids(chars)
    assert len(ids) == len(chars)
    assert [CHAR_CLASSES[i] for i in ids] == [char_class(ch) for ch in chars]
    assert {CHAR_CLASSES[i] for i in ids} == set(CHAR_CLASSES) - {"other"}


def test_one_character_only():
    with pytest.raises(ValueError, match="one character"):
        char_class("ab")
