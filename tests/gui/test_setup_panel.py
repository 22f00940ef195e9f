"""SetupPanel: presets, heads that divide n_embd, validation messages, run states, settings."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QValidator
from PySide6.QtWidgets import QSpinBox, QStyle, QStyleOptionSpinBox, QVBoxLayout, QWidget

from headwatch.core.compare import flat_settings
from headwatch.core.corpus import Corpus
from headwatch.core.model import ConfigError, GPTConfig
from headwatch.core.trainer import TrainConfig
from headwatch.gui.messages import Progress, RunState
from headwatch.gui.setup_panel import (
    CANNOT_START,
    CORPUS_LOADING,
    CUSTOM,
    ERROR_COLOUR,
    NO_CORPUS,
    NO_RUN,
    PRESETS,
    RETRAIN_HINT,
    RETRAIN_TIP,
    RUN_IN_PROGRESS,
    RUN_STOPPING,
    STOP_TIP,
    TRAIN_TIP,
    SetupPanel,
)
from tests.gui.conftest import stop_training

# ~4.4k characters: the validation tenth (~440) holds a window of the lecture's block size 256
TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
) * 55


@pytest.fixture
def corpus() -> Corpus:
    return Corpus(name="t", text=TEXT)


@pytest.fixture
def panel(qtbot) -> SetupPanel:
    widget = SetupPanel()
    qtbot.addWidget(widget)
    return widget


@pytest.fixture
def ready(panel, corpus) -> SetupPanel:
    panel.set_corpus(corpus)
    return panel


def head_items(panel: SetupPanel) -> list[int]:
    return [panel.heads_combo.itemData(i) for i in range(panel.heads_combo.count())]


def preset_fields(panel: SetupPanel) -> dict:
    settings = panel.settings()
    return {key: settings[key] for key in PRESETS["baby"]}


def test_defaults_are_the_baby_preset(panel):
    assert panel.objectName() == "setupPanel"
    assert panel.preset() == "baby"
    assert panel.preset_combo.currentText() == "baby"
    assert preset_fields(panel) == PRESETS["baby"]
    assert panel.eval_every_spin.value() == 200
    assert panel.eval_iters_spin.value() == 50
    assert panel.seed_spin.value() == 1337
    assert [panel.device_combo.itemText(i) for i in range(panel.device_combo.count())] == [
        "auto",
        "cpu",
    ]
    assert panel.head_size_label.text() == "head size 32"
    labels = [panel.preset_combo.itemText(i) for i in range(panel.preset_combo.count())]
    assert labels == ["tiny", "baby", "lecture (GPU recommended)", CUSTOM]
    for name in ("corpusLabel", "openCorpusButton", "builtinCorpusButton", "layersSpin",
                 "embdSpin", "headsCombo", "headSizeLabel", "blockSpin", "batchSpin", "lrSpin",
                 "itersSpin", "evalEverySpin", "evalItersSpin", "dropoutSpin", "seedSpin",
                 "deviceCombo", "trainButton", "pauseButton", "stopButton", "retrainButton",
                 "progressBar", "progressLabel", "validationLabel", "presetCombo"):  # fmt: skip
        assert panel.findChild(QWidget, name) is not None, name


def test_without_a_corpus_train_waits_and_model_config_says_why(panel):
    assert panel.errors() == [NO_CORPUS]
    assert not panel.train_button.isEnabled()
    assert not panel.retrain_button.isEnabled()
    with pytest.raises(ConfigError, match="no corpus"):
        panel.model_config()


def test_heads_offer_only_divisors_of_n_embd_up_to_64(ready):
    assert head_items(ready) == [1, 2, 4, 8, 16, 32, 64]
    ready.embd_spin.setValue(96)
    assert head_items(ready) == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48]
    assert ready.heads() == 4  # still divides 96: kept
    assert ready.head_size_label.text() == "head size 24"
    ready.heads_combo.setCurrentIndex(head_items(ready).index(12))
    assert ready.head_size_label.text() == "head size 8"


def test_heads_move_to_the_nearest_divisor_and_back_when_n_embd_allows(ready):
    ready.embd_spin.setValue(130)  # not a multiple of 8: typed values are allowed
    assert ready.embd_spin.value() == 130
    assert head_items(ready) == [1, 2, 5, 10, 13, 26]
    assert ready.heads() == 5  # nearest to the 4 chosen
    assert ready.head_size_label.text() == "head size 26"
    assert ready.errors() == []
    ready.embd_spin.setValue(128)
    assert ready.heads() == 4  # the user's choice comes back


def test_choosing_a_preset_sets_every_field(ready):
    for name, values in PRESETS.items():
        ready.preset_combo.setCurrentIndex(ready.preset_combo.findData(name))
        assert ready.preset() == name
        assert preset_fields(ready) == pytest.approx(values)
    assert ready.head_size_label.text() == "head size 64"  # lecture: 384 / 6
    assert ready.errors() == []
    ready.apply_preset("tiny")
    assert preset_fields(ready) == pytest.approx(PRESETS["tiny"])
    with pytest.raises(ValueError, match="unknown preset"):
        ready.apply_preset("huge")


def test_editing_a_field_makes_the_preset_custom(ready):
    ready.layers_spin.setValue(5)
    assert ready.preset() == CUSTOM
    assert ready.preset_combo.currentText() == CUSTOM
    ready.layers_spin.setValue(4)  # matches baby again
    assert ready.preset() == "baby"
    ready.seed_spin.setValue(7)  # not part of a preset
    assert ready.preset() == "baby"
    # "custom" reflects the fields; it cannot be picked
    custom_item = ready.preset_combo.model().item(ready.preset_combo.findData(CUSTOM))
    assert not custom_item.isEnabled()


def test_zero_learning_rate_says_why_and_disables_train(ready, qtbot):
    assert ready.train_button.isEnabled()
    ready.lr_spin.setValue(0)
    assert any("learning rate must be above 0" in problem for problem in ready.errors())
    assert ready.validation_label.isVisibleTo(ready)
    assert "learning rate must be above 0" in ready.validation_label.text()
    assert not ready.train_button.isEnabled()
    assert not ready.retrain_button.isEnabled()
    with pytest.raises(ConfigError, match="learning rate"):
        ready.train_config()
    ready.lr_spin.setValue(1e-3)
    assert ready.errors() == []
    assert not ready.validation_label.isVisibleTo(ready)
    assert ready.train_button.isEnabled()


def test_learning_rate_is_typed_and_shown_in_scientific_notation(ready, qtbot):
    spin = ready.lr_spin
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "3e-4")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert spin.value() == pytest.approx(3e-4)
    assert spin.text() == "3e-4"
    assert ready.train_config().learning_rate == pytest.approx(3e-4)
    assert spin.validate("3e-", 3) == QValidator.State.Intermediate
    assert spin.validate("abc", 3) == QValidator.State.Invalid
    assert spin.validate("0.01", 4) == QValidator.State.Acceptable
    spin.stepBy(1)  # half-decade steps: 3e-4 -> 1e-3 -> 3e-3
    assert spin.value() == pytest.approx(1e-3)
    spin.stepBy(1)
    assert spin.text() == "3e-3"
    spin.stepBy(-3)
    assert spin.value() == pytest.approx(1e-4)


def test_block_longer_than_a_tiny_corpus_allows_says_so(panel):
    panel.set_corpus(Corpus(name="tiny", text="hello world " * 20))  # validation part: 24
    assert panel.block_spin.value() == 64
    (problem,) = panel.errors()
    assert "too short for block size 64" in problem
    assert "validation part has 24 characters" in problem
    assert problem in panel.validation_label.text()
    assert not panel.train_button.isEnabled()
    panel.block_spin.setValue(16)
    assert panel.errors() == []
    assert panel.train_button.isEnabled()


def test_configs_carry_the_fields(ready, corpus):
    ready.apply_preset("tiny")
    ready.dropout_spin.setValue(0.1)
    ready.seed_spin.setValue(42)
    ready.eval_every_spin.setValue(100)
    ready.eval_iters_spin.setValue(20)
    ready.set_devices(["auto", "cpu", "cuda"])
    ready.device_combo.setCurrentText("cpu")
    assert ready.train_config().precision == "auto"  # the default: bf16 where the CPU has it
    ready.precision_combo.setCurrentText("fp32")
    assert ready.model_config() == GPTConfig(
        vocab_size=corpus.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.1
    )
    assert ready.train_config() == TrainConfig(
        learning_rate=3e-3, batch_size=16, max_iters=1000, eval_interval=100, eval_iters=20,
        seed=42, device="cpu", precision="fp32",
    )  # fmt: skip


def test_states_set_the_buttons(ready):
    def enabled() -> dict[str, bool]:
        buttons = ("train", "pause", "stop", "retrain")
        return {b: getattr(ready, f"{b}_button").isEnabled() for b in buttons}

    assert enabled() == {"train": True, "pause": False, "stop": False, "retrain": True}
    assert not ready.retrain_hint.isVisibleTo(ready)
    ready.set_state("training")
    assert enabled() == {"train": False, "pause": True, "stop": True, "retrain": True}
    assert ready.pause_button.text() == "Pause"
    assert ready.layers_spin.isEnabled()  # architecture stays editable, for Retrain
    ready.set_state("paused")
    assert enabled() == {"train": False, "pause": True, "stop": True, "retrain": True}
    assert ready.pause_button.text() == "Resume"
    ready.set_state("stopping")  # Stop still cancels a Retrain waiting for the stop
    assert enabled() == {"train": False, "pause": False, "stop": True, "retrain": True}
    ready.set_state(RunState.IDLE)
    assert enabled() == {"train": True, "pause": False, "stop": False, "retrain": True}
    assert ready.pause_button.text() == "Pause"
    with pytest.raises(ValueError, match="unknown state"):
        ready.set_state("running")


def test_a_disabled_run_button_says_why_in_its_tooltip(panel, corpus):
    no_corpus = CANNOT_START + NO_CORPUS
    assert panel.why_not(panel.train_button) == no_corpus
    assert panel.train_button.toolTip() == f"{TRAIN_TIP}\n{no_corpus}"
    assert panel.why_not(panel.stop_button) == NO_RUN
    assert panel.stop_button.toolTip() == f"{STOP_TIP}\n{NO_RUN}"
    panel.set_corpus_loading("Loading corpus…")
    assert panel.why_not(panel.retrain_button) == CORPUS_LOADING
    panel.set_corpus(corpus)
    for button, tip in ((panel.train_button, TRAIN_TIP), (panel.retrain_button, RETRAIN_TIP)):
        assert panel.why_not(button) == "" and button.isEnabled() and button.toolTip() == tip
    panel.lr_spin.setValue(0.0)  # let into the box so that the form can say why it will not do
    why = panel.why_not(panel.retrain_button)
    assert why == CANNOT_START + "; ".join(panel.errors()) and "learning rate" in why
    assert panel.retrain_button.toolTip() == f"{RETRAIN_TIP}\n{why}"
    panel.lr_spin.setValue(1e-3)
    panel.set_state("training")
    assert panel.why_not(panel.train_button) == RUN_IN_PROGRESS
    assert panel.why_not(panel.pause_button) == panel.why_not(panel.stop_button) == ""
    panel.set_state("stopping")
    assert panel.why_not(panel.pause_button) == RUN_STOPPING and not panel.pause_button.isEnabled()


def test_buttons_emit_their_signals(ready, qtbot):
    clicks = [
        (ready.train_button, ready.trainRequested),
        (ready.retrain_button, ready.retrainRequested),
        (ready.open_corpus_button, ready.openCorpusRequested),
        (ready.builtin_corpus_button, ready.builtinCorpusRequested),
    ]
    for button, signal in clicks:
        with qtbot.waitSignal(signal, timeout=1000):
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    ready.set_state("training")
    with qtbot.waitSignal(ready.pauseRequested, timeout=1000):
        qtbot.mouseClick(ready.pause_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(ready.stopRequested, timeout=1000):
        qtbot.mouseClick(ready.stop_button, Qt.MouseButton.LeftButton)
    ready.set_state("paused")
    with qtbot.waitSignal(ready.resumeRequested, timeout=1000):
        qtbot.mouseClick(ready.pause_button, Qt.MouseButton.LeftButton)


def test_f5_trains_in_a_shown_window(qtbot, corpus):
    window = QWidget()
    qtbot.addWidget(window)
    panel = SetupPanel()
    QVBoxLayout(window).addWidget(panel)
    panel.set_corpus(corpus)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    assert panel.train_button.toolTip() == "Train (F5)"
    with qtbot.waitSignal(panel.trainRequested, timeout=1000):
        qtbot.keyClick(panel.layers_spin, Qt.Key.Key_F5)


def test_settings_round_trip_through_json(ready, qtbot):
    ready.apply_preset("lecture")
    ready.embd_spin.setValue(96)
    ready.heads_combo.setCurrentIndex(head_items(ready).index(12))
    ready.lr_spin.setValue(2e-4)
    ready.seed_spin.setValue(99)
    ready.eval_iters_spin.setValue(7)
    ready.set_devices(["auto", "cpu", "cuda"])
    ready.device_combo.setCurrentText("cuda")
    ready.precision_combo.setCurrentText("bf16")
    saved = json.loads(json.dumps(ready.settings()))
    assert saved["precision"] == "bf16"
    assert saved["preset"] == CUSTOM

    other = SetupPanel()
    qtbot.addWidget(other)
    other.set_devices(["auto", "cpu", "cuda"])
    with qtbot.waitSignal(other.settingsChanged, timeout=1000):
        other.restore(saved)
    assert other.settings() == saved


def test_restore_ignores_garbage(ready):
    before = ready.settings()
    ready.restore({"layers": "garbage", "n_layer": "garbage", "unknown": 1, "n_head": None,
                   "learning_rate": float("nan"), "dropout": True, "device": 3, "seed": 2**80,
                   "n_embd": [1]})  # fmt: skip
    after = ready.settings()
    assert after == {**before, "seed": 2**31 - 1}  # a too-large seed is clamped, not refused
    ready.restore("not a dict")  # type: ignore[arg-type]
    ready.restore({"device": "tpu", "block_size": 1e9, "batch_size": 2.5, "precision": "fp8"})
    assert ready.device_combo.currentText() == "auto"
    assert ready.precision_combo.currentText() == "auto"
    assert ready.block_spin.value() == 1024
    assert ready.batch_spin.value() == 12


def test_settings_changed_once_per_edit_or_preset(ready):
    seen = []
    ready.settingsChanged.connect(lambda: seen.append(1))
    ready.batch_spin.setValue(20)
    assert len(seen) == 1
    ready.apply_preset("lecture")
    assert len(seen) == 2


def test_progress_label_and_bar(ready):
    training = RunState.TRAINING
    ready.set_progress(Progress(1200, 2000, 14_200.0, 52.0, training))
    assert ready.progress_label.text() == "14.2k tok/s · ETA 0:52"
    assert (ready.progress_bar.value(), ready.progress_bar.maximum()) == (1200, 2000)
    assert ready.progress_bar.text() == "1,200 / 2,000"  # thousands separators
    ready.set_progress(Progress(12_000, 20_000, 14_200.0, 52.0, training))
    assert ready.progress_bar.text() == "12,000 / 20,000"
    ready.set_progress(Progress(5, 5000, 850.0, 3725.0, training))
    assert ready.progress_label.text() == "850 tok/s · ETA 1:02:05"
    ready.set_progress(Progress(10, 100, 2_500_000.0, None, training))
    assert ready.progress_label.text() == "2.5M tok/s · ETA estimating…"
    ready.set_progress(Progress(10, 100, 2_500_000.0, None, RunState.STOPPING))
    assert ready.progress_label.text() == "2.5M tok/s · stopping…"
    ready.set_progress(Progress(20, 20, 0.0, None, RunState.IDLE))  # an opened, finished run
    assert ready.progress_label.text() == "done"
    ready.set_progress(Progress(5, 20, 0.0, None, RunState.IDLE))  # an opened, stopped run
    assert (ready.progress_bar.text(), ready.progress_label.text()) == ("5 / 20", "stopped")
    ready.reset_progress()
    assert ready.progress_bar.value() == 0
    assert ready.progress_bar.maximum() == ready.iters_spin.value()


def test_corpus_loading_holds_train_until_the_corpus_arrives(panel, corpus):
    panel.set_corpus_loading("Building the Shakespeare corpus…")
    assert panel.corpus_label.text() == "Building the Shakespeare corpus…"
    assert panel.errors() == []  # loading is not a mistake to report
    assert not panel.train_button.isEnabled()
    panel.set_corpus(corpus)
    assert panel.corpus_label.text() == f"t\n{len(TEXT):,} chars · vocab {corpus.vocab_size}"
    assert panel.train_button.isEnabled()


def test_devices_keep_the_current_choice(panel):
    panel.set_devices(["auto", "cpu", "cuda"])
    panel.device_combo.setCurrentText("cuda")
    panel.set_devices(["cuda", "cpu"])
    assert panel.device_combo.currentText() == "cuda"
    panel.set_devices(["auto", "cpu"])
    assert panel.device_combo.currentText() == "auto"


@pytest.mark.parametrize("before", ["baby", "lecture", CUSTOM])
def test_restoring_a_tiny_runs_settings_names_the_tiny_preset(ready, before):
    """An opened run's settings (as the controller flattens its saved configs) select the
    preset they match, whatever the box showed before, and no field changes to fit it."""
    tiny = PRESETS["tiny"]
    model = GPTConfig(vocab_size=65, **{k: tiny[k] for k in
                      ("n_layer", "n_head", "n_embd", "block_size", "dropout")})  # fmt: skip
    train = TrainConfig(**{k: tiny[k] for k in ("batch_size", "learning_rate", "max_iters")})
    if before == CUSTOM:
        ready.seed_spin.setValue(ready.seed_spin.value() + 1)  # an edit makes it custom
        ready.apply_preset("lecture")
        ready.layers_spin.setValue(5)
    else:
        ready.apply_preset(before)
    settings = flat_settings(model.to_dict(), train.to_dict(), "t")
    ready.restore(settings)
    assert ready.preset() == "tiny"
    shown = ready.settings()
    assert {k: shown[k] for k in tiny} == pytest.approx(tiny)
    assert all(shown[k] == settings[k] for k in ("eval_interval", "eval_iters", "seed"))


def run_settings(panel: SetupPanel) -> dict:
    """The settings a run started from the panel's form keeps (as RunInfo.settings)."""
    model, train = panel.model_config().to_dict(), panel.train_config().to_dict()
    return flat_settings(model, train, panel.corpus().name)


def test_retrain_hint_shows_only_while_the_form_differs_from_the_run(ready):
    hint = ready.retrain_hint
    ready.set_state(RunState.TRAINING)
    assert not hint.isVisibleTo(ready)  # no run's settings known: nothing to compare
    settings = run_settings(ready)
    ready.set_state(RunState.TRAINING, settings)
    assert not hint.isVisibleTo(ready)  # nothing changed
    layers = ready.layers_spin.value()
    ready.layers_spin.setValue(layers + 1)
    assert hint.isVisibleTo(ready)
    assert hint.text() == RETRAIN_HINT
    assert f"n_layer {layers} → {layers + 1}" in hint.toolTip()
    ready.layers_spin.setValue(layers)  # set back: the form is the run's again
    assert not hint.isVisibleTo(ready)
    lr = ready.lr_spin.value()
    ready.lr_spin.stepBy(1)
    assert hint.isVisibleTo(ready)
    ready.lr_spin.setValue(lr)
    assert not hint.isVisibleTo(ready)
    ready.set_corpus(Corpus(name="another", text=TEXT))  # Retrain would train on another text
    assert hint.isVisibleTo(ready)
    assert "corpus t → another" in hint.toolTip()
    ready.set_state(RunState.PAUSED, settings)
    assert hint.isVisibleTo(ready)
    ready.set_state(RunState.IDLE, settings)  # the run has ended: no hint, as before
    assert not hint.isVisibleTo(ready)


def test_retrain_hint_in_the_window_follows_the_run_in_progress(qtbot, window):
    setup = window.setup
    window.train()
    qtbot.waitUntil(lambda: window.controller.state == RunState.TRAINING, timeout=10_000)
    assert not setup.retrain_hint.isVisibleTo(setup)  # the form is the run's
    setup.seed_spin.setValue(setup.seed_spin.value() + 1)
    assert setup.retrain_hint.isVisibleTo(setup)
    setup.seed_spin.setValue(setup.seed_spin.value() - 1)
    assert not setup.retrain_hint.isVisibleTo(setup)
    setup.seed_spin.setValue(setup.seed_spin.value() + 1)
    stop_training(qtbot, window)
    assert not setup.retrain_hint.isVisibleTo(setup)


@pytest.fixture
def roomy(panel) -> SetupPanel:
    """A panel whose corpus holds every block size the form allows."""
    panel.set_corpus(Corpus(name="t", text=TEXT * 10))
    return panel


def number_boxes(panel: SetupPanel) -> dict:
    return {**panel._int_fields, **panel._float_fields}


def beyond(box) -> str:
    """A number past the box's maximum, as a user types it."""
    if isinstance(box, QSpinBox):
        return str(box.maximum() * 10)
    return f"{box.maximum() * 5:g}"


@pytest.mark.parametrize(
    "key", ["n_layer", "n_embd", "block_size", "dropout", "learning_rate", "batch_size",
            "max_iters", "eval_interval", "eval_iters", "seed"],
)  # fmt: skip
def test_a_number_typed_out_of_range_is_kept_and_the_form_says_the_range(roomy, qtbot, key):
    roomy.show()
    roomy.advanced_button.setChecked(True)
    box = number_boxes(roomy)[key]
    box.setFocus()
    box.lineEdit().selectAll()
    typed = beyond(box)
    qtbot.keyClicks(box, typed)
    assert box.text() == typed  # no key dropped
    [error] = roomy.errors()
    assert error.startswith(f"{key.replace('learning_rate', 'learning rate')} must be ")
    assert error.endswith(f"got {typed}")
    assert box.textFromValue(box.maximum()) in error  # the allowed range
    assert box.property("invalid") is True and error in box.toolTip()
    assert not roomy.train_button.isEnabled() and not roomy.retrain_button.isEnabled()
    with pytest.raises(ConfigError, match="must be") as raised:  # F5 is refused too
        roomy.model_config() if key in GPTConfig.__dataclass_fields__ else roomy.train_config()
    assert raised.value.field == key
    roomy.preset_combo.setFocus()  # leaving the box keeps the number typed, and the message
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert box.text() == typed and roomy.errors() == [error]
    box.stepBy(-1)  # the arrows go to the nearest end of the range
    assert box.value() == box.maximum()
    assert roomy.errors() == [] and box.property("invalid") is False
    assert roomy.train_button.isEnabled()


def test_an_outlined_box_keeps_its_arrows(ready):
    ready.show()
    ready.advanced_button.setChecked(True)

    def arrows(box) -> list[QImage]:
        """The arrows as drawn, inside the outline."""
        option = QStyleOptionSpinBox()
        box.initStyleOption(option)
        style, control = box.style(), QStyle.ComplexControl.CC_SpinBox
        parts = (QStyle.SubControl.SC_SpinBoxUp, QStyle.SubControl.SC_SpinBoxDown)
        rects = [style.subControlRect(control, option, part, box) for part in parts]
        image = box.grab().toImage()
        return [image.copy(rect.adjusted(0, 1, -2, -1)) for rect in rects]

    def outline(box) -> QColor:
        return box.grab().toImage().pixelColor(0, box.height() // 2)

    block = ready.block_spin
    valid = arrows(block)
    assert all(not image.isNull() for image in valid)
    block.setValue(block.maximum() - 1)  # longer than the corpus's validation split
    assert block.property("invalid") is True
    assert arrows(block) == valid
    assert outline(block) == QColor(ERROR_COLOUR)
    block.setValue(block.minimum() + 1)
    assert outline(block) != QColor(ERROR_COLOUR)
    for box in number_boxes(ready).values():  # and every box with a number out of range
        box.setValue(box.minimum() + box.singleStep())  # both arrows work
        valid = arrows(box)
        box.lineEdit().setText(beyond(box))
        assert box.property("invalid") is True
        assert arrows(box) == valid, box.objectName()
        assert outline(box) == QColor(ERROR_COLOUR)
        box.lineEdit().setText(box.textFromValue(box.value()))
        assert box.property("invalid") is False
        assert outline(box) != QColor(ERROR_COLOUR)
