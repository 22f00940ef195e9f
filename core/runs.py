"""A run is a folder: config.json, metrics.jsonl and checkpoint.pt (and train.lock while a
process trains it).

Writes are crash-safe: checkpoint and config are replaced atomically (temp file + os.replace), and
metrics are appended a whole line at a time, so a killed process leaves the last good checkpoint
and every completed metrics line. A write that fails (disk full, ...) raises RunWriteError and
leaves what was on disk. One process at a time writes a run (core.lock); loading never writes
nor locks, and never depends on the device the run was trained on; a damaged folder gives a
RunError.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

import torch

from headwatch.core.corpus import Corpus, CorpusError, Tokenizer, load_corpus
from headwatch.core.lock import LOCK, RunLock
from headwatch.core.model import GPT, ConfigError, GPTConfig, upgrade_state_dict
from headwatch.core.oom import build_trainer
from headwatch.core.paths import runs_dir
from headwatch.core.performance import resolve_device
from headwatch.core.snapshot_store import (
    SnapshotInfo,
    SnapshotStore,
    drop_snapshots_after,
    load_snapshot,
    snapshot_dir,
)
from headwatch.core.storage import (
    RunError,
    RunLocked,  # noqa: F401 - re-exported
    RunWriteError,
    atomic_write,
    atomic_write_text,
    describe_os_error,
)
from headwatch.core.trainer import TrainConfig, Trainer

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
FORMAT = "headwatch-run"
FORMAT_VERSION = 1


@dataclass
class MetricRow:
    """One line of a run's metrics.jsonl: a step's train loss, or an evaluation's estimates."""

    step: int
    elapsed: float
    loss: float | None = None  # per-step train loss
    train: float | None = None  # evaluation estimates
    val: float | None = None

    def to_json(self) -> str:
        row = {"step": self.step, "elapsed": round(self.elapsed, 4)}
        for key in ("loss", "train", "val"):
            value = getattr(self, key)
            if value is not None:
                row[key] = value if math.isfinite(value) else None
        return json.dumps(row, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> MetricRow:
        data = json.loads(line)
        return cls(
            step=int(data["step"]),
            elapsed=float(data.get("elapsed", 0.0)),
            loss=_opt_float(data.get("loss")),
            train=_opt_float(data.get("train")),
            val=_opt_float(data.get("val")),
        )


def _opt_float(value) -> float | None:
    return None if value is None else float(value)


@dataclass
class RunRecord:
    """What a run folder holds, loaded and checked."""

    path: Path
    model_config: GPTConfig
    train_config: TrainConfig
    corpus: dict  # {"name", "path", "characters"}: where the text came from
    tokenizer: Tokenizer
    metrics: list[MetricRow] = field(default_factory=list)
    checkpoint: dict | None = None  # {"step", "elapsed", "model", "optimizer"} or None
    # (mtime_ns, size) of checkpoint.pt when loaded: RunWriter.reopen refuses a run changed since
    checkpoint_stamp: tuple[int, int] | None = None
    changes: list[dict] = field(default_factory=list)  # config.json "changes", see record_changes
    world_size: int = 1  # processes that trained it (torchrun), each on batch_size windows

    @property
    def global_batch(self) -> int:
        """Windows per optimizer step, over all processes."""
        return self.world_size * self.train_config.batch_size

    @property
    def step(self) -> int:
        return self.checkpoint["step"] if self.checkpoint else 0

    def build_model(self) -> GPT:
        if self.checkpoint is None:
            raise RunError(f"{self.path}: has no checkpoint yet, so there are no weights to load")
        return self._model_from(self.checkpoint["model"])

    def build_snapshot_model(self, info: SnapshotInfo) -> GPT:
        """The model with the weights of one of the run's snapshots (core.snapshot_store).
        Raises RunError for a damaged snapshot or one that does not fit the run."""
        state = load_snapshot(info)["model"]
        if not _fits(self.model_config, state):
            raise RunError(f"{info.path}: weights do not fit the run's architecture")
        return self._model_from(state)

    def _model_from(self, state: dict) -> GPT:
        model = GPT.unfilled(self.model_config)
        model.load_state_dict(state)
        model.eval()
        return model


def new_run_dir(label: str = "run") -> Path:
    """A fresh, unique folder under the default runs home."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = runs_dir() / f"{stamp}-{label}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def is_run_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / CONFIG).is_file()


class RunWriter:
    """Owns one run folder while a trainer fills it: holds its lock (core.lock) from create /
    reopen (or the start of core.session.train_into_run) until close().

    Every write raises RunWriteError on an OSError, naming the step being saved and the step
    whose checkpoint is still on disk (saved_step)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.lock = RunLock(self.path)
        self.saved_step: int | None = None  # the step of the checkpoint on disk, once known
        self._metrics: IO[str] | None = None
        self._fresh = False  # created by this writer: discard() may remove it
        # weight snapshots kept while training (core.snapshot_store); None: none kept
        self.snapshots: SnapshotStore | None = None
        self._made_folder = False
        # seconds core.session.train_into_run spent writing checkpoints, snapshots and metrics
        self.saving_seconds = 0.0
        # config.json with a resume's new settings, written with the first checkpoint after it
        self._resumed_config: dict | None = None

    @property
    def notes(self) -> list[str]:
        """Lines worth telling the user (a stale lock taken over)."""
        return self.lock.notes

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        corpus: Corpus,
        model_config: GPTConfig,
        train_config: TrainConfig,
        world_size: int = 1,
    ) -> RunWriter:
        """A new run folder holding config.json, locked. world_size: processes training it
        (torchrun). Raises RunError when path is a file or holds a run, RunLocked when another
        process is creating it, RunWriteError."""
        target = Path(path)
        if target.exists() and not target.is_dir():
            raise RunError(f"{target}: exists and is not a folder — choose another output folder")
        if is_run_dir(target):
            raise RunError(
                f"{target}: already holds a run — resume it, or choose another output folder"
            )
        writer = cls(target)
        writer._made_folder = not target.exists()
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            # ENOENT here is a place where no folder can be made (such as /proc), not one gone
            why = "no folder can be made there" if exc.errno == errno.ENOENT else None
            raise RunError(
                f"{target}: cannot create this folder ({why or describe_os_error(exc)}) — "
                "nothing of this run was saved"
            ) from exc
        writer.lock.acquire()
        writer._fresh = True
        if is_run_dir(target):  # another process created it while we looked
            writer.lock.release()
            raise RunError(
                f"{target}: already holds a run — resume it, or choose another output folder"
            )
        config = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "model": model_config.to_dict(),
            "train": train_config.to_dict(),
            "corpus": {
                "name": corpus.name,
                # absolute: a run resumed from another working folder still finds its text
                "path": os.path.abspath(corpus.path) if corpus.path else None,
                "characters": len(corpus.text),
                "sha256": corpus.sha256,
                "chars": list(corpus.tokenizer.chars),
            },
            "distributed": {"world_size": world_size},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        try:
            writer._write(target / CONFIG, None, lambda p: atomic_write_text(p, _dump(config)))
        except BaseException:  # a full disk, or a second Ctrl+C: leave no half-made run
            writer.discard()
            raise
        return writer

    @classmethod
    def reopen(cls, record: RunRecord) -> RunWriter:
        """Continue a loaded run, locked: metrics and snapshots past its checkpoint (a crash's
        leftovers) are dropped. Raises RunLocked while another process trains it, RunError if
        its checkpoint changed since record was loaded, RunWriteError."""
        writer = cls(record.path)
        writer.lock.acquire()
        try:
            if file_stamp(record.path / CHECKPOINT) != record.checkpoint_stamp:
                raise RunError(
                    f"{record.path}: was saved by another process since it was opened — open "
                    "it again to continue from its latest step"
                )
            writer.saved_step = record.step if record.checkpoint is not None else None
            for stale in record.path.glob(".*.tmp"):  # a save cut short by a crash
                with contextlib.suppress(OSError):
                    stale.unlink()
            drop_snapshots_after(record.path, record.step)
            kept = [row for row in record.metrics if row.step <= record.step]
            if len(kept) != len(record.metrics) or _metrics_has_partial_line(record.path / METRICS):
                text = "".join(r.to_json() + "\n" for r in kept)
                writer._write(record.path / METRICS, None, lambda p: atomic_write_text(p, text))
        except RunError:
            writer.lock.release()
            raise
        record.metrics = kept
        return writer

    def record_changes(self, record: RunRecord, trainer: Trainer) -> dict:
        """Record in config.json the settings trainer resumes record with, and append what
        changed to its "changes" list: {"step": 40, "learning_rate": 0.001, "previous":
        {"learning_rate": 10.0}}. Returns the changed settings (name -> new value), {} if none.

        config.json is written with the first checkpoint trained with them (save_checkpoint):
        a resume that fails before (a diverged --lr) leaves the run's settings as they were.
        Raises RunError when config.json cannot be read."""
        world_size = trainer.distributed.world_size if trainer.distributed else 1
        before = {
            **record.train_config.to_dict(),
            "dropout": record.model_config.dropout,
            "world_size": record.world_size,
        }
        after = {
            **trainer.config.to_dict(),
            "dropout": trainer.model_config.dropout,
            "world_size": world_size,
        }
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        if not changed:
            return {}
        path = self.path / CONFIG
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunError(f"{path}: cannot be read ({exc})") from exc
        config["model"] = trainer.model_config.to_dict()
        config["train"] = trainer.config.to_dict()
        config["distributed"] = {"world_size": world_size}
        entry = {"step": record.step, **changed, "previous": {k: before[k] for k in changed}}
        config["changes"] = [*config.get("changes", []), entry]
        self._resumed_config = config
        record.changes = config["changes"]
        return changed

    def append(self, row: MetricRow) -> None:
        def write(path: Path) -> None:
            if self._metrics is None:
                self._metrics = open(path, "a", encoding="utf-8")  # noqa: SIM115
            # one write + flush per completed line: a crash can only lose the line being written
            self._metrics.write(row.to_json() + "\n")
            self._metrics.flush()

        self._write(self.path / METRICS, row.step, write)

    def save_checkpoint(self, trainer: Trainer) -> None:
        payload = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "model_config": trainer.model_config.to_dict(),
            "chars": list(trainer.tokenizer.chars),
            "step": trainer.step,
            "elapsed": trainer.elapsed,
            "model": trainer.cpu_state(),
            "optimizer": trainer.optimizer.state_dict(),
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        if self._resumed_config is not None:  # the settings these weights were trained with
            config, self._resumed_config = self._resumed_config, None
            self._write(self.path / CONFIG, None, lambda p: atomic_write_text(p, _dump(config)))
        self._write(
            self.path / CHECKPOINT,
            trainer.step,
            lambda p: atomic_write(p, lambda fh: fh.write(buffer.getvalue())),
        )
        self.saved_step = trainer.step

    def _write(self, path: Path, step: int | None, write) -> None:
        """write(path), its OSError turned into a RunWriteError naming what is kept."""
        try:
            write(path)
        except OSError as exc:
            raise RunWriteError(path, exc, step, self.saved_step) from exc

    @property
    def holds_no_training(self) -> bool:
        """Created by this writer, and no trained step saved in it."""
        return self._fresh and not self.saved_step

    def discard(self) -> None:
        """Remove a run this writer created that holds no training (a first step that failed):
        its files, and its folder if this writer made it. Anything else is left alone."""
        if not self.holds_no_training:
            return
        self.close()
        shutil.rmtree(snapshot_dir(self.path), ignore_errors=True)
        for name in (CHECKPOINT, METRICS, CONFIG, LOCK):
            with contextlib.suppress(OSError):
                (self.path / name).unlink()
        if self._made_folder:
            with contextlib.suppress(OSError):
                self.path.rmdir()
        self._fresh = False
        self.saved_step = None

    def close(self) -> None:
        """Close the metrics file and give the lock back; safe to call twice."""
        if self._metrics is not None:
            with contextlib.suppress(OSError):  # every line was flushed when written
                self._metrics.close()
            self._metrics = None
        self.lock.release()


def copy_run(source: str | os.PathLike, destination: str | os.PathLike) -> None:
    """Copy a run folder (Save run as…), leaving out its lock and any temp file of a save in
    flight, so the copy is not locked by the process that trains the original. Raises RunError
    when destination exists or cannot be written (a partial copy is removed)."""
    target = Path(destination)
    if target.exists():
        raise RunError(f"{target}: already exists — choose a new folder name")
    try:
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(LOCK, ".*.tmp", ".*.stale-*"))
    except (OSError, shutil.Error) as exc:
        shutil.rmtree(target, ignore_errors=True)
        why = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
        raise RunError(f"{target}: cannot copy the run there ({why}); nothing changed") from exc


def _dump(config: dict) -> str:
    return json.dumps(config, indent=2)


def file_stamp(path: Path) -> tuple[int, int] | None:
    """(mtime_ns, size) of path, None when it cannot be read: enough to tell it changed."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _metrics_has_partial_line(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return False
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) != b"\n"
    except OSError:
        return False


# --- loading ---------------------------------------------------------------------------------


def load_run(path: str | os.PathLike, with_checkpoint: bool = True) -> RunRecord:
    """Read and check a run folder. Raises RunError; never writes anything."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise RunError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise RunError(f"{folder}: is a file, not a run folder")
    config_path = folder / CONFIG
    if not config_path.is_file():
        raise RunError(f"{folder}: not a HeadWatch run (no {CONFIG})")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise RunError(f"{config_path}: not a HeadWatch run config")
        model_config = GPTConfig.from_dict(config["model"])
        train_config = TrainConfig.from_dict(config["train"])
        corpus = dict(config["corpus"])
        tokenizer = Tokenizer(tuple(corpus["chars"]))
        changes = list(config.get("changes", []))
        world_size = int(config.get("distributed", {}).get("world_size", 1))
        if world_size < 1:
            raise ValueError(f"world_size {world_size}")
    except RunError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"{config_path}: cannot be read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise RunError(f"{config_path}: is damaged (invalid JSON at line {exc.lineno})") from exc
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise RunError(f"{config_path}: is damaged or from another program ({exc})") from exc
    if tokenizer.vocab_size != model_config.vocab_size:
        raise RunError(f"{config_path}: vocabulary and model size disagree — the file is damaged")
    record = RunRecord(folder, model_config, train_config, corpus, tokenizer, read_metrics(folder))
    record.changes = changes
    record.world_size = world_size
    if with_checkpoint and (folder / CHECKPOINT).exists():
        record.checkpoint_stamp = file_stamp(folder / CHECKPOINT)
        record.checkpoint = _load_checkpoint(folder / CHECKPOINT, model_config, tokenizer)
    return record


def read_metrics(folder: Path) -> list[MetricRow]:
    """All complete lines; a line cut short by a crash (or garbage) is skipped."""
    rows = []
    try:
        text = (folder / METRICS).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return rows
    except OSError as exc:
        raise RunError(f"{folder / METRICS}: cannot be read ({exc})") from exc
    for line in text.splitlines():
        try:
            rows.append(MetricRow.from_json(line))
        except (ValueError, KeyError, TypeError):
            continue
    return rows


def _load_checkpoint(path: Path, model_config: GPTConfig, tokenizer: Tokenizer) -> dict:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated / foreign files
        raise RunError(
            f"{path}: is damaged or not a HeadWatch checkpoint ({type(exc).__name__}) — "
            "nothing was changed"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise RunError(f"{path}: is not a HeadWatch checkpoint")
    try:
        saved_config = GPTConfig.from_dict(payload["model_config"])
        chars = tuple(payload["chars"])
        step, elapsed = int(payload["step"]), float(payload["elapsed"])
        model_state = upgrade_state_dict(payload["model"])  # older module names
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise RunError(f"{path}: is incomplete ({exc})") from exc
    # dropout may change when a run is resumed; the weights do not depend on it
    if replace(saved_config, dropout=0.0) != replace(model_config, dropout=0.0):
        raise RunError(f"{path}: was made for another architecture than this run's config.json")
    if chars != tokenizer.chars:
        raise RunError(f"{path}: was made for another vocabulary than this run's config.json")
    if not _fits(model_config, model_state):
        raise RunError(f"{path}: weights do not fit the run's architecture")
    return {
        "step": step,
        "elapsed": elapsed,
        "model": model_state,
        "optimizer": payload.get("optimizer"),
    }


def _fits(model_config: GPTConfig, state: dict) -> bool:
    """Whether state holds exactly the weights, of the right shapes, of a model_config model."""
    expected = {k: v.shape for k, v in GPT.unfilled(model_config, "meta").state_dict().items()}
    return expected == {k: getattr(v, "shape", None) for k, v in state.items()}


def check_corpus(record: RunRecord, corpus: Corpus) -> str:
    """Raise RunError unless corpus is the text record was trained on (its SHA-256, or for runs
    saved before HeadWatch kept one, its vocabulary); returns a note when only the vocabulary
    could be checked, else ""."""
    if corpus.tokenizer.chars != record.tokenizer.chars:
        raise RunError(
            f"{record.path}: the corpus {corpus.name} has another vocabulary than the run — "
            "resume it on the text it was trained on"
        )
    recorded = record.corpus.get("sha256")
    if recorded is None:
        return (
            f"note: this run was saved without a fingerprint of its text, so only the "
            f"vocabulary of {corpus.name} could be checked"
        )
    if recorded != corpus.sha256:
        raise RunError(
            f"{record.path}: {corpus.name} is not the text this run was trained on (same "
            "characters, other text) — resume it on the original text, or start a new run"
        )
    return ""


def resumable_corpus(record: RunRecord) -> tuple[Corpus | None, str]:
    """The run's own corpus, if it is still there and still the same text: (corpus, note);
    else (None, why it cannot be continued). Viewing a run needs no corpus."""
    try:
        corpus = load_corpus(record.corpus.get("path"))
        return corpus, check_corpus(record, corpus)
    except (CorpusError, RunError) as exc:
        return None, str(exc)


def trainer_for(
    record: RunRecord,
    corpus: Corpus | None = None,
    *,
    model_config: GPTConfig | None = None,
    train_config: TrainConfig | None = None,
    **kwargs,
) -> Trainer:
    """A trainer holding the run's weights: on its corpus to resume, or corpus-less to inspect.

    model_config / train_config: the settings to go on with (default: the run's own; see
    resume_configs); the learning rate is theirs, not the one saved with the optimizer state.
    The device is never taken blindly from the run: where the recorded one is missing here
    (a run trained on a GPU, opened on a laptop) the trainer uses "auto".
    Raises RunError when corpus is not the run's text (check_corpus), ConfigError."""
    if corpus is not None:
        check_corpus(record, corpus)
    if train_config is None:
        train_config = record.train_config
        if not device_available(train_config.device):
            train_config = replace(train_config, device="auto")
    trainer = build_trainer(
        corpus or record.tokenizer, model_config or record.model_config, train_config, **kwargs
    )
    if record.checkpoint is not None:
        trainer.load_state(
            record.checkpoint["model"],
            record.checkpoint["optimizer"],
            record.checkpoint["step"],
            record.checkpoint["elapsed"],
        )
        for group in trainer.optimizer.param_groups:
            group["lr"] = trainer.config.learning_rate
    return trainer


def device_available(name: str) -> bool:
    """Whether resolve_device(name) works on this machine."""
    try:
        resolve_device(name)
    except ConfigError:
        return False
    return True


# Settings that cannot change when a run is resumed: its weights and vocabulary are made for them.
FIXED_ON_RESUME = ("n_layer", "n_head", "n_embd", "block_size")
# Settings a resumed run may take anew; each change is recorded in config.json (record_changes).
CHANGEABLE_ON_RESUME = (
    "learning_rate",
    "max_iters",
    "eval_interval",
    "eval_iters",
    "batch_size",
    "seed",
    "device",
    "precision",
    "dropout",
)


def resume_configs(record: RunRecord, asked: dict) -> tuple[GPTConfig, TrainConfig]:
    """The run's settings with `asked` (GPTConfig / TrainConfig field -> value) applied.

    Raises RunError for a setting in FIXED_ON_RESUME that differs from the run's, or one that
    is neither fixed nor changeable; ConfigError for a value out of range."""
    model = record.model_config
    for name in FIXED_ON_RESUME:
        if name in asked and asked[name] != getattr(model, name):
            raise RunError(
                f"{record.path}: {name} cannot change when resuming — the run's weights are "
                f"made for {name} {getattr(model, name)} (asked {asked[name]}); train a new "
                "run in another folder to change it"
            )
    unknown = sorted(set(asked) - set(FIXED_ON_RESUME) - set(CHANGEABLE_ON_RESUME))
    if unknown:
        raise RunError(f"{record.path}: {', '.join(unknown)} cannot change when resuming")
    train_changes = {k: v for k, v in asked.items() if k in CHANGEABLE_ON_RESUME}
    dropout = train_changes.pop("dropout", model.dropout)
    return replace(model, dropout=dropout), replace(record.train_config, **train_changes)
