"""Where HeadWatch keeps runs, caches and logs (platformdirs; HEADWATCH_HOME overrides)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "headwatch"


def _base(kind: str) -> Path:
    home = os.environ.get("HEADWATCH_HOME")
    if home:
        return Path(home) / kind
    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP, appauthor=False))


def data_dir() -> Path:
    return _base("data")


def runs_dir() -> Path:
    return data_dir() / "runs"


def cache_dir() -> Path:
    override = os.environ.get("HEADWATCH_CACHE")
    return Path(override) if override else _base("cache")


def config_dir() -> Path:
    return _base("config")


def log_dir() -> Path:
    return _base("log")
