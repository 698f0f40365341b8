"""The candidate grid: glass-box models, a black-box yardstick, and the factory that builds them.

Every candidate in ``EvaluationConfig.candidates`` is built here from its ``kind`` and
``params``; the evaluation then trains and scores each one the same way.

- Rule baselines (``threshold_rule``, ``peer_rule``, ``count_ranker``) live in ``ewp.models.rules``.
- ``scorecard`` is the logistic scorecard of ``ewp.models.scorecard``.
- ``ebm`` is ``EBMScorer``, an Explainable Boosting Machine: a sum of one learned curve per
  feature, so each score splits exactly into per-feature log-odds terms (``contributions``).
- ``hist_gradient_boosting`` is ``HistGBYardstick``, a black box trained only to show how much
  accuracy the glass-box models give up. Its ``interpretable`` class attribute is False, and it
  is never published unless the config opts in.

Every ``fit`` takes optional ``sample_weight`` (e.g. the inverse-probability weights of
``ewp.models.sampling.negative_subsample``), passed through to the library estimator's own ``fit``;
weights of all ones give the same model as none.

``candidate_identity`` gives each trained candidate a deterministic ID (class, parameters,
features, training window, seed, data fingerprint), so every output traces back to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Self, get_args

import numpy as np
import pandas as pd
from interpret.glassbox import ExplainableBoostingClassifier
from interpret.utils import inv_link
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted

from ewp.core.config import CandidateConfig, CandidateKind
from ewp.core.provenance import model_identity
from ewp.models.inputs import repeated_columns, validate_features, validate_labels, validate_weights
from ewp.models.rules import CountRanker, PeerOutlierRule, ThresholdRule
from ewp.models.scorecard import ScorecardClassifier


class _WrappedClassifier(ClassifierMixin, BaseEstimator):
    """A library classifier behind ewp's interface: fitted on a named, numeric feature frame.

    A case count equal to its allegation count in every training row
    (``ewp.models.inputs.repeated_columns``) is left out of the library model's fit (``repeated_``).
    Subclasses define ``__init__`` (their parameters) and ``_new_model`` (the unfitted library
    estimator). Scoring frames must hold the fitted columns; they are reordered to match.
    """

    interpretable = True

    def _new_model(self, feature_names: list[str]) -> BaseEstimator:
        raise NotImplementedError

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray | pd.Series,
        sample_weight: np.ndarray | pd.Series | None = None,
    ) -> Self:
        """Fit on a feature frame (columns are feature names), 0/1 labels and optional weights.

        ``sample_weight`` is checked and passed to the library estimator's ``fit``.
        """
        validate_features(X)
        labels = validate_labels(y, len(X))
        weights = validate_weights(sample_weight, len(X))
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        values = X.to_numpy(dtype="float64")
        self.repeated_ = repeated_columns(X)
        self.model_ = self._new_model([str(c) for c in self.feature_names_in_[~self.repeated_]])
        self.model_.fit(values[:, ~self.repeated_], labels, sample_weight=weights)
        self.classes_ = self.model_.classes_
        return self

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """The features of ``X`` the library model was fitted on, as a float64 matrix."""
        check_is_fitted(self, "model_")
        validate_features(X)
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"feature frame lacks columns the model was fitted on: {missing}")
        return X[list(self.feature_names_in_[~self.repeated_])].to_numpy(dtype="float64")

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of escalation per row (higher = more risk)."""
        return np.asarray(self.model_.decision_function(self._matrix(X)), dtype="float64")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities of [no escalation, escalation] per row."""
        return self.model_.predict_proba(self._matrix(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """0/1 at probability 0.5 (ranking, not this threshold, is what ewp uses)."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype("int64")


class EBMScorer(_WrappedClassifier):
    """Explainable Boosting Machine (interpret-core) with per-feature contributions.

    Every feature is treated as continuous. With ``interactions=0`` the model is a sum of one
    curve per feature, and ``contributions`` has one column per feature; with interactions,
    pairs are extra columns named ``"a & b"``. Either way ``intercept_`` plus the row sum of
    ``contributions`` equals ``decision_function``. Fits are deterministic for a
    ``random_state``.

    Parameters
    ----------
    outer_bags:
        Bagged models averaged into the final curves (more = smoother, slower).
    interactions:
        Number of pairwise interaction terms (0 keeps the model purely additive).
    max_bins:
        Bins per feature.
    learning_rate:
        Boosting learning rate.
    n_jobs:
        Processes used for fitting (1 avoids starting worker processes; on interpret-core
        0.7.8 a fit with 2 gave the same model as with 1).
    random_state:
        Seed.
    """

    def __init__(
        self,
        outer_bags: int = 2,
        interactions: int = 0,
        max_bins: int = 256,
        learning_rate: float = 0.015,
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        self.outer_bags = outer_bags
        self.interactions = interactions
        self.max_bins = max_bins
        self.learning_rate = learning_rate
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _new_model(self, feature_names: list[str]) -> ExplainableBoostingClassifier:
        return ExplainableBoostingClassifier(
            feature_names=feature_names,
            feature_types=["continuous"] * len(feature_names),
            outer_bags=self.outer_bags,
            interactions=self.interactions,
            max_bins=self.max_bins,
            learning_rate=self.learning_rate,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray | pd.Series,
        sample_weight: np.ndarray | pd.Series | None = None,
    ) -> Self:
        """Fit on a feature frame, 0/1 labels and optional weights; sets ``intercept_``."""
        super().fit(X, y, sample_weight=sample_weight)
        self.intercept_ = float(np.asarray(self.model_.intercept_).ravel()[0])
        return self

    def probability_from_score(self, scores: np.ndarray) -> np.ndarray:
        """``predict_proba(X)[:, 1]`` from ``decision_function(X)``: interpret's inverse link
        of the scores, which is what its ``predict_proba`` applies to them, so an evaluation
        reads the rows once."""
        check_is_fitted(self, "model_")
        return inv_link(scores, self.model_.link_, self.model_.link_param_)[:, 1]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-row, per-term log-odds contributions: one column per feature (0 for one left out
        of the fit), then one per interaction pair."""
        terms = pd.DataFrame(
            self.model_.eval_terms(self._matrix(X)),
            index=X.index,
            columns=list(self.model_.term_names_),
        )
        # A feature left out of the fit (it repeated its twin) contributes nothing.
        features = set(self.feature_names_in_)
        pairs = [name for name in terms.columns if name not in features]
        return terms.reindex(columns=[*self.feature_names_in_, *pairs], fill_value=0.0)


class HistGBYardstick(_WrappedClassifier):
    """Histogram gradient boosting: a black-box yardstick, never a source of reasons.

    A thin wrapper over scikit-learn's ``HistGradientBoostingClassifier``. With
    ``early_stopping="auto"`` (scikit-learn's default) it holds out 10% of the rows, chosen by
    ``random_state``, once there are more than 10,000.

    Parameters
    ----------
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization,
    early_stopping:
        As in ``HistGradientBoostingClassifier``.
    random_state:
        Seed.
    """

    interpretable = False

    def __init__(
        self,
        max_iter: int = 200,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        early_stopping: bool | str = "auto",
        random_state: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.early_stopping = early_stopping
        self.random_state = random_state

    def probability_from_score(self, scores: np.ndarray) -> np.ndarray:
        """``predict_proba(X)[:, 1]`` from ``decision_function(X)``: its logistic function
        (binary log-loss), so an evaluation takes both from one pass over the trees."""
        return expit(scores)

    def _new_model(self, feature_names: list[str]) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=self.early_stopping,
            random_state=self.random_state,
        )


def scores_and_probabilities(
    model: BaseEstimator, X: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ranking score (``decision_function``) and escalation probability.

    A model whose probability is a function of its score has ``probability_from_score``; its
    rows are then read once, not twice (scoring a national test block with the boosting
    yardstick is otherwise its slowest step).
    """
    scores = model.decision_function(X)
    if hasattr(model, "probability_from_score"):
        return scores, model.probability_from_score(scores)
    return scores, model.predict_proba(X)[:, 1]


CANDIDATE_CLASSES: Mapping[str, type[BaseEstimator]] = MappingProxyType(
    {
        "threshold_rule": ThresholdRule,
        "peer_rule": PeerOutlierRule,
        "count_ranker": CountRanker,
        "scorecard": ScorecardClassifier,
        "ebm": EBMScorer,
        "hist_gradient_boosting": HistGBYardstick,
    }
)


def build_candidate(candidate: CandidateConfig, *, seed: int) -> BaseEstimator:
    """An unfitted estimator for a candidate: its kind's class with its params.

    ``seed`` becomes ``random_state`` for classes that have one. A parameter the class does not
    take (including ``random_state``: the run's seed sets it) raises a ``ValueError`` naming the
    candidate and listing the allowed parameters.
    """
    estimator_class = CANDIDATE_CLASSES[candidate.kind]
    defaults = estimator_class().get_params(deep=False)
    allowed = sorted(set(defaults) - {"random_state"})
    unknown = sorted(set(candidate.params) - set(allowed))
    if unknown:
        seed_note = "; random_state is set by the run's seed" if "random_state" in unknown else ""
        raise ValueError(
            f"candidate {candidate.name!r} ({candidate.kind}): unknown parameter(s) {unknown}; "
            f"allowed: {allowed}{seed_note}"
        )
    params = dict(candidate.params)
    if "random_state" in defaults:
        params["random_state"] = seed
    return estimator_class(**params)


def _identity_class_path(estimator_class: type) -> str:
    """The estimator's class path as model identities spell it: without the ``ewp.`` prefix.

    ewp's own packages are installed under ``ewp.`` (``ewp.models.scorecard``); the prefix is
    dropped here so that a model keeps the ID it had before that move, and its flags theirs.
    """
    module = estimator_class.__module__.removeprefix("ewp.")
    return f"{module}.{estimator_class.__qualname__}"


def candidate_identity(
    *,
    candidate: CandidateConfig,
    features: Sequence[str],
    training_window: tuple[str, str],
    seed: int,
    data_fingerprint: str,
) -> str:
    """Deterministic ID of a trained candidate, e.g. ``ebmscorer-3f9a1c2b4d5e``.

    It covers the estimator class, all its parameters (defaults included, so a changed default
    changes the ID), the ordered feature list, the training window, the seed and the data
    fingerprint. The candidate's name is a label and does not enter it.
    """
    if isinstance(features, str):
        raise TypeError("features must be a sequence of feature names, not one string")
    estimator = build_candidate(candidate, seed=seed)
    estimator_class = type(estimator)
    return model_identity(
        estimator_class=_identity_class_path(estimator_class),
        params=estimator.get_params(deep=False),
        features=features,
        training_window=training_window,
        seed=seed,
        data_fingerprint=data_fingerprint,
    )


def is_interpretable(kind: str) -> bool:
    """Whether a candidate kind may be published without an explicit opt-in: its estimator
    class's ``interpretable`` attribute, the one place this is said."""
    if kind not in get_args(CandidateKind):
        raise ValueError(
            f"unknown candidate kind {kind!r}; expected one of {get_args(CandidateKind)}"
        )
    return bool(CANDIDATE_CLASSES[kind].interpretable)
