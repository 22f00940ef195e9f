"""What the window builds on: ConfigError names its field, the heads rule, and
durations written one way everywhere."""

from __future__ import annotations

import pytest

from headwatch.core.config import ConfigError, GPTConfig, TrainConfig
from headwatch.core.formatting import format_duration


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: GPTConfig(n_embd=128, n_head=5), "n_head"),
        (lambda: GPTConfig(n_layer=0), "n_layer"),
        (lambda: GPTConfig(block_size=0), "block_size"),
        (lambda: GPTConfig(dropout=1.0), "dropout"),
        (lambda: TrainConfig(learning_rate=0), "learning_rate"),
        (lambda: TrainConfig(batch_size=0), "batch_size"),
        (lambda: TrainConfig(seed=-1), "seed"),
        (lambda: TrainConfig(precision="fp8"), "precision"),
    ],
)
def test_config_error_names_its_field(make, field):
    with pytest.raises(ConfigError) as caught:
        make()
    assert caught.value.field == field


def test_head_counts_are_the_configs_own_rule():
    assert GPTConfig.head_counts(128) == [1, 2, 4, 8, 16, 32, 64]
    assert GPTConfig.head_counts(384, limit=12) == [1, 2, 3, 4, 6, 8, 12]
    for n_embd in (24, 96, 130):
        for heads in range(1, 70):
            fits = heads in GPTConfig.head_counts(n_embd, limit=70)
            try:
                GPTConfig(n_embd=n_embd, n_head=heads)
            except ConfigError:
                assert not fits
            else:
                assert fits


def test_format_duration_rounds_to_the_nearest_second():
    assert format_duration(59.6) == "1:00"
    assert format_duration(52) == "0:52"
    assert format_duration(3_723) == "1:02:03"
    with pytest.raises(ValueError, match="finite number of seconds"):
        format_duration(-1)
