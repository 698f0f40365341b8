"""The checks every ewp estimator applies to its inputs.

Features must be a pandas DataFrame of numeric columns (the column names tie each value to its
meaning), none of them a protected attribute from ``features.registry.FORBIDDEN_INPUTS``;
labels must be 0 (no escalation) or 1 (escalation), one per feature row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.registry import FORBIDDEN_INPUTS


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
