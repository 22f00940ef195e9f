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


class OutOfMemory(ConfigError):
    """The settings need more memory than the device has (torch's allocator failed); the message
    names the sizes to lower, e.g. "out of memory at block 8192 × batch 4 — lower the block size
    or the batch". Raised by core.session.train_into_run while training and by
    core.oom.build_trainer while building a model."""


# Upper bounds of whole-number settings: past them torch's size arithmetic overflows (a batch of
# 2**62 windows) or a loop runs for days before memory runs out (which is reported as OutOfMemory).
MAXIMA = {
    "vocab_size": 0x110000,  # every Unicode code point
    "block_size": 2**20,
    "n_layer": 1024,
    "n_head": 2**16,
    "n_embd": 2**16,
    "batch_size": 2**20,
    "max_iters": 10**12,
    "eval_interval": 10**12,
    "eval_iters": 10**6,
}
# torch's generators take seeds below 2**63, and a resumed run seeds with seed + step
MAX_SEED = 2**32 - 1
# Sampling: far below this temperature logits / temperature overflow float32 (1e-38 gave
# inf - inf = nan), and already here sampling all but always picks the most likely character.
GREEDY_BELOW = 1e-4
MAX_SAMPLE_TOKENS = 100_000  # generate() re-runs the model per token: 1e5 is minutes at baby


def check_whole(name: str, value: object, minimum: int = 1, maximum: int | None = None) -> int:
    """value as a whole number in [minimum, maximum (default MAXIMA[name], MAX_SEED for a seed)];
    raises ConfigError naming the range."""
    high = maximum or MAXIMA.get(name, MAX_SEED if name == "seed" else None)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, got {value!r}", name)
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}", name)
    if high is not None and value > high:
        raise ConfigError(f"{name} must be at most {high:,}, got {value:,}", name)
    return value


def check_sampling(max_new_tokens: int, temperature: float) -> None:
    """tokens in [1, MAX_SAMPLE_TOKENS], temperature finite and >= 0 (below GREEDY_BELOW, and at
    0, sampling is greedy: always the most likely character). Raises ConfigError."""
    check_whole("tokens", max_new_tokens, maximum=MAX_SAMPLE_TOKENS)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ConfigError(f"temperature must be a number, got {temperature!r}", "temperature")
    if not math.isfinite(temperature) or temperature < 0:
        raise ConfigError(
            f"temperature must be a finite number of at least 0 (0 picks the most likely "
            f"character every time), got {temperature}",
            "temperature",
        )


INIT_SCHEMES = {
    "gpt2": "weights N(0, 0.02), biases 0, as nanoGPT and the lecture's final model",
    "pytorch": "PyTorch's defaults (embeddings N(0, 1), Linear uniform ±1/sqrt(fan_in)), "
    "as the lecture's code before its final model",
}


@dataclass(frozen=True)
class GPTConfig:
    """The model's shape (core.model.GPT); raises ConfigError, naming what to change, for a
    setting that cannot work (n_embd not divisible by n_head, say)."""

    vocab_size: int = 65  # distinct characters of the corpus
    block_size: int = 64  # the longest context, in characters (T at most)
    n_layer: int = 4  # blocks; 0 only for the bigram model
    n_head: int = 4  # attention heads per block, each of head_size = n_embd / n_head channels
    n_embd: int = 128  # channels of the residual stream (C)
    dropout: float = 0.0  # in training: on the attention weights and each sub-layer's output
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
        for name in ("vocab_size", "block_size", "n_head", "n_embd"):
            check_whole(name, getattr(self, name))
        # its lower bound depends on attention (0 is the bigram model): checked below
        low = self.n_layer if isinstance(self.n_layer, int) else 0
        check_whole("n_layer", self.n_layer, minimum=min(low, 0))
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


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained (core.trainer.Trainer); raises ConfigError, naming what to change,
    for a setting that cannot work."""

    learning_rate: float = 1e-3  # AdamW's step size
    batch_size: int = 12  # windows of block_size characters per step
    max_iters: int = 2000  # the step a run trains up to
    eval_interval: int = 200  # steps between loss estimates (and at the last step)
    eval_iters: int = 50  # batches per split averaged by each loss estimate
    seed: int = 1337  # initial weights and batches
    device: str = "auto"  # auto, cpu, cuda or mps (core.performance.resolve_device)
    # "bf16": matmuls under bfloat16 autocast, weights and optimizer in fp32; to the same loss
    # within ~0.01, not bit-for-bit. "fp16": the same in float16 with a gradient scaler, for
    # GPUs without bf16. "auto": bf16 where the hardware has it and a step is big enough for it
    # to pay, fp16 on a CUDA GPU without bf16, else fp32 (core.performance.resolve_precision);
    # a run's saved config says which one ran.
    precision: str = "auto"

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_iters", "eval_interval", "eval_iters"):
            check_whole(name, getattr(self, name))
        check_whole("seed", self.seed, minimum=0)
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


def tokens_per_s(steps: int, tokens_per_step: int, seconds: float) -> float | None:
    """Training speed: characters trained on per second over `steps` steps of
    `tokens_per_step` (batch × block_size, all ranks) that took `seconds` of training; None
    when they took no time."""
    return steps * tokens_per_step / seconds if seconds > 0 else None


def _known_settings(cls: type, data: dict, what: str) -> dict:
    """data, refused with a clear message if it names a setting cls does not have."""
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise ConfigError(f"unknown {what} setting(s): {', '.join(unknown)}")
    return data
