"""Leak-free per-officer feature histories, computed for many as-of dates at once.

Time conventions (shared by features, labels and splits)
--------------------------------------------------------
An *as-of date* ``t`` means the start of day ``t``. A feature at ``t`` may use only what was
*known* strictly before ``t``: a notice from its ``received_on``, a finding or sanction from its
``decided_on``. A window of ``w`` days is the half-open interval ``[t - w, t)``.

Worked example, as-of 2020-07-01 with a 180-day window, so the window is
[2020-01-03, 2020-07-01):

====================  ===========  ==========================================
notice received on    counted?     why
====================  ===========  ==========================================
2020-01-02            no           one day before the window opens
2020-01-03            yes          first day of the window (t - 180 days)
2020-06-30            yes          last day before t
2020-07-01            no           received on the as-of date: not yet known
====================  ===========  ==========================================

A notice received 2020-03-01 and decided 2020-07-01 is *open* at t (its decision is not yet
known); decided 2020-06-30, it is closed and its finding counts in the ``findings_*`` features.

The serving cohort at ``t``: ``joined_on < t`` and not ``left_on < t``. An unknown
``joined_on`` (blank) means "serving since before the records begin": the officer is in the
cohort, but their ``tenure_days`` and ``probationer`` are missing (NaN), never invented. With
``FeatureConfig.presume_left_after_years`` = N, an officer with no ``left_on`` is presumed gone
at ``t`` when nothing is known of them in the N years (N x 365 days) before ``t``: they neither
joined nor received a notice in ``[t - N years, t)``. Only what is known before ``t`` decides,
so the cohort never depends on the future.

Cases
-----
A case (``case_id``: a complaint or conduct matter) may carry several allegations (notices)
against one officer, and may name several officers; each (officer, case) pair counts once for
that officer. The case becomes known, for that officer, with its first allegation against them,
and the ``cases_*`` windows place it by that day, whatever is added to it later. A case counts
in a category (or source) once any of its allegations in that category is known; its finding is
the one that establishes most (``ewp.core.contract.FINDINGS`` order) among those decided before
``t``, so it counts as proven from the day its first allegation is decided proven, and it is
open while any of its known allegations is undecided.

Worked example, one officer, as-of 2020-07-01 with a 180-day window [2020-01-03, 2020-07-01):

====  ============  ===========  ========================================================
case  allegation    received on  in ``cases_180d`` and ``cases_violence_180d``?
====  ============  ===========  ========================================================
C1    a, conduct    2019-11-01   no: C1 became known before the window opened, although
C1    b, violence   2020-03-01   b, added to it later, was received in the window
C2    c, conduct    2020-02-01   yes, in both: C2 became known in the window, and its
C2    d, violence   2020-06-30   violence allegation d is known before t
C3    e, violence   2020-07-01   no: received on t, not yet known
====  ============  ===========  ========================================================

So ``cases_180d`` = 1 and ``cases_violence_180d`` = 1, while ``notices_180d`` = 3 (b, c, d).
As of 2020-06-30, C2 is known but d is not: ``cases_violence_180d`` = 0 there.

Optional streams
----------------
With ``FeatureConfig.units_from_postings``, an officer's unit as of ``t`` is the unit of the
posting covering the day before ``t`` (``start_on <= t - 1 <= end_on``, a blank end still
running): a posting is known from its start, so one starting on ``t`` is not yet known. Where
postings overlap, the one started last wins (on the same start day, the later row); where none
covers the day, the officers table's ``unit`` is the fallback. The peer features and each row's
``unit`` use it. Worked example, roster unit R:

=================================================  ===========  ============================
postings                                           as-of        unit
=================================================  ===========  ============================
U1 2019-01-01..2020-06-30, U2 from 2020-07-01      2020-07-01   U1 (U2 starts on t: unknown)
(a move on the as-of date)                         2020-07-02   U2
U1 from 2015-01-01, U3 2019-03-01..2019-05-31      2019-04-01   U3 (started last)
(overlapping)                                      2019-07-01   U1 (U3 has ended)
U1 ..2019-12-31, U2 from 2020-03-01 (a gap)        2020-01-01   U1 (covers 2019-12-31)
                                                   2020-02-01   R (no posting: the roster)
=================================================  ===========  ============================

Each activity kind declared in ``FeatureConfig.activity`` is counted like notices, by its
``known_on`` day: windows, all time, days since the last, severity and flag counts, and the
share of unit colleagues (as above) with fewer in the last 12 months.

How it is computed
------------------
The as-of dates are taken in blocks of consecutive dates, small enough that a block's dense
grid of (as-of date x officer serving at any of its dates) cells stays a few million cells:
memory is bounded at any scale, and ``iter_feature_blocks`` hands the matrix out block by
block. On a block with dates ``t_0 < ... < t_{G-1}`` and ``n`` officers, a count feature is a
``(G, n)`` array built in two passes, with no search per row:

1. each event is *placed* by one binary search (``np.searchsorted``) at the first block date
   at which it is known: the first ``t_g`` with ``day < t_g`` (an event before the block goes
   to ``g = 0``, one after it is dropped);
2. a histogram of the (date, officer) places (``np.bincount``), summed down the dates
   (``cumsum``), gives ``counts[g, o]``: the officer's events with ``day < t_g``.

A window ``[t - w, t)`` is then the difference of two cumulative counts: events before ``t``
minus events before ``t - w`` (the same placement with ``day + w < t_g``). A case counts in
a window at ``t`` when its qualifying allegation is known (``known < t``) and the case became
known in the window (``anchor >= t - w``): at the dates ``t`` in ``(known, anchor + w]``, again
two placements, at ``known`` and at ``max(anchor + w, known)``. A case's open intervals are
its allegations' ``(received, decided]``, merged per case, placed at their starts and ends.
"Worst sanction so far" and "last notice" take a running maximum down the dates instead of a
sum. The matrix's rows are the grid cells where the officer is serving, read out date by date.
The cost is O(events + cells) per block: building the matrix costs a small multiple of writing
it.
Per-row queries at arbitrary dates (labels) use ``EventSeries``: sorted (officer, day) keys and
``np.searchsorted``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ewp.core.config import FeatureConfig
from ewp.core.contract import CASE_TO_ANSWER_FINDINGS, SANCTION_LEVEL, ForceData
from ewp.core.errors import ContractError
from ewp.features.registry import feature_specs

# Day numbers are days since 1970-01-01, shifted by DAY_OFFSET so they are never negative.
DAY_OFFSET = 1 << 19  # ~1435 years either side of 1970
STRIDE = 1 << 20
NEVER = STRIDE - 1  # the day number used for "no date" (e.g. a case never decided)
# Cells (as-of dates x officers ever employed) per block. It bounds a block's memory whatever
# the force's size: the block's matrix and its grids took 1.7 GB at national scale.
BLOCK_CELLS = 1 << 23


def day_numbers(dates: pd.Series | pd.DatetimeIndex | Sequence[dt.date]) -> np.ndarray:
    """Dates -> int64 day numbers (shifted days since 1970-01-01); missing dates -> ``NEVER``."""
    values = pd.to_datetime(pd.Series(dates)).to_numpy(dtype="datetime64[D]")
    days = values.astype("int64") + DAY_OFFSET
    days[np.isnat(values)] = NEVER
    return days


@dataclass(frozen=True)
class EventSeries:
    """Events of one kind as sorted (officer, day) keys, for counts at arbitrary per-row dates
    by binary search (labels look forward from each row's own as-of date)."""

    keys: np.ndarray

    @classmethod
    def build(cls, officer_codes: np.ndarray, days: np.ndarray) -> EventSeries:
        """Index events; events with no date (``NEVER``) are left out."""
        dated = days != NEVER
        return cls(np.sort(officer_codes[dated].astype("int64") * STRIDE + days[dated]))

    def _position(self, officer_codes: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Number of events strictly before (officer, day): the index of the first at or after."""
        return np.searchsorted(self.keys, officer_codes * STRIDE + days, side="left")

    def count_between(
        self, officer_codes: np.ndarray, start_days: np.ndarray, end_days: np.ndarray
    ) -> np.ndarray:
        """Events per row with ``start <= day < end``."""
        return self._position(officer_codes, end_days) - self._position(officer_codes, start_days)

    def count_before(self, officer_codes: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Events per row with ``day < days`` (the officer's whole history)."""
        return self._position(officer_codes, days) - self._position(officer_codes, 0 * days)

    def last_before(self, officer_codes: np.ndarray, days: np.ndarray) -> np.ndarray:
        """The day of each row's latest event with ``day < days``; -1 where there is none."""
        codes = np.asarray(officer_codes, dtype="int64")
        position = self._position(codes, days) - 1
        previous = self.keys[np.maximum(position, 0)] if len(self.keys) else np.zeros_like(codes)
        found = (position >= 0) & (previous // STRIDE == codes)
        return np.where(found, previous % STRIDE, -1)


@dataclass(frozen=True)
class Events:
    """Events of one kind: the officer code and knowledge day of each dated event."""

    codes: np.ndarray
    days: np.ndarray

    @classmethod
    def build(cls, codes: np.ndarray, days: np.ndarray, mask: np.ndarray | None = None) -> Events:
        """Keep the events in ``mask`` (default all) that have a date (not ``NEVER``)."""
        keep = days != NEVER if mask is None else mask & (days != NEVER)
        return cls(codes[keep], days[keep])


@dataclass(frozen=True)
class Postings:
    """Postings as sorted (officer, start day) keys, with each posting's last day (``NEVER``
    while running) and unit code, for the unit of many (officer, day) pairs at once."""

    keys: np.ndarray
    ends: np.ndarray
    units: np.ndarray

    @classmethod
    def build(
        cls, codes: np.ndarray, starts: np.ndarray, ends: np.ndarray, units: np.ndarray
    ) -> Postings:
        """Index postings; a stable sort keeps file order among those starting the same day."""
        keys = codes.astype("int64") * STRIDE + starts
        order = np.argsort(keys, kind="stable")
        return cls(keys[order], ends[order], units[order])

    def unit_on(self, codes: np.ndarray, days: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        """Per row, the unit of the latest-starting posting covering ``days`` (start <= day <=
        end), else ``fallback``. Steps back one posting at a time for the rows whose latest
        posting does not cover the day: a handful of steps for any real officer."""
        unit = fallback.copy()
        position = np.searchsorted(self.keys, codes * STRIDE + days, side="right") - 1
        pending = np.flatnonzero(position >= 0)
        while len(pending):
            at = position[pending]
            same = (at >= 0) & (self.keys[np.maximum(at, 0)] // STRIDE == codes[pending])
            pending, at = pending[same], at[same]
            covers = self.ends[at] >= days[pending]
            unit[pending[covers]] = self.units[at[covers]]
            pending = pending[~covers]
            position[pending] -= 1
        return unit


@dataclass(frozen=True)
class CaseEvents:
    """Cases of one kind, one event per (officer, case): each counts from ``known`` (the day
    the case first qualified, e.g. its first allegation in a category) and is placed in windows
    by ``anchor``, the day the case became known (its first allegation against the officer).
    ``anchor <= known``; both are dated."""

    codes: np.ndarray
    anchor: np.ndarray
    known: np.ndarray


@dataclass(frozen=True)
class Cohort:
    """Who is serving when: per officer code, ``joined`` and ``left`` day numbers (an unknown
    ``joined`` is 0, serving since before the records; no ``left`` is ``NEVER``), and, with
    ``presume_left_days``, each officer's known activity (joining and notices received) for the
    rule that an officer without a ``left`` date is gone after that long without any."""

    joined: np.ndarray
    left: np.ndarray
    activity: EventSeries | None = None
    presume_left_days: int | None = None

    def serving(self, days: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``(G, c)``: is each of the ``candidates`` (officer codes) serving at each day?"""
        t = days[:, None]
        serving = (self.joined[candidates][None, :] < t) & ~(self.left[candidates][None, :] < t)
        if self.activity is None or self.presume_left_days is None:
            return serving
        last = self.activity.last_before(np.broadcast_to(candidates, serving.shape), t)
        presumed_gone = (self.left[candidates] == NEVER)[None, :] & (
            last < t - self.presume_left_days
        )
        return serving & ~presumed_gone


@dataclass(frozen=True)
class AsOfBlock:
    """A block of consecutive as-of dates: the matrix rows it holds, and the dense grid on
    which its event features are computed (see the module docstring).

    The rows are every (date, officer) with the officer serving at the date, date by date and
    in the officers table's order. The grid has one column per officer *with a history* (a
    notice received before the block's last date): every other officer's event features are
    their defaults (no notices, nothing open), so most officers need no grid at all.
    """

    days: np.ndarray  # (G,) day numbers, ascending
    row_dates: np.ndarray  # (R,) per row: index into ``days``
    row_officers: np.ndarray  # (R,) per row: officer code
    officers: np.ndarray  # (n,) officer codes of the grid's columns, ascending
    column: np.ndarray  # officer code -> grid column, -1 if none
    serving: np.ndarray  # (G, n) True where the column's officer is serving at the date
    grid_rows: np.ndarray  # the row of each serving grid cell, in ``grid[serving]`` order

    @classmethod
    def build(cls, days: np.ndarray, *, cohort: Cohort, first_notice: np.ndarray) -> AsOfBlock:
        """The block for as-of ``days`` (ascending): who serves on each is the ``cohort``'s
        rule; ``first_notice`` is each officer code's first notice day (``NEVER`` if none)."""
        last = days[-1] if len(days) else -1
        first = days[0] if len(days) else -1
        candidates = np.flatnonzero((cohort.joined < last) & ~(cohort.left < first))
        serving_all = cohort.serving(days, candidates)
        row_dates, row_columns = np.nonzero(serving_all)
        has_history = first_notice[candidates] < last
        officers = candidates[has_history]
        column = np.full(len(cohort.joined), -1, dtype=np.int64)
        column[officers] = np.arange(len(officers))
        return cls(
            days=days,
            row_dates=row_dates,
            row_officers=candidates[row_columns],
            officers=officers,
            column=column,
            serving=serving_all[:, has_history],
            # Rows and grid cells are both in date, then officer order.
            grid_rows=np.flatnonzero(has_history[row_columns]),
        )

    @property
    def shape(self) -> tuple[int, int]:
        """The grid's shape: (dates, officers with a history)."""
        return len(self.days), len(self.officers)

    @property
    def t(self) -> np.ndarray:
        """``(G, 1)`` as-of day numbers, to broadcast against a grid."""
        return self.days[:, None]

    def _place(self, events: Events, lag: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each event's first block date with ``day + lag < t_g``, its column, and which
        events are in the grid (officer in the block, known by the block's last date)."""
        column = self.column[events.codes]
        first = np.searchsorted(self.days, events.days + lag, side="right")
        inside = (column >= 0) & (first < len(self.days))
        return first[inside], column[inside], inside

    def count_before(self, events: Events, *, lag: int = 0) -> np.ndarray:
        """``(G, n)`` counts of each officer's events with ``day < t_g - lag``."""
        dates, officers = self.shape
        first, column, _ = self._place(events, lag)
        placed = np.bincount(first * officers + column, minlength=dates * officers)
        return placed.reshape(dates, officers).cumsum(axis=0)

    def count_between(self, events: Events, *, days: int) -> np.ndarray:
        """``(G, n)`` counts of each officer's events in the window ``[t_g - days, t_g)``."""
        return self.count_before(events) - self.count_before(events, lag=days)

    def count_cases_between(self, cases: CaseEvents, *, days: int) -> np.ndarray:
        """``(G, n)`` counts of each officer's cases known before ``t_g`` (``known < t_g``)
        that became known in the window (``anchor >= t_g - days``): those with ``t_g`` in
        ``(known, anchor + days]``."""
        closed = np.maximum(cases.anchor + days, cases.known)
        return self.count_before(Events(cases.codes, cases.known)) - self.count_before(
            Events(cases.codes, closed)
        )

    def max_before(self, events: Events, values: np.ndarray, *, none: int) -> np.ndarray:
        """``(G, n)`` largest value among each officer's events with ``day < t_g`` (``none``
        where there is no such event)."""
        first, column, inside = self._place(events, 0)
        grid = np.full(self.shape, none, dtype=np.int64)
        np.maximum.at(grid, (first, column), values[inside])
        return np.maximum.accumulate(grid, axis=0)

    def min_while_open(
        self, events: Events, until: np.ndarray, values: np.ndarray, *, none: int
    ) -> np.ndarray:
        """``(G, n)`` smallest value among each officer's events *open* at ``t_g``: known
        (``day < t_g``) and not yet ended (``t_g <= until``); ``none`` where none is open.

        Each event is expanded to the block dates inside its open interval.
        """
        column = self.column[events.codes]
        first = np.searchsorted(self.days, events.days, side="right")
        stop = np.searchsorted(self.days, until, side="right")  # dates with t_g <= until
        lengths = np.where(column >= 0, np.clip(stop - first, 0, None), 0)
        event = np.repeat(np.arange(len(lengths)), lengths)
        offset = np.arange(len(event)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        grid = np.full(self.shape, none, dtype=np.int64)
        np.minimum.at(grid, (first[event] + offset, column[event]), values[event])
        return grid

    def write(self, out: np.ndarray, grid: np.ndarray, *, default: float = 0) -> None:
        """Write a grid feature into a matrix column ``out`` (one value per row): the grid's
        serving cells, and ``default`` for officers without a history."""
        self.write_rows(out, grid[self.serving], default=default)

    def write_rows(self, out: np.ndarray, values: np.ndarray, *, default: float = 0) -> None:
        """Write values of the grid's serving cells (``grid[serving]`` order) into ``out``."""
        out.fill(default)
        out[self.grid_rows] = values


def _open_at_receipt(codes: np.ndarray, received: np.ndarray, decided: np.ndarray) -> np.ndarray:
    """For each notice: was another notice against the same officer open when it arrived?

    An earlier notice i is open at this notice's receipt r if ``received_i < r <= decided_i``
    (or i is undecided). That is (notices received before r) - (notices decided before r),
    because a decision never precedes its notice. Depends only on dates before r, so it is
    known at any as-of date after r.
    """
    received_series = EventSeries.build(codes, received)
    decided_series = EventSeries.build(codes, decided)
    return (
        received_series.count_before(codes, received) - decided_series.count_before(codes, received)
    ) > 0


def _first_day(unit: np.ndarray, units: int, days: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per unit (e.g. an officer's case), the earliest dated ``days`` among its events in
    ``mask``; ``NEVER`` where it has none."""
    first = np.full(units, NEVER, dtype=np.int64)
    np.minimum.at(first, unit[mask], days[mask])
    return first


def _open_intervals(
    unit: np.ndarray, received: np.ndarray, decided: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each unit's open periods: the union of its events' ``(received, decided]`` intervals.

    Returns the unit, start and end of each merged interval (end ``NEVER``: still open). Two
    intervals of a unit merge when the later one starts on or before the earlier one ends:
    ``(1, 5]`` and ``(5, 9]`` are ``(1, 9]``, open from day 2 to day 9 without a break.
    """
    order = np.lexsort((received, unit))
    unit, received, decided = unit[order], received[order], decided[order]
    # Running maximum of the ends within each unit: units are sorted, so offsetting each
    # unit's ends above every earlier unit's lets one global running maximum serve them all.
    offset = unit * (2 * STRIDE)
    reach = np.maximum.accumulate(offset + decided) - offset
    starts_new = np.ones(len(unit), dtype=bool)
    starts_new[1:] = (unit[1:] != unit[:-1]) | (received[1:] > reach[:-1])
    segment = np.cumsum(starts_new) - 1
    ends = np.full(int(starts_new.sum()), -1, dtype=np.int64)
    np.maximum.at(ends, segment, decided)
    return unit[starts_new], received[starts_new], ends


@dataclass(frozen=True)
class _Cases:
    """The force's cases, one per (officer, case) pair, indexed by kind."""

    all: CaseEvents  # every case, known from its first allegation
    counted: dict[str, CaseEvents]  # "group:<g>", "source:<s>", "proven", "case_to_answer"
    open_from: Events  # starts of the merged open intervals
    open_until: Events  # their ends (undecided ends are left out: still open)


def _cases(
    codes: np.ndarray,
    notices: pd.DataFrame,
    *,
    received: np.ndarray,
    decided: np.ndarray,
    config: FeatureConfig,
) -> _Cases:
    """Group the notices into (officer, case) pairs and date each pair's kinds (module
    docstring, "Cases")."""
    case_codes = pd.factorize(notices["case_id"])[0].astype("int64")
    pairs, unit = np.unique(codes * max(len(case_codes), 1) + case_codes, return_inverse=True)
    officer = pairs // max(len(case_codes), 1)
    anchor = _first_day(unit, len(pairs), received, np.ones(len(unit), dtype=bool))
    category = notices["category"].to_numpy()
    source = notices["source"].to_numpy()
    finding = notices["finding"].fillna("").to_numpy()

    def kind(days: np.ndarray, mask: np.ndarray) -> CaseEvents:
        known = _first_day(unit, len(pairs), days, mask)
        dated = known != NEVER
        return CaseEvents(officer[dated], anchor[dated], known[dated])

    counted = {
        **{
            f"group:{group}": kind(received, np.isin(category, members))
            for group, members in config.category_groups.items()
        },
        **{f"source:{src}": kind(received, source == src) for src in config.sources},
        # A case's finding is known from the decision of the allegation that establishes it.
        "proven": kind(decided, finding == "proven"),
        "case_to_answer": kind(decided, np.isin(finding, CASE_TO_ANSWER_FINDINGS)),
    }
    open_unit, open_start, open_end = _open_intervals(unit, received, decided)
    return _Cases(
        all=CaseEvents(officer, anchor, anchor),
        counted=counted,
        open_from=Events.build(officer[open_unit], open_start),
        open_until=Events.build(officer[open_unit], open_end),
    )


@dataclass(frozen=True)
class _History:
    """Everything the features read, indexed once per call."""

    cohort: Cohort
    joined_known: np.ndarray  # per officer code: is ``joined_on`` known?
    first_notice: np.ndarray
    unit_codes: np.ndarray
    notices: Events  # every notice, by receipt day
    notice_decided: np.ndarray  # per event of ``notices``: its decision day (NEVER if open)
    counted: dict[str, Events]  # other counted kinds, by name
    decisions: Events  # every dated decision, by decision day
    sanction_levels: np.ndarray  # per event of ``decisions``
    cases: _Cases
    unit_names: np.ndarray  # unit code -> unit name
    postings: Postings | None = None  # with ``units_from_postings``
    activity: dict[str, Events] | None = None  # "<kind>", "<kind>:severe", "<kind>:<flag>"

    def row_units(self, block: AsOfBlock) -> np.ndarray:
        """The unit code of each row of ``block``: as of its date with postings (module
        docstring, "Optional streams"), else the officers table's."""
        roster = self.unit_codes[block.row_officers]
        if self.postings is None:
            return roster
        day_before = block.days[block.row_dates] - 1
        return self.postings.unit_on(block.row_officers, day_before, roster)


def _cohort(officers: pd.DataFrame, notices: Events, config: FeatureConfig) -> Cohort:
    """The serving rule (module docstring): unknown ``joined_on`` is serving since before the
    records; with ``presume_left_after_years``, activity is joining and receiving notices."""
    joined = day_numbers(officers["joined_on"])
    known = joined != NEVER
    activity = None
    if config.presume_left_after_years is not None:
        codes = np.arange(len(officers), dtype="int64")
        activity = EventSeries.build(
            np.concatenate([notices.codes, codes[known]]),
            np.concatenate([notices.days, joined[known]]),
        )
    return Cohort(
        joined=np.where(known, joined, 0),
        left=day_numbers(officers["left_on"]),
        activity=activity,
        presume_left_days=None
        if config.presume_left_after_years is None
        else 365 * config.presume_left_after_years,
    )


def _activity(
    data: ForceData, config: FeatureConfig, code_of: pd.Series
) -> dict[str, Events] | None:
    """The declared activity kinds' events by ``known_on`` (None when none is declared)."""
    wanted = config.activity
    if not wanted.kinds:
        return None
    if data.activity is None:
        raise ContractError(
            f"features.activity.kinds is {list(wanted.kinds)}, but the export has no activity "
            "table (activity.csv, activity.csv.gz or activity.parquet): add it, or remove the "
            "kinds from the config"
        )
    activity = data.activity
    codes = code_of.reindex(activity["officer_id"]).to_numpy()
    known = day_numbers(activity["known_on"])
    events: dict[str, Events] = {}
    for kind in wanted.kinds:
        of_kind = (activity["kind"] == kind).to_numpy()
        events[kind] = Events.build(codes, known, of_kind)
        if wanted.severe_at is not None:
            severe = (activity["severity"] >= wanted.severe_at).fillna(False).to_numpy(bool)
            events[f"{kind}:severe"] = Events.build(codes, known, of_kind & severe)
        for flag in wanted.flags:
            flagged = activity[flag].fillna(False).to_numpy(dtype=bool)
            events[f"{kind}:{flag}"] = Events.build(codes, known, of_kind & flagged)
    return events


def _postings(
    data: ForceData, config: FeatureConfig, code_of: pd.Series, unit_code_of: pd.Series
) -> Postings | None:
    """The postings index (None unless ``units_from_postings``)."""
    if not config.units_from_postings:
        return None
    if data.postings is None:
        raise ContractError(
            "features.units_from_postings is true, but the export has no postings table "
            "(postings.csv, postings.csv.gz or postings.parquet): add it, or set it to false"
        )
    postings = data.postings
    return Postings.build(
        code_of.reindex(postings["officer_id"]).to_numpy(),
        day_numbers(postings["start_on"]),
        day_numbers(postings["end_on"]),
        unit_code_of.reindex(postings["unit"]).to_numpy(),
    )


def _history(data: ForceData, config: FeatureConfig) -> _History:
    """Index the force's events by kind and knowledge date (see ``ewp.features.registry``)."""
    officers = data.officers
    code_of = pd.Series(np.arange(len(officers), dtype="int64"), index=officers["officer_id"])
    notices = data.notices_with_outcomes()
    codes = code_of.reindex(notices["officer_id"]).to_numpy()
    received = day_numbers(notices["received_on"])
    decided = day_numbers(notices["decided_on"])
    category = notices["category"].to_numpy()
    source = notices["source"].to_numpy()
    gross = (notices["severity"] == "gross_misconduct").fillna(False).to_numpy(dtype=bool)
    finding = notices["finding"].fillna("").to_numpy()
    sanction_level = notices["sanction"].map(SANCTION_LEVEL).fillna(0).to_numpy(dtype="int64")
    counted = {
        **{
            f"group:{group}": Events.build(codes, received, np.isin(category, members))
            for group, members in config.category_groups.items()
        },
        **{f"source:{src}": Events.build(codes, received, source == src) for src in config.sources},
        "gross_misconduct_all": Events.build(codes, received, gross),
        # Findings are known from decided_on, so they are placed by decision day.
        "findings_case_to_answer_all": Events.build(
            codes, decided, np.isin(finding, CASE_TO_ANSWER_FINDINGS)
        ),
        "findings_proven_all": Events.build(codes, decided, finding == "proven"),
        "findings_no_case_all": Events.build(codes, decided, finding == "no_case_to_answer"),
        "notices_while_open_all": Events.build(
            codes, received, _open_at_receipt(codes, received, decided)
        ),
    }
    all_notices = Events.build(codes, received)
    first_notice = np.full(len(officers), NEVER, dtype=np.int64)
    np.minimum.at(first_notice, all_notices.codes, all_notices.days)
    activity = _activity(data, config, code_of)
    for events in (activity or {}).values():  # a grid column for every officer with events
        np.minimum.at(first_notice, events.codes, events.days)
    units = officers["unit"]
    if config.units_from_postings and data.postings is not None:
        units = pd.concat([units, data.postings["unit"]], ignore_index=True)
    unit_codes, unit_names = pd.factorize(units, sort=True)
    unit_code_of = pd.Series(np.arange(len(unit_names), dtype="int64"), index=unit_names)
    return _History(
        cohort=_cohort(officers, all_notices, config),
        joined_known=officers["joined_on"].notna().to_numpy(),
        first_notice=first_notice,
        unit_codes=unit_codes[: len(officers)].astype("int64"),
        notices=all_notices,
        notice_decided=decided[received != NEVER],
        counted=counted,
        decisions=Events.build(codes, decided),
        sanction_levels=sanction_level[decided != NEVER],
        cases=_cases(codes, notices, received=received, decided=decided, config=config),
        unit_names=np.asarray(unit_names, dtype=object),
        postings=_postings(data, config, code_of, unit_code_of),
        activity=activity,
    )


def _block_features(
    block: AsOfBlock, history: _History, config: FeatureConfig, out: dict[str, np.ndarray]
) -> None:
    """Write every feature of the block's rows into ``out`` (feature name -> column)."""
    notices, counted = history.notices, history.counted
    lagged: dict[int, np.ndarray] = {}

    def notices_before(lag: int) -> np.ndarray:  # (G, n): notices received before t - lag
        if lag not in lagged:
            lagged[lag] = block.count_before(notices, lag=lag)
        return lagged[lag]

    for days in config.windows_days:
        block.write(out[f"notices_{days}d"], notices_before(0) - notices_before(days))
    block.write(out["notices_all"], notices_before(0))
    for days in config.group_windows_days:
        for group in config.category_groups:
            grid = block.count_between(counted[f"group:{group}"], days=days)
            block.write(out[f"notices_{group}_{days}d"], grid)
        for src in config.sources:
            grid = block.count_between(counted[f"source:{src}"], days=days)
            block.write(out[f"notices_source_{src}_{days}d"], grid)
    for name in (
        "gross_misconduct_all",
        "findings_case_to_answer_all",
        "findings_proven_all",
        "findings_no_case_all",
        "notices_while_open_all",
    ):
        block.write(out[name], block.count_before(counted[name]))
    sanction = block.max_before(history.decisions, history.sanction_levels, none=0)
    block.write(out["worst_sanction_level"], sanction)

    cases = history.cases
    open_cases = block.count_before(cases.open_from) - block.count_before(cases.open_until)
    block.write(out["open_cases"], open_cases)
    block.write(out["open_notices"], notices_before(0) - block.count_before(history.decisions))
    oldest = block.min_while_open(notices, history.notice_decided, notices.days, none=NEVER)
    block.write(out["oldest_open_days"], np.where(oldest == NEVER, 0, block.t - oldest))

    recent = notices_before(0) - notices_before(365)
    earlier = notices_before(365) - notices_before(3 * 365)
    block.write(out["acceleration"], recent - earlier / 2.0)
    last_day = block.max_before(notices, notices.days, none=-1)
    since = np.where(last_day < 0, config.max_days_since, block.t - last_day)
    block.write(
        out["days_since_last_notice"],
        np.minimum(since, config.max_days_since),
        default=config.max_days_since,
    )

    t = block.days[block.row_dates]
    tenure = out["tenure_days"]
    np.subtract(t, history.cohort.joined[block.row_officers], out=tenure, casting="unsafe")
    np.less(tenure, config.probation_days, out=out["probationer"], casting="unsafe")
    unknown = ~history.joined_known[block.row_officers]
    tenure[unknown] = np.nan
    out["probationer"][unknown] = np.nan
    units = history.row_units(block)
    share, ratio = _peer_context(
        dates=block.row_dates, units=units, rows=block.grid_rows, recent=recent[block.serving]
    )
    block.write_rows(out["unit_share_below_365d"], share)
    block.write_rows(out["unit_ratio_365d"], ratio)
    if history.activity is not None:
        _activity_features(block, history.activity, units, config, out)

    for days in config.windows_days:
        block.write(out[f"cases_{days}d"], block.count_cases_between(cases.all, days=days))
    block.write(out["cases_all"], block.count_before(Events(cases.all.codes, cases.all.anchor)))
    for days in config.group_windows_days:
        for group in config.category_groups:
            grid = block.count_cases_between(cases.counted[f"group:{group}"], days=days)
            block.write(out[f"cases_{group}_{days}d"], grid)
        for src in config.sources:
            grid = block.count_cases_between(cases.counted[f"source:{src}"], days=days)
            block.write(out[f"cases_source_{src}_{days}d"], grid)
    for kind in ("proven", "case_to_answer"):
        found = cases.counted[kind]
        block.write(out[f"cases_{kind}_all"], block.count_before(Events(found.codes, found.known)))


def _activity_features(
    block: AsOfBlock,
    activity: dict[str, Events],
    units: np.ndarray,
    config: FeatureConfig,
    out: dict[str, np.ndarray],
) -> None:
    """Write each declared activity kind's features (``ewp.features.registry``, "activity")."""
    for kind in config.activity.kinds:
        events = activity[kind]
        before = block.count_before(events)
        for days in config.windows_days:
            block.write(out[f"{kind}_{days}d"], before - block.count_before(events, lag=days))
        block.write(out[f"{kind}_all"], before)
        last_day = block.max_before(events, events.days, none=-1)
        since = np.where(last_day < 0, config.max_days_since, block.t - last_day)
        block.write(
            out[f"days_since_last_{kind}"],
            np.minimum(since, config.max_days_since),
            default=config.max_days_since,
        )
        if config.activity.severe_at is not None:
            block.write(out[f"{kind}_severe_all"], block.count_before(activity[f"{kind}:severe"]))
        for flag in config.activity.flags:
            block.write(out[f"{kind}_{flag}_all"], block.count_before(activity[f"{kind}:{flag}"]))
        recent = before - block.count_before(events, lag=365)
        share, _ = _peer_context(
            dates=block.row_dates, units=units, rows=block.grid_rows, recent=recent[block.serving]
        )
        block.write_rows(out[f"{kind}_unit_share_below_365d"], share)


def _peer_context(
    *, dates: np.ndarray, units: np.ndarray, rows: np.ndarray, recent: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Notices in the last 12 months against the serving officers of the same unit on the
    same date: the share of peers with strictly fewer, and the ratio to the unit's mean.

    ``dates`` and ``units`` are given for every row, ``recent`` only for ``rows`` (the rest
    have none, so share and ratio 0); the two results are for ``rows``.
    """
    n_units = int(units.max()) + 1 if len(units) else 1
    group = dates * n_units + units
    size = np.bincount(group)
    group = group[rows]
    mean = np.bincount(group, weights=recent, minlength=len(size)) / np.maximum(size, 1)
    # Peers with strictly fewer notices: a histogram of counts per group, summed below. The
    # officers without a history all have 0: they are the group's size minus the others.
    levels = int(recent.max()) + 1 if len(recent) else 1
    histogram = np.bincount(group * levels + recent, minlength=len(size) * levels)
    histogram = histogram.reshape(-1, levels)
    histogram[:, 0] += size - histogram.sum(axis=1)
    below = (histogram.cumsum(axis=1) - histogram).ravel()
    fewer = below[group * levels + recent]
    unit_size, unit_mean = size[group], mean[group]
    share = np.where(unit_size > 1, fewer / np.maximum(unit_size - 1, 1), 0)
    ratio = np.divide(recent, unit_mean, out=np.zeros(len(recent)), where=unit_mean > 0)
    return share, ratio


def dates_per_block(officers: int) -> int:
    """As-of dates per block so that a block has about ``BLOCK_CELLS`` cells."""
    return max(1, BLOCK_CELLS // max(officers, 1))


def _blocks(
    as_of_dates: Sequence[dt.date],
    *,
    cohort: Cohort,
    first_notice: np.ndarray,
    block_dates: int | None,
) -> Iterator[AsOfBlock]:
    days = np.unique(day_numbers(list(as_of_dates)))
    step = block_dates or dates_per_block(len(cohort.joined))
    for start in range(0, max(len(days), 1), step):  # no dates: one empty block
        yield AsOfBlock.build(days[start : start + step], cohort=cohort, first_notice=first_notice)


def _id_frame(
    officers: pd.DataFrame, codes: np.ndarray, days: np.ndarray, units: np.ndarray | None
) -> pd.DataFrame:
    """``officer_id``, ``unit``, ``as_of`` of rows given as officer codes and day numbers;
    ``units``: each row's unit name as of its date (None: the officers table's)."""
    return pd.DataFrame(
        {
            "officer_id": officers["officer_id"].array.take(codes),
            "unit": officers["unit"].array.take(codes) if units is None else units,
            "as_of": _as_of(days),
        }
    )


def _as_of(days: np.ndarray) -> np.ndarray:
    """Day numbers as the matrix's ``as_of`` values (datetime64[s])."""
    return (days - DAY_OFFSET).astype("datetime64[D]").astype("datetime64[s]")


@dataclass(frozen=True)
class IndexedForce:
    """A force's events indexed once by kind and knowledge date, so that rows of the feature
    matrix can be built at any as-of dates, again and again, without indexing them again.

    A feature at a date depends only on that date and the events known before it, so the rows
    of a date are the same whichever other dates are built with it (``build_features`` on
    dates ``[a, b]`` has the rows of ``[a]`` followed by those of ``[b]``).
    """

    officers: pd.DataFrame
    config: FeatureConfig
    history: _History

    @classmethod
    def build(cls, data: ForceData, *, config: FeatureConfig) -> IndexedForce:
        """Index ``data``'s events for the features of ``config``."""
        return cls(data.officers, config, _history(data, config))

    def blocks(
        self, as_of_dates: Sequence[dt.date], *, block_dates: int | None = None
    ) -> Iterator[AsOfBlock]:
        """The as-of dates (sorted, duplicates dropped) in blocks of ``block_dates``."""
        return _blocks(
            as_of_dates,
            cohort=self.history.cohort,
            first_notice=self.history.first_notice,
            block_dates=block_dates,
        )

    def ids(self, blocks: Sequence[AsOfBlock], *, categorical: bool = False) -> pd.DataFrame:
        """``officer_id``, ``unit``, ``as_of`` of the blocks' rows (no features computed);
        ``categorical``: the identifiers as pandas categoricals (a code per row, no string)."""
        empty = np.zeros(0, dtype=np.int64)
        return self._ids(
            np.concatenate([empty, *(b.row_officers for b in blocks)]),
            np.concatenate([empty, *(b.days[b.row_dates] for b in blocks)]),
            np.concatenate([empty, *(self.history.row_units(b) for b in blocks)]),
            categorical=categorical,
        )

    def _ids(
        self, codes: np.ndarray, days: np.ndarray, unit_codes: np.ndarray, *, categorical: bool
    ) -> pd.DataFrame:
        """Identifier rows; ``unit_codes``: each row's unit as of its date (``row_units``)."""
        if not categorical:
            with_postings = self.history.postings is not None
            units = self.history.unit_names[unit_codes] if with_postings else None
            return _id_frame(self.officers, codes, days, units)
        return pd.DataFrame(
            {
                "officer_id": pd.Categorical.from_codes(
                    codes, categories=self.officers["officer_id"]
                ),
                "unit": pd.Categorical.from_codes(unit_codes, categories=self.history.unit_names),
                "as_of": _as_of(days),
            }
        )

    def matrix(
        self,
        blocks: Iterable[AsOfBlock],
        *,
        rows: np.ndarray | None = None,
        features: Sequence[str] | None = None,
        categorical_ids: bool = False,
    ) -> pd.DataFrame:
        """The feature matrix of the blocks' rows, written once into one float32 array.

        ``rows`` (ascending positions among the blocks' rows) keeps only those rows and
        ``features`` only those feature columns (in ``feature_columns`` order): each block is
        computed in full and only what is kept is copied out, so the result is the only thing
        of its size in memory. ``categorical_ids``: identifiers as in ``ids``.
        """
        names = feature_columns(self.config)
        kept = names if features is None else [n for n in names if n in set(features)]
        in_place = rows is None and features is None  # each block writes straight into place
        if rows is None:
            blocks = list(blocks)
            total = sum(len(block.row_dates) for block in blocks)
        else:
            total = len(rows)
        values = np.empty((len(kept), total), dtype=np.float32)  # feature-major, as pandas
        keep = [names.index(n) for n in kept]
        codes, days = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        units = [np.zeros(0, dtype=np.int64)]
        start = done = 0
        for block in blocks:
            size = len(block.row_dates)
            if rows is None:
                picked = np.arange(size)
            else:
                within = rows[np.searchsorted(rows, start) : np.searchsorted(rows, start + size)]
                picked = within - start
            start += size
            if len(picked) == 0:
                continue
            target = values[:, done : done + len(picked)]
            out = target if in_place else np.empty((len(names), size), dtype=np.float32)
            _block_features(block, self.history, self.config, dict(zip(names, out, strict=True)))
            if not in_place:
                target[:] = out[np.ix_(keep, picked)]
            codes.append(block.row_officers[picked])
            days.append(block.days[block.row_dates[picked]])
            units.append(self.history.row_units(block)[picked])
            done += len(picked)
        ids = self._ids(
            np.concatenate(codes),
            np.concatenate(days),
            np.concatenate(units),
            categorical=categorical_ids,
        )
        return pd.concat([ids, pd.DataFrame(values.T, columns=kept, copy=False)], axis=1)


def serving_cohort(
    data: ForceData, as_of_dates: Sequence[dt.date], *, config: FeatureConfig
) -> pd.DataFrame:
    """Rows (officer_id, unit, as_of) for each officer serving at each as-of date.

    Serving at t: joined before t (or joined on an unknown date) and not left before t, and,
    with ``config.presume_left_after_years``, not presumed gone (module docstring). Sorted by
    as_of, then officer order: the rows of ``build_features``.
    """
    force = IndexedForce.build(data, config=config)
    return force.ids(list(force.blocks(as_of_dates)))


def iter_feature_blocks(
    data: ForceData,
    as_of_dates: Sequence[dt.date],
    *,
    config: FeatureConfig,
    block_dates: int | None = None,
) -> Iterator[pd.DataFrame]:
    """The feature matrix of ``build_features``, block by block of ``block_dates`` as-of
    dates (default: ``dates_per_block``), so a caller can stream it with bounded memory."""
    force = IndexedForce.build(data, config=config)
    for block in force.blocks(as_of_dates, block_dates=block_dates):
        yield force.matrix([block])


def build_features(
    data: ForceData,
    as_of_dates: Sequence[dt.date],
    *,
    config: FeatureConfig,
    block_dates: int | None = None,
) -> pd.DataFrame:
    """The feature matrix: one row per serving officer per as-of date.

    Returns ``officer_id``, ``unit``, ``as_of`` and then one float32 column per feature in
    ``ewp.features.registry.feature_specs(config)`` order, sorted by as-of date (duplicates
    dropped), then by the officers table's order. Uses only events known before each as-of
    date (see the module docstring); protected attributes are never read. ``block_dates``
    changes only memory use and speed, never the result.
    """
    force = IndexedForce.build(data, config=config)
    return force.matrix(list(force.blocks(as_of_dates, block_dates=block_dates)))


def feature_columns(config: FeatureConfig) -> list[str]:
    """Names of the model-input columns of ``build_features`` for a config."""
    return [spec.name for spec in feature_specs(config)]
