"""The lecture's character-level GPT, written the way nanoGPT's model.py writes it.

One concept per class: `CausalSelfAttention` ("communication": all heads from one fused QKV
projection, then the output projection `c_proj`), `MLP` ("computation"), `Block` (the two, each
pre-LayerNorm with a residual connection), `GPT` (embeddings, blocks, final LayerNorm, lm_head).
Shapes in comments: B batch, T time, C n_embd, nh heads, hs head_size, L n_layer.

Computing the heads together is exactly the lecture's list of single heads concatenated
(tests/core/test_model.py holds GPT to bench/reference.py's naive list of heads).

Four switches of GPTConfig walk the lecture's ladder back down (all on = the full model):
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

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn as nn
from torch.nn import functional as F

from headwatch.core.config import INIT_SCHEMES, ConfigError, GPTConfig  # noqa: F401 - re-exported


class CausalSelfAttention(nn.Module):
    """n_head causal self-attention heads in parallel, concatenated and projected: (B, T, C) in,
    (B, T, C) out. The output projection `c_proj` is its own module: its input (B, T, C) holds
    the heads' outputs side by side, head h in channels h*hs to (h+1)*hs."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        # query, key and value of every head in one matmul; no bias, as in the lecture's Head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.dropout = config.dropout

    def forward(
        self, x: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, T, C) -> (output (B, T, C), attention weights (B, nh, T, T) or None).

        need_weights: compute the attention pattern explicitly and return it (inspection);
        otherwise torch's fused scaled_dot_product_attention runs and no weights are returned.
        """
        B, T, C = x.size()
        nh, hs = self.n_head, C // self.n_head
        # query, key and value of every head: (B, T, 3, nh, hs) -> (3, B, nh, T, hs)
        qkv = self.c_attn(x).view(B, T, 3, nh, hs).permute(2, 0, 3, 1, 4)
        att = None
        if need_weights or _manual_is_faster(qkv, self.training and self.dropout > 0):
            # manual: the attention pattern made explicit. One copy puts each head's rows
            # together, so that one batched matmul scales the scores and masks the future
            q, k, v = qkv.contiguous().view(3, B * nh, T, hs)  # each (B*nh, T, hs)
            mask = _causal_mask(T, q.dtype, q.device)  # (T, T), broadcast over B*nh
            att = torch.baddbmm(mask, q, k.transpose(1, 2), alpha=hs**-0.5)  # (B*nh, T, T)
            att = att.softmax(dim=-1)
            y = torch.bmm(self.attn_dropout(att), v).view(B, nh, T, hs)  # (B, nh, T, hs)
            att = att.view(B, nh, T, T)
        else:  # flash: torch's fused kernel, no weights materialised
            q, k, v = qkv.unbind(0)  # each (B, nh, T, hs)
            dropout_p = self.dropout if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # the heads side by side: (B, T, C)
        return self.resid_dropout(self.c_proj(y)), att if need_weights else None


def _manual_is_faster(qkv: torch.Tensor, dropout: bool) -> bool:
    """Whether the explicit softmax beats scaled_dot_product_attention: under bf16 on a CPU, whose
    flash kernel is several times slower in bf16 than in fp32 (with dropout, torch takes its own
    math path either way)."""
    return qkv.device.type == "cpu" and qkv.dtype == torch.bfloat16 and not dropout


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """module in eval mode inside, its train mode back on leaving. A module already in eval mode
    (a viewer's own copy always is) is left alone: switching walks every submodule, which was
    half of a keystroke's inspection in Python time at the baby preset."""
    if not module.training:
        yield
        return
    module.eval()
    try:
        yield
    finally:
        module.train()


@lru_cache(maxsize=8)  # a few lengths: the training block, the prompts being typed
def _causal_mask(T: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(T, T): 0 on and below the diagonal, -inf above it (the future), added to the scores;
    built once per length, as every step and keystroke needs it."""
    return torch.full((T, T), float("-inf"), dtype=dtype, device=device).triu(1)


class MLP(nn.Module):
    """Position-wise feed-forward net: Linear -> ReLU -> Linear, 4C hidden units; (B, T, C) in
    and out. The hidden units after the ReLU are what the FFN view shows (`act`'s output)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, config.ffn_size)
        self.act = nn.ReLU()
        self.c_proj = nn.Linear(config.ffn_size, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, T, C)."""
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


def _norm(config: GPTConfig) -> nn.Module:
    """LayerNorm over channels, or a pass-through when the layernorm switch is off."""
    return nn.LayerNorm(config.n_embd) if config.layernorm else nn.Identity()


class Block(nn.Module):
    """Communication then computation, each pre-LayerNorm with a residual connection.

    The switches take parts away: without ffn the block is attention only (`mlp` and `ln2` are
    None, so the model has no such weights); without residual each sub-layer's output replaces x
    (the lecture's plain deep stack); without layernorm, ln1 and ln2 pass x through.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.residual = config.residual
        self.ln1 = _norm(config)
        self.attn = CausalSelfAttention(config)
        self.ln2 = _norm(config) if config.ffn else None
        self.mlp = MLP(config) if config.ffn else None

    def _join(self, x: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        return x + update if self.residual else update

    def forward(
        self, x: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The residual stream x (B, T, C) -> (x (B, T, C), attention weights (B, nh, T, T) if
        need_weights, else None)."""
        update, att = self.attn(self.ln1(x), need_weights)
        x = self._join(x, update)
        if self.mlp is not None:
            x = self._join(x, self.mlp(self.ln2(x)))
        return x, att


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


# Checkpoint keys before the model took nanoGPT's names (old -> new, matched inside a key).
_RENAMED_KEYS = (
    (".attn.qkv.", ".attn.c_attn."),
    (".attn.proj.", ".attn.c_proj."),
    (".ffn.up.", ".mlp.c_fc."),
    (".ffn.down.", ".mlp.c_proj."),
)


def upgrade_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A model state saved under the module names of earlier versions, under today's names (the
    same tensors, the same order); a current state comes back unchanged."""
    upgraded = {}
    for key, value in state.items():
        for old, new in _RENAMED_KEYS:
            key = key.replace(old, new)
        upgraded[key] = value
    return upgraded


class GPT(nn.Module):
    """The character-level GPT: token (+ position) embeddings, n_layer Blocks, ln_f, lm_head.

    Input: token ids (B, T) with T <= block_size; output: logits (B, T, vocab_size) and, given
    targets (B, T), the mean cross-entropy loss in nats. Raises ValueError for T > block_size.
    """

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
        """All parameters, embeddings included."""
        return sum(p.numel() for p in self.parameters())

    def _embed(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> the residual stream (B, T, C)."""
        T = idx.size(1)
        if self.config.block_size < T:
            raise ValueError(
                f"sequence of {T} tokens is longer than block_size {self.config.block_size}"
            )
        x = self.token_embedding(idx)  # (B, T, C)
        if self.position_embedding is not None:
            x = x + self.position_embedding(torch.arange(T, device=idx.device))  # + (T, C)
        return x

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) token ids, targets (B, T) or None -> (logits (B, T, vocab), loss or None).

        Raises ValueError when T is above block_size.
        """
        x = self._embed(idx)
        for block in self.blocks:
            x, _ = block(x)
        logits = self.lm_head(self.ln_f(x))  # (B, T, vocab)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))

    @torch.no_grad()
    def inspect_batch(self, idx: torch.Tensor) -> BatchInspection:
        """Attention, FFN activations and next-char probabilities for B sequences (B, T).

        1 <= T <= block_size, else ValueError. Runs in eval mode, no autograd; the train/eval
        mode is restored. The FFN activations are read at each MLP's `act` by a forward hook.
        """
        if idx.dim() != 2 or idx.shape[0] < 1 or idx.shape[1] < 1:
            raise ValueError("inspect_batch takes a non-empty (B, T) batch of token ids")
        B, T = idx.shape
        c = self.config
        # each layer's results go straight into these: one pass, no stacking and converting
        attention = torch.empty(B, c.n_layer, c.n_head, T, T)
        ffn = torch.empty(B, c.n_layer, T, c.ffn_size)
        hooks = [
            block.mlp.act.register_forward_hook(
                lambda _module, _args, hidden, layer=layer: ffn[:, layer].copy_(hidden)
            )
            for layer, block in enumerate(self.blocks)
            if block.mlp is not None
        ]
        try:
            with eval_mode(self):
                x = self._embed(idx)
                for layer, block in enumerate(self.blocks):
                    x, att = block(x, need_weights=True)
                    attention[:, layer] = att  # (B, nh, T, T)
                probs = self.lm_head(self.ln_f(x)).softmax(dim=-1)  # (B, T, vocab)
        finally:
            for hook in hooks:
                hook.remove()
        return BatchInspection(attention, ffn, probs.float().cpu())

    @torch.no_grad()
    def inspect(self, idx: torch.Tensor) -> Inspection:
        """Attention of every head, FFN activations and next-char probabilities for one sequence.

        idx: (T,) or (1, T) token ids with 1 <= T <= block_size, else ValueError. Runs in eval
        mode, no autograd; the module's train/eval mode is restored afterwards.
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
        """idx (B, T) -> (B, T + max_new_tokens): sampled tokens appended, each from the last
        block_size tokens. Raises ValueError for a temperature of 0 or below."""
        if temperature <= 0:
            raise ValueError(f"temperature must be above 0, got {temperature}")
        with eval_mode(self):
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
        return idx
