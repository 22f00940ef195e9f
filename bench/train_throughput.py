"""Training throughput: the core trainer against the lecture's naive per-head GPT.

    .venv/bin/python bench/train_throughput.py [--quick] [--threads N]

Both sides start from the same weights (NaiveGPT.copy_from), draw the same batches (same seed,
the trainer's own gathering) and use AdamW with the same settings (lr, betas, weight decay). The
core side is core.trainer.Trainer itself (fused QKV + scaled_dot_product_attention, fused AdamW),
in its default fp32 and in its opt-in bf16 precision. Rounds alternate between the variants and
the medians are reported, since the machine is shared and noisy.

Also: the machine's fp32 matmul peak (torch.mm, same thread count), the share of it reached
(FLOPs per token as in nanoGPT's estimate_mfu: 6N + 12·L·T·C), where a baby step's time goes, and
a correctness check: the loss after 500 steps from the same seed must match the naive reference
within 0.05. Ends with a Markdown table for the README. Full run: about 4 minutes on 2 quiet
cores; --quick (no lecture rows, 100-step loss check): under a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a fresh clone, no install needed

import torch  # noqa: E402

from core.corpus import Corpus, builtin_corpus  # noqa: E402
from core.model import GPT, GPTConfig  # noqa: E402
from core.reference import NaiveGPT  # noqa: E402
from core.trainer import TrainConfig, Trainer  # noqa: E402

SEED = 1337
LOSS_TOLERANCE = 0.05
EVAL_BATCHES = 20


@dataclass(frozen=True)
class Setup:
    name: str
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    batch_size: int
    learning_rate: float
    dropout: float

    def model_config(self, vocab_size: int) -> GPTConfig:
        return GPTConfig(
            vocab_size=vocab_size,
            block_size=self.block_size,
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_embd=self.n_embd,
            dropout=self.dropout,
        )

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.block_size


BABY = Setup("baby", 4, 4, 128, 64, 12, 1e-3, 0.0)
LECTURE = Setup("lecture", 6, 6, 384, 256, 64, 3e-4, 0.2)


# --- the two sides ----------------------------------------------------------------------------


def core_trainer(corpus: Corpus, setup: Setup, precision: str = "fp32") -> Trainer:
    config = TrainConfig(
        learning_rate=setup.learning_rate,
        batch_size=setup.batch_size,
        seed=SEED,
        device="cpu",
        precision=precision,
    )
    return Trainer(corpus, setup.model_config(corpus.vocab_size), config)


@dataclass
class Naive:
    """The lecture's loop around NaiveGPT; a fresh fp32 Trainer supplies weights and batches."""

    source: Trainer
    model: NaiveGPT = field(init=False)
    optimizer: torch.optim.Optimizer = field(init=False)

    def __post_init__(self) -> None:
        self.model = NaiveGPT(self.source.model_config).copy_from(self.source.model)
        # torch's default AdamW implementation, the lecture's; same lr, betas, eps, decay
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.source.config.learning_rate
        )

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.source.get_batch("train")
        return x, y.contiguous()  # NaiveGPT's loss uses .view

    def train_step(self) -> float:
        self.model.train()
        x, y = self.batch()
        _, loss = self.model(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()


def check_same_start(corpus: Corpus, setup: Setup) -> float:
    """Max |logit difference| between a fresh core model and its naive copy (should be ~1e-6)."""
    trainer = core_trainer(corpus, setup)
    naive = NaiveGPT(trainer.model_config).copy_from(trainer.model)
    x, _ = trainer.get_batch("val")
    trainer.model.eval()
    naive.eval()
    with torch.no_grad():
        return (trainer.model(x)[0] - naive(x)[0]).abs().max().item()


# --- measurements -----------------------------------------------------------------------------


def matmul_peak(dtype: torch.dtype = torch.float32, n: int = 2048, seconds: float = 1.5) -> float:
    """Best GFLOP/s of an n×n torch.mm over short trials (best-of: noise only slows it)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(2):
        a @ b
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        for _ in range(3):
            a @ b
        best = max(best, 3 * 2 * n**3 / (time.perf_counter() - started))
    return best / 1e9


def flops_per_token(model: GPT) -> float:
    """nanoGPT's estimate_mfu: 6N for the matmul weights (embedding lookups excluded), plus
    12·L·T·C for attention scores and mixing, forward and backward."""
    c = model.config
    n = model.num_parameters()
    n -= model.token_embedding.weight.numel() + model.position_embedding.weight.numel()
    return 6 * n + 12 * c.n_layer * c.block_size * c.n_embd


def alternate(
    steps: dict[str, Callable[[], float]],
    tokens_per_step: int,
    rounds: int,
    steps_per_round: int,
    warmup: int,
) -> dict[str, list[float]]:
    """tokens/s of each variant per round; the order rotates so none always runs first."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    names = list(steps)
    results: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            started = time.perf_counter()
            for _ in range(steps_per_round):
                steps[name]()
            results[name].append(
                steps_per_round * tokens_per_step / (time.perf_counter() - started)
            )
    return results


def breakdown(trainer: Trainer | None, naive: Naive | None, steps: int) -> dict[str, float]:
    """Milliseconds per step in batch gathering, forward, backward and the optimizer."""
    parts = dict.fromkeys(("batch", "forward", "backward", "optimizer"), 0.0)

    def timed(name: str, fn: Callable[[], object]) -> object:
        started = time.perf_counter()
        out = fn()
        parts[name] += time.perf_counter() - started
        return out

    for _ in range(steps):
        if trainer is not None:
            model, optimizer, context = trainer.model, trainer.optimizer, trainer.precision_context
            x, y = timed("batch", lambda: trainer.get_batch("train"))
        else:
            assert naive is not None
            model, optimizer, context = naive.model, naive.optimizer, contextlib.nullcontext
            x, y = timed("batch", naive.batch)

        def forward(model=model, context=context, x=x, y=y) -> torch.Tensor:
            with context():
                return model(x, y)[1]

        loss = timed("forward", forward)
        optimizer.zero_grad(set_to_none=True)
        timed("backward", loss.backward)
        timed("optimizer", optimizer.step)
        loss.item()
    return {name: 1000 * total / steps for name, total in parts.items()}


@torch.no_grad()
def val_loss(model: torch.nn.Module, source: Trainer) -> float:
    """Mean fp32 loss over fixed validation batches: the same batches for every model."""
    model.eval()
    rng = torch.Generator().manual_seed(SEED)
    losses = []
    for _ in range(EVAL_BATCHES):
        x, y = source.get_batch("val", rng)
        losses.append(model(x, y.contiguous())[1].item())
    model.train()
    return sum(losses) / len(losses)


@dataclass
class LossCheck:
    steps: int
    train: dict[str, float]  # loss of the last step's batch (the same batch for all)
    val: dict[str, float]
    seconds: dict[str, float]


def loss_check(corpus: Corpus, setup: Setup, steps: int) -> LossCheck:
    check = LossCheck(steps, {}, {}, {})
    for name in ("core fp32", "core bf16", "naive"):
        if name == "naive":
            naive = Naive(core_trainer(corpus, setup))
            step, model, source = naive.train_step, naive.model, naive.source
        else:
            trainer = core_trainer(corpus, setup, name.split()[1])
            step, model, source = trainer.train_step, trainer.model, trainer
        started = time.perf_counter()
        for _ in range(steps):
            loss = step()
        check.seconds[name] = time.perf_counter() - started
        check.train[name] = loss
        check.val[name] = val_loss(model, source)
        print(
            f"  {name:9s}: step {steps} train loss {loss:.4f}, val loss {check.val[name]:.4f} "
            f"({check.seconds[name]:.0f} s)",
            flush=True,
        )
    return check


# --- report -----------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def fmt_rounds(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


@dataclass
class Row:
    config: str
    core: float
    naive: float
    share: float  # of the fp32 peak
    loss: str


def measure_config(
    corpus: Corpus,
    setup: Setup,
    rounds: int,
    steps_per_round: int,
    warmup: int,
    peak: float,
) -> tuple[dict[str, list[float]], float]:
    fp32, bf16 = core_trainer(corpus, setup), core_trainer(corpus, setup, "bf16")
    naive = Naive(core_trainer(corpus, setup))
    steps = {"core fp32": fp32.train_step, "core bf16": bf16.train_step, "naive": naive.train_step}
    fpt = flops_per_token(fp32.model)
    print(
        f"\n## {setup.name}: L{setup.n_layer} H{setup.n_head} C{setup.n_embd} "
        f"T{setup.block_size} B{setup.batch_size}, lr {setup.learning_rate:g}, dropout "
        f"{setup.dropout:g}; {fp32.model.num_parameters() / 1e6:.2f} M parameters, "
        f"{fpt / 1e6:.2f} MFLOP/token → fp32 limit {peak * 1e9 / fpt:,.0f} tokens/s",
        flush=True,
    )
    print(
        f"{warmup} warm-up step(s), then {rounds} rounds × {steps_per_round} step(s), alternating",
        flush=True,
    )
    results = alternate(steps, setup.tokens_per_step, rounds, steps_per_round, warmup)
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:9s}: median {median:8,.0f} tokens/s  ({fmt_rounds(values)})")
    for name in ("core fp32", "core bf16"):
        per_round = [c / n for c, n in zip(results[name], results["naive"], strict=True)]
        ratio = statistics.median(results[name]) / statistics.median(results["naive"])
        print(
            f"  {name} / naive: {ratio:.2f}× "
            f"(median of per-round ratios {statistics.median(per_round):.2f}×)"
        )
    return results, fpt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="baby only, 100-step loss check")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--loss-steps", type=int, help="steps of the loss check (default 500)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    quick = args.quick
    loss_steps = args.loss_steps or (100 if quick else 500)
    began = time.perf_counter()

    print("# HeadWatch training throughput")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"machine: {os.cpu_count()} CPUs ({cpu_model()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, Python {platform.python_version()}, "
        f"load average {load_average()}"
    )
    corpus = builtin_corpus()
    print(f"corpus: {corpus.summary()}")

    peak = matmul_peak()
    peak_bf16 = matmul_peak(torch.bfloat16)
    print(
        f"matmul peak (2048² torch.mm, best of trials): fp32 {peak:.0f} GFLOP/s, "
        f"bf16 {peak_bf16:.0f} GFLOP/s"
    )
    print(f"same start: max |logit core - naive| = {check_same_start(corpus, BABY):.1e}")

    rows: list[Row] = []
    baby, baby_fpt = measure_config(
        corpus,
        BABY,
        rounds=3 if quick else 5,
        steps_per_round=15 if quick else 30,
        warmup=5 if quick else 10,
        peak=peak,
    )

    print("\nwhere a baby step's time goes (ms/step, 20 steps after the rounds above):")
    for name, parts in (
        ("core fp32", breakdown(core_trainer(corpus, BABY), None, 20)),
        ("core bf16", breakdown(core_trainer(corpus, BABY, "bf16"), None, 20)),
        ("naive", breakdown(None, Naive(core_trainer(corpus, BABY)), 20)),
    ):
        total = sum(parts.values())
        shares = ", ".join(f"{k} {v:.1f} ({100 * v / total:.0f} %)" for k, v in parts.items())
        print(f"  {name:9s}: {total:.1f} ms = {shares}")

    print(
        f"\nloss check at baby: {loss_steps} steps from seed {SEED}, val loss on {EVAL_BATCHES} "
        "fixed batches in fp32"
    )
    check = loss_check(corpus, BABY, loss_steps)
    diff_fp32 = abs(check.val["core fp32"] - check.val["naive"])
    diff_bf16 = abs(check.val["core bf16"] - check.val["naive"])
    ok = diff_fp32 <= LOSS_TOLERANCE
    print(
        f"  |core fp32 - naive| = {diff_fp32:.4f} → {'PASS' if ok else 'FAIL'} "
        f"(tolerance {LOSS_TOLERANCE}); |core bf16 - naive| = {diff_bf16:.4f}"
    )

    def loss_cell(name: str) -> str:
        return f"{check.val[name]:.3f} vs {check.val['naive']:.3f}"

    naive_median = statistics.median(baby["naive"])
    for name, label in (
        ("core fp32", "baby, fp32 (default)"),
        ("core bf16", "baby, bf16 (opt-in)"),
    ):
        core_median = statistics.median(baby[name])
        rows.append(
            Row(
                label,
                core_median,
                naive_median,
                core_median * baby_fpt / (peak * 1e9),
                loss_cell(name),
            )
        )

    if quick:
        print("\n## lecture: skipped (--quick)")
    else:
        lecture, lecture_fpt = measure_config(
            corpus, LECTURE, rounds=3, steps_per_round=1, warmup=1, peak=peak
        )
        naive_median = statistics.median(lecture["naive"])
        for name, label in (
            ("core fp32", "lecture, fp32 (default)"),
            ("core bf16", "lecture, bf16 (opt-in)"),
        ):
            core_median = statistics.median(lecture[name])
            rows.append(
                Row(
                    label,
                    core_median,
                    naive_median,
                    core_median * lecture_fpt / (peak * 1e9),
                    "not run (slow on CPU)",
                )
            )

    print(
        f"\nload average at the end: {load_average()}; {time.perf_counter() - began:.0f} s in all"
    )
    loss_column = f"loss@{loss_steps} core vs naive"
    print(f"\n| config | core tok/s | naive tok/s | ratio | % of fp32 peak | {loss_column} |")
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row.config} | {row.core:,.0f} | {row.naive:,.0f} | {row.core / row.naive:.2f}× "
            f"| {100 * row.share:.0f} % | {row.loss} |"
        )
    print(
        f"\n{os.cpu_count()} CPUs ({cpu_model()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; fp32 peak {peak:.0f} GFLOP/s (2048² torch.mm)."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
