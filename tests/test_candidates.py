"""Tests for ewp.models.candidates: EBM and yardstick behaviour, the factory and model identities.

The models train on a small synthetic signal (2,000 officers drawn with a fixed seed) in which
escalation depends on recent notices, so each test runs in well under a second.
"""

from __future__ import annotations

from typing import get_args

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from ewp.core.config import CandidateConfig, CandidateKind, EvaluationConfig
from ewp.models.candidates import (
    CANDIDATE_CLASSES,
    EBMScorer,
    HistGBYardstick,
    build_candidate,
    candidate_identity,
    is_interpretable,
)

N_TRAIN = 1_500


@pytest.fixture(scope="module")
def officers() -> tuple[pd.DataFrame, np.ndarray]:
    """2,000 officers whose escalation risk rises with notices in the last 12 months."""
    rng = np.random.default_rng(20_261_123)
    n = 2_000
    notices_365d = rng.poisson(1.0, n)
    notices_180d = rng.binomial(notices_365d, 0.5)
    notices_all = notices_365d + rng.poisson(1.5, n)
    X = pd.DataFrame(
        {
            "notices_180d": notices_180d,
            "notices_365d": notices_365d,
            "notices_all": notices_all,
            "unit_share_below_365d": rng.random(n).astype("float32"),
            "tenure_days": rng.integers(100, 10_000, n),
        }
    )
    log_odds = -4.0 + 1.6 * notices_365d
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-log_odds))).astype("int64")
    return X, y


def _split(officers):
    X, y = officers
    return X.iloc[:N_TRAIN], y[:N_TRAIN], X.iloc[N_TRAIN:], y[N_TRAIN:]


# --- EBMScorer ----------------------------------------------------------------------------


def test_ebm_contributions_sum_to_the_decision_function(officers):
    X_train, y_train, X_test, _ = _split(officers)
    ebm = EBMScorer().fit(X_train, y_train)
    contributions = ebm.contributions(X_test)
    assert list(contributions.columns) == list(X_train.columns)
    assert contributions.index.equals(X_test.index)
    np.testing.assert_allclose(
        ebm.intercept_ + contributions.sum(axis=1).to_numpy(),
        ebm.decision_function(X_test),
        atol=1e-9,
    )
    p = 1.0 / (1.0 + np.exp(-ebm.decision_function(X_test)))
    np.testing.assert_allclose(ebm.predict_proba(X_test)[:, 1], p, atol=1e-9)


def test_ebm_is_deterministic_for_a_seed(officers):
    X_train, y_train, X_test, _ = _split(officers)
    first = EBMScorer(random_state=7).fit(X_train, y_train).decision_function(X_test)
    again = EBMScorer(random_state=7).fit(X_train, y_train).decision_function(X_test)
    np.testing.assert_array_equal(first, again)


def test_ebm_learns_the_planted_signal(officers):
    X_train, y_train, X_test, y_test = _split(officers)
    ebm = EBMScorer().fit(X_train, y_train)
    assert roc_auc_score(y_test, ebm.decision_function(X_test)) > 0.75
    # The planted feature carries the largest share of the explanation.
    spread = ebm.contributions(X_test).abs().mean()
    assert spread.idxmax() == "notices_365d"


def test_ebm_scores_columns_by_name_not_position(officers):
    X_train, y_train, X_test, _ = _split(officers)
    ebm = EBMScorer().fit(X_train, y_train)
    reordered = X_test[list(reversed(X_test.columns))]
    np.testing.assert_array_equal(ebm.decision_function(reordered), ebm.decision_function(X_test))
    with pytest.raises(ValueError, match=r"lacks columns.*tenure_days"):
        ebm.decision_function(X_test.drop(columns="tenure_days"))


def test_ebm_refuses_a_datetime_column(officers):
    X_train, y_train, _, _ = _split(officers)
    dated = X_train.assign(joined_on=pd.Timestamp("2020-01-01"))
    with pytest.raises(ValueError, match=r"not numeric: \['joined_on'\]"):
        EBMScorer().fit(dated, y_train)


# --- HistGBYardstick ----------------------------------------------------------------------


def test_hgb_is_deterministic_and_not_interpretable(officers):
    X_train, y_train, X_test, y_test = _split(officers)
    first = HistGBYardstick(max_iter=50, random_state=3).fit(X_train, y_train)
    again = HistGBYardstick(max_iter=50, random_state=3).fit(X_train, y_train)
    np.testing.assert_array_equal(first.decision_function(X_test), again.decision_function(X_test))
    assert roc_auc_score(y_test, first.decision_function(X_test)) > 0.7
    assert HistGBYardstick.interpretable is False
    assert EBMScorer.interpretable is True


# --- sample weights -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "estimator",
    [EBMScorer(random_state=2), HistGBYardstick(max_iter=30, random_state=2)],
    ids=lambda e: type(e).__name__,
)
def test_weights_of_one_equal_no_weights(estimator, officers):
    X_train, y_train, X_test, _ = _split(officers)
    plain = clone(estimator).fit(X_train, y_train)
    ones = clone(estimator).fit(X_train, y_train, sample_weight=np.ones(len(X_train)))
    np.testing.assert_allclose(
        ones.decision_function(X_test), plain.decision_function(X_test), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize(
    "estimator",
    [EBMScorer(random_state=2), HistGBYardstick(max_iter=30, random_state=2)],
    ids=lambda e: type(e).__name__,
)
def test_weights_reach_the_library_model(estimator, officers):
    # Weighting escalations tenfold raises every predicted rate; bad weights are refused.
    X_train, y_train, X_test, _ = _split(officers)
    plain = clone(estimator).fit(X_train, y_train)
    heavy = clone(estimator).fit(X_train, y_train, sample_weight=np.where(y_train == 1, 10.0, 1))
    assert heavy.predict_proba(X_test)[:, 1].mean() > 1.5 * plain.predict_proba(X_test)[:, 1].mean()
    with pytest.raises(ValueError, match="finite"):
        clone(estimator).fit(X_train, y_train, sample_weight=np.full(len(X_train), np.nan))


# --- build_candidate ----------------------------------------------------------------------


def test_every_kind_has_a_class():
    assert set(CANDIDATE_CLASSES) == set(get_args(CandidateKind))


@pytest.mark.parametrize("candidate", EvaluationConfig().candidates, ids=lambda c: c.name)
def test_build_every_default_candidate(candidate, officers):
    X, y = officers
    # Complaints as well: where an officer has 3+ allegations, two share one complaint.
    X = X.assign(
        cases_180d=X["notices_180d"] - (X["notices_180d"] >= 3),
        cases_365d=X["notices_365d"] - (X["notices_365d"] >= 3),
    )
    X_train, y_train, X_test, _ = _split((X, y))
    estimator = build_candidate(candidate, seed=11)
    assert isinstance(estimator, CANDIDATE_CLASSES[candidate.kind])
    params = estimator.get_params()
    for name, value in candidate.params.items():
        assert params[name] == value
    if "random_state" in params:
        assert params["random_state"] == 11
    estimator.fit(X_train, y_train)
    scores = estimator.decision_function(X_test)
    assert scores.shape == (len(X_test),)
    assert np.isfinite(scores).all()
    proba = estimator.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(estimator.feature_names_in_) == list(X_train.columns)
    assert estimator.n_features_in_ == X_train.shape[1]
    if hasattr(estimator, "probability_from_score"):
        # An evaluation takes the probability from the score (one pass over the rows): it
        # must be predict_proba's, to the bit.
        np.testing.assert_array_equal(estimator.probability_from_score(scores), proba[:, 1])


def test_build_candidate_names_the_bad_param_and_the_allowed_ones():
    typo = CandidateConfig(name="ebm_typo", kind="ebm", params={"outer_bag": 2})
    with pytest.raises(ValueError, match="ebm_typo") as error:
        build_candidate(typo, seed=0)
    message = str(error.value)
    assert "['outer_bag']" in message
    assert "outer_bags" in message and "interactions" in message
    seeded = CandidateConfig(name="hgb", kind="hist_gradient_boosting", params={"random_state": 1})
    with pytest.raises(ValueError, match="random_state is set by the run's seed"):
        build_candidate(seeded, seed=0)


@pytest.mark.parametrize("candidate", EvaluationConfig().candidates, ids=lambda c: c.name)
def test_every_candidate_refuses_protected_attributes(candidate, officers):
    X_train, y_train, _, _ = _split(officers)
    with pytest.raises(ValueError, match=r"protected attributes.*\['gender'\]"):
        build_candidate(candidate, seed=0).fit(X_train.assign(gender=0), y_train)


@pytest.mark.parametrize("kind", sorted(CANDIDATE_CLASSES))
def test_clone_round_trips_params(kind):
    estimator = build_candidate(CandidateConfig(name="any", kind=kind), seed=5)
    copy = clone(estimator)
    assert type(copy) is type(estimator)
    assert copy.get_params() == estimator.get_params()


# --- candidate_identity -------------------------------------------------------------------

_BASE = {
    "candidate": CandidateConfig(name="ebm", kind="ebm", params={"outer_bags": 2}),
    "features": ("notices_180d", "notices_365d"),
    "training_window": ("2017-01-01", "2019-01-01"),
    "seed": 1,
    "data_fingerprint": "abc123",
}


def test_identity_is_stable_and_ignores_the_candidate_name():
    first = candidate_identity(**_BASE)
    assert first == candidate_identity(**_BASE)
    assert first.startswith("ebmscorer-")
    renamed = CandidateConfig(name="ebm_renamed", kind="ebm", params={"outer_bags": 2})
    assert candidate_identity(**{**_BASE, "candidate": renamed}) == first
    # Spelling out a default gives the same model, hence the same ID.
    explicit = CandidateConfig(name="ebm", kind="ebm", params={"outer_bags": 2, "max_bins": 256})
    assert candidate_identity(**{**_BASE, "candidate": explicit}) == first


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("candidate", CandidateConfig(name="ebm", kind="ebm", params={"outer_bags": 3})),
        ("candidate", CandidateConfig(name="ebm", kind="hist_gradient_boosting")),
        ("features", ("notices_180d", "notices_365d", "notices_all")),
        ("features", ("notices_365d", "notices_180d")),
        ("training_window", ("2017-01-01", "2019-02-01")),
        ("seed", 2),
        ("data_fingerprint", "abc124"),
    ],
)
def test_identity_changes_with_every_input(field, value):
    assert candidate_identity(**{**_BASE, field: value}) != candidate_identity(**_BASE)


# --- is_interpretable ---------------------------------------------------------------------


def test_only_the_black_box_yardstick_is_not_interpretable():
    kinds = sorted(CANDIDATE_CLASSES)
    assert [k for k in kinds if not is_interpretable(k)] == ["hist_gradient_boosting"]


def test_eligibility_lets_a_black_box_in_only_when_the_config_allows_it():
    from ewp.models.selection import eligibility

    grid = EvaluationConfig().candidates
    assert eligibility(grid, allow_black_box=False) == {
        c.name: c.kind != "hist_gradient_boosting" for c in grid
    }
    assert set(eligibility(grid, allow_black_box=True).values()) == {True}


def test_is_interpretable_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown candidate kind 'random_forest'"):
        is_interpretable("random_forest")
