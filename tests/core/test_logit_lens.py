"""The logit lens: its stages are the stream where the model has it, its last stage is the model."""

from __future__ import annotations

import pytest
import torch

from headwatch.core.ablation import evaluating, val_windows
from headwatch.core.ladder import STAGES
from headwatch.core.logit_lens import (
    TOP_K,
    logit_lens,
    stage_logits,
    stage_losses,
    stage_names,
    stage_note,
)
from headwatch.core.model import GPT
from tests.helpers import small_corpus
from tests.trained import trained_small

VARIANTS = {stage.name: stage.model_config for stage in STAGES}


@pytest.fixture(scope="module")
def trained():
    return trained_small()


def manual_stream(model: GPT, idx: torch.Tensor) -> list[torch.Tensor]:
    """The stream after the embeddings and after each sub-layer, computed by hand."""
    x = model.token_embedding(idx)
    if model.position_embedding is not None:
        x = x + model.position_embedding(torch.arange(idx.shape[1]))
    stream = [x]
    for block in model.blocks:
        update = block.attn(block.ln1(x))[0]
        x = x + update if block.residual else update
        stream.append(x)
        if block.mlp is not None:
            update = block.mlp(block.ln2(x))
            x = x + update if block.residual else update
            stream.append(x)
    return stream


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_ladder_variant_has_its_own_stages_and_the_last_is_the_model(variant):
    corpus = small_corpus()
    torch.manual_seed(0)
    model = GPT(VARIANTS[variant](corpus.vocab_size)).eval()
    x, y = val_windows(corpus, 12, model.config.block_size)
    names = stage_names(model.config)
    with evaluating(model):
        logits, loss = model(x, y)
        lens = stage_logits(model, x)  # (S, N, T, vocab)
        by_hand = [model.lm_head(model.ln_f(s)) for s in manual_stream(model, x)]
    assert len(names) == len(lens) == len(by_hand)
    assert names[0] == "embed" and len(names) == 1 + model.config.n_layer * (
        2 if model.config.ffn else 1
    )
    for stage, expected in zip(lens, by_hand, strict=True):
        torch.testing.assert_close(stage, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(lens[-1].softmax(-1), logits.softmax(-1), atol=1e-5, rtol=0)
    losses = stage_losses(model, x, y, rows_per_forward=5)  # 3 batches, averaged as one
    assert len(losses) == len(names)
    assert losses[-1] == pytest.approx(loss.item(), abs=1e-5)
    assert (stage_note(model.config) is None) == (model.config.residual and names != ["embed"])


def test_lens_on_a_prompt(trained):
    corpus, model = trained
    prompt = corpus.tokenizer.encode_prompt("ROMEO:\nBut soft", max_len=16)
    result = logit_lens(model, corpus.tokenizer, prompt)
    S, T = len(stage_names(model.config)), len(prompt.ids)
    assert result.stages == ["embed", "L1 attn", "L1 ffn", "L2 attn", "L2 ffn"]
    assert result.tokens == list("ROMEO:\nBut soft") and result.probs.shape[:2] == (S, T)
    with evaluating(model):
        own = model(torch.tensor([prompt.ids]))[0][0].softmax(-1)  # (T, vocab)
    torch.testing.assert_close(result.probs[-1], own, atol=1e-5, rtol=0)
    for s in range(S):
        assert result.p_next[s][-1] is None and len(result.p_next[s]) == T
        for t in range(T - 1):
            assert result.p_next[s][t] == pytest.approx(
                result.probs[s, t, prompt.ids[t + 1]].item()
            )
            assert result.top[s][t] == corpus.tokenizer.chars[int(result.probs[s, t].argmax())]
            cell = result.top5[s][t]
            assert len(cell) == TOP_K and cell[0][0] == result.top[s][t]
            assert [p for _, p in cell] == sorted((p for _, p in cell), reverse=True)
    data = result.to_json([1.0] * S)
    assert set(data) == {"tokens", "stages", "p_next", "top", "top5", "stage_loss", "note"}
    with pytest.raises(ValueError, match="no character"):
        logit_lens(model, corpus.tokenizer, corpus.tokenizer.encode_prompt("€"))


def test_loss_by_depth_of_a_trained_model_ends_below_the_embedding(trained):
    corpus, model = trained
    x, y = val_windows(corpus, 16, model.config.block_size)
    losses = stage_losses(model, x, y)
    assert losses[-1] < losses[0]
