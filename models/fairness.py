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
the reference group's, and its *difference* the group's value minus the reference's. Point
values come from fairlearn's ``MetricFrame`` (share_of_flags, which fairlearn lacks, is
computed here); fairlearn's own bootstrap is not used because it resamples the whole table
(group sizes vary), loops in Python over replicates and gives no ratio to a reference group.

Reference groups (``choose_references``)
    The group in ``FairnessConfig.reference_groups`` (``check_reference_groups`` refuses one
    the data cannot have, before any work), else the largest group of at least
    ``min_group_size`` officers whose rate is non-zero on every metric, else the largest with a
    non-zero flag rate, else the largest. A ratio to a reference rate of 0 is not defined: it is
    NaN (never infinite, in no table, report or console line), its verdict "insufficient data",
    and the difference is reported instead. Candidates of one model selection share their
    references, so their ratios compare.

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
    metric is undefined (0/0) in any replicate, and a bound is NaN where it is infinite. If
    the frame has an ``officer_id`` column, an officer's rows (several dates) are resampled
    together, so pooling dates does not overstate precision (an officer whose age band changes
    between the dates is one unit in each band); ``n`` and ``denominator`` still count rows,
    the size rules below count officers. The replicates are drawn as multinomial counts over
    officer types, which is exact and vectorised (see ``_bootstrap_sums``).

Collapsed rows
    Every metric, interval and reference choice is a sum over rows per officer and group, so
    an officer's rows that share every attribute, the label and every audited list's flag can
    be merged into one row that counts them (``collapse_rows``; its ``rows`` column): the
    results are the same, to the bit, and a year of weekly dates for a national force (8
    million officer-dates) shrinks to about one row per officer. Without a ``rows`` column a
    row counts once.

Small-cell suppression
    Protected attributes leave this module only as aggregates over at least
    ``min_group_size`` officers. A group (or an ethnicity × gender cell, or a row of
    ``disparity_sources``) with fewer officers is suppressed to protect the officers in it:
    every number of its rows, counts included, is blanked to NaN and its verdict reads
    "suppressed (n < 20)" (with the configured size). A small reference group keeps its
    "reference" verdict but its numbers are blanked too, and so are the other groups' ratios,
    which would give its rates away. This is primary suppression only: a blanked group's counts
    can sometimes be recovered by subtracting the other groups from the overall figures, or an
    intersection cell from its ethnicity or gender total; keep that in mind before publishing
    an audit of a small force beyond the people who may see the list itself.

Verdicts (per group × metric, band = ``FairnessConfig.band``, default 0.8–1.25)
    1. "reference" for the reference group;
    2. "insufficient data" when the reference group has fewer than ``min_group_size``
       officers, or fewer than ``min_group_size`` officers in the metric's denominator (e.g.
       label-negatives for false_positive_rate), or the ratio interval is undefined (a verdict
       on 12 officers is not a verdict; a group that small is suppressed anyway);
    3. "outside band" when the whole ratio interval lies outside the band, however wide it is
       (a wide interval wholly beyond 1.25 is still evidence of disparity);
       then "insufficient data" when the interval is wider than the band itself
       (upper / lower > band_high / band_low): it cannot tell a fair list from an unfair one;
    4. "within band" when the point ratio lies inside the band;
    5. "inconclusive" otherwise (the point is outside, the interval reaches into the band).

Intersections
    Ethnicity × gender cells ("Black × Female") are audited the same way against the cell of
    the two reference groups, small cells suppressed as above.

Where the disparity comes from
    ``disparity_sources`` sets side by side, per group, the ratios to the reference of notices
    per officer, case-to-answer rate, label rate and flag rate, and how much the list adds to
    the label's disparity and to the notices' (see its docstring).

Promotion gate
    ``fairness_gate`` checks ``gate_metrics`` of ``gated_attributes`` (by default every audited
    attribute but age, which is compared with the rule and reported, not gated). With ``gate:
    relative_to_rule`` (the default) a group "outside band" blocks a candidate only where the
    candidate is further from parity there than the force's current rule, beyond the
    uncertainty (``compare_with_rule``: a paired bootstrap of the difference in distance from
    parity); the rule never blocks itself, so a champion always exists, and the breaches it
    shares are reported (``band_breaches``). With ``gate: absolute`` any group "outside band"
    blocks. "insufficient data" and suppressed groups never block but are named in the
    reason; with no attribute recorded at all the reason is "not audited: no attributes".

Several weeks pooled
    ``rolling_audit`` audits the lists of several weeks together (officer-weeks, officers
    clustered) with a flag-rate trend per group: one weekly list of 50 flags cannot say much.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, get_args

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)
from sklearn.metrics import precision_score, recall_score

from ewp.core.config import ConfigError, FairnessConfig, FairnessMetric
from ewp.models.evaluation import GateDecision

__all__ = [
    "BY_GROUP_COLUMNS",
    "CLOSER",
    "COMPARISON_COLUMNS",
    "FURTHER",
    "INCONCLUSIVE",
    "INSUFFICIENT",
    "METRICS",
    "NOTHING_GATED",
    "NOT_AUDITED",
    "NO_CLEAR_DIFFERENCE",
    "OUTSIDE",
    "REFERENCE",
    "SOURCES",
    "TREND_COLUMNS",
    "UNCOMPARED",
    "UNKNOWN",
    "WITHIN",
    "AuditResult",
    "GateDecision",
    "RollingAudit",
    "age_band_labels",
    "attributes_as_of",
    "audit",
    "band_breaches",
    "check_reference_groups",
    "choose_references",
    "collapse_rows",
    "compare_with_rule",
    "disparity_sources",
    "fairness_gate",
    "gate_rows",
    "not_audited",
    "rolling_audit",
    "suppressed_verdict",
]

UNKNOWN = "Unknown"
# Bootstrap replicates drawn at once per group (``_bootstrap_officers``).
BOOTSTRAP_CHUNK = 100
ROWS = "rows"  # optional frame column: how many officer-date rows a row stands for
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
    "difference",
    "difference_ci_low",
    "difference_ci_high",
    "n",
    "denominator",
    "verdict",
    # Why a row has "insufficient data" (empty for every other verdict): see verdict_reason.
    "verdict_reason",
)
RATIO_COLUMNS: tuple[str, ...] = ("ratio", "ratio_ci_low", "ratio_ci_high")
DIFFERENCE_COLUMNS: tuple[str, ...] = ("difference", "difference_ci_low", "difference_ci_high")


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
# The names are the config's (``ewp.core.config.FairnessMetric``, checked when a config loads): a
# test keeps the rates above and those names the same.
METRICS: tuple[str, ...] = get_args(FairnessMetric)

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
    ``references``: per attribute (and "ethnicity × gender"), how its reference group was
    chosen, in words (see ``choose_references``).
    """

    overall: pd.DataFrame
    by_group: pd.DataFrame
    intersections: pd.DataFrame
    references: Mapping[str, str] = field(default_factory=dict)


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
    # Each officer's attributes are looked up once, then spread over their rows: a national
    # test block is millions of officer-dates of about 150,000 officers.
    codes, officer_ids = pd.factorize(rows["officer_id"], use_na_sentinel=False)
    matched = people.reindex(np.asarray(officer_ids))
    as_of_year = pd.DatetimeIndex(pd.to_datetime(rows["as_of"])).year.to_numpy()
    birth_year = pd.to_numeric(matched["birth_year"], errors="coerce").to_numpy(dtype="float64")
    age = as_of_year - birth_year[codes]
    band = np.where(
        np.isnan(age), UNKNOWN, labels[np.searchsorted(age_band_edges, age, side="right")]
    )
    return pd.DataFrame(
        {
            "ethnicity": _known(matched["ethnicity"]).to_numpy()[codes],
            "gender": _known(matched["gender"]).to_numpy()[codes],
            "age_band": band,
        },
        index=rows.index,
    )


def check_reference_groups(
    officers: pd.DataFrame, *, config: FairnessConfig, until: dt.date
) -> None:
    """Refuse a configured reference group the data cannot have, before any work is done.

    ``fairness.reference_groups``: an ethnicity or gender must be among the officers' values
    (blank reads "Unknown"); an age band must be one of ``age_band_labels`` and some officer
    must be of that age at some point between joining and leaving (or ``until``, e.g. today).
    Raises ``ConfigError`` naming the config field and the groups present: without this check
    the audit fails only after every candidate has been trained.
    """
    for attribute, group in sorted(config.reference_groups.items()):
        where = f"fairness.reference_groups.{attribute}"
        if attribute == "age_band":
            labels = age_band_labels(config.age_band_edges)
            present = [
                label for label in labels if label in _bands_reached(officers, config, until)
            ]
            if group not in labels:
                raise ConfigError(
                    f"{where}: {group!r} is not an age band of fairness.age_band_edges "
                    f"{list(config.age_band_edges)}; expected one of {labels}"
                )
        else:
            values = officers[attribute] if attribute in officers else pd.Series([], dtype=str)
            present = sorted(set(_known(values))) or [UNKNOWN]
        if group not in present:
            raise ConfigError(
                f"{where}: {group!r} is not in the data; the groups present are {present}"
            )


def _bands_reached(officers: pd.DataFrame, config: FairnessConfig, until: dt.date) -> set[str]:
    """The age bands some officer is in at some date of their service (joining to leaving, or
    ``until``); officers without a birth year or joining date reach none."""
    if "birth_year" not in officers or "joined_on" not in officers:
        return set()
    edges = np.asarray(config.age_band_edges)
    labels = age_band_labels(config.age_band_edges)
    birth = pd.to_numeric(officers["birth_year"], errors="coerce")
    joined = pd.to_datetime(officers["joined_on"], errors="coerce").dt.year
    last = pd.Series(float(until.year), index=officers.index)
    if "left_on" in officers:
        last = pd.to_datetime(officers["left_on"], errors="coerce").dt.year.fillna(until.year)
    known = birth.notna() & joined.notna()
    first_band = np.searchsorted(edges, (joined - birth)[known].to_numpy(), side="right")
    last_band = np.searchsorted(edges, (last - birth)[known].to_numpy(), side="right")
    return {
        labels[b]
        for low, high in zip(first_band, last_band, strict=True)
        for b in range(low, high + 1)
    }


# ---------------------------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------------------------
def _per_officer(stats: pd.DataFrame, groups: np.ndarray, clusters: np.ndarray) -> pd.DataFrame:
    """The sums of ``stats`` per (group, officer): the bootstrap's resampling units."""
    return stats.groupby([groups, clusters], sort=True).sum()


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
    officers, drawn in a few vectorised calls per group. A replicate's sums are then counts @
    types. With one row per officer and binary statistics there are at most a handful of types
    (e.g. the four confusion-matrix cells), so the cost is samples × types, not samples × m.
    """
    return _bootstrap_officers(_per_officer(stats, groups, clusters), samples=samples, rng=rng)


def _bootstrap_officers(
    per_officer: pd.DataFrame, *, samples: int, rng: np.random.Generator
) -> dict[str, _Sums]:
    """``_bootstrap_sums`` from the per-(group, officer) sums of ``_per_officer``."""
    out: dict[str, _Sums] = {}
    for group, table in per_officer.groupby(level=0, sort=True):
        counted = table.value_counts(sort=False).sort_index()
        types = counted.index.to_frame(index=False).to_numpy(dtype="float64")
        frequency = counted.to_numpy()
        # Drawn a chunk of replicates at a time (the same stream as drawing all at once): with
        # counts of notices among the statistics nearly every officer is a type of their own,
        # and all the draws at once would be samples x officers numbers.
        replicates = np.vstack(
            [np.zeros((0, types.shape[1]))]
            + [
                rng.multinomial(len(table), frequency / len(table), size=size) @ types
                for size in _chunks(samples, BOOTSTRAP_CHUNK)
            ]
        )
        out[str(group)] = _Sums(
            point=pd.Series(frequency @ types, index=per_officer.columns),
            replicates=pd.DataFrame(replicates, columns=per_officer.columns),
            officers=(table > 0).sum(axis=0),
        )
    return out


def _chunks(total: int, size: int) -> list[int]:
    """``total`` split into chunks of ``size`` and a last smaller one: (250, 100) -> 100, 100,
    50."""
    return [min(size, total - start) for start in range(0, total, size)]


def _finite(value: np.ndarray | float) -> float:
    """A number, or NaN where it is infinite or undefined (a ratio to 0 is not printed)."""
    number = float(value)
    return number if np.isfinite(number) else np.nan


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
    """Percentile interval of the replicates; NaN when any replicate is undefined, and NaN for
    a bound that is infinite (a ratio to a reference whose rate is 0 in many replicates): no
    table, report or console line ever shows an infinite bound."""
    if np.isnan(replicates).any():
        return np.nan, np.nan
    tail = (1 - confidence) / 2
    with np.errstate(invalid="ignore"):
        low, high = np.quantile(replicates, [tail, 1 - tail])
    # Interpolating between two infinite replicates gives NaN: that bound is infinite too.
    return (
        float(low) if np.isfinite(low) else np.nan,
        float(high) if np.isfinite(high) else np.nan,
    )


# ---------------------------------------------------------------------------------------------
# Groups, references and verdicts
# ---------------------------------------------------------------------------------------------
REFERENCE_CONFIGURED = "configured (fairness.reference_groups)"
REFERENCE_CELL = "the cell of the two reference groups"
REFERENCE_USABLE = "the largest group with a non-zero rate on every metric"
REFERENCE_FLAGGED = (
    "the largest group with a non-zero flag rate; where its rate on a metric is 0, a ratio to "
    "it is not defined and the difference is reported instead"
)
REFERENCE_LARGEST = (
    "the largest group: no group of at least {size} officers has a non-zero flag rate, so no "
    "ratio is defined and the differences are reported instead"
)


def _reference_stats(frame: pd.DataFrame, flagged: str, *, labelled: bool) -> pd.DataFrame:
    """The counts whose being non-zero makes every metric's rate non-zero: flagged (flag rate,
    share of flags) and, with labels, true positives (precision, recall), false positives
    (false positive rate) and false negatives (false negative rate)."""
    on_list = frame[flagged].astype(bool).to_numpy()
    stats = {f"{flagged}:flagged": on_list}
    if labelled:
        positive = frame["label"].to_numpy(dtype="float64") == 1
        stats |= {
            f"{flagged}:tp": on_list & positive,
            f"{flagged}:fp": on_list & ~positive,
            f"{flagged}:fn": ~on_list & positive,
        }
    return pd.DataFrame(stats, index=frame.index).astype("int64").mul(_row_counts(frame), axis=0)


def _choose_reference(
    frame: pd.DataFrame,
    groups: np.ndarray,
    *,
    flagged: Sequence[str],
    labelled: bool,
    configured: str | None,
    attribute: str,
    min_size: int,
) -> tuple[str, str]:
    """One attribute's reference group and how it was chosen (see ``choose_references``)."""
    present = sorted(set(groups))
    if configured is not None:
        if configured not in present:
            raise ValueError(
                f"reference group {configured!r} for {attribute!r} is not in the data; "
                f"groups: {present}"
            )
        return configured, REFERENCE_CONFIGURED
    stats = pd.concat([_reference_stats(frame, f, labelled=labelled) for f in flagged], axis=1)
    sums = stats.groupby(groups, sort=True).sum()
    rows = pd.Series(_row_counts(frame)).groupby(groups).sum()
    officers = pd.Series(_clusters(frame)).groupby(groups).nunique()
    largest_first = sorted(present, key=lambda group: (-int(rows[group]), group))
    sizeable = [group for group in largest_first if officers[group] >= min_size]
    flag_columns = [f"{f}:flagged" for f in flagged]
    for group in sizeable:
        if (sums.loc[group] > 0).all():
            return group, REFERENCE_USABLE
    for group in sizeable:
        if (sums.loc[group, flag_columns] > 0).all():
            return group, REFERENCE_FLAGGED
    return largest_first[0], REFERENCE_LARGEST.format(size=min_size)


def choose_references(
    frame: pd.DataFrame, *, config: FairnessConfig, flagged: Sequence[str] = ("flagged",)
) -> dict[str, tuple[str, str]]:
    """The reference group of each audited attribute, and how it was chosen, in words.

    The configured group (``FairnessConfig.reference_groups``; ValueError if it is not in the
    data) or else, among the groups of at least ``min_group_size`` officers, largest first
    (rows, ties by name):

    1. the first whose rate is non-zero on every metric (flag rate; with labels also
       precision, false positive and false negative rate, recall) on every list in
       ``flagged`` (the columns of ``frame`` holding each audited list: the candidates of a
       model selection share one reference, so their ratios can be compared);
    2. else the first with a non-zero flag rate on every list: a ratio to its rate of 0 on
       another metric is not defined, and the difference is reported instead;
    3. else the largest group: no ratio is defined, only differences.

    A rate of 0 in the reference would make every other group's ratio infinite (on a real
    export "55 and over", the largest age band, had no flag at all). Worked example: bands
    "55 and over" (900 officers, 0 flags), "45–54" (800, 12 flags), "under 25" (15, 3 flags):
    "under 25" is too small, so the reference is "45–54" (rule 1 or 2).
    """
    labelled = _has_labels(frame)
    return {
        attribute: _choose_reference(
            frame,
            _known(frame[attribute]).to_numpy(),
            flagged=flagged,
            labelled=labelled,
            configured=config.reference_groups.get(attribute),
            attribute=attribute,
            min_size=config.min_group_size,
        )
        for attribute in config.attributes
    }


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
    """The resampling unit per row, as an integer code: the officer if ``officer_id`` is given,
    else the row. Callers only group and count by it, so codes serve as well as the IDs and
    group far faster (a national test block is millions of rows, audited once per candidate
    and attribute); a categorical ``officer_id`` (``ewp.flows.audit.audit_frame``) is coded
    once for every candidate."""
    if "officer_id" not in frame.columns:
        return np.arange(len(frame))
    ids = frame["officer_id"]
    if isinstance(ids.dtype, pd.CategoricalDtype):
        return ids.cat.codes.to_numpy()
    return pd.factorize(ids.astype(str).to_numpy())[0]


def _row_counts(frame: pd.DataFrame) -> np.ndarray:
    """How many officer-date rows each row of ``frame`` stands for (``ROWS``; 1 without it)."""
    if ROWS in frame.columns:
        return frame[ROWS].to_numpy(dtype="int64")
    return np.ones(len(frame), dtype="int64")


def collapse_rows(
    frame: pd.DataFrame,
    *,
    keys: Sequence[str],
    sums: Sequence[str],
    flagged: Mapping[str, np.ndarray],
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """``frame`` with the rows equal on every ``keys`` column and every list of ``flagged``
    merged (module docstring, "Collapsed rows"): the first row's ``keys``, the ``sums`` columns
    summed and ``rows`` counting the rows merged; and each list's flags on the merged rows.

    Keys should be ``officer_id`` (the resampling unit), the audited attributes and ``label``;
    ``sums`` counts such as ``notices``; other columns (``as_of``) are dropped. Missing values
    are keys like any other. Worked example: an officer on 52 weekly dates, in band "35-44"
    for 20 of them and "45-54" for 32, label 0 throughout, flagged by list A on one date of the
    second band: three rows, (35-44, A no, rows 20), (45-54, A no, rows 31), (45-54, A yes,
    rows 1), each with its dates' notices summed.
    """
    # Each column's values as codes (a categorical's or a text column's without converting
    # its strings to Python objects), and each list's flags as 0/1: one column at a time, as
    # a national block's codes are 64 MB a column.
    digits = itertools.chain(
        (
            (codes, max(len(uniques), 1))
            for codes, uniques in (pd.factorize(frame[key], use_na_sentinel=False) for key in keys)
        ),
        ((np.asarray(on_list, dtype=bool).astype("int64"), 2) for on_list in flagged.values()),
    )
    # One integer per distinct combination: the codes as digits of a mixed-radix number,
    # renumbered only when the next digit could overflow 64 bits.
    combined, radix = np.zeros(len(frame), dtype="int64"), 1
    for codes, n_values in digits:
        if radix * n_values >= 2**62:
            combined = pd.factorize(combined)[0]
            radix = int(combined.max(initial=0)) + 1
        combined, radix = combined * n_values + codes, radix * n_values
    # pd.factorize numbers combinations in order of first appearance.
    combined = pd.factorize(combined)[0]
    _, first = np.unique(combined, return_index=True)
    weights = _row_counts(frame)
    merged = frame.iloc[first][list(keys)].reset_index(drop=True)
    for column in sums:
        merged[column] = np.bincount(
            combined, weights=frame[column].to_numpy(dtype="float64"), minlength=len(first)
        )
    merged[ROWS] = np.bincount(combined, weights=weights, minlength=len(first)).astype("int64")
    return merged, {name: np.asarray(on_list)[first] for name, on_list in flagged.items()}


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
    positive = frame["label"].to_numpy(dtype="float64") == 1 if labelled else None
    return _statistics(frame["flagged"].astype(bool).to_numpy(), positive, _row_counts(frame))


def _statistics(flagged: np.ndarray, positive: np.ndarray | None, rows: np.ndarray) -> pd.DataFrame:
    """``_audit_statistics`` of one list (``flagged``) and the labels (``positive``, or None
    when the outcome is not known), each row counted ``rows`` times."""
    stats = {"n": np.ones(len(flagged), dtype=bool), "flagged": flagged}
    if positive is not None:
        stats |= {
            "tp": flagged & positive,
            "fp": flagged & ~positive,
            "fn": ~flagged & positive,
            "pos": positive,
            "neg": ~positive,
        }
    return pd.DataFrame(stats).astype("int64").mul(rows, axis=0)


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
        pd.DataFrame(
            {"group": groups, "flagged": flagged, "label": label, "rows": _row_counts(frame)}
        )
        .groupby(["group", "flagged", "label"], sort=True)["rows"]
        .sum()
        .reset_index()
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
        reference_value = values[reference]
        for group, (_, denominator, replicates) in per_group.items():
            # A ratio to a reference rate of 0 (or undefined) is not defined: NaN, never inf;
            # the difference is reported for it.
            ratio, ratio_low, ratio_high = np.nan, np.nan, np.nan
            if np.isfinite(reference_value) and reference_value > 0:
                ratio = float(_divide(values[group], reference_value))
                ratio_low, ratio_high = _interval(
                    _divide(replicates, reference_replicates), config.confidence
                )
            difference = float(values[group] - reference_value)
            difference_low, difference_high = _interval(
                replicates - reference_replicates, config.confidence
            )
            if group == reference:  # 1 by definition, even where the rate is 0 in a replicate
                ratio, ratio_low, ratio_high, verdict = 1.0, 1.0, 1.0, REFERENCE
                difference, difference_low, difference_high = 0.0, 0.0, 0.0
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
                    "difference": difference,
                    "difference_ci_low": difference_low,
                    "difference_ci_high": difference_high,
                    "n": int(sums[group].point["n"]),
                    "denominator": int(denominator),
                    "verdict": verdict,
                }
            )
    table = pd.DataFrame(rows, columns=list(BY_GROUP_COLUMNS))
    table = table.astype({"n": "Int64", "denominator": "Int64"})
    officers = pd.Series({group: int(s.officers["n"]) for group, s in sums.items()})
    return table.sort_values(["group"], kind="stable", ignore_index=True), officers


def suppressed_verdict(min_size: int) -> str:
    """The verdict of a suppressed group: "suppressed (n < 20)"."""
    return f"suppressed (n < {min_size})"


def _suppress(table: pd.DataFrame, officers: pd.Series, *, min_size: int) -> pd.DataFrame:
    """Blank every number of the groups with fewer than ``min_size`` officers (see the module
    docstring), and every ratio if the reference group is one of them."""
    small = table["group"].map(officers).lt(min_size).to_numpy()
    is_reference = (table["verdict"] == REFERENCE).to_numpy()
    words = ("attribute", "group", "metric", "verdict", "verdict_reason")
    numbers = [c for c in BY_GROUP_COLUMNS if c not in words]
    out = table.copy()
    out.loc[small, numbers] = pd.NA
    out.loc[small & ~is_reference, "verdict"] = suppressed_verdict(min_size)
    if (small & is_reference).any():  # value - difference would give the reference's rate
        out[[*RATIO_COLUMNS, *DIFFERENCE_COLUMNS]] = np.nan
    return out


def _missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def verdict_reason(
    row: Mapping[str, Any], reference: Mapping[str, Any], *, config: FairnessConfig
) -> str:
    """Why a row (after suppression) has "insufficient data", in words; "" for any other
    verdict. ``reference``: the reference group's row of the same attribute and metric (its
    numbers blank when the reference is suppressed).

    Rows count officer-dates, never fewer than officers, so a count below the size rule is a
    sufficient cause; when neither a count nor the interval explains the verdict, the distinct
    officers (dates pooled) do. Worked example (size rule 20): a group of 12 officers gives
    "fewer than 20 officers"; 500 officers with 10 label-positives give "fewer than 20 in the
    denominator" for recall; a reference rate of 0 gives no ratio, and says so.
    """
    if row["verdict"] != INSUFFICIENT:
        return ""
    size = config.min_group_size
    if _missing(row["ratio"]) and not _missing(row["value"]):
        reference_value = reference.get("value")
        if not _missing(reference_value) and float(reference_value) == 0:
            return "the reference’s rate is 0, so there is no ratio: see the difference"
        if _missing(reference_value) and not _missing(reference.get("n")):
            return "the reference’s rate is not defined, so there is no ratio"
    if _missing(row["n"]) or int(row["n"]) < size:
        return f"fewer than {size} officers"
    if _missing(reference.get("n")) or int(reference["n"]) < size:
        return f"fewer than {size} officers in the reference"
    if any(_missing(d) or int(d) < size for d in (row["denominator"], reference["denominator"])):
        return f"fewer than {size} in the denominator"
    low, high = row["ratio_ci_low"], row["ratio_ci_high"]
    if _missing(low) or _missing(high) or math.isinf(high) or low <= 0:
        return "no usable interval"
    band_low, band_high = config.band
    if high / low > band_high / band_low:
        return "interval wider than the band"
    return f"fewer than {size} distinct officers"


def _with_reasons(table: pd.DataFrame, *, config: FairnessConfig) -> pd.DataFrame:
    """``table`` (one attribute's rows, suppressed) with each verdict's reason filled in."""
    records = table.to_dict("records")
    references = {r["metric"]: r for r in records if r["verdict"] == REFERENCE}
    reasons = [verdict_reason(r, references.get(r["metric"], {}), config=config) for r in records]
    return table.assign(verdict_reason=reasons)


def _final(table: pd.DataFrame, officers: pd.Series, *, config: FairnessConfig) -> pd.DataFrame:
    """One attribute's audited rows as published: small groups suppressed, reasons given."""
    suppressed = _suppress(table, officers, min_size=config.min_group_size)
    return _with_reasons(suppressed, config=config)


def audit(
    frame: pd.DataFrame,
    *,
    config: FairnessConfig,
    seed: int,
    references: Mapping[str, tuple[str, str]] | None = None,
) -> AuditResult:
    """Audit a flag list: per-group metrics, ratios to the reference, intervals and verdicts.

    ``frame`` has one row per officer (per as-of date): ``flagged`` (bool), ``label`` (0/1, or
    NaN on every row when the outcome is not known yet: then only the flag metrics), and the
    attribute columns of ``config.attributes`` (see ``attributes_as_of``; blanks are
    "Unknown"). Optional: ``officer_id`` (an officer's rows are resampled together) and
    ``test_as_of`` (dates are pooled). ``references``: per attribute, the reference group and
    how it was chosen (``choose_references``, e.g. shared by several candidates' lists); by
    default chosen from this list alone. Metrics, intervals and verdicts are defined in the
    module docstring; the same ``seed`` gives the same intervals.
    """
    if not config.attributes:
        raise ValueError("config.attributes is empty: nothing to audit")
    _require(frame, ["flagged", "label", *config.attributes], complete=["flagged"])
    frame = frame.reset_index(drop=True)
    labelled = _has_labels(frame)
    rng = np.random.default_rng(seed)
    if references is None:
        references = choose_references(frame, config=config)

    groups = {attribute: _known(frame[attribute]).to_numpy() for attribute in config.attributes}
    by_group = pd.concat(
        [
            _final(
                *_attribute_audit(
                    frame,
                    values,
                    attribute=attribute,
                    reference=references[attribute][0],
                    labelled=labelled,
                    config=config,
                    rng=rng,
                ),
                config=config,
            )
            for attribute, values in groups.items()
        ],
        ignore_index=True,
    )
    bases = {attribute: references[attribute][1] for attribute in config.attributes}

    if all(attribute in groups for attribute in INTERSECTION):
        first, second = (pd.Series(groups[attribute]) for attribute in INTERSECTION)
        cells = (first + CELL_SEPARATOR + second).to_numpy()
        cell = CELL_SEPARATOR.join(references[attribute][0] for attribute in INTERSECTION)
        name = CELL_SEPARATOR.join(INTERSECTION)
        reference, basis = (
            (cell, REFERENCE_CELL)
            if cell in set(cells)
            else _choose_reference(
                frame,
                cells,
                flagged=("flagged",),
                labelled=labelled,
                configured=None,
                attribute=name,
                min_size=config.min_group_size,
            )
        )
        bases[name] = basis
        table, officers = _attribute_audit(
            frame,
            cells,
            attribute=name,
            reference=reference,
            labelled=labelled,
            config=config,
            rng=rng,
        )
        intersections = _final(table, officers, config=config)
    else:
        intersections = by_group.iloc[0:0]

    stats = _audit_statistics(frame, labelled=labelled)
    everyone = np.full(len(frame), "all", dtype=object)
    overall_values = _metric_frame(frame, everyone, labelled=labelled).overall
    overall_values = _undefined_as_nan(overall_values, stats.sum())
    overall = pd.DataFrame(
        {"metric": overall_values.index.astype(str), "value": overall_values.to_numpy("float64")}
    )
    return AuditResult(
        overall=overall, by_group=by_group, intersections=intersections, references=bases
    )


# ---------------------------------------------------------------------------------------------
# Several weeks' lists pooled
# ---------------------------------------------------------------------------------------------
TREND_COLUMNS: tuple[str, ...] = ("attribute", "group", "as_of", "n", "flagged", "flag_rate")


@dataclass(frozen=True)
class RollingAudit:
    """The published lists of several weeks, audited together.

    ``weeks``: the list dates, oldest first. ``pooled``: ``audit`` of every week's cohort
    stacked (flag metrics; an officer's weeks resampled together). ``trend``: per attribute,
    group and week the officers serving (``n``), those flagged and the flag rate
    (``TREND_COLUMNS``), blanked for a group with fewer than ``min_group_size`` officers that
    week. ``flags``: flags over the weeks; ``officers_flagged``: distinct officers among them.
    """

    weeks: tuple[str, ...]
    pooled: AuditResult
    trend: pd.DataFrame
    flags: int
    officers_flagged: int


def rolling_audit(frame: pd.DataFrame, *, config: FairnessConfig, seed: int) -> RollingAudit:
    """Audit several weeks' lists at once: a flag rate disparity that one list of 50 cannot
    show (every comparison "insufficient data") may show over 12 weeks.

    ``frame``: one row per officer serving on each list date (``as_of``), with ``officer_id``,
    ``flagged`` (on that week's list), ``label`` (NaN: outcomes are not known yet) and the
    attributes as of that date. Pooling counts officer-weeks, but the bootstrap resamples
    officers with all their weeks (``officer_id`` clusters), so an officer listed every week is
    one unit of evidence, not twelve. Worked example: 3 weeks, 1,000 officers, 10 flags a week
    of which 8 are the same officers each week: 30 flags on 14 officers; a group's pooled flag
    rate is its flagged officer-weeks over its officer-weeks.
    """
    _require(frame, ["officer_id", "as_of", "flagged", "label", *config.attributes], complete=[])
    frame = frame.reset_index(drop=True)
    weeks = pd.to_datetime(frame["as_of"])
    pooled = audit(frame, config=config, seed=seed)
    trends = []
    for attribute in config.attributes:
        table = (
            pd.DataFrame(
                {
                    "group": _known(frame[attribute]).to_numpy(),
                    "as_of": weeks.dt.strftime("%Y-%m-%d").to_numpy(),
                    "flagged": frame["flagged"].astype(bool).to_numpy(),
                }
            )
            .groupby(["group", "as_of"], sort=True)["flagged"]
            .agg(n="size", flagged="sum")
            .reset_index()
        )
        table["flag_rate"] = table["flagged"] / table["n"]
        small = table["n"] < config.min_group_size
        table.loc[small, "flag_rate"] = np.nan
        table = table.astype({"n": "Int64", "flagged": "Int64"})
        table.loc[small, ["n", "flagged"]] = pd.NA
        trends.append(table.assign(attribute=attribute))
    trend = pd.concat(trends, ignore_index=True)[list(TREND_COLUMNS)]
    flagged = frame.loc[frame["flagged"].astype(bool), "officer_id"]
    return RollingAudit(
        weeks=tuple(sorted(set(weeks.dt.strftime("%Y-%m-%d")))),
        pooled=pooled,
        trend=trend,
        flags=len(flagged),
        officers_flagged=flagged.nunique(),
    )


# ---------------------------------------------------------------------------------------------
# Where the disparity comes from
# ---------------------------------------------------------------------------------------------
def disparity_sources(
    frame: pd.DataFrame,
    *,
    config: FairnessConfig,
    seed: int,
    references: Mapping[str, tuple[str, str]] | None = None,
) -> pd.DataFrame:
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
    group (its ratios are 1; ``references`` as in ``audit``); ``n`` counts rows. A ratio to a
    reference value of 0 is NaN, never infinite.
    """
    counts = ["notices", "decided", "case_to_answer", "flagged"]
    _require(frame, [*counts, "label", *config.attributes], complete=counts)
    frame = frame.reset_index(drop=True)
    labelled = _has_labels(frame)
    columns = ["notices", "decided", "case_to_answer", "flagged", *(["label"] if labelled else [])]
    # Counts (notices...) are summed over merged rows already; flags and labels are per row.
    rows = _row_counts(frame).astype("float64")
    stats = frame[columns].astype("float64")
    for per_row in {"flagged", "label"} & set(columns):
        stats[per_row] *= rows
    stats = stats.assign(n=rows)
    rng = np.random.default_rng(seed)
    if references is None:
        references = choose_references(frame, config=config)
    tables = []
    for attribute in config.attributes:
        groups = _known(frame[attribute]).to_numpy()
        sums = _bootstrap_sums(
            stats, groups, _clusters(frame), samples=config.bootstrap_samples, rng=rng
        )
        reference = references[attribute][0]
        table = pd.DataFrame({"attribute": attribute, "group": list(sums)})
        table["reference"] = table["group"].eq(reference)
        table["n"] = pd.array([int(s.point["n"]) for s in sums.values()], dtype="Int64")
        ratio_replicates: dict[str, dict[str, np.ndarray]] = {}
        for value_column, (ratio_column, rate) in SOURCES.items():
            if rate.numerator in stats.columns:
                per_group = _rates(sums, rate)
            else:  # no labels: the label rate is unknown
                unknown = np.full(config.bootstrap_samples, np.nan)
                per_group = dict.fromkeys(sums, (np.nan, np.nan, unknown))
            values = {g: float(_divide(num, den)) for g, (num, den, _) in per_group.items()}
            ratios = {g: _finite(_divide(values[g], values[reference])) for g in sums}
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
            table[column] = [
                _finite(_divide(a, b))
                for a, b in zip(table[numerator], table[denominator], strict=True)
            ]
            paired = {
                g: _divide(ratio_replicates[numerator][g], ratio_replicates[denominator][g])
                for g in sums
            }
            _add_interval(table, column, paired, config.confidence)
        officers = table["group"].map({g: int(s.officers["n"]) for g, s in sums.items()})
        tables.append(_suppress_sources(table, officers, min_size=config.min_group_size))
    return pd.concat(tables, ignore_index=True)


def _suppress_sources(table: pd.DataFrame, officers: pd.Series, *, min_size: int) -> pd.DataFrame:
    """``disparity_sources``' rows of groups with fewer than ``min_size`` officers blanked
    (``n`` included), and every ratio if the reference group is one of them."""
    small = officers.lt(min_size).to_numpy()
    numbers = [c for c in table.columns if c not in ("attribute", "group", "reference", "n")]
    out = table.copy()
    out.loc[small, numbers] = np.nan
    out.loc[small, "n"] = pd.NA
    if (small & out["reference"].to_numpy()).any():
        ratios = [c for c in numbers if "ratio" in c or c.startswith("added_")]
        out[ratios] = np.nan
    return out


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
FURTHER = "further from parity than the rule"
CLOSER = "closer to parity than the rule"
NO_CLEAR_DIFFERENCE = "no clear difference from the rule"
UNCOMPARED = "cannot be compared with the rule"
COMPARISON_COLUMNS: tuple[str, ...] = (
    "attribute",
    "group",
    "metric",
    "ratio",
    "rule_ratio",
    "excess",
    "excess_ci_low",
    "excess_ci_high",
    "comparison",
)
_CANDIDATE_STATS = ("flagged", "tp", "fp", "fn")


def _log_ratio(rate: np.ndarray | float, reference: np.ndarray | float) -> np.ndarray:
    """log(rate / reference rate): 0 for equal rates (0 and 0 included, parity), +inf or -inf
    where exactly one of them is 0, NaN where a rate is undefined."""
    rate, reference = np.asarray(rate, dtype="float64"), np.asarray(reference, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(rate / reference)
    return np.where(rate == reference, 0.0, log_ratio)


def _excess(candidate: np.ndarray, rule: np.ndarray, side: float) -> np.ndarray:
    """How much further from parity the candidate is than the rule on the candidate's side
    of parity (``side``: +1 where the group is flagged more than the reference, -1 less):
    side × log ratio of the candidate, less the rule's on that side (0 if the rule leans the
    other way or not at all). Two infinite log ratios on the same side are equally far."""
    own, theirs = side * candidate, np.maximum(side * rule, 0.0)
    with np.errstate(invalid="ignore"):
        excess = own - theirs
    return np.where(np.isinf(own) & np.isinf(theirs) & (own > 0), 0.0, excess)


def _sums_by(codes: np.ndarray, stats: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """The sums of ``stats`` per code (``codes`` from ``pd.factorize``, ``index`` its
    uniques): ``_per_officer`` without a groupby per list, for many lists on the same rows."""
    return pd.DataFrame(
        {
            column: np.bincount(codes, weights=stats[column].to_numpy(), minlength=len(index))
            for column in stats.columns
        },
        index=index,
    ).astype("int64")


def _rule_view(sums: Mapping[str, _Sums]) -> dict[str, _Sums]:
    """The rule's half of ``compare_with_rule``'s paired sums, named like a candidate's."""
    renamed = {f"rule:{name}": name for name in _CANDIDATE_STATS}
    out = {}
    for group, s in sums.items():
        shared = [c for c in s.point.index if ":" not in c and c not in _CANDIDATE_STATS]
        columns = shared + [c for c in renamed if c in s.point.index]
        out[group] = _Sums(
            point=s.point[columns].rename(renamed),
            replicates=s.replicates[columns].rename(columns=renamed),
            officers=s.officers[columns].rename(renamed),
        )
    return out


def _log_ratios(
    per_group: Mapping[str, tuple[float, float, np.ndarray]], group: str, reference: str
) -> tuple[float, np.ndarray]:
    """A group's log ratio to the reference (``_log_ratio``) on the data and in each
    replicate, from ``_rates``' numerators, denominators and replicates."""
    point = _log_ratio(_divide(*per_group[group][:2]), _divide(*per_group[reference][:2]))
    return float(point), _log_ratio(per_group[group][2], per_group[reference][2])


def _ratio_of(
    per_group: Mapping[str, tuple[float, float, np.ndarray]], group: str, reference: str
) -> float:
    """A group's ratio to the reference on the data (NaN where not defined)."""
    return _finite(_divide(_divide(*per_group[group][:2]), _divide(*per_group[reference][:2])))


def compare_with_rule(
    frame: pd.DataFrame,
    *,
    flagged: Mapping[str, np.ndarray],
    rule: str,
    references: Mapping[str, tuple[str, str]],
    config: FairnessConfig,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """Per candidate, how much further from parity than the rule its lists are, with intervals.

    ``frame``: the audit frame (``label``, the attributes, optionally ``officer_id``) without
    its ``flagged`` column; ``flagged``: per candidate (``rule`` among them), whether each row
    is on its list. Lists may differ in length (a rule flags whom it flags, however few):
    rates are compared, never counts. For each audited attribute (the gate's and the others,
    ``ungated_attributes``, which the findings report without blocking), gate metric and group
    of at least ``min_group_size`` officers other than the reference
    (``references``, shared by every candidate; none when the reference itself is smaller,
    as the audit then blanks every ratio): the candidate's ratio and the rule's, and the
    *excess*, how much further from parity than the rule the candidate is on the side it
    leans: for a group the candidate flags more than the reference, log(candidate ratio) −
    max(log(rule ratio), 0); for one it flags less, the mirror image. The rule's disparity the
    other way does not offset the candidate's: no group may be made worse off than under the
    rule. The interval comes from a paired bootstrap: each replicate resamples officers within
    groups (an officer's rows together) and measures both lists on the same officers.

    ``comparison``: FURTHER when the whole interval is above 0 (further from parity than the
    rule, beyond the uncertainty), CLOSER when it is below 0, NO_CLEAR_DIFFERENCE otherwise,
    UNCOMPARED when the excess is undefined. Worked examples (log ratios to base e): rule 1.50,
    candidate 1.60, excess log 1.60 − log 1.50 = 0.06 with interval −0.02 to 0.15: no clear
    difference; candidate 2.40: excess 0.47, interval 0.31 to 0.63: further. Rule 0.58 (it
    flags the group less), candidate 1.77: excess log 1.77 − 0 = 0.57: the candidate flags
    the group more where the rule did not, further whatever the rule's distance the other
    way. A rule that flags nobody in either group is at parity (0 and 0); one that flags a
    group and not the reference is infinitely far. The rule compared with itself has excess 0
    in every replicate on its side of parity (below 0 on the other), so it is never further
    from parity than itself. Excess values are NaN where infinite (never printed as inf).
    """
    frame = frame.reset_index(drop=True)
    labelled = _has_labels(frame)
    metrics = {
        name: rate
        for name, rate in (FLAG_METRICS | (LABEL_METRICS if labelled else {})).items()
        if name in config.gate_metrics
    }
    tail = (1 - config.confidence) / 2
    clusters = _clusters(frame)
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in flagged}
    positive = frame["label"].to_numpy(dtype="float64") == 1 if labelled else None
    rows = _row_counts(frame)
    rule_stats = _statistics(flagged[rule], positive, rows)
    rule_columns = [c for c in rule_stats.columns if c in _CANDIDATE_STATS]
    for attribute in config.attributes:
        groups = _known(frame[attribute]).to_numpy()
        reference = references[attribute][0]
        # The resampling units (group, officer), coded once for every list.
        codes, units = pd.factorize(pd.MultiIndex.from_arrays([groups, clusters]))
        rule_sums_by_officer = _sums_by(codes, rule_stats[rule_columns], units).add_prefix("rule:")
        rng = np.random.default_rng(seed)
        for name, on_list in sorted(flagged.items()):
            # Each list and the rule's side by side (the rule's columns prefixed "rule:"), so
            # one resample measures both.
            per_officer = pd.concat(
                [
                    _sums_by(codes, _statistics(on_list, positive, rows), units),
                    rule_sums_by_officer,
                ],
                axis=1,
            )
            sums = _bootstrap_officers(per_officer, samples=config.bootstrap_samples, rng=rng)
            if sums[reference].officers["n"] < config.min_group_size:
                break  # a ratio to a suppressed reference would give its rates away
            rule_sums = _rule_view(sums)
            for metric, rate in metrics.items():
                mine, theirs = _rates(sums, rate), _rates(rule_sums, rate)
                for group in sorted(sums):
                    if group == reference or sums[group].officers["n"] < config.min_group_size:
                        continue
                    own, own_replicates = _log_ratios(mine, group, reference)
                    rule_point, rule_replicates = _log_ratios(theirs, group, reference)
                    side = 1.0 if own >= 0 else -1.0  # the side the candidate leans
                    excess = float(_excess(np.asarray(own), np.asarray(rule_point), side))
                    replicates = _excess(own_replicates, rule_replicates, side)
                    defined = replicates[~np.isnan(replicates)]
                    low = high = np.nan
                    if len(defined):
                        low = float(np.quantile(defined, tail, method="lower"))
                        high = float(np.quantile(defined, 1 - tail, method="higher"))
                    if len(defined) == 0 or np.isnan(excess):
                        comparison = UNCOMPARED
                    elif low > 0:
                        comparison = FURTHER
                    elif high < 0:
                        comparison = CLOSER
                    else:
                        comparison = NO_CLEAR_DIFFERENCE
                    out[name].append(
                        {
                            "attribute": attribute,
                            "group": group,
                            "metric": metric,
                            "ratio": _ratio_of(mine, group, reference),
                            "rule_ratio": _ratio_of(theirs, group, reference),
                            "excess": _finite(excess),
                            "excess_ci_low": _finite(low),
                            "excess_ci_high": _finite(high),
                            "comparison": comparison,
                        }
                    )
    return {
        name: pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS)) for name, rows in out.items()
    }


def _describe(row: Any, confidence: float) -> str:
    """ "ethnicity 'Black': false_positive_rate ratio 1.62 (95% CI 1.31–2.01)"."""
    interval = (
        f"{confidence:.0%} CI {row['ratio_ci_low']:.2f}–{row['ratio_ci_high']:.2f}"
        if pd.notna(row["ratio_ci_low"]) and pd.notna(row["ratio_ci_high"])
        else "no interval"
    )
    where = f"{row['attribute']} {row['group']!r}"
    return f"{where}: {row['metric']} ratio {row['ratio']:.2f} ({interval})"


def _with_rule(row: Any, rule: str, confidence: float) -> str:
    """``_describe`` and the rule's ratio: "...; rule_3_in_180d 1.10"."""
    rule_ratio = row["rule_ratio"]
    shown = "no ratio (its reference rate is 0)" if pd.isna(rule_ratio) else f"{rule_ratio:.2f}"
    return f"{_describe(row, confidence)}; {rule} {shown}"


def not_audited(audit: AuditResult, attributes: Sequence[str]) -> list[str]:
    """The ``attributes`` no officer has a recorded value of ("Unknown" for everyone)."""
    by_group = audit.by_group
    return [
        attribute
        for attribute in attributes
        if set(by_group.loc[by_group["attribute"] == attribute, "group"]) <= {UNKNOWN}
    ]


NOT_AUDITED = "not audited: no attributes"
NOTHING_GATED = "no attribute is gated (fairness.gate_attributes)"


def gate_rows(
    audit: AuditResult,
    *,
    config: FairnessConfig,
    comparison: pd.DataFrame | None,
    attributes: Sequence[str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The rows of ``audit.by_group`` the gate reads for ``attributes``: ``checked`` (its
    metrics), ``against`` (outside the band and, for a relative gate, further from parity than
    the rule or not comparable with it: each would block) and ``shared`` (outside the band, the
    rule as far or further: relative gate only). With a relative gate the outside rows carry
    ``rule_ratio`` and ``comparison`` from ``comparison`` (``compare_with_rule``'s table).
    ``fairness_gate`` reads the gated attributes; the findings read the others the same way, to
    say what would block were they gated."""
    checked = audit.by_group.loc[
        audit.by_group["metric"].isin(config.gate_metrics)
        & audit.by_group["attribute"].isin(attributes)
    ]
    against = checked.loc[checked["verdict"] == OUTSIDE]
    if config.gate != "relative_to_rule" or comparison is None:
        return checked, against, against.iloc[0:0]
    keys = ["attribute", "group", "metric"]
    against = against.merge(
        comparison[[*keys, "rule_ratio", "comparison"]], on=keys, how="left"
    ).fillna({"comparison": UNCOMPARED})
    worse = against["comparison"].isin([FURTHER, UNCOMPARED]).to_numpy()
    return checked, against.loc[worse], against.loc[~worse]


def fairness_gate(
    audit: AuditResult,
    *,
    config: FairnessConfig,
    comparison: pd.DataFrame | None = None,
    rule: str = "the rule",
) -> GateDecision:
    """Whether a candidate may become champion, given its audit (and its comparison with the
    force's current rule, ``compare_with_rule``), with the reason in words.

    Checks ``config.gate_metrics`` of ``config.gated_attributes`` in ``audit.by_group`` (not
    the intersections, whose cells are small). A row counts against the candidate when its
    verdict is "outside band" (its whole interval lies outside the band) and:

    * ``config.gate == "absolute"``: always;
    * ``config.gate == "relative_to_rule"`` (the default): only where ``comparison`` says the
      candidate is FURTHER from parity than ``rule`` (beyond the interval's uncertainty), or
      cannot be compared with it. Breaches the rule shares pass and are named in the reason,
      with the rule's ratio: the audit and the model card report them as harm already there.

    A candidate with any such row is blocked; the reason names each attribute, group, metric,
    ratio and interval. Otherwise it passes; "insufficient data" and "inconclusive" rows,
    suppressed groups (by name only) and gate metrics not computed (no labels) are named. When
    no gated attribute has any recorded value the reason is ``NOT_AUDITED`` ("not audited: no
    attributes"), never "passed": nothing was checked. With no attribute gated at all (only
    age audited, say) it passes and says so (``NOTHING_GATED``). Raises ValueError on a
    relative gate without a comparison (the config refuses an unknown gate metric when it
    loads).
    """
    relative = config.gate == "relative_to_rule"
    if relative and comparison is None:
        raise ValueError(
            "fairness.gate is relative_to_rule: the comparison with the rule is needed"
        )
    attributes = list(config.gated_attributes)
    if not attributes:
        return GateDecision(
            passed=True,
            reason=f"passed; {NOTHING_GATED}: {', '.join(config.attributes)} audited and reported",
        )
    missing_attributes = not_audited(audit, attributes)
    if len(missing_attributes) == len(attributes):
        return GateDecision(passed=True, reason=NOT_AUDITED)
    band_low, band_high = config.band
    band = f"the band {band_low:g}–{band_high:g}"
    checked, outside, shared = gate_rows(
        audit, config=config, comparison=comparison, attributes=attributes
    )
    if len(outside):
        if relative:
            found = "; ".join(
                _with_rule(row, rule, config.confidence) for _, row in outside.iterrows()
            )
            return GateDecision(
                passed=False,
                reason=f"blocked, outside {band} and further from parity than {rule}: {found}",
            )
        found = "; ".join(_describe(row, config.confidence) for _, row in outside.iterrows())
        return GateDecision(passed=False, reason=f"blocked, outside {band}: {found}")
    notes = [f"no gate metric is outside {band}"]
    if len(shared):
        listed = "; ".join(_with_rule(row, rule, config.confidence) for _, row in shared.iterrows())
        notes = [f"outside {band} but not clearly further from parity than {rule}: {listed}"]
    for verdict in (INSUFFICIENT, INCONCLUSIVE):
        rows = checked.loc[checked["verdict"] == verdict]
        if len(rows):
            listed = "; ".join(_describe(row, config.confidence) for _, row in rows.iterrows())
            notes.append(f"{verdict}: {listed}")
    suppressed = checked.loc[checked["verdict"] == suppressed_verdict(config.min_group_size)]
    if len(suppressed):
        groups = dict.fromkeys(f"{r.attribute} {r.group!r}" for r in suppressed.itertuples())
        notes.append(f"{suppressed_verdict(config.min_group_size)}: {', '.join(groups)}")
    if missing_attributes:
        notes.append(f"not audited (no values recorded): {', '.join(missing_attributes)}")
    missing = [m for m in config.gate_metrics if m not in set(checked["metric"])]
    if missing:
        notes.append(f"not computed (no labels): {', '.join(missing)}")
    return GateDecision(passed=True, reason="passed; " + "; ".join(notes))


def band_breaches(audits: Mapping[str, AuditResult], *, metrics: Sequence[str]) -> pd.DataFrame:
    """Every group outside the band for any candidate, with every candidate's ratio there.

    One row per candidate × attribute × group × metric (of ``metrics``, every audited
    attribute, the gate's or not) where at least one candidate's verdict is "outside band":
    candidate, attribute, group, reference (the attribute's reference group), metric, ratio,
    ratio_ci_low, ratio_ci_high, verdict. It shows the harm already in today's practice (the
    rule is one of the candidates) beside what each model would do;
    ``ewp.reports.audit.breach_findings`` says it in words.
    """
    columns = ["candidate", "attribute", "group", "reference", "metric"]
    columns += ["ratio", "ratio_ci_low", "ratio_ci_high", "verdict"]
    frames = []
    for name, result in sorted(audits.items()):
        rows = result.by_group.loc[result.by_group["metric"].isin(metrics)]
        references = rows.loc[rows["verdict"] == REFERENCE].groupby("attribute")["group"].first()
        frames.append(
            rows.assign(candidate=name, reference=rows["attribute"].map(references))[columns]
        )
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    keys = ["attribute", "group", "metric"]
    outside = table.loc[table["verdict"] == OUTSIDE, keys].drop_duplicates()
    return table.merge(outside, on=keys)[columns].sort_values(
        [*keys, "candidate"], ignore_index=True
    )
