"""The checks every ewp estimator applies to its inputs.

Features must be a pandas DataFrame of numeric columns (the column names tie each value to its
meaning), none of them a protected attribute from ``ewp.features.registry.FORBIDDEN_INPUTS``;
labels must be 0 (no escalation) or 1 (escalation), one per feature row; optional sample
weights (e.g. the inverse-probability weights of ``ewp.models.sampling.negative_subsample``) must be
finite, non-negative numbers, one per feature row, not all zero.

``repeated_columns`` finds the case counts that merely repeat their allegation counts: where
every case carries one allegation per officer the two are equal, and a model that fits both
only splits one effect in two (and shows it twice among the reasons).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ewp.features.registry import FORBIDDEN_INPUTS, twin_of


def validate_features(X: pd.DataFrame) -> pd.DataFrame:
    """Check a feature frame: a DataFrame of numeric columns, none a protected attribute.

    Returns ``X`` unchanged. Raises ``TypeError`` for anything but a DataFrame (column names
    are what ties a value to its meaning) and ``ValueError`` naming protected or non-numeric
    columns (a datetime column must be turned into a number such as days, first).
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"expected a pandas DataFrame whose columns are feature names, got {type(X).__name__}"
        )
    forbidden = FORBIDDEN_INPUTS & {str(c) for c in X.columns}
    if forbidden:
        raise ValueError(f"protected attributes cannot be model inputs: {sorted(forbidden)}")
    non_numeric = [str(c) for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if non_numeric:
        raise ValueError(f"feature columns must be numeric; not numeric: {non_numeric}")
    return X


def validate_labels(y: np.ndarray | pd.Series, n_rows: int) -> np.ndarray:
    """0/1 escalation labels as an int64 array, one per feature row."""
    labels = np.asarray(y)
    if labels.ndim != 1 or len(labels) != n_rows:
        raise ValueError(f"expected {n_rows} labels in one dimension, got shape {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (no escalation) or 1 (escalation)")
    return labels.astype("int64")


def validate_weights(
    sample_weight: np.ndarray | pd.Series | None, n_rows: int
) -> np.ndarray | None:
    """Sample weights as a float64 array, one per feature row; ``None`` stays ``None``.

    Raises ``ValueError`` unless the weights are one-dimensional, ``n_rows`` long, finite and
    non-negative, with a positive total when there are rows (all-zero weights leave every
    weighted rate undefined).
    """
    if sample_weight is None:
        return None
    try:
        weights = np.asarray(sample_weight, dtype="float64")
    except (TypeError, ValueError) as error:
        raise ValueError(f"sample weights must be numbers: {error}") from None
    if weights.ndim != 1 or len(weights) != n_rows:
        raise ValueError(
            f"expected {n_rows} sample weights in one dimension, got shape {weights.shape}"
        )
    if not np.isfinite(weights).all():
        raise ValueError("sample weights must be finite (no NaN or infinity)")
    if (weights < 0).any():
        raise ValueError("sample weights must be non-negative")
    if n_rows and not weights.sum() > 0:
        raise ValueError("sample weights must not all be zero")
    return weights


def repeated_columns(X: pd.DataFrame) -> np.ndarray:
    """Per column of a feature frame: True when it is a case count equal, in every row, to the
    allegation count it is the twin of (``ewp.features.registry.twin_of``), which is in the frame
    too. Only such twins are left out: any other column, even a constant one, stays, so a
    model fitted on a frame with repeated twins is the model fitted without them."""
    repeated = np.zeros(X.shape[1], dtype=bool)
    for j, name in enumerate(X.columns):
        twin = twin_of(str(name))
        if twin is not None and twin in X.columns:
            repeated[j] = np.array_equal(
                X[name].to_numpy(dtype="float64"), X[twin].to_numpy(dtype="float64"), equal_nan=True
            )
    return repeated
