"""The escalation label: horizon edges, censoring of findings, unobserved horizons."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ewp.core.config import LabelConfig
from ewp.features.labels import build_labels
from tests.builders import make_force

LABEL = LabelConfig(horizon_days=365)


def rows(*pairs: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"officer_id": [p[0] for p in pairs], "as_of": pd.to_datetime([p[1] for p in pairs])}
    )


def force_with(notices: list[dict], outcomes: list[dict] | None = None):
    officers = [{"officer_id": o, "joined_on": "2010-01-01"} for o in ("A", "B", "C", "D")]
    return make_force(officers, notices, outcomes)


def test_horizon_is_half_open_from_the_as_of_date() -> None:
    # The module docstring's example: horizon from 2020-01-01 is [2020-01-01, 2020-12-31).
    force = force_with(
        [
            {
                "notice_id": "a",
                "officer_id": "A",
                "received_on": "2020-01-01",
                "category": "violence_use_of_force",
            },
            {
                "notice_id": "b",
                "officer_id": "B",
                "received_on": "2020-12-31",
                "category": "violence_use_of_force",
            },
            {
                "notice_id": "c",
                "officer_id": "C",
                "received_on": "2019-12-31",
                "category": "violence_use_of_force",
            },
            {
                "notice_id": "d",
                "officer_id": "D",
                "received_on": "2020-03-01",
                "category": "neglect_of_duty",
            },
        ]
    )
    got = build_labels(
        force,
        rows(("A", "2020-01-01"), ("B", "2020-01-01"), ("C", "2020-01-01"), ("D", "2020-01-01")),
        label=LABEL,
        observed_until=dt.date(2021, 6, 1),
    )
    # A: serious on day 0 counts. B: 365 days later is outside. C: before t. D: not serious.
    assert got.tolist() == [1.0, 0.0, 0.0, 0.0]


def test_gross_misconduct_counts_and_can_be_switched_off() -> None:
    force = force_with(
        [
            {
                "notice_id": "a",
                "officer_id": "A",
                "received_on": "2020-02-01",
                "severity": "gross_misconduct",
            }
        ]
    )
    r = rows(("A", "2020-01-01"))
    assert build_labels(force, r, label=LABEL, observed_until=dt.date(2022, 1, 1)).tolist() == [1.0]
    off = LabelConfig(horizon_days=365, gross_misconduct=False, proven_finding=False)
    assert build_labels(force, r, label=off, observed_until=dt.date(2022, 1, 1)).tolist() == [0.0]


def test_proven_finding_counts_only_once_known() -> None:
    force = force_with(
        [{"notice_id": "a", "officer_id": "A", "received_on": "2020-05-01"}],
        [{"notice_id": "a", "decided_on": "2021-03-01", "finding": "proven"}],
    )
    r = rows(("A", "2020-01-01"))
    known = build_labels(force, r, label=LABEL, observed_until=dt.date(2021, 6, 1))
    assert known.tolist() == [1.0]
    not_yet = build_labels(
        force,
        r,
        label=LABEL,
        observed_until=dt.date(2021, 6, 1),
        findings_known_by=dt.date(2021, 1, 1),
    )
    assert not_yet.tolist() == [0.0]
    on_the_day = build_labels(
        force,
        r,
        label=LABEL,
        observed_until=dt.date(2021, 6, 1),
        findings_known_by=dt.date(2021, 3, 1),
    )
    assert on_the_day.tolist() == [0.0]  # decided on the cut-off date: not yet known


def test_unobserved_horizon_is_nan() -> None:
    force = force_with([])
    got = build_labels(
        force,
        rows(("A", "2020-01-01"), ("A", "2020-07-01")),
        label=LABEL,
        observed_until=dt.date(2020, 12, 31),
    )
    # 2020-01-01 + 365 days = 2020-12-31 <= observed_until: observed. 2020-07-01: not.
    assert got.iloc[0] == 0.0
    assert np.isnan(got.iloc[1])
