"""Temporal train/test splits, in the spirit of DSSG triage's timechop.

Conventions shared across ewp:

* An **as-of date** ``t`` means the start of day ``t``. Features for ``t`` use events known
  strictly before ``t`` (window ``[t - w, t)``); the label for ``t`` looks at events in
  ``[t, t + horizon)``.
* A training as-of date ``t`` therefore has a label that is complete only at ``t + horizon``
  (exclusive end), and it is safe to train on it for a test date ``T`` iff
  ``t + horizon <= T``.
* Training labels are built only from findings decided before the test date
  (``Split.findings_known_by``), so a model never learns from a decision taken after the day it
  is evaluated on.

Worked example (monthly cadence, ``label_horizon_days=365``, ``training_history_days=730``,
test date 2015-01-01, data from 2010-01-01):

* The last training as-of date is the latest 1st of a month on or before
  2015-01-01 - 365 days = 2014-01-01. It is 2014-01-01 itself, and its label window
  [2014-01-01, 2015-01-01) ends exactly at the test date, as allowed. The next candidate,
  2014-02-01, would have a label window ending 2015-02-01, after the test date.
* History reaches back 730 days from 2014-01-01 to 2012-01-02, not 2012-01-01: 2012 is a leap
  year, so 2012-01-01 -> 2014-01-01 is 366 + 365 = 731 days. The first training as-of date is
  the first 1st of a month on or after 2012-01-02, which is 2012-02-01.
* Training as-of dates: 2012-02-01, 2012-03-01, ..., 2014-01-01 (24 dates). With
  ``training_history_days=731`` they would start at 2012-01-01 (25 dates).
* With ``test_block_days=365`` the model is also evaluated, unchanged, on the monthly as-of
  dates 2015-02-01 ... 2015-12-01 (as triage's test durations do): 12 test dates in all,
  ending before 2015-01-01 + 365 days = 2016-01-01 and before the next test date. A model
  retrained once a year and used every month is judged on every month it would be used.
"""

from __future__ import annotations

import datetime as dt
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

Cadence = Literal["monthly", "weekly"]
CADENCES: tuple[str, ...] = ("monthly", "weekly")

# The longest gap between two consecutive as-of dates of each cadence, in days. A training
# history at least this long always holds two or more as-of dates.
_LONGEST_STEP_DAYS = {"monthly": 31, "weekly": 7}


class SplitError(ValueError):
    """An impossible split configuration. The message names the parameter at fault."""


@dataclass(frozen=True)
class Split:
    """One test as-of date and the training as-of dates whose labels are complete before it."""

    test_as_of: dt.date
    train_as_of: tuple[dt.date, ...]  # ascending
    # For training labels, a finding counts only if it was decided before this date
    # (always equal to ``test_as_of``).
    findings_known_by: dt.date
    # The as-of dates this split's model is evaluated on: ``test_as_of`` and, with a test
    # block, the following cadence dates inside it. All are on or after ``test_as_of``, so
    # every training label still ends by the first of them.
    test_block: tuple[dt.date, ...] = ()


def as_of_dates(*, start: dt.date, end: dt.date, cadence: Cadence) -> list[dt.date]:
    """Return the as-of dates of a cadence in ``[start, end]``, ascending.

    ``monthly`` gives the 1st of each month (a ``start`` that is not a 1st is rounded up to the
    next 1st); ``weekly`` gives each Monday (a ``start`` that is not a Monday is rounded up to
    the next Monday). The list is empty when no cadence date falls in the range.

    Raises ``SplitError`` if ``end`` is before ``start`` or the cadence is unknown.
    """
    _check_day("start", start)
    _check_day("end", end)
    _check_cadence(cadence)
    if end < start:
        raise SplitError(f"end ({end}) is before start ({start})")
    dates = []
    day = _ceil(start, cadence)
    while day <= end:
        dates.append(day)
        day = _next(day, cadence)
    return dates


def make_splits(
    *,
    test_dates: Sequence[dt.date],
    label_horizon_days: int,
    training_history_days: int | None,
    cadence: Cadence,
    data_start: dt.date,
    test_block_days: int | None = None,
) -> list[Split]:
    """Build one ``Split`` per test date, with no label window overlapping the test date.

    For each test date ``T``, the last training as-of date is the latest cadence date on or
    before ``T - label_horizon_days``; the first is the earliest cadence date on or after
    ``max(data_start, last - training_history_days)``. ``training_history_days=None`` uses
    all history from ``data_start``. Test dates need not be cadence dates.

    ``test_block_days`` (default: none) adds to each split's ``test_block`` the cadence dates
    in ``(T, T + test_block_days)`` that fall before the next test date.

    Raises ``SplitError``, naming the parameter, when ``test_dates`` is empty or not strictly
    increasing, ``label_horizon_days`` is not a positive whole number, ``training_history_days``
    is shorter than one cadence step (7 days weekly, 31 monthly, so every split has at least two
    training dates unless ``data_start`` cuts it short), the cadence is unknown, or no training
    as-of date fits between ``data_start`` and a test date's label horizon.
    """
    _check_cadence(cadence)
    _check_day("data_start", data_start)
    if not _is_whole(label_horizon_days) or label_horizon_days <= 0:
        raise SplitError(
            "label_horizon_days must be a positive whole number of days, "
            f"got {label_horizon_days!r}"
        )
    shortest_history = _LONGEST_STEP_DAYS[cadence]
    if training_history_days is not None and (
        not _is_whole(training_history_days) or training_history_days < shortest_history
    ):
        raise SplitError(
            "training_history_days must be a whole number of days no shorter than one "
            f"{cadence} step ({shortest_history} days), or None for all history; "
            f"got {training_history_days!r}"
        )
    tests = list(test_dates)
    if not tests:
        raise SplitError("test_dates is empty")
    for day in tests:
        _check_day("test_dates", day)
    for earlier, later in pairwise(tests):
        if later <= earlier:
            raise SplitError(f"test_dates must be strictly increasing: {later} follows {earlier}")

    if test_block_days is not None and (not _is_whole(test_block_days) or test_block_days <= 0):
        raise SplitError(
            f"test_block_days must be a positive whole number of days, got {test_block_days!r}"
        )

    horizon = dt.timedelta(days=label_horizon_days)
    splits = []
    block_ends = [*tests[1:], dt.date.max]
    for test, next_test in zip(tests, block_ends, strict=True):
        last = _floor(test - horizon, cadence)
        lower = data_start
        if training_history_days is not None:
            lower = max(lower, last - dt.timedelta(days=training_history_days))
        first = _ceil(lower, cadence)
        if first > last:
            raise SplitError(
                f"no training as-of date fits test date {test}: with label_horizon_days="
                f"{label_horizon_days} the last {cadence} training date is {last}, but "
                f"data_start is {data_start} (first {cadence} date {first}); use a later test "
                "date, a shorter label_horizon_days or an earlier data_start"
            )
        splits.append(
            Split(
                test_as_of=test,
                train_as_of=tuple(as_of_dates(start=first, end=last, cadence=cadence)),
                findings_known_by=test,
                test_block=_test_block(test, next_test, test_block_days, cadence),
            )
        )
    return splits


def _test_block(
    test: dt.date, next_test: dt.date, block_days: int | None, cadence: Cadence
) -> tuple[dt.date, ...]:
    """``test`` and the cadence dates after it, before ``test + block_days`` and ``next_test``."""
    if block_days is None:
        return (test,)
    end = min(test + dt.timedelta(days=block_days), next_test)
    later = as_of_dates(
        start=test + dt.timedelta(days=1), end=end - dt.timedelta(days=1), cadence=cadence
    )
    return (test, *later)


def _check_day(name: str, value: object) -> None:
    # datetime (and pandas Timestamp) subclass date but carry a time of day, and they do not
    # compare with plain dates: insist on calendar days.
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise SplitError(f"{name} must be a datetime.date, got {value!r}")


def _is_whole(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_cadence(cadence: str) -> None:
    if cadence not in CADENCES:
        raise SplitError(f"cadence must be one of {list(CADENCES)}, got {cadence!r}")


def _floor(day: dt.date, cadence: Cadence) -> dt.date:
    """The latest cadence date on or before ``day``."""
    if cadence == "monthly":
        return day.replace(day=1)
    return day - dt.timedelta(days=day.weekday())


def _ceil(day: dt.date, cadence: Cadence) -> dt.date:
    """The earliest cadence date on or after ``day``."""
    floor = _floor(day, cadence)
    return floor if floor == day else _next(floor, cadence)


def _next(day: dt.date, cadence: Cadence) -> dt.date:
    """The cadence date after ``day``, itself a cadence date."""
    if cadence == "monthly":
        return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return day + dt.timedelta(days=7)
