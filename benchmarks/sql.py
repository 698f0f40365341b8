"""The SQL reference: the feature matrix as a DuckDB query, the way triage-style systems
compute features.

Triage's *collate* writes one aggregate per feature, ``count(*) FILTER (WHERE ...)`` over the
events joined to the as-of dates on ``knowledge date < as-of date``, grouped by (entity, as-of
date), then left-joins that to the cohort and imputes zeros for officers without events. This
module generates the same query from a ``FeatureConfig``: each window, category group and
source becomes a filtered count, findings are filtered on ``decided_on < as_of`` (a finding is
known from its decision), and the peer features are window functions over (as-of date, unit).

DuckDB is an optional dependency (``pip install -e '.[bench]'``); ``duckdb_available`` says
whether it is installed.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from ewp.core.config import FeatureConfig
from ewp.core.contract import CASE_TO_ANSWER_FINDINGS, SANCTION_LEVEL, ForceData
from ewp.features.registry import feature_specs

if TYPE_CHECKING:
    import duckdb


def duckdb_available() -> bool:
    """Whether the ``duckdb`` package is installed."""
    return importlib.util.find_spec("duckdb") is not None


def _quoted(values: Sequence[str]) -> str:
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


def _case_counts(config: FeatureConfig, *, decided: str) -> list[str]:
    """The case counts' aggregates (``decided``: the condition of a decided notice)."""
    cases: list[str] = []
    # Cases: distinct case_id per officer, each placed by the day it became known (its first
    # allegation against the officer); counted in a category once such an allegation is known.
    for days in config.windows_days:
        cases.append(
            f"count(DISTINCT n.case_id) FILTER (WHERE n.case_known_on >= d.as_of - {days}) "
            f"AS cases_{days}d"
        )
    cases.append("count(DISTINCT n.case_id) AS cases_all")
    for days in config.group_windows_days:
        recent_case = f"n.case_known_on >= d.as_of - {days}"
        for group, members in config.category_groups.items():
            cases.append(
                f"count(DISTINCT n.case_id) FILTER (WHERE {recent_case} "
                f"AND n.category IN ({_quoted(members)})) AS cases_{group}_{days}d"
            )
        for source in config.sources:
            cases.append(
                f"count(DISTINCT n.case_id) FILTER (WHERE {recent_case} "
                f"AND n.source = '{source}') AS cases_source_{source}_{days}d"
            )
    cases += [
        f"count(DISTINCT n.case_id) FILTER (WHERE {decided} AND n.finding = 'proven') "
        "AS cases_proven_all",
        f"count(DISTINCT n.case_id) FILTER (WHERE {decided} "
        f"AND n.finding IN ({_quoted(CASE_TO_ANSWER_FINDINGS)})) AS cases_case_to_answer_all",
    ]
    return cases


def feature_query(config: FeatureConfig) -> str:
    """The query over tables ``officers``, ``notices`` and ``dates`` (see ``sql_features``)."""
    counts = [
        f"count(*) FILTER (WHERE n.received_on >= d.as_of - {days}) AS notices_{days}d"
        for days in config.windows_days
    ]
    counts.append("count(*) AS notices_all")
    for days in config.group_windows_days:
        for group, members in config.category_groups.items():
            counts.append(
                f"count(*) FILTER (WHERE n.received_on >= d.as_of - {days} "
                f"AND n.category IN ({_quoted(members)})) AS notices_{group}_{days}d"
            )
        for source in config.sources:
            counts.append(
                f"count(*) FILTER (WHERE n.received_on >= d.as_of - {days} "
                f"AND n.source = '{source}') AS notices_source_{source}_{days}d"
            )
    decided = "n.decided_on < d.as_of"
    counts += [
        "count(*) FILTER (WHERE n.severity = 'gross_misconduct') AS gross_misconduct_all",
        f"count(*) FILTER (WHERE {decided} AND n.finding IN ({_quoted(CASE_TO_ANSWER_FINDINGS)}))"
        " AS findings_case_to_answer_all",
        f"count(*) FILTER (WHERE {decided} AND n.finding = 'proven') AS findings_proven_all",
        f"count(*) FILTER (WHERE {decided} AND n.finding = 'no_case_to_answer') "
        "AS findings_no_case_all",
        f"coalesce(max(n.sanction_level) FILTER (WHERE {decided}), 0) AS worst_sanction_level",
        f"count(*) FILTER (WHERE NOT coalesce({decided}, false)) AS open_notices",
        f"count(DISTINCT n.case_id) FILTER (WHERE NOT coalesce({decided}, false)) AS open_cases",
        f"min(n.received_on) FILTER (WHERE NOT coalesce({decided}, false)) AS oldest_open",
        "count(*) FILTER (WHERE n.while_open) AS notices_while_open_all",
        "count(*) FILTER (WHERE n.received_on >= d.as_of - 365) AS last_year",
        "count(*) FILTER (WHERE n.received_on >= d.as_of - 1095 "
        "AND n.received_on < d.as_of - 365) AS two_years_before",
        "max(n.received_on) AS last_notice",
    ]
    counts += _case_counts(config, decided=decided)
    aggregates = ",\n    ".join(counts)
    counted = [c.rsplit(" AS ", 1)[1] for c in counts]
    # No event before t: counts are 0; the dates of the oldest open and last notice stay NULL.
    imputed = ",\n      ".join(
        f"e.{name}"
        if name in ("oldest_open", "last_notice")
        else f"coalesce(e.{name}, 0) AS {name}"
        for name in counted
    )
    cap = config.max_days_since
    derived = {
        "acceleration": "last_year - two_years_before / 2",
        "oldest_open_days": "coalesce(as_of - oldest_open, 0)",
        "days_since_last_notice": f"least(coalesce(as_of - last_notice, {cap}), {cap})",
        "tenure_days": "as_of - joined_on",  # NULL (NaN) when joined_on is unknown
        "probationer": f"CAST(as_of - joined_on < {config.probation_days} AS INTEGER)",
        "unit_share_below_365d": "CASE WHEN count(*) OVER unit_day > 1 THEN "
        "(rank() OVER unit_day_ranked - 1) / (count(*) OVER unit_day - 1) ELSE 0 END",
        "unit_ratio_365d": "CASE WHEN avg(last_year) OVER unit_day > 0 THEN "
        "last_year / avg(last_year) OVER unit_day ELSE 0 END",
    }
    # Presumed gone: no left_on, and neither joined nor received a notice in the last N years.
    presumed_serving = "true"
    if config.presume_left_after_years is not None:
        quiet = 365 * config.presume_left_after_years
        presumed_serving = (
            f"left_on IS NOT NULL OR greatest(joined_on, last_notice) >= as_of - {quiet}"
        )
    streams = _stream_parts(config)
    derived.update(streams["derived"])
    columns = ",\n  ".join(
        f"CAST({derived.get(spec.name, spec.name)} AS FLOAT) AS {spec.name}"
        for spec in feature_specs(config)
    )
    return f"""
WITH flagged AS (
  SELECT n.*,
    min(n.received_on) OVER (PARTITION BY n.officer_id, n.case_id) AS case_known_on,
    EXISTS (
    SELECT 1 FROM notices e
    WHERE e.officer_id = n.officer_id AND e.received_on < n.received_on
      AND NOT coalesce(e.decided_on < n.received_on, false)
  ) AS while_open
  FROM notices n
),
events AS (
  SELECT n.officer_id, d.as_of,
    {aggregates}
  FROM flagged n JOIN dates d ON n.received_on < d.as_of
  GROUP BY n.officer_id, d.as_of
),
{streams["ctes"]}cohort AS (
  SELECT o.officer_id, {streams["unit"]} AS unit, o.joined_on, o.left_on, o.officer_order,
    d.as_of
  FROM officers o JOIN dates d
    ON coalesce(o.joined_on < d.as_of, true) AND NOT coalesce(o.left_on < d.as_of, false)
  {streams["cohort_join"]}
),
imputed AS (
  SELECT c.officer_id, c.unit, c.joined_on, c.left_on, c.officer_order, c.as_of,
      {imputed}{streams["imputed"]}
  FROM cohort c LEFT JOIN events e ON e.officer_id = c.officer_id AND e.as_of = c.as_of
  {streams["imputed_join"]}
)
SELECT officer_id, unit, CAST(as_of AS TIMESTAMP_S) AS as_of, officer_order,
  {columns}
FROM imputed
WHERE {presumed_serving}
WINDOW unit_day AS (PARTITION BY as_of, unit),
  unit_day_ranked AS (PARTITION BY as_of, unit ORDER BY last_year){streams["windows"]}
"""


def _stream_parts(config: FeatureConfig) -> dict[str, str | dict[str, str]]:
    """The query's parts for the optional streams (empty without them): the unit as of each
    date from ``postings`` (the covering posting started last, the later row on a tie; else the
    roster's), and each activity kind's filtered counts over ``activity`` by ``known_on``."""
    parts: dict[str, str | dict[str, str]] = {
        "ctes": "",
        "unit": "o.unit",
        "cohort_join": "",
        "imputed": "",
        "imputed_join": "",
        "windows": "",
        "derived": {},
    }
    if config.units_from_postings:
        parts["ctes"] = """posted AS (
  SELECT p.officer_id, d.as_of,
    arg_max(p.unit, (p.start_on - DATE '1970-01-01') * 100000000 + p.posting_order) AS unit
  FROM postings p JOIN dates d
    ON p.start_on <= d.as_of - 1 AND (p.end_on IS NULL OR p.end_on >= d.as_of - 1)
  GROUP BY p.officer_id, d.as_of
),
"""
        parts["unit"] = "coalesce(p.unit, o.unit)"
        parts["cohort_join"] = (
            "LEFT JOIN posted p ON p.officer_id = o.officer_id AND p.as_of = d.as_of"
        )
    kinds = config.activity.kinds
    if not kinds:
        return parts
    counts: list[str] = []
    derived: dict[str, str] = {}
    windows = []
    cap = config.max_days_since
    for kind in kinds:
        of_kind = f"a.kind = '{kind}'"
        counts += [
            f"count(*) FILTER (WHERE {of_kind} AND a.known_on >= d.as_of - {days}) "
            f"AS {kind}_{days}d"
            for days in config.windows_days
        ]
        counts.append(f"count(*) FILTER (WHERE {of_kind}) AS {kind}_all")
        if config.activity.severe_at is not None:
            counts.append(
                f"count(*) FILTER (WHERE {of_kind} AND a.severity >= {config.activity.severe_at})"
                f" AS {kind}_severe_all"
            )
        counts += [
            f"count(*) FILTER (WHERE {of_kind} AND a.{flag}) AS {kind}_{flag}_all"
            for flag in config.activity.flags
        ]
        counts.append(
            f"count(*) FILTER (WHERE {of_kind} AND a.known_on >= d.as_of - 365) AS {kind}_last_year"
        )
        counts.append(f"max(a.known_on) FILTER (WHERE {of_kind}) AS last_{kind}")
        derived[f"days_since_last_{kind}"] = f"least(coalesce(as_of - last_{kind}, {cap}), {cap})"
        derived[f"{kind}_unit_share_below_365d"] = (
            "CASE WHEN count(*) OVER unit_day > 1 THEN "
            f"(rank() OVER unit_day_{kind} - 1) / (count(*) OVER unit_day - 1) ELSE 0 END"
        )
        windows.append(f"unit_day_{kind} AS (PARTITION BY as_of, unit ORDER BY {kind}_last_year)")
    aggregates = ",\n    ".join(counts)
    parts["ctes"] = f"""{parts["ctes"]}activity_events AS (
  SELECT a.officer_id, d.as_of,
    {aggregates}
  FROM activity a JOIN dates d ON a.known_on < d.as_of
  GROUP BY a.officer_id, d.as_of
),
"""
    names = [c.rsplit(" AS ", 1)[1] for c in counts]
    parts["imputed"] = "".join(
        f",\n      a.{name}"
        if name.startswith("last_")
        else f",\n      coalesce(a.{name}, 0) AS {name}"
        for name in names
    )
    parts["imputed_join"] = (
        "LEFT JOIN activity_events a ON a.officer_id = c.officer_id AND a.as_of = c.as_of"
    )
    parts["windows"] = "".join(f",\n  {window}" for window in windows)
    parts["derived"] = derived
    return parts


def _connect(
    data: ForceData, as_of_dates: Sequence[dt.date], *, memory_limit: str, temp: Path
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB database with tables ``officers``, ``notices`` and ``dates`` (and
    ``postings`` and ``activity`` when the data has them)."""
    import duckdb

    con = duckdb.connect(config={"threads": 2, "memory_limit": memory_limit})
    con.execute(f"SET temp_directory = '{temp}'")
    officers = data.officers[["officer_id", "unit", "joined_on", "left_on"]].assign(
        officer_order=range(len(data.officers))
    )
    notices = data.notices_with_outcomes()
    notices = notices[
        [
            "officer_id",
            "case_id",
            "received_on",
            "category",
            "source",
            "severity",
            "decided_on",
            "finding",
        ]
    ].assign(sanction_level=notices["sanction"].map(SANCTION_LEVEL).fillna(0).astype("int64"))
    dates = pd.DataFrame({"as_of": pd.to_datetime(sorted(set(as_of_dates)))})
    tables = [("officers", officers), ("notices", notices), ("dates", dates)]
    if data.postings is not None:
        tables.append(("postings", data.postings.assign(posting_order=range(len(data.postings)))))
    if data.activity is not None:
        tables.append(("activity", data.activity))
    for name, frame in tables:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        dated = ("joined_on", "left_on", "received_on", "decided_on", "as_of", "start_on", "end_on")
        for column in (*dated, "known_on"):
            if column in table.column_names:
                index = table.column_names.index(column)
                table = table.set_column(index, column, table[column].cast(pa.date32()))
        con.register(f"{name}_arrow", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
    return con


def iter_sql(
    data: ForceData,
    as_of_dates: Sequence[dt.date],
    *,
    config: FeatureConfig,
    temp: Path,
    memory_limit: str = "4GB",
    batch_rows: int = 1 << 20,
) -> Iterator[pa.RecordBatch]:
    """Run the query and stream its result in Arrow batches (rows in no particular order)."""
    con = _connect(data, as_of_dates, memory_limit=memory_limit, temp=temp)
    try:
        with con.sql(feature_query(config)).to_arrow_reader(batch_size=batch_rows) as reader:
            yield from reader
    finally:
        con.close()


def sql_features(
    data: ForceData, as_of_dates: Sequence[dt.date], *, config: FeatureConfig, temp: Path
) -> pd.DataFrame:
    """The whole matrix from DuckDB, sorted into ewp's row order (as-of date, then officers)."""
    batches = list(iter_sql(data, as_of_dates, config=config, temp=temp))
    frame = pa.Table.from_batches(batches).to_pandas()
    frame = frame.sort_values(["as_of", "officer_order"], kind="stable").reset_index(drop=True)
    return frame.drop(columns="officer_order")
