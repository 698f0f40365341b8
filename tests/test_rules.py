"""Tests for models.rules on hand-built frames: exact flags, boundaries, tie-breaks, rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from models.rules import CountRanker, PeerOutlierRule, ThresholdRule

# --- ThresholdRule ------------------------------------------------------------------------


def test_threshold_rule_flags_at_the_boundary():
    X = pd.DataFrame({"notices_180d": [0, 2, 3, 4], "notices_all": [9, 9, 9, 9]})
    rule = ThresholdRule(feature="notices_180d", threshold=3).fit(X, [0, 0, 1, 1])
    # 2 notices -> not flagged; 3 -> flagged (>= threshold).
    assert rule.flags(X).tolist() == [False, False, True, True]
    assert rule.decision_function(X).tolist() == [0.0, 0.0, 1.0, 1.0]
    assert rule.predict(X).tolist() == [0, 0, 1, 1]


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
    assert top_10.decision_function(X)[17:].tolist() == [0.0, 1.0, 1.0, 1.0]


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
