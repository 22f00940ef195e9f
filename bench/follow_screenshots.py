"""Screenshots of the Unit tab and the Lens tab following the timeline and the knockout.

    python -m bench.follow_screenshots OUT_DIR --run RUN [--scrub STEP] [--unit L.U]
                                       [--knockout L.H,...] [--sizes ...]

Runs offscreen: opens the saved run RUN, clicks a feed-forward unit (layer.unit, 1-based layer),
moves the timeline to the snapshot nearest STEP, knocks out the heads given (1-based, as
`headwatch inspect --knockout`), and grabs the whole window with the Unit tab and with the Lens
tab at each size. Prints each tab's caption.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--scrub", type=int, default=100, help="show the snapshot nearest STEP")
    parser.add_argument("--unit", default="2.7", help="LAYER.UNIT, the layer from 1")
    parser.add_argument("--knockout", default="1.1,1.2", help="heads L.H,... (from 1)")
    parser.add_argument("--sizes", nargs="+", default=["1366x768", "1920x1080"])
    args = parser.parse_args(argv)
    from PySide6.QtWidgets import QLabel

    from bench.offscreen import offscreen_window, wait_until

    app, window = offscreen_window(args.sizes[0])
    c, bar, panel = window.controller, window.timeline_bar, window.lens_panel
    wait_until(lambda: c.corpus is not None, 120)
    window.prompt_edit.setText("ROMEO:\nBut soft, what light")
    if not c.open_run(args.run):
        parser.error(f"cannot open {args.run}")
    wait_until(lambda: c.current is not None and c.current.folder and bar.steps(), 120)
    step = min(bar.steps(), key=lambda s: abs(s - args.scrub))
    header = window.neuron_view.findChild(QLabel, "neuronHeader")
    layer, unit = (int(v) for v in args.unit.split("."))
    window.ffn_view.unitSelected.emit(layer - 1, unit)
    bar.slider.setValue(bar.steps().index(step))
    for spec in filter(None, args.knockout.split(",")):
        head_layer, head = (int(v) for v in spec.split("."))
        c.toggle_knockout(head_layer - 1, head - 1)
    knocked = ", ".join(f"L{s.split('.')[0]}·H{s.split('.')[1]}" for s in args.knockout.split(","))
    wanted = f"weights at step {step:,}" + (f", {knocked} knocked out" if args.knockout else "")
    if not wait_until(lambda: wanted in header.text(), 300):
        print("the Unit tab did not follow:", header.text())
        return 1
    window.analysis_tabs.setCurrentWidget(panel)
    shown = f"step {step:,} · {knocked}" if args.knockout else f"step {step:,} · last"
    wait_until(lambda: panel.description.text().startswith(shown), 300)
    wait_until(lambda: c.last_inspection and c.last_inspection.step == step, 60)

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for size in args.sizes:
        window.resize(*(int(v) for v in size.split("x")))
        for tab, name in ((window.neuron_view, "unit"), (panel, "lens")):
            window.analysis_tabs.setCurrentWidget(tab)
            wait_until(lambda: not panel.description.text().startswith("Measuring"), 300)
            for _ in range(5):
                app.processEvents()
            window.grab().save(str(out / f"{name}-tab-step{step}-knockout-{size}.png"))
    print("Unit tab:", header.text())
    print("Lens tab:", panel.description.text())
    window.close()
    wait_until(c.threads_ended, 600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
