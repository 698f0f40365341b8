"""The rolling audit: several weeks of published lists audited together, with a trend per
group, in the weekly audit once enough weeks exist; rates read per 1,000."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from ewp.core.config import Config, FairnessConfig
from ewp.core.contract import ForceData
from ewp.models.fairness import TREND_COLUMNS, rolling_audit

MONDAYS = [
    dt.date(2024, 12, 9),
    dt.date(2024, 12, 16),
    dt.date(2024, 12, 23),
    dt.date(2024, 12, 30),
]
ETHNICITY = FairnessConfig(attributes=("ethnicity",), bootstrap_samples=300)


def _weeks(*, small: int = 0) -> pd.DataFrame:
    """Four weeks: 100 A officers (the same 5 flagged every week) and 100 B officers (10
    flagged a week, a different 10 each week); ``small`` C officers, never flagged."""
    rows = []
    for week, monday in enumerate(MONDAYS):
        a = pd.DataFrame(
            {
                "officer_id": [f"A{i}" for i in range(100)],
                "ethnicity": "A",
                "flagged": np.arange(100) < 5,
            }
        )
        b = pd.DataFrame(
            {
                "officer_id": [f"B{i}" for i in range(100)],
                "ethnicity": "B",
                "flagged": (np.arange(100) >= 10 * week) & (np.arange(100) < 10 * week + 10),
            }
        )
        c = pd.DataFrame(
            {"officer_id": [f"C{i}" for i in range(small)], "ethnicity": "C", "flagged": False}
        )
        rows.append(pd.concat([a, b, c]).assign(as_of=pd.Timestamp(monday)))
    return pd.concat(rows, ignore_index=True).assign(label=np.nan)


def test_pooled_rates_trend_and_distinct_officers_are_hand_worked() -> None:
    result = rolling_audit(_weeks(small=12), config=ETHNICITY, seed=1)
    assert result.weeks == tuple(d.isoformat() for d in MONDAYS)
    # 4 × 5 A flags on 5 officers and 4 × 10 B flags on 40 officers.
    assert result.flags == 60 and result.officers_flagged == 45
    pooled = result.pooled.by_group.set_index(["group", "metric"])
    assert pooled.loc[("A", "flag_rate"), "value"] == pytest.approx(20 / 400)
    assert pooled.loc[("B", "flag_rate"), "value"] == pytest.approx(40 / 400)
    assert pooled.loc[("B", "flag_rate"), "ratio"] == pytest.approx(2.0)
    assert pooled.loc[("A", "flag_rate"), "verdict"] == "reference"  # A and B tie; A by name
    assert list(result.trend.columns) == list(TREND_COLUMNS)
    trend = result.trend.set_index(["group", "as_of"])
    assert trend.loc[("B", "2024-12-16"), "flag_rate"] == pytest.approx(0.1)
    assert trend.loc[("A", "2024-12-30"), "flagged"] == 5
    # C has 12 officers a week: no number about it, any week.
    c = result.trend.loc[result.trend["group"] == "C"]
    assert len(c) == 4 and c["flag_rate"].isna().all() and c["n"].isna().all()


def test_an_officer_listed_every_week_is_one_unit_of_evidence() -> None:
    # A's five officers are flagged every week: the interval of A's pooled rate is that of 5
    # officers in 100 (clustered), wider than 20 independent flags in 400 rows would give.
    result = rolling_audit(_weeks(), config=ETHNICITY, seed=1)
    a = result.pooled.by_group.set_index(["group", "metric"]).loc[("A", "flag_rate")]
    # Binomial(100, 0.05) / 100: 95% interval about 0.01–0.10; rows as independent would give
    # Binomial(400, 0.05) / 400: about 0.03–0.07.
    assert a["ci_low"] < 0.025 and a["ci_high"] > 0.085


def _force() -> ForceData:
    officers = pd.DataFrame(
        {
            "officer_id": [f"A{i}" for i in range(100)] + [f"B{i}" for i in range(100)],
            "joined_on": pd.Timestamp("2015-01-01"),
            "left_on": pd.NaT,
            "rank": "PC",
            "unit": "U1",
            "ethnicity": ["A"] * 100 + ["B"] * 100,
            "gender": "Male",
            "birth_year": 1985,
        }
    )
    # A force with no complaints: every officer is in the cohort, none has a history.
    notices = pd.DataFrame(
        {
            "notice_id": pd.Series(dtype="str"),
            "case_id": pd.Series(dtype="str"),
            "officer_id": pd.Series(dtype="str"),
            "received_on": pd.Series(dtype="datetime64[ns]"),
            "incident_on": pd.Series(dtype="datetime64[ns]"),
            "category": pd.Series(dtype="str"),
            "source": pd.Series(dtype="str"),
            "severity": pd.Series(dtype="str"),
        }
    )
    outcomes = pd.DataFrame(
        {
            "notice_id": pd.Series(dtype="str"),
            "decided_on": pd.Series(dtype="datetime64[ns]"),
            "finding": pd.Series(dtype="str"),
            "sanction": pd.Series(dtype="str"),
        }
    )
    return ForceData(officers=officers, notices=notices, outcomes=outcomes)


def _published() -> pd.DataFrame:
    weeks = _weeks()
    flagged = weeks.loc[weeks["flagged"], ["as_of", "officer_id"]]
    return flagged.assign(as_of=flagged["as_of"].dt.date)


def test_the_window_covers_the_configured_weeks_and_needs_enough_of_them() -> None:
    from ewp.flows.audit import weekly_rolling_audit

    config = Config(
        fairness=ETHNICITY.model_copy(update={"rolling_weeks": 3, "rolling_min_weeks": 3})
    )
    lists = _published()
    # 3 weeks up to 2024-12-30: 2024-12-16, 12-23 and 12-30 (12-09 is outside).
    result = weekly_rolling_audit(_force(), lists, as_of=dt.date(2024, 12, 30), config=config)
    assert result is not None and result.weeks == ("2024-12-16", "2024-12-23", "2024-12-30")
    assert result.flags == 45
    # Up to 2024-12-23 only two weeks of lists exist in its window: not enough.
    assert weekly_rolling_audit(_force(), lists, as_of=dt.date(2024, 12, 16), config=config) is None


def test_the_weekly_audit_shows_the_pooled_weeks_with_rates_per_1000_and_a_trend() -> None:
    from ewp.reports.audit import render_audit_report

    result = rolling_audit(_weeks(), config=ETHNICITY, seed=1)
    html = render_audit_report(
        title="Fairness audit of the list of 2024-12-30",
        scope="weekly list",
        audit=result.pooled,
        sources=None,
        tradeoff=None,
        config=ETHNICITY,
        provenance={"model_version": "m", "data_fingerprint": "d", "config_name": "c"},
        rolling=result,
    )
    section = re.search(r'<section id="rolling">(.*?)</section>', html, flags=re.S).group(1)
    assert "from 2024-12-09 to 2024-12-30 (4 weeks, 60 flags on 45 distinct officers)" in section
    assert '<td class="num">100.0 per 1,000 [' in section  # B: 40 flags in 400 officer-weeks
    assert '<td class="num">50.0 per 1,000 [' in section
    chart = re.search(r'<svg class="plot" role="img".*?</svg>', section, flags=re.S).group(0)
    assert '<title id="trend-ethnicity-title">' in chart
    assert chart.count("<path d=") == 2  # one line per group
    assert "B: 2024-12-09 100.0 per 1,000" in chart
    assert "0.05" not in section and "0.1 " not in section  # never a bare fraction
