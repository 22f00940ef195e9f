"""bf16 training with fp32 master weights: the Linear layers hold their weights in bf16.

Under bf16 autocast every matmul takes its weights in bf16: over fp32 weights, autocast rounds
each one again at every use, and autograd casts each of its gradients back to fp32 (at baby, ~30
casts forward and ~30 back per step). Held in bf16, the weights need no cast; the optimizer
updates fp32 copies of them (the masters), which are rounded into the bf16 weights after each
step: the same conversions, two ops a step instead of ~60 (+1-2 % at baby). The same numbers
as autocast over fp32 weights: the forward sees the same rounded weights, and the gradients are
the same bf16 results, widened to fp32.

Everything but the Linear layers (embeddings, LayerNorms) stays in fp32, as autocast ran it.
"""

from __future__ import annotations

import torch
from torch import nn


class MasterWeights:
    """The fp32 masters of a model's Linear parameters, which its optimizer updates."""

    def __init__(self, model: nn.Module) -> None:
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        held = {id(p) for m in linears for p in m.parameters()}
        masters = {
            name: p.detach().clone() for name, p in model.named_parameters() if id(p) in held
        }
        for module in linears:
            module.to(torch.bfloat16)
        params = dict(model.named_parameters())
        self.names = list(masters)
        self.low = [params[name] for name in self.names]  # the model's bf16 parameters
        self.masters = list(masters.values())
        for master in self.masters:  # overwritten at every step, never zeroed
            master.grad = torch.empty_like(master)
        self._master_grads = [master.grad for master in self.masters]
        # the model's parameters in their order, a master in place of each bf16 one: an
        # optimizer state saved before masters existed still lines up
        self.optimized = [masters.get(name, p) for name, p in model.named_parameters()]

    def grads_to_masters(self) -> None:
        """Widen the bf16 gradients of the last backward pass into the masters' gradients
        (every Linear layer of the GPT takes part in every forward pass: all have one)."""
        torch._foreach_copy_(self._master_grads, [p.grad for p in self.low])

    @torch.no_grad()
    def masters_to_model(self) -> None:
        """Round the updated masters into the model's bf16 weights."""
        torch._foreach_copy_(self.low, self.masters)

    def state(self) -> dict[str, torch.Tensor]:
        """name -> fp32 master: the weights as trained, not their bf16 rounding."""
        return dict(zip(self.names, self.masters, strict=True))

    @torch.no_grad()
    def load(self, state: dict[str, torch.Tensor]) -> None:
        """Masters from a model state of fp32 weights (the model's load_state_dict rounds the
        same state into its bf16 weights)."""
        for name, master in zip(self.names, self.masters, strict=True):
            master.copy_(state[name])
