"""Property tests: settings validate or raise ConfigError; metrics rows round-trip."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from headwatch.core.model import ConfigError, GPTConfig
from headwatch.core.runs import MetricRow
from headwatch.core.trainer import TrainConfig

anything = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)


@given(
    vocab=anything, block=anything, layers=anything, heads=anything, embd=anything, dropout=anything
)
def test_model_config_validates_or_explains(vocab, block, layers, heads, embd, dropout):
    try:
        config = GPTConfig(vocab, block, layers, heads, embd, dropout)
    except ConfigError as exc:
        assert str(exc)  # a message, never another exception type
        return
    assert config.n_embd % config.n_head == 0 and config.head_size >= 1
    assert 0 <= config.dropout < 1
    assert GPTConfig.from_dict(config.to_dict()) == config


@given(lr=anything, batch=anything, iters=anything, every=anything, evals=anything, seed=anything)
def test_train_config_validates_or_explains(lr, batch, iters, every, evals, seed):
    try:
        config = TrainConfig(lr, batch, iters, every, evals, seed)
    except ConfigError as exc:
        assert str(exc)
        return
    assert 0 < config.learning_rate <= 10 and config.batch_size >= 1
    assert TrainConfig.from_dict(config.to_dict()) == config


finite_or_not = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))


@given(
    step=st.integers(0, 10**9),
    elapsed=st.floats(0, 1e7, allow_nan=False),
    loss=finite_or_not,
    train=finite_or_not,
    val=finite_or_not,
)
def test_metric_rows_round_trip(step, elapsed, loss, train, val):
    row = MetricRow(step, elapsed, loss=loss, train=train, val=val)
    back = MetricRow.from_json(row.to_json())
    assert back.step == step and abs(back.elapsed - elapsed) <= 1e-4 + 1e-9 * elapsed
    for name in ("loss", "train", "val"):
        value, got = getattr(row, name), getattr(back, name)
        if value is None or not math.isfinite(value):
            assert got is None  # NaN/inf are stored as null: JSON has no NaN
        else:
            assert got == value
