"""The lecture's ladder: from the bigram model to the full block, one change per stage.

Every stage is trained in the lecture's small setting (n_embd 32, block 8, batch 32, lr 1e-3, no
dropout) for the same number of steps with the same seed (same batches), each into its own run
folder, so the table compares architectures and nothing else.

As in the lecture's code at these stages, weights start from PyTorch's defaults (init "pytorch"):
from nanoGPT's N(0, 0.02) the plain stacks without LayerNorm shrink their signal by ~10x per
Linear and fall behind the bigram model at 5000 steps. Where HeadWatch's model still differs from
the lecture's intermediate code: attention always ends in its output projection and the
feed-forward is always the 4x-wide Linear-ReLU-Linear (the lecture added both only at its residual
stage), so stages 2-5 have more parameters than the lecture's; the ordering is the point.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from headwatch.core.control import TrainControl
from headwatch.core.corpus import Corpus
from headwatch.core.model import ConfigError, GPTConfig
from headwatch.core.oom import build_trainer
from headwatch.core.performance import resolve_device
from headwatch.core.runs import RunError, RunWriter, is_run_dir
from headwatch.core.session import train_into_run
from headwatch.core.trainer import Progress, TrainConfig

# the lecture's small setting, before it scaled up
N_EMBD = 32
BLOCK_SIZE = 8
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
DEFAULT_ITERS = 5000  # the lecture's budget; the full ordering held from 2000 steps on
DEFAULT_EVAL_ITERS = 200  # the lecture's estimate_loss


@dataclass(frozen=True)
class Stage:
    """One rung: a name for folders, a label for the table, and the GPTConfig switches."""

    name: str
    label: str
    settings: dict  # GPTConfig fields besides vocab_size, n_embd, block_size
    lecture_val: float | None  # the validation loss the lecture reports, where it gives one

    def model_config(self, vocab_size: int) -> GPTConfig:
        return GPTConfig(
            vocab_size=vocab_size,
            block_size=BLOCK_SIZE,
            n_embd=N_EMBD,
            dropout=0.0,
            init="pytorch",
            **self.settings,
        )


_PLAIN = dict(residual=False, layernorm=False)  # before the lecture's "optimisation" stages

STAGES: tuple[Stage, ...] = (
    # token embedding (vocab x 32) -> lm_head: the lecture's bigram "with n_embd"
    Stage("bigram", "bigram", dict(attention=False, n_layer=0, n_head=1, ffn=False, **_PLAIN), 2.5),
    Stage("one-head", "one head (size 32)", dict(n_layer=1, n_head=1, ffn=False, **_PLAIN), 2.4),
    Stage("four-heads", "4 heads of 8", dict(n_layer=1, n_head=4, ffn=False, **_PLAIN), 2.28),
    Stage("feed-forward", "+ feed-forward", dict(n_layer=1, n_head=4, ffn=True, **_PLAIN), 2.24),
    # the lecture reports no number here, only that the deep plain stack trains badly
    Stage("three-blocks", "3 blocks, no residuals", dict(n_layer=3, n_head=4, **_PLAIN), None),
    Stage("residuals", "+ residuals", dict(n_layer=3, n_head=4, layernorm=False), 2.08),
    Stage("layernorm", "+ LayerNorm", dict(n_layer=3, n_head=4), 2.06),
)


@dataclass(frozen=True)
class LadderRow:
    """One stage's result in the ladder's table (losses in nats)."""

    stage: str  # the stage's label
    parameters: int
    train: float  # final estimates, eval_iters batches per split
    val: float
    tokens_per_s: float  # training tokens over training seconds (evaluation not counted)
    seconds: float  # wall time of the stage, evaluations and checkpoints included
    run_dir: Path
    lecture_val: float | None = None


def train_config(
    iters: int, eval_iters: int = DEFAULT_EVAL_ITERS, seed: int = 1337, device: str = "auto"
) -> TrainConfig:
    """The lecture's optimiser setting at a budget of `iters` steps (five evaluations)."""
    return TrainConfig(
        learning_rate=LEARNING_RATE,
        batch_size=BATCH_SIZE,
        max_iters=iters,
        eval_interval=max(1, iters // 5),
        eval_iters=eval_iters,
        seed=seed,
        device=device,
    )


def stage_dirs(out_dir: str | Path, stages: Sequence[Stage] = STAGES) -> list[Path]:
    """out_dir/01-bigram, out_dir/02-one-head, ...: one run folder per stage."""
    return [Path(out_dir) / f"{i:02d}-{stage.name}" for i, stage in enumerate(stages, start=1)]


def run_ladder(
    corpus: Corpus,
    iters: int,
    out_dir: str | Path,
    seed: int = 1337,
    on_stage: Callable[[Stage, LadderRow | None], None] | None = None,
    *,
    eval_iters: int = DEFAULT_EVAL_ITERS,
    device: str = "auto",
    stages: Sequence[Stage] = STAGES,
    on_progress: Callable[[Stage, Progress], None] | None = None,
    threads: int | None = 1,
    control: TrainControl | None = None,
) -> list[LadderRow]:
    """Train every stage for `iters` steps into out_dir, one run folder each; a row per stage.

    on_stage(stage, None) is called as a stage starts and on_stage(stage, row) when it is done;
    on_progress(stage, p) after every step and evaluation. Settings, the corpus and the folders are
    all checked before the first step, so bad input fails at once (ConfigError, CorpusError,
    RunError), not after minutes of training.

    control: a stop ends the stage in flight after its current step (saved in its folder, with
    no row: it did not finish) and starts no further stage; the rows of the finished stages are
    returned.

    threads: torch's CPU threads while the ladder runs (restored after; None leaves them). These
    models are so small that a second thread only adds synchronisation: on this project's busy
    2-core machine 300 one-head steps took 0.8 s on one thread and 8 s on two.
    """
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ConfigError(f"iters must be a whole number of at least 1, got {iters!r}")
    training = train_config(iters, eval_iters, seed, device)
    resolve_device(device)  # an unknown or missing device fails here, not at the first stage
    configs = [stage.model_config(corpus.vocab_size) for stage in stages]
    corpus.check_block_size(BLOCK_SIZE)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: exists and is not a folder — choose another output folder")
    folders = stage_dirs(out, stages)
    taken = [str(folder) for folder in folders if is_run_dir(folder)]
    if taken:
        raise RunError(f"{taken[0]}: already holds a run — choose another output folder")

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    rows = []
    try:
        for stage, config, folder in zip(stages, configs, folders, strict=True):
            if control is not None and control.stop_requested:
                break
            row = _train_stage(
                corpus, stage, config, training, folder, on_stage, on_progress, control
            )
            if row is not None:
                rows.append(row)
        return rows
    finally:
        torch.set_num_threads(previous_threads)


def _train_stage(
    corpus: Corpus,
    stage: Stage,
    model_config: GPTConfig,
    training: TrainConfig,
    folder: Path,
    on_stage: Callable[[Stage, LadderRow | None], None] | None,
    on_progress: Callable[[Stage, Progress], None] | None,
    control: TrainControl | None,
) -> LadderRow | None:
    """The stage's row; None when control stopped it before its last step."""
    if on_stage is not None:
        on_stage(stage, None)
    started = time.perf_counter()
    trainer = build_trainer(corpus, model_config, training)
    writer = RunWriter.create(folder, corpus, model_config, trainer.config)
    last = None
    for p in train_into_run(trainer, writer, control):
        if p.is_eval:
            last = p
        if on_progress is not None:
            on_progress(stage, p)
    if last is None or last.step < training.max_iters:
        return None
    row = LadderRow(
        stage=stage.label,
        parameters=trainer.model.num_parameters(),
        train=last.train_estimate,
        val=last.val_estimate,
        tokens_per_s=trainer.step * BATCH_SIZE * BLOCK_SIZE / max(trainer.elapsed, 1e-9),
        seconds=time.perf_counter() - started,
        run_dir=folder,
        lecture_val=stage.lecture_val,
    )
    if on_stage is not None:
        on_stage(stage, row)
    return row


def format_table(rows: Sequence[LadderRow]) -> str:
    """A Markdown table, one line per stage, with the lecture's figure beside ours."""
    lines = [
        "| stage | parameters | train | val | lecture val | tokens/s | time |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lecture = f"{r.lecture_val:.2f}" if r.lecture_val is not None else "—"
        lines.append(
            f"| {r.stage} | {r.parameters:,} | {r.train:.4f} | {r.val:.4f} | {lecture} "
            f"| {r.tokens_per_s:,.0f} | {r.seconds:.1f} s |"
        )
    return "\n".join(lines)
