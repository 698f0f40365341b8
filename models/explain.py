"""Explanations as data: the top contributing features behind each score, as a tidy table.

Rendering those rows as sentences is a separate step (``features.registry.render_reason``),
so the same table feeds the CSV, the HTML report and any audit of the reasons.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.inputs import repeated_columns


def top_reasons(contributions: pd.DataFrame, values: pd.DataFrame, *, n: int) -> pd.DataFrame:
    """The ``n`` largest positive contributions per row, as a tidy table.

    ``contributions`` and ``values`` share index and columns (rows x features). Returns columns
    ``row`` (the index label), ``rank`` (1 = largest), ``feature``, ``value``, ``contribution``.
    Only factors that *raise* the risk are reasons; a row may have fewer than ``n``. Ties are
    broken by feature order, so the result is deterministic.
    """
    if n <= 0:
        raise ValueError("n must be positive")
    terms = contributions.to_numpy(dtype="float64")
    # Stable sort of the negated terms: largest first, ties in column order.
    order = np.argsort(-terms, axis=1, kind="stable")[:, :n]
    row_pos = np.repeat(np.arange(len(terms)), order.shape[1])
    col_pos = order.ravel()
    tidy = pd.DataFrame(
        {
            "row": contributions.index.to_numpy()[row_pos],
            "rank": np.tile(np.arange(1, order.shape[1] + 1), len(terms)),
            "feature": contributions.columns.to_numpy()[col_pos],
            "value": values.to_numpy(dtype="float64")[row_pos, col_pos],
            "contribution": terms[row_pos, col_pos],
        }
    )
    return tidy.loc[tidy["contribution"] > 0].reset_index(drop=True)


def deviation_contributions(values: pd.DataFrame, cohort: pd.DataFrame) -> pd.DataFrame:
    """Explanations for a model without additive terms (a rule or a count ranker).

    Each feature's standardised distance from the cohort's mean, ``(x - mean) / sd``: how
    unusual the officer is on it. Not a share of the score, so reports call these "what stands
    out", but as data it has the same shape as a model's contributions. A case count equal
    to its allegation count across the cohort (``models.inputs.repeated_columns``) gets 0.
    """
    mean = cohort[values.columns].mean()
    sd = cohort[values.columns].std(ddof=0).replace(0, 1.0)
    deviations = (values - mean) / sd
    # A case count repeating its allegation count says nothing new: never a reason twice.
    repeated = repeated_columns(cohort[values.columns])
    deviations.loc[:, repeated] = 0.0
    return deviations
