"""An interpretable logistic-regression scorecard with per-feature contributions.

The model standardises each feature and fits an L2-regularised logistic regression. Its
contribution for one officer and feature is ``coef_j * (x_j - mean_j) / scale_j`` in log-odds:
how far that feature moves the officer's risk above (positive) or below (negative) an average
serving officer. Contributions plus ``intercept_`` sum to the model's log-odds, so the reasons
on a flag add up to its score exactly.

``fit`` takes optional ``sample_weight`` (e.g. the inverse-probability weights of
``ewp.models.sampling.negative_subsample``). The weights enter the logistic loss and also the
standardisation: ``mean_`` and ``scale_`` are then the weighted mean and weighted (population)
standard deviation, so on a weighted negative subsample they estimate the full data's average
officer and spread, and ``intercept_`` and the contributions keep their meaning.

A missing value (NaN: e.g. the tenure of an officer whose joining date is unknown) stands for the
average officer's: it contributes nothing, and so is never a reason. A case count equal to its
allegation count in every training row (``ewp.models.inputs.repeated_columns``: an export with one
allegation per case and officer) is left out of the fit, with coefficient 0, so the model is
the one fitted without it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from ewp.models.inputs import repeated_columns, validate_features, validate_labels, validate_weights


class ScorecardClassifier(ClassifierMixin, BaseEstimator):
    """Standardised L2 logistic regression whose terms explain each score.

    Parameters
    ----------
    regularisation_c:
        Inverse regularisation strength (``C`` of scikit-learn's LogisticRegression).
    class_weight:
        Passed to LogisticRegression; ``None`` keeps calibrated probabilities.
    random_state:
        Seed (the lbfgs solver is deterministic; kept so every model records its seed).
    """

    interpretable = True

    def __init__(
        self,
        regularisation_c: float = 0.1,
        class_weight: str | None = None,
        random_state: int = 0,
    ) -> None:
        self.regularisation_c = regularisation_c
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray | pd.Series,
        sample_weight: np.ndarray | pd.Series | None = None,
    ) -> ScorecardClassifier:
        """Fit on a feature frame (columns are feature names), 0/1 labels and optional weights.

        With ``sample_weight`` the standardisation uses the weighted mean and weighted
        population standard deviation, and the weights are passed to LogisticRegression; weights
        of all ones give the same model as none.
        """
        validate_features(X)
        labels = validate_labels(y, len(X))
        weights = validate_weights(sample_weight, len(X))
        values = X.to_numpy(dtype="float64")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = values.shape[1]
        missing = np.isnan(values)
        if missing.any():
            values = _mean_filled(values, missing, weights)
        if weights is None:
            self.mean_ = values.mean(axis=0)
            scale = values.std(axis=0)
        else:
            self.mean_ = np.average(values, axis=0, weights=weights)
            scale = np.sqrt(np.average((values - self.mean_) ** 2, axis=0, weights=weights))
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.repeated_ = repeated_columns(X)
        model = LogisticRegression(
            C=self.regularisation_c,
            class_weight=self.class_weight,
            max_iter=2000,
            random_state=self.random_state,
        )
        standardised = (values - self.mean_) / self.scale_
        if self.repeated_.any():
            standardised = standardised[:, ~self.repeated_]
        model.fit(standardised, labels, sample_weight=weights)
        self.classes_ = model.classes_
        self.coef_ = np.zeros(self.n_features_in_)
        self.coef_[~self.repeated_] = model.coef_[0]
        self.intercept_ = float(model.intercept_[0])
        return self

    def _standardised(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "coef_")
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"feature frame lacks columns the model was fitted on: {missing}")
        values = X[list(self.feature_names_in_)].to_numpy(dtype="float64")
        standardised = (values - self.mean_) / self.scale_
        standardised[np.isnan(standardised)] = 0.0  # missing: the average officer's value
        return standardised

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-row, per-feature log-odds contributions relative to an average officer."""
        terms = self._standardised(X) * self.coef_
        return pd.DataFrame(terms, index=X.index, columns=list(self.feature_names_in_))

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of escalation: intercept plus the sum of contributions."""
        standardised = self._standardised(X)
        return self.intercept_ + standardised @ self.coef_

    def probability_from_score(self, scores: np.ndarray) -> np.ndarray:
        """The escalation probability of a log-odds ``decision_function`` score."""
        return 1.0 / (1.0 + np.exp(-scores))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities of [no escalation, escalation] per row."""
        p = self.probability_from_score(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """0/1 at probability 0.5 (ranking, not this threshold, is what ewp uses)."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype("int64")

    def points(self) -> pd.DataFrame:
        """The scorecard: log-odds points per standard deviation of each feature."""
        check_is_fitted(self, "coef_")
        return pd.DataFrame(
            {
                "feature": self.feature_names_in_,
                "points_per_sd": self.coef_,
                "mean": self.mean_,
                "sd": self.scale_,
            }
        )


def _mean_filled(values: np.ndarray, missing: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """``values`` with each missing cell set to its column's (weighted) mean of the present
    ones; 0 where a column has none."""
    present = (~missing).astype("float64")
    if weights is not None:
        present *= weights[:, None]
    totals = present.sum(axis=0)
    sums = (np.where(missing, 0.0, values) * present).sum(axis=0)
    means = np.divide(sums, totals, out=np.zeros(values.shape[1]), where=totals > 0)
    return np.where(missing, means, values)
