"""How ewp's commands talk to the terminal: long steps drawn as a progress display with an
ETA, and Prefect's and MLflow's own output kept out of the way unless asked for (``-v``).

The flows report their steps as log records (``ewp.core.progress``); ``session`` draws them with
rich while a command runs. By default (quiet) the console shows only ewp's own lines: Prefect's
per-run INFO lines, its "Starting temporary server" banner, its copy of a failure's traceback
(the CLI reports an error itself, in one line), MLflow's INFO lines and its pickle warning, and
Python warnings from the libraries are dropped. With ``verbose`` nothing is dropped and the steps
appear as log lines among Prefect's.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.spinner import Spinner
from rich.text import Text

from ewp.core.progress import EVENT_ATTRIBUTE, LOGGER, ProgressEvent

# Set before Prefect and MLflow are imported (they read them then); values already set win.
QUIET_ENVIRONMENT = {
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
    "MLFLOW_LOGGING_LEVEL": "ERROR",
}
# What Prefect's engine logs about a run's state; the CLI says it better, once.
_ENGINE_MESSAGES = (
    "Finished in state",
    "Encountered exception",
    "Task run failed",
    "Flow run failed",
    "Starting temporary server",
    "Stopping temporary server",
)


def quiet_environment() -> None:
    """Ask Prefect and MLflow, through their settings, for warnings and errors only."""
    for key, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


class _LibraryNoise(logging.Filter):
    """Drop Prefect's and the libraries' lines that are not for the user (module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or record.exc_info:
            return False
        return not record.getMessage().startswith(_ENGINE_MESSAGES)


class _StateColumn(ProgressColumn):
    """A spinner while a step runs, then a tick (or a cross if it failed)."""

    def __init__(self) -> None:
        super().__init__()
        self.spinner = Spinner("dots", style="cyan")

    def render(self, task: Task) -> RenderableType:
        if not task.fields["done"]:
            return self.spinner.render(task.get_time())
        return Text("✗", style="red") if task.fields["failed"] else Text("✓", style="green")


class _CountedBar(BarColumn):
    """The bar, for steps whose work can be counted."""

    def render(self, task: Task) -> RenderableType:
        return super().render(task) if task.total is not None else Text("")


class _CountColumn(ProgressColumn):
    """``done/total`` for counted steps."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        return Text(f"{task.completed:.0f}/{task.total:.0f}", style="progress.download")


class _EtaColumn(ProgressColumn):
    """The time left, once a counted step has a rate to go by."""

    max_refresh = 0.5

    def render(self, task: Task) -> Text:
        remaining = task.time_remaining
        if task.fields["done"] or task.total is None or remaining is None:
            return Text("")
        minutes, seconds = divmod(int(remaining), 60)
        return Text(f"ETA {minutes}:{seconds:02d}", style="progress.remaining")


class ProgressDisplay(logging.Handler):
    """Draws ``ewp.core.progress`` events: live on a terminal, else one line per finished step."""

    def __init__(self, console: Console, *, live: bool) -> None:
        super().__init__()
        self.console = console
        self.live = live
        self.progress = Progress(
            _StateColumn(),
            TextColumn("{task.description}"),
            _CountedBar(bar_width=20),
            _CountColumn(),
            TimeElapsedColumn(),
            _EtaColumn(),
            TextColumn("{task.fields[detail]}", style="dim"),
            console=console,
            disable=not live,
            speed_estimate_period=3600,  # steps of a minute each still give an ETA
        )
        self.tasks: dict[int, TaskID] = {}
        self.ended: set[TaskID] = set()

    def emit(self, record: logging.LogRecord) -> None:
        event: ProgressEvent | None = getattr(record, EVENT_ATTRIBUTE, None)
        if event is not None:
            self.show(event)

    def show(self, event: ProgressEvent) -> None:
        """Start, advance or finish the event's step on the display."""
        task = self.tasks.get(event.step_id)
        if task is None:
            task = self.add(event.description, total=event.total)
            self.tasks[event.step_id] = task
        self.progress.update(task, completed=event.completed, detail=event.detail)
        if event.finished:
            if event.total is not None and not event.failed:
                self.progress.update(task, completed=event.total)
            self.end(task, failed=event.failed)
            if not self.live:
                mark = "✗" if event.failed else "✓"
                detail = f": {event.detail}" if event.detail else ""
                self.console.print(
                    f"{mark} {event.description}{detail} ({event.seconds:.1f} s)",
                    highlight=False,
                    soft_wrap=True,
                )

    def add(self, description: str, *, total: int | None = None) -> TaskID:
        """A running step on the display."""
        return self.progress.add_task(description, total=total, done=False, failed=False, detail="")

    def end(self, task: TaskID, *, failed: bool = False) -> None:
        """Mark a step done (its clock stops), unless it already is."""
        if task not in self.ended:
            self.ended.add(task)
            self.progress.update(task, done=True, failed=failed)
            self.progress.stop_task(task)


class _EndWaitOnFirstEvent(logging.Filter):
    """Ends the display's waiting step when the first step of the run is reported."""

    def __init__(self, display: ProgressDisplay, task: TaskID) -> None:
        super().__init__()
        self.display = display
        self.task = task

    def filter(self, record: logging.LogRecord) -> bool:
        self.display.end(self.task)
        return True


@contextmanager
def session(console: Console, *, verbose: bool, waiting: str | None = None) -> Iterator[None]:
    """While a command runs flows: draw their steps and (unless ``verbose``) keep the
    libraries' output off the console (see the module docstring). ``waiting`` names what
    happens before the first step is reported (e.g. Prefect starting its server)."""
    progress_logger = logging.getLogger(LOGGER)
    if verbose:
        level = progress_logger.level
        progress_logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            progress_logger.setLevel(level)
        return
    display = ProgressDisplay(console, live=console.is_terminal)
    noise = _LibraryNoise()
    handlers = list(logging.getLogger().handlers)
    saved = (progress_logger.level, progress_logger.propagate)
    mlflow_logger = logging.getLogger("mlflow")
    mlflow_level = mlflow_logger.level
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for handler in handlers:
            handler.addFilter(noise)
        mlflow_logger.setLevel(logging.ERROR)
        progress_logger.setLevel(logging.DEBUG)
        progress_logger.propagate = False
        progress_logger.addHandler(display)
        display.progress.start()
        if waiting is not None:
            display.addFilter(_EndWaitOnFirstEvent(display, display.add(waiting)))
        try:
            yield
        finally:
            for task in display.progress.tasks:
                display.end(task.id)
            display.progress.stop()
            progress_logger.removeHandler(display)
            progress_logger.setLevel(saved[0])
            progress_logger.propagate = saved[1]
            mlflow_logger.setLevel(mlflow_level)
            for handler in handlers:
                handler.removeFilter(noise)
