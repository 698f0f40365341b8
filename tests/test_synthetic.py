"""Tests of the synthetic force generator: determinism, contract, calibration, reporting bias.

Contract and structure checks use one 8,000-officer force (module-scoped). Calibration is
checked on Met-size runs (34,000 officers, ~5 s each): at 8,000 officers the small groups
(4% Black, 7% Asian, 4% Mixed) make the disparity ratios too noisy for ±15% (standard deviation
~9% across seeds), and the share of decisions over two years occasionally drifts out (1 seed in
25). Run with ``-s`` to see the Met-size calibration table and its runtime.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from ewp.core import contract
from ewp.data import synthetic
from ewp.data.synthetic import (
    CALIBRATION_TARGETS,
    ETHNICITY_SHARES,
    GENDER_SHARES,
    RANKS,
    SyntheticForce,
    calibration_report,
    generate_force,
)

MET_BIAS = {"Black": 0.81, "Asian": 0.55, "Mixed": 0.41}
YEARS = {"start_year": 2013, "end_year": 2024}
SMALL_OFFICERS = 8_000
MET_OFFICERS = 34_000
DISPARITY_METRICS = ("disparity_ratio_black", "disparity_ratio_asian", "disparity_ratio_mixed")


@pytest.fixture(scope="module")
def small_force() -> SyntheticForce:
    return generate_force(officers=SMALL_OFFICERS, seed=11, reporting_bias=MET_BIAS, **YEARS)


@pytest.fixture(scope="module")
def met_force() -> tuple[SyntheticForce, float]:
    started = time.perf_counter()
    force = generate_force(officers=MET_OFFICERS, seed=7, reporting_bias=MET_BIAS, **YEARS)
    return force, time.perf_counter() - started


@pytest.fixture(scope="module")
def unbiased_met_force() -> SyntheticForce:
    return generate_force(officers=MET_OFFICERS, seed=7, reporting_bias={}, **YEARS)


def _report(force: SyntheticForce) -> pd.DataFrame:
    return calibration_report(force).set_index("metric")


# --- determinism ---------------------------------------------------------------------------
def test_same_seed_gives_identical_tables_and_another_seed_does_not() -> None:
    args = {"officers": 3_000, "reporting_bias": MET_BIAS, **YEARS}
    first, again = generate_force(seed=5, **args), generate_force(seed=5, **args)
    for table in ("officers", "notices", "outcomes", "ground_truth"):
        pd.testing.assert_frame_equal(getattr(first, table), getattr(again, table))
    assert first.extracted_on == again.extracted_on
    other = generate_force(seed=6, **args)
    assert not first.notices.equals(other.notices)
    assert not first.officers.equals(other.officers)


# --- calibration against domain.md ---------------------------------------------------------
@pytest.mark.parametrize(
    "metric",
    [
        "share_accused_with_2plus_notices",
        "no_case_to_answer_rate",
        "case_to_answer_rate",
        "mean_days_to_decision",
        "share_decisions_over_730_days",
    ],
)
def test_calibrated_within_fifteen_percent(
    met_force: tuple[SyntheticForce, float], metric: str
) -> None:
    row = _report(met_force[0]).loc[metric]
    target = CALIBRATION_TARGETS[metric]
    assert row["tolerance"] == 0.15
    assert abs(row["generated"] - target) <= 0.15 * target, (metric, row["generated"], target)
    assert row["within_tolerance"]


def test_met_size_disparity_matches_domain(
    met_force: tuple[SyntheticForce, float],
) -> None:
    force, seconds = met_force
    report = calibration_report(force)
    with pd.option_context("display.width", 120, "display.precision", 3):
        print(f"\nMet-size force ({MET_OFFICERS:,} officers, 2013–2024) in {seconds:.1f} s")
        print(report.to_string(index=False))
    by_metric = report.set_index("metric")
    for metric in DISPARITY_METRICS:
        assert by_metric.loc[metric, "within_tolerance"], by_metric.loc[metric]


def test_without_reporting_bias_there_is_no_disparity(unbiased_met_force: SyntheticForce) -> None:
    report = _report(unbiased_met_force)
    for metric in DISPARITY_METRICS:
        assert report.loc[metric, "generated"] == pytest.approx(1.0, abs=0.15), metric


def test_reporting_bias_adds_notices_but_leaves_merit_process_unchanged(
    met_force: tuple[SyntheticForce, float], unbiased_met_force: SyntheticForce
) -> None:
    biased, _ = met_force
    pd.testing.assert_frame_equal(biased.ground_truth, unbiased_met_force.ground_truth)
    pd.testing.assert_frame_equal(biased.officers, unbiased_met_force.officers)
    assert len(biased.notices) > len(unbiased_met_force.notices)


def test_latent_risk_does_not_depend_on_ethnicity_or_gender(
    unbiased_met_force: SyntheticForce,
) -> None:
    force = unbiased_met_force
    per_officer = force.ground_truth.groupby("officer_id")["escalation_rate"].mean()
    attributes = force.officers.set_index("officer_id").loc[per_officer.index]
    for attribute, reference in (("ethnicity", "White"), ("gender", "Male")):
        means = per_officer.groupby(attributes[attribute].to_numpy()).mean()
        assert (means / means[reference]).between(0.85, 1.15).all(), means


# --- the input contract --------------------------------------------------------------------
def test_vocabularies_and_types(small_force: SyntheticForce) -> None:
    officers, notices, outcomes = small_force.officers, small_force.notices, small_force.outcomes
    assert list(officers.columns) == [
        "officer_id", "joined_on", "left_on", "rank", "unit", "ethnicity", "gender", "birth_year"
    ]  # fmt: skip
    assert list(notices.columns) == [
        "notice_id", "case_id", "officer_id", "received_on", "incident_on", "category", "source",
        "severity",
    ]  # fmt: skip
    assert list(outcomes.columns) == ["notice_id", "decided_on", "finding", "sanction"]
    for table, column, vocabulary in [
        (notices, "category", contract.CATEGORIES),
        (notices, "source", contract.SOURCES),
        (notices, "severity", contract.SEVERITIES),
        (outcomes, "finding", contract.FINDINGS),
        (outcomes, "sanction", contract.SANCTIONS),
        (officers, "rank", RANKS),
        (officers, "ethnicity", tuple(ETHNICITY_SHARES)),
        (officers, "gender", tuple(GENDER_SHARES)),
    ]:
        assert set(table[column]) <= set(vocabulary), column
        assert table[column].dtype == "str", column
    for table, columns in [
        (officers, ("joined_on", "left_on")),
        (notices, ("received_on", "incident_on")),
        (outcomes, ("decided_on",)),
    ]:
        for column in columns:
            assert pd.api.types.is_datetime64_dtype(table[column]), column
    assert officers["officer_id"].str.fullmatch(r"OFF\d{6}").all()
    assert notices["notice_id"].str.fullmatch(r"N\d{7}").all()
    assert notices["case_id"].str.fullmatch(r"C\d{7}").all()
    assert officers["officer_id"].is_unique and notices["notice_id"].is_unique
    assert officers["birth_year"].dtype == "int64"
    assert officers["unit"].nunique() == 32
    assert officers["left_on"].isna().any() and notices["incident_on"].isna().any()


def test_officers_joined_between_18_and_45(small_force: SyntheticForce) -> None:
    officers = small_force.officers
    joining_age = officers["joined_on"].dt.year - officers["birth_year"]
    assert joining_age.between(18, 45).all()


def test_cases_hold_one_to_three_officers_on_one_day(small_force: SyntheticForce) -> None:
    cases = small_force.notices.groupby("case_id").agg(
        officers=("officer_id", "nunique"),
        notices=("notice_id", "size"),
        days=("received_on", "nunique"),
    )
    assert (cases["officers"] == cases["notices"]).all()
    assert cases["notices"].between(1, 3).all() and (cases["notices"] > 1).any()
    assert (cases["days"] == 1).all()


def test_outcomes_follow_their_notices(small_force: SyntheticForce) -> None:
    notices = small_force.notices.set_index("notice_id")
    outcomes = small_force.outcomes
    assert outcomes["notice_id"].is_unique and outcomes["notice_id"].isin(notices.index).all()
    received = notices.loc[outcomes["notice_id"], "received_on"].to_numpy()
    assert (outcomes["decided_on"].to_numpy() >= received).all()
    assert (outcomes["decided_on"] < pd.Timestamp(small_force.extracted_on)).all()
    not_proven = outcomes["finding"] != "proven"
    assert (outcomes.loc[not_proven, "sanction"] == "none").all()
    assert (outcomes.loc[~not_proven, "sanction"] != "none").all()
    assert len(outcomes) < len(notices)  # some notices are still open at extraction
    known = notices["incident_on"].notna()
    assert (notices.loc[known, "incident_on"] <= notices.loc[known, "received_on"]).all()


def test_notices_fall_within_their_officers_service(small_force: SyntheticForce) -> None:
    officers = small_force.officers.set_index("officer_id")
    notices = small_force.notices
    assert notices["officer_id"].isin(officers.index).all()
    service = officers.loc[notices["officer_id"]]
    received = notices["received_on"].to_numpy()
    assert (service["joined_on"].to_numpy() <= received).all()
    left = service["left_on"]
    assert (left.isna().to_numpy() | (received <= left.to_numpy())).all()
    assert notices["received_on"].max() < pd.Timestamp(small_force.extracted_on)


def test_dismissal_ends_service_and_headcount_stays_constant(small_force: SyntheticForce) -> None:
    officers = small_force.officers.set_index("officer_id")
    outcomes = small_force.outcomes.merge(small_force.notices[["notice_id", "officer_id"]])
    dismissed_on = (
        outcomes[outcomes["sanction"] == "dismissal"].groupby("officer_id")["decided_on"].min()
    )
    assert len(dismissed_on) > 0
    left_on = officers.loc[dismissed_on.index, "left_on"]
    assert (left_on.notna() & (left_on <= dismissed_on)).all()
    for year in range(YEARS["start_year"], YEARS["end_year"] + 1):
        day = pd.Timestamp(year, 1, 1)
        serving = (officers["joined_on"] <= day) & (
            officers["left_on"].isna() | (officers["left_on"] >= day)
        )
        assert serving.sum() == pytest.approx(SMALL_OFFICERS, rel=0.01), year
    assert small_force.extracted_on.isoformat() == f"{YEARS['end_year'] + 1}-01-01"


def test_ground_truth_is_monthly_for_serving_officers_without_protected_attributes(
    small_force: SyntheticForce,
) -> None:
    truth = small_force.ground_truth
    assert list(truth.columns) == [
        "officer_id",
        "as_of",
        "escalation_rate",
        "escalation_rate_given_history",
    ]
    assert not set(contract.AUDIT_ONLY_COLUMNS) & set(truth.columns)
    assert (truth["as_of"].dt.day == 1).all()
    assert truth["as_of"].nunique() == 12 * (YEARS["end_year"] - YEARS["start_year"] + 1)
    assert (truth["escalation_rate"] > 0).all()
    assert (truth["escalation_rate_given_history"] > 0).all()
    assert not truth.duplicated(["officer_id", "as_of"]).any()
    service = small_force.officers.set_index("officer_id").loc[truth["officer_id"]]
    as_of = truth["as_of"].to_numpy()
    assert (service["joined_on"].to_numpy() <= as_of).all()
    left = service["left_on"]
    assert (left.isna().to_numpy() | (as_of <= left.to_numpy())).all()


@pytest.mark.parametrize(
    ("bias", "message"),
    [
        ({"White": 0.2}, "reference group"),
        ({"Purple": 0.2}, "expected some of"),
        ({"Black": -1}, ">= 0"),
    ],
)
def test_bad_reporting_bias_is_refused(bias: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_force(officers=10, seed=1, reporting_bias=bias, **YEARS)


# --- the history ceiling ----------------------------------------------------------------------
def _quadrature_posterior_mean(likelihood, quantity) -> float:
    """E[quantity(z) | data] under the clipped lognormal prior, by numerical integration."""
    log_mean = -(synthetic.PROPENSITY_SIGMA**2) / 2
    prior = stats.lognorm(s=synthetic.PROPENSITY_SIGMA, scale=np.exp(log_mean))
    cap = synthetic.PROPENSITY_CAP

    def integral(function) -> float:
        body = integrate.quad(lambda z: prior.pdf(z) * function(z), 0, cap, limit=200)[0]
        return body + prior.sf(cap) * function(cap)  # the mass the cap clips to PROPENSITY_CAP

    return integral(lambda z: likelihood(z) * quantity(z)) / integral(likelihood)


def test_history_posterior_matches_the_docstring_example_by_quadrature() -> None:
    """Three years' exposure at z = 1 (0.078); officer 0 has no notice, officer 1 two minor
    ones at rungs 0 and 1. The grid's posterior means of z × P(serious) match quadrature
    (0.1888 and 1.1983) to 0.5%."""
    exposure = 3 * synthetic.BASE_RATE

    def serious(rung: int, z: float) -> float:
        return float(synthetic._serious_probability(np.array(rung), np.array(z)))

    posterior = synthetic._PropensityPosterior(capacity=2)
    posterior.observe_exposure(np.array([0, 1]), np.array([exposure, exposure]))
    posterior.observe_notices(
        np.array([1, 1]), prior=np.array([0, 1]), serious=np.array([False, False])
    )
    estimate = posterior.expected_serious_intensity(np.array([0, 1]), np.array([0, 2]))

    no_notice = _quadrature_posterior_mean(
        lambda z: np.exp(-exposure * z), lambda z: z * serious(0, z)
    )
    two_minor = _quadrature_posterior_mean(
        lambda z: z**2 * (1 - serious(0, z)) * (1 - serious(1, z)) * np.exp(-exposure * z),
        lambda z: z * serious(2, z),
    )
    assert no_notice == pytest.approx(0.1888, abs=1e-4)
    assert two_minor == pytest.approx(1.1983, abs=1e-4)
    assert estimate == pytest.approx([no_notice, two_minor], rel=0.005)


def test_a_finding_moves_the_posterior_only_once_decided() -> None:
    """A case to answer is evidence of higher propensity, from its decision day on."""
    posterior = synthetic._PropensityPosterior(capacity=1)
    officer, rung = np.array([0]), np.array([1])
    notice = synthetic._Notices(
        officer=officer,
        received_day=np.array([10]),
        incident_day=np.array([5]),
        category=np.array([contract.CATEGORIES.index("neglect_of_duty")]),
        source=np.array([0]),
        severity=np.array([0]),
        finding=np.array([contract.FINDINGS.index("proven")]),
        sanction=np.array([0]),
        decided_day=np.array([100]),
        case_group=np.array([-1]),
    )
    posterior.observe_notices(officer, prior=np.array([0]), serious=np.array([False]))
    posterior.schedule_decisions(notice)
    before = posterior.expected_serious_intensity(officer, rung)
    posterior.observe_decisions_before(100)  # decided on day 100: not known before it
    assert posterior.expected_serious_intensity(officer, rung) == before
    posterior.observe_decisions_before(101)
    after = posterior.expected_serious_intensity(officer, rung)
    assert after > before
    posterior.observe_decisions_before(500)  # applied once only
    assert posterior.expected_serious_intensity(officer, rung) == after


def test_ground_truth_of_a_month_does_not_change_when_the_run_goes_on() -> None:
    """Both truth columns on a month's first day use nothing from that month on: a run two
    years longer, same seed, gives the same values for every shared month."""
    args = {"officers": 2_000, "seed": 3, "reporting_bias": MET_BIAS, "start_year": 2013}
    short = generate_force(end_year=2016, **args).ground_truth
    longer = generate_force(end_year=2018, **args).ground_truth
    shared = longer[longer["as_of"] <= short["as_of"].max()].reset_index(drop=True)
    pd.testing.assert_frame_equal(shared, short)


def test_the_history_estimate_ranks_below_the_truth_but_above_chance(
    small_force: SyntheticForce,
) -> None:
    """What the history can tell lies between nothing and everything: its rank correlation
    with the true rate is well above zero and below one."""
    truth = small_force.ground_truth
    latest = truth[truth["as_of"] == truth["as_of"].max()]
    correlation = latest["escalation_rate"].corr(
        latest["escalation_rate_given_history"], method="spearman"
    )
    assert 0.2 < correlation < 0.9
