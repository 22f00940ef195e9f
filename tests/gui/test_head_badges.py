"""The attention grid's head badges take the newest labels as soon as they are known: an
analysis that also measures the knockout losses (at a run's end, or on request) sends the labels
first, while the Heads tab still says it is analysing."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton


def test_the_badges_show_the_labels_before_the_knockout_losses_are_measured(qtbot, window):
    controller, grid = window.controller, window.attention_grid
    measure = window.head_table.findChild(QPushButton, "measureLossesButton")
    qtbot.waitUntil(  # the small settings' preview weights (the fixture's): 2 layers of 4 heads
        lambda: (
            controller.last_inspection is not None
            and controller.last_inspection.attention.shape[:2] == (2, 4)
        ),
        timeout=30_000,
    )
    seen = []

    def on_labelled(report) -> None:
        # the window's slot ran first (connected when it was built): the badges are this
        # report's, while the table still waits for the losses
        shape = range(len(report.labels)), range(len(report.labels[0]))
        seen.append(
            (
                "labelled",
                [[grid.head_label(layer, head) for head in shape[1]] for layer in shape[0]],
                not measure.isEnabled(),  # the table: analysing
                [row["delta_loss"] for row in report.rows],
            )
        )

    controller.headsLabelled.connect(on_labelled)
    controller.headsAnalysed.connect(lambda report: seen.append(("analysed", report)))
    controller.analyse_heads(losses=True)
    qtbot.waitUntil(lambda: any(kind == "analysed" for kind, *_ in seen), timeout=120_000)

    assert [kind for kind, *_ in seen] == ["labelled", "analysed"]
    _, badges, busy, deltas = seen[0]
    report = seen[1][1]
    assert badges == [[grid.head_label(layer, head) for head in range(len(row))]
                      for layer, row in enumerate(report.labels)]  # fmt: skip
    assert any(label for row in badges for label in row)
    assert busy and all(delta is None for delta in deltas)
    assert all(row["delta_loss"] is not None for row in report.rows)
    assert measure.isEnabled()
