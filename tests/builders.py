"""Small hand-built ForceData tables for tests (typed as validation would produce them), and a
check that a CSV file is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pandas as pd

from ewp.core.contract import ForceData


def _dates(values: list[str | None]) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype="object"))


def make_force(
    officers: list[dict],
    notices: list[dict],
    outcomes: list[dict] | None = None,
    *,
    postings: list[dict] | None = None,
    activity: list[dict] | None = None,
) -> ForceData:
    """Build a ForceData from lists of dicts with ISO date strings; missing columns get defaults.

    Officers need ``officer_id`` and ``joined_on``; notices need ``notice_id``, ``officer_id``,
    ``received_on`` (category defaults to ``neglect_of_duty``, source to ``public``); outcomes
    need ``notice_id``, ``decided_on`` and ``finding``. The optional streams (None: absent):
    postings need ``officer_id``, ``unit``, ``start_on`` (``end_on`` defaults to blank);
    activity needs ``officer_id`` and ``known_on`` (``event_id`` defaults to the row number,
    ``kind`` to ``use_of_force``; ``severity``, ``injury``, ``weapon`` to blank).
    """
    off = pd.DataFrame(officers)
    off = pd.DataFrame(
        {
            "officer_id": off["officer_id"].astype(str),
            "joined_on": _dates(list(off["joined_on"])),
            "left_on": _dates(list(off.get("left_on", pd.Series([None] * len(off))))),
            "rank": off.get("rank", pd.Series(["Constable"] * len(off))).astype(str),
            "unit": off.get("unit", pd.Series(["Borough 01"] * len(off))).astype(str),
            "ethnicity": off.get("ethnicity", pd.Series(["White"] * len(off))).astype(str),
            "gender": off.get("gender", pd.Series(["Male"] * len(off))).astype(str),
            "birth_year": off.get("birth_year", pd.Series([1980] * len(off))).astype("Int64"),
        }
    )
    n = len(notices)
    no = pd.DataFrame(notices) if n else pd.DataFrame(columns=["notice_id", "officer_id"])
    notice_frame = pd.DataFrame(
        {
            "notice_id": no["notice_id"].astype(str),
            "case_id": no.get("case_id", no["notice_id"]).astype(str),
            "officer_id": no["officer_id"].astype(str),
            "received_on": _dates(list(no["received_on"]) if n else []),
            "incident_on": _dates([None] * n),
            "category": no.get("category", pd.Series(["neglect_of_duty"] * n)).astype(str),
            "category_raw": no.get("category", pd.Series(["neglect_of_duty"] * n)).astype(str),
            "source": no.get("source", pd.Series(["public"] * n)).astype(str),
            "severity": no.get("severity", pd.Series([None] * n, dtype="object")).astype("str"),
        }
    )
    notice_frame["severity"] = notice_frame["severity"].where(
        notice_frame["severity"] != "None", pd.NA
    )
    outs = outcomes or []
    oc = pd.DataFrame(outs) if outs else pd.DataFrame(columns=["notice_id"])
    outcome_frame = pd.DataFrame(
        {
            "notice_id": oc["notice_id"].astype(str),
            "decided_on": _dates(list(oc["decided_on"]) if outs else []),
            "finding": oc.get("finding", pd.Series([], dtype="object")).astype(str),
            "sanction": oc.get("sanction", pd.Series(["none"] * len(oc))).astype(str),
        }
    )
    return ForceData(
        officers=off,
        notices=notice_frame,
        outcomes=outcome_frame,
        postings=None if postings is None else _postings(postings),
        activity=None if activity is None else _activity(activity),
    )


def _postings(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["officer_id", "unit", "start_on", "end_on"])
    return frame.assign(
        officer_id=frame["officer_id"].astype(str),
        unit=frame["unit"].astype(str),
        start_on=_dates(list(frame["start_on"])),
        end_on=_dates(list(frame["end_on"])),
    )


def _activity(rows: list[dict]) -> pd.DataFrame:
    columns = ["event_id", "officer_id", "known_on", "kind", "severity", "injury", "weapon"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.assign(
        event_id=[f"E{i}" if pd.isna(e) else str(e) for i, e in enumerate(frame["event_id"])],
        officer_id=frame["officer_id"].astype(str),
        known_on=_dates(list(frame["known_on"])),
        kind=frame["kind"].astype(object).fillna("use_of_force").astype(str),
        severity=frame["severity"].astype("Int64"),
        injury=frame["injury"].astype("boolean"),
        weapon=frame["weapon"].astype("boolean"),
    )


# Cells a spreadsheet would run as formulas (see ewp.core.atomic): text starting with = + - @ tab
# CR.
FORMULA_CELL = re.compile(r"[=+\-@\t\r]")
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def formula_cells(path: Path) -> list[tuple[int, str]]:
    """(line, cell) for each cell of the CSV file ``path`` that a spreadsheet would run."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            (number, cell)
            for number, row in enumerate(csv.reader(handle), start=1)
            for cell in row
            if FORMULA_CELL.match(cell) and not PLAIN_NUMBER.fullmatch(cell)
        ]


def audit_lists(
    frame: pd.DataFrame, names: list[str], *, config: Any, rule: str, seed: int
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Every list (a boolean column of ``frame`` per name in ``names``; ``officer_id``,
    ``ethnicity`` and ``label`` the rest) audited against shared reference groups, and compared
    with the ``rule``'s list, as ``ewp.flows.audit.audit_candidates`` does for a model selection."""
    from ewp.models.fairness import audit, choose_references, compare_with_rule

    references = choose_references(frame, config=config, flagged=names)
    comparisons = compare_with_rule(
        frame[["officer_id", "ethnicity", "label"]],
        flagged={name: frame[name].to_numpy() for name in names},
        rule=rule,
        references=references,
        config=config,
        seed=seed,
    )
    audits = {
        name: audit(
            frame.assign(flagged=frame[name]), config=config, seed=seed, references=references
        )
        for name in names
    }
    return audits, comparisons
