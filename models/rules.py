"""The classic early-warning rules, written as competing models.

A professional standards unit's existing system is a threshold rule ("3 or more complaints in
the last 180 days", ``cases_180d``; counted in allegations, ``notices_180d``). A model earns
its place only by beating such rules at the same number of officers flagged, so each rule here
is a scikit-learn style estimator that the evaluation scores exactly like a model:
``decision_function`` ranks officers (higher = more risk) and ``predict_proba`` gives
calibrated rates so the Brier score is defined.

- ``ThresholdRule`` flags officers whose feature reaches a threshold, the same for everyone.
- ``PeerOutlierRule`` flags officers in the top fraction of their own unit.
- ``CountRanker`` ranks the whole force by a count, with a deterministic tie-break.

A flag rule gives every flagged officer the same score (1.0): it has no order within its flags,
and the list metrics share a list's places among tied flags. A list longer than the rule's
flags is never padded with arbitrary officers: the rest of the officers follow in order of the
rule's own criterion, relaxed (``fill_feature``: a threshold rule's feature, e.g. officers with
2 notices in 180 days before those with 1; the peer rule's share of unit colleagues with fewer
notices), with a score in (0, 1). Each rule says what it does in plain language with
``describe()``, and how its list continues with ``describe_fill()``.

Every ``fit`` takes optional ``sample_weight`` (e.g. the inverse-probability weights of
``ewp.models.sampling.negative_subsample``): the flag rules' rates and the count ranker's isotonic
calibration are then weighted, so a weighted subsample estimates the full data's rates. Weights
never change a rule's flags or ranking, only ``predict_proba``.

Inputs are checked by ``ewp.models.inputs``, as in every ewp estimator.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.utils.validation import check_is_fitted

from ewp.core.config import FeatureConfig
from ewp.features.registry import FeatureSpec, feature_specs, format_value
from ewp.models.inputs import validate_features, validate_labels, validate_weights

# Feature frames store shares as float32 (19/20 becomes 0.94999999), so comparisons of a share
# with a cut-off such as 1 - 0.05 allow this much slack.
SHARE_TOLERANCE = 1e-6


def _feature_values(X: pd.DataFrame, feature: str) -> np.ndarray:
    """One feature's column as float64, with an error naming it when it is missing."""
    if feature not in X.columns:
        raise ValueError(
            f"feature {feature!r} is not in the feature frame; available: {list(X.columns)}"
        )
    return X[feature].to_numpy(dtype="float64")


def _spec(feature: str) -> FeatureSpec | None:
    """The registry's spec of a default feature (its reason: "{value} notices ..."), if any."""
    return next((s for s in feature_specs(FeatureConfig()) if s.name == feature), None)


def _phrase(feature: str) -> str:
    """A count in words ("notices received in the last 12 months"), else the feature's name."""
    spec = _spec(feature)
    if spec is None or not spec.reason.startswith("{value} "):
        return feature
    return spec.sentence("", s="s").removeprefix(" ")


def _weighted_rate(labels: np.ndarray, weights: np.ndarray, rows: np.ndarray) -> float | None:
    """Weighted share of escalations among ``rows`` (boolean mask); None if they weigh nothing."""
    total = float(weights[rows].sum())
    if total <= 0:
        return None
    return float(weights[rows] @ labels[rows]) / total


def _threshold_text(feature: str, threshold: float) -> str:
    """A threshold as the registry shows the feature's values, without rounding a fraction."""
    text = format_value(feature, threshold)
    if text.endswith("%") or float(threshold).is_integer():
        return text
    return f"{threshold:g}"


class _FlagRule(ClassifierMixin, BaseEstimator):
    """Shared behaviour of a rule that flags officers: binary scores and learned flag rates.

    Subclasses define ``__init__`` (their parameters) and ``_flag_values``. ``fit`` learns only
    the escalation rate among flagged and unflagged training officers, which ``predict_proba``
    returns.
    """

    interpretable = True

    def _flag_values(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray | pd.Series,
        sample_weight: np.ndarray | pd.Series | None = None,
    ) -> Self:
        """Record the feature names and the escalation rate among flagged and other officers.

        With ``sample_weight`` the rates are weighted (sum of weights of escalations over sum
        of weights in the group). When no training officer is flagged (or none is left
        unflagged), or the group's weights sum to zero, that group's rate is the overall
        (weighted) base rate. ``n_flagged_train_`` counts flagged training rows, unweighted.
        """
        validate_features(X)
        labels = validate_labels(y, len(X))
        weights = validate_weights(sample_weight, len(X))
        if weights is None:
            weights = np.ones(len(X))
        flagged = self._flag_values(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.array([0, 1])
        base_rate = _weighted_rate(labels, weights, np.ones(len(X), dtype=bool))
        self.base_rate_ = 0.0 if base_rate is None else base_rate
        self.n_flagged_train_ = int(flagged.sum())
        flagged_rate = _weighted_rate(labels, weights, flagged)
        unflagged_rate = _weighted_rate(labels, weights, ~flagged)
        self.flagged_rate_ = self.base_rate_ if flagged_rate is None else flagged_rate
        self.unflagged_rate_ = self.base_rate_ if unflagged_rate is None else unflagged_rate
        return self

    def flags(self, X: pd.DataFrame) -> np.ndarray:
        """Boolean array: True for each officer (row) the rule flags."""
        check_is_fitted(self, "flagged_rate_")
        return self._flag_values(validate_features(X))

    @property
    def fill_feature(self) -> str:
        """The feature that orders the officers the rule does not flag."""
        raise NotImplementedError

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """1.0 for flagged officers (a rule has no order within its flags); below them, the
        rest by ``fill_feature``: ``(1 + t / (1 + |t|)) / 2`` for its value ``t``, strictly
        increasing and in (0, 1), so the rule's flags always come first. Equal values tie."""
        flagged = self.flags(X)
        t = _feature_values(X, self.fill_feature)
        below = np.minimum((1.0 + t / (1.0 + np.abs(t))) / 2.0, np.nextafter(1.0, 0.0))
        return np.where(flagged, 1.0, below)

    def describe_fill(self) -> str:
        """How the rule's list continues past its flags, in words."""
        return f"the officers with the most {_phrase(self.fill_feature)}"

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """[no escalation, escalation] per row: the training rate of the row's group."""
        p = np.where(self.flags(X), self.flagged_rate_, self.unflagged_rate_)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 for flagged officers, 0 otherwise."""
        return self.flags(X).astype("int64")


class ThresholdRule(_FlagRule):
    """Flags officers whose ``feature`` is at least ``threshold``, the same rule for everyone.

    Parameters
    ----------
    feature:
        The feature the rule reads, e.g. ``notices_180d``. Other columns are ignored.
    threshold:
        Officers with ``feature >= threshold`` are flagged.
    """

    def __init__(self, feature: str = "notices_180d", threshold: float = 3) -> None:
        self.feature = feature
        self.threshold = threshold

    def _flag_values(self, X: pd.DataFrame) -> np.ndarray:
        return _feature_values(X, self.feature) >= self.threshold

    @property
    def fill_feature(self) -> str:
        """Past its flags, the list goes on by the thresholded feature: the rule, relaxed."""
        return self.feature

    def describe(self) -> str:
        """The rule in plain language: "3 or more notices received in the last 180 days", or
        "3 or more complaints received in the last 180 days" for ``cases_180d``."""
        amount = f"{_threshold_text(self.feature, self.threshold)} or more"
        spec = _spec(self.feature)
        if spec is None:
            return f"{self.feature} of {amount}"
        return spec.sentence(amount, s="s")


class PeerOutlierRule(_FlagRule):
    """Flags officers in the top ``top_fraction`` of their unit by a recent count.

    An officer is flagged when the share of unit colleagues with fewer notices
    (``share_feature``) is at least ``1 - top_fraction`` and the officer has at least one
    notice (``count_feature >= 1``): in a quiet unit, an officer with no notices is never an
    outlier. Shares are compared with a tolerance of ``SHARE_TOLERANCE`` because feature frames
    store them as float32.

    Parameters
    ----------
    top_fraction:
        Size of the top of each unit that is flagged, in (0, 1]; 0.05 is the top 5%.
    share_feature:
        Share of the unit's officers with fewer notices (0 to 1).
    count_feature:
        The officer's own count over the same window.
    """

    def __init__(
        self,
        top_fraction: float = 0.05,
        share_feature: str = "unit_share_below_365d",
        count_feature: str = "notices_365d",
    ) -> None:
        self.top_fraction = top_fraction
        self.share_feature = share_feature
        self.count_feature = count_feature

    def _flag_values(self, X: pd.DataFrame) -> np.ndarray:
        if not 0 < self.top_fraction <= 1:
            raise ValueError(f"top_fraction must be in (0, 1], got {self.top_fraction}")
        share = _feature_values(X, self.share_feature)
        count = _feature_values(X, self.count_feature)
        return (share >= 1 - self.top_fraction - SHARE_TOLERANCE) & (count >= 1)

    @property
    def fill_feature(self) -> str:
        """Past its flags, the list goes on by the share of unit colleagues with fewer."""
        return self.share_feature

    def describe_fill(self) -> str:
        """How the rule's list continues past its flags, in words."""
        return f"the officers highest in their unit for {_phrase(self.count_feature)}"

    def describe(self) -> str:
        """The rule in plain language: "in the top 5% of their unit for notices ..."."""
        return (
            f"in the top {self.top_fraction * 100:g}% of their unit for "
            f"{_phrase(self.count_feature)}, with at least one such notice"
        )


class CountRanker(ClassifierMixin, BaseEstimator):
    """Ranks every officer by a count, breaking ties by a second feature.

    The score is ``count + (1 + t / (1 + |t|)) / 2``, where ``t`` is the tie-breaker's value
    (for a count such as ``notices_all``, ``t >= 0`` and the term is ``1/2`` to ``1``). The
    term is strictly increasing in ``t`` and lies in (0, 1), so it orders officers with equal
    counts by ``t`` and never overtakes a higher count. Unlike a scale taken from the
    data (e.g. dividing by ``1 + max(t)``), it depends on the row alone, so a score means the
    same in every batch. This requires an integer-valued ``feature``, which is checked.

    ``predict_proba`` maps the score to the training escalation rate by isotonic regression:
    monotone, so it never changes the ranking, and it makes the Brier score defined.

    Parameters
    ----------
    feature:
        The count that ranks officers, e.g. ``notices_365d``.
    tie_breaker:
        Feature that orders officers with equal counts (higher first); ``None`` leaves ties.
    """

    interpretable = True

    def __init__(
        self, feature: str = "notices_365d", tie_breaker: str | None = "notices_all"
    ) -> None:
        self.feature = feature
        self.tie_breaker = tie_breaker

    def _scores(self, X: pd.DataFrame) -> np.ndarray:
        validate_features(X)
        count = _feature_values(X, self.feature)
        if not np.array_equal(count, np.round(count)):
            raise ValueError(f"CountRanker needs whole-number values in {self.feature!r}")
        if self.tie_breaker is None:
            return count
        t = _feature_values(X, self.tie_breaker)
        return count + (1.0 + t / (1.0 + np.abs(t))) / 2.0

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray | pd.Series,
        sample_weight: np.ndarray | pd.Series | None = None,
    ) -> CountRanker:
        """Record the feature names and calibrate scores to escalation rates.

        ``sample_weight`` weights the isotonic calibration; the ranking itself never uses it.
        """
        scores = self._scores(X)
        labels = validate_labels(y, len(X))
        weights = validate_weights(sample_weight, len(X))
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.array([0, 1])
        self.calibration_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
            scores, labels, sample_weight=weights
        )
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The count plus the tie-break term: higher = ranked nearer the top."""
        check_is_fitted(self, "calibration_")
        return self._scores(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """[no escalation, escalation] per row, from the isotonic calibration of the score."""
        p = self.calibration_.predict(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """0/1 at probability 0.5 (ranking, not this threshold, is what ewp uses)."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype("int64")

    def describe(self) -> str:
        """The ranking in plain language: "ranked by notices received in the last 12 months"."""
        text = f"ranked by {_phrase(self.feature)}"
        if self.tie_breaker is None:
            return text
        return f"{text}, ties broken by {_phrase(self.tie_breaker)}"
