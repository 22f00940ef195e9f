"""Training throughput: the core trainer against the lecture's naive per-head GPT.

    .venv/bin/python bench/train_throughput.py [--quick] [--threads N] [--lecture-rounds N]
    .venv/bin/python bench/train_throughput.py --device cuda [--steps 5000] [--compile]

With --device (cuda, or cpu to try the same path): the core trainer alone at the lecture preset
(--setup baby for a quick try) on that device, "auto" precision (bf16 autocast where the GPU has
it, else fp16 with a gradient scaler), fused AdamW, TF32, pinned batches: tokens/s over the
measured steps, the time of the lecture's 5,000 steps (measured when --steps is 5000, else
extrapolated from the steps timed, and said so) and the val loss reached (200 batches).

Both sides start from the same weights (NaiveGPT.copy_from), draw the same batches (same seed,
the trainer's own gathering) and use AdamW with the same settings (lr, betas, eps, decay). The
core side is core.trainer.Trainer itself (fused QKV, fused attention, fused AdamW) in fp32 and
in bf16 (autocast over the fp32 weights; its default "auto" precision takes bf16 on a CPU with
bf16 in hardware, such as this one's AVX512-BF16, and fp32 elsewhere); the naive side is the
lecture's loop in fp32. Loss checks evaluate the fp32 weights.

The machine may be shared: rounds alternate between the variants, /proc/stat tells how much CPU
other processes took during each round, and medians are taken over the quiet rounds when there
are enough of them (else over all, and the table says so). Beside the ratio of the medians, each
round's own core / naive ratio (min–max, median): the machine's drift over a run cancels in it.

Also printed: the fp32 matmul peak (torch.mm, same thread count) and the share of it reached,
with FLOPs per token as in nanoGPT's estimate_mfu (6N + 12·L·T·C); where a baby step's time goes;
and a correctness check: the loss after 500 steps from the same seed must match the naive
reference within 0.05 (exit status 1 if not). Full run: about 4 minutes on 2 quiet cores;
--quick (baby only, 100-step loss check): under a minute. While other processes keep a core busy,
torch's 2 OpenMP threads slow down 10-40x (they spin-wait on each other): the run then takes far
longer, and --threads 1 (or OMP_WAIT_POLICY=PASSIVE in the environment) gives steadier figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a fresh clone, no install needed

import torch  # noqa: E402

from bench.reference import NaiveGPT  # noqa: E402
from headwatch.core.corpus import Corpus, builtin_corpus  # noqa: E402
from headwatch.core.model import GPT, GPTConfig  # noqa: E402
from headwatch.core.performance import keep_freed_memory, resolve_precision  # noqa: E402
from headwatch.core.trainer import TrainConfig, Trainer  # noqa: E402

SEED = 1337
LOSS_TOLERANCE = 0.05
EVAL_BATCHES = 20
# A round is contended when other processes took more than the cores our threads leave free
# plus this much (so 0.2 of a core with 2 threads on 2 cores).
SPARE_CORES = 0.2
VARIANTS = ("core fp32", "core bf16", "naive")


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

    def describe(self) -> str:
        return (
            f"L{self.n_layer} H{self.n_head} C{self.n_embd} T{self.block_size} "
            f"B{self.batch_size}, lr {self.learning_rate:g}, dropout {self.dropout:g}"
        )


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
class Side:
    """One way of training: a model, its batches and its step in three parts (forward + loss,
    backward, optimizer update), timed apart by `breakdown`."""

    trainer: Trainer  # the core trainer, or (naive) the source of the same weights and batches
    naive: bool = False
    model: torch.nn.Module = field(init=False)
    optimizer: torch.optim.Optimizer = field(init=False)

    def __post_init__(self) -> None:
        if self.naive:
            self.model = NaiveGPT(self.trainer.model_config).copy_from(self.trainer.model)
            # torch's default AdamW implementation, as in the lecture
            lr = self.trainer.config.learning_rate
            self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr)
        else:
            self.model, self.optimizer = self.trainer.model, self.trainer.optimizer

    def batch(
        self, split: str = "train", generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.trainer.get_batch(split, generator)
        return x, y.contiguous() if self.naive else y  # NaiveGPT's loss uses .view

    def forward_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.model(x, y)[1] if self.naive else self.trainer.forward_loss(x, y)

    def backward(self, loss: torch.Tensor) -> None:
        if self.naive:
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        else:
            self.trainer.backward(loss)

    def update(self) -> None:
        if self.naive:
            self.optimizer.step()
        else:
            self.trainer.update()

    def train_step(self) -> float:
        if not self.naive:
            return self.trainer.train_step()  # the real thing, not a copy of it
        self.model.train()
        loss = self.forward_loss(*self.batch())
        self.backward(loss)
        self.update()
        return loss.item()


def make_side(corpus: Corpus, setup: Setup, variant: str) -> Side:
    if variant == "naive":
        return Side(core_trainer(corpus, setup), naive=True)
    return Side(core_trainer(corpus, setup, precision=variant.split()[1]))


def check_same_start(corpus: Corpus, setup: Setup) -> float:
    """Max |logit difference| between a fresh core model and its naive copy (should be ~1e-6)."""
    core, naive = make_side(corpus, setup, "core fp32"), make_side(corpus, setup, "naive")
    x, _ = core.batch("val")
    core.model.eval()
    naive.model.eval()
    with torch.no_grad():
        return (core.model(x)[0] - naive.model(x)[0]).abs().max().item()


# --- measurements -----------------------------------------------------------------------------


class CpuWatch:
    """Over an interval: the cores other processes used (from /proc/stat; None off Linux) and the
    share of our wall time spent in the kernel (page faults of big fresh allocations, mostly)."""

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[float | None, float, float, float]:
        try:
            line = Path("/proc/stat").read_text().split("\n", 1)[0]
            ticks = [int(v) for v in line.split()[1:9]]
            busy: float | None = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            busy = None
        own = os.times()
        return busy, own.user + own.system, own.system, time.perf_counter()

    def stop(self) -> tuple[float | None, float]:
        (busy0, own0, sys0, t0), (busy1, own1, sys1, t1) = self._start, self._read()
        wall = t1 - t0
        others = None
        if busy0 is not None and busy1 is not None:
            others = max(0.0, ((busy1 - busy0) - (own1 - own0)) / wall)
        return others, (sys1 - sys0) / wall


@dataclass
class Series:
    """tokens/s of one variant, round by round, with the other processes' CPU during each."""

    values: list[float] = field(default_factory=list)
    others: list[float | None] = field(default_factory=list)
    kernel: list[float] = field(default_factory=list)  # share of wall time in our system calls

    def is_quiet(self, i: int) -> bool:
        other = self.others[i]
        free = max(0, (os.cpu_count() or 1) - torch.get_num_threads())
        return other is None or other < free + SPARE_CORES

    def median(self) -> tuple[float, bool]:
        """(median, whether it is over quiet rounds only): quiet ones if at least 2."""
        quiet = [v for i, v in enumerate(self.values) if self.is_quiet(i)]
        if len(quiet) >= 2:
            return statistics.median(quiet), True
        return statistics.median(self.values), False

    def describe(self) -> str:
        parts = []
        for i, v in enumerate(self.values):
            note = "" if self.is_quiet(i) else f" [others {self.others[i]:.1f} cores]"
            parts.append(f"{v:,.0f}{note}")
        return ", ".join(parts)


def alternate(
    sides: dict[str, Side], tokens_per_step: int, rounds: int, steps_per_round: int, warmup: int
) -> dict[str, Series]:
    """tokens/s of each variant per round; the order rotates so none always runs first."""
    for side in sides.values():
        for _ in range(warmup):
            side.train_step()
    names = list(sides)
    results = {name: Series() for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            watch = CpuWatch()
            started = time.perf_counter()
            for _ in range(steps_per_round):
                sides[name].train_step()
            took = time.perf_counter() - started
            others, kernel = watch.stop()
            results[name].values.append(steps_per_round * tokens_per_step / took)
            results[name].others.append(others)
            results[name].kernel.append(kernel)
    return results


def matmul_peak(dtype: torch.dtype = torch.float32, n: int = 2048, seconds: float = 1.0) -> float:
    """Best GFLOP/s of an n×n torch.mm over short trials (best-of: noise only slows it)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - started))
    return best / 1e9


def flops_per_token(model: GPT) -> float:
    """nanoGPT's estimate_mfu: 6N over the weights used in matmuls (embedding lookups left out),
    plus 12·L·T·C for the attention scores and their mixing, forward and backward."""
    c = model.config
    n = model.num_parameters()
    n -= model.token_embedding.weight.numel() + model.position_embedding.weight.numel()
    return 6 * n + 12 * c.n_layer * c.block_size * c.n_embd


def breakdown(side: Side, steps: int) -> dict[str, float]:
    """Milliseconds per step in batch gathering, forward, backward and the optimizer."""
    parts = dict.fromkeys(("batch", "forward", "backward", "optimizer"), 0.0)
    side.model.train()
    for _ in range(steps):
        t0 = time.perf_counter()
        x, y = side.batch()
        t1 = time.perf_counter()
        loss = side.forward_loss(x, y)
        t2 = time.perf_counter()
        side.backward(loss)
        t3 = time.perf_counter()
        side.update()
        loss.item()
        t4 = time.perf_counter()
        for name, took in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            parts[name] += took
    return {name: 1000 * total / steps for name, total in parts.items()}


@torch.no_grad()
def val_loss(side: Side) -> float:
    """Mean fp32 loss over fixed validation batches: the same batches for every variant."""
    model = side.model.eval()  # fp32 weights under either precision, run without autocast
    rng = torch.Generator().manual_seed(SEED)
    losses = [model(*side.batch("val", rng))[1].item() for _ in range(EVAL_BATCHES)]
    model.train()
    return sum(losses) / len(losses)


def loss_check(corpus: Corpus, setup: Setup, steps: int) -> dict[str, float]:
    """Val loss of each variant after `steps` steps from the same seed."""
    val = {}
    for name in VARIANTS:
        side = make_side(corpus, setup, name)
        started = time.perf_counter()
        for _ in range(steps):
            loss = side.train_step()
        val[name] = val_loss(side)
        print(
            f"  {name:9s}: step {steps} train loss {loss:.4f} (the same batch for all), "
            f"val loss {val[name]:.4f}  ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    return val


# --- report -----------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


@dataclass
class Row:
    config: str
    core: float
    naive: float
    flops: float  # per second, by the core side
    loss: str


class Peak:
    """The best fp32 matmul rate seen so far: measured between phases, as noise only lowers it."""

    def __init__(self) -> None:
        self.gflops = 0.0

    def measure(self, when: str) -> None:
        now = matmul_peak()
        self.gflops = max(self.gflops, now)
        print(f"fp32 matmul peak ({when}): {now:.0f} GFLOP/s (best so far {self.gflops:.0f})")


def measure_config(
    corpus: Corpus, setup: Setup, rounds: int, steps_per_round: int, warmup: int
) -> tuple[dict[str, Series], float]:
    sides = {name: make_side(corpus, setup, name) for name in VARIANTS}
    model = sides["core fp32"].model
    assert isinstance(model, GPT)
    fpt = flops_per_token(model)
    print(
        f"\n## {setup.name}: {setup.describe()}; {model.num_parameters() / 1e6:.2f} M parameters,"
        f" {fpt / 1e6:.2f} MFLOP/token",
        flush=True,
    )
    print(f"{warmup} warm-up step(s) each, then {rounds} rounds × {steps_per_round} step(s)")
    results = alternate(sides, setup.tokens_per_step, rounds, steps_per_round, warmup)
    for name, series in results.items():
        median, quiet = series.median()
        over = "quiet rounds" if quiet else "ALL rounds (too few quiet ones)"
        kernel = statistics.median(series.kernel)
        print(
            f"  {name:9s}: median {median:8,.0f} tokens/s over {over}, {100 * kernel:.0f} % "
            f"in the kernel: {series.describe()}"
        )
    naive = results["naive"].median()[0]
    for name in ("core fp32", "core bf16"):
        # each round's own ratio too: the two sides ran seconds apart, so the machine's drift
        # over the run (which the medians of each side can catch at different moments) cancels
        pairs = zip(results[name].values, results["naive"].values, strict=True)
        rounds = [c / n for c, n in pairs]
        print(
            f"  {name} / naive: {results[name].median()[0] / naive:.2f}× (medians); round by "
            f"round {min(rounds):.2f}–{max(rounds):.2f}×, median {statistics.median(rounds):.2f}×"
        )
    return results, fpt


def add_rows(
    rows: list[Row], setup: Setup, results: dict[str, Series], fpt: float, loss: dict[str, str]
) -> None:
    naive, naive_quiet = results["naive"].median()
    default = resolve_precision("auto", torch.device("cpu"), fpt * setup.tokens_per_step)
    for name in ("core fp32", "core bf16"):
        precision = name.split()[1]
        label = f"{precision} (the default here)" if precision == default else precision
        core, core_quiet = results[name].median()
        noisy = "" if core_quiet and naive_quiet else ", contended"
        rows.append(Row(f"{setup.name}, {label}{noisy}", core, naive, core * fpt, loss[name]))


LECTURE_STEPS = 5000


def device_run(device: str, setup: Setup, steps: int, compile_model: bool) -> None:
    """The core trainer alone on device: tokens/s, 5,000 steps' time, the val loss reached."""
    corpus = builtin_corpus()
    config = TrainConfig(
        learning_rate=setup.learning_rate,
        batch_size=setup.batch_size,
        max_iters=steps,
        eval_interval=steps,
        eval_iters=200,
        seed=SEED,
        device=device,
        precision="auto",
    )
    trainer = Trainer(corpus, setup.model_config(corpus.vocab_size), config)
    name = torch.cuda.get_device_name() if trainer.device.type == "cuda" else cpu_model()
    print(f"# HeadWatch on {trainer.device} ({name}), torch {torch.__version__}")
    print(f"{setup.name}: {setup.describe()}, precision {trainer.config.precision}, {steps} steps")
    if compile_model:
        print(f"compile: {trainer.compile():.1f}s")

    def sync() -> None:
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()

    warmup = min(10, max(1, steps // 10))
    for _ in range(warmup):
        trainer.train_step()
    sync()
    started = time.perf_counter()
    for _ in range(steps - warmup):
        trainer.train_step()
    sync()
    took = time.perf_counter() - started
    per_step = took / max(1, steps - warmup)
    tokens_per_s = setup.tokens_per_step / per_step
    if steps == LECTURE_STEPS:
        what = f"measured, {warmup} warm-up steps at the measured rate"
    else:
        what = f"extrapolated from {steps - warmup} timed steps"
    print(f"tokens/s: {tokens_per_s:,.0f} ({per_step * 1e3:.1f} ms/step)")
    print(f"{LECTURE_STEPS} steps: {per_step * LECTURE_STEPS:.1f}s ({what})")
    estimate = trainer.estimate_loss()
    val, train = estimate["val"], estimate["train"]
    print(f"val loss after {trainer.step} steps: {val:.4f} (train {train:.4f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", help="cuda (or cpu): the core trainer alone on it")
    parser.add_argument("--setup", choices=("lecture", "baby"), default="lecture")
    parser.add_argument("--steps", type=int, default=LECTURE_STEPS, help="with --device")
    parser.add_argument("--compile", action="store_true", help="with --device: torch.compile")
    parser.add_argument("--quick", action="store_true", help="baby only, 100-step loss check")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--loss-steps", type=int, help="steps of the loss check (default 500)")
    parser.add_argument("--lecture-rounds", type=int, default=3, help="1 step each (default 3)")
    args = parser.parse_args(argv)
    keep_freed_memory()  # as the app and the CLI do first, for both sides alike
    if args.device:
        setup = LECTURE if args.setup == "lecture" else BABY
        device_run(args.device, setup, args.steps, args.compile)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    loss_steps = args.loss_steps or (100 if args.quick else 500)
    began = time.perf_counter()

    print("# HeadWatch training throughput")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"machine: {os.cpu_count()} CPUs ({cpu_model()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, Python {platform.python_version()}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, "
        f"load average {load_average()}"
    )
    corpus = builtin_corpus()
    print(f"corpus: {corpus.summary()}")
    peak = Peak()
    peak.measure("start")
    print(f"bf16 matmul peak: {matmul_peak(torch.bfloat16):.0f} GFLOP/s")
    print(f"same start: max |logit core - naive| = {check_same_start(corpus, BABY):.1e}")

    baby, baby_fpt = measure_config(
        corpus,
        BABY,
        rounds=5 if args.quick else 9,
        steps_per_round=10 if args.quick else 15,
        warmup=5,
    )
    peak.measure("after the baby rounds")

    print("\nwhere a baby step's time goes (ms/step over 20 steps):")
    for name in VARIANTS:
        parts = breakdown(make_side(corpus, BABY, name), 20)
        total = sum(parts.values())
        shares = ", ".join(f"{k} {v:.1f} ({100 * v / total:.0f} %)" for k, v in parts.items())
        print(f"  {name:9s}: {total:5.1f} ms = {shares}")

    print(
        f"\nloss check at baby: {loss_steps} steps from seed {SEED}, val loss in fp32 on "
        f"{EVAL_BATCHES} fixed batches"
    )
    val = loss_check(corpus, BABY, loss_steps)
    diffs = {name: abs(val[name] - val["naive"]) for name in ("core fp32", "core bf16")}
    ok = diffs["core fp32"] <= LOSS_TOLERANCE
    print(
        f"  |core fp32 - naive| = {diffs['core fp32']:.4f} → {'PASS' if ok else 'FAIL'} "
        f"(tolerance {LOSS_TOLERANCE}); bf16's loss impact: |core bf16 - naive| = "
        f"{diffs['core bf16']:.4f}"
    )

    rows: list[Row] = []
    cells = {name: f"{val[name]:.3f} vs {val['naive']:.3f}" for name in VARIANTS}
    add_rows(rows, BABY, baby, baby_fpt, cells)
    if args.quick:
        print("\n## lecture: skipped (--quick)")
    else:
        lecture, lecture_fpt = measure_config(
            corpus, LECTURE, rounds=args.lecture_rounds, steps_per_round=1, warmup=1
        )
        add_rows(rows, LECTURE, lecture, lecture_fpt, dict.fromkeys(VARIANTS, "— (baby only)"))
        peak.measure("end")

    print(f"\nload average at the end: {load_average()}; {time.perf_counter() - began:.0f} s")
    loss_column = f"loss@{loss_steps} core vs naive"
    print(f"\n| config | core tok/s | naive tok/s | ratio | % of fp32 peak | {loss_column} |")
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row.config} | {row.core:,.0f} | {row.naive:,.0f} | {row.core / row.naive:.2f}× "
            f"| {100 * row.flops / (peak.gflops * 1e9):.0f} % | {row.loss} |"
        )
    print(
        f"\n{os.cpu_count()} CPUs ({cpu_model()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, fp32 peak {peak.gflops:.0f} GFLOP/s "
        f"(best 2048² torch.mm); {BABY.name} fp32 limit "
        f"{peak.gflops * 1e9 / baby_fpt:,.0f} tokens/s."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
