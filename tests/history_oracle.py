"""Feature values recomputed from an officer's own records, independently of
``ewp.features.history``.

Each feature is written here the slow, obvious way: filter the officer's rows of the notices and
outcomes tables with plain date comparisons and count, following the definitions in
``ewp.features.registry`` and the time convention of ``ewp.features.history`` (at as-of date ``t``
only what was known strictly before ``t``: a notice from its receipt, a finding from its decision).
Tests use it to check that the value a published reason quotes is the officer's own.

A feature this module does not know raises ``KeyError`` naming it: a new feature needs its
definition added here before the reason tests can vouch for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd

from ewp.core.config import FeatureConfig
from ewp.core.contract import ForceData

# Written out, not imported, so that the oracle does not share a mistake with the code it checks.
CASE_TO_ANSWER = {"case_to_answer_not_proven", "proven"}
SANCTION_LEVELS = {
    "none": 0,
    "reflective_practice": 1,
    "management_advice": 2,
    "written_warning": 3,
    "final_written_warning": 4,
    "reduction_in_rank": 5,
    "dismissal": 6,
}


def _serving(data: ForceData, as_of: dt.date) -> pd.DataFrame:
    t = pd.Timestamp(as_of)
    officers = data.officers
    left = officers["left_on"]
    return officers.loc[(officers["joined_on"] < t) & ~(left.notna() & (left < t))]


def _known_notices(data: ForceData, officer_id: str, as_of: dt.date) -> pd.DataFrame:
    """The officer's notices received before ``as_of``, each with its outcome (if any)."""
    notices = data.notices.loc[
        (data.notices["officer_id"] == officer_id)
        & (data.notices["received_on"] < pd.Timestamp(as_of))
    ]
    return notices.merge(data.outcomes, on="notice_id", how="left")


def _in_window(notices: pd.DataFrame, as_of: dt.date, days: int) -> pd.DataFrame:
    start = pd.Timestamp(as_of) - pd.Timedelta(days=days)
    return notices.loc[notices["received_on"] >= start]


def _decided(notices: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    return notices.loc[
        notices["decided_on"].notna() & (notices["decided_on"] < pd.Timestamp(as_of))
    ]


def _open(notices: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    t = pd.Timestamp(as_of)
    return notices.loc[notices["decided_on"].isna() | (notices["decided_on"] >= t)]


def _cases_in_window(notices: pd.DataFrame, as_of: dt.date, days: int) -> set[str]:
    """Cases whose first known allegation was received in the window: a case counts from the
    day it became known, whatever is added to it later."""
    start = pd.Timestamp(as_of) - pd.Timedelta(days=days)
    first = notices.groupby("case_id")["received_on"].min()
    return set(first.index[first >= start])


def _cases_with(notices: pd.DataFrame, as_of: dt.date, days: int, qualifies: pd.Series) -> int:
    """Cases in the window with at least one known allegation that ``qualifies``."""
    return len(_cases_in_window(notices, as_of, days) & set(notices.loc[qualifies, "case_id"]))


def _notices_while_open(notices: pd.DataFrame) -> int:
    """Notices that arrived while an earlier one (received strictly before) was undecided."""
    count = 0
    for received in notices["received_on"]:
        earlier = notices.loc[notices["received_on"] < received]
        still_open = earlier["decided_on"].isna() | (earlier["decided_on"] >= received)
        count += bool(still_open.any())
    return count


def _recent(data: ForceData, officer_id: str, as_of: dt.date) -> int:
    return _recent_counts(data, as_of).get(officer_id, 0)


# (id of the data, as-of date) -> (the data, notices per officer in the 365 days before).
_RECENT: dict[tuple[int, dt.date], tuple[ForceData, dict[str, int]]] = {}


def _recent_counts(data: ForceData, as_of: dt.date) -> dict[str, int]:
    """Notices received in the 365 days before ``as_of``, per officer (for unit peers),
    counted once per data set and date."""
    cached = _RECENT.get((id(data), as_of))
    if cached is not None and cached[0] is data:
        return cached[1]
    t = pd.Timestamp(as_of)
    received = data.notices["received_on"]
    recent = data.notices.loc[(received < t) & (received >= t - pd.Timedelta(days=365))]
    counts = {str(officer): len(rows) for officer, rows in recent.groupby("officer_id")}
    _RECENT[(id(data), as_of)] = (data, counts)
    return counts


def recompute(
    data: ForceData, officer_id: str, as_of: dt.date, feature: str, config: FeatureConfig
) -> float:
    """The value of ``feature`` for ``officer_id`` at ``as_of``, from the records themselves."""
    definitions = _definitions(data, officer_id, as_of, config)
    if feature not in definitions:
        raise KeyError(f"tests/history_oracle.py has no independent definition of {feature!r}")
    return float(definitions[feature]())


def recompute_all(
    data: ForceData, officer_id: str, as_of: dt.date, config: FeatureConfig
) -> dict[str, float]:
    """Every feature this module defines, for ``officer_id`` at ``as_of``."""
    definitions = _definitions(data, officer_id, as_of, config)
    return {feature: float(value()) for feature, value in definitions.items()}


def _definitions(
    data: ForceData, officer_id: str, as_of: dt.date, config: FeatureConfig
) -> dict[str, Callable[[], float]]:
    """Feature name -> how to compute it for the officer at ``as_of`` (evaluated on demand)."""
    notices = _known_notices(data, officer_id, as_of)
    officer = data.officers.loc[data.officers["officer_id"] == officer_id].iloc[0]
    t = pd.Timestamp(as_of)
    tenure = (t - officer["joined_on"]).days
    exact: dict[str, Callable[[], float]] = {
        "notices_all": lambda: len(notices),
        "gross_misconduct_all": lambda: int((notices["severity"] == "gross_misconduct").sum()),
        "findings_case_to_answer_all": lambda: int(
            _decided(notices, as_of)["finding"].isin(CASE_TO_ANSWER).sum()
        ),
        "findings_proven_all": lambda: int((_decided(notices, as_of)["finding"] == "proven").sum()),
        "findings_no_case_all": lambda: int(
            (_decided(notices, as_of)["finding"] == "no_case_to_answer").sum()
        ),
        "worst_sanction_level": lambda: max(
            [SANCTION_LEVELS[s] for s in _decided(notices, as_of)["sanction"]], default=0
        ),
        "open_notices": lambda: len(_open(notices, as_of)),
        "open_cases": lambda: _open(notices, as_of)["case_id"].nunique(),
        "cases_all": lambda: notices["case_id"].nunique(),
        "cases_proven_all": lambda: (
            _decided(notices, as_of).loc[lambda d: d["finding"] == "proven", "case_id"].nunique()
        ),
        "cases_case_to_answer_all": lambda: (
            _decided(notices, as_of)
            .loc[lambda d: d["finding"].isin(CASE_TO_ANSWER), "case_id"]
            .nunique()
        ),
        "oldest_open_days": lambda: max(
            [(t - day).days for day in _open(notices, as_of)["received_on"]], default=0
        ),
        "notices_while_open_all": lambda: _notices_while_open(notices),
        "acceleration": lambda: (
            len(_in_window(notices, as_of, 365))
            - (len(_in_window(notices, as_of, 3 * 365)) - len(_in_window(notices, as_of, 365))) / 2
        ),
        "days_since_last_notice": lambda: min(
            (t - notices["received_on"].max()).days if len(notices) else config.max_days_since,
            config.max_days_since,
        ),
        "tenure_days": lambda: tenure,
        "probationer": lambda: float(tenure < config.probation_days),
        "unit_share_below_365d": lambda: _unit_share_below(data, officer, as_of),
        "unit_ratio_365d": lambda: _unit_ratio(data, officer, as_of),
    }
    for days in config.windows_days:
        exact[f"notices_{days}d"] = lambda days=days: len(_in_window(notices, as_of, days))
        exact[f"cases_{days}d"] = lambda days=days: len(_cases_in_window(notices, as_of, days))
    for days in config.group_windows_days:
        for group, members in config.category_groups.items():
            exact[f"notices_{group}_{days}d"] = lambda days=days, members=members: int(
                _in_window(notices, as_of, days)["category"].isin(members).sum()
            )
            exact[f"cases_{group}_{days}d"] = lambda days=days, members=members: _cases_with(
                notices, as_of, days, notices["category"].isin(members)
            )
        for source in config.sources:
            exact[f"notices_source_{source}_{days}d"] = lambda days=days, source=source: int(
                (_in_window(notices, as_of, days)["source"] == source).sum()
            )
            exact[f"cases_source_{source}_{days}d"] = lambda days=days, source=source: _cases_with(
                notices, as_of, days, notices["source"] == source
            )
    return exact


def _unit_peers(data: ForceData, officer: pd.Series, as_of: dt.date) -> list[int]:
    """Notices in the last 12 months of every officer serving in the officer's unit, self last."""
    unit = _serving(data, as_of)
    unit = unit.loc[unit["unit"] == officer["unit"]]
    others = [_recent(data, o, as_of) for o in unit["officer_id"] if o != officer["officer_id"]]
    return [*others, _recent(data, officer["officer_id"], as_of)]


def _unit_share_below(data: ForceData, officer: pd.Series, as_of: dt.date) -> float:
    *others, own = _unit_peers(data, officer, as_of)
    return sum(other < own for other in others) / len(others) if others else 0.0


def _unit_ratio(data: ForceData, officer: pd.Series, as_of: dt.date) -> float:
    counts = _unit_peers(data, officer, as_of)
    mean = sum(counts) / len(counts)
    return counts[-1] / mean if mean > 0 else 0.0
