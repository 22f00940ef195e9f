"""Corpus building, the char tokenizer, and a clear error for every bad file."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import headwatch.core.corpus as corpus_mod
from headwatch.core.corpus import (
    Corpus,
    CorpusError,
    Tokenizer,
    builtin_corpus,
    load_corpus,
    load_text_file,
    plays_to_dialogue,
)
from tests.helpers import TEXT, write_corpus

PLAY = """# Hamlet

## ACT I

### SCENE I. Elsinore.

_FRANCISCO at his post. Enter to him BERNARDO_

**BERNARDO**  
Who's there?

**FRANCISCO**  
Nay, answer me: stand,  
and unfold yourself.

_Enter, from one side, HORATIO, with
his train_

**HORATIO**  
__\\[Aside]_  
Friends to this ground\\--and liegemen to the Dane.  
*Sound a horn.*  
Ay—so.

[Within]_  
Who's there?
"""


def test_markdown_play_becomes_lecture_dialogue():
    assert plays_to_dialogue(PLAY) == (
        "BERNARDO:\nWho's there?\n\n"
        "FRANCISCO:\nNay, answer me: stand,\nand unfold yourself.\n\n"
        "HORATIO:\nFriends to this ground--and liegemen to the Dane.\nAy--so.\nWho's there?\n"
    )


def test_builtin_corpus_is_clean_shakespeare_and_cached():
    corpus = builtin_corpus()
    assert corpus.path is None
    assert len(corpus.text) > 4_000_000
    assert corpus.vocab_size < 80
    assert corpus.text.startswith("THESEUS:\nNow, fair Hippolyta")
    for markup in ("**", "_", "#", "\\", "[", "  \n"):
        assert markup not in corpus.text
    assert re.search(r"\n\nHAMLET:\nTo be, or not to be", corpus.text)
    cached = list(Path(os.environ["HEADWATCH_CACHE"]).glob("shakespeare-*.txt"))
    assert len(cached) == 1
    assert builtin_corpus().text == corpus.text  # deterministic, from the cache


def test_load_corpus_defaults_to_builtin():
    assert load_corpus(None).name == corpus_mod.BUILTIN_NAME


def test_user_file_split_and_tokenizer(tmp_path):
    corpus = load_text_file(write_corpus(tmp_path))
    assert corpus.name == "corpus.txt"
    assert corpus.tokenizer.chars == tuple(sorted(set(TEXT)))
    train, val = corpus.split()
    assert len(train) == int(0.9 * len(TEXT))
    assert len(train) + len(val) == len(TEXT)
    assert corpus.tokenizer.decode(corpus.data[:30].tolist()) == TEXT[:30]


def test_windows_crlf_and_bom_are_normalised(tmp_path):
    path = tmp_path / "w.txt"
    path.write_bytes("\ufeffab\r\ncd\r\n".encode())
    assert load_text_file(path).text == "ab\ncd\n"


# --- bad files: one clear message each -------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(CorpusError, match=r"nope\.txt: no such file"):
        load_text_file(tmp_path / "nope.txt")


def test_directory(tmp_path):
    with pytest.raises(CorpusError, match="is a folder"):
        load_text_file(tmp_path)


def test_unreadable(tmp_path, monkeypatch):
    path = write_corpus(tmp_path)

    # root ignores chmod, so make the read itself fail as it would for a normal user
    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(CorpusError, match="cannot be read \\(permission denied\\)"):
        load_text_file(path)


def test_empty(tmp_path):
    with pytest.raises(CorpusError, match="is empty"):
        load_text_file(write_corpus(tmp_path, ""))
    with pytest.raises(CorpusError, match="is empty"):
        load_text_file(write_corpus(tmp_path, "  \n\n "))


def test_shorter_than_a_block(tmp_path):
    corpus = load_text_file(write_corpus(tmp_path, "abcdefghij" * 5))
    with pytest.raises(CorpusError, match="too short for block size 64"):
        corpus.check_block_size(64)
    corpus.check_block_size(4)


def test_binary(tmp_path):
    path = tmp_path / "b.bin"
    path.write_bytes(b"abc\x00\x01\x02def")
    with pytest.raises(CorpusError, match="looks binary"):
        load_text_file(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café au lait".encode("latin-1"))
    with pytest.raises(CorpusError, match="not UTF-8 text \\(bad byte at offset 3\\)"):
        load_text_file(path)


def test_over_the_size_limit(tmp_path):
    with pytest.raises(CorpusError, match="larger than the limit"):
        load_text_file(write_corpus(tmp_path, "x" * 2048), max_bytes=1024)
    assert "64 MiB" in f"{corpus_mod.MAX_CORPUS_BYTES / 2**20:.0f} MiB"


def test_file_changing_while_read(tmp_path, monkeypatch):
    path = write_corpus(tmp_path)
    real_open = Path.open

    def growing_open(self, *args, **kwargs):
        with real_open(self, "ab") as fh:  # someone appends just as we start reading
            fh.write(b"more text")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", growing_open)
    with pytest.raises(CorpusError, match="changed while it was being read"):
        load_text_file(path)


# --- prompts ---------------------------------------------------------------------------------


def test_prompt_with_unknown_characters_is_reported_not_raised():
    tok = Tokenizer.from_text("abc \n")
    encoded = tok.encode_prompt("ab€c✓ a")
    assert encoded.text == "abc a"
    assert encoded.ids == tok.encode("abc a")
    assert [(u.char, u.position) for u in encoded.unknown] == [("€", 2), ("✓", 4)]
    assert encoded.describe_unknown() == "not in the vocabulary, left out: '€' at 2, '✓' at 4"
    invisible = Tokenizer.from_text("abc").encode_prompt("a\u200bb").describe_unknown()
    assert invisible == "not in the vocabulary, left out: '⟨ZWSP⟩' (U+200B ZERO WIDTH SPACE) at 1"


def test_strict_encode_names_unknown_characters():
    with pytest.raises(CorpusError, match="'z' at 1"):
        Tokenizer.from_text("abc").encode("azb")


def test_long_prompt_keeps_the_last_block():
    tok = Tokenizer.from_text("abcdefgh")
    encoded = tok.encode_prompt("abcdefgh", max_len=3)
    assert encoded.text == "fgh"
    assert encoded.truncated == 5


@given(st.text(max_size=200), st.integers(min_value=1, max_value=50))
def test_any_unicode_prompt_is_handled(text, max_len):
    tok = Tokenizer.from_text(TEXT)
    encoded = tok.encode_prompt(text, max_len=max_len)
    assert len(encoded.ids) <= max_len
    assert tok.decode(encoded.ids) == encoded.text
    assert all(u.char not in tok.stoi and text[u.position] == u.char for u in encoded.unknown)
    assert len(encoded.text) + encoded.truncated + len(encoded.unknown) == len(text)


@given(st.text(min_size=2, max_size=300).filter(lambda s: s.strip() and "\x00" not in s))
def test_corpus_round_trips_any_text(text):
    corpus = Corpus("t", text)
    assert corpus.tokenizer.decode(corpus.data.tolist()) == text
