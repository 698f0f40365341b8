"""A general adapter: a force's own export, described by a YAML mapping, into the ewp contract.

A force's case system rarely exports the three contract tables as such. This adapter reads the
force's files (CSV or gzip CSV, every cell as text), derives each contract column as its
mapping says, and writes ``officers``, ``notices`` and ``outcomes`` with
``ewp.data.io.write_export``. All knowledge of one force lives in its mapping file
(``configs/mappings/<force>.yaml``); ``docs/adapters.md`` explains the mapping format and the
Chicago mapping.

The mapping names

* the source **files**, each with its key columns;
* the file giving one **officer** per row, and the file giving one **notice** per row (one
  allegation against one officer), with **joins** adding columns from other files (a join file
  may repeat a key: identical rows are dropped; if rows of one key still differ, the row with the
  earliest date in ``earliest`` is kept and the keys are counted);
* for each contract column, its **derivation**: a source column, a template over source columns
  or a constant, optionally read as a number, cut to a code by a regular expression, and mapped
  through a value map (exact or longest-prefix), numeric ranges, codes that quarantine the row,
  or membership of another file's keys.

Outcomes are derived from the same (joined) rows as the notices: a notice whose ``decided_on``
source is blank is open and gets no outcome row.

Nothing is dropped silently. A row that cannot be used is **quarantined** with its source file,
line and reason (a blank required value, a date that is not a date, a quarantine code, a
repeated key, an unknown or quarantined officer, a missing join key, an accusation outside the
officer's service, a decision before the complaint). The **summary** counts every step: rows
read, join rows removed, each quarantine reason (counting each row once, under its first
reason), each value filled into a blank or mapped to blank, open cases, rows written, and what
``ewp.data.validation.validate_export`` says about the written export (expected: nothing to
quarantine). Rows read always equal rows written plus quarantined (checked on every run:
``AccountingError`` otherwise).

A non-blank source value that the mapping does not cover stops the run with ``MappingError``
naming the mapping file, the field and the values, so a new code is mapped by a person rather
than guessed.
"""

from __future__ import annotations

import json
import re
import string
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ewp.core.config import Config, ConfigError, UniqueKeyLoader
from ewp.core.contract import (
    ACTIVITY,
    CATEGORIES,
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
)
from ewp.core.errors import ContractError
from ewp.data.io import read_csv_text, read_raw_export, write_export, write_quarantine
from ewp.data.validation import BIRTH_YEAR_RANGE, RECORD_ID, AccountingError, validate_export

SUMMARY_COLUMNS: tuple[str, ...] = ("step", "item", "count", "action")
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
# A blank date filled from another row of its case: the quarantine report's first columns (the
# row, the field, the value given) and the line the value came from.
FILLED_COLUMNS: tuple[str, ...] = (*QUARANTINE_COLUMNS[:6], "from_line")
# Where ``ingest`` writes its own reports, beside (not among) the contract tables.
REPORT_DIR = "ingest"

# The closed vocabulary of each contract column a mapping may target.
_TARGETS: dict[str, tuple[str, ...]] = {
    "category": CATEGORIES,
    "source": SOURCES,
    "severity": SEVERITIES,
    "finding": FINDINGS,
    "sanction": SANCTIONS,
}


class MappingError(ConfigError):
    """A mapping that cannot be used; the message names the mapping file and the field."""


# --- the mapping -----------------------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceFile(_Frozen):
    """One file of the force's export: its path in the source folder and its key columns.

    ``archive``: a zip file in the source folder that holds ``path``. ``columns``: the file has
    no header line and these are its columns, in order. ``keep``: only rows whose value in each
    named column is one of those listed are read; the others are a deliberate exclusion (e.g.
    ``{linked: ["1"]}``: officers the export could not link), counted as *filtered*, never
    quarantined. ``optional``: the file of an optional stream (postings, activity) that a
    force's export may lack; without it, the stream is not written (the export has none).
    """

    path: str
    key: tuple[str, ...] = Field(min_length=1)
    archive: str | None = None
    columns: tuple[str, ...] | None = Field(None, min_length=1)
    keep: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    optional: bool = False

    @field_validator("keep", mode="before")
    @classmethod
    def _text_values(cls, keep: Any) -> Any:
        if isinstance(keep, dict):
            for column, values in keep.items():
                listed = values if isinstance(values, list | tuple) else [values]
                if not isinstance(column, str) or not all(isinstance(v, str) for v in listed):
                    raise ValueError(
                        f"keep {column!r}: {values!r}: columns and values are text: quote "
                        'them (write ["1"], not [1])'
                    )
        return keep

    @property
    def name(self) -> str:
        """How the file is named in reports: ``path``, or ``archive/path``."""
        return self.path if self.archive is None else f"{self.archive}/{self.path}"


class Join(_Frozen):
    """Columns added to each notice row from another file, matched on that file's key.

    Rows of ``file`` identical in the key and ``columns`` are dropped. If a key still has rows
    that differ, the row with the earliest date in ``earliest`` (blanks last; then file order)
    is kept; without ``earliest``, the first in file order.
    """

    file: str
    columns: tuple[str, ...] = Field(min_length=1)
    earliest: str | None = None

    @model_validator(mode="after")
    def _earliest_is_joined(self) -> Join:
        if self.earliest is not None and self.earliest not in self.columns:
            raise ValueError(f"earliest {self.earliest!r} must be one of columns {self.columns}")
        return self


class Range(_Frozen):
    """Numbers from ``min`` to ``max`` (inclusive) map to ``value``."""

    min: float
    max: float
    value: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class Derive(_Frozen):
    """How one contract column is derived from a source row.

    Exactly one of ``column`` (a source column), ``template`` (source columns in braces, e.g.
    ``"{cr_id}-{UID}"``) or ``constant``. With ``member_of``, the value is ``if_member`` when
    ``column`` is among the keys of that file, else ``otherwise``.

    A source value (a column's, or a template's text: ``"{case_type}|{complainant}"`` combines
    two columns into one code) is stripped; with ``numeric`` a whole number loses its decimals
    (``600.0`` -> ``600``); with ``extract`` it is cut to the regular expression's one group
    (``^(\\d{2})``). The resulting code is then looked up: in ``quarantine`` (the row is
    quarantined with that reason), in ``values`` (exactly, or with ``match: prefix`` the longest
    key starting the code; ``""`` is the blank value; null maps to blank), then in ``ranges``
    (numbers). A non-blank code found nowhere is an error (``unmapped: error``) or kept as it is
    (``unmapped: keep``). Without any of ``values``, ``ranges`` or ``quarantine``, the code is
    the value.

    ``fill_from_case`` (a notice or outcome date): a blank value is taken from another row of
    the same case, the ``earliest`` or ``latest`` of their dates, and the filled rows are
    reported (``IngestResult.filled``). ``if_blank`` (a date the contract lets be unknown,
    ``joined_on``): ``unknown`` writes it blank, ``quarantine`` quarantines the row.
    """

    column: str | None = None
    template: str | None = None
    constant: str | None = None
    member_of: str | None = None
    if_member: str | None = None
    otherwise: str | None = None
    numeric: bool = False
    extract: str | None = None
    match: Literal["exact", "prefix"] = "exact"
    values: dict[str, str | None] = Field(default_factory=dict)
    ranges: tuple[Range, ...] = ()
    quarantine: dict[str, str] = Field(default_factory=dict)
    unmapped: Literal["error", "keep"] = "error"
    fill_from_case: Literal["earliest", "latest"] | None = None
    if_blank: Literal["unknown", "quarantine"] = "unknown"

    @field_validator("values", "quarantine", mode="before")
    @classmethod
    def _text_keys(cls, codes: Any) -> Any:
        if isinstance(codes, dict):
            for key in codes:
                if not isinstance(key, str):
                    raise ValueError(
                        f"code {key!r} is not text: quote codes in the mapping "
                        '(write "01" or "600", and "NO" or "ON" for such codes)'
                    )
        return codes

    @field_validator("extract")
    @classmethod
    def _one_group(cls, pattern: str | None) -> str | None:
        if pattern is None:
            return None
        try:
            groups = re.compile(pattern).groups
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from exc
        if groups != 1:
            raise ValueError(f"{pattern!r} must have exactly one group, has {groups}")
        return pattern

    @field_validator("template")
    @classmethod
    def _plain_fields(cls, template: str | None) -> str | None:
        if template is None:
            return None
        try:
            parts = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise ValueError(f"{template!r} is not a template: {exc}") from exc
        names = [name for _, name, _, _ in parts if name is not None]
        if not names or any(not name for name in names):
            raise ValueError(f"{template!r} must name source columns in braces, e.g. {{cr_id}}")
        if any(spec or conversion for _, name, spec, conversion in parts if name is not None):
            raise ValueError(f"{template!r}: format specs and conversions are not supported")
        return template

    @model_validator(mode="after")
    def _consistent(self) -> Derive:
        given = [n for n in ("column", "template", "constant") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of column, template, constant (got {given})")
        if self.member_of is not None:
            if self.column is None or self.if_member is None or self.otherwise is None:
                raise ValueError("member_of needs column, if_member and otherwise")
            if self.has_lookup or self.numeric or self.extract is not None:
                raise ValueError("member_of cannot be combined with a value map")
        elif self.if_member is not None or self.otherwise is not None:
            raise ValueError("if_member and otherwise need member_of")
        if "" in self.quarantine:
            raise ValueError(
                'quarantine cannot list "" (a blank required value is quarantined anyway)'
            )
        if self.ranges and not self.numeric:
            raise ValueError("ranges need numeric: true")
        if self.constant is not None and (self.has_lookup or self.numeric or self.extract):
            raise ValueError("a value map needs a source column or a template")
        if self.fill_from_case is not None and self.column is None:
            raise ValueError("fill_from_case needs a source column")
        return self

    @property
    def has_lookup(self) -> bool:
        """True when values are looked up (``values``, ``ranges`` or ``quarantine``)."""
        return bool(self.values or self.ranges or self.quarantine)

    @property
    def sources(self) -> tuple[str, ...]:
        """The source columns this derivation reads."""
        if self.template is not None:
            return tuple(name for _, name, _, _ in string.Formatter().parse(self.template) if name)
        return (self.column,) if self.column is not None else ()

    @property
    def label(self) -> str:
        """How the derivation is named in the summary and quarantine reasons."""
        return self.column or self.template or repr(self.constant)

    def can_be_blank(self) -> bool:
        """False when the derivation always gives a value (so no blank check is needed)."""
        if self.constant is not None:
            return not self.constant
        if self.member_of is not None:
            return not (self.if_member and self.otherwise)
        if self.template is not None and not self.has_lookup:
            return not any(literal for literal, _, _, _ in string.Formatter().parse(self.template))
        to_blank = [target for code, target in self.values.items() if code and not target]
        return not self.values.get("") or bool(to_blank)


class _TableSpec(_Frozen):
    """The derivations of one contract table: every required column, any optional ones.

    ``IMPLIED`` columns are not derived: they come from the table's parent (an outcome's
    ``notice_id`` is its notice's).
    """

    TABLE: ClassVar[str]
    IMPLIED: ClassVar[tuple[str, ...]] = ()
    columns: dict[str, Derive]

    @field_validator("columns")
    @classmethod
    def _contract_columns(cls, columns: dict[str, Derive]) -> dict[str, Derive]:
        required, optional = COLUMNS[cls.TABLE]
        derived = [name for name in (*required, *optional) if name not in cls.IMPLIED]
        unknown = [name for name in columns if name not in derived]
        if unknown:
            raise ValueError(
                f"{unknown} are not derived columns of the {cls.TABLE} table; "
                f"expected some of {derived}"
            )
        may_omit = (*cls.IMPLIED, *UNKNOWN_DATES[cls.TABLE])
        missing = [name for name in required if name not in (*columns, *may_omit)]
        if missing:
            raise ValueError(f"required {cls.TABLE} columns {missing} have no derivation")
        for name, spec in columns.items():
            if name in DATE_COLUMNS[cls.TABLE] and (spec.has_lookup or spec.extract):
                raise ValueError(f"{name}: a date column takes no value map")
            if spec.fill_from_case and (
                cls.TABLE == OFFICERS or name not in DATE_COLUMNS[cls.TABLE]
            ):
                raise ValueError(f"{name}: fill_from_case is for notice and outcome dates")
            if spec.if_blank != "unknown" and (
                name not in UNKNOWN_DATES[cls.TABLE] or cls.TABLE == OUTCOMES
            ):
                raise ValueError(
                    f"{name}: if_blank is for a date that may be unknown "
                    f"({', '.join(UNKNOWN_DATES[OFFICERS])}); outcomes use blank_decided_on"
                )
            if name not in _TARGETS or cls.TABLE in STREAMS:  # streams: checked by validation
                continue
            targets = [
                *spec.values.values(),
                *(r.value for r in spec.ranges),
                spec.constant,
                spec.if_member,
                spec.otherwise,
            ]
            bad = sorted({t for t in targets if t and t not in _TARGETS[name]})
            if bad:
                raise ValueError(
                    f"{name}: {bad} not in the {name} vocabulary; "
                    f"expected some of {list(_TARGETS[name])}"
                )
            if spec.unmapped == "keep":
                raise ValueError(f"{name}: a vocabulary column cannot keep unmapped values")
        return columns


class OfficersSpec(_TableSpec):
    """The officers table: one row of ``file`` per officer."""

    TABLE: ClassVar[str] = OFFICERS
    file: str


class NoticesSpec(_TableSpec):
    """The notices table: one row of ``file`` per allegation against one officer.

    With ``within_service``, a notice received before the officer joined or after they left is
    quarantined.
    """

    TABLE: ClassVar[str] = NOTICES
    file: str
    joins: tuple[Join, ...] = ()
    within_service: bool = True


class OutcomesSpec(_TableSpec):
    """The outcomes table, derived from each notice's row.

    A blank ``decided_on`` (or none derived) means, per ``blank_decided_on``: ``open`` (no
    outcome row: the case is undecided) or ``date_unknown`` (a row whose finding is recorded is
    an outcome with an unknown decision date, never known as of any date; a row without one is
    open). Without a ``decided_on`` derivation, ``date_unknown`` must be chosen explicitly.
    """

    TABLE: ClassVar[str] = OUTCOMES
    IMPLIED: ClassVar[tuple[str, ...]] = ("notice_id",)
    blank_decided_on: Literal["open", "date_unknown"] = "open"

    @model_validator(mode="after")
    def _undated_findings_kept(self) -> OutcomesSpec:
        if "decided_on" not in self.columns and self.blank_decided_on != "date_unknown":
            raise ValueError(
                "decided_on has no derivation: set blank_decided_on: date_unknown to keep the "
                "findings with an unknown decision date (open would drop every one)"
            )
        return self


class PostingsSpec(_TableSpec):
    """The optional postings stream: one row of ``file`` per posting of an officer to a unit."""

    TABLE: ClassVar[str] = POSTINGS
    file: str


class ActivitySpec(_TableSpec):
    """The optional activity stream: one row of ``file`` per event (a repeated file key is
    quarantined, the first row kept). With ``within_service``, an event known before the
    officer joined or after they left is quarantined."""

    TABLE: ClassVar[str] = ACTIVITY
    file: str
    within_service: bool = True


class Mapping(_Frozen):
    """A force's export described for the adapter (see ``docs/adapters.md``)."""

    name: str = Field(pattern=r"^[a-z0-9_-]+$")
    description: str = ""
    date_format: str = "%Y-%m-%d"
    files: dict[str, SourceFile] = Field(min_length=1)
    officers: OfficersSpec
    notices: NoticesSpec
    outcomes: OutcomesSpec
    postings: PostingsSpec | None = None
    activity: ActivitySpec | None = None

    @model_validator(mode="after")
    def _case_is_plain(self) -> Mapping:
        fills = [
            f"{table.TABLE}.columns.{name}"
            for table in (self.notices, self.outcomes)
            for name, spec in table.columns.items()
            if spec.fill_from_case is not None
        ]
        if fills and self.notices.columns["case_id"].has_lookup:
            raise ValueError(
                f"{', '.join(fills)}: fill_from_case needs notices.columns.case_id without a "
                "value map"
            )
        return self

    @model_validator(mode="after")
    def _files_named(self) -> Mapping:
        named = {
            "officers.file": self.officers.file,
            "notices.file": self.notices.file,
            **{f"notices.joins.{i}.file": j.file for i, j in enumerate(self.notices.joins)},
            **{f"{stream.TABLE}.file": stream.file for stream in self.streams()},
        }
        for table in (self.officers, self.notices, self.outcomes, *self.streams()):
            for name, spec in table.columns.items():
                if spec.member_of is not None:
                    named[f"{table.TABLE}.columns.{name}.member_of"] = spec.member_of
        for where, file in named.items():
            if file not in self.files:
                raise ValueError(f"{where}: {file!r} is not in files ({sorted(self.files)})")
            if self.files[file].optional and where.split(".")[0] not in STREAMS:
                raise ValueError(f"{where}: {file!r} is optional; only a stream's file may be")
            if where.endswith("member_of") and len(self.files[file].key) != 1:
                raise ValueError(f"{where}: {file!r} must have a one-column key")
        return self

    def streams(self) -> tuple[PostingsSpec | ActivitySpec, ...]:
        """The optional streams the mapping derives (postings, activity)."""
        return tuple(spec for spec in (self.postings, self.activity) if spec is not None)


def load_mapping(path: Path | str) -> Mapping:
    """Load and check a YAML mapping; raise ``MappingError`` naming the file and each field."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except FileNotFoundError as exc:
        raise MappingError(f"{path}: mapping file not found") from exc
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise MappingError(f"{path}: expected a mapping of settings at the top level")
    try:
        return Mapping.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<top>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise MappingError(f"{path}: {problems}") from exc


# --- the result ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestResult:
    """What ``ingest`` did.

    ``summary``: one row per step and item (``SUMMARY_COLUMNS``: step, item, count, action).
    ``quarantine``: one row per source row left out of a table (``QUARANTINE_COLUMNS``).
    ``filled``: one row per blank date filled from another row of its case (``FILLED_COLUMNS``:
    the row's file, line and record, the field, the value and the line it came from).
    ``paths``: the files written: ``officers``, ``notices``, ``outcomes`` (the contract export)
    and ``summary``, ``quarantine``, ``filled`` (the reports, in the ``ingest/`` subfolder).
    """

    summary: pd.DataFrame
    quarantine: pd.DataFrame
    filled: pd.DataFrame
    paths: dict[str, Path]


def ingest(*, source_dir: Path, out_dir: Path, mapping: Path) -> IngestResult:
    """Read the force's files in ``source_dir`` as ``mapping`` says; write the contract export.

    Writes ``officers.csv``, ``notices.csv`` and ``outcomes.csv`` to ``out_dir`` (with
    ``ewp.data.io.write_export``), and the summary and quarantine reports to ``out_dir/ingest/``.
    The same files and mapping always give the same bytes.

    Raises ``MappingError`` (naming the mapping file and field) for a bad mapping, a column the
    mapping names that a file lacks, or source values the mapping does not cover;
    ``ContractError`` for a missing or unreadable source file.
    """
    path = Path(mapping)
    spec = load_mapping(path)
    sources = {
        name: _read_source(Path(source_dir), name, file, path)
        for name, file in spec.files.items()
        if not (file.optional and _missing(Path(source_dir), file))
    }
    summary: list[tuple[str, str, int, str]] = []
    for name, source in sources.items():
        summary.append(("read", f"{source.file} rows", source.read, "read"))
        if spec.files[name].keep:
            kept = "; ".join(
                f"{column} in {', '.join(values)}"
                for column, values in spec.files[name].keep.items()
            )
            summary.append(
                ("read", f"{source.file} rows not kept ({kept})", source.filtered, "filtered")
            )
    keys = _member_keys(spec, sources, path)
    officers = _officers(spec, sources, path=path, keys=keys)
    notices = _notices(spec, sources, officers, path=path, keys=keys, summary=summary)
    outcomes, open_cases, open_rows = _outcomes(spec, notices, path=path, keys=keys)
    streams = tuple(
        _stream(stream, spec, sources, officers, path=path, keys=keys)
        for stream in spec.streams()
        if stream.file in sources
    )

    tables = (officers, notices, outcomes, *streams)
    frames = {table.name: _output(table) for table in tables}
    for table in tables:
        summary += _table_summary(table, accepted=~table.rejected())
        if table.name == NOTICES:
            summary += open_rows
    quarantine = pd.concat([_quarantine_rows(table) for table in tables], ignore_index=True)
    filled = pd.concat(
        [pd.DataFrame(columns=FILLED_COLUMNS), *(f for t in tables for f in t.filled)],
        ignore_index=True,
    ).astype({"line": "int64", "from_line": "int64"})

    out_dir = Path(out_dir)
    paths = write_export(**frames, out_dir=out_dir, fmt="csv")
    summary += [
        ("write", f"{paths[name].name} rows", len(frames[name]), "written")
        for name in (*TABLES, *(stream.name for stream in streams))
    ]
    kinds = tuple(frames[ACTIVITY]["kind"].unique()) if ACTIVITY in frames else ()
    checked = validate_export(
        read_raw_export(out_dir),
        category_map=Config().category_map(),
        activity_kinds=Config.model_validate(
            {"features": {"activity": {"kinds": sorted(kinds)}}}
        ).activity_kinds(),
    )
    summary += [
        ("validate", f"{row.file} rows quarantined by validate_export", row.quarantined, "checked")
        for row in checked.summary.itertuples(index=False)
    ]
    summary_frame = pd.DataFrame(summary, columns=SUMMARY_COLUMNS).astype({"count": "int64"})
    _check_accounting(tables, frames, quarantine, summary_frame, open_cases=open_cases)

    report_dir = out_dir / REPORT_DIR
    paths = {
        **paths,
        "summary": write_quarantine(summary_frame, report_dir / "summary.csv"),
        "quarantine": write_quarantine(quarantine, report_dir / "quarantine.csv"),
        "filled": write_quarantine(filled, report_dir / "filled.csv"),
    }
    return IngestResult(summary=summary_frame, quarantine=quarantine, filled=filled, paths=paths)


def _output(table: _Table) -> pd.DataFrame:
    """The kept rows of ``table``'s contract columns, in contract order."""
    kept = ~table.rejected()
    required, optional = COLUMNS[table.name]
    return pd.DataFrame(
        {
            name: table.columns[name][kept].reset_index(drop=True)
            for name in (*required, *optional)
            if name in table.columns
        }
    )


def _check_accounting(
    tables: tuple[_Table, ...],
    frames: dict[str, pd.DataFrame],
    quarantine: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    open_cases: int,
) -> None:
    """Every source row is written, quarantined or filtered once, and the summary adds up.

    Officers, notices and the streams: rows read = rows written + rows quarantined + rows
    filtered (left out by the file's ``keep``). Outcomes: notices written = outcomes written +
    outcomes quarantined + open cases. Each table's quarantine items in the summary add up to
    its rows in the quarantine report. ``AccountingError`` if not.
    """
    officers, notices, _, *streams = tables
    quarantined = quarantine["table"].value_counts()
    expected = {
        OFFICERS: (officers.source.read, officers.source.filtered),
        NOTICES: (notices.source.read, notices.source.filtered),
        OUTCOMES: (len(frames[NOTICES]) - open_cases, 0),
        **{stream.name: (stream.source.read, stream.source.filtered) for stream in streams},
    }
    for name, (total, filtered) in expected.items():
        got = len(frames[name]) + int(quarantined.get(name, 0)) + filtered
        counted = summary.loc[
            summary["step"].eq(name) & summary["action"].eq("quarantined"), "count"
        ].sum()
        if got != total or counted != quarantined.get(name, 0):
            left_out = f" + {filtered} filtered" if filtered else ""
            raise AccountingError(
                f"{name}: {total} rows expected, {len(frames[name])} written + "
                f"{quarantined.get(name, 0)} quarantined{left_out} (summary: {counted})"
            )


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """One source file as text (values stripped, blanks ``""``) and each row's line.

    ``frame`` holds the rows kept by the file's ``keep`` filter; ``filtered`` counts the others
    (``read`` = kept + filtered).
    """

    file: str
    frame: pd.DataFrame
    lines: np.ndarray
    filtered: int = 0

    @property
    def read(self) -> int:
        """Rows read from the file, kept or filtered."""
        return len(self.frame) + self.filtered


def _read_source(source_dir: Path, name: str, spec: SourceFile, mapping: Path) -> _Source:
    """Read file ``name`` of the mapping as text, keep the rows its ``keep`` filter names;
    ``ContractError`` if missing or unreadable, ``MappingError`` if a kept column is missing."""
    frame = _source_text(source_dir, name, spec)
    # The line of each record, counting line breaks inside quoted values (no header: from 1).
    first_line = 1 if spec.columns is not None else 2
    lines = np.arange(first_line, len(frame) + first_line, dtype="int64")
    for column in frame.columns:
        breaks = frame[column].str.count("\n").to_numpy(dtype="int64")
        lines += np.cumsum(breaks) - breaks
    frame = frame.apply(lambda values: values.str.strip())
    _need_columns(frame.columns, tuple(spec.keep), file=spec.name, where=name, mapping=mapping)
    kept = np.ones(len(frame), dtype=bool)
    for column, values in spec.keep.items():
        kept &= frame[column].isin(values).to_numpy()
    return _Source(
        file=spec.name,
        frame=frame[kept].reset_index(drop=True),
        lines=lines[kept],
        filtered=int((~kept).sum()),
    )


def _missing(source_dir: Path, spec: SourceFile) -> bool:
    """Whether the file (or its archive) is absent from the source folder."""
    return not (source_dir / (spec.archive or spec.path)).is_file()


def _source_text(source_dir: Path, name: str, spec: SourceFile) -> pd.DataFrame:
    """The file's cells as text: a file in the folder, or a member of a zip archive there."""
    if spec.archive is None:
        path = source_dir / spec.path
        if not path.is_file():
            raise ContractError(f"{source_dir}: no {spec.path} (the {name!r} file of the mapping)")
        return read_csv_text(path, skip_blank_lines=True, names=spec.columns)
    archive = source_dir / spec.archive
    if not archive.is_file():
        raise ContractError(f"{source_dir}: no {spec.archive} (the {name!r} file's archive)")
    try:
        with zipfile.ZipFile(archive) as opened:
            data = opened.read(spec.path)
    except KeyError as exc:
        raise ContractError(
            f"{archive}: no {spec.path} in the archive (the {name!r} file of the mapping)"
        ) from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ContractError(f"{archive} is not a readable zip archive ({exc})") from exc
    return read_csv_text(Path(spec.name), skip_blank_lines=True, names=spec.columns, data=data)


def _need_columns(
    available: pd.Index, needed: tuple[str, ...], *, file: str, where: str, mapping: Path
) -> None:
    missing = [column for column in needed if column not in available]
    if missing:
        raise MappingError(
            f"{mapping}: {where}: {file} has no column {', '.join(missing)} "
            f"(columns: {', '.join(available)})"
        )


def _member_keys(spec: Mapping, sources: dict[str, _Source], mapping: Path) -> dict[str, pd.Index]:
    """The key values of each file named by a ``member_of``."""
    keys: dict[str, pd.Index] = {}
    for table in (spec.officers, spec.notices, spec.outcomes, *spec.streams()):
        for name, derive in table.columns.items():
            if derive.member_of is None:
                continue
            source = sources[derive.member_of]
            key = spec.files[derive.member_of].key
            where = f"{table.TABLE}.columns.{name}.member_of"
            _need_columns(source.frame.columns, key, file=source.file, where=where, mapping=mapping)
            keys[derive.member_of] = pd.Index(source.frame[key[0]].unique())
    return keys


# --- bookkeeping -----------------------------------------------------------------------------


@dataclass
class _Table:
    """One contract table while it is built from source rows.

    ``frame`` holds the candidate rows (index 0..n-1), ``rows`` their positions in
    ``source.frame``; ``columns`` the derived contract columns (dates as ``datetime64``);
    ``events`` a mask per "filled" or "left blank" summary item; ``problems`` each quarantine
    problem found, and ``items`` every quarantine summary item in check order (a row's first
    problem in that order is the one it is counted under).
    """

    name: str
    source: _Source
    rows: np.ndarray
    frame: pd.DataFrame
    columns: dict[str, pd.Series] = field(default_factory=dict)
    events: dict[str, np.ndarray] = field(default_factory=dict)
    problems: list[pd.DataFrame] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    filled: list[pd.DataFrame] = field(default_factory=list)

    def add(
        self,
        item: str,
        mask: np.ndarray | pd.Series,
        field_name: str,
        message: str | pd.Series,
        value: pd.Series | None = None,
    ) -> None:
        """Quarantine the rows where ``mask`` holds under summary ``item``, with ``message``.

        ``message`` is one text or one per row; ``value`` (default: the source column
        ``field_name``) is the value reported.
        """
        if item not in self.items:
            self.items.append(item)
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))
        if not len(positions):
            return
        values = self.frame[field_name] if value is None else value
        texts = message if isinstance(message, str) else message.to_numpy()[positions]
        self.problems.append(
            pd.DataFrame(
                {
                    "pos": positions,
                    "rank": self.items.index(item),
                    "item": item,
                    "field": field_name,
                    "value": values.to_numpy()[positions],
                    "message": texts,
                }
            )
        )

    def rejected(self) -> np.ndarray:
        """True for each candidate row with a problem."""
        mask = np.zeros(len(self.frame), dtype=bool)
        for problems in self.problems:
            mask[problems["pos"].to_numpy()] = True
        return mask

    def text(self, name: str) -> pd.Series:
        """Derived column ``name`` as text (dates as ``YYYY-MM-DD``, blank ``""``)."""
        values = self.columns[name]
        if pd.api.types.is_datetime64_dtype(values.dtype):
            return pd.Series(_iso_days(values.to_numpy()), index=values.index, dtype=str)
        return values


def _described(table: _Table) -> pd.DataFrame:
    """One row per quarantined row: its first problem's item, field and value, all messages."""
    if not table.problems:
        return pd.DataFrame({name: [] for name in ("pos", "item", "field", "value", "message")})
    problems = pd.concat(table.problems, ignore_index=True).sort_values(
        ["pos", "rank"], kind="stable"
    )
    by_row = problems.groupby("pos", sort=True)
    first = by_row[["item", "field", "value"]].first()
    first["message"] = by_row["message"].agg("; ".join)
    return first.reset_index()


def _quarantine_rows(table: _Table) -> pd.DataFrame:
    """The quarantine report of ``table``: source file, line, record id, field, value, reason."""
    described = _described(table)
    pos = described["pos"].to_numpy(dtype="int64")
    source_rows = table.rows[pos]
    lines = table.source.lines[source_rows]
    record_id = table.columns[RECORD_ID[table.name]].to_numpy()[pos]
    raw = table.source.frame.iloc[source_rows].to_dict("records")
    return pd.DataFrame(
        {
            "table": table.name,
            "file": table.source.file,
            "line": lines,
            "record_id": record_id,
            "field": described["field"].to_numpy(),
            "value": described["value"].to_numpy(),
            "reason": [
                f"{table.source.file} line {line}, {message}"
                for line, message in zip(lines, described["message"], strict=True)
            ],
            "raw": [json.dumps(row, sort_keys=True, ensure_ascii=False) for row in raw],
        },
        columns=QUARANTINE_COLUMNS,
    )


def _table_summary(table: _Table, *, accepted: np.ndarray) -> list[tuple[str, str, int, str]]:
    """Each quarantine item (a row under its first problem), then each event among kept rows."""
    first = _described(table)["item"].value_counts()
    rows = [(table.name, item, int(first.get(item, 0)), "quarantined") for item in table.items]
    rows += [
        (table.name, item, int((mask & accepted).sum()), _event_action(item))
        for item, mask in table.events.items()
    ]
    return rows


def _event_action(item: str) -> str:
    """The summary's action for an event item ``"<what> -> <result>"``."""
    result = item.rsplit(" -> ", 1)[-1]
    return {"blank": "left blank", "date unknown": "date unknown"}.get(result, "filled")


def _iso_days(dates: np.ndarray) -> np.ndarray:
    """``datetime64`` values as ``YYYY-MM-DD`` text, ``NaT`` as ``""``."""
    text = np.datetime_as_string(dates, unit="D").astype(object)
    text[np.isnat(dates)] = ""
    return text


def _positions(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """For each value, the position in ``keys`` of its first equal key, or -1."""
    first = ~keys.duplicated().to_numpy()
    at = pd.Index(keys[first]).get_indexer(values)
    return np.where(at >= 0, np.flatnonzero(first)[np.maximum(at, 0)], -1)


def _take(values: np.ndarray, at: np.ndarray, missing: object) -> np.ndarray:
    """``values[at]``, with ``missing`` where ``at`` is -1."""
    return np.where(at >= 0, values[np.maximum(at, 0)], missing)


# --- deriving columns ------------------------------------------------------------------------


def _whole_numbers(values: pd.Series) -> pd.Series:
    """Whole numbers without decimals (``600.0`` -> ``600``); other text unchanged."""
    numbers = pd.to_numeric(values.where(values.ne("")), errors="coerce")
    whole = numbers.notna() & np.isfinite(numbers) & (numbers == numbers.round())
    whole &= numbers.abs() < 1e15
    text = numbers.where(whole).astype("Int64").astype(str)
    return text.where(whole, values)


def _code_and_value(spec: Derive, value: str) -> tuple[str, str, str]:
    """(code, value, outcome) of one distinct source value.

    The outcome is ``ok``, ``blank`` (mapped to blank), ``quarantine`` or ``unmapped``. A
    quarantined code keeps the code as its value (the row is not written).
    """
    keep = not spec.has_lookup or spec.unmapped == "keep"
    if value == "":
        return "", spec.values.get("") or "", "ok"
    code = value
    if spec.extract is not None:
        found = re.search(spec.extract, value)
        if found is None:
            return (value, value, "ok") if keep else (value, "", "unmapped")
        code = found.group(1)
    if code in spec.quarantine:
        return code, code, "quarantine"
    keys = [code] if code in spec.values else []
    if not keys and spec.match == "prefix":
        keys = sorted((key for key in spec.values if key and code.startswith(key)), key=len)
    if keys:
        target = spec.values[keys[-1]]
        return (code, target, "ok") if target else (code, "", "blank")
    number = pd.to_numeric(code, errors="coerce") if spec.ranges else None
    for span in spec.ranges:
        if span.min <= number <= span.max:
            return code, span.value, "ok"
    return (code, code, "ok") if keep else (code, "", "unmapped")


def _derive(
    table: _Table, name: str, spec: Derive, *, keys: dict[str, pd.Index], mapping: Path
) -> pd.Series:
    """Contract column ``name`` of ``table`` as text; record its events and quarantine codes."""
    frame = table.frame
    if spec.constant is not None:
        return pd.Series(spec.constant, index=frame.index, dtype=str)
    if spec.template is not None:
        raw = pd.Series("", index=frame.index, dtype=str)
        for literal, column, _, _ in string.Formatter().parse(spec.template):
            raw = raw + literal
            if column is not None:
                raw = raw + frame[column]
    else:
        raw = frame[spec.column]
    if spec.member_of is not None:
        member = raw.isin(keys[spec.member_of]).to_numpy()
        return pd.Series(
            np.where(member, spec.if_member, spec.otherwise), index=frame.index, dtype=str
        )
    label = spec.label
    if spec.values.get(""):
        table.events[f"{label} blank -> {spec.values['']}"] = raw.eq("").to_numpy()
    codes = _whole_numbers(raw) if spec.numeric else raw
    if not (spec.has_lookup or spec.extract):
        return codes
    position, uniques = pd.factorize(codes)
    looked_up = [_code_and_value(spec, value) for value in uniques]
    code, value, outcome = (
        np.array([entry[i] for entry in looked_up], dtype=object)[position] for i in range(3)
    )
    unmapped = outcome == "unmapped"
    if unmapped.any():
        listed = [
            f"{c!r} ({int((code[unmapped] == c).sum())} rows, e.g. "
            f"{raw.to_numpy()[unmapped][code[unmapped] == c][0]!r})"
            for c in sorted(set(code[unmapped]))
        ]
        raise MappingError(
            f"{mapping}: {table.name}.columns.{name}: {label} values not in the mapping: "
            f"{', '.join(listed)}; add them to values (or quarantine)"
        )
    for c, reason in spec.quarantine.items():
        table.add(
            f"{label} {c} ({reason})",
            (outcome == "quarantine") & (code == c),
            spec.column or name,
            f"field {label}: {c!r}: {reason}",
            value=raw,
        )
    for c, target in spec.values.items():
        if c and not target:
            table.events[f"{label} {c} -> blank"] = (outcome == "blank") & (code == c)
    return pd.Series(value, index=frame.index, dtype=str)


def _parse_dates(text: pd.Series, date_format: str) -> pd.Series:
    """Dates in ``date_format`` -> ``datetime64``; blank or not a date -> ``NaT``."""
    position, uniques = pd.factorize(text)
    parsed = pd.to_datetime(pd.Series(uniques, dtype=str), format=date_format, errors="coerce")
    return pd.Series(parsed.to_numpy()[position], index=text.index).astype("datetime64[us]")


def _plain_text(frame: pd.DataFrame, spec: Derive) -> pd.Series:
    """A column, template or constant's text, without value maps (identifiers)."""
    if spec.constant is not None:
        return pd.Series(spec.constant, index=frame.index, dtype=str)
    if spec.column is not None:
        return frame[spec.column]
    out = pd.Series("", index=frame.index, dtype=str)
    for literal, column, _, _ in string.Formatter().parse(spec.template or ""):
        out = out + literal + (frame[column] if column is not None else "")
    return out


def _fill_from_case(
    table: _Table,
    columns: dict[str, Derive],
    *,
    case_ids: pd.Series,
    record_ids: pd.Series,
    date_format: str,
) -> None:
    """Fill each blank date whose derivation says ``fill_from_case`` from another row of the
    same case (the earliest or latest date among them), in ``table.frame``; count the filled
    rows as an event and record each one (``FILLED_COLUMNS``)."""
    for name, spec in columns.items():
        if spec.fill_from_case is None or spec.column is None:
            continue
        text = table.frame[spec.column]
        dates = _parse_dates(text, date_format)
        dated = pd.DataFrame({"case": case_ids.to_numpy(), "date": dates.to_numpy()})
        dated["row"] = np.arange(len(dated))
        dated = dated.loc[dated["date"].notna()].sort_values(["date", "row"], kind="stable")
        keep = "first" if spec.fill_from_case == "earliest" else "last"
        source_row = dated.drop_duplicates("case", keep=keep).set_index("case")["row"]
        blank = text.eq("").to_numpy() & case_ids.ne("").to_numpy()
        found = case_ids.map(source_row).to_numpy(dtype="float64")
        fill = blank & ~np.isnan(found)
        rows = np.flatnonzero(fill)
        source = found[rows].astype("int64")
        frame = table.frame.copy()
        frame.loc[fill, spec.column] = text.to_numpy()[source]
        table.frame = frame
        table.events[
            f"{spec.label} blank -> filled from the {spec.fill_from_case} row of its case"
        ] = fill
        table.filled.append(
            pd.DataFrame(
                {
                    "table": table.name,
                    "file": table.source.file,
                    "line": table.source.lines[table.rows[rows]],
                    "record_id": record_ids.to_numpy()[rows],
                    "field": f"{spec.column} ({name})",
                    "value": text.to_numpy()[source],
                    "from_line": table.source.lines[table.rows[source]],
                },
                columns=FILLED_COLUMNS,
            )
        )


def _derive_table(
    table: _Table,
    columns: dict[str, Derive],
    *,
    date_format: str,
    keys: dict[str, pd.Index],
    mapping: Path,
    blank_allowed: tuple[str, ...] = (),
) -> None:
    """Derive ``columns`` of ``table``; quarantine blank required values, bad dates and years.

    Required columns in ``blank_allowed`` are not checked for blanks (the caller has already
    set those rows aside). A blank date that may be unknown (``UNKNOWN_DATES``) is counted as
    such, never quarantined. A date the mapping does not derive but that may be unknown is
    unknown on every row.
    """
    required, _ = COLUMNS[table.name]
    for name in UNKNOWN_DATES[table.name]:
        if name not in columns:
            table.columns[name] = pd.Series(pd.NaT, index=table.frame.index, dtype="datetime64[us]")
            table.events[f"{name} not in the mapping -> date unknown"] = np.ones(
                len(table.frame), dtype=bool
            )
    for name, spec in columns.items():
        text = _derive(table, name, spec, keys=keys, mapping=mapping)
        label, field_name = spec.label, spec.column or name
        if name in blank_allowed:
            pass
        elif name in UNKNOWN_DATES[table.name] and spec.if_blank == "unknown":
            table.events[f"{label} blank -> date unknown"] = text.eq("").to_numpy()
        elif name in required and spec.can_be_blank():
            table.add(
                f"{label} blank ({name} is required)",
                text.eq(""),
                field_name,
                f"field {label}: is blank, but {name} is required",
                value=text,
            )
        if name in DATE_COLUMNS[table.name]:
            dates = _parse_dates(text, date_format)
            table.add(
                f"{label} not a date",
                text.ne("") & dates.isna(),
                field_name,
                f"field {label}: is not a date (expected {date_format})",
                value=text,
            )
            table.columns[name] = dates
            continue
        if name == "birth_year":
            years = pd.to_numeric(text.where(text.str.fullmatch(r"\d{4}")), errors="coerce")
            table.add(
                f"{label} not a birth year",
                text.ne("") & ~years.between(*BIRTH_YEAR_RANGE),
                field_name,
                f"field {label}: is not a birth year from {BIRTH_YEAR_RANGE[0]} "
                f"to {BIRTH_YEAR_RANGE[1]}",
                value=text,
            )
        table.columns[name] = text


def _repeated_keys(table: _Table, key: tuple[str, ...]) -> None:
    """Quarantine each row whose key repeats an earlier row's (the first is kept)."""
    group = table.frame.groupby(list(key), sort=False).ngroup().to_numpy()
    here = np.arange(len(group))
    first = pd.Series(here).groupby(group).transform("min").to_numpy()
    label = ", ".join(key)
    first_line = pd.Series(table.source.lines[table.rows[first]]).astype(str)
    table.add(
        f"{label} repeated",
        first != here,
        key[0],
        f"field {key[0]}: {label} "
        + _key_text(table.frame, key)
        + " repeats line "
        + first_line
        + " (the first is kept)",
    )


def _key_text(frame: pd.DataFrame, key: tuple[str, ...]) -> pd.Series:
    """Each row's key values joined by ``/`` (for messages)."""
    text = frame[key[0]]
    for column in key[1:]:
        text = text + "/" + frame[column]
    return text


# --- the three tables ------------------------------------------------------------------------


def _columns_read(columns: dict[str, Derive]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(column for spec in columns.values() for column in spec.sources))


def _officers(
    spec: Mapping, sources: dict[str, _Source], *, path: Path, keys: dict[str, pd.Index]
) -> _Table:
    """One officer per row of the officers file."""
    columns = spec.officers.columns
    source = sources[spec.officers.file]
    key = spec.files[spec.officers.file].key
    _need_columns(
        source.frame.columns,
        (*key, *_columns_read(columns)),
        file=source.file,
        where="officers",
        mapping=path,
    )
    table = _Table(OFFICERS, source, np.arange(len(source.frame)), source.frame)
    _repeated_keys(table, key)
    _derive_table(table, columns, date_format=spec.date_format, keys=keys, mapping=path)
    _not_before(table, columns, later="left_on", earlier="joined_on")
    return table


def _not_before(table: _Table, columns: dict[str, Derive], *, later: str, earlier: str) -> None:
    """Quarantine rows whose date ``later`` is before their date ``earlier`` (both derived)."""
    if later not in columns or earlier not in columns:
        return
    late, early = columns[later], columns[earlier]
    table.add(
        f"{late.label} before {early.label}",
        (table.columns[later] < table.columns[earlier]).to_numpy(),
        late.column or later,
        f"field {late.label}: "
        + table.text(later)
        + f" is before {early.label} "
        + table.text(earlier),
        value=table.text(later),
    )


def _notices(
    spec: Mapping,
    sources: dict[str, _Source],
    officers: _Table,
    *,
    path: Path,
    keys: dict[str, pd.Index],
    summary: list[tuple[str, str, int, str]],
) -> _Table:
    """One notice per row of the notices file, with the joined columns; checks in order."""
    columns = spec.notices.columns
    source = sources[spec.notices.file]
    key = spec.files[spec.notices.file].key
    frame, joins = _joined_frame(spec, sources, path=path, summary=summary)
    _need_columns(
        frame.columns,
        (*key, *_columns_read(columns)),
        file=source.file,
        where="notices",
        mapping=path,
    )
    table = _Table(NOTICES, source, np.arange(len(frame)), frame)
    _repeated_keys(table, key)
    for join, matched in joins:
        join_key = spec.files[join.file].key
        label, other = ", ".join(join_key), sources[join.file].file
        table.add(
            f"{label} not in {other}",
            ~matched,
            join_key[0],
            f"field {join_key[0]}: {label} " + _key_text(frame, join_key) + f" is not in {other}",
        )
    derive = {"date_format": spec.date_format, "keys": keys, "mapping": path}
    _derive_table(table, {"officer_id": columns["officer_id"]}, **derive)
    at = _officer_checks(table, officers, columns["officer_id"])
    _fill_from_case(
        table,
        columns,
        case_ids=_plain_text(frame, columns["case_id"]),
        record_ids=_plain_text(frame, columns["notice_id"]),
        date_format=spec.date_format,
    )
    _derive_table(table, {n: d for n, d in columns.items() if n != "officer_id"}, **derive)
    if spec.notices.within_service:
        _within_service(table, officers, at, spec)
    return table


def _officer_checks(table: _Table, officers: _Table, derive: Derive) -> np.ndarray:
    """Quarantine notices naming an unknown or quarantined officer; return each one's row."""
    officer_id = table.columns["officer_id"]
    at = _positions(officer_id, officers.columns["officer_id"])
    field_name = derive.column or "officer_id"
    prefix = f"field {derive.label}: officer " + officer_id
    table.add(
        f"{derive.label} not in {officers.source.file}",
        (at < 0) & officer_id.ne("").to_numpy(),
        field_name,
        prefix + f" is not in {officers.source.file}",
        value=officer_id,
    )
    lines = pd.Series(_take(officers.source.lines[officers.rows], at, 0)).astype(str)
    table.add(
        "officer quarantined",
        _take(officers.rejected(), at, False).astype(bool),
        field_name,
        prefix + f" was quarantined ({officers.source.file} line " + lines + ")",
        value=officer_id,
    )
    return at


def _joined_frame(
    spec: Mapping,
    sources: dict[str, _Source],
    *,
    path: Path,
    summary: list[tuple[str, str, int, str]],
) -> tuple[pd.DataFrame, list[tuple[Join, np.ndarray]]]:
    """The notices file with each join's columns added; per join, the rows that found a key."""
    base = sources[spec.notices.file]
    frame = base.frame
    found: list[tuple[Join, np.ndarray]] = []
    for index, join in enumerate(spec.notices.joins):
        other = sources[join.file]
        key = list(spec.files[join.file].key)
        where = f"notices.joins.{index}"
        _need_columns(
            other.frame.columns, (*key, *join.columns), file=other.file, where=where, mapping=path
        )
        _need_columns(frame.columns, tuple(key), file=base.file, where=where, mapping=path)
        clash = [column for column in join.columns if column in frame.columns]
        if clash:
            raise MappingError(
                f"{path}: {where}: columns {', '.join(clash)} are already in the notice rows"
            )
        kept = _one_row_per_key(other, key, join, spec.date_format, summary)
        merged = frame[key].merge(kept, on=key, how="left", indicator=True)
        found.append((join, merged.pop("_merge").eq("both").to_numpy()))
        used = kept[key].merge(frame[key].drop_duplicates(), how="left", indicator=True)
        summary.append(
            (
                f"join {other.file}",
                f"{', '.join(key)} in no {base.file} row",
                int(used["_merge"].eq("left_only").sum()),
                "not used (no notice)",
            )
        )
        added = merged[list(join.columns)].fillna("").set_axis(frame.index)
        frame = pd.concat([frame, added], axis=1)
    return frame, found


def _one_row_per_key(
    other: _Source,
    key: list[str],
    join: Join,
    date_format: str,
    summary: list[tuple[str, str, int, str]],
) -> pd.DataFrame:
    """The join file's rows, one per key: repeated rows dropped, conflicts resolved, counted."""
    rows = other.frame[[*key, *join.columns]]
    repeat = rows.duplicated()
    distinct = rows[~repeat]
    conflicting = distinct[distinct.duplicated(key, keep=False)]
    rule = "kept the first row"
    if join.earliest is not None:
        order = _parse_dates(distinct[join.earliest], date_format)
        distinct = (
            distinct.assign(_order=order)
            .sort_values("_order", kind="stable", na_position="last")
            .drop(columns="_order")
        )
        rule = f"kept the row with the earliest {join.earliest}"
    kept = distinct.drop_duplicates(key).sort_index()
    step, label = f"join {other.file}", ", ".join(key)
    summary += [
        (
            step,
            f"rows repeating another row's {', '.join(rows.columns)}",
            int(repeat.sum()),
            "removed",
        ),
        (step, f"{label} with conflicting rows", len(conflicting.drop_duplicates(key)), rule),
        (step, "conflicting rows dropped", len(distinct) - len(kept), "removed"),
    ]
    return kept


def _within_service(
    table: _Table,
    officers: _Table,
    at: np.ndarray,
    spec: Mapping,
    *,
    column_name: str = "received_on",
    columns: dict[str, Derive] | None = None,
) -> None:
    """Quarantine notices received (or events known: ``column_name``, derived as ``columns``
    say) before the officer joined or after they left."""
    received = table.columns[column_name].to_numpy()
    received_spec = (columns or spec.notices.columns)[column_name]
    for column, word in (("joined_on", "before"), ("left_on", "after")):
        if column not in spec.officers.columns:  # not derived: unknown, nothing to check
            continue
        officer_date = _take(officers.columns[column].to_numpy(), at, np.datetime64("NaT"))
        outside = received > officer_date if word == "after" else received < officer_date
        label = spec.officers.columns[column].label
        date_text = pd.Series(_iso_days(officer_date), dtype=str)
        table.add(
            f"{received_spec.label} {word} the officer's {label}",
            outside,
            received_spec.column or column_name,
            f"field {received_spec.label}: "
            + table.text(column_name)
            + f" is {word} the officer's {label} "
            + date_text,
            value=table.text(column_name),
        )


def _stream(
    stream: PostingsSpec | ActivitySpec,
    spec: Mapping,
    sources: dict[str, _Source],
    officers: _Table,
    *,
    path: Path,
    keys: dict[str, pd.Index],
) -> _Table:
    """One posting or activity event per row of the stream's file. Quarantined, in this order:
    a repeated key (activity), an officer not in (or quarantined from) the officers table, a
    blank required value or bad date, a posting ending before it starts, an event known
    outside the officer's service (activity with ``within_service``)."""
    columns = stream.columns
    source = sources[stream.file]
    key = spec.files[stream.file].key
    where = stream.TABLE
    _need_columns(
        source.frame.columns,
        (*key, *_columns_read(columns)),
        file=source.file,
        where=where,
        mapping=path,
    )
    table = _Table(stream.TABLE, source, np.arange(len(source.frame)), source.frame)
    if stream.TABLE == ACTIVITY:
        _repeated_keys(table, key)
    derive = {"date_format": spec.date_format, "keys": keys, "mapping": path}
    _derive_table(table, {"officer_id": columns["officer_id"]}, **derive)
    at = _officer_checks(table, officers, columns["officer_id"])
    _derive_table(table, {n: d for n, d in columns.items() if n != "officer_id"}, **derive)
    if stream.TABLE == POSTINGS:
        _not_before(table, columns, later="end_on", earlier="start_on")
    if isinstance(stream, ActivitySpec) and stream.within_service:
        _within_service(table, officers, at, spec, column_name="known_on", columns=columns)
    return table


def _outcomes(
    spec: Mapping, notices: _Table, *, path: Path, keys: dict[str, pd.Index]
) -> tuple[_Table, int, list[tuple[str, str, int, str]]]:
    """An outcome for each kept notice with a decision date; the others are open, unless
    ``blank_decided_on: date_unknown`` keeps a recorded finding with an unknown date.

    Returns the outcomes table, the number of open cases and their summary rows (open cases,
    and open cases whose other outcome columns are already filled in).
    """
    columns = spec.outcomes.columns
    derive = {"date_format": spec.date_format, "keys": keys, "mapping": path}
    kept = np.flatnonzero(~notices.rejected())
    every = _Table(
        OUTCOMES,
        notices.source,
        notices.rows[kept],
        notices.frame.iloc[kept].reset_index(drop=True),
    )
    notice_ids = notices.columns["notice_id"].iloc[kept].reset_index(drop=True)
    decided = columns.get("decided_on")
    label = decided.label if decided is not None else "decided_on"
    blank = np.ones(len(every.frame), dtype=bool)
    if decided is not None:
        _fill_from_case(
            every,
            {"decided_on": decided},
            case_ids=notices.columns["case_id"].iloc[kept].reset_index(drop=True),
            record_ids=notice_ids,
            date_format=spec.date_format,
        )
        blank = _derive(every, "decided_on", decided, keys=keys, mapping=path).eq("").to_numpy()
    open_case = blank
    if spec.outcomes.blank_decided_on == "date_unknown":
        finding = every.frame[list(columns["finding"].sources)].ne("").any(axis=1).to_numpy()
        open_case = blank & ~finding
    open_rows = [(OUTCOMES, f"{label} blank: case open", int(open_case.sum()), "no outcome row")]
    for name, other in columns.items():
        if name != "decided_on" and other.column is not None:
            recorded = open_case & every.frame[other.column].ne("").to_numpy()
            open_rows.append(
                (
                    OUTCOMES,
                    f"{label} blank, {other.column} recorded",
                    int(recorded.sum()),
                    "no outcome row (open until decided)",
                )
            )
    positions = np.flatnonzero(~open_case)
    table = _Table(
        OUTCOMES,
        notices.source,
        every.rows[positions],
        every.frame.iloc[positions].reset_index(drop=True),
    )
    table.events = {item: mask[positions] for item, mask in every.events.items()}
    table.filled = every.filled
    table.columns["notice_id"] = notice_ids.iloc[positions].reset_index(drop=True)
    # Open cases are set aside above; a blank left here is a date unknown (and counted).
    undated = spec.outcomes.blank_decided_on == "date_unknown"
    _derive_table(table, columns, **derive, blank_allowed=() if undated else ("decided_on",))
    received = notices.columns["received_on"].iloc[kept[positions]].reset_index(drop=True)
    received_label = spec.notices.columns["received_on"].label
    table.add(
        f"{label} before {received_label}",
        (table.columns["decided_on"] < received).to_numpy(),
        decided.column if decided is not None and decided.column else "decided_on",
        f"field {label}: "
        + table.text("decided_on")
        + f" is before {received_label} "
        + pd.Series(_iso_days(received.to_numpy()), dtype=str),
        value=table.text("decided_on"),
    )
    return table, int(open_case.sum()), open_rows
