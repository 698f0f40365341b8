"""The naive reference: the feature matrix built with a pandas filter per as-of date.

This is how the features are usually first written: for each as-of date ``t``, keep the
serving officers, filter the events known before ``t`` (a notice from ``received_on``, a finding
or sanction from ``decided_on``), and count per officer with ``groupby``. It is written
independently of ``ewp.features.history`` and as plainly as possible, to be obviously right: the
benchmark suite checks that ewp's matrix equals it, then times both. Its cost grows with
(as-of dates x events), so at national scale the suite runs it on a subset of dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from ewp.core.config import FeatureConfig
from ewp.core.contract import CASE_TO_ANSWER_FINDINGS, SANCTION_LEVEL, ForceData
from ewp.features.registry import feature_specs


def notice_table(data: ForceData) -> pd.DataFrame:
    """Notices with their outcome, sanction level, and whether an earlier notice against the
    same officer was still open (received before, not decided before) when each arrived.

    That flag depends only on what was known at the notice's receipt, so it is computed once.
    """
    notices = data.notices_with_outcomes()
    notices["sanction_level"] = notices["sanction"].map(SANCTION_LEVEL).fillna(0)
    pairs = notices[["officer_id", "notice_id", "received_on"]].merge(
        notices[["officer_id", "received_on", "decided_on"]],
        on="officer_id",
        suffixes=("", "_earlier"),
    )
    open_then = (pairs["received_on_earlier"] < pairs["received_on"]) & ~(
        pairs["decided_on"] < pairs["received_on"]
    )
    while_open = set(pairs.loc[open_then, "notice_id"])
    notices["while_open"] = notices["notice_id"].isin(while_open)
    return notices


def features_at(
    data: ForceData, notices: pd.DataFrame, as_of: dt.date, *, config: FeatureConfig
) -> pd.DataFrame:
    """The matrix rows at one as-of date: every serving officer, every feature."""
    t = pd.Timestamp(as_of)
    officers = data.officers
    known = notices.loc[notices["received_on"] < t]
    decided = notices.loc[notices["decided_on"] < t]
    serving = (officers["joined_on"].isna() | (officers["joined_on"] < t)) & ~(
        officers["left_on"] < t
    )
    if config.presume_left_after_years is not None:
        # Presumed gone: no left_on, and neither joined nor received a notice in the N years.
        last_notice = known.groupby("officer_id")["received_on"].max()
        last = pd.concat(
            [officers["joined_on"], officers["officer_id"].map(last_notice)], axis=1
        ).max(axis=1)
        quiet_since = t - pd.Timedelta(days=365 * config.presume_left_after_years)
        serving &= officers["left_on"].notna() | (last >= quiet_since)
    cohort = officers.loc[serving, ["officer_id", "unit", "joined_on"]]
    if config.units_from_postings:
        cohort = cohort.assign(unit=unit_as_of(data, cohort, t))
    ids = cohort["officer_id"]

    def count(events: pd.DataFrame) -> np.ndarray:
        per_officer = events.groupby("officer_id").size()
        return per_officer.reindex(ids, fill_value=0).to_numpy()

    def since(days: int, events: pd.DataFrame = known) -> pd.DataFrame:
        return events.loc[events["received_on"] >= t - pd.Timedelta(days=days)]

    f: dict[str, np.ndarray] = {}
    for days in config.windows_days:
        f[f"notices_{days}d"] = count(since(days))
    f["notices_all"] = count(known)
    for days in config.group_windows_days:
        recent = since(days)
        for group, members in config.category_groups.items():
            f[f"notices_{group}_{days}d"] = count(recent.loc[recent["category"].isin(members)])
        for source in config.sources:
            f[f"notices_source_{source}_{days}d"] = count(recent.loc[recent["source"] == source])
    f["gross_misconduct_all"] = count(known.loc[known["severity"] == "gross_misconduct"])
    f["findings_case_to_answer_all"] = count(
        decided.loc[decided["finding"].isin(CASE_TO_ANSWER_FINDINGS)]
    )
    f["findings_proven_all"] = count(decided.loc[decided["finding"] == "proven"])
    f["findings_no_case_all"] = count(decided.loc[decided["finding"] == "no_case_to_answer"])
    worst = decided.groupby("officer_id")["sanction_level"].max()
    f["worst_sanction_level"] = worst.reindex(ids, fill_value=0).to_numpy()
    still_open = known.loc[~(known["decided_on"] < t)]
    f["open_notices"] = count(still_open)
    oldest = still_open.groupby("officer_id")["received_on"].min().reindex(ids)
    f["oldest_open_days"] = (t - oldest).dt.days.fillna(0).to_numpy()
    f["notices_while_open_all"] = count(known.loc[known["while_open"]])
    last_year = count(since(365))
    two_years_before = count(since(3 * 365)) - last_year
    f["acceleration"] = last_year - two_years_before / 2
    last = known.groupby("officer_id")["received_on"].max().reindex(ids)
    f["days_since_last_notice"] = (
        (t - last).dt.days.fillna(config.max_days_since).clip(upper=config.max_days_since)
    ).to_numpy()
    tenure = (t - cohort["joined_on"]).dt.days  # unknown joined_on: NaN
    f["tenure_days"] = tenure.to_numpy()
    f["probationer"] = (tenure < config.probation_days).astype(float).where(tenure.notna())
    peers = pd.DataFrame({"unit": cohort["unit"].to_numpy(), "n": last_year})
    by_unit = peers.groupby("unit")["n"]
    size = by_unit.transform("size").to_numpy()
    fewer = by_unit.rank(method="min").to_numpy() - 1
    f["unit_share_below_365d"] = np.where(size > 1, fewer / np.maximum(size - 1, 1), 0)
    mean = by_unit.transform("mean").to_numpy()
    f["unit_ratio_365d"] = np.divide(last_year, mean, out=np.zeros(len(mean)), where=mean > 0)

    # Cases: each (officer, case_id) pair once, known from its first allegation.
    def cases(events: pd.DataFrame) -> np.ndarray:
        per_officer = events.groupby("officer_id")["case_id"].nunique()
        return per_officer.reindex(ids, fill_value=0).to_numpy()

    pairs = known.assign(
        case_known_on=known.groupby(["officer_id", "case_id"])["received_on"].transform("min")
    )
    for days in config.windows_days:
        f[f"cases_{days}d"] = cases(
            pairs.loc[pairs["case_known_on"] >= t - pd.Timedelta(days=days)]
        )
    f["cases_all"] = cases(pairs)
    for days in config.group_windows_days:
        recent_cases = pairs.loc[pairs["case_known_on"] >= t - pd.Timedelta(days=days)]
        for group, members in config.category_groups.items():
            f[f"cases_{group}_{days}d"] = cases(
                recent_cases.loc[recent_cases["category"].isin(members)]
            )
        for source in config.sources:
            f[f"cases_source_{source}_{days}d"] = cases(
                recent_cases.loc[recent_cases["source"] == source]
            )
    f["cases_proven_all"] = cases(decided.loc[decided["finding"] == "proven"])
    f["cases_case_to_answer_all"] = cases(
        decided.loc[decided["finding"].isin(CASE_TO_ANSWER_FINDINGS)]
    )
    f["open_cases"] = cases(still_open)

    if config.activity.kinds:
        f.update(activity_features(data, cohort, t, config=config))

    names = [spec.name for spec in feature_specs(config)]
    frame = pd.DataFrame({name: np.asarray(f[name], dtype="float32") for name in names})
    frame.insert(0, "as_of", t)
    frame.insert(0, "unit", cohort["unit"].to_numpy())
    frame.insert(0, "officer_id", ids.to_numpy())
    return frame


def unit_as_of(data: ForceData, cohort: pd.DataFrame, t: pd.Timestamp) -> np.ndarray:
    """Each cohort officer's unit at ``t``: of the postings covering the day before ``t``, the
    one started last (the later row on a tie); the roster's unit where none covers it."""
    postings = data.postings
    assert postings is not None, "units_from_postings needs a postings table"
    day_before = t - pd.Timedelta(days=1)
    covering = postings.loc[
        (postings["start_on"] <= day_before)
        & (postings["end_on"].isna() | (postings["end_on"] >= day_before))
    ]
    latest = covering.reset_index(drop=True).reset_index()
    latest = latest.sort_values(["start_on", "index"]).groupby("officer_id").last()
    unit = cohort["officer_id"].map(latest["unit"])
    return unit.fillna(cohort["unit"]).to_numpy()


def activity_features(
    data: ForceData, cohort: pd.DataFrame, t: pd.Timestamp, *, config: FeatureConfig
) -> dict[str, np.ndarray]:
    """Each declared activity kind's features for the cohort at ``t`` (by ``known_on``)."""
    assert data.activity is not None, "activity kinds need an activity table"
    ids = cohort["officer_id"]
    activity = data.activity.loc[data.activity["known_on"] < t]

    def count(events: pd.DataFrame) -> np.ndarray:
        return events.groupby("officer_id").size().reindex(ids, fill_value=0).to_numpy()

    f: dict[str, np.ndarray] = {}
    for kind in config.activity.kinds:
        known = activity.loc[activity["kind"] == kind]
        for days in config.windows_days:
            f[f"{kind}_{days}d"] = count(
                known.loc[known["known_on"] >= t - pd.Timedelta(days=days)]
            )
        f[f"{kind}_all"] = count(known)
        last = known.groupby("officer_id")["known_on"].max().reindex(ids)
        f[f"days_since_last_{kind}"] = (
            (t - last).dt.days.fillna(config.max_days_since).clip(upper=config.max_days_since)
        ).to_numpy()
        if config.activity.severe_at is not None:
            f[f"{kind}_severe_all"] = count(
                known.loc[known["severity"].fillna(-1) >= config.activity.severe_at]
            )
        for flag in config.activity.flags:
            f[f"{kind}_{flag}_all"] = count(known.loc[known[flag].fillna(False).astype(bool)])
        last_year = count(known.loc[known["known_on"] >= t - pd.Timedelta(days=365)])
        by_unit = pd.DataFrame({"unit": cohort["unit"].to_numpy(), "n": last_year}).groupby("unit")[
            "n"
        ]
        size = by_unit.transform("size").to_numpy()
        fewer = by_unit.rank(method="min").to_numpy() - 1
        f[f"{kind}_unit_share_below_365d"] = np.where(size > 1, fewer / np.maximum(size - 1, 1), 0)
    return f


def iter_naive(
    data: ForceData, as_of_dates: Sequence[dt.date], *, config: FeatureConfig
) -> Iterator[pd.DataFrame]:
    """The matrix one as-of date at a time, in date order."""
    notices = notice_table(data)
    for as_of in sorted(set(as_of_dates)):
        yield features_at(data, notices, as_of, config=config)


def naive_features(
    data: ForceData, as_of_dates: Sequence[dt.date], *, config: FeatureConfig
) -> pd.DataFrame:
    """The whole matrix, rows in ewp's order (by as-of date, then the officers table)."""
    return pd.concat(iter_naive(data, as_of_dates, config=config), ignore_index=True)
