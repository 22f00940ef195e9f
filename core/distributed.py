"""Several processes, one run: DistributedDataParallel under `torchrun`.

`torchrun --standalone --nproc_per_node N -m headwatch train ...` starts N processes with RANK,
LOCAL_RANK and WORLD_SIZE in their environment; `from_environment` joins them into one process
group: NCCL for CUDA tensors (DDP's gradients on GPUs), Gloo for CPU tensors (DDP on a CPU, and
the small agreements every run makes: "did every rank set up?", "stop now?"). Plain
`headwatch train` has no RANK and gets None: no process group, nothing changes. Rank 0 alone
writes the run folder and prints; every rank takes one slice of each global batch (core.trainer)
and gradients are averaged over ranks by DDP.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from headwatch.core.config import ConfigError


@dataclass(frozen=True)
class Distributed:
    """This process's place in the group: rank (0 .. world_size-1), local_rank (on its node)."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes the run, prints and answers Ctrl+C."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process on a node (cuda:LOCAL_RANK); a CPU stays the CPU."""
        if device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def sum(self, values: list[float]) -> list[float]:
        """values summed over every rank (one Gloo all-reduce of a CPU tensor); a collective:
        every rank calls it, in the same order."""
        tensor = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """Whether flag is true on some rank (a collective, like sum)."""
        return self.sum([float(flag)])[0] > 0

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("RANK", -1)) != -1


def from_environment() -> Distributed | None:
    """Join torchrun's process group (Gloo, and NCCL for CUDA tensors where CUDA is present).
    None when not launched by torchrun (no RANK). Raises ConfigError for an environment torchrun
    did not set."""
    if not launched_by_torchrun():
        return None
    try:
        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
    except (KeyError, ValueError) as exc:
        raise ConfigError(
            f"RANK is set but {exc} is missing or not a number — launch with torchrun"
        ) from exc
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Distributed(rank, world_size, local_rank, backend)
