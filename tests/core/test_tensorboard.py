"""`headwatch train --tensorboard`: event files in RUN/tb/, read back with TensorBoard's reader."""

from __future__ import annotations

import builtins

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from headwatch.core.cli import main
from headwatch.core.runs import load_run
from headwatch.core.tensorboard_log import INSTALL_HINT, attention_grid
from tests.core.test_cli import SMALL
from tests.helpers import write_corpus


def test_train_writes_losses_lr_speed_attention_and_ffn_histograms(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, "--tensorboard"]
    assert main([*argv, "--out", str(out)]) == 0  # 12 steps, evaluations at 6 and 12
    events = EventAccumulator(str(out / "tb"), size_guidance={"images": 0, "histograms": 0})
    events.Reload()
    tags = events.Tags()
    scalars = {"loss/train_step", "loss/train", "loss/val", "lr", "tokens_per_s"}
    assert set(tags["scalars"]) == scalars
    assert [e.step for e in events.Scalars("loss/train_step")] == list(range(1, 13))
    assert [e.step for e in events.Scalars("loss/val")] == [6, 12]
    learning_rate = load_run(out).train_config.learning_rate
    assert events.Scalars("lr")[0].value == pytest.approx(learning_rate)
    images = events.Images("attention")
    assert [i.step for i in images] == [6, 12]
    # 2 layers × 2 heads of an 8-character probe (block 8), a blank line between heads
    assert (images[0].height, images[0].width) == (2 * 9 - 1, 2 * 9 - 1)
    assert set(tags["histograms"]) == {"ffn/layer1", "ffn/layer2"}
    histogram = events.Histograms("ffn/layer1")[-1].histogram_value
    assert histogram.num == 8 * 4 * 16 and histogram.min >= 0  # T × 4C activations, post-ReLU


def test_the_attention_grid_puts_layers_in_rows_and_heads_in_columns():
    attention = np.zeros((2, 3, 4, 4), np.float32)
    attention[1, 2, 3, 0] = 1.0  # layer 2, head 3: the last position attends to the first
    grid = attention_grid(attention)
    assert grid.shape == (1, 2 * 5 - 1, 3 * 5 - 1)
    assert grid[0, 5 + 3, 10 + 0] == 0.0  # dark where attended
    assert (grid == 0.0).sum() == 1


def test_without_tensorboard_the_option_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name == "tensorboard" or name.startswith("tensorboard."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    argv = ["train", "--corpus", str(write_corpus(tmp_path)), *SMALL, "--tensorboard"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == f"headwatch: error: {INSTALL_HINT}\n"
    assert not (tmp_path / "run").exists()
