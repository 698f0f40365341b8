"""Fairness audit of a flag list: who is flagged, who is wrongly flagged, who is missed.

A flag starts a supportive review by a professional standards unit, but it may lead to
discipline, and the allegations it learns from are themselves biased (domain.md: Black officers
+81% more likely to have allegations brought). The audit therefore reports, per group of each
protected attribute (ethnicity, gender, age band, taken as of each date by ``attributes_as_of``;
never model inputs), how the list treats the group relative to a reference group, with group
sizes, bootstrap intervals and a verdict, and ``disparity_sources`` separates the disparity
already present in the notices from what the model adds.

Metrics (Aequitas' definitions; "flagged" = on the list, "positive" = label 1)
-------------------------------------------------------------------------------
=====================  ==============================================  =======================
metric                 definition                                      denominator
=====================  ==============================================  =======================
flag_rate              flagged / n (Aequitas "predicted prevalence",    n (officers in group)
                       fairlearn's selection rate)
share_of_flags         group's flags / all flags (Aequitas "predicted   all flags (every group)
                       positive rate"; its parity is "equal parity",
                       which mostly reflects group size)
precision              true positives / flagged (1 − FDR)               flagged
false_positive_rate    flagged negatives / label-negatives              label-negatives
false_negative_rate    unflagged positives / label-positives            label-positives
recall                 true positives / label-positives (1 − FNR)       label-positives
=====================  ==============================================  =======================

The label metrics need outcomes; a weekly list whose outcome is not yet known (``label`` all
NaN) gets only flag_rate and share_of_flags. Each metric's *ratio* is the group's value over
the reference group's: the group in ``FairnessConfig.reference_groups``, else the largest group.
Point values come from fairlearn's ``MetricFrame`` (share_of_flags, which fairlearn lacks, is
computed here); fairlearn's own bootstrap is not used because it resamples the whole table
(group sizes vary), loops in Python over replicates and gives no ratio to a reference group.

Two readings (Aequitas' fairness tree)
    *Punitive*: a flag can end in discipline, so an officer wrongly flagged bears a cost; look
    at false_positive_rate and precision (FDR) parity: are innocent officers of one group
    flagged more often, is a flag on them less often right? *Supportive*: a flag brings help,
    so being missed is the cost; look at recall (FNR) parity: are officers of one group who go
    on to escalate found as often? Flag rate is reported under both. The promotion gate checks
    ``FairnessConfig.gate_metrics`` (default false_positive_rate and flag_rate: the punitive
    reading, since the review may lead to discipline).

Intervals
    Each rate and ratio has a percentile bootstrap interval (``FairnessConfig.confidence``,
    ``bootstrap_samples`` replicates, ``numpy.random.default_rng(seed)``): officers are
    resampled with replacement *within each group*, so group sizes stay fixed, and a ratio's
    replicate is the group's replicate over the reference group's. An interval is NaN when the
    metric is undefined (0/0) in any replicate. If the frame has an ``officer_id`` column, an
    officer's rows (several dates) are resampled together, so pooling dates does not overstate
    precision (an officer whose age band changes between the dates is one unit in each band);
    ``n`` and ``denominator`` still count rows, the size rules below count officers. The
    replicates are drawn as multinomial counts over officer types, which is exact and
    vectorised (see ``_bootstrap_sums``).

Verdicts (per group × metric, band = ``FairnessConfig.band``, default 0.8–1.25)
    1. "reference" for the reference group;
    2. "insufficient data" when the group or the reference group has fewer than
       ``min_group_size`` officers, or fewer than ``min_group_size`` officers in the metric's
       denominator (e.g. label-negatives for false_positive_rate), or the ratio interval is
       undefined (a verdict on 12 officers is not a verdict);
    3. "outside band" when the whole ratio interval lies outside the band, however wide it is
       (a wide interval wholly beyond 1.25 is still evidence of disparity);
       then "insufficient data" when the interval is wider than the band itself
       (upper / lower > band_high / band_low): it cannot tell a fair list from an unfair one;
    4. "within band" when the point ratio lies inside the band;
    5. "inconclusive" otherwise (the point is outside, the interval reaches into the band).

Intersections
    Ethnicity × gender cells ("Black × Female") are audited the same way against the cell of
    the two reference groups. A cell with fewer than ``min_group_size`` officers is suppressed
    to protect the officers in it: every number is blanked to NaN and the verdict reads
    "suppressed (n < 20)" (with the configured size). This is primary suppression only: a
    blanked cell's counts can sometimes be recovered by subtracting the other cells from the
    ethnicity or gender totals in ``by_group``; keep that in mind before publishing both.

Where the disparity comes from
    ``disparity_sources`` sets side by side, per group, the ratios to the reference of notices
    per officer, case-to-answer rate, label rate and flag rate, and how much the list adds to
    the label's disparity and to the notices' (see its docstring).

Promotion gate
    ``fairness_gate`` blocks a candidate when any gate metric of any group is "outside band";
    "insufficient data" never blocks but is named in the reason.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)
from sklearn.metrics import precision_score, recall_score

from ewp.config import FairnessConfig
from models.evaluation import GateDecision

__all__ = [
    "BY_GROUP_COLUMNS",
    "INCONCLUSIVE",
    "INSUFFICIENT",
    "METRICS",
    "OUTSIDE",
    "REFERENCE",
    "SOURCES",
    "WITHIN",
    "AuditResult",
    "GateDecision",
    "age_band_labels",
    "attributes_as_of",
    "audit",
    "disparity_sources",
    "fairness_gate",
]

UNKNOWN = "Unknown"
INTERSECTION: tuple[str, str] = ("ethnicity", "gender")
CELL_SEPARATOR = " × "

REFERENCE = "reference"
INSUFFICIENT = "insufficient data"
OUTSIDE = "outside band"
WITHIN = "within band"
INCONCLUSIVE = "inconclusive"

BY_GROUP_COLUMNS: tuple[str, ...] = (
    "attribute",
    "group",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "n",
    "denominator",
    "verdict",
)


@dataclass(frozen=True)
class _Rate:
    """A rate as a ratio of sums of per-row statistics over a group's rows.

    ``pooled``: the denominator is summed over every group of the attribute (share of flags).
    """

    numerator: str
    denominator: str
    pooled: bool = False


FLAG_METRICS: dict[str, _Rate] = {
    "flag_rate": _Rate("flagged", "n"),
    "share_of_flags": _Rate("flagged", "flagged", pooled=True),
}
LABEL_METRICS: dict[str, _Rate] = {
    "precision": _Rate("tp", "flagged"),
    "false_positive_rate": _Rate("fp", "neg"),
    "false_negative_rate": _Rate("fn", "pos"),
    "recall": _Rate("tp", "pos"),
}
METRICS: tuple[str, ...] = (*FLAG_METRICS, *LABEL_METRICS)

# disparity_sources: name of the value column, name of its ratio columns, and the rate.
SOURCES: dict[str, tuple[str, _Rate]] = {
    "notices_per_officer": ("notices_ratio", _Rate("notices", "n")),
    "case_to_answer_rate": ("case_to_answer_ratio", _Rate("case_to_answer", "decided")),
    "label_rate": ("label_ratio", _Rate("label", "n")),
    "flag_rate": ("flag_ratio", _Rate("flagged", "n")),
}


@dataclass(frozen=True)
class AuditResult:
    """The audit of one flag list (or of several dates pooled).

    ``overall``: metric, value over every row (n, flagged and the rates).
    ``by_group``: one row per attribute × group × metric, columns ``BY_GROUP_COLUMNS``.
    ``intersections``: the same for ethnicity × gender cells, small cells suppressed.
    """

    overall: pd.DataFrame
    by_group: pd.DataFrame
    intersections: pd.DataFrame


@dataclass(frozen=True)
class _Sums:
    """Sums of the per-row statistics over one group: on the data and in each replicate.

    ``officers``: per statistic, the officers with a positive sum ("n": every officer).
    """

    point: pd.Series
    replicates: pd.DataFrame
    officers: pd.Series


# ---------------------------------------------------------------------------------------------
# Attributes as of a date
# ---------------------------------------------------------------------------------------------
def age_band_labels(edges: Sequence[int]) -> list[str]:
    """Band names for age edges: (25, 35) -> ["under 25", "25–34", "35 and over"]."""
    if not edges or any(high <= low for low, high in itertools.pairwise(edges)):
        raise ValueError(f"age band edges must be increasing and non-empty, got {list(edges)}")
    inner = [f"{low}–{high - 1}" for low, high in itertools.pairwise(edges)]
    return [f"under {edges[0]}", *inner, f"{edges[-1]} and over"]


def _known(values: pd.Series) -> pd.Series:
    """Values as text, with missing or blank entries as "Unknown"."""
    text = values.astype("string").str.strip()
    return text.mask(text.isna() | (text == ""), UNKNOWN).astype(str)


def attributes_as_of(
    officers: pd.DataFrame, rows: pd.DataFrame, *, age_band_edges: Sequence[int]
) -> pd.DataFrame:
    """Ethnicity, gender and age band of each row's officer (``officer_id``) on its ``as_of``.

    Age is the as-of year minus ``birth_year``; bands come from ``age_band_edges`` (see
    ``age_band_labels``). A blank or missing value, an absent column or an officer not in
    ``officers`` gives "Unknown". Returns the three columns, indexed like ``rows``. For the
    audit only: protected attributes are never model inputs.
    """
    labels = np.array(age_band_labels(list(age_band_edges)), dtype=object)
    people = officers.set_index("officer_id").reindex(columns=["ethnicity", "gender", "birth_year"])
    matched = people.reindex(rows["officer_id"].to_numpy())
    as_of_year = pd.DatetimeIndex(pd.to_datetime(rows["as_of"])).year.to_numpy()
    birth_year = pd.to_numeric(matched["birth_year"], errors="coerce").to_numpy(dtype="float64")
    age = as_of_year - birth_year
    band = np.where(
        np.isnan(age), UNKNOWN, labels[np.searchsorted(age_band_edges, age, side="right")]
    )
    return pd.DataFrame(
        {
            "ethnicity": _known(matched["ethnicity"]).to_numpy(),
            "gender": _known(matched["gender"]).to_numpy(),
            "age_band": band,
        },
        index=rows.index,
    )


# ---------------------------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------------------------
def _bootstrap_sums(
    stats: pd.DataFrame,
    groups: np.ndarray,
    clusters: np.ndarray,
    *,
    samples: int,
    rng: np.random.Generator,
) -> dict[str, _Sums]:
    """Per group, the sums of ``stats`` and ``samples`` stratified bootstrap replicates of them.

    Each officer (cluster of rows) is summarised by the vector of its statistics' sums, and
    officers with the same vector are interchangeable. Drawing a group's m officers with
    replacement and counting how often each distinct vector ("type", with frequency f) is drawn
    gives Multinomial(m, f / m) counts: exactly the distribution of a bootstrap of i.i.d.
    officers, drawn in one vectorised call per group. A replicate's sums are then counts @
    types. With one row per officer and binary statistics there are at most a handful of types
    (e.g. the four confusion-matrix cells), so the cost is samples × types, not samples × m.
    """
    per_officer = stats.groupby([groups, clusters], sort=True).sum()
    out: dict[str, _Sums] = {}
    for group, table in per_officer.groupby(level=0, sort=True):
        counted = table.value_counts(sort=False).sort_index()
        types = counted.index.to_frame(index=False).to_numpy(dtype="float64")
        frequency = counted.to_numpy()
        draws = rng.multinomial(len(table), frequency / len(table), size=samples)
        out[str(group)] = _Sums(
            point=pd.Series(frequency @ types, index=stats.columns),
            replicates=pd.DataFrame(draws @ types, columns=stats.columns),
            officers=(table > 0).sum(axis=0),
        )
    return out


def _divide(numerator: np.ndarray | float, denominator: np.ndarray | float) -> np.ndarray:
    """numerator / denominator as float64: x / 0 is inf, 0 / 0 is NaN, without warnings."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(np.asarray(numerator, dtype="float64"), denominator)


def _rates(sums: Mapping[str, _Sums], rate: _Rate) -> dict[str, tuple[float, float, np.ndarray]]:
    """Per group: the rate's numerator and denominator on the data, and its replicates."""
    if rate.pooled:
        total = (
            sum(s.point[rate.denominator] for s in sums.values()),
            sum(s.replicates[rate.denominator].to_numpy() for s in sums.values()),
        )
        denominators = dict.fromkeys(sums, total)
    else:
        denominators = {
            group: (s.point[rate.denominator], s.replicates[rate.denominator].to_numpy())
            for group, s in sums.items()
        }
    return {
        group: (
            float(s.point[rate.numerator]),
            float(denominators[group][0]),
            _divide(s.replicates[rate.numerator].to_numpy(), denominators[group][1]),
        )
        for group, s in sums.items()
    }


def _interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of the replicates; NaN when any replicate is undefined."""
    if np.isnan(replicates).any():
        return np.nan, np.nan
    tail = (1 - confidence) / 2
    with np.errstate(invalid="ignore"):
        low, high = np.quantile(replicates, [tail, 1 - tail])
    # Interpolating between two infinite replicates gives NaN; the quantile is then infinite.
    return (np.inf if np.isnan(low) else low), (np.inf if np.isnan(high) else high)


# ---------------------------------------------------------------------------------------------
# Groups, references and verdicts
# ---------------------------------------------------------------------------------------------
def _reference(sizes: pd.Series, configured: str | None, attribute: str) -> str:
    """The configured reference group, else the largest (ties: first by name)."""
    if configured is not None:
        if configured not in sizes.index:
            raise ValueError(
                f"reference group {configured!r} for {attribute!r} is not in the data; "
                f"groups: {sorted(sizes.index)}"
            )
        return configured
    return str(sizes.sort_index().idxmax())


def _verdict(
    *, ratio: float, low: float, high: float, officers: int, config: FairnessConfig
) -> str:
    """The verdict of the module docstring (rule 1, the reference, is the caller's)."""
    band_low, band_high = config.band
    if officers < config.min_group_size:
        return INSUFFICIENT
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0:
        return INSUFFICIENT
    # An interval wholly outside the band is evidence however wide it is: test it before the
    # width rule, which only keeps a wide interval from being called "within band".
    if high < band_low or low > band_high:
        return OUTSIDE
    if high / low > band_high / band_low:
        return INSUFFICIENT
    if band_low <= ratio <= band_high:
        return WITHIN
    return INCONCLUSIVE


def _clusters(frame: pd.DataFrame) -> np.ndarray:
    """The resampling unit per row: the officer if ``officer_id`` is given, else the row."""
    if "officer_id" in frame.columns:
        return frame["officer_id"].astype(str).to_numpy()
    return np.arange(len(frame))


def _has_labels(frame: pd.DataFrame) -> bool:
    """True if every row has a 0/1 label, False if none has; mixed or other values raise."""
    label = frame["label"]
    if label.isna().all():
        return False
    if label.isna().any():
        raise ValueError(
            "label must be known (0/1) for every row or for none; "
            f"{int(label.isna().sum())} of {len(label)} rows are NaN"
        )
    if not label.isin([0, 1]).all():
        raise ValueError("label must be 0 or 1")
    return True


def _require(frame: pd.DataFrame, columns: Sequence[str], *, complete: Sequence[str]) -> None:
    """Raise unless ``frame`` has ``columns`` and no missing value in the ``complete`` ones."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks columns {missing}")
    incomplete = [c for c in complete if frame[c].isna().any()]
    if incomplete:
        raise ValueError(f"columns {incomplete} must have a value on every row")


# ---------------------------------------------------------------------------------------------
# Audit
# ---------------------------------------------------------------------------------------------
def _audit_statistics(frame: pd.DataFrame, *, labelled: bool) -> pd.DataFrame:
    """Per-row 0/1 statistics whose sums give every metric (see FLAG_/LABEL_METRICS)."""
    flagged = frame["flagged"].astype(bool).to_numpy()
    stats = {"n": np.ones(len(frame), dtype=bool), "flagged": flagged}
    if labelled:
        positive = frame["label"].to_numpy(dtype="float64") == 1
        stats |= {
            "tp": flagged & positive,
            "fp": flagged & ~positive,
            "fn": ~flagged & positive,
            "pos": positive,
            "neg": ~positive,
        }
    return pd.DataFrame(stats).astype("int64")


def _rows(y_true: np.ndarray, y_pred: np.ndarray, *, sample_weight: np.ndarray) -> float:
    """Rows in weighted cells (a MetricFrame metric)."""
    return float(np.sum(sample_weight))


def _flagged_rows(y_true: np.ndarray, y_pred: np.ndarray, *, sample_weight: np.ndarray) -> float:
    """Flagged rows in weighted cells (a MetricFrame metric)."""
    return float(np.dot(sample_weight, y_pred))


def _metric_frame(frame: pd.DataFrame, groups: np.ndarray, *, labelled: bool) -> MetricFrame:
    """fairlearn's MetricFrame of the point values: n, flagged and every metric but the share.

    Every metric depends on a row only through its (group, flagged, label) cell, so the frame
    is given one row per cell weighted by its number of rows: exactly the metrics of the full
    table, without fairlearn's per-row cost (it stacks each column element by element).
    fairlearn's false positive and negative rates are 0, not undefined, for a group without
    label-negatives (positives): scikit-learn's normalised confusion matrix turns 0/0 into 0;
    ``_undefined_as_nan`` corrects that.
    """
    metrics = {
        "n": _rows,
        "flagged": _flagged_rows,
        "flag_rate": selection_rate,
    }
    if labelled:
        metrics |= {
            "precision": partial(precision_score, zero_division=np.nan),
            "false_positive_rate": partial(false_positive_rate, pos_label=1),
            "false_negative_rate": partial(false_negative_rate, pos_label=1),
            "recall": partial(recall_score, zero_division=np.nan),
        }
    flagged = frame["flagged"].astype(bool).to_numpy().astype("int64")
    # Without labels the label is a placeholder: n and the flag metrics never read it.
    label = frame["label"].to_numpy(dtype="float64").astype("int64") if labelled else flagged
    cells = (
        pd.DataFrame({"group": groups, "flagged": flagged, "label": label})
        .value_counts(sort=False)
        .reset_index(name="rows")
        .sort_values(["group", "flagged", "label"], ignore_index=True)
    )
    weights = cells["rows"].to_numpy(dtype="float64")
    return MetricFrame(
        metrics=metrics,
        y_true=cells["label"].to_numpy(),
        y_pred=cells["flagged"].to_numpy(),
        sensitive_features=cells["group"].rename("group"),
        sample_params={name: {"sample_weight": weights} for name in metrics},
    )


def _undefined_as_nan(values: pd.Series, sums: pd.Series) -> pd.Series:
    """Metric values (index: metric) with NaN where the label metric's denominator sum is 0."""
    empty = [
        metric
        for metric, rate in LABEL_METRICS.items()
        if metric in values.index and sums[rate.denominator] == 0
    ]
    return values.mask(values.index.isin(empty))


def _attribute_audit(
    frame: pd.DataFrame,
    groups: np.ndarray,
    *,
    attribute: str,
    reference: str,
    labelled: bool,
    config: FairnessConfig,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.Series]:
    """The by-group rows (``BY_GROUP_COLUMNS``) of one attribute (or of the intersection),
    and the number of officers in each group."""
    sums = _bootstrap_sums(
        _audit_statistics(frame, labelled=labelled),
        groups,
        _clusters(frame),
        samples=config.bootstrap_samples,
        rng=rng,
    )
    points = _metric_frame(frame, groups, labelled=labelled).by_group
    points.index = points.index.astype(str)
    points = points.apply(lambda row: _undefined_as_nan(row, sums[row.name].point), axis=1)
    metrics = FLAG_METRICS | (LABEL_METRICS if labelled else {})
    rows = []
    for metric, rate in metrics.items():
        per_group = _rates(sums, rate)
        if rate.pooled:  # share_of_flags: fairlearn has no such metric
            values = {g: float(_divide(num, den)) for g, (num, den, _) in per_group.items()}
        else:
            values = points[metric].to_dict()
        reference_replicates = per_group[reference][2]
        for group, (_, denominator, replicates) in per_group.items():
            ratio = float(_divide(values[group], values[reference]))
            ratio_low, ratio_high = _interval(
                _divide(replicates, reference_replicates), config.confidence
            )
            if group == reference:  # 1 by definition, even where the rate is 0 in a replicate
                ratio, ratio_low, ratio_high, verdict = 1.0, 1.0, 1.0, REFERENCE
            else:
                # Officers in the group, the reference and the metric's denominator (for the
                # share of flags the denominator is every flagged officer of the attribute).
                denominator_officers = (
                    sum(s.officers[rate.denominator] for s in sums.values())
                    if rate.pooled
                    else min(sums[g].officers[rate.denominator] for g in (group, reference))
                )
                officers = min(
                    sums[group].officers["n"], sums[reference].officers["n"], denominator_officers
                )
                verdict = _verdict(
                    ratio=ratio, low=ratio_low, high=ratio_high, officers=officers, config=config
                )
            ci_low, ci_high = _interval(replicates, config.confidence)
            rows.append(
                {
                    "attribute": attribute,
                    "group": group,
                    "metric": metric,
                    "value": values[group],
                    "ci_low": ci_low,
                    "ci_high": ci_high,
                    "ratio": ratio,
                    "ratio_ci_low": ratio_low,
                    "ratio_ci_high": ratio_high,
                    "n": int(sums[group].point["n"]),
                    "denominator": int(denominator),
                    "verdict": verdict,
                }
            )
    table = pd.DataFrame(rows, columns=list(BY_GROUP_COLUMNS))
    table = table.astype({"n": "Int64", "denominator": "Int64"})
    officers = pd.Series({group: int(s.officers["n"]) for group, s in sums.items()})
    return table.sort_values(["group"], kind="stable", ignore_index=True), officers


def _suppress(table: pd.DataFrame, officers: pd.Series, *, min_size: int) -> pd.DataFrame:
    """Blank every number of the cells with fewer than ``min_size`` officers."""
    small = table["group"].map(officers).lt(min_size).to_numpy()
    numbers = [c for c in BY_GROUP_COLUMNS if c not in ("attribute", "group", "metric", "verdict")]
    out = table.copy()
    out.loc[small, numbers] = pd.NA
    out.loc[small, "verdict"] = f"suppressed (n < {min_size})"
    return out


def audit(frame: pd.DataFrame, *, config: FairnessConfig, seed: int) -> AuditResult:
    """Audit a flag list: per-group metrics, ratios to the reference, intervals and verdicts.

    ``frame`` has one row per officer (per as-of date): ``flagged`` (bool), ``label`` (0/1, or
    NaN on every row when the outcome is not known yet: then only the flag metrics), and the
    attribute columns of ``config.attributes`` (see ``attributes_as_of``; blanks are
    "Unknown"). Optional: ``officer_id`` (an officer's rows are resampled together) and
    ``test_as_of`` (dates are pooled). Metrics, intervals and verdicts are defined in the
    module docstring; the same ``seed`` gives the same intervals.
    """
    if not config.attributes:
        raise ValueError("config.attributes is empty: nothing to audit")
    _require(frame, ["flagged", "label", *config.attributes], complete=["flagged"])
    frame = frame.reset_index(drop=True)
    labelled = _has_labels(frame)
    rng = np.random.default_rng(seed)

    groups = {attribute: _known(frame[attribute]).to_numpy() for attribute in config.attributes}
    references = {
        attribute: _reference(
            pd.Series(values).value_counts(), config.reference_groups.get(attribute), attribute
        )
        for attribute, values in groups.items()
    }
    by_group = pd.concat(
        [
            _attribute_audit(
                frame,
                values,
                attribute=attribute,
                reference=references[attribute],
                labelled=labelled,
                config=config,
                rng=rng,
            )[0]
            for attribute, values in groups.items()
        ],
        ignore_index=True,
    )

    if all(attribute in groups for attribute in INTERSECTION):
        first, second = (pd.Series(groups[attribute]) for attribute in INTERSECTION)
        cells = (first + CELL_SEPARATOR + second).to_numpy()
        reference = CELL_SEPARATOR.join(references[attribute] for attribute in INTERSECTION)
        table, officers = _attribute_audit(
            frame,
            cells,
            attribute=CELL_SEPARATOR.join(INTERSECTION),
            reference=_reference(pd.Series(cells).value_counts(), reference, "intersection"),
            labelled=labelled,
            config=config,
            rng=rng,
        )
        intersections = _suppress(table, officers, min_size=config.min_group_size)
    else:
        intersections = by_group.iloc[0:0]

    stats = _audit_statistics(frame, labelled=labelled)
    everyone = np.full(len(frame), "all", dtype=object)
    overall_values = _metric_frame(frame, everyone, labelled=labelled).overall
    overall_values = _undefined_as_nan(overall_values, stats.sum())
    overall = pd.DataFrame(
        {"metric": overall_values.index.astype(str), "value": overall_values.to_numpy("float64")}
    )
    return AuditResult(overall=overall, by_group=by_group, intersections=intersections)


# ---------------------------------------------------------------------------------------------
# Where the disparity comes from
# ---------------------------------------------------------------------------------------------
def disparity_sources(frame: pd.DataFrame, *, config: FairnessConfig, seed: int) -> pd.DataFrame:
    """Where a flag-rate disparity comes from, per attribute and group, against the reference.

    ``frame`` has one row per officer (per as-of date) with ``notices`` (notices received, e.g.
    in the 365 days before the date), ``decided`` and ``case_to_answer`` (notices decided, and
    of those found a case to answer), ``label`` (0/1, or NaN on every row), ``flagged`` and the
    attribute columns; optionally ``officer_id`` (see ``audit``). Side by side, each with its
    ratio to the reference group and a bootstrap interval (as in ``audit``):

    * ``notices_per_officer``: how often the group is accused (the reporting stage);
    * ``case_to_answer_rate``: how often its decided notices are found a case to answer (a
      ratio below 1 with more notices suggests allegations without merit);
    * ``label_rate``: the outcome the model learns from;
    * ``flag_rate``: what the list does.

    ``added_by_model`` = flag ratio / label ratio: above 1 the list widens the disparity in the
    outcome it learned from, below 1 it narrows it. ``added_vs_notices`` = flag ratio / notices
    ratio: how much of the notice disparity reaches the list (1 = all of it, proportionally).
    Both intervals come from the same replicates (paired). ``reference`` marks the reference
    group (its ratios are 1); ``n`` counts rows.
    """
    counts = ["notices", "decided", "case_to_answer", "flagged"]
    _require(frame, [*counts, "label", *config.attributes], complete=counts)
    frame = frame.reset_index(drop=True)
    labelled = _has_labels(frame)
    columns = ["notices", "decided", "case_to_answer", "flagged", *(["label"] if labelled else [])]
    stats = frame[columns].astype("float64").assign(n=1.0)
    rng = np.random.default_rng(seed)
    tables = []
    for attribute in config.attributes:
        groups = _known(frame[attribute]).to_numpy()
        sums = _bootstrap_sums(
            stats, groups, _clusters(frame), samples=config.bootstrap_samples, rng=rng
        )
        reference = _reference(
            pd.Series(groups).value_counts(), config.reference_groups.get(attribute), attribute
        )
        table = pd.DataFrame({"attribute": attribute, "group": list(sums)})
        table["reference"] = table["group"].eq(reference)
        table["n"] = [int(s.point["n"]) for s in sums.values()]
        ratio_replicates: dict[str, dict[str, np.ndarray]] = {}
        for value_column, (ratio_column, rate) in SOURCES.items():
            if rate.numerator in stats.columns:
                per_group = _rates(sums, rate)
            else:  # no labels: the label rate is unknown
                unknown = np.full(config.bootstrap_samples, np.nan)
                per_group = dict.fromkeys(sums, (np.nan, np.nan, unknown))
            values = {g: float(_divide(num, den)) for g, (num, den, _) in per_group.items()}
            ratios = {g: float(_divide(values[g], values[reference])) for g in sums}
            replicates = {
                g: _divide(r, per_group[reference][2]) for g, (_, _, r) in per_group.items()
            }
            # The reference's ratios are 1 by definition, even where its rate is 0 in a replicate.
            if rate.numerator in stats.columns:
                ratios[reference] = 1.0
                replicates[reference] = np.ones(config.bootstrap_samples)
            table[value_column] = table["group"].map(values)
            table[ratio_column] = table["group"].map(ratios)
            _add_interval(table, ratio_column, replicates, config.confidence)
            ratio_replicates[ratio_column] = replicates
        for column, numerator, denominator in (
            ("added_by_model", "flag_ratio", "label_ratio"),
            ("added_vs_notices", "flag_ratio", "notices_ratio"),
        ):
            table[column] = table[numerator] / table[denominator]
            paired = {
                g: _divide(ratio_replicates[numerator][g], ratio_replicates[denominator][g])
                for g in sums
            }
            _add_interval(table, column, paired, config.confidence)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def _add_interval(
    table: pd.DataFrame, column: str, replicates: Mapping[str, np.ndarray], confidence: float
) -> None:
    """Add ``<column>_ci_low`` and ``<column>_ci_high`` from each group's replicates."""
    bounds = table["group"].map(lambda g: _interval(replicates[g], confidence))
    table[f"{column}_ci_low"] = [low for low, _ in bounds]
    table[f"{column}_ci_high"] = [high for _, high in bounds]


# ---------------------------------------------------------------------------------------------
# Promotion gate
# ---------------------------------------------------------------------------------------------
def _describe(row: pd.Series, confidence: float) -> str:
    """ "ethnicity 'Black': false_positive_rate ratio 1.62 (95% CI 1.31–2.01)"."""
    interval = (
        f"{confidence:.0%} CI {row['ratio_ci_low']:.2f}–{row['ratio_ci_high']:.2f}"
        if pd.notna(row["ratio_ci_low"])
        else "no interval"
    )
    where = f"{row['attribute']} {row['group']!r}"
    return f"{where}: {row['metric']} ratio {row['ratio']:.2f} ({interval})"


def _further_from_parity(row: pd.Series, baseline_ratio: float) -> bool:
    """Whether the whole ratio interval of ``row`` is further from parity (1, on the log scale)
    than ``baseline_ratio``: e.g. 0.17 (CI 0.05–0.33) is not further than a baseline 0.26 (the
    interval reaches 0.33, |log 0.33| < |log 0.26|), 3.3 (CI 2.0–5.4) is not further than 4.8."""
    if not np.isfinite(baseline_ratio) or baseline_ratio <= 0:
        return True
    low, high = row["ratio_ci_low"], row["ratio_ci_high"]
    nearest = high if high < 1 else low
    return abs(np.log(nearest)) > abs(np.log(baseline_ratio))


def fairness_gate(
    audit: AuditResult,
    *,
    config: FairnessConfig,
    baseline: AuditResult | None = None,
    baseline_name: str = "the baseline",
) -> GateDecision:
    """Block a candidate when a gate metric's ratio is "outside band" for any group.

    Checks ``config.gate_metrics`` in ``audit.by_group`` (not the intersections, whose cells
    are small). The reason names each offending attribute, group, metric, ratio and interval.
    Otherwise the candidate passes; groups with "insufficient data" or "inconclusive" verdicts
    and gate metrics the audit could not compute (no labels) are named in the reason.

    With a ``baseline`` (the audit of the force's current practice, e.g. its threshold rule, on
    lists of the same size; ``FairnessConfig.gate_baseline``), a group outside the band blocks
    the candidate only if the candidate is further from parity than the baseline there: its
    whole interval lies beyond the baseline's ratio (``_further_from_parity``). The question
    is then "does the model make a disparity worse than what it replaces?"; the tolerated
    groups are named in the reason and the audit still reports every one of them.
    """
    unknown = sorted(set(config.gate_metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown gate metrics {unknown}; expected some of {list(METRICS)}")
    band_low, band_high = config.band
    band = f"the band {band_low:g}–{band_high:g}"
    checked = audit.by_group.loc[audit.by_group["metric"].isin(config.gate_metrics)]
    outside = checked.loc[checked["verdict"] == OUTSIDE]
    tolerated = outside.iloc[0:0]
    if baseline is not None and len(outside):
        ratios = baseline.by_group.set_index(["attribute", "group", "metric"])["ratio"]
        worse = outside.apply(
            lambda row: _further_from_parity(
                row, float(ratios.get((row["attribute"], row["group"], row["metric"]), np.nan))
            ),
            axis=1,
        )
        outside, tolerated = outside.loc[worse], outside.loc[~worse]
    if len(outside):
        found = "; ".join(_describe(row, config.confidence) for _, row in outside.iterrows())
        beyond = f" and further from parity than {baseline_name}" if baseline is not None else ""
        return GateDecision(passed=False, reason=f"blocked, outside {band}{beyond}: {found}")
    notes = [f"no gate metric is outside {band}"]
    if len(tolerated):
        listed = "; ".join(_describe(row, config.confidence) for _, row in tolerated.iterrows())
        notes = [
            f"outside {band} but no further from parity than {baseline_name} "
            f"(the ratios it was compared with are in the audit): {listed}"
        ]
    for verdict in (INSUFFICIENT, INCONCLUSIVE):
        rows = checked.loc[checked["verdict"] == verdict]
        if len(rows):
            listed = "; ".join(_describe(row, config.confidence) for _, row in rows.iterrows())
            notes.append(f"{verdict}: {listed}")
    missing = [m for m in config.gate_metrics if m not in set(checked["metric"])]
    if missing:
        notes.append(f"not computed (no labels): {', '.join(missing)}")
    return GateDecision(passed=True, reason="passed; " + "; ".join(notes))
