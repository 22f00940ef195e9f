"""The wheel installs one top-level package, `headwatch`, and its command works from a plain
(non-editable) install."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy: setuptools' build/ folder in the checkout could hold files since deleted
    source = tmp_path_factory.mktemp("source") / "headwatch"
    skip = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", ".*cache")
    shutil.copytree(ROOT, source, ignore=skip)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (built,) = out.glob("headwatch-*.whl")
    return built


def test_wheel_installs_headwatch_alone(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"headwatch"}
    for part in ("headwatch/core/cli.py", "headwatch/gui/app.py", "headwatch/assets/style.qss"):
        assert part in names
    # only for tests and benchmarks: the naive reference model, the screenshot tool and image
    assert not [n for n in names if "reference" in n or "screenshot" in n]


def test_command_runs_from_the_installed_wheel(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # torch, Qt and the rest from the test environment; headwatch itself only from the wheel
    # (a path line in a .pth file adds the folder but runs none of its .pth files, so the
    # editable install there stays out)
    Path(site, "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    result = subprocess.run(
        [str(env_dir / "bin" / "headwatch"), "--help"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: headwatch")
    where = subprocess.run(
        [str(python), "-c", "import headwatch.core as c; print(c.__file__, c.__version__)"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    path, version = where.stdout.split()
    assert Path(path).is_relative_to(env_dir) and version != "unknown"
