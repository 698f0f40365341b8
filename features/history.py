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

The serving cohort at ``t``: ``joined_on < t`` and not ``left_on < t``.

How it is computed
------------------
Events of each kind are sorted once by (officer, day) into one int64 key per event:
``officer_code * STRIDE + day``. The number of an officer's events in ``[a, b)`` is then the
difference of two binary searches (``np.searchsorted``), for every (officer, as-of date) row at
once: no loop per officer or per date. See ``EventSeries``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ewp.config import FeatureConfig
from ewp.contract import CASE_TO_ANSWER_FINDINGS, SANCTION_LEVEL, ForceData
from features.registry import feature_specs

# Day numbers are days since 1970-01-01, shifted by DAY_OFFSET so they are never negative.
DAY_OFFSET = 1 << 19  # ~1435 years either side of 1970
STRIDE = 1 << 20
NEVER = STRIDE - 1  # the day number used for "no date" (e.g. a case never decided)


def day_numbers(dates: pd.Series | pd.DatetimeIndex | Sequence[dt.date]) -> np.ndarray:
    """Dates -> int64 day numbers (shifted days since 1970-01-01); missing dates -> ``NEVER``."""
    values = pd.to_datetime(pd.Series(dates)).to_numpy(dtype="datetime64[D]")
    days = values.astype("int64") + DAY_OFFSET
    days[np.isnat(values)] = NEVER
    return days


@dataclass(frozen=True)
class EventSeries:
    """Events of one kind, as sorted (officer, day) keys, for counting by binary search.

    ``running_max`` (optional) holds, for each sorted event, the maximum of a per-event value
    over the officer's events up to and including it, for "worst known before t" queries.
    """

    keys: np.ndarray
    running_max: np.ndarray | None = None

    @classmethod
    def build(
        cls, officer_codes: np.ndarray, days: np.ndarray, values: np.ndarray | None = None
    ) -> EventSeries:
        """Index events; events with no date (``NEVER``) are left out."""
        dated = days != NEVER
        keys = officer_codes[dated].astype("int64") * STRIDE + days[dated]
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        if values is None:
            return cls(keys)
        running_max = pd.Series(values[dated][order]).groupby(keys // STRIDE).cummax()
        return cls(keys, running_max.to_numpy())

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
        """Index into ``keys`` of the officer's last event before the day, or -1 if none."""
        position = self._position(officer_codes, days)
        has_any = position > self._position(officer_codes, 0 * days)
        return np.where(has_any, position - 1, -1)

    def max_before(self, officer_codes: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Largest value among the officer's events before the day, or 0 if none."""
        if self.running_max is None:
            raise ValueError("this EventSeries was built without values")
        last = self.last_before(officer_codes, days)
        padded = np.append(self.running_max, 0)  # index -1 (no event) reads the 0 at the end
        return padded[last]

    def last_day_before(self, officer_codes: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Day number of the officer's last event before the day, or ``NEVER`` if none."""
        last = self.last_before(officer_codes, days)
        padded = np.append(self.keys % STRIDE, NEVER)  # index -1 (no event) reads NEVER
        return padded[last]


def serving_cohort(officers: pd.DataFrame, as_of_dates: Sequence[dt.date]) -> pd.DataFrame:
    """Rows (officer_id, unit, as_of) for each officer serving at each as-of date.

    Serving at t: joined before t and not left before t. Sorted by as_of, then officer order.
    """
    joined = day_numbers(officers["joined_on"])
    left = day_numbers(officers["left_on"])
    dates = day_numbers(list(as_of_dates))
    serving = (joined[None, :] < dates[:, None]) & ~(left[None, :] < dates[:, None])
    date_idx, officer_idx = np.nonzero(serving)
    return pd.DataFrame(
        {
            "officer_id": officers["officer_id"].to_numpy()[officer_idx],
            "unit": officers["unit"].to_numpy()[officer_idx],
            "as_of": pd.to_datetime(pd.Series(list(as_of_dates))).to_numpy()[date_idx],
        }
    )


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


def _oldest_open_received(
    codes: np.ndarray,
    received: np.ndarray,
    decided: np.ndarray,
    row_codes: np.ndarray,
    row_days: np.ndarray,
) -> np.ndarray:
    """Per row, the receipt day of the oldest notice open at the as-of day (``NEVER`` if none).

    Notice i is open at t when ``received_i < t <= decided_i``. Each notice is expanded to the
    as-of dates (of the rows' grid) inside that interval, then the minimum receipt day is taken
    per (officer, as-of date).
    """
    grid = np.unique(row_days)
    first = np.searchsorted(grid, received, side="right")  # first grid date > received
    stop = np.searchsorted(grid, decided, side="right")  # grid dates <= decided
    lengths = np.clip(stop - first, 0, None)
    notice_idx = np.repeat(np.arange(len(received)), lengths)
    block_start = np.repeat(np.cumsum(lengths) - lengths, lengths)
    grid_idx = first[notice_idx] + (np.arange(lengths.sum()) - block_start)
    pair_keys = codes[notice_idx].astype("int64") * len(grid) + grid_idx
    oldest = pd.Series(received[notice_idx]).groupby(pair_keys).min()
    row_keys = row_codes * len(grid) + np.searchsorted(grid, row_days)
    return oldest.reindex(row_keys).fillna(NEVER).to_numpy(dtype="int64")


def build_features(
    data: ForceData, as_of_dates: Sequence[dt.date], *, config: FeatureConfig
) -> pd.DataFrame:
    """The feature matrix: one row per serving officer per as-of date.

    Returns ``officer_id``, ``unit``, ``as_of`` and then one float32 column per feature in
    ``features.registry.feature_specs(config)`` order. Uses only events known before each
    as-of date (see the module docstring); protected attributes are never read.
    """
    officers = data.officers
    code_of = pd.Series(np.arange(len(officers), dtype="int64"), index=officers["officer_id"])
    rows = serving_cohort(officers, as_of_dates)
    row_codes = code_of.reindex(rows["officer_id"]).to_numpy()
    t = day_numbers(rows["as_of"])

    notices = data.notices_with_outcomes()
    codes = code_of.reindex(notices["officer_id"]).to_numpy()
    received = day_numbers(notices["received_on"])
    decided = day_numbers(notices["decided_on"])

    def series(mask: np.ndarray | None = None, by: np.ndarray = received) -> EventSeries:
        if mask is None:
            return EventSeries.build(codes, by)
        return EventSeries.build(codes[mask], by[mask])

    out: dict[str, np.ndarray] = {}
    all_notices = series()

    def in_window(events: EventSeries, days: int) -> np.ndarray:
        return events.count_between(row_codes, t - days, t)

    for days in config.windows_days:
        out[f"notices_{days}d"] = in_window(all_notices, days)
    out["notices_all"] = all_notices.count_before(row_codes, t)

    category = notices["category"].to_numpy()
    source = notices["source"].to_numpy()
    for days in config.group_windows_days:
        for group, members in config.category_groups.items():
            out[f"notices_{group}_{days}d"] = in_window(series(np.isin(category, members)), days)
        for src in config.sources:
            out[f"notices_source_{src}_{days}d"] = in_window(series(source == src), days)

    gross = (notices["severity"] == "gross_misconduct").fillna(False).to_numpy(dtype=bool)
    out["gross_misconduct_all"] = series(gross).count_before(row_codes, t)

    # Findings and sanctions are known from decided_on, so they are indexed by decision day.
    finding = notices["finding"].fillna("").to_numpy()
    out["findings_case_to_answer_all"] = series(
        np.isin(finding, CASE_TO_ANSWER_FINDINGS), by=decided
    ).count_before(row_codes, t)
    out["findings_proven_all"] = series(finding == "proven", by=decided).count_before(row_codes, t)
    out["findings_no_case_all"] = series(finding == "no_case_to_answer", by=decided).count_before(
        row_codes, t
    )
    sanction_level = notices["sanction"].map(SANCTION_LEVEL).fillna(0).to_numpy(dtype="int64")
    sanctions = EventSeries.build(codes, decided, sanction_level)
    out["worst_sanction_level"] = sanctions.max_before(row_codes, t)

    out["open_cases"] = out["notices_all"] - series(by=decided).count_before(row_codes, t)
    oldest = _oldest_open_received(codes, received, decided, row_codes, t)
    out["oldest_open_days"] = np.where(oldest == NEVER, 0, t - oldest)
    out["notices_while_open_all"] = series(_open_at_receipt(codes, received, decided)).count_before(
        row_codes, t
    )

    recent = all_notices.count_between(row_codes, t - 365, t)
    earlier = all_notices.count_between(row_codes, t - 3 * 365, t - 365)
    out["acceleration"] = recent - earlier / 2.0
    last_day = all_notices.last_day_before(row_codes, t)
    out["days_since_last_notice"] = np.minimum(
        np.where(last_day == NEVER, config.max_days_since, t - last_day), config.max_days_since
    )

    joined = day_numbers(officers["joined_on"])[row_codes]
    out["tenure_days"] = t - joined
    out["probationer"] = (out["tenure_days"] < config.probation_days).astype("int64")

    # Peer context among serving officers of the same unit on the same date.
    peer = pd.DataFrame({"unit": rows["unit"].to_numpy(), "as_of": t, "n": recent})
    by_unit = peer.groupby(["as_of", "unit"], sort=False)["n"]
    unit_size = by_unit.transform("size").to_numpy()
    fewer = by_unit.rank(method="min").to_numpy() - 1  # officers with strictly fewer notices
    out["unit_share_below_365d"] = np.where(unit_size > 1, fewer / np.maximum(unit_size - 1, 1), 0)
    unit_mean = by_unit.transform("mean").to_numpy()
    out["unit_ratio_365d"] = np.divide(
        recent, unit_mean, out=np.zeros(len(recent)), where=unit_mean > 0
    )

    names = [spec.name for spec in feature_specs(config)]
    matrix = pd.DataFrame({name: out[name].astype("float32") for name in names})
    return pd.concat([rows.reset_index(drop=True), matrix], axis=1)


def feature_columns(config: FeatureConfig) -> list[str]:
    """Names of the model-input columns of ``build_features`` for a config."""
    return [spec.name for spec in feature_specs(config)]
