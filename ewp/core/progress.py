"""Progress of long steps, reported as log records that a front end may draw.

A flow (or an adapter) wraps a long piece of work in ``step``; the step emits records on the
``ewp.core.progress`` logger, each carrying a ``ProgressEvent`` in its ``ewp_progress`` attribute:
one when it starts (with its total, if the work is countable), one per ``advance``, and one
when it ends (with an optional detail, e.g. the rows validated). Nothing here draws anything:
``ewp.cli.terminal`` renders the events as a progress display with an ETA for the CLI, and anywhere
else they are ordinary log lines, so no flow imports rich.

Worked example: ``with step("Evaluating 2 test dates", total=2) as evaluating: ...`` followed by
``evaluating.advance()`` twice emits (completed, total, finished) = (0, 2, False), (1, 2,
False), (2, 2, False) and (2, 2, True).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

_T = TypeVar("_T")

LOGGER = "ewp.core.progress"
EVENT_ATTRIBUTE = "ewp_progress"

_step_ids = itertools.count(1)


@dataclass(frozen=True)
class ProgressEvent:
    """The state of one step: ``total`` None when the work cannot be counted."""

    step_id: int
    description: str
    completed: int
    total: int | None
    finished: bool = False
    failed: bool = False
    detail: str = ""
    seconds: float = 0.0


class Step:
    """A running step (see ``step``): ``advance`` counts work done, ``detail`` says what came
    of it; both are safe to call from several threads."""

    def __init__(self, description: str, total: int | None) -> None:
        self._id = next(_step_ids)
        self._description = description
        self._total = total
        self._completed = 0
        self._detail = ""
        self._started = time.perf_counter()
        self._lock = threading.Lock()

    def advance(self, amount: int = 1) -> None:
        """Count ``amount`` more units of the step's work as done."""
        with self._lock:
            self._completed += amount
            self._emit(logging.DEBUG)

    def detail(self, text: str) -> None:
        """What the step found, shown with it when it ends (e.g. "83,636 rows accepted")."""
        with self._lock:
            self._detail = text

    def _emit(self, level: int, *, finished: bool = False, failed: bool = False) -> None:
        event = ProgressEvent(
            step_id=self._id,
            description=self._description,
            completed=self._completed,
            total=self._total,
            finished=finished,
            failed=failed,
            detail=self._detail,
            seconds=time.perf_counter() - self._started,
        )
        if finished:
            state = "failed" if failed else f"done in {event.seconds:.1f} s"
            text = f"{self._description}: {state}" + (f" ({self._detail})" if self._detail else "")
        elif self._total is not None:
            text = f"{self._description}: {self._completed}/{self._total}"
        else:
            text = f"{self._description}: started"
        logging.getLogger(LOGGER).log(level, "%s", text, extra={EVENT_ATTRIBUTE: event})


@contextmanager
def step(description: str, *, total: int | None = None) -> Iterator[Step]:
    """Report the work inside the block as one step (see the module docstring)."""
    running = Step(description, total)
    running._emit(logging.INFO)
    try:
        yield running
    except BaseException:
        running._emit(logging.INFO, finished=True, failed=True)
        raise
    running._emit(logging.INFO, finished=True)


def track(items: Iterable[_T], description: str, total: int) -> Iterator[_T]:
    """The ``total`` items, their loop reported as a step counted one per item."""
    with step(description, total=total) as running:
        for item in items:
            yield item
            running.advance()
