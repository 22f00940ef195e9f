"""Where each attention head looks and at what, over validation windows, and a label from that.

Per head, averaged over windows and query positions i >= 1 (query 0 can only attend to itself, so
it says nothing about the head):
  offset     mean weight on the key d back (d = 0 itself, 1 the previous character, ... up to
             MAX_OFFSET), over the queries that have such a key (i >= d); "further" the weight
             beyond MAX_OFFSET back, over the queries that have keys there
  classes    the share of attention on keys of each character class (core.char_classes)
  same char  the share on earlier keys holding the query's own character
  first      the weight on the window's first position
  entropy    of the attention row, nats; evenness = entropy / log(i + 1), 1 for uniform attention
Every statistic has a base rate: its value for a head that attends uniformly to the visible keys
(a uniform causal head), on the same windows. So a class's base rate is its share of the key
positions such a head would see, not its share of the corpus, and a head that looks nowhere in
particular scores its base rates exactly.

Labels: the statistic that holds the most attention beyond its base rate names the head — "k back"
(any offset k, "self" for k = 0), a character class ("spaces", "line start" for newlines,
"vowels", ...), "same char" or "first position" — when that excess is at least MIN_EXCESS of the
head's attention; otherwise "broad" when its evenness is at least BROAD_EVENNESS, else "mixed".
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from headwatch.core.char_classes import CHAR_CLASSES
from headwatch.core.model import GPT

MAX_OFFSET = 16
# a statistic names the head when it holds this share of the head's attention beyond its base rate
MIN_EXCESS = 0.25
BROAD_EVENNESS = 0.8
# windows per forward pass: bounds the (B, L, H, T, T) attention held at once
PROFILE_BATCH = 8

_CLASS_LABELS = {
    "vowel": "vowels",
    "consonant": "consonants",
    "space": "spaces",
    "newline": "line start",
    "punctuation": "punctuation",
    "upper case": "upper case",
    "digit": "digits",
    "other": "other chars",
}


class LabelKind(enum.Enum):
    """What a head's label says it does."""

    OFFSET = "offset"  # attends a fixed number of characters back
    CHAR_CLASS = "char class"  # attends keys of one character class
    SAME_CHAR = "same char"  # attends earlier occurrences of the query's character
    FIRST_POSITION = "first position"  # attends the window's first character
    BROAD = "broad"  # spread evenly over the visible keys
    MIXED = "mixed"  # nothing stands out


@dataclass(frozen=True)
class HeadLabel:
    """A head's label: its kind, and the offset k (OFFSET) or class name (CHAR_CLASS)."""

    kind: LabelKind
    detail: int | str | None = None

    @property
    def text(self) -> str:
        """The short form a badge shows: "3 back", "self", "spaces", "broad", ..."""
        if self.kind is LabelKind.OFFSET:
            return "self" if self.detail == 0 else f"{self.detail} back"
        if self.kind is LabelKind.CHAR_CLASS:
            return _CLASS_LABELS[str(self.detail)]
        return self.kind.value


@dataclass(frozen=True)
class HeadProfiles:
    """Profiles of every head, (L, H, ...) float64 tensors, and the uniform head's base rates."""

    offset: torch.Tensor  # (L, H, D), D = min(MAX_OFFSET, T - 1) + 1 offsets, index = offset
    further: torch.Tensor | None  # (L, H); None when no key lies beyond MAX_OFFSET (T <= 17)
    classes: torch.Tensor  # (L, H, K): share per CHAR_CLASSES entry, sums to 1 over K
    same_char: torch.Tensor  # (L, H)
    first: torch.Tensor  # (L, H)
    entropy: torch.Tensor  # (L, H) nats
    evenness: torch.Tensor  # (L, H)
    offset_base: torch.Tensor  # (D,)
    further_base: float | None
    class_base: torch.Tensor  # (K,)
    same_char_base: float
    first_base: float
    entropy_base: float  # nats
    windows: int

    @property
    def shape(self) -> tuple[int, int]:
        """(n_layer, n_head)."""
        return tuple(self.same_char.shape)  # type: ignore[return-value]


def _sums(
    att: torch.Tensor, classes: torch.Tensor, tokens: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Each statistic summed over windows and queries i >= 1, per head: att (B, M, T, T) float64
    causal attention of M heads, classes (B, T, K) one-hot key classes, tokens (B, T) ids."""
    T = att.shape[-1]
    sums = {}
    offsets = []
    for d in range(min(MAX_OFFSET, T - 1) + 1):
        diagonal = torch.diagonal(att, offset=-d, dim1=-2, dim2=-1)  # (B, M, T-d): query j+d
        offsets.append((diagonal[..., 1:] if d == 0 else diagonal).sum(dim=(0, 2)))
    sums["offset"] = torch.stack(offsets, dim=-1)  # (M, D)
    if T - 1 > MAX_OFFSET:
        far = torch.ones(T, T, dtype=torch.bool, device=att.device).tril(-(MAX_OFFSET + 1))
        sums["further"] = (att * far).sum(-1)[..., MAX_OFFSET + 1 :].sum(dim=(0, 2))
    rows = att[:, :, 1:]  # (B, M, T-1, T): queries i >= 1
    sums["classes"] = (rows @ classes[:, None]).sum(dim=(0, 2))  # (M, K)
    earlier = torch.ones(T, T, dtype=torch.bool, device=att.device).tril(-1)  # key j < query i
    same = (tokens[:, :, None] == tokens[:, None, :]) & earlier  # (B, T, T)
    sums["same_char"] = (rows * same[:, None, 1:]).sum(dim=(0, 2, 3))
    sums["first"] = rows[..., 0].sum(dim=(0, 2))
    entropy = torch.special.entr(rows).sum(-1)  # (B, M, T-1); 0 log 0 = 0
    visible = torch.arange(2, T + 1, dtype=att.dtype, device=att.device).log()  # log(i + 1)
    sums["entropy"] = entropy.sum(dim=(0, 2))
    sums["evenness"] = (entropy / visible).sum(dim=(0, 2))
    return sums


def _uniform(T: int, device: torch.device) -> torch.Tensor:
    """The uniform causal head: (T, T), row i spread evenly over keys 0..i."""
    ones = torch.ones(T, T, dtype=torch.float64, device=device).tril()
    return ones / ones.sum(-1, keepdim=True)


def _batch_sums(
    attention: torch.Tensor, tokens: torch.Tensor, token_classes: torch.Tensor
) -> dict[str, torch.Tensor]:
    """_sums of the L*H heads of attention (B, L, H, T, T) and, as head L*H, the uniform head."""
    B, L, H, T, _ = attention.shape
    att = attention.double().reshape(B, L * H, T, T)
    uniform = _uniform(T, att.device).expand(B, 1, T, T)
    classes = torch.nn.functional.one_hot(
        token_classes.to(tokens.device)[tokens], len(CHAR_CLASSES)
    ).double()  # (B, T, K)
    return _sums(torch.cat([att, uniform], dim=1), classes, tokens)


def _profiles(sums: dict[str, torch.Tensor], n: int, T: int, L: int, H: int) -> HeadProfiles:
    """Means from sums over n windows of T positions; the last of L*H+1 heads is the base."""
    offset_counts = torch.tensor(
        [n * (T - max(d, 1)) for d in range(sums["offset"].shape[-1])], dtype=torch.float64
    )
    means = {"offset": sums["offset"].cpu() / offset_counts}
    if "further" in sums:
        means["further"] = sums["further"].cpu() / (n * (T - MAX_OFFSET - 1))
    for name in ("classes", "same_char", "first", "entropy", "evenness"):
        means[name] = sums[name].cpu() / (n * (T - 1))

    def heads(value: torch.Tensor) -> torch.Tensor:
        return value[: L * H].reshape(L, H, *value.shape[1:])

    further = means.get("further")
    return HeadProfiles(
        offset=heads(means["offset"]),
        further=None if further is None else heads(further),
        classes=heads(means["classes"]),
        same_char=heads(means["same_char"]),
        first=heads(means["first"]),
        entropy=heads(means["entropy"]),
        evenness=heads(means["evenness"]),
        offset_base=means["offset"][-1],
        further_base=None if further is None else float(further[-1]),
        class_base=means["classes"][-1],
        same_char_base=float(means["same_char"][-1]),
        first_base=float(means["first"][-1]),
        entropy_base=float(means["entropy"][-1]),
        windows=n,
    )


def _check(tokens: torch.Tensor, token_classes: Sequence[int]) -> torch.Tensor:
    if tokens.dim() != 2 or tokens.shape[0] < 1 or tokens.shape[1] < 2:
        raise ValueError(
            f"profiles need (N, T) token ids with N >= 1, T >= 2, got {tuple(tokens.shape)}"
        )
    return torch.as_tensor(list(token_classes), dtype=torch.long)


def profile_attention(
    attention: torch.Tensor, tokens: torch.Tensor, token_classes: Sequence[int]
) -> HeadProfiles:
    """Profiles of given attention patterns: attention (N, L, H, T, T) (causal, rows summing to
    1) over the token ids tokens (N, T); token_classes maps a token id to its class index
    (char_classes.class_ids). Raises ValueError for mismatched shapes or T < 2."""
    classes = _check(tokens, token_classes)
    N, L, H, T, T2 = attention.shape
    if T != T2 or tokens.shape != (N, T):
        raise ValueError(
            f"attention {tuple(attention.shape)} does not fit tokens {tuple(tokens.shape)}"
        )
    return _profiles(_batch_sums(attention, tokens, classes), N, T, L, H)


@torch.no_grad()
def head_profiles(
    model: GPT, tokens: torch.Tensor, token_classes: Sequence[int], batch_size: int = PROFILE_BATCH
) -> HeadProfiles:
    """Profiles of the model's heads over windows of token ids (N, T), batch_size windows per
    forward pass (eval mode, no autograd). The bigram model's tensors are (0, n_head, ...)."""
    classes = _check(tokens, token_classes)
    device = next(model.parameters()).device
    totals: dict[str, torch.Tensor] = {}
    for chunk in tokens.split(batch_size):
        chunk = chunk.to(device)
        attention = model.inspect_batch(chunk).attention  # (B, L, H, T, T)
        for name, value in _batch_sums(attention, chunk.cpu(), classes).items():
            totals[name] = totals[name] + value if name in totals else value
    c = model.config
    return _profiles(totals, tokens.shape[0], tokens.shape[1], c.n_layer, c.n_head)


def label_head(profiles: HeadProfiles, layer: int, head: int) -> HeadLabel:
    """The label of one head (0-based), by the rules in the module docstring; among equal
    excesses the first candidate wins (offsets, classes, same char, first position)."""
    candidates: list[tuple[float, HeadLabel]] = []
    offset = profiles.offset[layer, head] - profiles.offset_base
    candidates += [(float(v), HeadLabel(LabelKind.OFFSET, d)) for d, v in enumerate(offset)]
    shares = profiles.classes[layer, head] - profiles.class_base
    candidates += [
        (float(v), HeadLabel(LabelKind.CHAR_CLASS, name))
        for name, v in zip(CHAR_CLASSES, shares, strict=True)
    ]
    candidates.append(
        (
            float(profiles.same_char[layer, head]) - profiles.same_char_base,
            HeadLabel(LabelKind.SAME_CHAR),
        )
    )
    candidates.append(
        (
            float(profiles.first[layer, head]) - profiles.first_base,
            HeadLabel(LabelKind.FIRST_POSITION),
        )
    )
    excess, label = max(candidates, key=lambda c: c[0])  # max keeps the first of equals
    if excess >= MIN_EXCESS:
        return label
    if float(profiles.evenness[layer, head]) >= BROAD_EVENNESS:
        return HeadLabel(LabelKind.BROAD)
    return HeadLabel(LabelKind.MIXED)


def label_heads(profiles: HeadProfiles) -> list[list[HeadLabel]]:
    """labels[layer][head], see label_head."""
    L, H = profiles.shape
    return [[label_head(profiles, layer, head) for head in range(H)] for layer in range(L)]


def profile_json(profiles: HeadProfiles, layer: int, head: int) -> dict:
    """One head's profile as `headwatch heads --json` writes it (layer and head left to the
    caller): the offset profile a list indexed by offset, the class profile keyed by class."""
    further = profiles.further
    return {
        "entropy": float(profiles.entropy[layer, head]),
        "evenness": float(profiles.evenness[layer, head]),
        "offset_profile": profiles.offset[layer, head].tolist(),
        "further": None if further is None else float(further[layer, head]),
        "class_profile": dict(
            zip(CHAR_CLASSES, profiles.classes[layer, head].tolist(), strict=True)
        ),
        "same_char": float(profiles.same_char[layer, head]),
        "first": float(profiles.first[layer, head]),
    }


def base_json(profiles: HeadProfiles) -> dict:
    """The uniform causal head's values on the same windows, in profile_json's keys."""
    return {
        "entropy": profiles.entropy_base,
        "evenness": 1.0,  # by definition: entropy / log(i + 1) of uniform attention
        "offset_profile": profiles.offset_base.tolist(),
        "further": profiles.further_base,
        "class_profile": dict(zip(CHAR_CLASSES, profiles.class_base.tolist(), strict=True)),
        "same_char": profiles.same_char_base,
        "first": profiles.first_base,
    }
