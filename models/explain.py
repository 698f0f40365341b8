"""Explanations as data: the top contributing features behind each score, as a tidy table.

Rendering those rows as sentences is a separate step (``ewp.features.registry.render_reason``),
so the same table feeds the CSV, the HTML report and any audit of the reasons.

Values are always matched to contributions **by feature name**, never by position: a model
trained on a feature subset (e.g. the case-to-answer scorecard, 8 of 25 features) has 8
contribution columns, and the value quoted beside each must be that feature's own value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ewp.models.inputs import repeated_columns

# An Explainable Boosting Machine names a pairwise interaction term "a & b" (interpret-core).
INTERACTION_SEPARATOR = " & "


def model_features(model: Any) -> list[str]:
    """The feature names a fitted model reads, in its own order (``feature_names_in_``).

    Every ewp estimator records them when fitted; a model without them cannot be matched to a
    feature matrix by name, so it is refused with a ValueError.
    """
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise ValueError(
            f"{type(model).__name__} does not record the feature names it was fitted on "
            "(feature_names_in_): its reasons could not be matched to the officer's values"
        )
    return [str(name) for name in names]


def _single_feature_terms(terms: pd.Index, features: pd.Index) -> list[str]:
    """The terms that are one feature each; raises ValueError for a term that is neither a
    feature in ``features`` nor an interaction of two of them."""
    known = set(map(str, features))
    single: list[str] = []
    unknown: list[str] = []
    for term in map(str, terms):
        if term in known:
            single.append(term)
        elif not set(term.split(INTERACTION_SEPARATOR)) <= known:
            unknown.append(term)
    if unknown:
        raise ValueError(
            f"contribution terms name features with no value to quote: {unknown}; "
            f"values hold {sorted(known)}"
        )
    return single


def top_reasons(contributions: pd.DataFrame, values: pd.DataFrame, *, n: int) -> pd.DataFrame:
    """The ``n`` largest positive contributions per row, as a tidy table.

    ``contributions`` has one row per scored row and one column per model term; ``values``
    has the same row labels and a column per feature, by name (it may hold more features than
    the model reads, e.g. the whole feature matrix). Each term's value is taken from the
    ``values`` column of the same name. An Explainable Boosting Machine's interaction terms
    (``"a & b"``) are not one fact about the officer that a sentence could quote, so they are
    never reasons; the rows' other terms still are.

    Returns columns ``row`` (the index label), ``rank`` (1 = largest), ``feature``, ``value``,
    ``contribution``. Only factors that *raise* the risk are reasons; a row may have fewer
    than ``n``. Ties are broken by term order, so the result is deterministic. Raises
    ValueError when ``n`` is not positive, a term names a feature ``values`` lacks, or the two
    frames do not hold the same rows.
    """
    if n <= 0:
        raise ValueError("n must be positive")
    features = _single_feature_terms(contributions.columns, values.columns)
    if not contributions.index.is_unique or not values.index.is_unique:
        raise ValueError("contributions and values need one row per label (repeated labels)")
    if set(contributions.index) != set(values.index):
        raise ValueError("contributions and values hold different rows")
    terms = contributions[features].to_numpy(dtype="float64")
    quoted = values.loc[contributions.index, features].to_numpy(dtype="float64")
    # Stable sort of the negated terms: largest first, ties in column order.
    order = np.argsort(-terms, axis=1, kind="stable")[:, :n]
    row_pos = np.repeat(np.arange(len(terms)), order.shape[1])
    col_pos = order.ravel()
    tidy = pd.DataFrame(
        {
            "row": contributions.index.to_numpy()[row_pos],
            "rank": np.tile(np.arange(1, order.shape[1] + 1), len(terms)),
            "feature": np.asarray(features, dtype=object)[col_pos],
            "value": quoted[row_pos, col_pos],
            "contribution": terms[row_pos, col_pos],
        }
    )
    return tidy.loc[tidy["contribution"] > 0].reset_index(drop=True)


def deviation_contributions(values: pd.DataFrame, cohort: pd.DataFrame) -> pd.DataFrame:
    """Explanations for a model without additive terms (a rule or a count ranker).

    Each feature's standardised distance from the cohort's mean, ``(x - mean) / sd``: how
    unusual the officer is on it. Not a share of the score, so reports call these "what stands
    out", but as data it has the same shape as a model's contributions. A case count equal
    to its allegation count across the cohort (``ewp.models.inputs.repeated_columns``) gets 0.
    """
    mean = cohort[values.columns].mean()
    sd = cohort[values.columns].std(ddof=0).replace(0, 1.0)
    deviations = (values - mean) / sd
    # A case count repeating its allegation count says nothing new: never a reason twice.
    repeated = repeated_columns(cohort[values.columns])
    deviations.loc[:, repeated] = 0.0
    return deviations


def biggest_fall(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Per row, the single-feature term whose contribution fell the most from ``before`` to
    ``after`` (two contribution tables with the same rows and terms).

    Returns ``row``, ``feature`` and ``fall`` (before minus after, > 0), one row per input row
    whose score lost something on some feature; ties go to the first term. EBM interaction
    terms ("a & b") are left out, as in ``top_reasons``. Raises ValueError when the two tables
    do not hold the same rows and terms.
    """
    if not before.index.equals(after.index) or not before.columns.equals(after.columns):
        raise ValueError("before and after must hold the same rows and terms, in the same order")
    single = [str(c) for c in before.columns if INTERACTION_SEPARATOR not in str(c)]
    falls = (before[single] - after[single]).to_numpy(dtype="float64")
    if not single:
        return pd.DataFrame({"row": [], "feature": [], "fall": []})
    best = np.argmax(falls, axis=1)
    fall = falls[np.arange(len(falls)), best]
    keep = fall > 0
    return pd.DataFrame(
        {
            "row": before.index.to_numpy()[keep],
            "feature": np.asarray(single, dtype=object)[best[keep]],
            "fall": fall[keep],
        }
    )


@dataclass(frozen=True)
class ModelTerms:
    """What a fitted model weighs, feature by feature, for its model card.

    ``table`` has ``term`` (a feature, or an EBM interaction "a & b"), ``weight`` (a number,
    NaN where the model has none) and ``detail`` (text, "" where none), in the model's order;
    ``weight_label`` says what ``weight`` means ("" when no term has one).
    """

    table: pd.DataFrame
    weight_label: str


def _terms(terms: list[str], weights: list[float], details: list[str], label: str) -> ModelTerms:
    table = pd.DataFrame({"term": terms, "weight": weights, "detail": details})
    return ModelTerms(table=table.astype({"weight": "float64"}), weight_label=label)


def model_terms(model: Any) -> ModelTerms:
    """The terms a fitted model reads and how much each weighs, as its kind defines it.

    * a scorecard (``points``): log-odds points per standard deviation of each feature, with
      the feature's mean and standard deviation in the training data;
    * an EBM: each term's importance, the mean absolute log-odds it adds over the training
      data (interpret's ``term_importances``), interactions included;
    * a threshold, peer or count rule: only the features it reads, with what it does to them;
    * anything else (the black-box yardstick): its features, with no weight.
    """
    if hasattr(model, "points"):
        points = model.points()
        details = [
            f"mean {mean:.3g}, standard deviation {sd:.3g}"
            for mean, sd in zip(points["mean"], points["sd"], strict=True)
        ]
        return _terms(
            [str(f) for f in points["feature"]],
            [float(p) for p in points["points_per_sd"]],
            details,
            "log-odds points per standard deviation",
        )
    fitted = getattr(model, "model_", None)
    if hasattr(fitted, "term_importances"):
        names = [str(name) for name in fitted.term_names_]
        importances = [float(value) for value in fitted.term_importances()]
        return _terms(
            names, importances, [""] * len(names), "mean absolute log-odds added (importance)"
        )
    used = [
        (getattr(model, name), role)
        for name, role in (
            ("feature", "the count it flags or ranks by"),
            ("share_feature", "share of unit colleagues with fewer"),
            ("count_feature", "at least one such notice"),
            ("tie_breaker", "breaks ties"),
        )
        if getattr(model, name, None)
    ]
    if used:
        details = [role for _, role in used]
        return _terms([str(f) for f, _ in used], [float("nan")] * len(used), details, "")
    names = model_features(model)
    return _terms(names, [float("nan")] * len(names), [""] * len(names), "")
