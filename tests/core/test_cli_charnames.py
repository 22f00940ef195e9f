"""`headwatch inspect`'s plain output shows every character visibly, naming the odd ones."""

from __future__ import annotations

from headwatch.core.charnames import quoted, visible, visible_string
from headwatch.core.cli import main
from headwatch.core.corpus import builtin_corpus
from tests.helpers import TEXT, write_corpus

ODD = "\x0c\u200b\u00a0\u0301\u202e"
# A corpus where each odd character is common enough to be predicted and attended to.
CORPUS = TEXT.replace(" ", "\u00a0", 40).replace("e", "e\u0301", 60).replace("\n\n", "\x0c\n")
CORPUS = CORPUS.replace("o", "o\u200b", 50).replace("!", "\u202e!")


def test_inspect_plain_output_shows_every_character(tmp_path, capsys):
    corpus = write_corpus(tmp_path, CORPUS)
    out = tmp_path / "run"
    small = "--layers 1 --heads 2 --embd 16 --block 16 --batch 8 --iters 30 --eval-every 15"
    args = ["train", "--corpus", str(corpus), *small.split(), "--eval-iters", "2"]
    assert main([*args, "--device", "cpu", "--seed", "3", "--out", str(out)]) == 0
    capsys.readouterr()
    prompt = "a\x0cb\u200bh\u00a0de\u0301t\u202e!"
    assert main(["inspect", str(out), "--prompt", prompt]) == 0
    text = capsys.readouterr().out
    assert f"prompt '{visible_string(prompt)}'" in text
    # Nothing raw (a mark only on its dotted circle) and no repr escapes.
    assert not any(ch in text.replace("◌\u0301", "") for ch in ODD)
    assert "\\x0c" not in text and "\\u200b" not in text
    [next_line] = [line for line in text.splitlines() if line.startswith("next: ")]
    assert next_line.count("'") >= 20  # ten characters, each quoted visibly
    attends = [line for line in text.splitlines() if "attends most to" in line]
    assert len(attends) == 2
    for line in attends:  # "... attends most to {quoted character} (pos N) 0.xx"
        position = int(line.rsplit("(pos ", 1)[1].split(")")[0])
        assert f"attends most to {quoted(prompt[position])} (pos {position})" in line


def test_every_builtin_character_prints_distinctly_and_unambiguously():
    """Each quoted character opens and closes with a mark its text never holds, so `'` reads
    as "'" (not ''') and no two characters of the built-in vocabulary print alike."""
    chars = builtin_corpus().tokenizer.chars
    printed = [quoted(ch) for ch in chars]
    assert len(set(printed)) == len(chars)
    for ch, text in zip(chars, printed, strict=True):
        mark, shown = text[0], visible(ch)
        assert text.startswith(f"{mark}{shown}{mark}"), (ch, text)
        assert mark not in shown, (ch, text)
    assert quoted("'") == '"\'"' and quoted('"') == "'\"'"


def test_inspect_lists_the_apostrophe_readably(tmp_path, capsys):
    # Six characters: the next-character list names every one of them, the apostrophe included.
    corpus = write_corpus(tmp_path, "'tis it's\n" * 300)
    out = tmp_path / "run"
    small = "--layers 1 --heads 2 --embd 16 --block 8 --batch 8 --iters 20 --eval-every 10"
    args = ["train", "--corpus", str(corpus), *small.split(), "--eval-iters", "2"]
    assert main([*args, "--device", "cpu", "--seed", "3", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out), "--prompt", "it's 'ti"]) == 0
    text = capsys.readouterr().out
    assert "'''" not in text
    [next_line] = [line for line in text.splitlines() if line.startswith("next: ")]
    assert '"\'" ' in next_line
    assert "prompt \"it's␣'ti\"" in text
    assert main(["lens", str(out), "--prompt", "it's\n'ti", "--windows", "4"]) == 0
    assert "prompt \"it's↵'ti\"" in capsys.readouterr().out  # visible, as inspect shows it
