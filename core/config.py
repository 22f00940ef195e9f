"""The settings of a model and of its training, checked: no torch here, so the window can
validate settings (and show itself) before torch is imported."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


class ConfigError(ValueError):
    """A model or training setting that cannot work; the message says what to change.

    `field` names the setting at fault (a GPTConfig / TrainConfig field name such as "n_head"),
    or is None when the problem is not one setting's; a form outlines that field.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


INIT_SCHEMES = {
    "gpt2": "weights N(0, 0.02), biases 0, as nanoGPT and the lecture's final model",
    "pytorch": "PyTorch's defaults (embeddings N(0, 1), Linear uniform ±1/sqrt(fan_in)), "
    "as the lecture's code before its final model",
}


@dataclass(frozen=True)
class GPTConfig:
    """The model's shape (the lecture's names). Raises ConfigError naming the field at fault.

    vocab_size characters in, block_size (T) positions, n_layer blocks of n_head heads each of
    head_size = n_embd / n_head channels; the feed-forward is 4 * n_embd wide.
    """

    vocab_size: int = 65
    block_size: int = 64  # the longest context, in characters
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    # the lecture's ladder as switches; the defaults are the full model, so configs saved
    # before these existed load unchanged
    attention: bool = True  # off: the bigram model (needs n_layer 0)
    ffn: bool = True  # feed-forward in every block
    residual: bool = True  # x + sublayer(x) rather than sublayer(x)
    layernorm: bool = True  # ln1, ln2 in the blocks and ln_f before lm_head
    init: str = "gpt2"  # initial weights: "gpt2" or "pytorch", see INIT_SCHEMES

    def __post_init__(self) -> None:
        for name in ("attention", "ffn", "residual", "layernorm"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ConfigError(f"{name} must be on or off (true or false), got {value!r}", name)
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be a whole number, got {value!r}", name)
            if name == "n_layer":
                continue  # 0 is allowed for the bigram model, checked below
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}", name)
        if self.attention and self.n_layer < 1:
            raise ConfigError(
                f"n_layer must be at least 1, got {self.n_layer} (0 layers is the bigram model: "
                "turn attention off for it)",
                "n_layer",
            )
        if not self.attention and self.n_layer != 0:
            raise ConfigError(
                f"with attention off the model is the bigram model, which has no blocks: "
                f"set n_layer to 0 (got {self.n_layer})",
                "n_layer",
            )
        if self.n_embd % self.n_head:
            hint = ", ".join(str(h) for h in self.head_counts(self.n_embd))
            raise ConfigError(
                f"n_embd ({self.n_embd}) must divide evenly among {self.n_head} heads; "
                f"choose heads from {hint}",
                "n_head",
            )
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)):
            raise ConfigError(f"dropout must be a number, got {self.dropout!r}", "dropout")
        if not (0.0 <= self.dropout < 1.0) or math.isnan(self.dropout):
            raise ConfigError(
                f"dropout must be at least 0 and below 1, got {self.dropout}", "dropout"
            )
        if not isinstance(self.init, str) or self.init not in INIT_SCHEMES:
            choices = "; ".join(f"{name!r} ({what})" for name, what in INIT_SCHEMES.items())
            raise ConfigError(f"init must be {choices}; got {self.init!r}", "init")

    @staticmethod
    def head_counts(n_embd: int, limit: int = 64) -> list[int]:
        """The head counts n_embd divides evenly among (each head gets n_embd / n_head channels),
        up to limit."""
        return [h for h in range(1, min(n_embd, limit) + 1) if n_embd % h == 0]

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @property
    def ffn_size(self) -> int:
        """Hidden units per feed-forward layer: 4C, or 0 when there is none (ffn off, bigram)."""
        return 4 * self.n_embd if self.ffn and self.n_layer > 0 else 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GPTConfig:
        # missing keys take their defaults: older configs are full models
        return cls(**_known_settings(cls, data, "model"))


PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: AdamW at learning_rate on batches of batch_size windows for max_iters steps,
    the loss estimated over eval_iters batches every eval_interval steps. Raises ConfigError
    naming the field at fault."""

    learning_rate: float = 1e-3
    batch_size: int = 12
    max_iters: int = 2000
    eval_interval: int = 200
    eval_iters: int = 50
    seed: int = 1337
    device: str = "auto"
    # "bf16": matmuls under bfloat16 autocast (weights and optimizer stay fp32); on a CPU with
    # bf16 in hardware the baby preset trains ~1.4x faster than "fp32", to the same loss within
    # ~0.01 but not bit-for-bit (bench/train_throughput.py). "auto": bf16 where the hardware has
    # it and a step is big enough for it to pay (core.trainer.resolve_precision), else fp32.
    precision: str = "auto"

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_iters", "eval_interval", "eval_iters"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"{name} must be a whole number of at least 1, got {value!r}", name
                )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(
                f"seed must be a whole number of at least 0, got {self.seed!r}", "seed"
            )
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr):
            raise ConfigError(f"learning rate must be a number, got {lr!r}", "learning_rate")
        if not (0 < lr <= 10):
            raise ConfigError(
                f"learning rate must be above 0 and at most 10, got {lr}", "learning_rate"
            )
        if not isinstance(self.device, str):
            raise ConfigError(
                f"device must be a name such as auto or cpu, got {self.device!r}", "device"
            )
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}",
                "precision",
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        # runs saved before the setting existed trained in fp32: resume them the same way
        return cls(**_known_settings(cls, {"precision": "fp32", **data}, "training"))


def _known_settings(cls: type, data: dict, what: str) -> dict:
    """data, refused with a clear message if it names a setting cls does not have."""
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise ConfigError(f"unknown {what} setting(s): {', '.join(unknown)}")
    return data
