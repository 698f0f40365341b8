"""Every published reason quotes the officer's own value of the feature it names.

A model trained on a feature subset reads fewer columns than the feature matrix holds; a reason
must quote the value of the feature it names, not the matrix's column at the same position
(issue 14, point 1: 135 of 149 reasons were wrong after ``ewp train`` + ``ewp score`` with the
case-to-answer scorecard). Each candidate kind is fitted on a small hand-built force with all
features and with a subset in an order unlike the matrix's, its list is published through
``publish_list``, and every reason in ``reasons.csv`` is checked against the value recomputed
from the officer's own notices and outcomes (``tests.history_oracle``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from ewp.core.config import (
    CATEGORIES,
    CandidateConfig,
    Config,
    FairnessConfig,
    FeatureConfig,
    ScoringConfig,
)
from ewp.core.contract import FINDINGS, SANCTIONS, ForceData
from ewp.features.history import build_features, feature_columns
from ewp.features.labels import build_labels
from ewp.features.registry import feature_specs, render_reason
from ewp.models.candidates import build_candidate
from ewp.models.evaluation import candidate_features
from tests.builders import make_force
from tests.history_oracle import recompute, recompute_all

AS_OF = dt.date(2021, 1, 4)
TRAIN_DATES = [dt.date(2018, m, 1) for m in range(1, 13)] + [dt.date(2019, m, 1) for m in (1, 4)]
# A subset in an order unlike the matrix's, so a value read by position is another feature's.
SUBSET = (
    "findings_no_case_all",
    "acceleration",
    "notices_365d",
    "unit_share_below_365d",
    "open_cases",
    "worst_sanction_level",
    "findings_case_to_answer_all",
    "notices_all",
)
KINDS: dict[str, dict[str, float | int | str | bool]] = {
    "scorecard": {"regularisation_c": 1.0},
    "ebm": {"outer_bags": 1, "interactions": 2},
    "hist_gradient_boosting": {"max_iter": 20, "min_samples_leaf": 5},
    "threshold_rule": {"feature": "notices_365d", "threshold": 2},
    "peer_rule": {"top_fraction": 0.3},
    "count_ranker": {"feature": "notices_365d"},
}
CONFIG = Config(
    name="reason-values",
    scoring=ScoringConfig(top_k=10, reasons_per_flag=4),
    fairness=FairnessConfig(bootstrap_samples=20, min_group_size=5),
)


def _day(offset: int) -> str:
    return (dt.date(2015, 1, 1) + dt.timedelta(days=offset)).isoformat()


@pytest.fixture(scope="module")
def force() -> ForceData:
    """60 officers in 3 units; officer i has (7 i mod 9) notices spread over 2015-2021 with
    categories, sources, severities, findings and sanctions cycling through the vocabularies,
    a quarter of them undecided. Officers 45-47 left in mid-2020 (not serving on AS_OF);
    officers 50-59 joined in 2019-2020 (probationers)."""
    officers, notices, outcomes = [], [], []
    for i in range(60):
        officer = f"O{i:02d}"
        joined = "2010-01-01" if i < 50 else _day(1600 + 20 * (i - 50))
        row = {"officer_id": officer, "joined_on": joined, "unit": f"U{i % 3 + 1}"}
        if 45 <= i <= 47:
            row["left_on"] = "2020-06-01"
        officers.append(row)
        for j in range((7 * i) % 9):
            notice = f"N{i:02d}-{j}"
            received = (i * 131 + j * 217) % 2200 if i < 50 else 1650 + 20 * (i - 50) + 40 * j
            notices.append(
                {
                    "notice_id": notice,
                    "officer_id": officer,
                    "received_on": _day(received),
                    "category": CATEGORIES[(i + j) % len(CATEGORIES)],
                    "source": ("public", "internal", "conduct_matter")[(2 * i + j) % 3],
                    "severity": "gross_misconduct" if (i + j) % 5 == 0 else "misconduct",
                }
            )
            if (i + j) % 4 != 3:
                finding = FINDINGS[(i + 2 * j) % len(FINDINGS)]
                outcomes.append(
                    {
                        "notice_id": notice,
                        "decided_on": _day(received + 60 + (i * j) % 400),
                        "finding": finding,
                        "sanction": SANCTIONS[(i + j) % 7] if finding == "proven" else "none",
                    }
                )
    return make_force(officers, notices, outcomes)


def _fitted(force: ForceData, kind: str, feature_set: str):
    matrix = build_features(force, TRAIN_DATES, config=CONFIG.features)
    labels = build_labels(force, matrix, label=CONFIG.label, observed_until=AS_OF)
    candidate = CandidateConfig(
        name=f"{kind}_{feature_set}", kind=kind, params=KINDS[kind], feature_set=feature_set
    )
    columns = candidate_features(
        candidate, features=feature_columns(CONFIG.features), feature_sets={"subset": SUBSET}
    )
    model = build_candidate(candidate, seed=CONFIG.seed)
    return model.fit(matrix[columns], labels.to_numpy().astype("int64"))


@pytest.mark.parametrize("feature_set", ["all", "subset"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_published_reason_quotes_the_officers_own_value(
    force: ForceData, kind: str, feature_set: str, tmp_path: Path
) -> None:
    from ewp.flows.score import publish_list

    model = _fitted(force, kind, feature_set)
    publish_list.fn(
        data=force,
        config=CONFIG,
        home=tmp_path,
        model=model,
        model_version=f"{kind}-{feature_set} (v1)",
        data_fingerprint="f" * 64,
        as_of=AS_OF,
        extracted_on=AS_OF,
        run_dir=tmp_path / "run",
    )
    reasons = pd.read_csv(tmp_path / "run" / "reasons.csv", dtype={"officer_id": str})
    # Reasons for flagged officers only, enough of them to check, and a subset model's from
    # its own features only.
    flags = pd.read_csv(tmp_path / "run" / "flags.csv", dtype={"officer_id": str})
    assert len(flags) == CONFIG.scoring.top_k
    assert set(reasons["officer_id"]) <= set(flags["officer_id"])
    assert len(reasons) >= CONFIG.scoring.top_k
    if feature_set == "subset":
        assert set(reasons["feature"]) <= set(SUBSET)
    specs = {spec.name: spec for spec in feature_specs(CONFIG.features)}
    for reason in reasons.itertuples(index=False):
        expected = recompute(force, reason.officer_id, AS_OF, reason.feature, CONFIG.features)
        where = f"{reason.officer_id} {reason.feature}"
        assert reason.value == pytest.approx(expected, abs=1e-5), where
        assert reason.sentence.startswith(render_reason(specs[reason.feature], expected)), where


def test_the_oracle_agrees_with_the_feature_matrix_on_every_cell(force: ForceData) -> None:
    """Guards the check above: the two computations agree for every serving officer and feature
    (a disagreement here is a bug in one of them, not a wrong reason)."""
    features = FeatureConfig()
    matrix = build_features(force, [AS_OF], config=features).set_index("officer_id")
    assert len(matrix) == 57  # 60 officers, 3 of whom left before AS_OF
    for officer, row in matrix.iterrows():
        expected = recompute_all(force, str(officer), AS_OF, features)
        assert set(expected) == set(feature_columns(features))
        for feature, value in expected.items():
            assert row[feature] == pytest.approx(value, abs=1e-5), f"{officer} {feature}"
