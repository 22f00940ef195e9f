"""The Unit tab's analysis, the Lens tab's loss by depth and the sample of text, kept on the model
the views show.

The prompt views show the timeline's viewed snapshot (or the newest weights) with the knocked-out
heads removed; these analyses measure that same model, and the sample is written by it.
ShownAnalyses remembers the unit chosen, the sample asked for (prompt, temperature, length) and
which tabs are on show, asks the analysis thread again when the model on show changes (the slider
rests on a step, Live, a knockout) and the tab shows it, and passes on only the answer to the
newest request: an older one still in the queue is skipped by the analysis thread, and one that
was in flight is dropped here. AppController owns it and hands it only `shown()`: what the views
show now, as (viewed, knockout).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, SignalInstance, Slot

from headwatch.gui.messages import ShownRequest

if TYPE_CHECKING:
    from headwatch.core.head_knockout import Knockout

# what the views show: (run folder, step) on the timeline or None (the newest), the knockout
Shown = tuple["tuple[str, int] | None", "Knockout"]


def _key(viewed: tuple[str, int] | None, knockout: Knockout) -> tuple:
    """What makes two requests measure the same model."""
    return viewed, knockout.heads, knockout.ablation, id(knockout.corpus)


class ShownAnalyses(QObject):
    """See the module docstring. unitAnalysing/lensAnalysing/sampling say a request was made;
    unitAnalysed/lensAnalysed/sampled carry the answer to the newest one only."""

    unitAnalysing = Signal()
    unitAnalysed = Signal(object)  # core.inspection.UnitReport
    lensAnalysing = Signal()
    lensAnalysed = Signal(object)  # core.inspection.DepthLosses
    sampling = Signal(object)  # the viewed step the sample is written at; None: the newest
    sampled = Signal(object)  # gui.messages.Sample
    # to the analysis thread
    analyseUnit = Signal(object)  # ShownRequest with a unit
    analyseLens = Signal(object)  # ShownRequest
    writeSample = Signal(object)  # ShownRequest with a sample

    def __init__(self, shown: Callable[[], Shown], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._shown = shown
        self._unit: tuple[int, int] | None = None  # (layer, unit) chosen, 0-based
        self._sample: tuple[str, float, int] | None = None  # (prompt, temperature, characters)
        self._unit_shown = self._lens_shown = False
        self._sample_shown = True  # the Predictions tab, the window's first
        self._versions = {"unit": 0, "lens": 0, "sample": 0}  # of the newest request of each kind
        self._measured: dict[str, tuple | None] = {"unit": None, "lens": None, "sample": None}

    def analyse_unit(self, layer: int, unit: int) -> None:
        """The contexts that excite hidden unit `unit` of layer `layer` (0-based) most, on the
        model on show; it follows that model from now on while the Unit tab shows."""
        self._unit = (layer, unit)
        self._request("unit")

    def forget_unit(self, *_run: object) -> None:
        """Another run is on show: the unit chosen on the one before is followed no more (the
        new model may not have it)."""
        self._unit = None

    def analyse_lens(self) -> None:
        """Measure the loss by depth of the model on show."""
        self._request("lens")

    def show_unit(self, shown: bool) -> None:
        """The Unit tab came into view (or left it): coming into view, the unit is analysed
        again if the model on show changed since."""
        self._unit_shown = shown
        if shown:
            self.model_changed(lens=False)

    def show_lens(self, shown: bool) -> None:
        self._lens_shown = shown

    def sample(self, prompt: str, temperature: float, n_chars: int) -> None:
        """Write n_chars characters after prompt at temperature with the model on show; while
        the sample box shows, a new sample follows that model from now on."""
        self._sample = (prompt, temperature, n_chars)
        self._request("sample")

    def forget_sample(self, *_run: object) -> None:
        """The sample box was emptied (another run): no sample to write again."""
        self._sample = None
        self._measured["sample"] = None

    def show_sample(self, shown: bool) -> None:
        """The sample box came into view (or left it): coming into view, the sample is written
        again if the model on show changed since."""
        self._sample_shown = shown
        if shown:
            self.model_changed(unit=False, lens=False)

    def model_changed(self, unit: bool = True, lens: bool = True, sample: bool = True) -> None:
        """The model on show changed (a step viewed, Live, a knockout): each analysis on show
        that measured another model is asked again, and the sample shown written again."""
        if unit and self._unit is not None and self._unit_shown:
            self._request("unit", only_if_changed=True)
        if lens and self._lens_shown:
            self._request("lens", only_if_changed=True)
        if sample and self._sample is not None and self._sample_shown:
            self._request("sample", only_if_changed=True)

    def _request(self, kind: str, only_if_changed: bool = False) -> None:
        viewed, knockout = self._shown()
        key = _key(viewed, knockout)
        if only_if_changed and key == self._measured[kind]:
            return
        self._measured[kind] = key
        self._versions[kind] += 1
        version = self._versions[kind]
        request = ShownRequest(
            viewed,
            knockout,
            lambda: self._versions[kind] == version,
            self._unit if kind == "unit" else None,
            self._sample if kind == "sample" else None,
        )
        if kind == "unit":
            self.unitAnalysing.emit()
            self.analyseUnit.emit(request)
        elif kind == "sample":
            self.sampling.emit(viewed[1] if viewed else None)
            self.writeSample.emit(request)
        else:
            self.lensAnalysing.emit()
            self.analyseLens.emit(request)

    @Slot(object)
    def on_unit_analysed(self, answer: tuple[ShownRequest, object]) -> None:
        self._pass_on(answer, self.unitAnalysed)

    @Slot(object)
    def on_lens_analysed(self, answer: tuple[ShownRequest, object]) -> None:
        self._pass_on(answer, self.lensAnalysed)

    @Slot(object)
    def on_sampled(self, answer: tuple[ShownRequest, object]) -> None:
        self._pass_on(answer, self.sampled)

    @staticmethod
    def _pass_on(answer: tuple[ShownRequest, object], signal: SignalInstance) -> None:
        """signal(the answer), unless a newer request was made since it was asked."""
        request, result = answer
        if request.is_current():
            signal.emit(result)
