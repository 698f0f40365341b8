"""Tests for ewp.models.rules on hand-built frames: exact flags, boundaries, tie-breaks, rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from ewp.models.rules import CountRanker, PeerOutlierRule, ThresholdRule

# --- ThresholdRule ------------------------------------------------------------------------


def test_threshold_rule_flags_at_the_boundary():
    X = pd.DataFrame({"notices_180d": [0, 2, 3, 4], "notices_all": [9, 9, 9, 9]})
    rule = ThresholdRule(feature="notices_180d", threshold=3).fit(X, [0, 0, 1, 1])
    # 2 notices -> not flagged; 3 -> flagged (>= threshold).
    assert rule.flags(X).tolist() == [False, False, True, True]
    # Flags score 1; the rest follow by their count: (1 + t / (1 + t)) / 2 for 0 and 2 notices.
    assert rule.decision_function(X).tolist() == pytest.approx([0.5, 5 / 6, 1.0, 1.0])
    assert rule.predict(X).tolist() == [0, 0, 1, 1]


def test_a_rule_list_longer_than_its_flags_continues_by_its_own_feature_never_by_id():
    """Issue 21 item 2: a top-3 list of a rule that flags one officer took two arbitrary
    officers (scores tied at 0, officer ID order). Now it continues with the officers nearest
    to the threshold; officers with the same count tie, and no other feature orders them."""
    X = pd.DataFrame({"notices_180d": [0, 1, 2, 4, 1, 0], "notices_all": [9, 0, 0, 0, 5, 0]})
    rule = ThresholdRule(feature="notices_180d", threshold=3).fit(X, [0] * 6)
    scores = rule.decision_function(X)
    assert np.argsort(-scores, kind="stable")[:2].tolist() == [3, 2]  # flagged, then 2 notices
    assert scores[1] == scores[4] and scores[0] == scores[5]  # notices_all plays no part
    assert (scores[rule.flags(X)] == 1).all() and (scores[~rule.flags(X)] < 1).all()
    assert (
        rule.describe_fill() == "the officers with the most notices received in the last 180 days"
    )
    # A huge count below the threshold still ranks below every flagged officer.
    big = ThresholdRule(feature="notices_180d", threshold=1e300).fit(
        X.assign(notices_180d=1e299), [0] * 6
    )
    assert (big.decision_function(X.assign(notices_180d=1e299)) < 1).all()


def test_threshold_rule_learns_flag_rates_for_predict_proba():
    # Flagged (3, 3, 5): labels 1, 0, 1 -> 2/3. Unflagged (0, 1, 2): labels 0, 0, 1 -> 1/3.
    X = pd.DataFrame({"notices_180d": [0, 1, 2, 3, 3, 5]})
    rule = ThresholdRule().fit(X, np.array([0, 0, 1, 1, 0, 1]))
    assert rule.flagged_rate_ == pytest.approx(2 / 3)
    assert rule.unflagged_rate_ == pytest.approx(1 / 3)
    proba = rule.predict_proba(pd.DataFrame({"notices_180d": [7, 0]}))
    np.testing.assert_allclose(proba, [[1 / 3, 2 / 3], [2 / 3, 1 / 3]])
    assert rule.classes_.tolist() == [0, 1]


def test_threshold_rule_without_flagged_training_officers_uses_the_base_rate():
    X = pd.DataFrame({"notices_180d": [0, 1, 2, 0]})
    rule = ThresholdRule().fit(X, [0, 1, 0, 0])
    assert rule.n_flagged_train_ == 0
    assert rule.flagged_rate_ == rule.base_rate_ == 0.25


def test_threshold_rule_missing_feature_is_named():
    X = pd.DataFrame({"notices_365d": [1, 2]})
    with pytest.raises(ValueError, match="'notices_180d' is not in the feature frame"):
        ThresholdRule().fit(X, [0, 1])


def test_threshold_rule_ignores_other_columns_when_scoring():
    rule = ThresholdRule().fit(pd.DataFrame({"notices_180d": [3], "tenure_days": [100]}), [1])
    assert rule.flags(pd.DataFrame({"notices_180d": [1, 3]})).tolist() == [False, True]


def test_threshold_rule_describe():
    assert ThresholdRule().describe() == "3 or more notices received in the last 180 days"
    assert (
        ThresholdRule(feature="notices_365d", threshold=2).describe()
        == "2 or more notices received in the last 12 months"
    )
    # A fractional threshold is not rounded away; an unknown feature is named as is.
    assert ThresholdRule(feature="acceleration", threshold=1.5).describe() == (
        "notice rate up by 1.5 or more a year on the 2 years before"
    )
    assert ThresholdRule(feature="notices_30d", threshold=2.5).describe() == (
        "notices_30d of 2.5 or more"
    )


# --- input checks shared by every rule ----------------------------------------------------


@pytest.mark.parametrize("rule", [ThresholdRule(), PeerOutlierRule(), CountRanker()])
def test_rules_refuse_protected_attributes(rule):
    X = pd.DataFrame(
        {
            "notices_180d": [1, 3],
            "notices_365d": [1, 3],
            "notices_all": [1, 3],
            "unit_share_below_365d": [0.0, 1.0],
            "birth_year": [1980, 1990],
        }
    )
    with pytest.raises(ValueError, match=r"protected attributes.*\['birth_year'\]"):
        rule.fit(X, [0, 1])


def test_rules_refuse_bad_inputs():
    X = pd.DataFrame({"notices_180d": [1, 3]})
    with pytest.raises(TypeError, match="DataFrame"):
        ThresholdRule().fit(X.to_numpy(), [0, 1])
    with pytest.raises(ValueError, match="numeric"):
        ThresholdRule().fit(X.assign(note=["a", "b"]), [0, 1])
    with pytest.raises(ValueError, match="0 \\(no escalation\\) or 1"):
        ThresholdRule().fit(X, [0, 2])
    with pytest.raises(ValueError, match="expected 2 labels"):
        ThresholdRule().fit(X, [0, 1, 1])
    with pytest.raises(NotFittedError):
        ThresholdRule().flags(X)


# --- PeerOutlierRule ----------------------------------------------------------------------


def _unit_of_21() -> pd.DataFrame:
    """One unit of 21 officers; share = colleagues with fewer notices / 20 others, as float32.

    Counts: 15 x 0, 2 x 1, then 2, 3, 4, 6. Shares: 0 -> 0, 1 -> 15/20, 2 -> 17/20,
    3 -> 18/20, 4 -> 19/20 = 0.95 (0.94999999 in float32), 6 -> 20/20.
    """
    counts = np.array([0] * 15 + [1, 1, 2, 3, 4, 6])
    fewer = np.array([(counts < c).sum() for c in counts])
    return pd.DataFrame(
        {
            "notices_365d": counts.astype("float32"),
            "unit_share_below_365d": (fewer / 20).astype("float32"),
        }
    )


def test_peer_rule_flags_the_top_of_the_unit():
    X = _unit_of_21()
    y = np.zeros(len(X), dtype=int)
    top_5 = PeerOutlierRule(top_fraction=0.05).fit(X, y)
    # 4 notices: share 0.95 (float32) >= 1 - 0.05 -> flagged; 3 notices: 0.90 -> not.
    assert np.flatnonzero(top_5.flags(X)).tolist() == [19, 20]
    top_10 = PeerOutlierRule(top_fraction=0.10).fit(X, y)
    assert np.flatnonzero(top_10.flags(X)).tolist() == [18, 19, 20]
    # Below the flags, officers follow by their share of colleagues with fewer notices.
    scores = top_10.decision_function(X)
    assert scores[18:].tolist() == [1.0, 1.0, 1.0]
    assert scores[0] < scores[15] == scores[16] < scores[17] < 1.0


def test_peer_rule_never_flags_an_officer_without_notices():
    X = pd.DataFrame({"notices_365d": [0.0, 1.0], "unit_share_below_365d": [1.0, 1.0]})
    rule = PeerOutlierRule().fit(X, [0, 1])
    assert rule.flags(X).tolist() == [False, True]


def test_peer_rule_rejects_a_top_fraction_outside_0_1():
    with pytest.raises(ValueError, match="top_fraction"):
        PeerOutlierRule(top_fraction=0).fit(_unit_of_21(), np.zeros(21, dtype=int))


def test_peer_rule_describe():
    assert PeerOutlierRule().describe() == (
        "in the top 5% of their unit for notices received in the last 12 months, "
        "with at least one such notice"
    )


# --- CountRanker --------------------------------------------------------------------------


def test_count_ranker_orders_by_count_then_tie_breaker():
    X = pd.DataFrame(
        {
            "notices_365d": [2, 3, 2, 0, 3, 1, 2],
            "notices_all": [5, 1, 7, 10, 1, 10**6, 0],
        }
    )
    ranker = CountRanker().fit(X, [0, 1, 0, 0, 1, 0, 0])
    scores = ranker.decision_function(X)
    # Count first; within count 2, notices_all 7 > 5 > 0; the two (3, 1) rows stay tied.
    order = np.argsort(-scores, kind="stable").tolist()
    assert order == [1, 4, 2, 0, 6, 5, 3]
    assert scores[1] == scores[4]
    # A huge tie-breaker never lifts a count of 1 above a count of 2.
    assert scores[5] < scores[6]
    # Documented formula: count + (1 + t / (1 + |t|)) / 2.
    assert scores[0] == pytest.approx(2 + (1 + 5 / 6) / 2)


def test_count_ranker_without_tie_breaker_scores_the_count():
    X = pd.DataFrame({"notices_365d": [2, 0, 5]})
    ranker = CountRanker(tie_breaker=None).fit(X, [0, 0, 1])
    assert ranker.decision_function(X).tolist() == [2.0, 0.0, 5.0]


def test_count_ranker_proba_is_monotone_in_the_score():
    X = pd.DataFrame({"notices_365d": [0, 0, 1, 1, 2, 3, 4], "notices_all": [0, 1, 1, 2, 2, 3, 9]})
    ranker = CountRanker().fit(X, [0, 0, 1, 0, 0, 1, 1])
    proba = ranker.predict_proba(X)
    order = np.argsort(ranker.decision_function(X))
    assert np.all(np.diff(proba[order, 1]) >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_count_ranker_needs_a_whole_number_count():
    X = pd.DataFrame({"notices_365d": [0.5, 2.0], "notices_all": [1, 2]})
    with pytest.raises(ValueError, match="whole-number"):
        CountRanker().fit(X, [0, 1])


def test_count_ranker_describe():
    assert CountRanker().describe() == (
        "ranked by notices received in the last 12 months, ties broken by notices received in total"
    )


# --- scikit-learn conventions -------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        ThresholdRule(feature="notices_365d", threshold=4),
        PeerOutlierRule(top_fraction=0.1, count_feature="notices_180d"),
        CountRanker(feature="notices_180d", tie_breaker=None),
    ],
)
def test_clone_round_trips_params(rule):
    copy = clone(rule)
    assert copy.get_params() == rule.get_params()
    assert type(copy) is type(rule)


# --- sample weights -----------------------------------------------------------------------


def test_threshold_rule_weighted_rates():
    # Flagged (3, 3, 5): labels 1, 0, 1 with weights 2, 4, 1 -> 3/7. Unflagged: 1/3.
    X = pd.DataFrame({"notices_180d": [0, 1, 2, 3, 3, 5]})
    y = np.array([0, 0, 1, 1, 0, 1])
    rule = ThresholdRule().fit(X, y, sample_weight=[1, 1, 1, 2, 4, 1])
    assert rule.flagged_rate_ == pytest.approx(3 / 7)
    assert rule.unflagged_rate_ == pytest.approx(1 / 3)
    assert rule.base_rate_ == pytest.approx(4 / 10)
    assert rule.n_flagged_train_ == 3  # rows, not weight
    proba = rule.predict_proba(pd.DataFrame({"notices_180d": [7, 0]}))
    np.testing.assert_allclose(proba[:, 1], [3 / 7, 1 / 3])


def test_flag_rule_group_with_zero_weight_uses_the_weighted_base_rate():
    X = pd.DataFrame({"notices_180d": [0, 1, 3, 4]})
    rule = ThresholdRule().fit(X, [0, 1, 1, 1], sample_weight=[3, 1, 0, 0])
    assert rule.base_rate_ == pytest.approx(1 / 4)
    assert rule.flagged_rate_ == pytest.approx(1 / 4)
    assert rule.unflagged_rate_ == pytest.approx(1 / 4)


def test_rules_refuse_bad_weights():
    X = pd.DataFrame({"notices_180d": [0, 3], "notices_365d": [0, 3], "notices_all": [0, 3]})
    for rule in (ThresholdRule(), CountRanker()):
        with pytest.raises(ValueError, match="expected 2 sample weights"):
            rule.fit(X, [0, 1], sample_weight=[1.0])
        with pytest.raises(ValueError, match="non-negative"):
            rule.fit(X, [0, 1], sample_weight=[1.0, -1.0])


def test_count_ranker_weighted_calibration():
    # Count 0: labels 0, 1 weighted 3, 1 -> 1/4; count 1: labels 0, 1 weighted 1, 3 -> 3/4.
    X = pd.DataFrame({"notices_365d": [0, 0, 1, 1]})
    y = [0, 1, 0, 1]
    weighted = CountRanker(tie_breaker=None).fit(X, y, sample_weight=[3, 1, 1, 3])
    np.testing.assert_allclose(weighted.predict_proba(X)[:, 1], [0.25, 0.25, 0.75, 0.75])
    plain = CountRanker(tie_breaker=None).fit(X, y)
    np.testing.assert_allclose(plain.predict_proba(X)[:, 1], 0.5)
    np.testing.assert_array_equal(weighted.decision_function(X), plain.decision_function(X))


@pytest.mark.parametrize(
    "rule",
    [ThresholdRule(threshold=2), PeerOutlierRule(top_fraction=0.3), CountRanker()],
    ids=lambda r: type(r).__name__,
)
def test_weights_of_one_equal_no_weights(rule):
    rng = np.random.default_rng(3)
    n = 300
    notices_365d = rng.poisson(1.0, n)
    X = pd.DataFrame(
        {
            "notices_180d": rng.binomial(notices_365d, 0.5),
            "notices_365d": notices_365d,
            "notices_all": notices_365d + rng.poisson(1.5, n),
            "unit_share_below_365d": rng.random(n).astype("float32"),
        }
    )
    y = (rng.random(n) < 0.1 + 0.1 * notices_365d).astype("int64")
    plain = clone(rule).fit(X, y)
    ones = clone(rule).fit(X, y, sample_weight=np.ones(n))
    np.testing.assert_array_equal(ones.decision_function(X), plain.decision_function(X))
    np.testing.assert_allclose(ones.predict_proba(X), plain.predict_proba(X), rtol=1e-12)
