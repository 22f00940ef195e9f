"""Render the app mid-training on the built-in corpus to a PNG (for the README and for review).

    python -m bench.screenshot [OUT.png] [--steps N | --run RUN] [--size WxH] [--tab TITLE]
                               [--prompt TEXT] [--scrub STEP]

Runs offscreen: trains the baby preset for N steps in the app's own training thread (or opens
the saved run RUN), with the default prompt typed (or TEXT), then grabs the whole window, with
the analysis tab TITLE shown (with --scrub, with the timeline moved back to the snapshot nearest
STEP).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="docs/screenshot.png")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--size", default="1600x1000")
    parser.add_argument("--tab", default=None, help="the analysis tab to show, e.g. Lens")
    parser.add_argument("--prompt", default=None, help="the prompt to type")
    parser.add_argument("--scrub", type=int, default=None, help="show the snapshot nearest STEP")
    parser.add_argument("--run", type=Path, default=None, help="open this run, do not train")
    args = parser.parse_args(argv)
    from PySide6.QtWidgets import QWidget

    from bench.offscreen import offscreen_window, wait_until

    app, window = offscreen_window(args.size)
    wait_until(lambda: window.controller.corpus is not None, 120)
    tabs = window.analysis_tabs
    titles = [tabs.tabText(i).replace("&", "") for i in range(tabs.count())]
    if args.tab is not None:
        if args.tab not in titles:
            parser.error(f"--tab must be one of {', '.join(titles)}")
        tabs.setCurrentIndex(titles.index(args.tab))
    if args.prompt is not None:
        window.prompt_edit.setText(args.prompt)
    controller = window.controller
    if args.run is not None:
        if not controller.open_run(args.run):
            parser.error(window.last_error)
        wait_until(lambda: controller.current is not None and controller.current.folder, 120)
    else:
        if args.steps >= window.setup.iters_spin.value():  # keep the preset unless too short
            window.setup.iters_spin.setValue(args.steps + 500)
        window.setup.eval_every_spin.setValue(100)
        window.train()
        wait_until(lambda: controller.current and controller.current.step >= args.steps, 600)
        controller.pause()
    window.request_inspection()
    step = controller.current.step
    wait_until(
        lambda: controller.last_inspection is not None and controller.last_inspection.step >= step,
        30,
    )
    # let it write something, as a user would press Sample
    sampled = []
    controller.sampled.connect(sampled.append)
    window.sample_view.findChild(QWidget, "sampleButton").click()
    wait_until(lambda: bool(sampled), 60)
    if args.tab == "Lens":  # the loss by depth on the weights shown
        measured = []
        controller.lensAnalysed.connect(measured.append)
        controller.analyse_lens()
        wait_until(lambda: bool(measured), 60)
    if args.scrub is not None:
        steps = window.timeline_bar.steps()
        index = min(range(len(steps)), key=lambda i: abs(steps[i] - args.scrub))
        window.timeline_bar.slider.setValue(index)
        wait_until(lambda: controller.last_inspection.step == steps[index], 30)
        step = steps[index]
        # the sample box is written again by that step's weights once the slider rests
        wait_until(lambda: window.sample_view.source().endswith(f"step {step:,}"), 60)
    if args.tab == "Embeddings":
        view = window.embedding_view
        wait_until(lambda: view.current is not None and view.current.step == step, 60)
    app.processEvents()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(args.out)
    print(f"wrote {args.out} at step {step}")
    window.close()
    wait_until(controller.threads_ended, 600)  # the run saves after its step in flight
    return 0


if __name__ == "__main__":
    sys.exit(main())
