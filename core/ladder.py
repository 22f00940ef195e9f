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

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from headwatch.core.control import TrainControl
from headwatch.core.corpus import Corpus
from headwatch.core.lock import lock_state
from headwatch.core.model import GPT, ConfigError, GPTConfig
from headwatch.core.oom import build_trainer
from headwatch.core.performance import resolve_device
from headwatch.core.runs import (
    RunError,
    RunLocked,
    RunRecord,
    RunWriter,
    is_run_dir,
    load_run,
    trainer_for,
)
from headwatch.core.session import train_into_run
from headwatch.core.storage import atomic_write_text
from headwatch.core.trainer import Progress, TrainConfig

# the lecture's small setting, before it scaled up
N_EMBD = 32
BLOCK_SIZE = 8
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
DEFAULT_ITERS = 5000  # the lecture's budget; the full ordering held from 2000 steps on
DEFAULT_EVAL_ITERS = 200  # the lecture's estimate_loss
# in a stage's run folder: its wall seconds, summed over the commands that trained it, so the
# table of a continued ladder still gives the time of the stages finished before
STAGE_TIME_FILE = "ladder-stage.json"
# the ladder's settings a stage folder must have been trained with to be continued: field -> option
SAME_SETTINGS = {"max_iters": "--iters", "eval_iters": "--eval-iters", "seed": "--seed"}


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
    # wall time of the stage, evaluations and checkpoints included, over every command that
    # trained it; None for a stage finished by a ladder that kept no time (no STAGE_TIME_FILE)
    seconds: float | None
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
    resume: bool = False,
    on_found: Callable[[Stage, int, LadderRow | None], None] | None = None,
) -> list[LadderRow]:
    """Train every stage for `iters` steps into out_dir, one run folder each; a row per stage.

    on_stage(stage, None) is called as a stage starts and on_stage(stage, row) when it is done;
    on_progress(stage, p) after every step and evaluation. Settings, the corpus and the folders are
    all checked before the first step, so bad input fails at once (ConfigError, CorpusError,
    RunError), not after minutes of training.

    resume: continue the ladder already in out_dir: a stage whose folder holds its last step is
    skipped (its row read from the folder), one stopped before it continues from its checkpoint,
    and the stages with no folder are trained. Before any training, on_found(stage, step, row) is
    called for each stage found there (row None: it continues). Raises RunError, with nothing
    changed, when a stage there was trained with other settings (SAME_SETTINGS), on another
    corpus or for another model, or is being trained by another process; and when out_dir
    holds no stage. Without resume a stage folder already there is refused (RunError).

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
    taken = [i for i, folder in enumerate(folders) if is_run_dir(folder)]
    if taken and not resume:
        raise RunError(
            f"{folders[taken[0]]}: already holds a run — continue that ladder (--resume), or "
            "choose another output folder"
        )
    if resume and not taken:
        raise RunError(
            f"{out}: holds no stage of a ladder to continue — start one without --resume"
        )
    found = {i: _check_stage(folders[i], configs[i], training, corpus) for i in taken}
    rows_found = {i: _finished_row(stages[i], record, iters) for i, record in found.items()}
    finished = {i: row for i, row in rows_found.items() if row is not None}
    for i, row in rows_found.items():
        if on_found is not None:
            on_found(stages[i], found[i].step, row)

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    rows = []
    try:
        for i, (stage, config, folder) in enumerate(zip(stages, configs, folders, strict=True)):
            if control is not None and control.stop_requested:
                break
            if i in finished:
                rows.append(finished[i])
                continue
            row = _train_stage(
                corpus,
                stage,
                config,
                training,
                folder,
                on_stage,
                on_progress,
                control,
                found.get(i),
            )
            if row is not None:
                rows.append(row)
        return rows
    finally:
        torch.set_num_threads(previous_threads)


def _check_stage(
    folder: Path, model_config: GPTConfig, training: TrainConfig, corpus: Corpus
) -> RunRecord:
    """The run in a stage's folder, loaded, when this ladder may continue it. Raises RunError
    naming what differs (settings, corpus, model), RunLocked while a process trains it."""
    state, owner = lock_state(folder)
    if state in ("held", "elsewhere"):
        owner = owner or {}
        raise RunLocked(
            folder, owner.get("pid"), owner.get("host", "this machine"), owner.get("time", "")
        )
    record = load_run(folder)
    differs = []
    sha256 = record.corpus.get("sha256")
    if record.tokenizer.chars != corpus.tokenizer.chars or sha256 not in (None, corpus.sha256):
        differs.append(f"another corpus ({record.corpus.get('name', '?')}, not {corpus.name})")
    elif replace(record.model_config, dropout=0.0) != model_config:
        differs.append("another model than this stage's")
    for field, option in SAME_SETTINGS.items():
        was, now = getattr(record.train_config, field), getattr(training, field)
        if was != now:
            differs.append(f"{option} {was} (this ladder: {now})")
    if differs:
        raise RunError(
            f"{folder}: was trained with {', '.join(differs)} — continue it with the settings it "
            "was trained with, or choose another output folder; nothing was changed"
        )
    return record


def _finished_row(stage: Stage, record: RunRecord, iters: int) -> LadderRow | None:
    """The row of a stage whose folder holds its last step (from its final evaluation); None
    when it stopped before. Raises RunError when that evaluation is missing."""
    if record.step < iters:
        return None
    final = [r for r in record.metrics if r.val is not None and r.step == record.step]
    if not final:
        raise RunError(
            f"{record.path}: holds the stage's last step but not its last evaluation — remove "
            "this folder to train the stage again"
        )
    return LadderRow(
        stage=stage.label,
        parameters=GPT.unfilled(record.model_config, "meta").num_parameters(),
        train=final[-1].train,
        val=final[-1].val,
        tokens_per_s=_tokens_per_s(record.step, record.checkpoint["elapsed"]),
        seconds=_read_time(record.path),
        run_dir=record.path,
        lecture_val=stage.lecture_val,
    )


def _tokens_per_s(steps: int, seconds_in_steps: float) -> float:
    """Training tokens over training seconds (evaluations not counted)."""
    return steps * BATCH_SIZE * BLOCK_SIZE / max(seconds_in_steps, 1e-9)


def _read_time(folder: Path) -> float | None:
    """The seconds STAGE_TIME_FILE holds; None when it is missing or damaged (only the table's
    time column depends on it)."""
    try:
        return float(json.loads((folder / STAGE_TIME_FILE).read_text(encoding="utf-8"))["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_time(folder: Path, seconds: float) -> None:
    with contextlib.suppress(OSError):  # a gap in the time column beats a ladder stopped for it
        atomic_write_text(folder / STAGE_TIME_FILE, json.dumps({"seconds": seconds}) + "\n")


def _train_stage(
    corpus: Corpus,
    stage: Stage,
    model_config: GPTConfig,
    training: TrainConfig,
    folder: Path,
    on_stage: Callable[[Stage, LadderRow | None], None] | None,
    on_progress: Callable[[Stage, Progress], None] | None,
    control: TrainControl | None,
    record: RunRecord | None,
) -> LadderRow | None:
    """The stage's row; None when control stopped it before its last step. record: the stage's
    run to continue (from its checkpoint), None to start it. The stage's wall seconds, over
    every command that trained it, are kept in its folder (STAGE_TIME_FILE)."""
    if on_stage is not None:
        on_stage(stage, None)
    started = time.perf_counter()
    earlier = _read_time(folder) or 0.0
    last = None
    try:
        if record is None:
            trainer = build_trainer(corpus, model_config, training)
            writer = RunWriter.create(folder, corpus, model_config, trainer.config)
        else:
            trainer = trainer_for(record, corpus, model_config=model_config, train_config=training)
            writer = RunWriter.reopen(record)
            writer.record_changes(record, trainer)  # e.g. another device than before
        for p in train_into_run(trainer, writer, control):
            if p.is_eval:
                last = p
            if on_progress is not None:
                on_progress(stage, p)
    finally:
        seconds = earlier + time.perf_counter() - started
        if is_run_dir(folder):  # a stage whose first step failed leaves no folder
            _write_time(folder, seconds)
    if last is None or last.step < training.max_iters:
        return None
    row = LadderRow(
        stage=stage.label,
        parameters=trainer.model.num_parameters(),
        train=last.train_estimate,
        val=last.val_estimate,
        tokens_per_s=_tokens_per_s(trainer.step, trainer.elapsed),
        seconds=seconds,
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
        seconds = f"{r.seconds:.1f} s" if r.seconds is not None else "—"
        lines.append(
            f"| {r.stage} | {r.parameters:,} | {r.train:.4f} | {r.val:.4f} | {lecture} "
            f"| {r.tokens_per_s:,.0f} | {seconds} |"
        )
    return "\n".join(lines)
