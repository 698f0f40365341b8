"""Cases as a unit: one complaint carrying several allegations, worked out by hand.

The export below has four officers. As of 2020-07-01 (180-day window [2020-01-03, 2020-07-01)):

* A: complaint K1 (received 2020-03-01, also naming B) carries 3 allegations against A; K2
  (2020-05-01) 2 allegations, both proven in June; K3 (2020-06-15) 1. 3 complaints, 6
  allegations; K1 and K3 are still open.
* B: K1 (1 allegation) and K4, K5, K6 (1 each): 4 complaints, 4 allegations.
* C: K7 became known 2019-05-01, before the window; a violence allegation was added to it on
  2020-05-01. 0 complaints in the window, 1 allegation.
* D: K9 (2020-04-01) with 3 allegations: 1 complaint, 3 allegations. D is flagged by
  "3+ notices in 180 days" but not by "3+ complaints in 180 days".
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ewp.core.config import CandidateConfig, FeatureConfig, LabelConfig, load_config
from ewp.features.explanations import reason_sentence
from ewp.features.history import build_features
from ewp.features.labels import build_labels
from ewp.features.registry import feature_specs, render_reason, twin_of
from ewp.flows.score import _companion_value
from ewp.models.candidates import build_candidate
from ewp.models.explain import deviation_contributions
from ewp.models.inputs import repeated_columns
from ewp.models.rules import ThresholdRule
from ewp.models.scorecard import ScorecardClassifier
from tests.builders import make_force

AS_OF = dt.date(2020, 7, 1)
CONFIG = FeatureConfig(group_windows_days=(180,))
SPECS = {spec.name: spec for spec in feature_specs(CONFIG)}


def allegation(notice_id: str, case_id: str, officer: str, received: str, **more: str) -> dict:
    return {
        "notice_id": notice_id,
        "case_id": case_id,
        "officer_id": officer,
        "received_on": received,
        "category": "neglect_of_duty",
        "source": "public",
        **more,
    }


FORCE = make_force(
    officers=[{"officer_id": o, "joined_on": "2010-01-01"} for o in "ABCD"],
    notices=[
        allegation("k1a1", "K1", "A", "2020-03-01", category="violence_use_of_force"),
        allegation("k1a2", "K1", "A", "2020-03-01", category="discreditable_conduct"),
        allegation("k1a3", "K1", "A", "2020-03-01"),
        allegation("k1b", "K1", "B", "2020-03-01"),
        allegation("k2a1", "K2", "A", "2020-05-01"),
        allegation("k2a2", "K2", "A", "2020-05-01", source="internal"),
        allegation("k3a", "K3", "A", "2020-06-15"),
        allegation("k4b", "K4", "B", "2020-04-01"),
        allegation("k5b", "K5", "B", "2020-05-01"),
        allegation("k6b", "K6", "B", "2020-06-01"),
        allegation("k7c1", "K7", "C", "2019-05-01"),
        allegation("k7c2", "K7", "C", "2020-05-01", category="violence_use_of_force"),
        allegation("k9d1", "K9", "D", "2020-04-01"),
        allegation("k9d2", "K9", "D", "2020-04-02"),
        allegation("k9d3", "K9", "D", "2020-06-01"),
        allegation("k8d1", "K8", "D", "2020-10-01"),
        allegation("k8d2", "K8", "D", "2021-02-01", category="violence_use_of_force"),
    ],
    outcomes=[
        {"notice_id": "k2a1", "decided_on": "2020-06-01", "finding": "proven"},
        {"notice_id": "k2a2", "decided_on": "2020-06-10", "finding": "proven"},
        {"notice_id": "k1b", "decided_on": "2020-06-20", "finding": "no_case_to_answer"},
    ],
)


@pytest.fixture(scope="module")
def matrix() -> pd.DataFrame:
    return build_features(FORCE, [AS_OF], config=CONFIG).set_index("officer_id")


def test_case_and_allegation_counts(matrix: pd.DataFrame) -> None:
    columns = ["notices_180d", "cases_180d", "notices_all", "cases_all"]
    assert matrix[columns].to_dict("index") == {
        "A": {"notices_180d": 6, "cases_180d": 3, "notices_all": 6, "cases_all": 3},
        "B": {"notices_180d": 4, "cases_180d": 4, "notices_all": 4, "cases_all": 4},
        "C": {"notices_180d": 1, "cases_180d": 0, "notices_all": 2, "cases_all": 1},
        "D": {"notices_180d": 3, "cases_180d": 1, "notices_all": 3, "cases_all": 1},
    }
    # K1 counts once for A (3 allegations) and once for B (1): each officer's part.
    assert matrix["cases_violence_180d"].to_dict() == {"A": 1, "B": 0, "C": 0, "D": 0}
    assert matrix["notices_violence_180d"].to_dict() == {"A": 1, "B": 0, "C": 1, "D": 0}
    # A complaint is in a category or a source if any of its allegations is.
    assert matrix["cases_conduct_180d"].to_dict() == {"A": 3, "B": 4, "C": 0, "D": 1}
    assert matrix["cases_source_internal_180d"].to_dict() == {"A": 1, "B": 0, "C": 0, "D": 0}
    assert matrix["cases_source_public_180d"].to_dict() == {"A": 3, "B": 4, "C": 0, "D": 1}


def test_case_findings_and_open_cases(matrix: pd.DataFrame) -> None:
    a = matrix.loc["A"]
    # K2's two allegations were proven: two proven allegations, one proven complaint.
    assert (a["findings_proven_all"], a["cases_proven_all"]) == (2, 1)
    assert (a["findings_case_to_answer_all"], a["cases_case_to_answer_all"]) == (2, 1)
    # Open: K1 (3 allegations) and K3 (1); K2 is decided.
    assert (a["open_cases"], a["open_notices"]) == (2, 4)
    # B's part in K1 was decided, and K4-K6 are open.
    assert (matrix.loc["B", "open_cases"], matrix.loc["B", "open_notices"]) == (3, 3)
    assert (matrix.loc["C", "open_cases"], matrix.loc["C", "open_notices"]) == (1, 2)


def test_a_complaint_is_open_while_any_allegation_is() -> None:
    # K: one allegation (2020-01-01, decided 2020-02-01), a second added 2020-03-01, decided
    # 2020-04-01: open from 2020-01-02 to 2020-02-01 and from 2020-03-02 to 2020-04-01.
    force = make_force(
        officers=[{"officer_id": "A", "joined_on": "2010-01-01"}],
        notices=[
            allegation("n1", "K", "A", "2020-01-01"),
            allegation("n2", "K", "A", "2020-03-01"),
        ],
        outcomes=[
            {"notice_id": "n1", "decided_on": "2020-02-01", "finding": "withdrawn"},
            {"notice_id": "n2", "decided_on": "2020-04-01", "finding": "withdrawn"},
        ],
    )
    days = ["2020-01-01", "2020-01-02", "2020-02-01", "2020-02-02", "2020-03-02", "2020-04-02"]
    open_cases = build_features(force, [dt.date.fromisoformat(d) for d in days], config=CONFIG)
    assert open_cases["open_cases"].tolist() == [0, 1, 1, 0, 1, 0]


@pytest.mark.parametrize(
    ("feature", "flagged"),
    [("cases_180d", ["A", "B"]), ("notices_180d", ["A", "B", "D"])],
)
def test_the_complaint_rule_and_the_allegation_rule(
    matrix: pd.DataFrame, feature: str, flagged: list[str]
) -> None:
    x = matrix[list(SPECS)]
    rule = ThresholdRule(feature=feature, threshold=3).fit(x, np.zeros(len(x), dtype=int))
    assert list(x.index[rule.flags(x)]) == flagged


def test_case_label_counts_complaints_that_became_known_in_the_horizon() -> None:
    rows = pd.DataFrame({"officer_id": list("ABCD"), "as_of": pd.Timestamp("2020-01-01")})
    serious = {"serious_categories": ("violence_use_of_force",), "gross_misconduct": False}

    def labels(counts: str) -> list[float]:
        label = LabelConfig(**serious, counts=counts)
        return build_labels(FORCE, rows, label=label, observed_until=dt.date(2022, 1, 1)).tolist()

    # C's violence allegation joined K7, known since 2019: an escalating allegation in the
    # horizon, but no escalating complaint. D's K8 became known in the horizon (2020-10-01),
    # its violence allegation came after it (2021-02-01): neither.
    assert labels("notices") == [1.0, 0.0, 1.0, 0.0]
    assert labels("cases") == [1.0, 0.0, 0.0, 0.0]


def test_case_label_counts_a_complaint_proven_later() -> None:
    rows = pd.DataFrame(
        {"officer_id": ["A", "A"], "as_of": pd.to_datetime(["2020-01-01", "2020-04-01"])}
    )
    label = LabelConfig(serious_categories=(), gross_misconduct=False, counts="cases")
    got = build_labels(FORCE, rows, label=label, observed_until=dt.date(2022, 1, 1))
    # K2 became known 2020-05-01 and was proven: an escalation for both as-of dates.
    assert got.tolist() == [1.0, 1.0]
    known_by = dt.date(2020, 6, 5)  # k2a1 proven 2020-06-01 is known by then, k2a2 is not
    early = build_labels(
        FORCE, rows, label=label, observed_until=dt.date(2022, 1, 1), findings_known_by=known_by
    )
    assert early.tolist() == [1.0, 1.0]
    before = build_labels(
        FORCE,
        rows,
        label=label,
        observed_until=dt.date(2022, 1, 1),
        findings_known_by=dt.date(2020, 6, 1),
    )
    assert before.tolist() == [0.0, 0.0]


def test_reasons_name_the_allegations_where_they_differ(matrix: pd.DataFrame) -> None:
    spec = SPECS["cases_180d"]
    assert spec.companion == "notices_180d"
    a, b = matrix.loc["A"], matrix.loc["B"]
    assert (
        render_reason(spec, a["cases_180d"], a["notices_180d"])
        == "3 complaints (6 allegations) received in the last 180 days"
    )
    assert (
        render_reason(spec, b["cases_180d"], b["notices_180d"])
        == "4 complaints received in the last 180 days"
    )
    assert render_reason(spec, 1.0) == "1 complaint received in the last 180 days"
    assert (
        reason_sentence(SPECS["open_cases"], a["open_cases"], 1.0, a["open_notices"])
        == "2 cases (4 allegations) still open, more than any other officer in the same unit"
    )
    assert (
        render_reason(SPECS["cases_violence_180d"], 1.0, 1.0)
        == "1 complaint for violence / use of force or domestic abuse in the last 180 days"
    )


def test_every_companion_is_a_feature_and_every_case_count_has_one() -> None:
    for spec in SPECS.values():
        if spec.companion is not None:
            assert spec.companion in SPECS
    windowed = [s for s in SPECS.values() if s.family == "cases" and s.name.endswith("d")]
    assert windowed and all(s.companion is not None for s in windowed)
    twins = {name: twin_of(name) for name in SPECS if twin_of(name) is not None}
    assert len(twins) == len([s for s in SPECS.values() if s.family == "cases"]) + 1
    assert set(twins.values()) <= set(SPECS)  # every case count's twin is a feature


def test_the_shipped_headline_rules_count_complaints() -> None:
    for name in ("default", "chicago", "chicago-any"):
        config = load_config(f"configs/{name}.yaml")
        candidates = {c.name: c for c in config.evaluation.candidates}
        headline = candidates[config.evaluation.headline_rule]
        assert headline.params["feature"] == "cases_180d"
        assert candidates["rule_3_notices_in_180d"].params["feature"] == "notices_180d"
        rule = ThresholdRule(**headline.params)
        assert rule.describe() == "3 or more complaints received in the last 180 days"


# --- Where cases and allegations coincide, the models are the ones fitted without cases ------


def _training_frame() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(5)
    n = 400
    x = pd.DataFrame(
        {
            "notices_365d": rng.poisson(1.0, n).astype(float),
            "tenure_days": rng.integers(100, 5000, n).astype(float),
        }
    )
    logit = -2 + 1.1 * x["notices_365d"] - 0.0002 * x["tenure_days"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y.to_numpy()


def test_only_a_case_count_equal_to_its_allegation_count_is_repeated() -> None:
    frame = pd.DataFrame(
        {
            "notices_365d": [1.0, 2.0],
            "gross_misconduct_all": [0.0, 0.0],
            "cases_365d": [1.0, 2.0],  # equals its twin: repeated
            "cases_all": [1.0, 1.0],  # its twin notices_all is not in the frame
            "open_cases": [0.0, 1.0],
            "open_notices": [0.0, 2.0],  # differs from open_cases: kept
            "findings_proven_all": [0.0, 0.0],
            "cases_proven_all": [0.0, 0.0],  # equals its twin: repeated
            "notices_source_conduct_matter_365d": [0.0, 0.0],  # equals another column: kept
        }
    )
    assert [twin_of(name) for name in ("cases_365d", "open_notices", "notices_365d")] == [
        "notices_365d",
        "open_cases",
        None,
    ]
    assert list(frame.columns[repeated_columns(frame)]) == ["cases_365d", "cases_proven_all"]


@pytest.mark.parametrize("kind", ["scorecard", "ebm"])
def test_a_repeated_case_count_changes_no_model(kind: str) -> None:
    x, y = _training_frame()
    with_cases = x.assign(cases_365d=x["notices_365d"])  # one allegation per complaint
    candidate = CandidateConfig(name="m", kind=kind, params={})
    alone = build_candidate(candidate, seed=1).fit(x, y)
    both = build_candidate(candidate, seed=1).fit(with_cases, y)
    np.testing.assert_array_equal(both.decision_function(with_cases), alone.decision_function(x))
    contributions = both.contributions(with_cases)
    assert list(contributions.columns) == list(with_cases.columns)
    assert (contributions["cases_365d"] == 0).all()


def test_a_missing_value_is_the_average_officers() -> None:
    x, y = _training_frame()
    unknown = x.assign(tenure_days=x["tenure_days"].where(x.index % 10 != 0))
    model = ScorecardClassifier().fit(unknown, y)
    terms = model.contributions(unknown)
    assert (terms.loc[unknown["tenure_days"].isna(), "tenure_days"] == 0).all()
    assert (terms.loc[unknown["tenure_days"].notna(), "tenure_days"] != 0).all()
    present = unknown["tenure_days"].dropna()
    assert model.mean_[1] == pytest.approx(present.mean())


def test_what_stands_out_never_repeats_a_feature() -> None:
    cohort = pd.DataFrame({"notices_365d": [0.0, 1.0, 5.0], "cases_365d": [0.0, 1.0, 5.0]})
    deviations = deviation_contributions(cohort.iloc[[2]], cohort)
    assert deviations.loc[2, "notices_365d"] > 0 and deviations.loc[2, "cases_365d"] == 0


def test_the_case_label_worked_example_of_features_labels() -> None:
    # One officer per case, so each case's verdict is its own label (features/labels.py).
    def case(officer: str, key: str, neglect: str, force: str) -> list[dict]:
        return [
            allegation(f"{key}n", key, officer, neglect),
            allegation(f"{key}f", key, officer, force, category="violence_use_of_force"),
        ]

    force = make_force(
        officers=[{"officer_id": o, "joined_on": "2010-01-01"} for o in ("X1", "X2", "X3")],
        notices=[
            *case("X1", "K1", "2019-11-01", "2020-02-01"),
            *case("X2", "K2", "2020-03-01", "2020-09-01"),
            *case("X3", "K3", "2020-10-01", "2021-02-01"),
        ],
    )
    rows = pd.DataFrame({"officer_id": ["X1", "X2", "X3"], "as_of": pd.Timestamp("2020-01-01")})
    label = {"serious_categories": ("violence_use_of_force",), "gross_misconduct": False}
    got = {
        counts: build_labels(
            force,
            rows,
            label=LabelConfig(**label, counts=counts),
            observed_until=dt.date(2022, 1, 1),
        ).tolist()
        for counts in ("notices", "cases")
    }
    assert got == {"notices": [1.0, 1.0, 0.0], "cases": [0.0, 1.0, 0.0]}


def test_the_weekly_list_reads_the_allegations_beside_a_case_count(matrix: pd.DataFrame) -> None:
    values = matrix[list(SPECS)]
    assert _companion_value(values, SPECS["cases_180d"], "A") == 6.0
    assert _companion_value(values, SPECS["notices_180d"], "A") is None
