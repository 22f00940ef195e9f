"""`headwatch train | inspect | sample | ladder` — the core, from a terminal.

Bad input exits with status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

from headwatch.core import __version__
from headwatch.core.ablation import ABLATIONS, ablation_values, knocked_out, parse_heads
from headwatch.core.analyses import DEFAULT_WINDOWS, analyse_heads, run_windows
from headwatch.core.charnames import quoted, quoted_string, visible_string
from headwatch.core.config import MAX_SEED, check_sampling, check_whole, tokens_per_s
from headwatch.core.control import TrainControl
from headwatch.core.corpus import CorpusError, EncodedPrompt, load_corpus
from headwatch.core.distributed import Distributed, from_environment
from headwatch.core.follow import DEFAULT_STALE_AFTER_S, RunFollower
from headwatch.core.formatting import first_of, head_names, typed_prompt
from headwatch.core.head_profiles import base_json
from headwatch.core.inspection import inspect_prompt, sample_text
from headwatch.core.ladder import (
    DEFAULT_EVAL_ITERS,
    DEFAULT_ITERS,
    STAGES,
    LadderRow,
    Stage,
    format_table,
    run_ladder,
    stage_dirs,
)
from headwatch.core.logit_lens import logit_lens, stage_losses
from headwatch.core.model import GPT, ConfigError, GPTConfig
from headwatch.core.oom import build_trainer, is_out_of_memory
from headwatch.core.performance import ThreadTuner
from headwatch.core.presets import DEFAULT_PRESET, PRESETS
from headwatch.core.runs import (
    RunError,
    RunRecord,
    RunWriter,
    check_corpus,
    device_available,
    is_run_dir,
    load_run,
    resume_configs,
    trainer_for,
)
from headwatch.core.session import train_into_run
from headwatch.core.snapshot_store import (
    DEFAULT_BUDGET_MB,
    DEFAULT_EVERY_S,
    SnapshotStore,
    list_snapshots,
    nearest,
)
from headwatch.core.tensorboard_log import check_tensorboard
from headwatch.core.trainer import PRECISIONS, TrainConfig, Trainer, TrainingDiverged

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT  # the shell's code for a process stopped by Ctrl+C

# `train` option -> the GPTConfig / TrainConfig field it sets
TRAIN_OPTIONS = {
    "layers": "n_layer",
    "heads": "n_head",
    "embd": "n_embd",
    "block": "block_size",
    "batch": "batch_size",
    "lr": "learning_rate",
    "iters": "max_iters",
    "eval_every": "eval_interval",
    "eval_iters": "eval_iters",
    "dropout": "dropout",
    "seed": "seed",
    "device": "device",
    "precision": "precision",
}


# `train` option -> (metavar, what its field is); --help adds the default
TRAIN_HELP = {
    "layers": ("N", "n_layer: transformer blocks"),
    "heads": ("N", "n_head: attention heads per block; must divide n_embd"),
    "embd": ("N", "n_embd: channels of the residual stream"),
    "block": ("N", "block_size: the longest context, in characters"),
    "batch": ("N", "batch_size: windows of block_size characters per step"),
    "lr": ("X", "learning_rate: AdamW's step size"),
    "iters": ("N", "max_iters: training steps"),
    "eval_every": ("N", "eval_interval: steps between loss estimates, and one at the last step"),
    "eval_iters": ("N", "eval_iters: batches per split averaged by each loss estimate"),
    "dropout": ("X", "dropout: the share of activations zeroed in training, 0 to below 1"),
    "seed": ("N", "seed: for the initial weights and the batches"),
}


class UsageError(Exception):
    pass


def in_option_terms(exc: Exception) -> str:
    """exc's message, a leading config field name (ConfigError.field, e.g. "max_iters") said as
    the option a user types ("--iters"); other messages as they are."""
    message = str(exc)
    field = getattr(exc, "field", None)
    options = [o for o, f in TRAIN_OPTIONS.items() if f == field]
    if options and message.startswith(f"{field} "):
        return "--" + options[0].replace("_", "-") + message[len(field) :]
    return message


class _OtherRankFailed(Exception):
    """Under torchrun: another rank met bad input (and says so); this one stops quietly."""


def _is_main_rank() -> bool:
    """False on torchrun's ranks other than 0: they keep quiet, so a message is said once."""
    return os.environ.get("RANK", "0") == "0"


class _ParserExit(Exception):
    """argparse is done (--help was printed): main returns status rather than exiting, so the
    output is flushed where a closed one is handled."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not a usage dump
        raise UsageError(f"{message} (see: {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._print_message(message, sys.stderr)
        raise _ParserExit(status)


def _train_defaults() -> dict:
    """A new run's settings when no preset is named: the default preset's over GPTConfig's and
    TrainConfig's defaults."""
    return {**GPTConfig().to_dict(), **TrainConfig().to_dict(), **PRESETS[DEFAULT_PRESET]}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="headwatch",
        description="Watch a small GPT learn.",
        epilog="Without a subcommand, headwatch opens the window; headwatch --follow RUN_DIR "
        "opens it following a run that another process is training (on this machine, a share "
        "or a synced folder): its curves and views update as the run is written.",
    )
    parser.add_argument("--version", action="version", version=f"headwatch {__version__}")
    sub = parser.add_subparsers(
        dest="command", parser_class=_Parser, help="what to do (headwatch COMMAND --help says more)"
    )

    d, t = _train_defaults(), TrainConfig()
    train = sub.add_parser(
        "train",
        help="train a model into a run folder",
        description="Options left out take the preset's value (or the default shown); with "
        "--resume they keep the run's.",
    )
    _corpus_option(train)
    train.add_argument(
        "--preset",
        choices=PRESETS,
        help=f"a starting point ({DEFAULT_PRESET}'s values are the defaults); options given "
        "too override it",
    )
    # None: not given, so the preset or the resumed run decides (see _new_run, _resume)
    for option, (metavar, what) in TRAIN_HELP.items():
        more = "; with --resume: steps to train more" if option == "iters" else ""
        flag, shown = "--" + option.replace("_", "-"), d[TRAIN_OPTIONS[option]]
        _number(train, flag, metavar, what, None, shown=shown, more=more)
    _device_option(train, None)
    train.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="auto (default): bf16 where the hardware has it and a step is big enough, fp16 on "
        "a CUDA GPU without bf16, else fp32",
    )
    _out_option(train, "run folder to create (with --resume: to continue)")
    train.add_argument("--resume", action="store_true", help="continue the run already in --out")
    every = "a weights snapshot for followers this often"
    at_evals = "; 0: only at log-spaced steps and evaluations"
    _number(train, "--snapshot-every", "SECONDS", every, DEFAULT_EVERY_S, more=at_evals)
    budget = "most disk the run's snapshots take; older ones are thinned"
    _number(train, "--snapshot-budget-mb", "MB", budget, DEFAULT_BUDGET_MB, more="; 0: none")
    board = "also write TensorBoard event files in RUN/tb/ (pip install headwatch[tensorboard])"
    train.add_argument("--tensorboard", action="store_true", help=board)
    compiled = "compile the model with torch.compile first (minutes of compiling; faster steps)"
    train.add_argument("--compile", action="store_true", help=compiled)

    inspect = _run_command(sub, "inspect", "attention, FFN and next-char guesses for a prompt")
    _prompt_option(inspect, "text whose last character is looked at", required=True)
    _json_option(inspect)
    _knockout_options(inspect)
    step = "the weights snapshot of this step (the nearest one kept) instead of the checkpoint"
    inspect.add_argument("--step", type=int, metavar="N", help=step)

    heads = _run_command(
        sub, "heads", "what each attention head does: profile, label, loss without it"
    )
    _windows_option(heads, "to measure over")
    _ablation_option(heads)
    _json_option(heads)
    over_time = "every head's label at every weights snapshot of the run, and when it took its last"
    heads.add_argument("--over-time", action="store_true", help=over_time)
    heads.add_argument(
        "--csv", action="store_true", help="with --over-time: one CSV row per (snapshot, head)"
    )

    lens = _run_command(
        sub, "lens", "the logit lens: the prediction after each sub-layer, and loss by depth"
    )
    guessed = "text whose next character each stage guesses (its last block_size characters)"
    _prompt_option(lens, guessed, required=True)
    _windows_option(lens, "for the loss by depth")
    _json_option(lens)
    _knockout_options(lens)

    follow = _run_command(
        sub,
        "follow",
        "follow a run another process is training (here, on a share or a synced folder)",
        description="Prints each evaluation and each new weights snapshot as they land, and "
        "ends when the run ends (Ctrl+C stops following; the run is never touched). As in the "
        "other commands, results go to stdout, here what the run produced: its evaluations, "
        "its new weights snapshots and its end, a line each; notes go to stderr: what the "
        "follower sees (following, waiting, no update for a while, the writer gone).",
    )
    _number(follow, "--interval", "SECONDS", "seconds between looks", 1.0)
    stale = "seconds without a change that count as stale"
    _number(follow, "--stale-after", "SECONDS", stale, DEFAULT_STALE_AFTER_S)

    sample = _run_command(sub, "sample", "let a trained model write")
    _prompt_option(sample, "text to continue (default: none)", default="")
    _number(sample, "--tokens", "N", "characters to write", 500)
    wilder = "divides the logits: below 1 surer, above 1 wilder"
    greedy = "; 0 or below 1e-4: always the most likely character"
    _number(sample, "--temperature", "X", wilder, 1.0, more=greedy)
    same = "the same seed writes the same text (default: a new text each time)"
    sample.add_argument("--seed", type=int, metavar="N", help=same)

    ladder = sub.add_parser(
        "ladder", help="train the lecture's stages, bigram to full block, and compare them"
    )
    _corpus_option(ladder)
    _number(ladder, "--iters", "N", "training steps per stage", DEFAULT_ITERS)
    averaged = "batches per split averaged by each loss estimate"
    _number(ladder, "--eval-iters", "N", averaged, DEFAULT_EVAL_ITERS)
    seeded = "for the initial weights and the batches, the same in every stage"
    _number(ladder, "--seed", "N", seeded, t.seed)
    _device_option(ladder, t.device)
    _out_option(ladder, "folder to hold one run folder per stage")
    resume = (
        "continue the ladder in --out (same --corpus, --iters, --eval-iters, --seed): skip its "
        "finished stages, continue a stopped one from its checkpoint, train the rest"
    )
    ladder.add_argument("--resume", action="store_true", help=resume)
    return parser


# --- options that several commands share -----------------------------------------------------


def _number(
    parser: argparse.ArgumentParser,
    flag: str,
    metavar: str,
    what: str,
    default: float | None,
    shown: float | None = None,
    more: str = "",
) -> None:
    """A number option, whole for metavar N and a float otherwise, whose help says what it is,
    then its default (`shown` where the value of an option not given is another, e.g. None) and
    `more`."""
    shown = default if shown is None else shown
    said = f"{shown:g}" if isinstance(shown, float) else shown
    kind = int if metavar == "N" else float
    help = f"{what} (default {said}{more})"
    parser.add_argument(flag, type=kind, default=default, metavar=metavar, help=help)


def _run_command(
    sub: argparse._SubParsersAction, name: str, help: str, **kwargs
) -> argparse.ArgumentParser:
    """A subcommand that reads the run folder given first (RUN_DIR)."""
    command = sub.add_parser(name, help=help, **kwargs)
    command.add_argument("run", metavar="RUN_DIR", help="run folder")
    return command


def _prompt_option(parser: argparse.ArgumentParser, what: str, **kwargs) -> None:
    # "\n" as in the window's prompt field, so a prompt copied from it means the same here
    help = f"{what}; \\n starts a new line, as in the window"
    parser.add_argument("--prompt", metavar="TEXT", type=typed_prompt, help=help, **kwargs)


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


def _corpus_option(parser: argparse.ArgumentParser) -> None:
    shakespeare = "UTF-8 text file to train on (default: built-in Shakespeare)"
    parser.add_argument("--corpus", metavar="FILE", help=shakespeare)


def _device_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument(
        "--device", default=default, help="where to train: auto, cpu, cuda or mps (default auto)"
    )


def _out_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help=what)


def _windows_option(parser: argparse.ArgumentParser, what_for: str) -> None:
    _number(parser, "--windows", "N", f"validation windows {what_for}", DEFAULT_WINDOWS)


def _ablation_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ablation",
        choices=ABLATIONS,
        default="mean",
        help="a knocked-out head's output: its mean over validation windows (default) or zero",
    )


def _knockout_options(parser: argparse.ArgumentParser) -> None:
    heads = "knock these heads out (1-based layer.head), e.g. 1.2,3.4 or L1·H2,L3·H4"
    parser.add_argument("--knockout", metavar="L.H[,L.H...]", help=heads)
    _ablation_option(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: argv without the program name (default sys.argv[1:]); returns the exit code.
    Bad input is one line on stderr and EXIT_BAD_INPUT, never a traceback."""
    parser = build_parser()
    command = None
    try:
        try:
            args = parser.parse_args(argv)
        except _ParserExit as done:  # --help was printed
            code = done.status
        else:
            command = args.command
            code = COMMANDS[command](args) if command else _print_help(parser)
        sys.stdout.flush()  # here rather than at exit, so a reader that left is handled below
        return code
    except _OtherRankFailed:
        return EXIT_BAD_INPUT
    except (UsageError, ConfigError, CorpusError, RunError) as exc:
        if _is_main_rank():
            print(f"headwatch: error: {in_option_terms(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # before training began, or a second Ctrl+C outside it
        print("headwatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of the output left (`| head`)
        return _output_closed(command)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
    print(
        "headwatch: error: out of memory — close other programs, or use a smaller model",
        file=sys.stderr,
    )
    return EXIT_BAD_INPUT


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


# The commands whose closed output stops their work: `train` writes each evaluation as it
# trains, so a reader that left stops training (after the step in flight, which is saved) and
# that is said. Every other command only reads a run or writes text once its work is done, and a
# reader that stopped reading is normal there, as for `git log | head`: quiet, exit 0.
CLOSED_OUTPUT_STOPS = frozenset({"train"})


def _output_closed(command: str | None) -> int:
    """The exit code once a reader of stdout or stderr left while command ran (None: while the
    command line was read); said on stderr only for CLOSED_OUTPUT_STOPS."""
    stops = command in CLOSED_OUTPUT_STOPS
    if stops:
        with contextlib.suppress(OSError):  # stderr may be the pipe that closed
            print("headwatch: the output was closed; stopped", file=sys.stderr, flush=True)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # what is still buffered goes nowhere, not to an error at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    return 1 if stops else 0


class _Interrupts:
    """SIGINT and SIGTERM while a command trains: the first stops after the step in flight
    (which is then saved); a second quits at once (KeyboardInterrupt), keeping what is on disk.
    Each is said as what it was: only a Ctrl+C is told that another one quits at once.

    signum: the first signal received, or None; again: the second, or None."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    # what a signal is called in a message (first, then again)
    NAMES = {
        signal.SIGINT: ("Ctrl+C", "interrupted again"),
        signal.SIGTERM: ("terminated (SIGTERM)", "terminated again"),
    }
    # Under torchrun a Ctrl+C reaches each rank twice (from the terminal, then forwarded by
    # torchrun as SIGTERM): a second signal this soon is the same interruption.
    SAME_INTERRUPTION_S = 2.0

    def __init__(self, control: TrainControl) -> None:
        self.control = control
        self.signum: int | None = None
        self.again: int | None = None
        self.kept = "what was saved is kept"  # the command says what, once it has stopped
        self._previous: dict = {}
        self._first_at = 0.0

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():  # where signals can be caught
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            # stopped by a signal, the command is on its way out: a second one, even while
            # Python exits, quits at once (the default handler would raise in an atexit hook)
            signal.signal(signum, self._quit_now if self.signum is not None else handler)

    def _same_interruption(self) -> bool:
        soon = time.monotonic() - self._first_at < self.SAME_INTERRUPTION_S
        return soon and "RANK" in os.environ

    def _handle(self, signum: int, frame) -> None:
        if self.signum is not None:
            if self._same_interruption():
                return
            self.again = signum
            self.control.abort()
            raise KeyboardInterrupt
        self.signum = signum
        self._first_at = time.monotonic()
        self.control.stop()
        if not _is_main_rank():
            return
        hint = " (Ctrl+C again quits at once)" if signum == signal.SIGINT else ""
        # os.write, not print: a handler may run while print is writing to the same stream
        os.write(
            2,
            f"headwatch: {self.NAMES[signum][0]}: stopping after the step in flight and saving "
            f"it{hint}\n".encode(),
        )

    def _quit_now(self, signum: int, frame) -> None:
        """A second signal after the command stopped: its files are written and closed."""
        if self._same_interruption():
            return
        self.again = signum
        os.write(2, f"headwatch: {self.quit_at_once()}; {self.kept}\n".encode())
        os._exit(self.exit_code)

    def quit_at_once(self) -> str:
        """What a second signal did, e.g. "interrupted again, quit at once"."""
        return f"{self.NAMES[self.again or signal.SIGINT][1]}, quit at once"

    @property
    def exit_code(self) -> int:
        """128 + the signal that ended the command: the shell's code for it (130, 143)."""
        return 128 + (self.again or self.signum or signal.SIGINT)


# --- train -----------------------------------------------------------------------------------


def _given(args: argparse.Namespace) -> dict:
    """The settings named on the command line: field -> value."""
    return {
        field: getattr(args, option)
        for option, field in TRAIN_OPTIONS.items()
        if getattr(args, option) is not None
    }


def _new_run(args: argparse.Namespace, distributed: Distributed | None):
    """(corpus, build) for a new run: defaults, then the preset, then the options given;
    build(**kwargs) makes its trainer."""
    settings = {**_train_defaults(), **PRESETS.get(args.preset or "", {}), **_given(args)}
    # other ranks do not look: rank 0 may have created it a moment ago
    if _is_main_rank() and is_run_dir(args.out):  # before minutes of loading
        raise RunError(
            f"{args.out}: already holds a run — resume it (--resume), or choose another --out"
        )
    corpus = load_corpus(args.corpus)
    model_fields = set(GPTConfig().to_dict())
    model = {k: v for k, v in settings.items() if k in model_fields}
    model_config = GPTConfig(**{**model, "vocab_size": corpus.vocab_size})
    train_config = TrainConfig(**{k: v for k, v in settings.items() if k not in model_fields})
    return corpus, lambda **kw: build_trainer(corpus, model_config, train_config, **kw)


def _resume(args: argparse.Namespace, distributed: Distributed | None):
    """(corpus, build, record, steps, note) to continue the run in --out with the options
    given applied (see core.runs.resume_configs); build(**kwargs) makes its trainer. Under
    another number of processes than the run's, the global batch is kept (see _per_rank_batch)."""
    if args.preset is not None:
        raise UsageError("--preset chooses a new run's settings; it cannot be used with --resume")
    if not is_run_dir(args.out):
        raise RunError(f"{args.out}: there is no run to resume here")
    record = load_run(args.out)
    asked = _given(args)
    if args.iters is not None:
        steps = check_whole("--iters", asked.pop("max_iters"))
    else:  # to the run's target, or another round as long when it got there
        target = record.train_config.max_iters
        steps = target - record.step if record.step < target else target
    asked["max_iters"] = record.step + steps
    if "device" not in asked and not device_available(record.train_config.device):
        asked["device"] = "auto"  # trained elsewhere (a GPU): here, wherever auto finds
    world_size = distributed.world_size if distributed else 1
    if "batch_size" not in asked and world_size != record.world_size:
        asked["batch_size"] = _per_rank_batch(record, world_size)
    # --corpus may name the same text elsewhere; check_corpus refuses any other text
    corpus = load_corpus(args.corpus if args.corpus is not None else record.corpus.get("path"))
    note = check_corpus(record, corpus)
    model_config, train_config = resume_configs(record, asked)

    def build(**kwargs):
        return trainer_for(
            record, corpus, model_config=model_config, train_config=train_config, **kwargs
        )

    return corpus, build, record, steps, note


def _per_rank_batch(record, world_size: int) -> int:
    """The batch per process that keeps the run's global batch under world_size processes.
    Raises RunError when it does not divide."""
    global_batch = record.global_batch
    if global_batch % world_size:
        raise RunError(
            f"{record.path}: was trained with a global batch of {global_batch} windows "
            f"({record.world_size} × {record.train_config.batch_size}), which does not divide "
            f"among {world_size} processes — resume with a process count that divides it, or "
            "give --batch to change the global batch"
        )
    return global_batch // world_size


def _together(distributed: Distributed | None, work):
    """work() on this rank; under torchrun, when bad input stopped some rank, every rank stops
    (that one raising its error, the others _OtherRankFailed) rather than waiting for it."""
    error = None
    try:
        result = work()
    except (UsageError, ConfigError, CorpusError, RunError) as exc:
        error = exc
    if distributed is not None and distributed.any(error is not None) and error is None:
        raise _OtherRankFailed
    if error is not None:
        raise error
    return result


def cmd_train(args: argparse.Namespace) -> int:
    args.started = time.perf_counter()  # set-up (corpus, model, run folder) is timed from here
    distributed = from_environment()
    try:
        return _train(args, distributed)
    finally:
        if distributed is not None:
            distributed.close()


def _train(args: argparse.Namespace, distributed: Distributed | None) -> int:
    control = TrainControl()
    main_rank = distributed is None or distributed.is_main
    with _Interrupts(control) as interrupts:
        record = None

        def prepare():
            budget = args.snapshot_budget_mb
            store = None if budget == 0 else SnapshotStore(args.out, args.snapshot_every, budget)
            tensorboard = check_tensorboard() if args.tensorboard else None
            if args.resume:
                return *_resume(args, distributed), store, tensorboard
            return *_new_run(args, distributed), None, None, "", store, tensorboard

        corpus, build, record, steps, note, store, tensorboard = _together(distributed, prepare)
        trainer = _together(distributed, lambda: build(distributed=distributed))
        world = distributed.world_size if distributed is not None else 1
        trainer.thread_tuner = ThreadTuner.for_training(trainer.device.type, world)
        if args.compile:
            seconds = trainer.compile()
            if main_rank:
                print(f"compiled the model in {seconds:.1f}s", file=sys.stderr)
        stop = control.stop_requested
        if distributed is not None:
            stop = distributed.any(stop)  # every rank returns here, or none
        if stop:
            if main_rank:
                print("stopped before training began; nothing was changed", file=sys.stderr)
            return interrupts.exit_code
        if not main_rank:
            _together(distributed, lambda: None)  # rank 0 opens the run folder meanwhile
            return _follow_the_group(trainer, control, steps, interrupts)

        def open_run():
            if store is not None:
                store.check_room(trainer.model)
            if record is not None:
                writer = RunWriter.reopen(record)
                return writer, writer.record_changes(record, trainer)
            world_size = distributed.world_size if distributed else 1
            writer = RunWriter.create(
                args.out, corpus, trainer.model_config, trainer.config, world_size
            )
            return writer, {}

        writer, changed = _together(distributed, open_run)
        writer.snapshots = store
        for line in [*writer.notes, note]:
            if line:
                print(f"headwatch: {line}", file=sys.stderr)
        print(corpus.summary(), file=sys.stderr)
        if record is not None:
            what = ", ".join(f"{k} {v}" for k, v in changed.items())
            print(
                f"resuming {args.out} at step {record.step} on {trainer.device}"
                + (f"; now {what}" if what else ""),
                file=sys.stderr,
            )
        print(
            f"model: {trainer.model_config.n_layer} layers × {trainer.model_config.n_head} "
            f"heads, n_embd {trainer.model_config.n_embd}, block "
            f"{trainer.model_config.block_size}, {trainer.model.num_parameters():,} parameters "
            f"on {trainer.device}",
            file=sys.stderr,
        )
        if distributed is not None:
            print(
                f"{distributed.world_size} processes ({distributed.backend}), "
                f"{trainer.config.batch_size} windows each: a global batch of "
                f"{distributed.world_size * trainer.config.batch_size}",
                file=sys.stderr,
            )
        board = tensorboard(args.out, trainer) if tensorboard else None
        try:
            return _train_loop(args, trainer, writer, control, steps, interrupts, board)
        finally:
            if board is not None:
                board.close()


def _follow_the_group(trainer, control, steps, interrupts) -> int:
    """A rank other than 0 under torchrun: the same steps, silently, writing nothing."""
    try:
        for _ in trainer.run(control, steps):
            pass
    except TrainingDiverged:
        return 1
    except KeyboardInterrupt:
        return interrupts.exit_code
    return interrupts.exit_code if interrupts.signum is not None else 0


def _kept(writer: RunWriter) -> str:
    if writer.saved_step is None:
        return "nothing was saved"
    return f"the checkpoint of step {writer.saved_step} is kept in {writer.path}"


def _train_loop(args, trainer, writer, control, steps, interrupts, board) -> int:
    bar = _ProgressBar(sys.stderr)
    last = None
    timing = _Timing(args.started, trainer, writer)
    since = (trainer.step, trainer.elapsed)  # the previous line's: its tok/s covers the steps since
    try:
        for p in train_into_run(trainer, writer, control, steps):
            if board is not None:
                board.record(p)
            if p.is_eval:
                bar.clear()
                print(
                    f"step {p.step:>6}/{p.total}  train {p.train_estimate:.4f}"
                    f"  val {p.val_estimate:.4f}"
                    f"  {timing.tokens_per_s(p.step - since[0], p.elapsed - since[1]):,.0f} tok/s"
                    f"  {p.elapsed:.0f}s",
                    flush=True,
                )
                last, since = p, (p.step, p.elapsed)
            else:
                bar.update(p)
    except TrainingDiverged as exc:
        bar.clear()
        print(f"headwatch: {exc}; the last good checkpoint is kept in {args.out}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        bar.clear()
        print(f"headwatch: {interrupts.quit_at_once()}; {_kept(writer)}", file=sys.stderr)
        return interrupts.exit_code
    finally:
        bar.clear()
    if interrupts.signum is not None:
        interrupts.kept = _kept(writer)
        print(
            f"stopped at step {writer.saved_step}; {timing}; saved in {args.out}", file=sys.stderr
        )
        return interrupts.exit_code
    if last is not None:
        resumed = f" ({timing.steps} trained now)" if timing.first_step else ""
        print(
            f"done: {trainer.step} steps{resumed}, train {last.train_estimate:.4f}, "
            f"val {last.val_estimate:.4f}, {timing}; saved in {args.out}"
        )
    return 0


class _Timing:
    """Where a train command's wall time went, from its start to now.

    Training speed is this session's steps over its seconds in steps (trainer.elapsed, what the
    window's tok/s uses); set-up, evaluations and saving are each measured where they happen,
    and "other" is what is left (the loop, printing)."""

    def __init__(self, started: float, trainer: Trainer, writer: RunWriter) -> None:
        self.started, self.trainer, self.writer = started, trainer, writer
        self.loop_started = time.perf_counter()
        self.first_step, self.elapsed_before = trainer.step, trainer.elapsed
        self.evaluated_before = trainer.eval_seconds

    @property
    def steps(self) -> int:
        return self.trainer.step - self.first_step

    def tokens_per_s(self, steps: int, seconds: float) -> float:
        """Characters trained on per second over `steps` steps that took `seconds`."""
        tokens_per_step = self.trainer.config.batch_size * self.trainer.model_config.block_size
        return tokens_per_s(steps, tokens_per_step, seconds) or 0.0

    def __str__(self) -> str:
        wall = time.perf_counter() - self.started
        train_s = self.trainer.elapsed - self.elapsed_before
        set_up = self.loop_started - self.started
        evaluations = self.trainer.eval_seconds - self.evaluated_before
        saving = self.writer.saving_seconds
        other = max(0.0, wall - set_up - train_s - evaluations - saving)
        return (
            f"{self.tokens_per_s(self.steps, train_s):,.0f} tok/s over {train_s:.1f}s of "
            f"training; set-up {set_up:.1f}s, evaluations {evaluations:.1f}s, saving "
            f"{saving:.1f}s, other {other:.1f}s, {wall:.1f}s wall in all"
        )


class _ProgressBar:
    """A one-line bar on a terminal; nothing when output goes to a file or pipe."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self._last_draw = 0.0

    def update(self, p) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last_draw < 0.1:
            return
        self._last_draw = now
        width = 30
        done = int(width * p.step / max(p.total, 1))
        self.stream.write(
            f"\r[{'#' * done}{'.' * (width - done)}] {p.step}/{p.total} loss {p.loss:.3f} "
            f"{p.tokens_per_s:,.0f} tok/s"
        )
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


# --- inspect / sample ------------------------------------------------------------------------


def cmd_inspect(args: argparse.Namespace) -> int:
    if args.step is not None and args.step < 0:
        raise ConfigError(f"--step must be a step of the run (0 or more), got {args.step}")
    record = load_run(args.run, with_checkpoint=args.step is None)
    _prompt(args, record)
    if args.step is None:
        model, step = record.build_model(), record.step
    else:
        info = nearest(list_snapshots(args.run), args.step)
        if info.step != args.step:
            _note(f"no snapshot of step {args.step} is kept; showing step {info.step}, the nearest")
        model, step = record.build_snapshot_model(info), info.step
    with _knockout(args, record, model):
        result = inspect_prompt(model, record.tokenizer, args.prompt, step)
    if args.json:
        return _write_json(result.to_json())
    print(f"run {args.run} at step {step}; prompt {quoted_string(''.join(result.tokens))}")
    for layer in range(result.attention.shape[0]):
        for head in range(result.attention.shape[1]):
            row = result.attention[layer, head, -1]
            best = int(row.argmax())
            print(
                f"{head_names([(layer, head)])}: last char attends most to "
                f"{quoted(result.tokens[best])} (pos {best}) {row[best]:.2f}"
            )
        active = float((result.ffn[layer] > 0).mean())
        print(f"L{layer + 1} feed-forward: {active:.0%} of units active")
    print("next: " + "  ".join(f"{quoted(ch)} {p:.2f}" for ch, p in result.next_chars))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    check_sampling(args.tokens, args.temperature)  # before loading: bad input fails at once
    if args.seed is not None:
        check_whole("--seed", args.seed, minimum=0, maximum=MAX_SEED)
    record = load_run(args.run)
    _prompt(args, record, empty_ok=True)
    model = record.build_model()
    prompt, continuation = sample_text(
        model, record.tokenizer, args.prompt, args.tokens, args.temperature, seed=args.seed
    )
    print(prompt + continuation)
    return 0


def _prompt(args: argparse.Namespace, record: RunRecord, empty_ok: bool = False) -> EncodedPrompt:
    """args.prompt as record's model sees it: its last block_size characters of the run's
    vocabulary; what is left out (unknown characters, the front beyond block_size) is said on
    stderr. Raises UsageError when the model could use nothing of it: it has characters but
    none of the vocabulary, or (unless empty_ok: `sample` starts from a newline) it is empty."""
    block_size = record.model_config.block_size
    prompt = record.tokenizer.encode_prompt(args.prompt, max_len=block_size)
    if not args.prompt and not empty_ok:
        raise UsageError("the prompt is empty — type some text after --prompt")
    if args.prompt and not prompt.ids:
        listed = first_of([quoted(ch) for ch in dict.fromkeys(u.char for u in prompt.unknown)])
        instead = ", or leave --prompt out to start from a newline" if empty_ok else ""
        raise UsageError(
            f"none of the prompt's characters is in this run's vocabulary (unknown: {listed})"
            f" — type text made of characters of its corpus{instead}"
        )
    if prompt.unknown:
        _note(prompt.describe_unknown())
    if prompt.truncated:
        known = " known" if prompt.unknown else ""
        _note(
            f"the model sees the last {len(prompt.ids)} of the prompt's "
            f"{len(prompt.ids) + prompt.truncated}{known} characters (block_size {block_size})"
        )
    return prompt


def _note(text: str) -> None:
    print(f"headwatch: note: {text}", file=sys.stderr)


def _write_json(data: dict) -> int:
    """data as one JSON object on a line of stdout; returns the exit code, 0."""
    json.dump(data, sys.stdout)
    sys.stdout.write("\n")
    return 0


# --- heads / lens / knockout ----------------------------------------------------------------


def _knockout(args: argparse.Namespace, record: RunRecord, model: GPT):
    """The context the command's model runs in: args.knockout's heads knocked out, if any."""
    if args.knockout is None:  # --knockout '' is refused by parse_heads, not taken as none
        return contextlib.nullcontext()
    config = record.model_config
    heads = parse_heads(args.knockout, config.n_layer, config.n_head)
    x = run_windows(record)[0] if args.ablation == "mean" else None
    values = ablation_values(model, x, args.ablation)
    _note(f"heads {head_names(heads)} knocked out ({args.ablation})")
    return knocked_out(model, heads, values)


def cmd_heads(args: argparse.Namespace) -> int:
    if args.over_time or args.csv:
        return _heads_over_time(args)
    record = load_run(args.run)
    model = record.build_model()
    x, y = run_windows(record, args.windows)
    analysis = analyse_heads(model, record.tokenizer, x, y, args.ablation)
    if args.json:
        return _write_json(analysis.to_json())
    print(
        f"run {args.run} at step {record.step}; over {x.shape[0]} validation windows of "
        f"{x.shape[1]} characters; val loss {analysis.losses.base:.4f}"
    )
    rows = analysis.rows()
    if not rows:
        print("this model has no attention heads (the bigram model)")
        return 0
    chance = base_json(analysis.profiles)["class_profile"]
    print(
        f"{'head':<6} {'label':<14} {'entropy':>7} {'self':>5} {'1 back':>6} {'2 back':>6} "
        f"{'same':>5} {'top class (chance)':<24} {'Δ loss':>7} {'Δ alone':>7}"
    )
    for row in rows:
        offsets = row["offset_profile"] + [0.0, 0.0]  # a block of 1 or 2 has fewer offsets
        cls, share = max(row["class_profile"].items(), key=lambda kv: kv[1] - chance[kv[0]])
        top_class = f"{cls} {share:.2f} ({chance[cls]:.2f})"
        name = head_names([(row["layer"] - 1, row["head"] - 1)])  # the rows count from 1
        print(
            f"{name:<6} {row['label']:<14} {row['entropy']:>7.2f} "
            f"{offsets[0]:>5.2f} {offsets[1]:>6.2f} {offsets[2]:>6.2f} {row['same_char']:>5.2f} "
            f"{top_class:<24} "
            f"{row['delta_loss']:>+7.3f} {row['delta_loss_kept_only']:>+7.3f}"
        )
    print(
        "self / k back: mean weight on the key k back; same: on earlier keys with the query's "
        "character; Δ loss: val loss rise when the head is knocked out; Δ alone: when it is its "
        f"layer's only head ({args.ablation}-ablation)"
    )
    return 0


def _heads_over_time(args: argparse.Namespace) -> int:
    """`heads --over-time [--csv]`: labels at every snapshot (core.timeline)."""
    from headwatch.core.timeline import label_changes, labels_over_time, write_labels_csv

    if not args.over_time:
        raise UsageError("--csv goes with --over-time: heads RUN --over-time --csv")
    if args.json:
        raise UsageError("--over-time has no --json: --csv writes its rows")
    rows = labels_over_time(args.run, args.windows)
    if args.csv:
        write_labels_csv(rows, sys.stdout)
        return 0
    if not rows:
        print("this model has no attention heads (the bigram model)")
        return 0
    steps = sorted({r.step for r in rows})
    print(
        f"run {args.run}: {len(steps)} snapshots, steps {steps[0]:,} to {steps[-1]:,}; labels "
        f"over {args.windows} validation windows"
    )
    for change in label_changes(rows):
        name = head_names([(change.layer, change.head)])
        since = (
            f"since step {change.step:,} (was '{change.previous}')"
            if change.previous is not None
            else "from the first snapshot"
        )
        print(f"{name:<8} '{change.label}' {since}")
    return 0


def cmd_lens(args: argparse.Namespace) -> int:
    record = load_run(args.run)
    prompt = _prompt(args, record)
    model = record.build_model()
    x, y = run_windows(record, args.windows)
    with _knockout(args, record, model):
        result = logit_lens(model, record.tokenizer, prompt)
        losses = stage_losses(model, x, y)
    if args.json:
        return _write_json({**result.to_json(losses), "truncated": prompt.truncated})
    print(f"run {args.run} at step {record.step}; prompt {quoted_string(prompt.text)}")
    if result.note:
        print(f"note: {result.note}")
    print(f"loss by depth over {x.shape[0]} validation windows; each stage's guess per position:")
    shown = visible_string("".join(result.tokens))
    print(f"{'':<8} {'loss':>6}  {'p(next)':>7}  {shown}")
    for name, loss, p_next, top in zip(
        result.stages, losses, result.p_next, result.top, strict=True
    ):
        known = [p for p in p_next if p is not None]
        mean = f"{sum(known) / len(known):.2f}" if known else "-"
        print(f"{name:<8} {loss:>6.3f}  {mean:>7}  {visible_string(''.join(top))}")
    return 0


# --- follow ----------------------------------------------------------------------------------


FOLLOW_SAYS = {
    "dead": "the writer is no longer running (killed or crashed); still watching",
    "stale": "no update for {idle}",
    "waiting": "waiting for the first checkpoint",
}


def cmd_follow(args: argparse.Namespace) -> int:
    """What the run produced on stdout as it lands (evaluations, weights snapshots, its end),
    the follower's states on stderr; 0 when the run ends."""
    if not (args.interval > 0 and args.stale_after > 0):
        raise ConfigError("--interval and --stale-after must be more than 0 seconds")
    follower = RunFollower(args.run, stale_after_s=args.stale_after)
    said = None
    try:
        for update in follower.updates(args.interval):
            for row in update.rows:
                if row.val is not None:
                    print(f"step {row.step:>6}  train {row.train:.4f}  val {row.val:.4f}")
            if update.snapshot is not None:
                print(f"weights of step {update.snapshot.step}")
            if update.state == "ended":
                print(f"the run ended at step {update.step}")
                return 0
            sys.stdout.flush()  # before a note, so both streams into one file keep their order
            says = FOLLOW_SAYS.get(update.state, "following")
            if says != said:
                idle_s = update.idle_s
                idle = f"{idle_s / 60:.0f} min" if idle_s >= 60 else f"{idle_s:.0f} s"
                print(f"headwatch: {says.format(idle=idle)}", file=sys.stderr, flush=True)
                said = says
    except KeyboardInterrupt:
        return 0
    return 0


# --- ladder ----------------------------------------------------------------------------------


def cmd_ladder(args: argparse.Namespace) -> int:
    """Progress on stderr, the Markdown table alone on stdout (so it can be redirected)."""
    if args.iters < 1:
        raise ConfigError(f"--iters must be at least 1, got {args.iters}")
    if args.eval_iters < 1:
        raise ConfigError(f"--eval-iters must be at least 1, got {args.eval_iters}")
    control = TrainControl()
    at: dict = {}  # the stage in flight and its last step, for the message of a stop
    saved: dict[str, int] = {}  # stage name -> the step a stage continues from
    corpus_said = False

    def said_corpus() -> None:
        """The corpus line, once, before the first stage is named: by then all input is
        checked, so bad input stays one line."""
        nonlocal corpus_said
        if not corpus_said:
            print(corpus.summary(), file=sys.stderr)
            corpus_said = True

    def on_found(stage: Stage, step: int, row: LadderRow | None) -> None:
        said_corpus()
        folder = stage_dirs(args.out, STAGES)[STAGES.index(stage)]
        if row is not None:
            print(
                f"{stage.label}: finished before (val {row.val:.4f}) in {folder}; skipped",
                file=sys.stderr,
            )
        else:
            saved[stage.name] = step
            print(f"{stage.label}: stopped at step {step} in {folder}; continuing", file=sys.stderr)

    def on_stage(stage: Stage, row: LadderRow | None) -> None:
        said_corpus()
        if row is None:
            step = saved.get(stage.name, 0)
            at.update(stage=stage, step=step)
            more = f" more (to {args.iters})" if step else ""
            print(
                f"{stage.label}: training {args.iters - step} "
                f"step{'' if args.iters - step == 1 else 's'}{more}",
                file=sys.stderr,
                flush=True,
            )
        else:
            print(
                f"{stage.label}: {row.parameters:,} parameters, train {row.train:.4f}, "
                f"val {row.val:.4f}, {row.tokens_per_s:,.0f} tok/s, {row.seconds:.1f}s",
                file=sys.stderr,
                flush=True,
            )

    def on_progress(stage: Stage, p) -> None:
        at["step"] = p.step
        if p.is_eval and p.step < p.total:
            print(
                f"  step {p.step:>6}/{p.total}  train {p.train_estimate:.4f}"
                f"  val {p.val_estimate:.4f}",
                file=sys.stderr,
                flush=True,
            )

    def where() -> str:
        if "stage" not in at:
            return f"no stage had started; nothing was saved in {args.out}"
        folder = stage_dirs(args.out, STAGES)[STAGES.index(at["stage"])]
        return f"{at['stage'].name!r} at step {at['step']} is saved in {folder}"

    with _Interrupts(control) as interrupts:
        interrupts.kept = (
            f"the finished stages and the last checkpoint of the stage in flight are kept in "
            f"{args.out} (--resume continues them)"
        )
        corpus = load_corpus(args.corpus)
        try:
            rows = run_ladder(
                corpus,
                args.iters,
                args.out,
                args.seed,
                on_stage,
                eval_iters=args.eval_iters,
                device=args.device,
                on_progress=on_progress,
                control=control,
                resume=args.resume,
                on_found=on_found,
            )
        except TrainingDiverged as exc:
            print(f"headwatch: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"headwatch: {interrupts.quit_at_once()}; {interrupts.kept}", file=sys.stderr)
            return interrupts.exit_code
    if rows:
        print(format_table(rows))
    if interrupts.signum is not None:
        print(
            f"stopped: {len(rows)} of {len(STAGES)} stages finished; {where()}"
            + ("; the same command with --resume continues it" if "stage" in at else ""),
            file=sys.stderr,
        )
        return interrupts.exit_code
    return 0


# subcommand -> what runs it; closed output: see CLOSED_OUTPUT_STOPS
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": cmd_train,
    "inspect": cmd_inspect,
    "sample": cmd_sample,
    "ladder": cmd_ladder,
    "heads": cmd_heads,
    "lens": cmd_lens,
    "follow": cmd_follow,
}


if __name__ == "__main__":
    sys.exit(main())
