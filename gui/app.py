"""The `headwatch` command: a subcommand runs the CLI (no Qt loaded); none opens the window."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from importlib import resources

from core.cli import main as cli_main
from core.paths import log_dir

SUBCOMMANDS = {"train", "inspect", "sample", "-h", "--help"}


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
    return (resources.files("assets") / "style.qss").read_text(encoding="utf-8")


def run_app(argv: Sequence[str]) -> int:
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    setup_logging()
    app = QApplication.instance() or QApplication(list(argv))
    app.setApplicationName("HeadWatch")
    app.setOrganizationName("HeadWatch")
    app.setStyleSheet(stylesheet())
    window = MainWindow()
    window.show()
    code = app.exec()
    # tear down in order: threads are joined in closeEvent; delete the window before the app
    window.shutdown()
    window.deleteLater()
    del window
    app.processEvents()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and (args[0] in SUBCOMMANDS or not args[0].startswith("-")):
        return cli_main(args)
    return run_app([sys.argv[0], *args])


if __name__ == "__main__":
    sys.exit(main())
