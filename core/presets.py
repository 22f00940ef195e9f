"""Named starting points for a run, shared by the window's setup panel and `headwatch train
--preset`. Values use GPTConfig / TrainConfig field names."""

from __future__ import annotations

PRESETS: dict[str, dict[str, int | float]] = {
    "tiny": {
        "n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 32,
        "batch_size": 16, "learning_rate": 3e-3, "max_iters": 1000, "dropout": 0.0,
    },
    "baby": {
        "n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64,
        "batch_size": 12, "learning_rate": 1e-3, "max_iters": 2000, "dropout": 0.0,
    },
    "lecture": {
        "n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256,
        "batch_size": 64, "learning_rate": 3e-4, "max_iters": 5000, "dropout": 0.2,
    },
}  # fmt: skip
DEFAULT_PRESET = "baby"
