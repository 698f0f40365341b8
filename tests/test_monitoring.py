"""Monitoring the champion in service: matured lists worked out by hand on a tiny force, drift
planted in a larger one, what reviewers did, and nothing known after a week used for it."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ewp.core.config import Config, MonitoringConfig
from ewp.core.contract import ForceData
from ewp.features.history import build_features
from ewp.flows.monitor import assess, build_reference
from ewp.models.flags import build_flag_list
from ewp.models.monitoring import (
    NOT_REVIEWED,
    PUBLISHED,
    Distribution,
    category_stability,
    matured_precision,
    population_stability,
)
from ewp.models.rules import CountRanker
from ewp.stores.health import Health, health_summary
from ewp.stores.review import ReviewStore
from tests.builders import make_force

DECISIONS = ("no_action", "supervisor_conversation", "referral_to_professional_standards")
WEEK_1, WEEK_2, WEEK_3 = dt.date(2020, 1, 6), dt.date(2020, 2, 3), dt.date(2021, 1, 4)
EXTRACTED = dt.date(2021, 6, 30)


# -- the PSI -----------------------------------------------------------------------------------


def test_psi_matches_the_worked_example() -> None:
    # Edges [0.5, 1]: shares (0.5, 0.5, 0) against (0, 0.75, 0.25), empty bins at 0.0001.
    expected = (
        (0.0001 - 0.5) * math.log(0.0001 / 0.5)
        + (0.75 - 0.5) * math.log(0.75 / 0.5)
        + (0.25 - 0.0001) * math.log(0.25 / 0.0001)
    )
    assert population_stability([0, 0, 1, 1], [1, 1, 1, 3], bins=2) == pytest.approx(expected)
    assert Distribution.of([0, 0, 1, 1], bins=2) == Distribution((0.5, 1.0), (0.5, 0.5, 0.0))


def test_psi_is_zero_for_the_same_distribution_and_sees_a_count_leave_zero() -> None:
    assert population_stability([0, 0, 0, 1], [0, 0, 0, 1], bins=10) == pytest.approx(0.0)
    # A count that was always 0 in the reference: bins "<= 0" and "> 0" still tell them apart.
    assert population_stability([0, 0, 0, 0], [2, 2, 0, 0], bins=10) > 0.25


def test_category_psi_counts_a_category_the_reference_never_had() -> None:
    reference = {"neglect_of_duty": 0.5, "other": 0.5}
    same = pd.Series(["neglect_of_duty", "other"])
    assert category_stability(reference, same) == pytest.approx(0.0)
    moved = pd.Series(["other", "other", "discrimination", "other"])
    expected = (
        (0.0001 - 0.5) * math.log(0.0001 / 0.5)
        + (0.75 - 0.5) * math.log(1.5)
        + (0.25 - 0.0001) * math.log(0.25 / 0.0001)
    )
    assert category_stability(reference, moved) == pytest.approx(expected)


# -- matured precision on a tiny force, by hand --------------------------------------------------


def tiny_force() -> ForceData:
    """Six officers. Cases in the 180 days before both lists: A 3, B 1, E 2; D 1 before the
    second list only (received 2020-01-10). Escalations (serious notices): A 2020-03-01, C
    2020-06-01, D 2020-01-10 and 2020-03-15."""
    officers = [
        {"officer_id": o, "joined_on": "2010-01-01", "unit": "Unit 2" if o == "F" else "Unit 1"}
        for o in "ABCDEF"
    ]
    notices = [
        ("a1", "A", "2019-09-01", "neglect_of_duty"),
        ("a2", "A", "2019-10-01", "neglect_of_duty"),
        ("a3", "A", "2019-11-01", "neglect_of_duty"),
        ("a4", "A", "2020-03-01", "violence_use_of_force"),
        ("b1", "B", "2019-12-01", "neglect_of_duty"),
        ("c1", "C", "2020-06-01", "sexual_misconduct"),
        ("d1", "D", "2020-01-10", "violence_use_of_force"),
        ("d2", "D", "2020-03-15", "violence_use_of_force"),
        ("e1", "E", "2019-10-15", "neglect_of_duty"),
        ("e2", "E", "2019-11-15", "neglect_of_duty"),
    ]
    return make_force(
        officers,
        [
            {"notice_id": n, "officer_id": o, "received_on": d, "category": c}
            for n, o, d, c in notices
        ],
    )


def champion_of(data: ForceData, config: Config) -> CountRanker:
    """A champion reading the features by name, as a registered one does."""
    matrix = build_features(data, [WEEK_1], config=config.features)
    columns = [c for c in matrix.columns if c not in ("officer_id", "unit", "as_of")]
    labels = np.array([1, 0, 1, 1, 0, 0])
    return CountRanker(feature="notices_365d").fit(matrix[columns], labels)


def publish(store: ReviewStore, as_of: dt.date, officers: list[str]) -> None:
    """Publish a list as ``ewp score`` records it (score 0.5 each)."""
    flagged = pd.DataFrame(
        {
            "officer_id": officers,
            "unit": ["Unit 1"] * len(officers),
            "as_of": [pd.Timestamp(as_of)] * len(officers),
            "score": [0.5] * len(officers),
            "rank": range(1, len(officers) + 1),
        }
    )
    reasons = pd.DataFrame(
        {
            "officer_id": officers,
            "rank": [1] * len(officers),
            "sentence": ["a reason"] * len(officers),
        }
    )
    flags = build_flag_list(
        flagged=flagged,
        reasons=reasons,
        model_version="count_ranker-x (v1)",
        data_fingerprint="sha256:0",
        reasons_per_flag=1,
    )
    store.publish_flags(flags, actor="ewp score")


@pytest.fixture
def tiny(tmp_path: Path):
    config = Config()
    data = tiny_force()
    store = ReviewStore(f"sqlite:///{tmp_path / 'review.db'}")
    publish(store, WEEK_1, ["B", "C"])
    publish(store, WEEK_2, ["A", "D", "F"])
    publish(store, WEEK_3, ["E"])
    flags = store.flags_frame()
    flag_of = {(r.as_of, r.officer_id): r.flag_id for r in flags.itertuples()}
    for (week, officer), (decision, day) in {
        (WEEK_1, "B"): ("no_action", "2020-01-20"),
        (WEEK_1, "C"): ("supervisor_conversation", "2020-02-03"),
        (WEEK_2, "D"): ("referral_to_professional_standards", "2020-02-10"),
    }.items():
        store.record_decision(
            flag_id=flag_of[(week, officer)],
            decision=decision,
            reviewer="ps.ahmed",
            decided_on=dt.date.fromisoformat(day),
            allowed=DECISIONS,
        )
    flags = store.flags_frame()
    store.close()
    model = champion_of(data, config)
    reference = build_reference(
        data, model=model, config=config, dates=(dt.date(2019, 11, 1), dt.date(2019, 12, 1))
    )
    result = assess(
        data,
        flags=flags,
        model=model,
        reference=reference,
        config=config,
        extracted_on=EXTRACTED,
        suppressed={WEEK_1: 0, WEEK_2: 2},
    )
    return result


def test_matured_precision_matches_the_hand_computation(tiny) -> None:
    weeks = tiny.matured.weeks.set_index("as_of")
    # Week 1: published {B, C}: C escalated. The rule (3+ complaints in 180 days) flags A and
    # fills its second place with E (2 complaints): A escalated.
    # Week 2: published {A, D, F}: A and D escalated. The rule lists A, E, and B and D tie (1
    # complaint each) for the third place: each holds half of it; D escalated.
    assert weeks.index.tolist() == [pd.Timestamp(WEEK_1), pd.Timestamp(WEEK_2)]
    assert weeks["flagged"].tolist() == [2, 3]
    assert weeks["flagged_escalated"].tolist() == [1.0, 2.0]
    assert weeks["rule_places"].tolist() == [2.0, 3.0]
    assert weeks["rule_escalated"].tolist() == [1.0, 1.5]
    assert weeks["cohort"].tolist() == [6, 6]
    assert weeks["escalated"].tolist() == [3, 3]  # A, C, D both weeks
    pooled = tiny.matured.pooled.set_index("candidate")
    assert pooled.loc[PUBLISHED, "precision"] == pytest.approx(3 / 5)
    assert pooled.loc["rule_3_in_180d", "precision"] == pytest.approx(2.5 / 5)
    assert tiny.matured.difference["difference"] == pytest.approx(0.1)
    low, high = pooled.loc[PUBLISHED, ["precision_low", "precision_high"]]
    assert low <= 0.6 <= high
    # The list of 2021-01-04 matures on 2022-01-04, after the export: not measured yet.
    assert tiny.pending.to_dict("records") == [
        {"as_of": WEEK_3, "flagged": 1, "matures_on": dt.date(2022, 1, 4)}
    ]
    assert tiny.left_out == 0


def test_calibration_of_matured_flags(tiny) -> None:
    # Every flag was published with score 0.5; 3 of the 5 matured flags escalated.
    assert tiny.calibration == {"flags": 5.0, "predicted": 0.5, "observed": 0.6, "breach": False}


def test_what_reviewers_did(tiny) -> None:
    reviews = tiny.reviews
    decisions = reviews.decisions.set_index("decision")
    assert decisions["flags"].to_dict() == {
        NOT_REVIEWED: 3,
        "no_action": 1,
        "referral_to_professional_standards": 1,
        "supervisor_conversation": 1,
    }
    assert decisions.loc["no_action", "median_days"] == 14
    assert decisions.loc["supervisor_conversation", "median_days"] == 28
    assert decisions.loc["referral_to_professional_standards", "median_days"] == 7
    assert reviews.never_reviewed == pytest.approx(0.5)
    # Matured flags by decision: B no action (no escalation), C conversation (escalated), D
    # referral (escalated), A and F not reviewed (A escalated).
    outcomes = reviews.outcomes.set_index("decision")
    assert outcomes["matured_flags"].to_dict() == {
        NOT_REVIEWED: 2,
        "no_action": 1,
        "referral_to_professional_standards": 1,
        "supervisor_conversation": 1,
    }
    assert outcomes["escalated"].to_dict() == {
        NOT_REVIEWED: 1,
        "no_action": 0,
        "referral_to_professional_standards": 1,
        "supervisor_conversation": 1,
    }
    weeks = reviews.weeks.set_index("as_of")
    assert weeks["suppressed"].iloc[:2].tolist() == [0, 2]
    assert pd.isna(weeks["suppressed"].iloc[2])  # no manifest recorded it
    assert weeks["not_reviewed"].tolist() == [0, 2, 1]


def test_matured_precision_worked_example() -> None:
    rows = pd.DataFrame(
        {
            "as_of": ["w1"] * 4 + ["w2"] * 4,
            "officer_id": list("ABCD") * 2,
            "label": [1, 0, 1, 0] * 2,
            "flagged": [True, True, False, False, True, False, False, False],
            "rule_score": [0.5, 0.4, 1.0, 1.0, 0.9, 0.1, 0.9, 0.0],
            "score": [0.3, 0.2, np.nan, np.nan, 0.3, np.nan, np.nan, np.nan],
        }
    )
    result = matured_precision(rows, rule="rule", samples=50, seed=1, confidence=0.9)
    assert result.weeks["precision"].tolist() == [0.5, 1.0]
    assert result.weeks["rule_precision"].tolist() == [0.5, 1.0]
    assert result.weeks["mean_predicted"].tolist() == pytest.approx([0.25, 0.3])


# -- drift planted in a larger force, and what was known then ------------------------------------


def steady_force(seed: int = 7) -> ForceData:
    """300 officers in three units, notices at a steady rate (about one per officer a year,
    2018-2021) in three categories."""
    rng = np.random.default_rng(seed)
    officers = [
        {"officer_id": f"P{i:03d}", "joined_on": "2010-01-01", "unit": f"Unit {i % 3 + 1}"}
        for i in range(300)
    ]
    start, days = pd.Timestamp("2018-01-01"), 4 * 365
    count = rng.poisson(4.0 * 300)
    notices = [
        {
            "notice_id": f"N{n:05d}",
            "officer_id": f"P{rng.integers(300):03d}",
            "received_on": (start + pd.Timedelta(days=int(rng.integers(days)))).date().isoformat(),
            "category": str(
                rng.choice(["neglect_of_duty", "discreditable_conduct", "violence_use_of_force"])
            ),
        }
        for n in range(count)
    ]
    return make_force(officers, notices)


REFERENCE_DATES = tuple(dt.date(2019, m, 1) for m in range(1, 13))
LATE_WEEK = dt.date(2021, 3, 1)
EARLY_WEEK = dt.date(2020, 6, 1)


def weekly_flags(weeks: list[dt.date], officers: list[str]) -> pd.DataFrame:
    """A list of two officers a week, as the review store gives it back."""
    return pd.DataFrame(
        [
            {
                "flag_id": f"{week}-{o}",
                "as_of": week,
                "officer_id": o,
                "score": 0.5,
                "model_version": "m (v1)",
                "decision": None,
                "decided_on": None,
            }
            for week in weeks
            for o in officers
        ]
    )


@pytest.fixture(scope="module")
def steady():
    config = Config(monitoring=MonitoringConfig())
    data = steady_force()
    matrix = build_features(data, [REFERENCE_DATES[-1]], config=config.features)
    # Inputs that are steady in a force with no turnover and no findings (tenure and
    # counts over all history grow with the export, which is drift too).
    columns = ["notices_180d", "notices_365d", "cases_180d", "notices_90d"]
    labels = (matrix["notices_365d"] >= 2).astype("int64").to_numpy()
    model = CountRanker(feature="notices_365d", tie_breaker="notices_90d").fit(
        matrix[columns], labels
    )
    reference = build_reference(data, model=model, config=config, dates=REFERENCE_DATES)
    return config, data, model, reference


def drift_of(steady, data: ForceData, weeks: list[dt.date]) -> tuple[pd.DataFrame, object]:
    config, _, model, reference = steady
    result = assess(
        data,
        flags=weekly_flags(weeks, ["P001", "P002"]),
        model=model,
        reference=reference,
        config=config,
        extracted_on=dt.date(2021, 12, 31),
        suppressed={},
    )
    return result.drift.set_index(["as_of", "measure", "name"]), result


def breached(drift: pd.DataFrame, week: dt.date) -> set[str]:
    at = drift.loc[week]
    return set(at.loc[at["breach"]].index.get_level_values("measure"))


def test_a_steady_force_breaches_nothing(steady) -> None:
    drift, _ = drift_of(steady, steady[1], [EARLY_WEEK, LATE_WEEK])
    assert breached(drift, EARLY_WEEK) == set()
    assert breached(drift, LATE_WEEK) == set()


def test_a_renamed_unit_is_flagged_against_the_frozen_reference(steady) -> None:
    data = steady[1]
    officers = data.officers.assign(unit=data.officers["unit"].replace({"Unit 1": "Unit 1 North"}))
    renamed = ForceData(officers=officers, notices=data.notices, outcomes=data.outcomes)
    drift, _ = drift_of(steady, renamed, [LATE_WEEK])
    assert breached(drift, LATE_WEEK) == {"new_units"}
    assert drift.loc[(LATE_WEEK, "new_units", "unit"), "value"] == pytest.approx(100 / 300)


def test_a_remapped_category_is_flagged_from_the_week_it_shows(steady) -> None:
    data = steady[1]
    notices = data.notices.copy()
    late = notices["received_on"] >= pd.Timestamp("2021-01-01")
    notices.loc[late & (notices["category"] == "neglect_of_duty"), "category"] = "other"
    remapped = ForceData(officers=data.officers, notices=notices, outcomes=data.outcomes)
    drift, _ = drift_of(steady, remapped, [EARLY_WEEK, LATE_WEEK])
    assert "categories" in breached(drift, LATE_WEEK)
    assert breached(drift, EARLY_WEEK) == set()


def test_a_reporting_change_is_flagged(steady) -> None:
    data = steady[1]
    late = data.notices.loc[data.notices["received_on"] >= pd.Timestamp("2021-01-01")]
    doubled = pd.concat([data.notices, late.assign(notice_id=late["notice_id"] + "x")])
    changed = ForceData(officers=data.officers, notices=doubled, outcomes=data.outcomes)
    drift, _ = drift_of(steady, changed, [LATE_WEEK])
    assert "notice_rate" in breached(drift, LATE_WEEK)
    assert drift.loc[(LATE_WEEK, "notice_rate", "notices per officer"), "value"] > 0.6


def test_nothing_known_after_a_week_changes_what_the_monitor_says_was_known_then(steady) -> None:
    """Events on or after the week (notices, a finding) change its outcomes, never the
    features, scores, rule list or drift the monitor computes for it."""
    data = steady[1]
    later = pd.DataFrame(
        {
            "notice_id": [f"L{i}" for i in range(40)],
            "case_id": [f"L{i}" for i in range(40)],
            "officer_id": [f"P{i:03d}" for i in range(40)],
            "received_on": pd.to_datetime([EARLY_WEEK] * 20 + [dt.date(2020, 9, 1)] * 20),
            "incident_on": pd.NaT,
            "category": "sexual_misconduct",
            "category_raw": "sexual_misconduct",
            "source": "public",
            "severity": pd.NA,
        }
    )
    finding = pd.DataFrame(
        {
            "notice_id": [data.notices["notice_id"].iloc[0]],
            "decided_on": pd.to_datetime([EARLY_WEEK]),
            "finding": ["proven"],
            "sanction": ["written_warning"],
        }
    )
    more = ForceData(
        officers=data.officers,
        notices=pd.concat([data.notices, later], ignore_index=True),
        outcomes=pd.concat([data.outcomes, finding], ignore_index=True),
    )
    before, first = drift_of(steady, data, [EARLY_WEEK])
    after, second = drift_of(steady, more, [EARLY_WEEK])
    pd.testing.assert_frame_equal(before, after)
    known = ["as_of", "officer_id", "unit", "score", "rule_score"]
    pd.testing.assert_frame_equal(first.rows[known], second.rows[known])
    # The outcomes did change: 40 more officers escalated within the year.
    assert second.rows["label"].sum() > first.rows["label"].sum()


def test_health_line_says_when_monitoring_is_missing_or_old() -> None:
    health = Health(
        monitored_on="2021-06-30",
        latest_week="2021-06-28",
        matured_weeks=12,
        precision=0.125,
        rule_precision=0.1,
        breaches=("model input notices_365d has shifted (PSI 0.31)",),
    )
    line = health_summary(health, today=dt.date(2021, 7, 10), max_age_days=45)
    assert line == (
        "Monitoring (export of 2021-06-30): 1 warning: model input notices_365d has shifted "
        "(PSI 0.31). Matured lists (12 weeks): 12.5% of flags escalated, the rule's 10.0%."
    )
    old = health_summary(health, today=dt.date(2021, 9, 1), max_age_days=45)
    assert old.startswith("Out of date (63 days old): Monitoring")
    assert health_summary(None, today=dt.date(2021, 9, 1), max_age_days=45).startswith(
        "Monitoring: not run yet"
    )


def test_a_mistyped_monitoring_key_is_named_with_the_keys_allowed(tmp_path: Path) -> None:
    from ewp.core.config import ConfigError, load_config

    path = tmp_path / "bad.yaml"
    path.write_text("monitoring:\n  psi_treshold: 0.2\n")
    with pytest.raises(
        ConfigError,
        match=r"monitoring\.psi_treshold: unknown key \(expected one of: calibration_tolerance, "
        r"category_psi_threshold",
    ):
        load_config(path)
    path.write_text("monitoring:\n  new_unit_share: 1.5\n")
    with pytest.raises(ConfigError, match=r"monitoring\.new_unit_share"):
        load_config(path)
