"""Labelled rows of the feature matrix: the rows whose label is observed, and the labels.

A row (officer, as-of date) is labelled once its whole label window is known by
``observed_until`` (``ewp.features.labels.build_labels``; findings count once decided by then).
Labels come from the identifiers alone, so only the rows kept are read in full: a training
window of many dates reads its identifiers first, then only the rows it keeps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ewp.core.config import LabelConfig
from ewp.core.contract import ForceData
from ewp.features.labels import build_labels
from ewp.features.matrix import FeatureMatrix


def observed_labels(
    data: ForceData,
    matrix: FeatureMatrix,
    dates: Sequence[dt.date],
    *,
    label: LabelConfig,
    observed_until: dt.date,
) -> tuple[np.ndarray, np.ndarray]:
    """The positions (in ``matrix.read(dates)`` order) of the rows at ``dates`` whose label is
    observed by ``observed_until``, and those labels."""
    ids = matrix.read(dates, columns=["officer_id", "as_of"], categorical_ids=True)
    labels = build_labels(data, ids, label=label, observed_until=observed_until)
    observed = np.flatnonzero(labels.notna().to_numpy())
    return observed, labels.to_numpy()[observed]


def read_labelled(
    data: ForceData,
    matrix: FeatureMatrix,
    dates: Sequence[dt.date],
    *,
    label: LabelConfig,
    observed_until: dt.date,
    columns: list[str] | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows at ``dates`` whose label is observed by ``observed_until``, and those labels. Only
    ``columns`` (default all) are read."""
    observed, labels = observed_labels(
        data, matrix, dates, label=label, observed_until=observed_until
    )
    return matrix.read(dates, columns=columns, rows=observed), labels
