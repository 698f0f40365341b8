"""Long steps are reported as events the CLI draws (``ewp.core.progress``, ``ewp.cli.terminal``),
and the libraries' own output stays off the user's console unless ``-v`` asks for it."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from ewp.cli.terminal import ProgressDisplay, session
from ewp.core.progress import EVENT_ATTRIBUTE, LOGGER, ProgressEvent, step, track


class _Events(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[ProgressEvent] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(getattr(record, EVENT_ATTRIBUTE))


@pytest.fixture
def events() -> list[ProgressEvent]:
    logger = logging.getLogger(LOGGER)
    handler, level = _Events(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.events
    logger.removeHandler(handler)
    logger.setLevel(level)


def states(events: list[ProgressEvent]) -> list[tuple[int, int | None, bool, bool]]:
    return [(e.completed, e.total, e.finished, e.failed) for e in events]


def test_a_step_reports_its_start_each_advance_and_its_end(events: list[ProgressEvent]) -> None:
    # The module docstring's worked example.
    with step("Evaluating 2 test dates", total=2) as evaluating:
        evaluating.advance()
        evaluating.advance()
        evaluating.detail("2 splits")
    assert states(events) == [(0, 2, False, False), (1, 2, False, False), (2, 2, False, False),
                              (2, 2, True, False)]  # fmt: skip
    assert {e.description for e in events} == {"Evaluating 2 test dates"}
    assert len({e.step_id for e in events}) == 1
    assert events[-1].detail == "2 splits"


def test_a_failed_step_says_so_and_the_error_goes_on(events: list[ProgressEvent]) -> None:
    with pytest.raises(KeyError), step("Reading the export"):
        raise KeyError("tp")
    assert states(events) == [(0, None, False, False), (0, None, True, True)]


def test_track_counts_one_per_item(events: list[ProgressEvent]) -> None:
    assert list(track(["a", "b", "c"], "Auditing 3 test dates", 3)) == ["a", "b", "c"]
    assert [e.completed for e in events] == [0, 1, 2, 3, 3]
    assert events[-1].finished


def test_without_a_terminal_each_finished_step_is_one_line() -> None:
    out = io.StringIO()
    display = ProgressDisplay(Console(file=out, width=200), live=False)
    logger = logging.getLogger(LOGGER)
    logger.addHandler(display)
    logger.setLevel(logging.DEBUG)
    try:
        with step("Reading and validating the export") as validating:
            validating.detail("10 rows read = 9 accepted + 1 quarantined")
        with pytest.raises(RuntimeError), step("Building the feature matrix", total=4) as b:
            b.advance(3)
            raise RuntimeError("out of memory")
    finally:
        logger.removeHandler(display)
        logger.setLevel(logging.NOTSET)
    lines = [line.rsplit(" (", 1)[0] for line in out.getvalue().splitlines()]
    assert lines == [
        "✓ Reading and validating the export: 10 rows read = 9 accepted + 1 quarantined",
        "✗ Building the feature matrix",
    ]


class _Seen(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


RUN_LINES = [
    "Starting temporary server on http://127.0.0.1:8000",
    "Beginning flow run 'x' for flow 'ewp-train'",
    "Finished in state Completed()",
    "Encountered exception during execution",
    "Finished in state Failed('no champion yet')",
    "No eligible candidate: nothing registered",
]


def _log_what_a_run_logs() -> None:
    """What Prefect and a flow log while a command runs (``RUN_LINES``)."""
    logging.getLogger("prefect").info(RUN_LINES[0])
    logging.getLogger("prefect.flow_runs").info(RUN_LINES[1])
    logging.getLogger("prefect.task_runs").info(RUN_LINES[2])
    try:
        raise LookupError("no champion yet")
    except LookupError:
        logging.getLogger("prefect.flow_runs").exception(RUN_LINES[3])
    logging.getLogger("prefect.task_runs").error(RUN_LINES[4])
    logging.getLogger("prefect.flow_runs").warning(RUN_LINES[5])


@pytest.mark.parametrize("verbose", [False, True])
def test_the_console_shows_library_noise_only_when_verbose(verbose: bool) -> None:
    # ``seen`` stands for Prefect's console handler on the root logger.
    root, seen, prefect = logging.getLogger(), _Seen(), logging.getLogger("prefect")
    level = prefect.level
    prefect.setLevel(logging.INFO)  # as Prefect's logging config sets it
    root.addHandler(seen)
    try:
        with session(Console(file=io.StringIO()), verbose=verbose):
            _log_what_a_run_logs()
            mlflow_warns = logging.getLogger("mlflow").isEnabledFor(logging.WARNING)
        during = list(seen.messages)
        seen.messages.clear()
        _log_what_a_run_logs()  # after the command: nothing filtered any more
        after = list(seen.messages)
    finally:
        root.removeHandler(seen)
        prefect.setLevel(level)
    assert during == (RUN_LINES if verbose else ["No eligible candidate: nothing registered"])
    assert after == RUN_LINES
    assert mlflow_warns is verbose  # MLflow's pickle warning and INFO lines: only with -v


def test_a_real_score_without_a_champion_prints_one_line_and_no_traceback(
    small_trained, prefect_harness: None, tmp_path: Path
) -> None:
    """The issue's case end to end, in a process of its own: ``ewp score`` on a store with no
    champion printed Prefect's traceback before its message."""
    from prefect.settings import PREFECT_API_URL

    from ewp.flows.common import synthetic_folder
    from tests.conftest import SMALL_TRAIN

    config = tmp_path / "no-champion.yaml"
    export = synthetic_folder(SMALL_TRAIN, small_trained.home) / "export"
    config.write_text(
        yaml.safe_dump({**SMALL_TRAIN.model_dump(mode="json"), "data": {"dir": str(export)}})
    )
    env = {
        **os.environ,
        "EWP_HOME": str(tmp_path / "home"),
        "PREFECT_API_URL": PREFECT_API_URL.value(),
    }
    done = subprocess.run(
        [sys.executable, "-m", "ewp.cli", "score", "-c", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines()[-1].startswith("No champion yet: run `ewp train -c ")
    for noise in ("Traceback", "Tracker", "Finished in state", "Starting temporary server"):
        assert noise not in done.stdout
