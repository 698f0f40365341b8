"""The oversight report on the synthetic force recovers what the generator was calibrated to
(``ewp.data.synthetic.CALIBRATION_TARGETS``, from ``shared/domain.md``).

Force: 8,000 officers, 2013–2024, the Met reporting bias, seed 11 (the smallest of the sizes
tried whose Black, Asian and Mixed disparity ratios are all within tolerance: at 3,000 officers
the 120 Black officers give a ratio of 2.08). Tolerances, stated once: every figure within the
generator's own ``RELATIVE_TOLERANCE`` (±15%) of its target, as ``calibration_report`` accepts
the generator itself; and the disparity figures, which are the same definition as the
generator's (notices per serving officer-year up to the export date), equal
``calibration_report``'s to 0.1% (the generator counts service from the run's first day, the
report from the first notice's).
"""

from __future__ import annotations

import pandas as pd
import pytest

from ewp.core.config import FairnessConfig
from ewp.core.contract import ForceData
from ewp.data.synthetic import (
    CALIBRATION_TARGETS,
    RELATIVE_TOLERANCE,
    SyntheticForce,
    calibration_report,
    generate_force,
)
from ewp.models.oversight import Oversight, oversight

BIAS = {"Black": 0.81, "Asian": 0.55, "Mixed": 0.41}


@pytest.fixture(scope="module")
def force() -> SyntheticForce:
    return generate_force(
        officers=8_000, seed=11, reporting_bias=BIAS, start_year=2013, end_year=2024
    )


@pytest.fixture(scope="module")
def report(force: SyntheticForce) -> Oversight:
    data = ForceData(force.officers, force.notices, force.outcomes)
    return oversight(
        data,
        as_of=force.extracted_on,
        extracted_on=force.extracted_on,
        config=FairnessConfig(bootstrap_samples=200),
        seed=1,
    )


def _within(value: float, target: str) -> bool:
    expected = CALIBRATION_TARGETS[target]
    return abs(value - expected) <= RELATIVE_TOLERANCE * expected


def test_time_to_decide_recovers_mean_400_days_and_one_in_five_over_two_years(
    report: Oversight,
) -> None:
    overall = report.durations.loc[report.durations["by"] == "all"].iloc[0]
    assert not overall["mean_restricted"]  # the longest case was decided
    assert _within(overall["mean_days"], "mean_days_to_decision"), overall["mean_days"]
    assert _within(overall["over_two_years"], "share_decisions_over_730_days"), overall[
        "over_two_years"
    ]
    assert overall["open"] > 0  # open cases were counted, censored


def test_findings_recover_no_case_to_answer_and_case_to_answer(report: Oversight) -> None:
    overall = report.findings.loc[report.findings["by"] == "all"].iloc[0]
    assert _within(overall["no_case_to_answer"], "no_case_to_answer_rate")
    assert _within(overall["case_to_answer"], "case_to_answer_rate")
    assert 0.55 * (1 - RELATIVE_TOLERANCE) <= overall["no_case_to_answer"] <= 0.60 * 1.15


def test_disparity_recovers_the_reporting_bias_and_names_its_lower_proven_rate(
    force: SyntheticForce, report: Oversight
) -> None:
    generated = calibration_report(force).set_index("metric")["generated"]
    table = report.disparity.set_index(["family", "attribute", "group", "metric"])
    for group in BIAS:
        row = table.loc[("all sources", "ethnicity", group, "allegations_per_officer_year")]
        target = f"disparity_ratio_{group.lower()}"
        assert row["ratio"] == pytest.approx(generated[target], rel=1e-3)
        assert _within(row["ratio"], target), (group, row["ratio"])
        assert row["ratio_ci_low"] <= CALIBRATION_TARGETS[target] <= row["ratio_ci_high"]
    # The extra allegations are without merit by construction: proven less often.
    black = table.loc[("all sources", "ethnicity", "Black", "proven_rate")]
    assert black["ratio_ci_high"] < 1
    sentence = [s for s in report.disparity_sentences if s.startswith("All sources: Black")]
    assert len(sentence) == 1 and "without merit" in sentence[0]


def test_calibration_figures_match_the_generators_own_where_definitions_agree(
    force: SyntheticForce, report: Oversight
) -> None:
    generated = calibration_report(force).set_index("metric")["generated"]
    overall = report.findings.loc[report.findings["by"] == "all"].iloc[0]
    assert overall["no_case_to_answer"] == pytest.approx(generated["no_case_to_answer_rate"])
    assert overall["case_to_answer"] == pytest.approx(generated["case_to_answer_rate"])
    assert isinstance(report.trend, pd.DataFrame) and len(report.trend) == 48  # 12 years
