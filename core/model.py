"""The lecture's character-level GPT: embeddings, blocks of multi-head attention + feed-forward.

One concept per class; shapes in comments (B batch, T time, C n_embd, H heads, D head size,
L n_layer, F ffn_size). The blocks pass rows (B*T, C) along: a Linear on rows is one matmul with
no views around it for autograd to record. All heads are computed together from one QKV
projection, but the maths is exactly the lecture's list of single heads concatenated
(tests/core/test_model.py holds it to that).

Four switches walk the lecture's ladder back down (all on = the full model):
  attention  off = the bigram model: token embedding -> lm_head, no blocks (n_layer 0), no
             position embedding (a bigram sees only the current character)
  ffn        off = blocks of attention only; inspect() gives FFN activations of width 0
  residual   off = each sub-layer replaces x instead of adding to it
  layernorm  off = no ln1 / ln2 / ln_f
and `init` picks the initial weights: "gpt2" (N(0, 0.02), the lecture's final model) or "pytorch"
(PyTorch's module defaults, which the lecture's code used up to its LayerNorm stage; the plain
stacks without residuals or LayerNorm barely train from N(0, 0.02)).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import torch
import torch.nn as nn
from headwatch.core.config import INIT_SCHEMES, ConfigError, GPTConfig  # noqa: F401 - re-exported
from torch.nn import functional as F


class MultiHeadAttention(nn.Module):
    """n_head causal self-attention heads in parallel ("communication"), concatenated, projected.
    Takes and gives rows (B*T, C) of sequences of length T."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.head_size = config.head_size
        # keys, queries and values of every head in one matmul; no bias, as in the lecture's Head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout_p = config.dropout
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)

    def _heads(self, x: torch.Tensor, T: int) -> torch.Tensor:
        """q, k, v stacked: (3, B, H, T, D), a view of the one projection's output."""
        B = x.shape[0] // T
        qkv = self.qkv(x).view(B, T, 3, self.n_head, self.head_size)
        return qkv.permute(2, 0, 3, 1, 4)

    @staticmethod
    def _concat(out: torch.Tensor) -> torch.Tensor:
        """(B, H, T, D) -> rows (B*T, C): the heads concatenated over channels."""
        B, H, T, D = out.shape
        return out.transpose(1, 2).reshape(B * T, H * D)

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        qkv = self._heads(x, T)
        dropout_p = self.dropout_p if self.training else 0.0
        if dropout_p == 0.0 and qkv.device.type == "cpu" and qkv.dtype == torch.bfloat16:
            # batched matmuls want each head's rows together: one copy reorders all three
            out = _causal_attention_bf16(*qkv.contiguous().unbind(0))
        else:  # takes the views as they are; with dropout its math path, where bf16 pays
            q, k, v = qkv.unbind(0)
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout_p)
        return self.resid_dropout(self.proj(self._concat(out)))

    def forward_with_weights(self, x: torch.Tensor, T: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The same maths with the attention weights materialised: (out (B*T,C), wei (B,H,T,T))."""
        q, k, v = self._heads(x, T).contiguous().unbind(0)
        wei = _causal_weights(q, k)  # (B, H, T, T)
        out = self.attn_dropout(wei) @ v  # (B, H, T, D)
        return self.resid_dropout(self.proj(self._concat(out))), wei


@lru_cache(maxsize=8)  # a few lengths: the training block, the prompts being typed
def _causal_mask(T: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(T, T): 0 on and below the diagonal, -inf above it (the future), added to the scores.
    Built once per length: the training step and every keystroke's inspection reuse it."""
    return torch.full((T, T), float("-inf"), dtype=dtype, device=device).triu(1)


def _causal_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(D) + causal mask) for contiguous (B, H, T, D) queries and keys:
    (B, H, T, T). One batched matmul adds the mask as it scales (no separate scaling and
    masking passes)."""
    B, H, T, D = q.shape
    scores = torch.baddbmm(
        _causal_mask(T, q.dtype, q.device),  # broadcast over the B*H matrices
        q.view(B * H, T, D),
        k.view(B * H, T, D).transpose(1, 2),
        alpha=D**-0.5,
    )  # (B*H, T, T)
    return scores.softmax(dim=-1).view(B, H, T, T)


def _causal_attention_bf16(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """_causal_weights(q, k) v for contiguous bf16 (B, H, T, D) on a CPU, where torch's flash
    attention is ~4x slower in bf16 than in fp32 and its math path checks every row for being
    fully masked."""
    B, H, T, D = q.shape
    wei = _causal_weights(q, k).view(B * H, T, T)
    return torch.bmm(wei, v.view(B * H, T, D)).view(B, H, T, D)


class FeedForward(nn.Module):
    """Position-wise MLP ("computation"): Linear -> ReLU -> Linear, 4x wide inside, on rows."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.n_embd, config.ffn_size)
        self.down = nn.Linear(config.ffn_size, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """(B*T, C) -> (B*T, 4C) after ReLU, applied in place to up's output: a tensor of its
        own (on a view of it, autograd would rebuild the base in backward, zero-filling and
        copying the activations: ~6 % of a baby step)."""
        return F.relu(self.up(x), inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(self.hidden(x)))


def _norm(config: GPTConfig) -> nn.Module:
    """LayerNorm over channels, or a pass-through when the layernorm switch is off."""
    return nn.LayerNorm(config.n_embd) if config.layernorm else nn.Identity()


class Block(nn.Module):
    """Communication then computation, each pre-LayerNorm with a residual connection.

    The switches take parts away: without ffn the block is attention only; without residual each
    sub-layer's output replaces x (the lecture's plain deep stack); without layernorm, no ln1/ln2.
    x is rows (B*T, C) of sequences of length T.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.residual = config.residual
        self.ln1 = _norm(config)
        self.attn = MultiHeadAttention(config)
        # None rather than an Identity, so a model without FFN says so and has no such weights
        self.ln2 = _norm(config) if config.ffn else None
        self.ffn = FeedForward(config) if config.ffn else None

    def _join(self, x: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        return x + update if self.residual else update

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        x = self._join(x, self.attn(self.ln1(x), T))
        if self.ffn is not None:
            x = self._join(x, self.ffn(self.ln2(x)))
        return x

    def forward_inspect(
        self, x: torch.Tensor, T: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x, attention (B,H,T,T), ffn hidden after ReLU (B*T,4C), or (B*T,0) without FFN)."""
        attn_out, wei = self.attn.forward_with_weights(self.ln1(x), T)
        x = self._join(x, attn_out)
        if self.ffn is None:
            return x, wei, x.new_zeros(x.shape[0], 0)
        hidden = self.ffn.hidden(self.ln2(x))
        x = self._join(x, self.ffn.dropout(self.ffn.down(hidden)))
        return x, wei, hidden


@dataclass
class Inspection:
    """Everything HeadWatch shows for one prompt, from one set of weights (CPU tensors).

    Every variant keeps these shapes: the bigram model has n_layer 0 (empty first dimensions),
    a model without FFN has F = 0 (ffn is (n_layer, T, 0)).
    """

    attention: torch.Tensor  # (n_layer, n_head, T, T); rows sum to 1, zero above the diagonal
    ffn: torch.Tensor  # (n_layer, T, F), post-ReLU, >= 0; F = 4C, or 0 without FFN
    probs: torch.Tensor  # (T, vocab): next-character distribution after each position


@dataclass
class BatchInspection:
    """Inspection of B sequences at once (CPU tensors), for statistics over many windows."""

    attention: torch.Tensor  # (B, n_layer, n_head, T, T)
    ffn: torch.Tensor  # (B, n_layer, T, F)
    probs: torch.Tensor  # (B, T, vocab)


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        # the bigram model predicts from the current character alone: no position to add
        self.position_embedding = (
            nn.Embedding(config.block_size, config.n_embd) if config.attention else None
        )
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = _norm(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size)
        if config.init == "gpt2":  # "pytorch": the modules initialised themselves already
            self.apply(self._init_weights)

    @classmethod
    def unfilled(cls, config: GPTConfig, device: str | torch.device = "cpu") -> GPT:
        """A model whose weights are about to be loaded: skips init, draws no random numbers
        (so building one in a viewer thread cannot disturb a seeded training run)."""
        with torch.device("meta"):
            model = cls(config)
        return model.to_empty(device=device)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _embed(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> rows (B*T, C), the form the blocks work on."""
        B, T = idx.shape
        if self.config.block_size < T:
            raise ValueError(
                f"sequence of {T} tokens is longer than block_size {self.config.block_size}"
            )
        x = self.token_embedding(idx)  # (B, T, C)
        if self.position_embedding is not None:
            x = x + self.position_embedding(torch.arange(T, device=idx.device))
        return x.view(B * T, -1)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T = idx.shape
        x = self._embed(idx)  # (B*T, C)
        for block in self.blocks:
            x = block(x, T)
        logits = self.lm_head(self.ln_f(x))  # (B*T, vocab)
        loss = None if targets is None else F.cross_entropy(logits, targets.reshape(-1))
        return logits.view(B, T, -1), loss

    @torch.no_grad()
    def inspect_batch(self, idx: torch.Tensor) -> BatchInspection:
        """Attention, FFN activations and next-char probabilities for B sequences (B, T).

        1 <= T <= block_size. Runs in eval mode, no autograd; the train/eval mode is restored.
        """
        if idx.dim() != 2 or idx.shape[0] < 1 or idx.shape[1] < 1:
            raise ValueError("inspect_batch takes a non-empty (B, T) batch of token ids")
        B, T = idx.shape
        was_training = self.training
        self.eval()
        c = self.config
        # each layer's results go straight into these: one pass, no stacking and converting
        attention = torch.empty(B, c.n_layer, c.n_head, T, T)
        ffn = torch.empty(B, c.n_layer, T, c.ffn_size)
        try:
            x = self._embed(idx)  # (B*T, C)
            for layer, block in enumerate(self.blocks):
                x, wei, hidden = block.forward_inspect(x, T)
                attention[:, layer] = wei  # (B, H, T, T)
                ffn[:, layer] = hidden.view(B, T, -1)  # (B, T, F)
            probs = self.lm_head(self.ln_f(x)).softmax(dim=-1).view(B, T, -1)  # (B, T, vocab)
        finally:
            self.train(was_training)
        return BatchInspection(attention, ffn, probs.float().cpu())

    @torch.no_grad()
    def inspect(self, idx: torch.Tensor) -> Inspection:
        """Attention of every head, FFN activations and next-char probabilities for one sequence.

        idx: (T,) or (1, T) token ids with 1 <= T <= block_size. Runs in eval mode, no autograd;
        the module's train/eval mode is restored afterwards.
        """
        if idx.dim() == 1:
            idx = idx.unsqueeze(0)
        if idx.shape[0] != 1 or idx.shape[1] < 1:
            raise ValueError("inspect takes one non-empty sequence")
        batch = self.inspect_batch(idx)
        return Inspection(attention=batch.attention[0], ffn=batch.ffn[0], probs=batch.probs[0])

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Append max_new_tokens sampled tokens to idx (B, T); context cropped to block_size."""
        if temperature <= 0:
            raise ValueError(f"temperature must be above 0, got {temperature}")
        was_training = self.training
        self.eval()
        try:
            for _ in range(max_new_tokens):
                context = idx[:, -self.config.block_size :]
                logits, _ = self(context)
                logits = logits[:, -1, :] / temperature  # (B, vocab)
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probs = logits.softmax(dim=-1)
                nxt = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
                idx = torch.cat((idx, nxt), dim=1)
        finally:
            self.train(was_training)
        return idx


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; any other name must be available here."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or mps") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' asked for, but no CUDA GPU is available; use auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' asked for, but MPS is not available; use auto or cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device {name!r} is not supported; use auto, cpu, cuda or mps")
    return device


@cache
def native_bf16_cpu() -> bool:
    """Whether this CPU has bf16 dot products (AVX512-BF16 or AMX); elsewhere torch emulates bf16
    and it is slower than fp32. Read from /proc/cpuinfo: False where that is missing."""
    try:
        return has_bf16_flag(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return False


def has_bf16_flag(cpuinfo: str) -> bool:
    return any(flag in ("avx512_bf16", "amx_bf16") for flag in cpuinfo.split())
