"""Screenshots of head knockout and head profiles (for the README and for review).

    python -m bench.knockout_screenshots OUT_DIR [--preset baby] [--steps 400] [--run RUN]
                                                 [--sizes ...]

Runs offscreen: trains a preset for N steps in the app's own training thread and pauses (or
opens a saved run), measures the heads' knockout losses, knocks out the two heads whose loss
matters most, selects a head with a telling profile, and grabs the whole window, the Heads tab
and the profile view at each size. Prints every head's label and knockout loss.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--preset", default="baby")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--run", help="a saved run to open instead of training")
    parser.add_argument("--sizes", nargs="+", default=["1366x768", "1920x1080"])
    args = parser.parse_args(argv)
    from bench.offscreen import offscreen_window, wait_until

    app, window = offscreen_window(args.sizes[0])
    controller, table = window.controller, window.head_table
    wait_until(lambda: controller.corpus is not None, 120)
    setup = window.setup
    setup.preset_combo.setCurrentIndex(setup.preset_combo.findData(args.preset))
    setup.iters_spin.setValue(max(setup.iters_spin.value(), args.steps + 500))
    setup.eval_every_spin.setValue(100)
    window.prompt_edit.setText("ROMEO:\nBut soft, what light")
    if args.run:
        controller.open_run(args.run)
        wait_until(lambda: controller.last_inspection and controller.last_inspection.step, 120)
    else:
        window.train()
        wait_until(lambda: controller.current and controller.current.step >= args.steps, 1200)
        controller.pause()
    window.analysis_tabs.setCurrentWidget(window.heads_panel)
    wait_until(lambda: table.rows(), 120)  # the analysis that comes by itself, first
    table.findChild(object, "measureLossesButton").click()
    measured = lambda: table.rows() and all(r["delta_loss"] is not None for r in table.rows())  # noqa: E731
    wait_until(measured, 600)
    rows = table.rows()
    for row in rows:
        name = f"L{row['layer'] + 1} H{row['head'] + 1}"
        out, alone = row["delta_loss"], row["delta_loss_kept_only"]
        print(f"{name}  {row['label']:<16} Δ out {out:+.3f}  Δ alone {alone:+.3f}")
    print("mixed:", sum(r["label"] == "mixed" for r in rows), "of", len(rows))

    top = sorted(rows, key=lambda r: r["delta_loss"], reverse=True)[:2]
    for row in top:
        controller.toggle_knockout(row["layer"], row["head"])
    window.request_inspection()
    step = controller.snapshots.latest().step
    wait_until(lambda: controller.last_inspection and controller.last_inspection.step == step, 30)
    # a head named after a character class or an offset shows its profile against chance best
    telling = [r for r in rows if r["kind"] in ("char class", "offset", "same char")] or rows
    chosen = max(telling, key=lambda r: max(r["classes"]))
    window.attention_grid.select_head(chosen["layer"], chosen["head"])

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for size in args.sizes:
        window.resize(*(int(v) for v in size.split("x")))
        for _ in range(5):
            app.processEvents()
        window.grab().save(str(out / f"window-two-heads-knocked-out-{size}.png"))
        window.attention_grid.grab().save(str(out / f"grid-two-heads-knocked-out-{size}.png"))
        window.heads_panel.grab().save(str(out / f"heads-tab-{size}.png"))
        window.heads_panel.profile.grab().save(str(out / f"profile-view-{size}.png"))
    print(f"wrote {out} at step {controller.current.step}; run in {controller.current.folder}")
    window.close()
    wait_until(controller.threads_ended, 600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
