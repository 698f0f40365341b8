"""The oversight report's figures: is the misconduct system itself joining the dots?

The review behind ewp found a system that let allegations pile up: cases took 400 days on
average and one in five over two years; most allegations ended "no case to answer"; one officer
collected 11 notices, six of them before the first was decided; few repeat officers were
dismissed; Black officers faced more allegations than White colleagues (``shared/domain.md``).
This module computes those figures for a force, from its export, as of a date. Pure: frames
in, frames out, no I/O (the flow is ``flows/oversight.py``, the report ``reports/oversight.py``).

What is known as of a date
    Only what the force knew before ``as_of``: a notice once received (``received_on <
    as_of``), a finding once decided (``decided_on < as_of``). A finding whose ``decided_on`` is
    blank (the contract allows it) is in the export but its date is unknown: it is known as of
    the export date (``as_of >= extracted_on``), when its notice counts as decided with an
    unknown duration (left out of the time to decide, counted in the outcomes); before that its
    notice reads as open, as everywhere in ewp.

Time to decide (``kaplan_meier``, ``duration_summary``)
    Days from a notice's receipt to its decision. A notice still open is *censored*, not
    missing: it is known to take at least its age so far. The Kaplan–Meier estimate of the
    share still undecided after t days, S(t), uses every notice; the "share over two years" is
    S(730), so an open case counts towards it once it passes two years. The median and 90th
    percentile are the first decision times where S falls to 0.5 and 0.1; the mean is the area
    under S. When the longest case is still open S never reaches 0 and the mean is *restricted*
    to that case's age (a lower bound, and said so); a share beyond the longest case is not
    known (NaN).

Backlog and pile-ups (``backlog_by_age``, ``pileups``)
    Open notices by age; and per officer, their *cases* (the notices of one ``case_id``
    against them: received on the first, decided once all are), how many were open at once at
    most, how many arrived while an earlier one was undecided, and the most that arrived before
    one of them was decided (the review's "six before the first was decided").

Outcomes (``finding_shares``, ``repeat_officer_outcomes``)
    Shares of each finding among decided notices, by category and source; and for officers
    with 1, 2 or more, 3–5 and 6 or more notices, and the whole force, how many were ever
    sanctioned (``SANCTIONED_FROM`` or above) or dismissed.

Disproportionality (``disproportionality``)
    Per ethnicity, gender and age band (age taken in each calendar year), allegations per
    officer-year of service and, among decided allegations, the shares found a case to answer,
    proven and sanctioned, each as a ratio to the reference group with a bootstrap interval,
    for every source, public complaints, and internal and conduct-matter allegations
    separately. The conventions are the fairness audit's (``ewp.models.fairness``): its bootstrap
    (officers resampled within each group), intervals, verdicts, reference groups
    (``fairness.reference_groups``, else the largest group) and small-cell suppression
    (``fairness.min_group_size``). ``disparity_findings`` says plainly where more allegations
    go with a lower proven rate (a sign of allegations without merit) and where they do not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ewp.core.config import FairnessConfig
from ewp.core.contract import CASE_TO_ANSWER_FINDINGS, SANCTION_LEVEL, ForceData

# The fairness audit's own helpers (ratios to 0, intervals, verdicts, "Unknown" groups,
# per-officer sums), so that this report and the audit agree on every convention.
from ewp.models.fairness import (
    INSUFFICIENT,
    OUTSIDE,
    REFERENCE,
    _divide,
    _interval,
    _known,
    _per_officer,
    _verdict,
    attributes_as_of,
    suppressed_verdict,
)

DECIDED = "decided"
OPEN = "open"
UNDATED = "decided, date unknown"
ONE_YEAR, TWO_YEARS = 365, 730
# A disciplinary sanction: management advice or above (reflective practice is not one).
SANCTIONED_FROM = SANCTION_LEVEL["management_advice"]
DISMISSAL = SANCTION_LEVEL["dismissal"]
# Age of an open notice: (lowest day, label); the last band has no upper end.
BACKLOG_BANDS: tuple[tuple[int, str], ...] = (
    (0, "under 3 months"),
    (91, "3–6 months"),
    (183, "6–12 months"),
    (365, "1–2 years"),
    (730, "2–3 years"),
    (1095, "3 years or more"),
)
# Source families of the disproportionality tables.
FAMILIES: dict[str, tuple[str, ...]] = {
    "all sources": ("public", "internal", "conduct_matter"),
    "public complaints": ("public",),
    "internal and conduct matters": ("internal", "conduct_matter"),
}
# Disproportionality metrics: name -> (numerator, denominator) of per-row sums.
STAGES: dict[str, tuple[str, str]] = {
    "allegations_per_officer_year": ("allegations", "years"),
    "case_to_answer_rate": ("case_to_answer", "decided"),
    "proven_rate": ("proven", "decided"),
    "sanctioned_rate": ("sanctioned", "decided"),
}
DISPARITY_COLUMNS: tuple[str, ...] = (
    "family",
    "attribute",
    "group",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "numerator",
    "denominator",
    "officers",
    "verdict",
)
# Officers on the pile-up list: this many cases arrived while an earlier one was undecided,
# or this many open at once.
PILEUP_LIST_MIN = 3
BOOTSTRAP_CHUNK = 100  # replicates drawn at a time: memory stays samples/10 × officers


# ---------------------------------------------------------------------------------------------
# What is known as of a date
# ---------------------------------------------------------------------------------------------
def allegations_as_of(data: ForceData, *, as_of: dt.date, extracted_on: dt.date) -> pd.DataFrame:
    """One row per notice received before ``as_of``, with what was known of its outcome then.

    Columns: the notice's own (notice_id, case_id, officer_id, category, source,
    received_on), ``status`` (``DECIDED``, ``OPEN`` or ``UNDATED``: see the module docstring),
    ``decided_on``, ``finding`` and ``sanction`` (missing unless known), ``days`` (receipt to
    decision, or to ``as_of`` while open; NaN for ``UNDATED``) and ``decided`` (the
    Kaplan–Meier event: True for a dated decision). Worked example: received 2020-01-10,
    decided 2020-03-10, as of 2020-03-10: open, 60 days (decided *before* the as-of date only);
    as of 2020-03-11: decided, 60 days.
    """
    day = pd.Timestamp(as_of)
    notices = data.notices.loc[data.notices["received_on"] < day]
    columns = ["notice_id", "case_id", "officer_id", "category", "source", "received_on"]
    frame = notices[columns].merge(
        data.outcomes[["notice_id", "decided_on", "finding", "sanction"]],
        on="notice_id",
        how="left",
        validate="1:1",
    )
    has_outcome = frame["finding"].notna()
    dated = has_outcome & frame["decided_on"].notna() & (frame["decided_on"] < day)
    undated = has_outcome & frame["decided_on"].isna() & (as_of >= extracted_on)
    known = dated | undated
    frame.loc[~known, ["finding", "sanction"]] = pd.NA
    frame.loc[~dated, "decided_on"] = pd.NaT
    frame["status"] = np.select([dated, undated], [DECIDED, UNDATED], default=OPEN)
    end = frame["decided_on"].where(dated, day)
    frame["days"] = (end - frame["received_on"]).dt.days.astype("float64").where(~undated)
    frame["decided"] = dated.to_numpy()
    return frame.sort_values(["received_on", "notice_id"], ignore_index=True)


# ---------------------------------------------------------------------------------------------
# Time to decide
# ---------------------------------------------------------------------------------------------
def kaplan_meier(days: pd.Series | np.ndarray, decided: pd.Series | np.ndarray) -> pd.DataFrame:
    """The Kaplan–Meier table of time to decision: one row per distinct time (days) with
    ``at_risk`` (notices not yet decided nor censored before it), ``decided`` and ``censored``
    there, and ``still_open``: S(t), the estimated share still undecided after ``days``.

    A notice censored at t is at risk at t (open on its last day), as usual. Worked example:
    decided at 100, 500, 800 and 900 days, open at 300 and 731: S = 5/6 after 100; the open
    case at 300 leaves the risk set; S = 5/6 × 3/4 = 0.625 after 500; the one open at 731 then
    leaves; S = 0.3125 after 800 and 0 after 900.
    """
    time = np.asarray(days, dtype="float64")
    event = np.asarray(decided, dtype=bool)
    keep = ~np.isnan(time)
    time, event = time[keep], event[keep]
    if len(time) == 0:
        columns = ["days", "at_risk", "decided", "censored", "still_open"]
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    order = np.unique(time)
    decided_at = np.bincount(np.searchsorted(order, time[event]), minlength=len(order))
    censored_at = np.bincount(np.searchsorted(order, time[~event]), minlength=len(order))
    leaving = decided_at + censored_at
    at_risk = len(time) - np.concatenate([[0], np.cumsum(leaving)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        still_open = np.cumprod(1 - decided_at / at_risk)
    return pd.DataFrame(
        {
            "days": order,
            "at_risk": at_risk.astype("int64"),
            "decided": decided_at.astype("int64"),
            "censored": censored_at.astype("int64"),
            "still_open": still_open,
        }
    )


def still_open_after(curve: pd.DataFrame, day: float) -> float:
    """S(``day``) from a ``kaplan_meier`` table: 1 before the first decision, NaN beyond the
    longest observed case (nothing is known there)."""
    if curve.empty or day > curve["days"].iloc[-1]:
        return float("nan")
    position = int(np.searchsorted(curve["days"].to_numpy(), day, side="right")) - 1
    return 1.0 if position < 0 else float(curve["still_open"].iloc[position])


def _first_day_at_or_below(curve: pd.DataFrame, share: float) -> float:
    """The first time S falls to ``share`` or below; NaN if it never does."""
    reached = curve.loc[curve["still_open"] <= share + 1e-12, "days"]
    return float(reached.iloc[0]) if len(reached) else float("nan")


def duration_summary(days: pd.Series | np.ndarray, decided: pd.Series | np.ndarray) -> dict:
    """Time to decide in figures: ``notices``, ``decided``, ``open``, ``median_days``,
    ``p90_days`` (NaN when S never falls that far), ``mean_days`` with ``mean_restricted``
    (True when the longest case is open, so the mean is the area under S up to it,
    ``restricted_to_days``: a lower bound), ``over_one_year`` = S(365) and ``over_two_years``
    = S(730) (NaN beyond the longest case).

    Worked example (``kaplan_meier``'s): median 800 days (S falls to 0.3125 there), mean
    100 + 400 × 5/6 + 300 × 0.625 + 100 × 0.3125 = 652.1 days, not restricted (the longest
    case was decided), S(365) = 5/6, S(730) = 0.625: the case open at 731 days counts towards
    "over two years" although it is not decided, where the decided cases alone give 2 of 4.
    """
    event = np.asarray(decided, dtype=bool)
    time = np.asarray(days, dtype="float64")
    counted = ~np.isnan(time)
    curve = kaplan_meier(time, event)
    summary = {
        "notices": int(counted.sum()),
        "decided": int((event & counted).sum()),
        "open": int((~event & counted).sum()),
        "median_days": float("nan"),
        "p90_days": float("nan"),
        "mean_days": float("nan"),
        "mean_restricted": False,
        "restricted_to_days": float("nan"),
        "over_one_year": float("nan"),
        "over_two_years": float("nan"),
    }
    if curve.empty:
        return summary
    times = curve["days"].to_numpy()
    level_before = np.concatenate([[1.0], curve["still_open"].to_numpy()[:-1]])
    widths = np.diff(np.concatenate([[0.0], times]))
    last = curve.iloc[-1]
    summary |= {
        "median_days": _first_day_at_or_below(curve, 0.5),
        "p90_days": _first_day_at_or_below(curve, 0.1),
        "mean_days": float((level_before * widths).sum()),
        "mean_restricted": bool(last["still_open"] > 0),
        "restricted_to_days": float(last["days"]) if last["still_open"] > 0 else float("nan"),
        "over_one_year": still_open_after(curve, ONE_YEAR),
        "over_two_years": still_open_after(curve, TWO_YEARS),
    }
    return summary


def durations_by(frame: pd.DataFrame, column: str | None) -> pd.DataFrame:
    """``duration_summary`` per value of ``column`` of ``allegations_as_of``'s frame (None:
    one row for every notice), one row each, ``group`` first; undated decisions are left out
    (their duration is unknown) and counted in ``undated``."""
    groups = [("all", frame)] if column is None else sorted(frame.groupby(column), key=str)
    rows = []
    for group, part in groups:
        rows.append(
            {
                "group": str(group),
                **duration_summary(part["days"], part["decided"]),
                "undated": int((part["status"] == UNDATED).sum()),
            }
        )
    return pd.DataFrame(rows)


def quarterly_trend(frame: pd.DataFrame, *, as_of: dt.date) -> pd.DataFrame:
    """Per quarter of receipt: notices ``received``, how many are ``decided`` and ``open``
    now, their median days to decide and shares over one and two years (Kaplan–Meier within
    the quarter's notices, NaN where not yet known), and ``open_at_quarter_end``: every notice
    received by the quarter's last day and not decided by it (quarters ended before ``as_of``).
    Worked example: a notice received 2020-02-01 and decided 2020-05-01 is in 2020Q1's
    receipts and open at the end of 2020Q1, not of 2020Q2."""
    if frame.empty:
        return pd.DataFrame()
    quarter = frame["received_on"].dt.to_period("Q")
    rows = []
    received = frame["received_on"].to_numpy()
    decided_on = frame["decided_on"].to_numpy()
    for period in pd.period_range(quarter.min(), quarter.max(), freq="Q"):
        part = frame.loc[quarter == period]
        summary = duration_summary(part["days"], part["decided"])
        end = period.end_time.normalize()  # the quarter's last day
        backlog = float("nan")
        if end < pd.Timestamp(as_of):
            undecided = np.isnat(decided_on) | (decided_on > end.to_datetime64())
            backlog = int(((received <= end.to_datetime64()) & undecided).sum())
        rows.append(
            {
                "quarter": str(period),
                "received": len(part),
                "decided": int((part["status"] != OPEN).sum()),
                "open": int((part["status"] == OPEN).sum()),
                "median_days": summary["median_days"],
                "over_one_year": summary["over_one_year"],
                "over_two_years": summary["over_two_years"],
                "open_at_quarter_end": backlog,
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Backlog and pile-ups
# ---------------------------------------------------------------------------------------------
def backlog_by_age(frame: pd.DataFrame) -> pd.DataFrame:
    """Open notices by age (``BACKLOG_BANDS``): ``age``, ``notices``, ``cases`` (distinct
    case IDs), ``public`` and ``internal`` (internal and conduct-matter) notices, and the
    ``share`` of all open notices. Every band is listed, empty ones with 0."""
    open_ = frame.loc[frame["status"] == OPEN]
    starts = np.array([start for start, _ in BACKLOG_BANDS])
    band = np.searchsorted(starts, open_["days"].to_numpy(), side="right") - 1
    rows = []
    for index, (_, label) in enumerate(BACKLOG_BANDS):
        part = open_.loc[band == index]
        rows.append(
            {
                "age": label,
                "notices": len(part),
                "cases": part["case_id"].nunique(),
                "public": int((part["source"] == "public").sum()),
                "internal": int(
                    part["source"].isin(FAMILIES["internal and conduct matters"]).sum()
                ),
            }
        )
    table = pd.DataFrame(rows)
    table["share"] = _divide(table["notices"], max(len(open_), 1))
    return table


def officer_cases(frame: pd.DataFrame, *, as_of: dt.date) -> pd.DataFrame:
    """Each officer's cases (``allegations_as_of``'s notices grouped by officer and case):
    ``received_on`` (the first notice), ``ends_on`` (the last decision once all are decided,
    else ``as_of``: still open), ``open`` and ``notices``. A case with a decision of unknown
    date ends when it began: whether others arrived while it was open is not known."""
    last = frame.assign(
        ends_on=frame["decided_on"]
        .where(frame["status"] != UNDATED, frame["received_on"])
        .where(frame["status"] != OPEN, pd.Timestamp(as_of)),
        open=frame["status"] == OPEN,
    )
    cases = (
        last.groupby(["officer_id", "case_id"], sort=True)
        .agg(
            received_on=("received_on", "min"),
            ends_on=("ends_on", "max"),
            open=("open", "any"),
            notices=("notice_id", "size"),
        )
        .reset_index()
    )
    cases["ends_on"] = cases["ends_on"].where(~cases["open"], pd.Timestamp(as_of))
    return cases


def pileups(frame: pd.DataFrame, *, as_of: dt.date) -> pd.DataFrame:
    """Per officer with a notice: ``notices``, ``cases``, ``open_now`` (cases open on
    ``as_of``), ``peak_open`` (most cases open at once), ``arrived_while_open`` (cases received
    while an earlier one of theirs was undecided) and ``most_before_decided`` (the most cases
    that arrived after one case and before it was decided). A case decided on the day another
    arrives is no longer open then.

    Worked example, as of 2021-06-01: case 1 received 2020-01-01, decided 2021-01-01; case 2
    2020-03-01 to 2020-06-01; case 3 received 2020-05-01, open; case 4 received 2021-02-01,
    open. Cases 2, 3 and 4 arrived while another was undecided (3); cases 2 and 3 arrived
    before case 1 was decided (most_before_decided 2); on 2020-05-01 cases 1–3 were open
    (peak_open 3); cases 3 and 4 are open now (open_now 2).
    """
    cases = officer_cases(frame, as_of=as_of)
    pairs = cases.merge(cases, on="officer_id", suffixes=("", "_later"))
    after = pairs["received_on_later"] > pairs["received_on"]
    during = after & (pairs["received_on_later"] < pairs["ends_on"])
    pairs = pairs.assign(during=during)
    before_decided = pairs.groupby(["officer_id", "case_id"])["during"].sum()
    # Open at a case's receipt: cases received on or before that day that end after it.
    at_receipt = (pairs["received_on"] <= pairs["received_on_later"]) & (
        pairs["ends_on"] > pairs["received_on_later"]
    )
    open_at = pairs.assign(open_at=at_receipt).groupby(["officer_id", "case_id_later"])["open_at"]
    opened = open_at.sum()
    earlier_open = (
        pairs.assign(earlier=at_receipt & (pairs["received_on"] < pairs["received_on_later"]))
        .groupby(["officer_id", "case_id_later"])["earlier"]
        .any()
    )
    per_case = cases.set_index(["officer_id", "case_id"]).assign(
        before_decided=before_decided,
        open_at_receipt=opened.rename_axis(["officer_id", "case_id"]).clip(lower=1),
        arrived_while_open=earlier_open.rename_axis(["officer_id", "case_id"]),
    )
    table = per_case.groupby(level="officer_id").agg(
        notices=("notices", "sum"),
        cases=("notices", "size"),
        open_now=("open", "sum"),
        peak_open=("open_at_receipt", "max"),
        arrived_while_open=("arrived_while_open", "sum"),
        most_before_decided=("before_decided", "max"),
    )
    table = table.astype("int64").reset_index()
    return table.sort_values(
        ["most_before_decided", "arrived_while_open", "peak_open", "officer_id"],
        ascending=[False, False, False, True],
        ignore_index=True,
    )


def pileup_summary(table: pd.DataFrame) -> pd.DataFrame:
    """``pileups`` in counts: officers with 2, 3–5 and 6 or more cases open now and at their
    peak, and cases received while an earlier one was undecided."""
    rows = []
    for label, low, high in (("2", 2, 2), ("3–5", 3, 5), ("6 or more", 6, None)):
        for column, what in (("open_now", "open now"), ("peak_open", "open at once at some time")):
            within = table[column] >= low
            if high is not None:
                within &= table[column] <= high
            rows.append(
                {"measure": f"officers with {label} cases {what}", "count": int(within.sum())}
            )
    rows.append(
        {
            "measure": "cases received while an earlier case of the same officer was undecided",
            "count": int(table["arrived_while_open"].sum()),
        }
    )
    rows.append(
        {
            "measure": "officers with a case received while an earlier one was undecided",
            "count": int((table["arrived_while_open"] > 0).sum()),
        }
    )
    return pd.DataFrame(rows)


def pileup_list(table: pd.DataFrame) -> pd.DataFrame:
    """The officers for the standards unit's attention: ``PILEUP_LIST_MIN`` or more cases
    arrived before one was decided, or as many open at once (``pileups`` order)."""
    listed = (table["most_before_decided"] >= PILEUP_LIST_MIN) | (
        table["peak_open"] >= PILEUP_LIST_MIN
    )
    return table.loc[listed].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Outcomes
# ---------------------------------------------------------------------------------------------
def _finding_row(part: pd.DataFrame) -> dict:
    finding = part["finding"]
    decided = len(part)
    case_to_answer = finding.isin(CASE_TO_ANSWER_FINDINGS)
    return {
        "decided": decided,
        "withdrawn": float(_divide((finding == "withdrawn").sum(), decided)),
        "no_case_to_answer": float(_divide((finding == "no_case_to_answer").sum(), decided)),
        "case_to_answer": float(_divide(case_to_answer.sum(), decided)),
        "proven": float(_divide((finding == "proven").sum(), decided)),
    }


def finding_shares(frame: pd.DataFrame, column: str | None) -> pd.DataFrame:
    """Among decided notices (dated or not), the shares withdrawn, no case to answer, case to
    answer (proven or not) and proven, per value of ``column`` (None: one row, "all")."""
    decided = frame.loc[frame["status"] != OPEN]
    groups = [("all", decided)] if column is None else sorted(decided.groupby(column), key=str)
    return pd.DataFrame([{"group": str(g), **_finding_row(part)} for g, part in groups])


def _serving(officers: pd.DataFrame, *, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Whether each officer served some day of [start, end) (unknown joining: since before)."""
    joined = officers["joined_on"]
    left = officers["left_on"] if "left_on" in officers else pd.Series(pd.NaT, officers.index)
    return (joined.isna() | (joined < end)) & (left.isna() | (left >= start))


def repeat_officer_outcomes(
    frame: pd.DataFrame, officers: pd.DataFrame, *, as_of: dt.date
) -> pd.DataFrame:
    """Officers by notices received (1, 2 or more, 3–5, 6 or more) and the whole force (every
    officer serving some day between the first notice and ``as_of``), with how many were ever
    found proven, ever sanctioned (``SANCTIONED_FROM`` or above) and ever dismissed, as counts
    and shares. Only findings known as of ``as_of`` count."""
    level = frame["sanction"].map(SANCTION_LEVEL).astype("float64")
    per_officer = (
        frame.assign(
            proven=frame["finding"].eq("proven").fillna(False),
            sanctioned=(level >= SANCTIONED_FROM),
            dismissed=(level == DISMISSAL),
        )
        .groupby("officer_id")
        .agg(
            notices=("notice_id", "size"),
            proven=("proven", "any"),
            sanctioned=("sanctioned", "any"),
            dismissed=("dismissed", "any"),
        )
    )
    start = frame["received_on"].min() if len(frame) else pd.Timestamp(as_of)
    serving = officers.loc[_serving(officers, start=start, end=pd.Timestamp(as_of)), "officer_id"]
    force = per_officer.reindex(sorted(set(serving) | set(per_officer.index)))
    force = force.fillna({"notices": 0, "proven": False, "sanctioned": False, "dismissed": False})
    groups = {
        "1 notice": force["notices"] == 1,
        "2 or more notices": force["notices"] >= 2,
        "3–5 notices": force["notices"].between(3, 5),
        "6 or more notices": force["notices"] >= 6,
        "whole force": pd.Series(True, index=force.index),
    }
    rows = []
    for label, members in groups.items():
        part = force.loc[members]
        row: dict[str, object] = {"officers": len(part)}
        for column in ("proven", "sanctioned", "dismissed"):
            count = int(part[column].astype(bool).sum())
            row[column] = count
            row[f"{column}_share"] = float(_divide(count, len(part)))
        rows.append({"group": label, **row})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Disproportionality
# ---------------------------------------------------------------------------------------------
def officer_years(
    data: ForceData, frame: pd.DataFrame, *, as_of: dt.date, age_band_edges: Sequence[int]
) -> pd.DataFrame:
    """One row per officer and calendar year of service between the first notice and
    ``as_of``: ``years`` served that year, the officer's attributes that year
    (``ewp.models.fairness.attributes_as_of``: age from the year), and per source family
    (``FAMILIES``) the allegations received that year and, of them, how many are decided,
    found a case to answer, proven and sanctioned as of ``as_of``. A notice dated outside the
    officer's recorded service still counts, in a row with no service. Worked example: an
    officer serving 2019-07-01 to 2021-03-31, as of 2021-01-01: 2019 has 184 days (0.504
    years), 2020 366 days (1.002 years)."""
    end = pd.Timestamp(as_of)
    start = frame["received_on"].min() if len(frame) else end
    officers = data.officers.loc[_serving(data.officers, start=start, end=end)]
    begin = officers["joined_on"].fillna(start).clip(lower=start).to_numpy()
    left = officers["left_on"] if "left_on" in officers else pd.Series(pd.NaT, officers.index)
    # left_on is a last day of service: serving up to and including it.
    stop = (left + pd.Timedelta(days=1)).fillna(end).clip(upper=end).to_numpy()
    year_list = list(range(start.year, (end - pd.Timedelta(days=1)).year + 1))
    rows = []
    for year in year_list:
        first = np.datetime64(f"{year}-01-01")
        after = np.datetime64(f"{year + 1}-01-01")
        days = (np.minimum(stop, after) - np.maximum(begin, first)).astype("timedelta64[D]")
        served = days.astype("int64")
        keep = served > 0
        rows.append(
            pd.DataFrame(
                {
                    "officer_id": officers["officer_id"].to_numpy()[keep],
                    "year": year,
                    "years": served[keep] / 365.25,
                }
            )
        )
    exposure = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["officer_id", "year", "years"])
    )
    level = frame["sanction"].map(SANCTION_LEVEL).astype("float64")
    notices = pd.DataFrame(
        {
            "officer_id": frame["officer_id"].to_numpy(),
            "year": frame["received_on"].dt.year.to_numpy(),
        }
    )
    decided = (frame["status"] != OPEN).to_numpy()
    counts = {}
    for family, sources in FAMILIES.items():
        of_family = frame["source"].isin(sources).to_numpy()
        counts |= {
            f"allegations:{family}": of_family,
            f"decided:{family}": of_family & decided,
            f"case_to_answer:{family}": of_family
            & frame["finding"].isin(CASE_TO_ANSWER_FINDINGS).to_numpy(),
            f"proven:{family}": of_family & frame["finding"].eq("proven").fillna(False).to_numpy(),
            f"sanctioned:{family}": of_family & (level >= SANCTIONED_FROM).to_numpy(),
        }
    notices = notices.assign(**{k: v.astype("int64") for k, v in counts.items()})
    per_year = notices.groupby(["officer_id", "year"], sort=True).sum()
    table = exposure.set_index(["officer_id", "year"]).join(per_year, how="outer")
    table = table.fillna(0.0).reset_index()
    table["as_of"] = pd.to_datetime(table["year"].astype(str) + "-07-01")
    attributes = attributes_as_of(data.officers, table, age_band_edges=age_band_edges)
    return pd.concat([table.drop(columns="as_of"), attributes], axis=1)


def _reference_group(groups: np.ndarray, officers: pd.Series, configured: str | None) -> str:
    """The configured reference group if present, else the group with the most officers."""
    if configured is not None and configured in set(groups):
        return configured
    counts = pd.Series(officers).groupby(groups).nunique()
    return sorted(counts.index, key=lambda g: (-int(counts[g]), str(g)))[0]


def _replicates(per_officer: pd.DataFrame, *, samples: int, rng: np.random.Generator) -> dict:
    """The fairness audit's stratified bootstrap (``ewp.models.fairness._bootstrap_sums``: each
    group's officers drawn with replacement, group sizes fixed), drawn directly over officers,
    ``BOOTSTRAP_CHUNK`` replicates at a time: officer-years make nearly every officer a
    distinct type, so grouping them into types as the audit does saves nothing. Returns group ->
    (point sums, replicate sums, officers with a positive sum), per statistic."""
    out = {}
    for group, table in per_officer.groupby(level=0, sort=True):
        values = table.to_numpy(dtype="float64")
        size = len(values)
        parts = []
        for first in range(0, samples, BOOTSTRAP_CHUNK):
            chunk = min(BOOTSTRAP_CHUNK, samples - first)
            drawn = rng.integers(0, size, size=(chunk, size))
            drawn += np.arange(chunk)[:, None] * size  # replicate r's officers: r·size + i
            counts = np.bincount(drawn.ravel(), minlength=chunk * size).reshape(chunk, size)
            parts.append(counts.astype("float64") @ values)
        out[str(group)] = (
            pd.Series(values.sum(axis=0), index=table.columns),
            pd.DataFrame(np.vstack(parts), columns=table.columns),
            pd.Series((values > 0).sum(axis=0), index=table.columns),
        )
    return out


def disproportionality(rows: pd.DataFrame, *, config: FairnessConfig, seed: int) -> pd.DataFrame:
    """Per source family, attribute, group and metric (``STAGES``), the rate, its ratio to the
    reference group and bootstrap intervals, the counts behind it and a verdict
    (``DISPARITY_COLUMNS``), from ``officer_years``' rows. Groups with fewer than
    ``config.min_group_size`` officers are suppressed (every number blanked; with a small
    reference, every ratio too), as in the fairness audit; a ratio to a rate of 0 is NaN.
    Worked example: White officers 2 allegations in 4 officer-years (0.5 a year), Black
    officers 3 in 3 (1.0): ratio 2.0."""
    rng = np.random.default_rng(seed)
    stats = rows.drop(columns=["officer_id", "year", *config.attributes], errors="ignore")
    stats = stats.select_dtypes("number").assign(n=1.0)
    tables = []
    for attribute in config.attributes:
        groups = _known(rows[attribute]).to_numpy()
        reference = _reference_group(
            groups, rows["officer_id"], config.reference_groups.get(attribute)
        )
        per_officer = _per_officer(stats, groups, rows["officer_id"].astype(str).to_numpy())
        sums = _replicates(per_officer, samples=config.bootstrap_samples, rng=rng)
        officers = {group: int(s[2]["n"]) for group, s in sums.items()}
        for family in FAMILIES:
            for metric, (numerator, denominator) in STAGES.items():
                top = numerator if numerator == "years" else f"{numerator}:{family}"
                bottom = denominator if denominator == "years" else f"{denominator}:{family}"
                values = {
                    g: (float(s[0][top]), float(s[0][bottom]), _divide(s[1][top], s[1][bottom]))
                    for g, s in sums.items()
                }
                reference_value = float(_divide(*values[reference][:2]))
                for group, (num, den, replicates) in values.items():
                    value = float(_divide(num, den))
                    low, high = _interval(replicates, config.confidence)
                    ratio, ratio_low, ratio_high = np.nan, np.nan, np.nan
                    if np.isfinite(reference_value) and reference_value > 0:
                        ratio = value / reference_value
                        ratio_low, ratio_high = _interval(
                            _divide(replicates, values[reference][2]), config.confidence
                        )
                    if group == reference:
                        ratio, ratio_low, ratio_high, verdict = 1.0, 1.0, 1.0, REFERENCE
                    else:
                        bottom_officers = min(int(sums[g][2][bottom]) for g in (group, reference))
                        verdict = _verdict(
                            ratio=ratio,
                            low=ratio_low,
                            high=ratio_high,
                            officers=min(officers[group], officers[reference], bottom_officers),
                            config=config,
                        )
                    tables.append(
                        {
                            "family": family,
                            "attribute": attribute,
                            "group": group,
                            "metric": metric,
                            "value": value,
                            "ci_low": low,
                            "ci_high": high,
                            "ratio": ratio,
                            "ratio_ci_low": ratio_low,
                            "ratio_ci_high": ratio_high,
                            "numerator": num,
                            "denominator": den,
                            "officers": officers[group],
                            "verdict": verdict,
                        }
                    )
    table = pd.DataFrame(tables, columns=list(DISPARITY_COLUMNS))
    return _suppress(table, min_size=config.min_group_size)


def _suppress(table: pd.DataFrame, *, min_size: int) -> pd.DataFrame:
    """Blank the groups of fewer than ``min_size`` officers (counts included), and every ratio
    of an attribute whose reference group is one of them."""
    small = table["officers"] < min_size
    numbers = [
        c
        for c in DISPARITY_COLUMNS
        if c not in ("family", "attribute", "group", "metric", "verdict")
    ]
    out = table.astype({c: "float64" for c in numbers})
    out.loc[small, numbers] = np.nan
    out.loc[small & (out["verdict"] != REFERENCE), "verdict"] = suppressed_verdict(min_size)
    small_reference = table.loc[small & (table["verdict"] == REFERENCE), "attribute"].unique()
    ratios = ["ratio", "ratio_ci_low", "ratio_ci_high"]
    out.loc[out["attribute"].isin(small_reference), ratios] = np.nan
    return out


def _times(value: float) -> str:
    return f"{value:.2f}×"


def _officers(attribute: str, group: str) -> str:
    """ "Black officers", "Female officers", "officers aged 25–34"."""
    return f"officers aged {group}" if attribute == "age_band" else f"{group} officers"


def disparity_findings(table: pd.DataFrame, *, config: FairnessConfig) -> list[str]:
    """Plain sentences: for each family and group whose allegation rate is clearly above the
    reference's (verdict "outside band", above it), whether its allegations are proven less
    often (the whole proven-rate ratio interval below 1: a sign of allegations without merit),
    more often (the whole interval above 1) or about as often (the interval includes 1: no
    clear sign either way). Groups with clearly fewer allegations are named too."""
    confidence = f"{config.confidence:.0%}"
    sentences = []
    rates = table.loc[table["metric"] == "allegations_per_officer_year"]
    rates = rates.sort_values(  # by family, then attribute, as the report's tables are
        ["family", "attribute"],
        key=lambda column: column.map(
            {
                **{f: i for i, f in enumerate(FAMILIES)},
                **{a: i for i, a in enumerate(config.attributes)},
            }
        ),
        kind="stable",
    )
    proven = table.loc[table["metric"] == "proven_rate"].set_index(["family", "attribute", "group"])
    for row in rates.itertuples(index=False):
        if row.verdict != OUTSIDE:
            continue
        reference = rates.loc[
            (rates["family"] == row.family)
            & (rates["attribute"] == row.attribute)
            & (rates["verdict"] == REFERENCE),
            "group",
        ].iloc[0]
        head = (
            f"{row.family.capitalize()}: {_officers(row.attribute, row.group)} face "
            f"{_times(row.ratio)} the allegations per officer-year of "
            f"{_officers(row.attribute, reference)} ({confidence} interval "
            f"{_times(row.ratio_ci_low)}–{_times(row.ratio_ci_high)})"
        )
        if row.ratio < 1:
            sentences.append(f"{head}: fewer allegations.")
            continue
        stage = proven.loc[(row.family, row.attribute, row.group)]
        if not np.isfinite(stage["ratio_ci_high"]):
            sentences.append(
                f"{head}; whether their allegations are proven less often cannot be told "
                f"({stage['verdict'] if stage['verdict'] != INSUFFICIENT else 'too few decided'})."
            )
        elif stage["ratio_ci_high"] < 1:
            sentences.append(
                f"{head}, and their allegations are proven less often "
                f"({_times(stage['ratio'])}, interval {_times(stage['ratio_ci_low'])}–"
                f"{_times(stage['ratio_ci_high'])}): a sign that some of the extra allegations "
                "are without merit."
            )
        elif stage["ratio_ci_low"] > 1:
            sentences.append(
                f"{head}, and their allegations are proven more often "
                f"({_times(stage['ratio'])}, interval {_times(stage['ratio_ci_low'])}–"
                f"{_times(stage['ratio_ci_high'])}): the disparity in allegations does not go "
                "with a lower proven rate."
            )
        else:
            sentences.append(
                f"{head}; their allegations are proven about as often "
                f"({_times(stage['ratio'])}, interval {_times(stage['ratio_ci_low'])}–"
                f"{_times(stage['ratio_ci_high'])}, which includes 1): no clear sign that the "
                "disparity in allegations goes with a lower proven rate."
            )
    return sentences


# ---------------------------------------------------------------------------------------------
# Everything together
# ---------------------------------------------------------------------------------------------
def _overall_by_source_and_category(
    frame: pd.DataFrame, table_by: Callable[[pd.DataFrame, str | None], pd.DataFrame]
) -> pd.DataFrame:
    """``table_by`` overall, by source and by category, stacked, with a ``by`` column first."""
    parts = [
        table_by(frame, column).assign(by=column or "all")
        for column in (None, "source", "category")
    ]
    table = pd.concat(parts, ignore_index=True)
    return table[["by", *[c for c in table.columns if c != "by"]]]


@dataclass(frozen=True)
class Oversight:
    """The oversight figures of one force as of one date (see the module docstring)."""

    as_of: dt.date
    allegations: pd.DataFrame
    durations: pd.DataFrame
    curves: dict[str, pd.DataFrame]
    trend: pd.DataFrame
    backlog: pd.DataFrame
    pileups: pd.DataFrame
    pileup_summary: pd.DataFrame
    findings: pd.DataFrame
    repeat_outcomes: pd.DataFrame
    disparity: pd.DataFrame
    disparity_sentences: list[str]


def oversight(
    data: ForceData,
    *,
    as_of: dt.date,
    extracted_on: dt.date,
    config: FairnessConfig,
    seed: int,
) -> Oversight:
    """Every oversight figure of ``data`` as of ``as_of`` (``extracted_on``: the export date,
    see the module docstring); the same inputs and ``seed`` give the same figures."""
    frame = allegations_as_of(data, as_of=as_of, extracted_on=extracted_on)
    curves = {
        family: kaplan_meier(part["days"], part["decided"])
        for family, sources in FAMILIES.items()
        for part in [frame.loc[frame["source"].isin(sources)]]
    }
    per_officer = pileups(frame, as_of=as_of)
    rows = officer_years(data, frame, as_of=as_of, age_band_edges=config.age_band_edges)
    disparity = disproportionality(rows, config=config, seed=seed)
    return Oversight(
        as_of=as_of,
        allegations=frame,
        durations=_overall_by_source_and_category(frame, durations_by),
        curves=curves,
        trend=quarterly_trend(frame, as_of=as_of),
        backlog=backlog_by_age(frame),
        pileups=per_officer,
        pileup_summary=pileup_summary(per_officer),
        findings=_overall_by_source_and_category(frame, finding_shares),
        repeat_outcomes=repeat_officer_outcomes(frame, data.officers, as_of=as_of),
        disparity=disparity,
        disparity_sentences=disparity_findings(disparity, config=config),
    )
