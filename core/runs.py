"""A run is a folder: config.json, metrics.jsonl and checkpoint.pt.

Writes are crash-safe: checkpoint and config are replaced atomically (temp file + os.replace), and
metrics are appended a whole line at a time, so a killed process leaves the last good checkpoint
and every completed metrics line. Loading never writes; a damaged folder gives a RunError.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import torch
from headwatch.core.corpus import Corpus, Tokenizer
from headwatch.core.model import GPT, ConfigError, GPTConfig, upgrade_state_dict
from headwatch.core.paths import runs_dir
from headwatch.core.storage import RunError, atomic_write, atomic_write_text
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

    @property
    def step(self) -> int:
        return self.checkpoint["step"] if self.checkpoint else 0

    def build_model(self) -> GPT:
        if self.checkpoint is None:
            raise RunError(f"{self.path}: has no checkpoint yet, so there are no weights to load")
        model = GPT.unfilled(self.model_config)
        model.load_state_dict(self.checkpoint["model"])
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
    """Owns one run folder while a trainer fills it."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._metrics: IO[str] | None = None

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        corpus: Corpus,
        model_config: GPTConfig,
        train_config: TrainConfig,
    ) -> RunWriter:
        target = Path(path)
        if target.exists() and not target.is_dir():
            raise RunError(f"{target}: exists and is not a folder — choose another output folder")
        if is_run_dir(target):
            raise RunError(
                f"{target}: already holds a run — resume it, or choose another output folder"
            )
        try:
            target.mkdir(parents=True, exist_ok=True)
            writer = cls(target)
            config = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "model": model_config.to_dict(),
                "train": train_config.to_dict(),
                "corpus": {
                    "name": corpus.name,
                    "path": corpus.path,
                    "characters": len(corpus.text),
                    "chars": list(corpus.tokenizer.chars),
                },
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            atomic_write_text(target / CONFIG, json.dumps(config, indent=2))
        except OSError as exc:
            raise RunError(f"{target}: cannot write the run there ({exc.strerror or exc})") from exc
        return writer

    @classmethod
    def reopen(cls, record: RunRecord) -> RunWriter:
        """Continue a loaded run: metrics past its checkpoint (a crash's leftovers) are dropped."""
        writer = cls(record.path)
        for stale in record.path.glob(".*.tmp"):  # a save cut short by a crash
            with contextlib.suppress(OSError):
                stale.unlink()
        kept = [row for row in record.metrics if row.step <= record.step]
        if len(kept) != len(record.metrics) or _metrics_has_partial_line(record.path / METRICS):
            atomic_write_text(record.path / METRICS, "".join(r.to_json() + "\n" for r in kept))
        record.metrics = kept
        return writer

    def append(self, row: MetricRow) -> None:
        if self._metrics is None:
            self._metrics = open(self.path / METRICS, "a", encoding="utf-8")  # noqa: SIM115
        # one write + flush per completed line: a crash can only lose the line being written
        self._metrics.write(row.to_json() + "\n")
        self._metrics.flush()

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
        atomic_write(self.path / CHECKPOINT, lambda fh: fh.write(buffer.getvalue()))

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None


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
    if with_checkpoint and (folder / CHECKPOINT).exists():
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
    if saved_config != model_config:
        raise RunError(f"{path}: was made for another architecture than this run's config.json")
    if chars != tokenizer.chars:
        raise RunError(f"{path}: was made for another vocabulary than this run's config.json")
    expected = {k: v.shape for k, v in GPT.unfilled(model_config, "meta").state_dict().items()}
    got = {k: getattr(v, "shape", None) for k, v in model_state.items()}
    if expected != got:
        raise RunError(f"{path}: weights do not fit the run's architecture")
    return {
        "step": step,
        "elapsed": elapsed,
        "model": model_state,
        "optimizer": payload.get("optimizer"),
    }


def trainer_for(record: RunRecord, corpus: Corpus | None = None, **kwargs) -> Trainer:
    """A trainer holding the run's weights: on its corpus to resume, or corpus-less to inspect."""
    if corpus is not None and corpus.tokenizer.chars != record.tokenizer.chars:
        raise RunError(
            f"{record.path}: the corpus {corpus.name} has another vocabulary than the run — "
            "resume it on the text it was trained on"
        )
    trainer = Trainer(
        corpus or record.tokenizer, record.model_config, record.train_config, **kwargs
    )
    if record.checkpoint is not None:
        trainer.load_state(
            record.checkpoint["model"],
            record.checkpoint["optimizer"],
            record.checkpoint["step"],
            record.checkpoint["elapsed"],
        )
    return trainer
