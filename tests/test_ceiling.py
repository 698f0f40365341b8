"""Tests of ``ewp.benchmarks.ceiling``: the oracle, the history ceiling and the rule on test
dates."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ewp.benchmarks.ceiling import evaluate_seed, evaluation_as_of_dates, summarise
from ewp.core.config import load_config
from ewp.data.synthetic import generate_configured_force


@pytest.fixture(scope="module")
def small_config():
    config = load_config(None)
    return config.model_copy(
        update={
            "synthetic": config.synthetic.model_copy(
                update={"officers": 3_000, "start_year": 2016, "end_year": 2020}
            ),
            "evaluation": config.evaluation.model_copy(
                update={"test_dates": (dt.date(2019, 1, 1),), "test_block_days": 90}
            ),
        }
    )


def test_evaluation_dates_are_the_months_of_each_block(small_config) -> None:
    assert evaluation_as_of_dates(small_config) == [
        dt.date(2019, 1, 1),
        dt.date(2019, 2, 1),
        dt.date(2019, 3, 1),
    ]


def test_rule_volume_and_its_true_positives_match_a_direct_count(small_config) -> None:
    """The rule's flags on 1 February 2019, counted here from the raw notices: officers with 3
    or more notices received in the 180 days before; its true positives, those of them with
    a serious / gross misconduct / proven notice received in the following 365 days."""
    per_date = evaluate_seed(small_config, seed=5).set_index("as_of")
    force = generate_configured_force(small_config.synthetic, seed=5)
    as_of = pd.Timestamp("2019-02-01")
    serving = force.ground_truth.loc[force.ground_truth["as_of"] == as_of, "officer_id"]
    notices = force.notices.merge(force.outcomes, on="notice_id", how="left")
    recent = notices[
        (notices["received_on"] >= as_of - pd.Timedelta(days=180))
        & (notices["received_on"] < as_of)
    ]
    counts = recent["officer_id"].value_counts()
    flagged = set(counts.index[counts >= 3]) & set(serving)
    label = small_config.label
    future = notices[
        (notices["received_on"] >= as_of)
        & (notices["received_on"] < as_of + pd.Timedelta(days=label.horizon_days))
        & (
            notices["category"].isin(label.serious_categories)
            | (notices["severity"] == "gross_misconduct")
            | (notices["finding"] == "proven")
        )
    ]
    row = per_date.loc[as_of]
    assert row["rule_volume"] == len(flagged)
    assert row["rule_tp"] == len(flagged & set(future["officer_id"]))
    assert row["top_k"] == -(-len(serving) // 100)  # ceil(1% of serving officers)


def test_summary_pools_true_positives_per_seed() -> None:
    """Two dates of one seed, by hand: top lists of 10 and 10, the oracle finds 3 + 1 and the
    ceiling 2 + 0 (precision 0.2 and 0.1, ratio 0.5); the rule flags 2 + 2, finds 1 + 1, and
    the ceiling finds 3 at its volume (1.5x)."""
    per_date = pd.DataFrame(
        {
            "seed": [7, 7],
            "as_of": pd.to_datetime(["2020-01-01", "2020-02-01"]),
            "top_k": [10, 10],
            "rule_volume": [2, 2],
            "rule_tp": [1, 1],
            "oracle_top_tp": [3.0, 1.0],
            "oracle_rule_volume_tp": [1.0, 0.0],
            "ceiling_top_tp": [2.0, 0.0],
            "ceiling_rule_volume_tp": [2.0, 1.0],
        }
    )
    row = summarise(per_date).loc[7]
    assert row["oracle_precision_top_1pct"] == pytest.approx(0.2)
    assert row["ceiling_precision_top_1pct"] == pytest.approx(0.1)
    assert row["ceiling_over_oracle"] == pytest.approx(0.5)
    assert row["rule_volume"] == 4 and row["rule_tp"] == 2
    assert row["oracle_tp_at_rule_volume"] == 1 and row["ceiling_tp_at_rule_volume"] == 3
    assert row["ceiling_tp_over_rule"] == pytest.approx(1.5)
