"""ShownAnalyses asks again only when the model on show changed and the tab shows it, and
passes on only the answer to its newest request."""

from __future__ import annotations

from headwatch.core.head_knockout import Knockout
from headwatch.gui.shown_analyses import ShownAnalyses


def test_requests_follow_the_model_on_show_and_only_the_newest_answer_passes(qtbot):
    shown = [None, Knockout()]
    part = ShownAnalyses(lambda: tuple(shown))
    units, lenses, painted = [], [], []
    part.analyseUnit.connect(units.append)
    part.analyseLens.connect(lenses.append)
    part.unitAnalysed.connect(painted.append)

    part.model_changed()  # no unit chosen, no tab on show: nothing to ask
    assert units == lenses == []
    part.analyse_unit(1, 7)
    first = units[-1]
    assert first.unit == (1, 7) and first.viewed is None and first.is_current()
    part.show_unit(True)  # the same model: not asked twice
    assert len(units) == 1

    shown[0] = ("run", 20)  # the slider rests on step 20
    part.model_changed()
    assert len(units) == 2 and units[-1].viewed == ("run", 20) and lenses == []
    assert not first.is_current()
    part.on_unit_analysed((first, "old"))
    part.on_unit_analysed((units[-1], "new"))
    assert painted == ["new"]

    part.show_lens(True)
    shown[1] = Knockout(frozenset({(0, 1)}), "zero")
    part.model_changed()
    assert len(units) == 3 and lenses[-1].knockout.heads == {(0, 1)}
    part.model_changed()  # nothing changed since
    assert len(units) == 3 and len(lenses) == 1

    part.show_unit(False)
    shown[0] = None  # Live again, the Unit tab hidden: asked when it shows
    part.model_changed()
    assert len(units) == 3 and len(lenses) == 2
    part.show_unit(True)
    assert len(units) == 4 and units[-1].viewed is None

    part.forget_unit()  # another run: its model may have no such unit
    shown[0] = ("run", 10)
    part.model_changed()
    assert len(units) == 4 and len(lenses) == 3


def test_the_sample_is_written_again_by_each_model_on_show_while_its_box_shows(qtbot):
    shown = [None, Knockout()]
    part = ShownAnalyses(lambda: tuple(shown))
    writes, steps, shown_samples = [], [], []
    part.writeSample.connect(writes.append)
    part.sampling.connect(steps.append)
    part.sampled.connect(shown_samples.append)

    shown[0] = ("run", 20)
    part.model_changed()  # no sample asked for yet: nothing to write again
    assert writes == []
    part.sample("ROMEO:", 0.0, 40)
    first = writes[-1]
    assert first.sample == ("ROMEO:", 0.0, 40) and first.viewed == ("run", 20) and steps == [20]
    part.model_changed()  # the same model: not written twice
    assert len(writes) == 1

    shown[0] = None  # Live: written again by the newest weights, the older answer dropped
    part.model_changed()
    assert len(writes) == 2 and writes[-1].viewed is None and steps[-1] is None
    part.on_sampled((first, "step 20's"))
    part.on_sampled((writes[-1], "the newest"))
    assert shown_samples == ["the newest"]

    shown[1] = Knockout(frozenset({(0, 1)}), "zero")  # a knockout: written again without it
    part.model_changed()
    assert len(writes) == 3 and writes[-1].knockout.heads == {(0, 1)}
    assert writes[-1].sample == ("ROMEO:", 0.0, 40)

    part.show_sample(False)  # another tab: written when the box shows again
    shown[0] = ("run", 10)
    part.model_changed()
    assert len(writes) == 3
    part.show_sample(True)
    assert len(writes) == 4 and writes[-1].viewed == ("run", 10)

    part.forget_sample()  # another run: its box is empty
    shown[0] = None
    part.model_changed()
    assert len(writes) == 4
