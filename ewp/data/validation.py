"""Validate a raw export against the input contract, quarantining the records that fail.

``validate_export`` takes the all-text tables of a ``RawExport`` (see ``ewp.data.io``) and returns
a ``ValidationResult``: the typed records that passed every check (``ForceData``), one
quarantine row per rejected record, and a per-table summary whose counts add up
(``read == accepted + quarantined``). The counts are taken independently (records read, typed
rows returned, quarantine rows written) and checked on every call: a mismatch raises
``AccountingError`` rather than losing a record quietly. Pure: DataFrames in, result out, no
file I/O.

Two kinds of problem:

* **File-level** problems (a table or a required column missing) make the export unusable:
  ``ContractError``, naming the file and the column.
* **Record-level** problems quarantine the record and keep the rest. Per-cell checks (required
  values, dates, vocabularies, birth years, ``left_on`` not before ``joined_on``) are a pandera
  schema per table; cross-record checks (duplicate ids, several outcomes for one notice,
  references to unknown or quarantined records, implausible dates: a notice received before
  its officer joined or after they left, an incident after its notice was received, a
  decision before its notice, dates in the future of the export, or after the day of the run
  when the export date is not given) are vectorised pandas / pyarrow, one small function per
  rule. A rule comparing two dates skips a record where either is blank (unknown). A record
  with several problems is one quarantine row whose reason lists them all, in column order.

**The export date** (``ExportDate``): the day the export was taken; a knowledge date on or
after it cannot have been known then, so its record is quarantined. It is, in this order: the
one given (``data.extracted_on`` in the config), the one written with the export
(``extracted_on`` in ``export.json`` beside the tables, read by ``ewp.data.io``), or inferred from
the data by a rule one mistyped date cannot move (``infer_last_day``): the day after the
latest knowledge date, once a few dates standing far beyond the rest are set aside. The result
says which, and why.

Every reason names the file, the line and the field, e.g.
``notices.csv line 7, field received_on: "2019-13-45" is not a date (expected YYYY-MM-DD)``.
The line is the CSV line (header = line 1, first record = line 2, line breaks inside quoted
values counted); for Parquet it is the row number + 1, as if there were a header line.
All-blank lines are skipped. Spaces around column names and values are ignored. The rules
and their messages (``MESSAGES``) are listed for data managers in ``docs/data-contract.md``.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from ewp.core.contract import (
    ACTIVITY,
    ACTIVITY_KINDS,
    COLUMNS,
    DATE_COLUMNS,
    FINDINGS,
    NOTICES,
    OFFICERS,
    OUTCOMES,
    POSTINGS,
    SANCTIONS,
    SEVERITIES,
    SOURCES,
    STREAMS,
    TABLES,
    UNKNOWN_DATES,
    ForceData,
)
from ewp.core.errors import ContractError

if TYPE_CHECKING:
    from ewp.data.io import RawExport

QUARANTINE_COLUMNS: tuple[str, ...] = (
    "table",
    "file",
    "line",
    "record_id",
    "field",
    "value",
    "reason",
    "raw",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "table",
    "file",
    "read",
    "accepted",
    "quarantined",
    "blank_lines",
    "ignored_columns",
)

# The column identifying a record of each table, reported as the quarantine's record_id.
RECORD_ID: dict[str, str] = {
    OFFICERS: "officer_id",
    NOTICES: "notice_id",
    OUTCOMES: "notice_id",
    POSTINGS: "officer_id",
    ACTIVITY: "event_id",
}
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "source": SOURCES,
    "severity": SEVERITIES,
    "finding": FINDINGS,
    "sanction": SANCTIONS,
}
BIRTH_YEAR_RANGE: tuple[int, int] = (1900, 2030)
# An activity event's yes/no flags (``injury``, ``weapon``), after normalising; blank = unknown.
FLAG_VALUES: dict[str, bool] = {
    "yes": True,
    "y": True,
    "true": True,
    "1": True,
    "no": False,
    "n": False,
    "false": False,
    "0": False,
}
# The dtype of every date column in ``ForceData`` (pandas' own default for parsed text).
DATE_DTYPE = "datetime64[us]"

# What each check says about a bad cell, after "<file> line <n>, field <column>: ".
MESSAGES: dict[str, str] = {
    "required": "is blank, but a value is required",
    "date": '"{value}" is not a date (expected YYYY-MM-DD)',
    "vocabulary": '"{value}" is not a known {field} (expected one of: {choices})',
    "category": (
        '"{value}" is not a known category '
        "(map it to a standard category in the taxonomy section of the config)"
    ),
    "year": (
        '"{value}" is not a birth year (expected a whole number from '
        f"{BIRTH_YEAR_RANGE[0]} to {BIRTH_YEAR_RANGE[1]}, or blank)"
    ),
    "left_before_joined": '"{value}" is before joined_on "{joined_on}"',
    "ended_before_started": '"{value}" is before start_on "{start_on}"',
    "kind": (
        '"{value}" is not a declared activity kind (expected one of: {choices}; a force '
        "declares its own kinds in features.activity.kinds)"
    ),
    "level": '"{value}" is not a severity level (expected a whole number from 0 to 99, or blank)',
    "flag": '"{value}" is not a yes/no value (expected yes, no, true, false, 1, 0, or blank)',
    "duplicate_id": '"{value}" is a duplicate of line {first_line} (the first occurrence is kept)',
    "second_outcome": (
        'notice "{value}" already has an outcome on line {first_line} '
        "(only the first outcome is kept)"
    ),
    "unknown_reference": '{kind} "{value}" is not in {file}',
    "quarantined_reference": '{kind} "{value}" was quarantined ({file} line {line})',
    "received_before_joined": (
        '"{value}" is before the officer joined ({joined_on}, {file} line {line})'
    ),
    "received_after_left": ('"{value}" is after the officer left ({left_on}, {file} line {line})'),
    "incident_after_received": '"{value}" is after the notice was received ({received_on})',
    "decided_before_received": (
        '"{value}" is before the notice was received ({received_on}, {file} line {line})'
    ),
    "future": (
        '"{value}" is on or after the export date {extracted_on} (in the future of the export)'
    ),
    "after_today": (
        '"{value}" is after today ({today}): a date in the future '
        "(expected a date on or before the day of the run)"
    ),
    "after_last_day": (
        '"{value}" is after {last_day}, the last day of the export as inferred from the data '
        "(no export date is given; if the export is later, set data.extracted_on in the "
        "config or extracted_on in export.json)"
    ),
}
# The inferred last day of an export (``infer_last_day``): a few events (at most
# LAST_DAY_TAIL_EVENTS, or LAST_DAY_TAIL_SHARE of all) after a gap of more than
# LAST_DAY_GAP_FACTOR times the usual gap between event days (and more than LAST_DAY_MIN_GAP
# days) are set aside as mistyped.
LAST_DAY_GAP_FACTOR = 30
LAST_DAY_MIN_GAP = 28
LAST_DAY_TAIL_EVENTS = 5
LAST_DAY_TAIL_SHARE = 0.01

_DATE_PATTERN = (
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_YEAR_PATTERN = r"\d{4}(?:\.0+)?"
_LEVEL_PATTERN = r"\d{1,2}(?:\.0+)?"


class AccountingError(RuntimeError):
    """Records were lost or counted twice: rows read != rows accepted + rows quarantined.

    Never caused by bad input (bad input is quarantined): it means a bug, and stops the run
    before anything is published from incomplete data.
    """


@dataclass(frozen=True)
class ExportDate:
    """The day an export was taken (knowledge dates on or after it are in its future), where
    that came from (``source``: ``config``, ``export.json`` or ``inferred``), and why, in
    words (``detail``)."""

    extracted_on: date
    source: str
    detail: str

    def describe(self) -> str:
        """One line for the console, logs and reports, e.g. "2025-01-01 (config:
        data.extracted_on)"."""
        return f"{self.extracted_on.isoformat()} ({self.source}: {self.detail})"


@dataclass(frozen=True)
class ValidationResult:
    """What ``validate_export`` found.

    ``data``: the accepted records, typed. ``quarantine``: one row per rejected record, with
    columns ``QUARANTINE_COLUMNS`` (``raw`` is the record as read, as JSON with sorted keys).
    ``summary``: one row per table, with columns ``SUMMARY_COLUMNS``. ``export_date``: the
    export date the checks used (None only for an export without a single knowledge date).
    """

    data: ForceData
    quarantine: pd.DataFrame
    summary: pd.DataFrame
    export_date: ExportDate | None = None

    def unusable(self) -> str | None:
        """Why the accepted data cannot be used at all (no officer, or no notice, passed the
        checks), naming the file and the counts; None if it can. ``ewp validate`` and every
        run stop on it with a ``ContractError``, after the quarantine report is written."""
        for table, kind in ((OFFICERS, "officer"), (NOTICES, "notice")):
            row = self.summary.set_index("table").loc[table]
            if row["accepted"] == 0:
                found = (
                    f"all {row['read']} records were quarantined"
                    if row["read"]
                    else "it holds no records"
                )
                return (
                    f"{row['file']}: no {kind} passed the contract's checks ({found}); "
                    f"expected at least one valid {kind}"
                )
        return None


def validate_export(
    raw: RawExport,
    *,
    category_map: Mapping[str, str],
    extracted_on: date | None = None,
    today: date | None = None,
    activity_kinds: tuple[str, ...] = ACTIVITY_KINDS,
) -> ValidationResult:
    """Check every record of ``raw`` against the contract; keep the good ones, quarantine the rest.

    ``category_map`` maps a force's category labels to the standard taxonomy
    (``Config.category_map()``); a label is looked up exactly first, then ignoring case,
    spaces, hyphens and slashes. The export date (see the module docstring) is
    ``extracted_on`` (the config's), else ``raw.extracted_on`` (export.json), else inferred:
    then a date after ``today`` (the day of the run) is quarantined first, so a mistyped year
    such as 2091 is set aside outright, and the last day is inferred from the rest. A notice
    received or a decision made on or after the export date is quarantined.

    The optional streams (``postings``, ``activity``) are checked when ``raw`` has them:
    records naming an unknown or quarantined officer, a posting ending before it starts or
    starting on or after the export date, an activity event with a repeated ``event_id``, a
    kind not in ``activity_kinds`` (``Config.activity_kinds()``), known before the officer
    joined, after they left or on or after the export date are quarantined. The export date is
    inferred from notices and outcomes only.

    Raises ``ContractError`` if a table or a required column is missing, and
    ``AccountingError`` if the counts do not add up.
    """
    names = (*TABLES, *(name for name in STREAMS if name in raw.tables))
    tables = {name: _prepare(raw, name) for name in names}
    for table in tables.values():
        _check_cells(table, category_map, activity_kinds)
    officers, notices, outcomes = (tables[name] for name in TABLES)
    export_date = _given_export_date(extracted_on, raw.extracted_on) or _inferred_export_date(
        notices, outcomes, today
    )
    # Each table's verdicts are final before the tables that refer to it are checked.
    _check_duplicates(officers, "duplicate_id")
    _check_duplicates(notices, "duplicate_id")
    officer_at = _check_reference(notices, "officer_id", parent=officers, kind="officer")
    _check_export_date(notices, "received_on", export_date, today)
    _check_received_in_service(notices, officers, officer_at)
    _check_export_date(notices, "incident_on", export_date, today)
    _check_incident_before_received(notices)
    _check_duplicates(outcomes, "second_outcome")
    notice_at = _check_reference(outcomes, "notice_id", parent=notices, kind="notice")
    _check_decided_after_received(outcomes, notices, notice_at)
    _check_export_date(outcomes, "decided_on", export_date, today)
    if POSTINGS in tables:
        _check_postings(tables[POSTINGS], officers, export_date, today)
    if ACTIVITY in tables:
        _check_activity(tables[ACTIVITY], officers, export_date, today)

    data = ForceData(
        officers=_typed(officers, category_map),
        notices=_typed(notices, category_map),
        outcomes=_typed(outcomes, category_map),
        **{name: _typed(tables[name], category_map) for name in STREAMS if name in tables},
    )
    quarantine = pd.concat([_quarantine(table) for table in tables.values()], ignore_index=True)
    summary = _summary(raw, tables, data, quarantine)
    return ValidationResult(
        data=data, quarantine=quarantine, summary=summary, export_date=export_date
    )


def infer_last_day(knowledge_dates: pd.Series) -> date | None:
    """The last day of an export, from its knowledge dates, that one mistyped date cannot move.

    The *usual gap* is the median gap between consecutive days with an event. Scanning the days
    in order, the first gap longer than ``LAST_DAY_GAP_FACTOR`` (30) times the usual gap, and
    longer than ``LAST_DAY_MIN_GAP`` (28) days, ends the export if only a few events come after
    it (at most ``LAST_DAY_TAIL_EVENTS`` (5), or ``LAST_DAY_TAIL_SHARE`` (1%) of all events if
    more): those are set aside as mistyped. A long pause followed by many events is a pause in
    the records, not a typo, and is kept. In an export so sparse that its usual gap is a month,
    only a date more than 30 months beyond the rest can be told from a last event. None if
    there is no date.

    Worked example: 3 notices a day from 2024-12-02 to 2024-12-31 (90 events) and one typed
    2026-11-30. The usual gap is 1 day, so a gap must exceed max(28, 30 x 1) = 30 days: the
    699 days after 2024-12-31 do, and only 1 event (at most 5) follows them. The last day is
    2024-12-31 and the export date 2025-01-01; the 2026-11-30 notice is quarantined. A single
    decision 20 days after the last notice would be kept: 20 days is no gap at that pace.
    """
    days = np.sort(knowledge_dates.dropna().to_numpy(dtype="datetime64[D]"))
    if not len(days):
        return None
    distinct, counts = np.unique(days, return_counts=True)
    gaps = np.diff(distinct).astype("int64")
    if len(gaps):
        longest_allowed = max(LAST_DAY_MIN_GAP, LAST_DAY_GAP_FACTOR * float(np.median(gaps)))
        events_after = len(days) - np.cumsum(counts)[:-1]  # events after each gap
        few = max(LAST_DAY_TAIL_EVENTS, math.ceil(LAST_DAY_TAIL_SHARE * len(days)))
        ends = np.flatnonzero((gaps > longest_allowed) & (events_after <= few))
        if len(ends):
            return pd.Timestamp(distinct[ends[0]]).date()
    return pd.Timestamp(distinct[-1]).date()


@dataclass
class _Table:
    """One table during validation: its text, the line of each record, the problems found."""

    name: str
    file: str
    text: pd.DataFrame  # contract columns, values stripped, all-blank rows dropped
    raw: pd.DataFrame  # the same records as read, every column
    lines: np.ndarray
    blank_lines: int
    ignored_columns: tuple[str, ...]
    problems: list[pd.DataFrame] = field(default_factory=list)
    _dates: dict[str, pd.Series] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        required, optional = COLUMNS[self.name]
        return (*required, *optional)

    def dates(self, column: str) -> pd.Series:
        """``column`` parsed as dates (``NaT`` where blank or bad), computed once."""
        if column not in self._dates:
            self._dates[column] = _parse_dates(self.text[column])
        return self._dates[column]

    @cached_property
    def first(self) -> np.ndarray:
        """True for the first record with each (non-blank) record id; later ones are repeats."""
        ids = self.text[RECORD_ID[self.name]]
        return (~ids.duplicated() & ids.ne("")).to_numpy()

    def add(
        self,
        mask: pd.Series | np.ndarray,
        column: str,
        message: str,
        **values: str | pd.Series | np.ndarray,
    ) -> None:
        """Record problem ``message`` in ``column`` for the records where ``mask`` is true.

        ``values`` fill the message's placeholders: a string, or one value per record of the
        table (only the flagged records' values are formatted). ``{value}`` defaults to the
        record's ``column``.
        """
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))
        if not len(positions):
            return
        values = {"value": self.text[column], **values}
        picked = {
            name: value if isinstance(value, str) else np.asarray(value.take(positions))
            for name, value in values.items()
        }
        self.problems.append(
            pd.DataFrame(
                {
                    "pos": positions,
                    "order": self.columns.index(column),
                    "field": column,
                    "problem": _format(MESSAGES[message], **picked),
                }
            )
        )

    def rejected(self) -> np.ndarray:
        """True for each record with at least one problem."""
        mask = np.zeros(len(self.text), dtype=bool)
        for problems in self.problems:
            mask[problems["pos"].to_numpy()] = True
        return mask


def _format(template: str, **values: str | np.ndarray) -> pd.Series | str:
    """Vectorised ``str.format``: array values give one text per element."""
    out: pd.Series | str = ""
    for literal, name, _, _ in string.Formatter().parse(template):
        out = out + literal
        if name is not None:
            value = values[name]
            out = out + (value if isinstance(value, str) else pd.Series(value).astype(str))
    return out


# --- reading the text ------------------------------------------------------------------------


def _prepare(raw: RawExport, name: str) -> _Table:
    """Check the table's columns, then strip values and drop all-blank lines."""
    file = raw.files.get(name, f"{name}.csv")
    if name not in raw.tables:
        raise ContractError(
            f"no {name} table in the export: expected {name}.csv, {name}.csv.gz or {name}.parquet"
        )
    frame = raw.tables[name]
    frame = frame.set_axis([str(column).strip() for column in frame.columns], axis=1)
    frame = frame.fillna("").astype(str).reset_index(drop=True)
    repeated = sorted(set(frame.columns[frame.columns.duplicated()]))
    if repeated:
        raise ContractError(f"{file}: column {_names(repeated)} appears more than once")
    required, optional = COLUMNS[name]
    missing = [column for column in required if column not in frame.columns]
    if missing:
        plural, verb = ("s", "are") if len(missing) > 1 else ("", "is")
        raise ContractError(
            f"{file}: required column{plural} {_names(missing)} {verb} missing "
            f"(columns found: {', '.join(map(_printable, frame.columns)) or 'none'})"
        )
    columns = (*required, *optional)
    text = pd.DataFrame(
        {
            column: frame[column].str.strip() if column in frame.columns else ""
            for column in columns
        },
        index=frame.index,
    ).astype(str)
    lines = np.arange(2, len(frame) + 2, dtype="int64")
    if not file.endswith(".parquet"):
        # A quoted value spanning several lines moves every later record down.
        for column in frame:
            if frame[column].str.contains("\n", regex=False).any():
                breaks = frame[column].str.count("\n").to_numpy(dtype="int64")
                lines += np.cumsum(breaks) - breaks
    ignored = tuple(column for column in frame.columns if column not in columns)
    kept = text.ne("").any(axis=1).to_numpy(copy=True)
    for column in ignored:
        kept |= frame[column].str.strip().ne("").to_numpy()
    return _Table(
        name=name,
        file=file,
        text=text[kept].reset_index(drop=True),
        raw=frame[kept].reset_index(drop=True),
        lines=lines[kept],
        blank_lines=int((~kept).sum()),
        ignored_columns=ignored,
    )


def _names(columns: list[str]) -> str:
    return ", ".join(f'"{_printable(column)}"' for column in columns)


# Control characters (a line break in a quoted header cell, say) shown as escapes, so that an
# error naming a column stays one line: "a\nb", never a message broken in two.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _printable(name: str) -> str:
    """``name`` with control characters escaped: "0\n0" reads ``0\\n0``."""
    return _CONTROL.sub(lambda found: repr(found.group())[1:-1], name)


def _by_unique(text: pd.Series, convert: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Apply ``convert`` to the distinct values of ``text`` only, and spread the result back."""
    codes, uniques = pd.factorize(text)
    return convert(pd.Series(uniques, dtype=str)).take(codes).set_axis(text.index)


def _parse_dates(text: pd.Series) -> pd.Series:
    """ISO dates (``YYYY-MM-DD``, optionally with a time) -> the day; anything else -> ``NaT``."""

    def convert(uniques: pd.Series) -> pd.Series:
        iso = uniques.str.fullmatch(_DATE_PATTERN)
        days = uniques.str.slice(0, 10).where(iso)
        return pd.to_datetime(days, format="%Y-%m-%d", errors="coerce").astype(DATE_DTYPE)

    return _by_unique(text, convert)


def _parse_years(text: pd.Series) -> pd.Series:
    """Birth years -> nullable ``Int64``; blank or outside ``BIRTH_YEAR_RANGE`` -> ``<NA>``."""
    whole = text.str.fullmatch(_YEAR_PATTERN)
    years = pd.to_numeric(text.str.slice(0, 4).where(whole), errors="coerce").astype("Int64")
    return years.where(years.between(*BIRTH_YEAR_RANGE))


def _normalise(text: pd.Series) -> pd.Series:
    """Labels -> vocabulary form: lower case, runs of spaces, ``-`` or ``/`` -> one ``_``."""
    return _by_unique(
        text,
        lambda uniques: uniques.str.strip().str.lower().str.replace(r"[\s/-]+", "_", regex=True),
    )


def _map_categories(text: pd.Series, category_map: Mapping[str, str]) -> pd.Series:
    """Category labels -> standard categories (exact label first, then normalised); else NaN."""
    labels = pd.Series(list(category_map), dtype=str)
    by_normalised = dict(zip(_normalise(labels), category_map.values(), strict=True))

    def convert(uniques: pd.Series) -> pd.Series:
        return uniques.map(category_map).fillna(_normalise(uniques).map(by_normalised))

    return _by_unique(text, convert)


def _pick(values: np.ndarray, at: np.ndarray, missing: object) -> np.ndarray:
    """``values[at]``, with ``missing`` where ``at`` is -1 (as given by ``_positions``)."""
    out = np.full(len(at), missing, dtype=values.dtype)
    out[at >= 0] = values[at[at >= 0]]
    return out


def _positions(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """For each value, the position of the equal key (the first if repeated), or -1."""
    found = pc.index_in(
        pyarrow.array(values, type=pyarrow.large_string()),
        value_set=pyarrow.array(keys, type=pyarrow.large_string()),
    )
    return pc.fill_null(found, -1).to_numpy().astype("int64")


# --- per-cell checks (pandera) ---------------------------------------------------------------


def _schema(
    name: str, category_map: Mapping[str, str], activity_kinds: tuple[str, ...]
) -> pa.DataFrameSchema:
    """The pandera schema of one all-text table; each check's name is a key of ``MESSAGES``."""
    required, optional = COLUMNS[name]
    columns: dict[str, pa.Column] = {}
    for column in (*required, *optional):
        checks = []
        if _value_required(name, column):
            checks.append(pa.Check(lambda s: s.ne(""), name="required"))
        if column in DATE_COLUMNS[name]:
            checks.append(pa.Check(lambda s: s.eq("") | _parse_dates(s).notna(), name="date"))
        if name == ACTIVITY:
            checks += _activity_checks(column, activity_kinds)
        elif column in VOCABULARIES:
            checks.append(_vocabulary_check(VOCABULARIES[column]))
        if name == NOTICES and column == "category":
            checks.append(
                pa.Check(
                    lambda s: s.eq("") | _map_categories(s, category_map).notna(),
                    name="category",
                )
            )
        if column == "birth_year":
            checks.append(pa.Check(lambda s: s.eq("") | _parse_years(s).notna(), name="year"))
        columns[column] = pa.Column(str, checks=checks)
    wide = []
    if name == OFFICERS:
        wide.append(
            pa.Check(
                lambda df: ~(_parse_dates(df["left_on"]) < _parse_dates(df["joined_on"])),
                name="left_before_joined",
            )
        )
    if name == POSTINGS:
        wide.append(
            pa.Check(
                lambda df: ~(_parse_dates(df["end_on"]) < _parse_dates(df["start_on"])),
                name="ended_before_started",
            )
        )
    return pa.DataFrameSchema(columns, checks=wide)


def _activity_checks(column: str, kinds: tuple[str, ...]) -> list[pa.Check]:
    """The activity table's own cell checks: declared kinds, severity levels, yes/no flags."""
    if column == "kind":
        return [pa.Check(lambda s: s.eq("") | _normalise(s).isin(kinds), name="kind")]
    if column == "severity":
        return [pa.Check(lambda s: s.eq("") | s.str.fullmatch(_LEVEL_PATTERN), name="level")]
    if column in ("injury", "weapon"):
        return [pa.Check(lambda s: s.eq("") | _normalise(s).isin(FLAG_VALUES), name="flag")]
    return []


def _value_required(table: str, column: str) -> bool:
    """A required column's value must be filled in, except a date that may be unknown
    (``ewp.core.contract.UNKNOWN_DATES``: blank = unknown, and checks comparing it are skipped)."""
    return column in COLUMNS[table][0] and column not in UNKNOWN_DATES[table]


def _vocabulary_check(vocabulary: tuple[str, ...]) -> pa.Check:
    return pa.Check(lambda s: s.eq("") | _normalise(s).isin(vocabulary), name="vocabulary")


def _check_cells(
    table: _Table, category_map: Mapping[str, str], activity_kinds: tuple[str, ...]
) -> None:
    """Run the table's pandera schema (lazily, so every bad cell is found); record problems."""
    try:
        _schema(table.name, category_map, activity_kinds).validate(table.text, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    else:
        return
    if failures["index"].isna().any():
        raise RuntimeError(f"{table.file}: a check failed to run:\n{failures}")
    # A check on the whole frame (left_on vs joined_on) reports each of its rows once per column.
    wide = failures["schema_context"].eq("DataFrameSchema")
    cells = failures[~wide]
    for (column, check), group in cells.groupby(["column", "check"], sort=True):
        table.add(
            table.text.index.isin(group["index"]),
            column,
            check,
            field=column,
            choices=", ".join(activity_kinds if check == "kind" else VOCABULARIES.get(column, ())),
        )
    if wide.any():
        rows = table.text.index.isin(failures.loc[wide, "index"])
        if table.name == POSTINGS:
            table.add(rows, "end_on", "ended_before_started", start_on=table.text["start_on"])
        else:
            table.add(rows, "left_on", "left_before_joined", joined_on=table.text["joined_on"])


# --- cross-record checks ---------------------------------------------------------------------


def _check_duplicates(table: _Table, message: str) -> None:
    """Quarantine every repeat of a non-blank record id after its first occurrence."""
    column = RECORD_ID[table.name]
    ids = table.text[column]
    repeat = ~table.first & ids.ne("").to_numpy()
    if not repeat.any():
        return
    first_line = np.zeros(len(ids), dtype="int64")
    first_line[repeat] = table.lines[table.first][_positions(ids[repeat], ids[table.first])]
    table.add(repeat, column, message, first_line=first_line)


def _check_reference(child: _Table, column: str, *, parent: _Table, kind: str) -> np.ndarray:
    """Quarantine records naming a ``parent`` record that is missing or was quarantined.

    A repeated parent id means its first occurrence (later ones are duplicates). Returns, per
    child record, the position of its parent among the parent's first occurrences, or -1.
    """
    ref = child.text[column]
    at = _positions(ref, parent.text[RECORD_ID[parent.name]][parent.first])
    unknown = ref.ne("").to_numpy() & (at < 0)
    child.add(unknown, column, "unknown_reference", kind=kind, file=parent.file)
    child.add(
        _pick(parent.rejected()[parent.first], at, missing=False),
        column,
        "quarantined_reference",
        kind=kind,
        file=parent.file,
        line=_pick(parent.lines[parent.first], at, missing=0),
    )
    return at


def _check_received_in_service(
    notices: _Table, officers: _Table, at: np.ndarray, *, column: str = "received_on"
) -> None:
    """Quarantine notices (or activity events: ``column`` ``known_on``) received before their
    officer joined or after they left. A date that is blank (unknown) on either side is not
    compared.

    ``at``: each notice's officer among the officers' first occurrences (``_check_reference``).
    """
    received = notices.dates(column).to_numpy()
    line = _pick(officers.lines[officers.first], at, missing=0)
    for officer_column, message, outside in (
        ("joined_on", "received_before_joined", np.less),
        ("left_on", "received_after_left", np.greater),
    ):
        officer_day = _pick(
            officers.dates(officer_column).to_numpy()[officers.first],
            at,
            missing=np.datetime64("NaT"),
        )
        wrong = outside(received, officer_day)  # False wherever either date is NaT
        notices.add(
            wrong,
            column,
            message,
            **{officer_column: _day_text(officer_day, wrong)},
            file=officers.file,
            line=line,
        )


def _check_postings(
    postings: _Table, officers: _Table, export_date: ExportDate | None, today: date | None
) -> None:
    """Quarantine postings of an unknown or quarantined officer, or starting on or after the
    export date (not yet known). An end date after the export date is kept: a posting a
    force records as ending later is still running at the export."""
    _check_reference(postings, "officer_id", parent=officers, kind="officer")
    _check_export_date(postings, "start_on", export_date, today)


def _check_activity(
    activity: _Table, officers: _Table, export_date: ExportDate | None, today: date | None
) -> None:
    """Quarantine repeated event ids, events of an unknown or quarantined officer, and events
    known outside the officer's service or on or after the export date."""
    _check_duplicates(activity, "duplicate_id")
    officer_at = _check_reference(activity, "officer_id", parent=officers, kind="officer")
    _check_export_date(activity, "known_on", export_date, today)
    _check_received_in_service(activity, officers, officer_at, column="known_on")


def _check_incident_before_received(notices: _Table) -> None:
    """Quarantine notices whose incident is dated after the notice was received (and not
    already in the future of the export: that reason is given instead). Blank incident dates
    are not compared."""
    incident = notices.dates("incident_on").to_numpy()
    received = notices.dates("received_on").to_numpy()
    already = np.zeros(len(incident), dtype=bool)
    for problems in notices.problems:
        already[problems.loc[problems["field"] == "incident_on", "pos"].to_numpy()] = True
    late = (incident > received) & ~already
    notices.add(
        late, "incident_on", "incident_after_received", received_on=_day_text(received, late)
    )


def _day_text(days: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` of ``days`` where ``where`` is true, ``""`` elsewhere."""
    text = np.full(len(days), "", dtype=object)
    text[where] = np.datetime_as_string(days[where], unit="D")
    return text


def _check_decided_after_received(outcomes: _Table, notices: _Table, at: np.ndarray) -> None:
    """Quarantine outcomes decided before their notice was received.

    ``at``: each outcome's notice among the notices' first occurrences (``_check_reference``).
    """
    received_on = notices.dates("received_on").to_numpy()[notices.first]
    received = _pick(received_on, at, missing=np.datetime64("NaT"))
    early = outcomes.dates("decided_on").to_numpy() < received
    outcomes.add(
        early,
        "decided_on",
        "decided_before_received",
        received_on=_day_text(received, early),
        file=notices.file,
        line=_pick(notices.lines[notices.first], at, missing=0),
    )


def _given_export_date(configured: date | None, manifest: date | None) -> ExportDate | None:
    """The export date from the config, else from export.json; None if neither gives one."""
    if configured is not None:
        return ExportDate(configured, "config", "data.extracted_on")
    if manifest is not None:
        return ExportDate(manifest, "export.json", "extracted_on, written with the export")
    return None


def _inferred_export_date(
    notices: _Table, outcomes: _Table, today: date | None
) -> ExportDate | None:
    """The day after ``infer_last_day`` of every knowledge date (of records rejected for
    another reason too: they still happened), except those after ``today``."""
    known = pd.concat([notices.dates("received_on"), outcomes.dates("decided_on")])
    if today is not None:
        known = known[known <= pd.Timestamp(today)]
    last_day = infer_last_day(known)
    if last_day is None:
        return None
    later = known[known > pd.Timestamp(last_day)]
    detail = f"the day after {last_day.isoformat()}, the latest knowledge date"
    if len(later):
        gap = (later.min() - pd.Timestamp(last_day)).days
        detail += (
            f" before a gap of {gap} days; {len(later)} later date{'s' if len(later) > 1 else ''}"
            " set aside as implausible"
        )
    return ExportDate(last_day + timedelta(days=1), "inferred", detail)


def _check_export_date(
    table: _Table, column: str, export_date: ExportDate | None, today: date | None
) -> None:
    """Quarantine knowledge dates on or after the export date. When it is inferred, those
    after ``today`` (the day of the run) are reported as such: they are no plausible date."""
    dates = table.dates(column)
    if export_date is not None and export_date.source != "inferred":
        late = dates >= pd.Timestamp(export_date.extracted_on)
        table.add(late, column, "future", extracted_on=export_date.extracted_on.isoformat())
        return
    after_today = pd.Series(False, index=dates.index)
    if today is not None:
        after_today = dates > pd.Timestamp(today)
        table.add(after_today, column, "after_today", today=today.isoformat())
    if export_date is not None:
        last_day = export_date.extracted_on - timedelta(days=1)
        late = (dates > pd.Timestamp(last_day)) & ~after_today
        table.add(late, column, "after_last_day", last_day=last_day.isoformat())


# --- results ---------------------------------------------------------------------------------


def _typed(table: _Table, category_map: Mapping[str, str]) -> pd.DataFrame:
    """The accepted records with contract types; blank optional values become missing."""
    accepted = ~table.rejected()
    text = table.text[accepted].reset_index(drop=True)
    required, _ = COLUMNS[table.name]
    out: dict[str, pd.Series] = {}
    for column in table.columns:
        value = text[column]
        if column in DATE_COLUMNS[table.name]:
            out[column] = table.dates(column)[accepted].reset_index(drop=True)
        elif column == "birth_year":
            out[column] = _parse_years(value)
        elif table.name == ACTIVITY and column == "severity":
            out[column] = pd.to_numeric(value.where(value.ne("")), errors="raise").astype("Int64")
        elif table.name == ACTIVITY and column in ("injury", "weapon"):
            out[column] = _normalise(value).map(FLAG_VALUES).astype("boolean")
        elif table.name == ACTIVITY and column == "kind":
            out[column] = _normalise(value)
        elif column == "category":
            out[column] = _map_categories(value, category_map).astype(str)
            out["category_raw"] = value
        elif column in VOCABULARIES:
            out[column] = _normalise(value).where(value.ne(""))
        elif column in required:
            out[column] = value
        else:
            out[column] = value.where(value.ne(""))
    return pd.DataFrame(out, index=text.index)


def _quarantine(table: _Table) -> pd.DataFrame:
    """One row per rejected record of ``table``, in line order."""
    if not table.problems:
        empty = {column: pd.Series(dtype=str) for column in QUARANTINE_COLUMNS}
        return pd.DataFrame(empty).astype({"line": "int64"})
    problems = pd.concat(table.problems, ignore_index=True).sort_values(
        ["pos", "order"], kind="stable"
    )
    problems["item"] = "field " + problems["field"] + ": " + problems["problem"]
    by_record = problems.groupby("pos", sort=True)
    pos = by_record["pos"].first().to_numpy()
    first_field = by_record["field"].first().to_numpy()
    values = np.empty(len(pos), dtype=object)
    for column in np.unique(first_field):
        where = first_field == column
        values[where] = table.text[column].take(pos[where]).to_numpy()
    lines = table.lines[pos]
    reasons = by_record["item"].agg("; ".join).to_numpy()
    return pd.DataFrame(
        {
            "table": table.name,
            "file": table.file,
            "line": lines,
            "record_id": table.text[RECORD_ID[table.name]].take(pos).to_numpy(),
            "field": first_field,
            "value": values,
            "reason": [
                f"{table.file} line {line}, {reason}"
                for line, reason in zip(lines, reasons, strict=True)
            ],
            "raw": [
                json.dumps(row, sort_keys=True, ensure_ascii=False)
                for row in table.raw.take(pos).to_dict("records")
            ],
        },
        columns=QUARANTINE_COLUMNS,
    ).astype({"line": "int64", "value": str})


def _summary(
    raw: RawExport, tables: dict[str, _Table], data: ForceData, quarantine: pd.DataFrame
) -> pd.DataFrame:
    """One row per table, each count taken on its own; ``AccountingError`` if they disagree.

    Lines in the file = blank lines + records read, and records read = rows accepted (in
    ``data``) + rows quarantined (in ``quarantine``).
    """
    quarantined = quarantine["table"].value_counts()
    rows = []
    for name, table in tables.items():
        row = {
            "table": name,
            "file": table.file,
            "read": len(table.text),
            "accepted": len(getattr(data, name)),
            "quarantined": int(quarantined.get(name, 0)),
            "blank_lines": table.blank_lines,
            "ignored_columns": ", ".join(table.ignored_columns),
        }
        if row["read"] != row["accepted"] + row["quarantined"] or (
            row["read"] + row["blank_lines"] != len(raw.tables[name])
        ):
            raise AccountingError(
                f"{table.file}: {len(raw.tables[name])} lines read = {row['blank_lines']} blank "
                f"+ {row['read']} records, but {row['accepted']} accepted + "
                f"{row['quarantined']} quarantined; records were lost or counted twice"
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
