"""The lecture's GPT written naively: a list of single-head modules, concatenated.

It is the yardstick for core.model.GPT: the equivalence test copies GPT's weights in and expects
the same logits and attention, and bench/train_throughput.py measures how much faster GPT trains.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn import functional as F

from headwatch.core.model import GPT, GPTConfig


class Head(nn.Module):
    """One head of causal self-attention, exactly as in the lecture."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.key = nn.Linear(config.n_embd, config.head_size, bias=False)
        self.query = nn.Linear(config.n_embd, config.head_size, bias=False)
        self.value = nn.Linear(config.n_embd, config.head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(config.block_size, config.block_size)))
        self.dropout = nn.Dropout(config.dropout)
        self.last_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        k = self.key(x)  # (B, T, D)
        q = self.query(x)  # (B, T, D)
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5  # (B, T, T)
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        wei = F.softmax(wei, dim=-1)
        self.last_weights = wei.detach()
        wei = self.dropout(wei)
        return wei @ self.value(x)  # (B, T, D)


class NaiveMultiHeadAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.heads = nn.ModuleList(Head(config) for _ in range(config.n_head))
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([h(x) for h in self.heads], dim=-1)
        return self.dropout(self.proj(out))


class NaiveFeedForward(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(config.n_embd, config.ffn_size),
            nn.ReLU(),
            nn.Linear(config.ffn_size, config.n_embd),
            nn.Dropout(config.dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class NaiveBlock(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.sa = NaiveMultiHeadAttention(config)
        self.ffwd = NaiveFeedForward(config)
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.ln2 = nn.LayerNorm(config.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.sa(self.ln1(x))
        return x + self.ffwd(self.ln2(x))


class NaiveGPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embedding_table = nn.Embedding(config.vocab_size, config.n_embd)
        self.position_embedding_table = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.Sequential(*[NaiveBlock(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)
        pos_emb = self.position_embedding_table(torch.arange(T, device=idx.device))
        x = self.blocks(tok_emb + pos_emb)
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))

    def attention_weights(self) -> torch.Tensor:
        """(n_layer, B, n_head, T, T) weights of the last forward pass."""
        return torch.stack(
            [torch.stack([h.last_weights for h in b.sa.heads], dim=1) for b in self.blocks]
        )

    @torch.no_grad()
    def copy_from(self, gpt: GPT) -> NaiveGPT:
        """Load GPT's weights, splitting its fused QKV projection into per-head matrices."""
        C, D = self.config.n_embd, self.config.head_size
        self.token_embedding_table.weight.copy_(gpt.token_embedding.weight)
        self.position_embedding_table.weight.copy_(gpt.position_embedding.weight)
        for mine, theirs in zip(self.blocks, gpt.blocks, strict=True):
            q_w, k_w, v_w = theirs.attn.c_attn.weight.split(C, dim=0)  # each (C_out, C_in)
            for h, head in enumerate(mine.sa.heads):
                rows = slice(h * D, (h + 1) * D)
                head.query.weight.copy_(q_w[rows])
                head.key.weight.copy_(k_w[rows])
                head.value.weight.copy_(v_w[rows])
            mine.sa.proj.load_state_dict(theirs.attn.c_proj.state_dict())
            mine.ffwd.net[0].load_state_dict(theirs.mlp.c_fc.state_dict())
            mine.ffwd.net[2].load_state_dict(theirs.mlp.c_proj.state_dict())
            mine.ln1.load_state_dict(theirs.ln1.state_dict())
            mine.ln2.load_state_dict(theirs.ln2.state_dict())
        self.ln_f.load_state_dict(gpt.ln_f.state_dict())
        self.lm_head.load_state_dict(gpt.lm_head.state_dict())
        return self
