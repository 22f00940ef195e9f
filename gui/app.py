"""The `headwatch` command: a subcommand runs the CLI (no Qt loaded); none opens the window."""

from __future__ import annotations

import ctypes.util
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from headwatch.core.paths import log_dir
from headwatch.core.performance import keep_freed_memory

if TYPE_CHECKING:  # the CLI never loads Qt
    from PySide6.QtWidgets import QApplication

    from headwatch.gui.main_window import MainWindow

SUBCOMMANDS = {"train", "inspect", "sample", "ladder", "heads", "lens", "follow"}
CLI_OPTIONS = {"-h", "--help", "--version"}  # the CLI parser's own: they open no window


def setup_logging() -> None:
    """Warnings and errors (training-thread failures included) go to the user's log file."""
    folder = log_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(folder / "headwatch.log", encoding="utf-8")
    except OSError:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s: %(message)s"))
    logger = logging.getLogger("headwatch")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)


def stylesheet() -> str:
    return (resources.files("headwatch.assets") / "style.qss").read_text(encoding="utf-8")


def display_problem() -> str | None:
    """Why Qt could not open a window here, said before Qt aborts the process over it."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or platform not in ("", "xcb"):
        return None
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return (
            "no display found (DISPLAY is not set). Run HeadWatch on a desktop, under Xvfb "
            "(xvfb-run make run), or headless with QT_QPA_PLATFORM=offscreen."
        )
    if os.environ.get("WAYLAND_DISPLAY"):
        return None
    missing = missing_xcb_libraries()
    if missing:
        return (
            f"Qt's X11 plugin needs system libraries that are missing: {', '.join(missing)}. "
            f"On Debian/Ubuntu: sudo apt-get install {' '.join(XCB_PACKAGES)}"
        )
    return None


# Debian/Ubuntu packages with the libraries Qt's xcb plugin loads (libxcb-cursor0 since Qt 6.5).
XCB_PACKAGES = (
    "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0",
    "libxcb-render-util0", "libxcb-shape0", "libxcb-xinerama0", "libxcb-xkb1",
    "libxkbcommon-x11-0", "libegl1", "libfontconfig1", "libdbus-1-3",
)  # fmt: skip


def missing_xcb_libraries() -> list[str]:
    """Libraries that Qt's xcb platform plugin links to but this system lacks (via ldd)."""
    import PySide6

    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    missing = [] if ctypes.util.find_library("xcb-cursor") else ["libxcb-cursor.so.0"]
    if not plugin.exists() or shutil.which("ldd") is None:
        return missing
    try:
        out = subprocess.run(
            ["ldd", str(plugin)], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return missing
    missing += [line.split()[0] for line in out.splitlines() if "not found" in line]
    return sorted(set(missing))


# Qt's own command-line options (QGuiApplication's, QApplication's, X11's), which Qt takes
# with one dash or two: left for Qt, while any other `--option` is a mistyped one of the window's.
QT_OPTIONS = frozenset(
    {
        "platform", "platformpluginpath", "platformtheme", "plugin", "qmljsdebugger",
        "qwindowgeometry", "qwindowicon", "qwindowtitle", "reverse", "session", "display",
        "geometry", "style", "stylesheet", "widgetcount", "nograb", "dograb", "sync", "name",
    }
)  # fmt: skip


def window_options(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """(the run folder of `--follow RUN_DIR` or `--follow=RUN_DIR`, or None; the other
    arguments, left for Qt). Raises ValueError when --follow has no folder, or for an option
    with two dashes that is neither the window's nor Qt's (see QT_OPTIONS)."""
    rest, follow = [], None
    args = iter(argv)
    for arg in args:
        if arg == "--follow":
            follow = next(args, None)
            if follow is None or follow.startswith("-"):
                raise ValueError("--follow needs a run folder: headwatch --follow RUN_DIR")
        elif arg.startswith("--follow="):
            follow = arg.removeprefix("--follow=")
        elif arg.startswith("--") and arg[2:].partition("=")[0] not in {"", *QT_OPTIONS}:
            raise ValueError(
                f"unknown option {arg.partition('=')[0]} — the window takes --follow RUN_DIR; "
                "headwatch --help lists the commands"
            )
        else:
            rest.append(arg)
    if follow == "":
        raise ValueError("--follow needs a run folder: headwatch --follow RUN_DIR")
    return follow, rest


def open_window(argv: Sequence[str]) -> tuple[QApplication, MainWindow]:
    """The application (argv as Qt takes it) and its styled main window, not yet shown.

    Closing the window hides it at once and asks the threads to end; the event loop runs on
    (delivering the training thread's last signals) until they have, then the app quits."""
    from PySide6.QtWidgets import QApplication

    from headwatch.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(list(argv))
    app.setApplicationName("HeadWatch")
    app.setOrganizationName("HeadWatch")
    app.setStyleSheet(stylesheet())
    window = MainWindow()
    app.setQuitOnLastWindowClosed(False)
    window.controller.allThreadsEnded.connect(app.quit)
    return app, window


def run_app(argv: Sequence[str]) -> int:
    """The window: argv as Qt takes it (the program first) with the window's own options.
    Returns the exit code; 2, before any window opens, for a wrong option or run folder or when
    no window can open here (one line on stderr saying what to do)."""
    from headwatch.core.follow import check_followable  # here: it loads torch (seconds)
    from headwatch.core.storage import RunError

    try:
        follow, argv = window_options(argv)
        if follow is not None:  # as `headwatch follow` says it, not later inside the window
            check_followable(Path(follow))
    except (ValueError, RunError) as exc:
        print(f"headwatch: error: {exc}", file=sys.stderr)
        return 2
    problem = display_problem()
    if problem:
        print(f"headwatch: cannot open the window: {problem}", file=sys.stderr)
        return 2
    setup_logging()
    app, window = open_window(argv)
    window.follow_at_start = follow
    window.show()
    code = app.exec()
    window.deleteLater()
    del window
    app.processEvents()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """The `headwatch` command (and `python -m headwatch`): a subcommand, --help or --version
    runs the CLI, anything else the window. Returns the exit code; a Ctrl+C before either handles
    it (while Python still loads torch, seconds) is one line and 130, the shell's code for it,
    not a traceback."""
    keep_freed_memory()  # before any other thread has allocated: see core/performance.py
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and (args[0] in SUBCOMMANDS | CLI_OPTIONS or not args[0].startswith("-")):
            from headwatch.core.cli import (
                main as cli_main,  # the CLI never loads Qt; the app loads torch later
            )

            return cli_main(args)
        return run_app([sys.argv[0], *args])
    except KeyboardInterrupt:
        if os.environ.get("RANK", "0") == "0":  # under torchrun, said once
            sys.stderr.write("headwatch: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
