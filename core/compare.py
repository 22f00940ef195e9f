"""Naming runs by what sets them apart, for legends and the compare table."""

from __future__ import annotations

from collections.abc import Sequence

# setting key -> short name a person recognises from the setup panel
SHORT_NAMES = {
    "n_layer": "layers",
    "n_head": "heads",
    "n_embd": "embd",
    "block_size": "block",
    "dropout": "dropout",
    "batch_size": "batch",
    "learning_rate": "lr",
    "max_iters": "iters",
    "seed": "seed",
    "corpus": "corpus",
}


def flat_settings(model: dict, train: dict, corpus_name: str) -> dict:
    return {**model, **train, "corpus": corpus_name}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def settings_summary(settings: dict) -> str:
    """Every shown setting of a run, e.g. 'layers=4 · heads=4 · embd=128 · ... · corpus=x';
    a setting the run does not have is left out."""
    return " · ".join(
        f"{short}={_fmt(settings[key])}" for key, short in SHORT_NAMES.items() if key in settings
    )


def differing_labels(settings: Sequence[dict]) -> list[str]:
    """One label per run naming the settings that differ between runs, e.g. 'heads=1 · lr=3e-3'.

    With a single run, or runs alike in every shown setting, runs are named 'run 1', 'run 2'...
    """
    keys = [k for k in SHORT_NAMES if len({_fmt(s.get(k)) for s in settings}) > 1]
    labels = []
    for i, s in enumerate(settings, start=1):
        parts = [f"{SHORT_NAMES[k]}={_fmt(s.get(k))}" for k in keys]
        labels.append(" · ".join(parts) if parts else f"run {i}")
    # runs alike in every compared setting still need distinct names
    return [
        f"{label} #{i}" if labels.count(label) > 1 else label for i, label in enumerate(labels, 1)
    ]
