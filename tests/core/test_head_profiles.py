"""Head profiles and their labels: constructed attention patterns, then a trained model."""

from __future__ import annotations

import random

import pytest
import torch

from headwatch.core.char_classes import CHAR_CLASSES, class_ids
from headwatch.core.corpus import Corpus
from headwatch.core.diagnostics import sample_windows
from headwatch.core.head_profiles import (
    MAX_OFFSET,
    HeadLabel,
    LabelKind,
    head_profiles,
    label_heads,
    profile_attention,
)
from headwatch.core.model import GPT, GPTConfig
from tests.helpers import small_corpus
from tests.trained import trained_small

T = 32


def windows(corpus: Corpus, n: int = 6, t: int = T) -> torch.Tensor:
    return sample_windows(corpus, n, t, seed=3)


def pattern(tokens: torch.Tensor, key) -> torch.Tensor:
    """Attention (N, T, T): row i all on key(row tokens, i), or uniform when key gives None."""
    N, t = tokens.shape
    att = torch.zeros(N, t, t)
    for n in range(N):
        for i in range(t):
            j = key(tokens[n].tolist(), i)
            if j is None:
                att[n, i, : i + 1] = 1 / (i + 1)
            else:
                att[n, i, j] = 1
    return att


def k_back(k: int):
    return lambda _ids, i: max(i - k, 0)


def profiles_of(tokens: torch.Tensor, corpus: Corpus, *heads: torch.Tensor):
    """Profiles of one layer holding the given (N, T, T) heads."""
    attention = torch.stack(heads, dim=1)[:, None]  # (N, 1, H, T, T)
    return profile_attention(attention, tokens, class_ids(corpus.tokenizer.chars))


def test_exactly_k_back_heads_are_labelled_k_back():
    corpus = small_corpus()
    tokens = windows(corpus)
    ks = [0, 1, 2, 3, 5, 8, MAX_OFFSET]
    profiles = profiles_of(tokens, corpus, *[pattern(tokens, k_back(k)) for k in ks])
    labels = label_heads(profiles)[0]
    assert labels == [HeadLabel(LabelKind.OFFSET, k) for k in ks]
    assert [label.text for label in labels] == ["self"] + [f"{k} back" for k in ks[1:]]
    for head, k in enumerate(ks):
        # every query that has a key k back puts all its weight there
        assert profiles.offset[0, head, k].item() == pytest.approx(1.0)
        assert profiles.offset.shape[-1] == MAX_OFFSET + 1
        assert profiles.classes[0, head].sum().item() == pytest.approx(1.0)


def test_a_uniform_head_scores_the_base_rates_and_is_broad():
    corpus = small_corpus()
    tokens = windows(corpus)
    profiles = profiles_of(tokens, corpus, pattern(tokens, lambda _ids, _i: None))
    torch.testing.assert_close(profiles.offset[0, 0], profiles.offset_base)
    torch.testing.assert_close(profiles.classes[0, 0], profiles.class_base)
    assert profiles.same_char[0, 0].item() == pytest.approx(profiles.same_char_base)
    assert profiles.first[0, 0].item() == pytest.approx(profiles.first_base)
    assert profiles.further[0, 0].item() == pytest.approx(profiles.further_base)
    assert profiles.entropy[0, 0].item() == pytest.approx(profiles.entropy_base)
    assert profiles.evenness[0, 0].item() == pytest.approx(1.0)
    assert label_heads(profiles) == [[HeadLabel(LabelKind.BROAD)]]


def few_spaces_corpus() -> Corpus:
    """Long made-up words, one space between them: spaces are about 1 character in 15."""
    rng = random.Random(0)
    words = [
        "".join(rng.choice("abcdefghik") for _ in range(rng.randint(10, 18))) for _ in range(600)
    ]
    return Corpus(name="few spaces", text=" ".join(words))


def test_a_head_on_spaces_gets_the_class_label_against_a_low_base_rate():
    corpus = few_spaces_corpus()
    tokens = windows(corpus, n=8, t=64)
    space = corpus.tokenizer.stoi[" "]

    def last_space(ids, i):
        before = [j for j in range(i + 1) if ids[j] == space]
        return before[-1] if before else 0

    profiles = profiles_of(tokens, corpus, pattern(tokens, last_space))
    k = CHAR_CLASSES.index("space")
    assert profiles.class_base[k] < 0.1 < 0.5 < profiles.classes[0, 0, k]
    label = label_heads(profiles)[0][0]
    assert label == HeadLabel(LabelKind.CHAR_CLASS, "space") and label.text == "spaces"


def test_same_char_first_position_and_mixed_heads():
    corpus = small_corpus()
    tokens = windows(corpus)

    def previous_same(ids, i):
        earlier = [j for j in range(i) if ids[j] == ids[i]]
        return earlier[-1] if earlier else None

    # a fifth each on the last five keys: peaked nowhere, and not even
    mixed = torch.zeros(tokens.shape[0], T, T)
    for i in range(T):
        keys = range(max(i - 4, 0), i + 1)
        mixed[:, i, list(keys)] = 1 / len(keys)
    profiles = profiles_of(
        tokens,
        corpus,
        pattern(tokens, previous_same),
        pattern(tokens, lambda _ids, _i: 0),
        mixed,
    )
    assert [label.kind for label in label_heads(profiles)[0]] == [
        LabelKind.SAME_CHAR,
        LabelKind.FIRST_POSITION,
        LabelKind.MIXED,
    ]
    assert profiles.same_char[0, 0] > profiles.same_char_base


def test_short_windows_have_no_further_bucket_and_fewer_offsets():
    corpus = small_corpus()
    tokens = windows(corpus, t=8)
    profiles = profiles_of(tokens, corpus, pattern(tokens, k_back(3)))
    assert profiles.offset.shape == (1, 1, 8) and profiles.further is None
    assert label_heads(profiles)[0][0].text == "3 back"


def test_bad_shapes_are_refused():
    corpus = small_corpus()
    tokens = windows(corpus)
    ids = class_ids(corpus.tokenizer.chars)
    with pytest.raises(ValueError, match="does not fit"):
        profile_attention(torch.zeros(6, 1, 1, T - 1, T - 1), tokens, ids)
    with pytest.raises(ValueError, match="T >= 2"):
        profile_attention(torch.ones(6, 1, 1, 1, 1), tokens[:, :1], ids)


# --- on models -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    return trained_small()


def test_model_profiles_are_the_profiles_of_its_attention(trained):
    corpus, model = trained
    tokens = windows(corpus, n=20, t=16)
    ids = class_ids(corpus.tokenizer.chars)
    profiles = head_profiles(model, tokens, ids, batch_size=8)  # 3 batches, averaged as one
    one_go = profile_attention(model.inspect_batch(tokens).attention, tokens, ids)
    for name in ("offset", "classes", "same_char", "first", "entropy", "evenness"):
        torch.testing.assert_close(getattr(profiles, name), getattr(one_go, name))
    assert profiles.shape == (2, 2) and profiles.windows == 20
    torch.testing.assert_close(profiles.classes.sum(-1), torch.ones(2, 2, dtype=torch.float64))
    assert all(isinstance(label, HeadLabel) for row in label_heads(profiles) for label in row)


def test_the_bigram_model_has_no_profiles():
    model = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=0, attention=False, n_head=2))
    profiles = head_profiles(model, torch.randint(0, 10, (4, 8)), [0] * 10)
    assert profiles.shape == (0, 2) and label_heads(profiles) == []
