"""Scorecard contributions, tidy reasons, and the published flag list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from ewp.models.explain import top_reasons
from ewp.models.flags import REVIEW_COLUMNS, build_flag_list, flag_id
from ewp.models.sampling import negative_subsample
from ewp.models.scorecard import ScorecardClassifier


def planted(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "notices_365d": rng.poisson(0.5, n).astype(float),
            "open_cases": rng.poisson(0.3, n).astype(float),
            "tenure_days": rng.uniform(100, 8000, n),
        }
    )
    logit = -3 + 1.2 * X["notices_365d"] + 0.8 * X["open_cases"]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y.to_numpy()


def test_contributions_add_up_to_the_score_and_follow_the_signal() -> None:
    X, y = planted()
    model = ScorecardClassifier(regularisation_c=1.0).fit(X, y)
    contributions = model.contributions(X)
    np.testing.assert_allclose(
        model.intercept_ + contributions.sum(axis=1), model.decision_function(X), rtol=1e-10
    )
    points = model.points().set_index("feature")["points_per_sd"]
    assert points["notices_365d"] > 0 and points["open_cases"] > 0
    assert abs(points["tenure_days"]) < points["open_cases"]
    # An average officer contributes zero; more notices than average contributes positively.
    average = pd.DataFrame([X.mean()])
    np.testing.assert_allclose(model.contributions(average).to_numpy(), 0, atol=1e-12)


def test_scorecard_follows_sklearn_conventions_and_refuses_protected_attributes() -> None:
    X, y = planted(200)
    assert clone(ScorecardClassifier(regularisation_c=0.5)).get_params()["regularisation_c"] == 0.5
    with pytest.raises(ValueError, match="protected attributes"):
        ScorecardClassifier().fit(X.assign(ethnicity=1.0), y)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ScorecardClassifier().decision_function(X)


def test_scorecard_weights_of_one_equal_no_weights() -> None:
    X, y = planted(500)
    plain = ScorecardClassifier(regularisation_c=1.0).fit(X, y)
    ones = ScorecardClassifier(regularisation_c=1.0).fit(X, y, sample_weight=np.ones(len(X)))
    np.testing.assert_allclose(ones.mean_, plain.mean_, rtol=1e-12)
    np.testing.assert_allclose(ones.scale_, plain.scale_, rtol=1e-12)
    np.testing.assert_allclose(ones.decision_function(X), plain.decision_function(X), rtol=1e-9)


def test_scorecard_weight_two_is_a_repeated_row() -> None:
    # Weighted standardisation and loss: weight 2 on a row is the row twice (ddof = 0 std).
    X, y = planted(400)
    weights = np.where(np.arange(len(X)) % 3 == 0, 2.0, 1.0)
    doubled = np.repeat(np.arange(len(X)), weights.astype(int))
    weighted = ScorecardClassifier(regularisation_c=1.0).fit(X, y, sample_weight=weights)
    repeated = ScorecardClassifier(regularisation_c=1.0).fit(X.iloc[doubled], y[doubled])
    np.testing.assert_allclose(weighted.mean_, repeated.mean_, rtol=1e-12)
    np.testing.assert_allclose(weighted.scale_, repeated.scale_, rtol=1e-12)
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-4, atol=1e-6)
    assert weighted.intercept_ == pytest.approx(repeated.intercept_, abs=1e-4)
    with pytest.raises(ValueError, match="non-negative"):
        ScorecardClassifier().fit(X, y, sample_weight=-weights)


def test_weighted_negative_subsample_keeps_the_full_data_intercept() -> None:
    """Inverse-probability weights undo the subsample's shift in the intercept.

    300,000 officers with 1.3% escalations; a tenth of negatives kept. The intercept is the
    log-odds of an average officer. On these data, over subsample seeds 0-199, the weighted
    fit's intercept differed from the full-data fit's with sd 0.013 (negatives' sampling noise
    in the weighted counts and in the weighted ``mean_``; the counts alone give
    sqrt(0.9 / (0.1 * n_negatives)) = 0.0055), largest 0.037; the tolerance 0.075 is over
    5 sd, so the check is not a matter of the seed. An unweighted fit over-states escalations
    tenfold, so its intercept moves up by about log(10) = 2.3 (2.44 on average over seeds
    0-19), 30 times the tolerance.
    """
    n = 300_000
    rng = np.random.default_rng(5)
    X = pd.DataFrame(
        {
            "notices_365d": rng.poisson(0.5, n).astype(float),
            "open_cases": rng.poisson(0.3, n).astype(float),
            "tenure_days": rng.uniform(100, 8000, n),
        }
    )
    logit = -5.8 + 1.2 * X["notices_365d"] + 0.8 * X["open_cases"]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    assert 0.010 < y.mean() < 0.015
    full = ScorecardClassifier(regularisation_c=1.0).fit(X, y)
    rows, weights = negative_subsample(y, rate=0.1, seed=3)
    sub_X, sub_y = X.iloc[rows], y[rows]
    weighted = ScorecardClassifier(regularisation_c=1.0).fit(sub_X, sub_y, sample_weight=weights)
    unweighted = ScorecardClassifier(regularisation_c=1.0).fit(sub_X, sub_y)
    assert abs(weighted.intercept_ - full.intercept_) < 0.075
    assert unweighted.intercept_ - full.intercept_ > 1.5
    # Calibrated in expectation: the weighted model's mean probability is the base rate.
    assert weighted.predict_proba(X)[:, 1].mean() == pytest.approx(y.mean(), rel=0.1)


def test_top_reasons_keeps_only_risk_raising_factors_in_order() -> None:
    contributions = pd.DataFrame(
        {"a": [0.5, -0.1], "b": [1.5, -0.2], "c": [0.5, 0.3]}, index=["O1", "O2"]
    )
    values = pd.DataFrame({"a": [1, 0], "b": [4, 0], "c": [2, 1]}, index=["O1", "O2"])
    tidy = top_reasons(contributions, values, n=3)
    assert tidy[["row", "rank", "feature"]].values.tolist() == [
        ["O1", 1, "b"],
        ["O1", 2, "a"],  # tie with c broken by column order
        ["O1", 3, "c"],
        ["O2", 1, "c"],  # O2's other factors lower the risk: not reasons
    ]
    assert tidy.loc[0, "value"] == 4 and tidy.loc[0, "contribution"] == 1.5


def test_top_reasons_take_each_value_by_feature_name() -> None:
    # The model reads two features; the values frame is the whole matrix, in another order.
    contributions = pd.DataFrame({"c": [0.9], "a": [0.4]}, index=["O1"])
    values = pd.DataFrame({"a": [7], "b": [100], "c": [2]}, index=["O1"])
    tidy = top_reasons(contributions, values, n=2)
    assert tidy[["feature", "value"]].values.tolist() == [["c", 2.0], ["a", 7.0]]


def test_top_reasons_skip_interaction_terms_and_refuse_unknown_terms() -> None:
    values = pd.DataFrame({"a": [1, 3], "b": [2, 4]}, index=["O1", "O2"])
    # An EBM's pairwise term "a & b" is not one fact to quote: never a reason.
    contributions = pd.DataFrame(
        {"a": [0.2, 0.1], "a & b": [0.9, 0.9], "b": [0.1, 0.3]}, index=["O2", "O1"]
    )
    tidy = top_reasons(contributions, values, n=3)
    assert tidy[["row", "rank", "feature", "value"]].values.tolist() == [
        ["O2", 1, "a", 3.0],
        ["O2", 2, "b", 4.0],
        ["O1", 1, "b", 2.0],
        ["O1", 2, "a", 1.0],
    ]
    with pytest.raises(ValueError, match=r"no value to quote: \['c'\]"):
        top_reasons(contributions.rename(columns={"b": "c"}), values, n=3)
    with pytest.raises(ValueError, match=r"no value to quote: \['a & z'\]"):
        top_reasons(contributions.rename(columns={"a & b": "a & z"}), values, n=3)
    with pytest.raises(ValueError, match="different rows"):
        top_reasons(contributions, values.rename(index={"O2": "O3"}), n=3)


def test_model_features_are_the_fitted_names() -> None:
    from ewp.models.explain import model_features

    X = pd.DataFrame({"notices_365d": [0.0, 1, 2, 3], "open_cases": [1.0, 0, 1, 0]})
    model = ScorecardClassifier().fit(X[["open_cases", "notices_365d"]], np.array([0, 0, 1, 1]))
    assert model_features(model) == ["open_cases", "notices_365d"]
    with pytest.raises(ValueError, match="feature_names_in_"):
        model_features(object())


def test_select_flags_breaks_ties_by_officer_id_whatever_the_row_order() -> None:
    from ewp.core.config import ScoringConfig
    from ewp.models.flags import select_flags

    scored = pd.DataFrame(
        {"officer_id": ["C", "A", "B", "D"], "unit": "U", "score": [0.5, 0.9, 0.5, 0.1]}
    )
    top, _ = select_flags(scored, scoring=ScoringConfig(top_k=2))
    assert top["officer_id"].tolist() == ["A", "B"]
    shuffled, _ = select_flags(scored.iloc[::-1], scoring=ScoringConfig(top_k=2))
    assert shuffled["officer_id"].tolist() == ["A", "B"]
    assert top["rank"].tolist() == [1, 2]


def test_select_flags_draws_the_list_the_evaluation_measured() -> None:
    """With a ranking score and seeded tie keys, the published list is ``draw_list``'s: a
    rule's flags first, then its continuation, ties by the key, never by officer ID."""
    from ewp.core.config import ScoringConfig
    from ewp.models.evaluation import draw_list, tie_break_keys
    from ewp.models.flags import select_flags

    ids = np.array([f"O{i}" for i in range(8)])
    # A rule's probabilities take two values; its ranking score orders the rest.
    probability = np.array([0.3, 0.3, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05])
    rank_score = np.array([1.0, 1.0, 0.6, 0.7, 0.7, 0.7, 0.7, 0.5])
    keys = tie_break_keys(ids, seed=3, as_of="2024-01-01")
    scored = pd.DataFrame(
        {"officer_id": ids, "unit": "U", "score": probability, "rank_score": rank_score}
    ).assign(tie_key=keys)
    listed, _ = select_flags(scored.iloc[::-1], scoring=ScoringConfig(top_k=4))
    expected = draw_list(
        scoring=ScoringConfig(top_k=4),
        scores=rank_score,
        probabilities=probability,
        tie_keys=keys,
        units=None,
    )
    assert listed["officer_id"].tolist() == ids[expected].tolist()
    # O0 and O1 (flagged) lead; two of O3..O6 (0.7) follow, chosen by key, not by ID.
    assert set(listed["officer_id"][:2]) == {"O0", "O1"}
    tied = sorted(["O3", "O4", "O5", "O6"], key=lambda o: keys[int(o[1:])])
    assert listed["officer_id"][2:].tolist() == tied[:2]
    assert list(listed.columns) == ["rank", "officer_id", "unit", "score"]


def test_flag_list_carries_reasons_provenance_and_review_columns() -> None:
    flagged = pd.DataFrame(
        {
            "rank": [1, 2],
            "officer_id": ["O7", "O3"],
            "unit": ["Borough 01", "Borough 02"],
            "as_of": pd.to_datetime(["2025-01-01", "2025-01-01"]),
            "score": [0.41234567, 0.2],
        }
    )
    reasons = pd.DataFrame(
        {
            "officer_id": ["O7", "O7", "O3"],
            "rank": [1, 2, 1],
            "sentence": ["4 notices received in the last 12 months", "2 cases still open", "x"],
        }
    )
    flags = build_flag_list(
        flagged=flagged,
        reasons=reasons,
        model_version="scorecard-abc",
        data_fingerprint="f" * 64,
        reasons_per_flag=3,
    )
    first = flags.iloc[0]
    assert first["reason_1"] == "4 notices received in the last 12 months"
    assert first["reason_2"] == "2 cases still open"
    assert first["reason_3"] == ""
    assert flags.iloc[1]["reason_1"] == "x"
    assert first["score"] == 0.412346 and first["as_of"] == "2025-01-01"
    assert first["model_version"] == "scorecard-abc" and first["data_fingerprint"] == "f" * 64
    assert all(flags[c].eq("").all() for c in REVIEW_COLUMNS)
    assert first["flag_id"] == flag_id(
        officer_id="O7", as_of="2025-01-01", model_version="scorecard-abc"
    )
    assert first["flag_id"] != flag_id(
        officer_id="O7", as_of="2025-01-08", model_version="scorecard-abc"
    )


def test_select_flags_caps_units_suppresses_and_cuts() -> None:
    from ewp.core.config import ScoringConfig
    from ewp.models.flags import select_flags

    scored = pd.DataFrame(
        {
            "officer_id": ["A", "B", "C", "D", "E"],
            "unit": ["U1", "U1", "U1", "U2", "U2"],
            "score": [0.9, 0.8, 0.7, 0.6, 0.1],
        }
    )
    listed, held = select_flags(scored, scoring=ScoringConfig(top_k=3))
    assert listed["officer_id"].tolist() == ["A", "B", "C"] and held.empty
    capped, _ = select_flags(scored, scoring=ScoringConfig(top_k=3, max_per_unit=2))
    assert capped["officer_id"].tolist() == ["A", "B", "D"]  # C is U1's third
    suppressed, held = select_flags(scored, scoring=ScoringConfig(top_k=3), suppressed={"B", "E"})
    assert suppressed["officer_id"].tolist() == ["A", "C", "D"]
    assert held["officer_id"].tolist() == ["B"]  # E would not have been listed anyway
    over, _ = select_flags(scored, scoring=ScoringConfig(selection="threshold", threshold=0.65))
    assert over["officer_id"].tolist() == ["A", "B", "C"]
    assert over["rank"].tolist() == [1, 2, 3]


def test_biggest_fall_names_the_term_that_lost_most() -> None:
    from ewp.models.explain import biggest_fall

    before = pd.DataFrame(
        {"a": [1.0, 0.5, 0.2], "a & b": [5.0, 0.0, 0.0], "b": [0.4, 0.5, 0.2]},
        index=["O1", "O2", "O3"],
    )
    after = pd.DataFrame(
        {"a": [0.2, 0.5, 0.3], "a & b": [0.0, 0.0, 0.0], "b": [0.3, 0.1, 0.2]},
        index=["O1", "O2", "O3"],
    )
    fall = biggest_fall(before, after)
    # O1 lost most on the interaction, which is not one feature: "a" it is. O3 lost nothing.
    assert fall[["row", "feature"]].values.tolist() == [["O1", "a"], ["O2", "b"]]
    assert fall["fall"].round(6).tolist() == [0.8, 0.4]
    with pytest.raises(ValueError, match="same rows and terms"):
        biggest_fall(before, after.iloc[:2])


def test_model_terms_weigh_what_each_kind_reads() -> None:
    from ewp.models.candidates import EBMScorer, HistGBYardstick
    from ewp.models.explain import model_terms
    from ewp.models.rules import CountRanker, ThresholdRule

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "notices_365d": rng.integers(0, 5, 300).astype(float),
            "notices_all": rng.integers(0, 9, 300).astype(float),
            "open_cases": rng.integers(0, 3, 300).astype(float),
        }
    )
    y = (X["notices_365d"] + rng.normal(0, 1, 300) > 3).astype(int).to_numpy()
    card = model_terms(ScorecardClassifier().fit(X[["open_cases", "notices_365d"]], y))
    assert card.table["term"].tolist() == ["open_cases", "notices_365d"]
    assert card.weight_label == "log-odds points per standard deviation"
    assert card.table["weight"].iloc[1] > 0 and card.table["detail"].iloc[0].startswith("mean ")
    ebm = model_terms(EBMScorer(outer_bags=1).fit(X, y))
    assert ebm.table["term"].tolist() == ["notices_365d", "notices_all", "open_cases"]
    assert (ebm.table["weight"] >= 0).all() and ebm.table["weight"].idxmax() == 0
    rule = model_terms(ThresholdRule(feature="notices_365d", threshold=3).fit(X, y))
    assert rule.table["term"].tolist() == ["notices_365d"] and rule.weight_label == ""
    ranker = model_terms(CountRanker().fit(X, y))
    assert ranker.table[["term", "detail"]].values.tolist() == [
        ["notices_365d", "the count it flags or ranks by"],
        ["notices_all", "breaks ties"],
    ]
    black_box = model_terms(HistGBYardstick(max_iter=5).fit(X, y))
    assert black_box.table["term"].tolist() == list(X.columns)
    assert black_box.table["weight"].isna().all()
