"""The left dock: what to train (corpus, preset, architecture, training settings) and run controls.

Settings are validated by building core's GPTConfig and TrainConfig and by asking the corpus
whether the block size fits, so the messages shown are core's own and say why; Train and
Retrain stay disabled while any problem remains. The panel only asks for things through
signals: the main window runs the training and tells the panel its state and progress.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QKeySequence, QStandardItemModel, QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from headwatch.core.config import PRECISIONS, ConfigError, GPTConfig, TrainConfig
from headwatch.core.corpus import Corpus, CorpusError
from headwatch.core.formatting import format_duration
from headwatch.core.presets import DEFAULT_PRESET, PRESETS
from headwatch.gui.field_outline import set_outlined
from headwatch.gui.messages import Progress, RunState
from headwatch.gui.number_box import FloatBox, IntBox
from headwatch.gui.widgets import ElidedLabel

PRESET_LABELS = {"lecture": "lecture (GPU recommended)"}
CUSTOM = "custom"
DEFAULT_DEVICES = ("auto", "cpu")  # until the window lists the devices that exist
MAX_HEADS = 64
LR_MIN, LR_MAX = 1e-6, 10.0
NO_CORPUS = "no corpus yet — open a text file or choose Built-in"
# what each run button does (its tooltip), and why one is disabled (added under it)
TRAIN_TIP = "Train (F5)"
PAUSE_TIP = "Pause or resume the run in progress"
STOP_TIP = "End the run; its weights and curves are kept"
RETRAIN_TIP = "Fresh weights with the current settings, as a new run"
CANNOT_START = "Cannot start a run: "
CORPUS_LOADING = "The corpus is still loading"
RUN_IN_PROGRESS = "A run is in progress"
NO_RUN = "No run is in progress"
RUN_STOPPING = "The run is stopping"
RETRAIN_HINT = "changes apply on Retrain"
# the progress line's tooltip: what its speed is, and why it may crawl beside other work
SPEED_TIP = (
    "tok/s: characters trained on per second, over the last 20 steps while the run trains, "
    "over all its steps once it has ended.\nTraining runs below the window's priority so that "
    "typing stays live: beside another busy program it slows down, and tries one torch thread "
    "instead of several now and then, keeping it while it is faster (README, Performance)."
)
ERROR_COLOUR = "#c62828"
_HINT_COLOUR = "#666666"
_SAID_AS = {"learning_rate": "learning rate"}  # as TrainConfig's own messages name it
_MAX_NAME_CHARS = 36  # longer corpus names are shortened in the middle (full path in tooltip)
TENSORBOARD_TIP = (
    "Also write TensorBoard event files in the run folder (RUN/tb/), as `headwatch train "
    "--tensorboard`: losses, learning rate, tokens/s, and at each evaluation the attention grid "
    "and feed-forward histograms of a probe. View them with: tensorboard --logdir RUN/tb"
)
TENSORBOARD_MISSING_TIP = "TensorBoard is not installed: pip install headwatch[tensorboard]"


def tensorboard_installed() -> bool:
    """Whether TensorBoard can be imported, asked without importing it (or torch)."""
    return importlib.util.find_spec("tensorboard") is not None


def format_lr(value: float) -> str:
    """Learning rates as people write them: 3e-4, 1e-3, 0.01, 0.5."""
    if value == 0:
        return "0"
    if abs(value) < 1e-2:
        mantissa, exponent = f"{value:.6e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:.6g}"


def format_rate(tokens_per_s: float) -> str:
    if tokens_per_s < 999.5:
        return f"{tokens_per_s:.0f}"
    if tokens_per_s < 999_500:
        return f"{tokens_per_s / 1e3:.1f}k"
    return f"{tokens_per_s / 1e6:.1f}M"


def progress_text(progress: Progress) -> str:
    """What the run is doing, under the bar that shows its steps: "14.2k tok/s · ETA 0:52";
    "ETA estimating…" while training without one; "stopped" or "done" when idle."""
    parts = []
    if progress.tokens_per_s > 0:
        parts.append(f"{format_rate(progress.tokens_per_s)} tok/s")
    eta = progress.eta_s
    if progress.state is RunState.STOPPING:
        parts.append("stopping…")
    elif progress.state is RunState.PAUSED:
        parts.append("paused")
    elif eta is not None and math.isfinite(eta) and eta >= 0:
        parts.append(f"ETA {format_duration(eta)}")
    elif progress.state is RunState.TRAINING:
        parts.append("ETA estimating…")
    else:
        parts.append("done" if progress.step >= progress.total else "stopped")
    return " · ".join(parts)


class ScientificSpinBox(FloatBox):
    """A learning-rate box that reads and shows "3e-4"; arrows step along 1e-4, 3e-4, 1e-3…"""

    _CHARS = frozenset("0123456789.eE+-")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)  # QDoubleSpinBox rounds every value to this many places
        # 0 is allowed in so that the panel can say why it does not work
        self.setRange(0.0, LR_MAX)

    def textFromValue(self, value: float) -> str:
        return format_lr(value)

    def valueFromText(self, text: str) -> float:
        number = self.parse(text)
        return self.value() if number is None else number

    def parse(self, text: str) -> float | None:
        try:
            return float(text.strip())
        except ValueError:
            return None

    def allowed(self) -> str:
        return f"above 0 and at most {format_lr(self.maximum())}"  # as TrainConfig says it

    def validate(self, text: str, pos: int) -> QValidator.State:
        stripped = text.strip()
        if not set(stripped) <= self._CHARS:
            return QValidator.State.Invalid
        value = self.parse(stripped)
        if value is not None and self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable
        # "", "3e", "3e-" are on the way to a number; one out of range is reported by the form
        return QValidator.State.Intermediate

    def stepBy(self, steps: int) -> None:
        value = self.value()
        if self.out_of_range() is not None:
            super().stepBy(steps)
        elif value <= 0:
            self.setValue(LR_MIN if steps > 0 else 0.0)
        else:
            # half-decade rungs: rung r is 10**(r//2), times 3 when r is odd
            rung = round(2 * math.log10(value)) + steps
            target = 10.0 ** (rung // 2) * (3 if rung % 2 else 1)
            self.setValue(min(max(target, LR_MIN), self.maximum()))


class SetupPanel(QWidget):
    """Corpus, preset, model and training settings, Train/Pause/Stop/Retrain and progress."""

    openCorpusRequested = Signal()
    builtinCorpusRequested = Signal()
    trainRequested = Signal()
    pauseRequested = Signal()
    resumeRequested = Signal()
    stopRequested = Signal()
    retrainRequested = Signal()
    settingsChanged = Signal()
    runButtonsChanged = Signal()  # the run buttons were set again: which work, and why not

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("setupPanel")
        self._corpus: Corpus | None = None
        self._loading = False
        self._state = RunState.IDLE
        self._run_settings: dict | None = None  # of the run in progress, as RunInfo keeps them
        self._why_not: dict[QPushButton, str] = {}  # each run button: why it is disabled, or ""
        self._train_blocked = ""  # why Train cannot continue a followed run here, or ""
        self._bulk = False
        # the head count the user asked for: restored when n_embd allows it again
        self._wanted_heads = int(PRESETS[DEFAULT_PRESET]["n_head"])
        self._build()
        self._connect()
        self.apply_preset(DEFAULT_PRESET)
        self.reset_progress()

    # --- construction ---------------------------------------------------------------------

    def _build(self) -> None:
        style = self.style()

        # corpus
        self.corpus_label = QLabel("No corpus")
        self.corpus_label.setObjectName("corpusLabel")
        self.corpus_label.setTextFormat(Qt.TextFormat.PlainText)
        _wrap_anywhere(self.corpus_label)
        self.open_corpus_button = QPushButton("Open text file…")
        self.open_corpus_button.setObjectName("openCorpusButton")
        self.open_corpus_button.setToolTip("Train on a UTF-8 text file of your own")
        self.builtin_corpus_button = QPushButton("Built-in")
        self.builtin_corpus_button.setObjectName("builtinCorpusButton")
        self.builtin_corpus_button.setToolTip("Go back to the built-in Shakespeare corpus")
        corpus_buttons = QHBoxLayout()
        corpus_buttons.addWidget(self.open_corpus_button, 1)
        corpus_buttons.addWidget(self.builtin_corpus_button)
        corpus_box = QGroupBox("Corpus")
        corpus_layout = QVBoxLayout(corpus_box)
        corpus_layout.setContentsMargins(6, 6, 6, 6)
        corpus_layout.addWidget(self.corpus_label)
        corpus_layout.addLayout(corpus_buttons)

        # model
        self.preset_combo = QComboBox()
        self.preset_combo.setObjectName("presetCombo")
        for name in PRESETS:
            self.preset_combo.addItem(PRESET_LABELS.get(name, name), name)
        self.preset_combo.addItem(CUSTOM, CUSTOM)
        # "custom" is a status the panel shows, not something to pick
        model = self.preset_combo.model()
        if isinstance(model, QStandardItemModel):
            model.item(self.preset_combo.count() - 1).setEnabled(False)
        self.preset_combo.setToolTip("Ready-made sizes; editing a field below makes it custom")
        _narrow(self.preset_combo)
        self.layers_spin = _spin("layersSpin", 1, 24, "Transformer blocks stacked (n_layer)")
        self.embd_spin = _spin("embdSpin", 8, 1024, "Channels per token, C (n_embd)")
        self.embd_spin.setSingleStep(8)
        self.heads_combo = QComboBox()
        self.heads_combo.setObjectName("headsCombo")
        self.heads_combo.setToolTip(
            f"Attention heads per layer (n_head): only counts that divide n_embd, up to {MAX_HEADS}"
        )
        self.head_size_label = QLabel()
        self.head_size_label.setObjectName("headSizeLabel")
        self.head_size_label.setToolTip("Channels per head: n_embd / heads")
        heads_row = QWidget()
        heads_layout = QHBoxLayout(heads_row)
        heads_layout.setContentsMargins(0, 0, 0, 0)
        heads_layout.addWidget(self.heads_combo)
        heads_layout.addWidget(self.head_size_label, 1)
        self.block_spin = _spin("blockSpin", 1, 1024, "Context length T in characters")
        self.dropout_spin = FloatBox()
        self.dropout_spin.setObjectName("dropoutSpin")
        self.dropout_spin.setRange(0.0, 0.9)
        self.dropout_spin.setSingleStep(0.05)
        self.dropout_spin.setDecimals(2)
        self.dropout_spin.setToolTip("Fraction of activations zeroed while training")
        model_box = QGroupBox("Model")
        model_form = _form(model_box)
        model_form.addRow("Preset", self.preset_combo)
        model_form.addRow("Layers", self.layers_spin)
        model_form.addRow("n_embd", self.embd_spin)
        model_form.addRow("Heads", heads_row)
        model_form.addRow("Block size", self.block_spin)
        model_form.addRow("Dropout", self.dropout_spin)

        # training
        self.batch_spin = _spin("batchSpin", 1, 1024, "Sequences per optimizer step, B")
        self.lr_spin = ScientificSpinBox()
        self.lr_spin.setObjectName("lrSpin")
        self.lr_spin.setToolTip("AdamW learning rate; type 3e-4 or 0.0003")
        self.iters_spin = _spin("itersSpin", 1, 1_000_000, "Optimizer steps in the run")
        self.iters_spin.setGroupSeparatorShown(True)
        self.iters_spin.setSingleStep(100)
        self.seed_spin = _spin("seedSpin", 0, 2**31 - 1, "Same seed, same settings: same run")
        self.seed_spin.setValue(1337)
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("deviceCombo")
        self.device_combo.addItems(DEFAULT_DEVICES)
        self.device_combo.setToolTip("auto picks a GPU when there is one")
        _narrow(self.device_combo)
        train_box = QGroupBox("Training")
        train_form = _form(train_box)
        train_form.addRow("Batch", self.batch_spin)
        train_form.addRow("Learning rate", self.lr_spin)
        train_form.addRow("Iterations", self.iters_spin)
        train_form.addRow("Seed", self.seed_spin)
        train_form.addRow("Device", self.device_combo)
        self.tensorboard_check = QCheckBox("TensorBoard logs")
        self.tensorboard_check.setObjectName("tensorboardCheck")
        installed = tensorboard_installed()
        self.tensorboard_check.setEnabled(installed)
        self.tensorboard_check.setToolTip(TENSORBOARD_TIP if installed else TENSORBOARD_MISSING_TIP)
        train_form.addRow(self.tensorboard_check)

        # advanced: rarely changed, folded away
        self.eval_every_spin = _spin(
            "evalEverySpin", 1, 1_000_000, "Steps between train/val loss estimates"
        )
        self.eval_every_spin.setValue(200)
        self.eval_iters_spin = _spin(
            "evalItersSpin", 1, 10_000, "Batches averaged for each loss estimate"
        )
        self.eval_iters_spin.setValue(50)
        self.precision_combo = QComboBox()
        self.precision_combo.setObjectName("precisionCombo")
        self.precision_combo.addItems(PRECISIONS)
        self.precision_combo.setToolTip(
            "auto: bf16 matmuls where the CPU or GPU has them and the model is big enough for "
            "them to pay (baby: ~1.4x faster, same loss within ~0.01), else fp32"
        )
        _narrow(self.precision_combo)
        self.advanced_button = QToolButton()
        self.advanced_button.setObjectName("advancedButton")
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_group = QWidget()
        self.advanced_group.setObjectName("advancedGroup")
        advanced_form = _form(self.advanced_group)
        advanced_form.setContentsMargins(0, 0, 0, 0)
        advanced_form.addRow("Eval every", self.eval_every_spin)
        advanced_form.addRow("Eval batches", self.eval_iters_spin)
        advanced_form.addRow("Precision", self.precision_combo)
        self.advanced_group.setVisible(False)
        train_form.addRow(self.advanced_button)
        train_form.addRow(self.advanced_group)

        _align_labels(model_form, train_form, advanced_form)

        settings = QWidget()
        settings_layout = QVBoxLayout(settings)
        settings_layout.setContentsMargins(0, 0, 0, 0)
        for box in (corpus_box, model_box, train_box):
            settings_layout.addWidget(box)
        settings_layout.addStretch(1)
        # the settings scroll in a short window; problems and run controls stay in view
        scroll = QScrollArea()
        scroll.setObjectName("setupScroll")
        scroll.setWidget(settings)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # with sideways scrolling off, the dock must leave room for the fields and a scroll bar
        scroll.setMinimumWidth(
            settings.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
        )

        self.validation_label = QLabel()
        self.validation_label.setObjectName("validationLabel")
        self.validation_label.setTextFormat(Qt.TextFormat.PlainText)
        _wrap_anywhere(self.validation_label)
        self.validation_label.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.validation_label.setVisible(False)
        self.retrain_hint = QLabel(RETRAIN_HINT)
        self.retrain_hint.setObjectName("retrainHintLabel")
        self.retrain_hint.setStyleSheet(f"color: {_HINT_COLOUR}; font-style: italic;")
        self.retrain_hint.setVisible(False)

        # run controls
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("trainButton")
        self.train_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.train_button.setShortcut(QKeySequence(Qt.Key.Key_F5))
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("pauseButton")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaStop))
        self.retrain_button = QPushButton("Retrain")
        self.retrain_button.setObjectName("retrainButton")
        self.retrain_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_BrowserReload))
        self._run_tips = {
            self.train_button: TRAIN_TIP,
            self.pause_button: PAUSE_TIP,
            self.stop_button: STOP_TIP,
            self.retrain_button: RETRAIN_TIP,
        }
        buttons = QGridLayout()
        buttons.addWidget(self.train_button, 0, 0)
        buttons.addWidget(self.pause_button, 0, 1)
        buttons.addWidget(self.stop_button, 1, 0)
        buttons.addWidget(self.retrain_button, 1, 1)

        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("progressBar")
        # the steps with thousands separators, as everywhere else ("%v / %m" has none)
        self.progress_bar.setFormat("0 / 0")
        # its text changes with every report: it must never change the dock's width, which
        # would resize (and repaint) every view beside the dock
        self.progress_label = ElidedLabel()
        self.progress_label.setObjectName("progressLabel")
        self.progress_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.progress_label.setToolTip(SPEED_TIP)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)  # the dock draws its own frame: room for fields
        layout.addWidget(scroll, 1)
        layout.addWidget(self.validation_label)
        layout.addWidget(self.retrain_hint)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)

        self._int_fields: dict[str, IntBox] = {
            "n_layer": self.layers_spin,
            "n_embd": self.embd_spin,
            "block_size": self.block_spin,
            "batch_size": self.batch_spin,
            "max_iters": self.iters_spin,
            "eval_interval": self.eval_every_spin,
            "eval_iters": self.eval_iters_spin,
            "seed": self.seed_spin,
        }
        self._float_fields: dict[str, FloatBox] = {
            "learning_rate": self.lr_spin,
            "dropout": self.dropout_spin,
        }

    def _connect(self) -> None:
        self.open_corpus_button.clicked.connect(self.openCorpusRequested)
        self.builtin_corpus_button.clicked.connect(self.builtinCorpusRequested)
        self.train_button.clicked.connect(self.trainRequested)
        self.stop_button.clicked.connect(self.stopRequested)
        self.retrain_button.clicked.connect(self.retrainRequested)
        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.advanced_button.toggled.connect(self._on_advanced_toggled)
        self.preset_combo.currentIndexChanged.connect(self._on_preset_chosen)
        self.heads_combo.currentIndexChanged.connect(self._on_heads_chosen)
        self.device_combo.currentIndexChanged.connect(self._changed)
        self.precision_combo.currentIndexChanged.connect(self._changed)
        for spin in (*self._int_fields.values(), *self._float_fields.values()):
            spin.valueChanged.connect(self._changed)
            # a number out of the box's range changes no value: the form must still say so
            spin.lineEdit().textChanged.connect(self._on_text_changed)

    # --- corpus ---------------------------------------------------------------------------

    def set_corpus(self, corpus: Corpus | None) -> None:
        """The corpus to train on (None: none); its vocabulary sizes the model."""
        self._corpus = corpus
        self._loading = False
        if corpus is None:
            self.corpus_label.setText("No corpus")
            self.corpus_label.setToolTip("")
        else:
            name = corpus.name
            if len(name) > _MAX_NAME_CHARS:  # one unbreakable word would widen the dock
                half = _MAX_NAME_CHARS // 2
                name = f"{name[:half]}…{name[-half:]}"
            self.corpus_label.setText(
                _breakable(f"{name}\n{len(corpus.text):,} chars · vocab {corpus.vocab_size}")
            )
            self.corpus_label.setToolTip(corpus.path or corpus.name)
        self._refresh()

    def set_corpus_loading(self, text: str) -> None:
        """Show that a corpus is on its way; Train waits for set_corpus()."""
        self._corpus = None
        self._loading = True
        self.corpus_label.setText(text)
        self.corpus_label.setToolTip("")
        self._refresh()

    def corpus(self) -> Corpus | None:
        return self._corpus

    # --- configs and validation -----------------------------------------------------------

    def model_config(self) -> GPTConfig:
        """The model to build; raises ConfigError when a setting is invalid or no corpus is set."""
        if self._corpus is None:
            raise ConfigError(NO_CORPUS)
        return self._gpt_config(self._corpus.vocab_size)

    def train_config(self) -> TrainConfig:
        """The training settings; raises ConfigError when one is invalid."""
        self._check_typed(
            "learning_rate", "batch_size", "max_iters", "eval_interval", "eval_iters", "seed"
        )
        return TrainConfig(
            learning_rate=self.lr_spin.value(),
            batch_size=self.batch_spin.value(),
            max_iters=self.iters_spin.value(),
            eval_interval=self.eval_every_spin.value(),
            eval_iters=self.eval_iters_spin.value(),
            seed=self.seed_spin.value(),
            device=self.device_combo.currentText(),
            precision=self.precision_combo.currentText(),
        )

    def errors(self) -> list[str]:
        """What stops training with these settings, each saying why (empty when all is well).

        While a corpus is loading, its absence is not counted as a problem.
        """
        return [message for _, message in self._problems()]

    def _problems(self) -> list[tuple[str | None, str]]:
        """(the field at fault or None, why) for each problem."""
        problems: list[tuple[str | None, str]] = []
        try:
            # only the corpus knows the vocabulary; any size checks the other fields
            self._gpt_config(self._corpus.vocab_size if self._corpus is not None else 1)
        except ConfigError as exc:
            problems.append((exc.field, str(exc)))
        try:
            self.train_config()
        except ConfigError as exc:
            problems.append((exc.field, str(exc)))
        if self._corpus is not None:
            try:
                self._corpus.check_block_size(self.block_spin.value())
            except CorpusError as exc:
                problems.append(("block_size", str(exc)))
        elif not self._loading:
            problems.append((None, NO_CORPUS))
        return problems

    def _gpt_config(self, vocab_size: int) -> GPTConfig:
        self._check_typed("n_layer", "n_embd", "block_size", "dropout")
        return GPTConfig(
            vocab_size=vocab_size,
            block_size=self.block_spin.value(),
            n_layer=self.layers_spin.value(),
            n_head=self.heads(),
            n_embd=self.embd_spin.value(),
            dropout=self.dropout_spin.value(),
        )

    def _check_typed(self, *keys: str) -> None:
        """Raises ConfigError for the first of these fields whose typed number is out of range."""
        boxes = {**self._int_fields, **self._float_fields}
        for key in keys:
            boxes[key].check_typed(key, _SAID_AS.get(key))

    def heads(self) -> int:
        return int(self.heads_combo.currentData())

    # --- run state and progress -----------------------------------------------------------

    def set_state(self, state: RunState | str, run_settings: dict | None = None) -> None:
        """The run's state, a RunState (or its value), and the settings of the run in progress
        (RunInfo.settings: GPTConfig and TrainConfig fields and "corpus"; None when none is
        known), set together so that the run buttons and the retrain hint (shown while a run is
        in progress and the form differs from its settings) are set once. Raises ValueError for
        another state."""
        try:
            self._state = RunState(state)
        except ValueError:
            names = ", ".join(s.value for s in RunState)
            raise ValueError(f"unknown state {state!r}; use one of {names}") from None
        self._run_settings = dict(run_settings) if run_settings else None
        self._update_buttons(self.errors())
        if self._state is RunState.STOPPING:
            self.progress_label.setText("stopping…")

    def state(self) -> RunState:
        return self._state

    def block_train(self, why: str) -> None:
        """Train off with this reason (a followed run another process trains); "" lifts it."""
        if why != self._train_blocked:
            self._train_blocked = why
            self._update_buttons(self.errors())

    def why_not(self, button: QPushButton) -> str:
        """Why this run button (train_button, pause_button, stop_button, retrain_button) is
        disabled, as its tooltip says it; "" when it works. Raises KeyError for another widget."""
        return self._why_not[button]

    def changes_from_run(self) -> list[str]:
        """Each setting of the form that differs from the run in progress, e.g. "n_layer 4 → 2"
        (empty when none does or no run's settings are known)."""
        run = self._run_settings
        if run is None:
            return []
        form = {k: v for k, v in self.settings().items() if k in run}
        if self._corpus is not None and "corpus" in run:
            form["corpus"] = self._corpus.name
        changes = []
        for key, value in form.items():
            before = run[key]
            if isinstance(value, float) and isinstance(before, (int, float)):
                same = math.isclose(value, before, rel_tol=1e-9)
            else:
                same = value == before
            if not same:
                changes.append(f"{key} {before} → {value}")
        return changes

    def set_progress(self, progress: Progress) -> None:
        """The current run's step of its total on the bar; its speed and ETA (or what it is
        doing) under it."""
        self.show_steps(progress.step, progress.total, progress_text(progress))

    def show_steps(self, step: int, total: int, doing: str) -> None:
        """step of total on the bar, doing (e.g. "following") under it."""
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(min(max(step, 0), max(total, 1)))
        self.progress_bar.setFormat(f"{step:,} / {total:,}")
        self.progress_label.setText(doing)

    def reset_progress(self) -> None:
        self.progress_bar.setRange(0, self.iters_spin.value())
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat(f"0 / {self.iters_spin.value():,}")
        self.progress_label.setText("Not started")

    # --- presets and settings -------------------------------------------------------------

    def apply_preset(self, name: str) -> None:
        """Set every field a preset covers; "custom" only shows that no preset matches."""
        if name == CUSTOM:
            with QSignalBlocker(self.preset_combo):
                self.preset_combo.setCurrentIndex(self.preset_combo.findData(CUSTOM))
            return
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}")
        with self._bulk_update():
            self._set_values(PRESETS[name])
            # select it even where another preset holds the same values
            with QSignalBlocker(self.preset_combo):
                self.preset_combo.setCurrentIndex(self.preset_combo.findData(name))

    def preset(self) -> str:
        return str(self.preset_combo.currentData())

    def settings(self) -> dict:
        """Every field's value, JSON-able, keyed by GPTConfig/TrainConfig field names."""
        values: dict = {"preset": self.preset()}
        values.update({key: spin.value() for key, spin in self._int_fields.items()})
        values.update({key: spin.value() for key, spin in self._float_fields.items()})
        values["n_head"] = self.heads()
        values["device"] = self.device_combo.currentText()
        values["precision"] = self.precision_combo.currentText()
        values["tensorboard"] = self.tensorboard()
        return values

    def restore(self, settings: object) -> None:
        """Load values saved by settings(); unknown keys and unusable values are ignored."""
        if not isinstance(settings, dict):
            return
        with self._bulk_update():
            self._set_values(settings)
            device = settings.get("device")
            if isinstance(device, str) and self.device_combo.findText(device) >= 0:
                self.device_combo.setCurrentText(device)
            precision = settings.get("precision")
            if isinstance(precision, str) and self.precision_combo.findText(precision) >= 0:
                self.precision_combo.setCurrentText(precision)
            if isinstance(settings.get("tensorboard"), bool):
                self.tensorboard_check.setChecked(
                    settings["tensorboard"] and self.tensorboard_check.isEnabled()
                )

    def tensorboard(self) -> bool:
        """Whether the window's training also writes TensorBoard events (RUN/tb/)."""
        return self.tensorboard_check.isEnabled() and self.tensorboard_check.isChecked()

    def set_devices(self, devices: Sequence[str]) -> None:
        """The devices on offer; the current one stays selected when it is still there."""
        names = [str(name) for name in devices]
        if not names:
            raise ValueError("offer at least one device, such as auto")
        current = self.device_combo.currentText()
        with QSignalBlocker(self.device_combo):
            self.device_combo.clear()
            self.device_combo.addItems(names)
            self.device_combo.setCurrentIndex(names.index(current) if current in names else 0)
        if self.device_combo.currentText() != current:
            self._changed()

    def _set_values(self, values: dict) -> None:
        for key, spin in self._int_fields.items():
            number = _as_int(values.get(key))
            if number is not None:  # clamped: Qt would overflow on a huge int
                spin.setValue(min(max(number, spin.minimum()), spin.maximum()))
        for key, spin in self._float_fields.items():
            number = _as_float(values.get(key))
            if number is not None:
                spin.setValue(min(max(number, spin.minimum()), spin.maximum()))
        heads = _as_int(values.get("n_head"))
        if heads is not None and heads >= 1:
            self._wanted_heads = heads

    @contextmanager
    def _bulk_update(self) -> Iterator[None]:
        """Set many fields, then refresh and announce the change once."""
        self._bulk = True
        try:
            yield
        finally:
            self._bulk = False
        self._refresh()
        self.settingsChanged.emit()

    # --- reactions ------------------------------------------------------------------------

    def _changed(self) -> None:
        if self._bulk:
            return
        self._refresh()
        self.settingsChanged.emit()

    def _on_text_changed(self) -> None:
        if not self._bulk:
            self._refresh()

    def _on_preset_chosen(self) -> None:
        name = self.preset()
        if name in PRESETS:
            self.apply_preset(name)

    def _on_heads_chosen(self) -> None:
        self._wanted_heads = self.heads()
        self._changed()

    def _on_pause_clicked(self) -> None:
        if self._state is RunState.PAUSED:
            self.resumeRequested.emit()
        else:
            self.pauseRequested.emit()

    def _on_advanced_toggled(self, shown: bool) -> None:
        self.advanced_group.setVisible(shown)
        arrow = Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        self.advanced_button.setArrowType(arrow)

    def _refresh(self) -> None:
        self._populate_heads()
        n_embd = self.embd_spin.value()
        self.head_size_label.setText(f"head size {n_embd // self.heads()}")
        self._sync_preset()
        problems = self._problems()
        messages = [message for _, message in problems]
        self.validation_label.setText(_breakable("\n".join(f"• {p}" for p in messages)))
        self.validation_label.setVisible(bool(problems))
        self._mark_fields(problems)
        self._update_buttons(messages)

    def _mark_fields(self, problems: list[tuple[str | None, str]]) -> None:
        """Outline each field a problem names, its tooltip saying why: the reason by the field."""
        fields = {
            **self._int_fields, **self._float_fields, "n_head": self.heads_combo,
            "device": self.device_combo, "precision": self.precision_combo,
        }  # fmt: skip
        for key, widget in fields.items():
            reasons = [message for field, message in problems if field == key]
            invalid = bool(reasons)
            if widget.property("invalid") == invalid and not invalid:
                continue
            if widget.property("plainToolTip") is None:
                widget.setProperty("plainToolTip", widget.toolTip())
            widget.setProperty("invalid", invalid)
            set_outlined(widget, invalid, ERROR_COLOUR)
            widget.setToolTip("\n".join(reasons) if invalid else widget.property("plainToolTip"))

    def _populate_heads(self) -> None:
        choices = GPTConfig.head_counts(self.embd_spin.value(), MAX_HEADS)
        wanted = self._wanted_heads
        pick = wanted if wanted in choices else min(choices, key=lambda h: (abs(h - wanted), h))
        with QSignalBlocker(self.heads_combo):
            current = [self.heads_combo.itemData(i) for i in range(self.heads_combo.count())]
            if current != choices:
                self.heads_combo.clear()
                for heads in choices:
                    self.heads_combo.addItem(str(heads), heads)
            self.heads_combo.setCurrentIndex(choices.index(pick))

    def _sync_preset(self) -> None:
        """Show the preset the fields match (the chosen one first), else "custom"."""
        values = self.settings()
        chosen = self.preset()
        match = CUSTOM
        for name in sorted(PRESETS, key=lambda n: n != chosen):
            if all(math.isclose(values[k], v, rel_tol=1e-9) for k, v in PRESETS[name].items()):
                match = name
                break
        if match != chosen:
            with QSignalBlocker(self.preset_combo):
                self.preset_combo.setCurrentIndex(self.preset_combo.findData(match))

    def _update_buttons(self, problems: list[str]) -> None:
        """Each run button works unless there is a reason why not, which its tooltip then adds
        to what it does; runButtonsChanged tells whoever does the same (the Train menu)."""
        if problems:
            form = CANNOT_START + "; ".join(problems)
        else:  # a missing corpus is a problem, unless it is on its way
            form = CORPUS_LOADING if self._corpus is None else ""
        running = self._state is not RunState.IDLE
        stopping = self._state is RunState.STOPPING
        self._why_not = {
            self.train_button: form or (RUN_IN_PROGRESS if running else self._train_blocked),
            self.pause_button: RUN_STOPPING if stopping else ("" if running else NO_RUN),
            # while stopping, Stop still cancels a Retrain waiting for the stop
            self.stop_button: "" if running else NO_RUN,
            self.retrain_button: form,
        }
        for button, why in self._why_not.items():
            button.setEnabled(not why)
            tip = self._run_tips[button]
            button.setToolTip(f"{tip}\n{why}" if why else tip)
        paused = self._state is RunState.PAUSED
        self.pause_button.setText("Resume" if paused else "Pause")
        icon = QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause
        self.pause_button.setIcon(self.style().standardIcon(icon))
        changes = self.changes_from_run() if running else []
        self.retrain_hint.setVisible(bool(changes))
        self.retrain_hint.setToolTip(
            "The run in progress keeps its settings; Retrain starts a new run with these:\n"
            + "\n".join(changes)
        )
        self.runButtonsChanged.emit()


def _spin(name: str, low: int, high: int, tip: str) -> IntBox:
    spin = IntBox()
    spin.setObjectName(name)
    spin.setRange(low, high)
    spin.setToolTip(tip)
    return spin


def _form(parent: QWidget) -> QFormLayout:
    form = QFormLayout(parent)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setContentsMargins(6, 6, 6, 6)
    return form


def _align_labels(*forms: QFormLayout) -> None:
    """One label width for all forms, so the fields of every group line up."""
    labels: list[QLabel] = []
    for form in forms:
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if item is not None and item.widget() is not None:
                labels.append(item.widget())
    width = max(label.sizeHint().width() for label in labels)
    for label in labels:
        label.setMinimumWidth(width)
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def _narrow(combo: QComboBox) -> None:
    """Let a combo box shrink with the dock (eliding its text) instead of widening it."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(8)


def _wrap_anywhere(label: QLabel) -> None:
    """A wrapped label whose long words (file names) never force the dock wider."""
    label.setWordWrap(True)
    policy = label.sizePolicy()
    policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
    label.setSizePolicy(policy)


def _breakable(text: str) -> str:
    """Mark line-break chances (zero-width spaces) after separators inside long words."""
    return re.sub(r"\S{25,}", lambda word: re.sub(r"([/\\_.\-])", "\\1\u200b", word.group()), text)


def _as_int(value: object) -> int | None:
    """A whole number from saved settings (4 or 4.0), else None; bools and strings are not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too big for a float
        return None
    return number if math.isfinite(number) else None
