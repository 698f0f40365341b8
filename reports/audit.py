"""The fairness audit report: does the list fall unfairly on one group of officers?

``render_audit_report`` turns a ``ewp.models.fairness.AuditResult`` (and, optionally, the
``disparity_sources`` table and a precision-vs-disparity table of candidates) into one
self-contained HTML document for the reviewers of a flag list or of a model selection. It is
pure, like the weekly report: tables in, HTML out, the same bytes for the same inputs (no clock,
fixed number formats, rows sorted here, so the input row order does not matter). CSS is inline,
each ratio plot is an inline SVG drawn here, there is no JavaScript and no external reference,
so it opens offline and prints. Every piece of text goes through Jinja's autoescaping (group
names come from a force's own data); this module computes numbers, coordinates and sentences,
and the layout lives in ``templates/audit.html.j2``.

The report reads, in order: a verdict summary in plain language (groups outside the band or
inconclusive first, then those with too little data for a verdict); per attribute and metric, a
dot-and-whisker plot of the ratio to the reference group on a log scale and a table of every
audited row; the ethnicity × gender cells, small ones suppressed; where the disparity comes
from (notices, case-to-answer, label, flag); the trade-off between precision and disparity
across candidates; and the methods. ``audit_tables`` gives the same numbers as CSV tables.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ewp.core.config import FairnessConfig
from ewp.models.fairness import (
    BY_GROUP_COLUMNS,
    INCONCLUSIVE,
    INSUFFICIENT,
    METRICS,
    OUTSIDE,
    REFERENCE,
    SOURCES,
    WITHIN,
    AuditResult,
    RollingAudit,
    age_band_labels,
    suppressed_verdict,
)
from ewp.reports import load_template
from ewp.reports.charts import closed_path, mark_path, px
from ewp.reports.weekly import MARKING, PROVENANCE_LABELS

__all__ = ["audit_tables", "rate_text", "render_audit_report"]

TEMPLATE = "audit.html.j2"
# The provenance every audit shows; further keys follow in ``PROVENANCE_LABELS`` order, then
# any others, sorted.
REQUIRED_PROVENANCE: tuple[str, ...] = ("model_version", "data_fingerprint", "config_name")
TRADEOFF_KEYS: tuple[str, ...] = ("candidate", "feature_set", "precision")
RATIO_DIGITS = 2


@dataclass(frozen=True)
class _Metric:
    """How a metric reads: its name in a sentence, its denominator, the reading it serves."""

    label: str
    denominator: str
    reading: str
    meaning: str


METRIC_TEXT: dict[str, _Metric] = {
    "flag_rate": _Metric(
        "flag rate", "officers", "both readings", "the share of the group's officers on the list"
    ),
    "share_of_flags": _Metric(
        "share of flags",
        "all flags",
        "context",
        "the group's share of all flags; it mostly reflects the group's size",
    ),
    "precision": _Metric(
        "precision",
        "flagged",
        "punitive reading",
        "of the group's flagged officers, the share who went on to escalate (1 − FDR)",
    ),
    "false_positive_rate": _Metric(
        "false positive rate",
        "did not escalate",
        "punitive reading",
        "of the group's officers who did not go on to escalate, the share flagged",
    ),
    "false_negative_rate": _Metric(
        "false negative rate",
        "escalated",
        "supportive reading",
        "of the group's officers who went on to escalate, the share not flagged (1 − recall)",
    ),
    "recall": _Metric(
        "recall",
        "escalated",
        "supportive reading",
        "of the group's officers who went on to escalate, the share flagged",
    ),
}
ATTRIBUTE_LABELS: dict[str, str] = {
    "ethnicity": "Ethnicity",
    "gender": "Gender",
    "age_band": "Age band",
}
SOURCE_LABELS: dict[str, str] = {
    "notices_per_officer": "Notices per officer",
    "case_to_answer_rate": "Case-to-answer rate",
    "label_rate": "Label rate",
    "flag_rate": "Flag rate",
}
ADDED_COLUMNS: dict[str, str] = {
    "added_by_model": "Added by model (flag ÷ label ratio)",
    "added_vs_notices": "Added vs notices (flag ÷ notice ratio)",
}

GATE_RULES: dict[str, str] = {
    "relative_to_rule": (
        "a candidate model is blocked where a group is outside the band and the model is "
        "further from parity there than the force’s current rule, beyond the uncertainty of "
        "the estimate (both measured on the same resampled officers). A breach the rule shares "
        "is harm already in today’s practice: it does not block, and it is reported."
    ),
    "absolute": "a candidate model is blocked when any group is outside the band.",
}

# The ratio plot (log scale): label column, plot area, then the ratio and verdict in words.
PLOT_WIDTH = 860
PLOT_LEFT = 170.0
PLOT_RIGHT = 490.0
PLOT_TOP = 6.0
ROW_HEIGHT = 22.0
MARK_RADIUS = 5.0
ARROW = 6.0
LABEL_CHARS = 22
AXIS_LIMITS = (1 / 16, 16.0)
MUTED = "#8a8f92"  # rows without a verdict
# Verdict -> mark colour (Okabe-Ito) and shape, so neither colour nor shape alone carries it.
VERDICT_MARKS: dict[str, tuple[str, str]] = {
    REFERENCE: ("#1b1b1b", "diamond"),
    WITHIN: ("#0072B2", "circle"),
    INCONCLUSIVE: ("#E69F00", "triangle"),
    OUTSIDE: ("#D55E00", "square"),
    INSUFFICIENT: (MUTED, "circle"),
}


# ---------------------------------------------------------------------------------------------
# Words and numbers
# ---------------------------------------------------------------------------------------------
def _missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def _fixed(value: Any, digits: int) -> str:
    """A number to ``digits`` decimals; missing or infinite reads "n/a" (a ratio to a rate of 0
    is not defined, and never printed as infinity), -0.00 reads 0.00."""
    if _missing(value) or math.isinf(float(value)):
        return "n/a"
    return f"{round(float(value), digits) + 0.0:.{digits}f}"


# How each rate reads: flag rates per 1,000 officers (a weekly list flags about 1.5 in 1,000),
# the others per cent; never as a bare fraction such as 0.0015.
PER_THOUSAND: frozenset[str] = frozenset({"flag_rate"})
PER_OFFICER: frozenset[str] = frozenset({"notices_per_officer"})


def _rate_digits(scaled: float) -> int:
    """Decimals for a scaled rate: one from 1 up (and for 0), two below 1 (0.15 per 1,000,
    0.93%)."""
    return 1 if abs(scaled) >= 1 or scaled == 0 else 2


def rate_text(
    metric: str, value: Any, low: Any = None, high: Any = None, *, signed: bool = False
) -> str:
    """A rate in words a reader can use, with its interval when ``low`` and ``high`` are given:
    flag rates per 1,000 ("14.7 per 1,000 [12.1–17.5]"), notices per officer ("0.35 per
    officer"), other rates per cent ("6.1% [5.0–7.3]"); ``signed`` for differences, in per
    cent points for the per-cent rates ("+2.0 points"). Missing reads "n/a"."""
    if _missing(value) or math.isinf(float(value)):
        return "n/a"
    scale, unit = (
        (1000, " per 1,000")
        if metric in PER_THOUSAND
        else (1, " per officer")
        if metric in PER_OFFICER
        else (100, " points" if signed else "%")
    )
    digits = _rate_digits(float(value) * scale)

    def number(x: Any) -> str:
        shown = f"{round(float(x) * scale, digits) + 0.0:.{digits}f}"
        return f"+{shown}" if signed and float(x) * scale > 0 and shown.strip("0.") else shown

    text = f"{number(value)}{unit}"
    if low is None and high is None:
        return text
    if _missing(low) or _missing(high) or math.isinf(float(low)) or math.isinf(float(high)):
        return f"{text} [no interval]"
    separator = " to " if signed else "–"
    return f"{text} [{number(low)}{separator}{number(high)}]"


def _interval(low: Any, high: Any, digits: int) -> str:
    """ "1.40–2.60", or "no interval" when a bound is missing."""
    if _missing(low) or _missing(high):
        return "no interval"
    return f"{_fixed(low, digits)}–{_fixed(high, digits)}"


def _ratio_parts(record: Mapping[str, Any], column: str, *, is_reference: bool) -> tuple[str, str]:
    """A ratio and its interval ("1.73", "[1.44–2.02]"); none for the reference's ratio (1 by
    definition) or a missing ratio."""
    ratio = _fixed(record[column], RATIO_DIGITS)
    if is_reference or _missing(record[column]):
        return ratio, ""
    low, high = record[f"{column}_ci_low"], record[f"{column}_ci_high"]
    return ratio, f"[{_interval(low, high, RATIO_DIGITS)}]"


def _ratio_cell(record: Mapping[str, Any], column: str, *, is_reference: bool) -> str:
    """A ratio with its interval: "1.73 [1.44–2.02]", or "1.00" for the reference."""
    return " ".join(
        part for part in _ratio_parts(record, column, is_reference=is_reference) if part
    )


def _count(value: Any) -> str:
    return "n/a" if _missing(value) else str(int(value))


def _band(config: FairnessConfig) -> str:
    low, high = config.band
    return f"{low:g}–{high:g}"


def _percent(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def _metric_label(metric: str) -> str:
    return METRIC_TEXT[metric].label if metric in METRIC_TEXT else metric.replace("_", " ")


def _attribute_label(attribute: str) -> str:
    return ATTRIBUTE_LABELS.get(attribute, attribute.replace("_", " ").capitalize())


def _who(attribute: str, group: str) -> str:
    """The officers of a group, in words: "Black officers", "officers aged 25–34"."""
    if group == "Unknown":
        return f"officers of unknown {_attribute_label(attribute).lower()}"
    if attribute == "age_band":
        return f"officers aged {group}" if group[:1].isdigit() else f"officers {group}"
    return f"{group} officers"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _listed(items: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------
def _require(frame: pd.DataFrame, keys: Iterable[str], *, name: str) -> None:
    missing = [key for key in keys if key not in frame.columns]
    if missing:
        raise ValueError(f"the {name} table lacks columns {missing}")


def _source_columns() -> list[str]:
    """The columns of ``ewp.models.fairness.disparity_sources`` this report reads."""
    ratios = [ratio for ratio, _ in SOURCES.values()] + list(ADDED_COLUMNS)
    bounds = [f"{column}_ci_{side}" for column in ratios for side in ("low", "high")]
    return ["attribute", "group", "reference", "n", *SOURCES, *ratios, *bounds]


def _ordered_metrics(metrics: Iterable[str]) -> list[str]:
    """The metrics present, in ``METRICS`` order, then any others by name."""
    present = set(metrics)
    return [m for m in METRICS if m in present] + sorted(present - set(METRICS))


def _ordered_groups(
    groups: Iterable[str], *, references: Iterable[str], attribute: str, config: FairnessConfig
) -> list[str]:
    """Groups in reading order: the reference first, then age bands by age, others by name."""
    first = set(references)
    bands = age_band_labels(config.age_band_edges) if attribute == "age_band" else []
    rank = {band: i for i, band in enumerate(bands)}
    return sorted(
        set(groups), key=lambda group: (group not in first, rank.get(group, len(rank)), group)
    )


def _table_groups(table: pd.DataFrame, *, attribute: str, config: FairnessConfig) -> list[str]:
    """The groups of audit rows (``BY_GROUP_COLUMNS``) in ``_ordered_groups`` order."""
    references = table.loc[table["verdict"] == REFERENCE, "group"]
    return _ordered_groups(
        table["group"], references=references, attribute=attribute, config=config
    )


def _attributes(by_group: pd.DataFrame, config: FairnessConfig) -> list[str]:
    """The audited attributes in the configured order, then any others by name."""
    present = set(by_group["attribute"])
    return [a for a in config.attributes if a in present] + sorted(present - set(config.attributes))


def _reference_of(table: pd.DataFrame, *, attribute: str) -> str:
    """The reference group of one attribute's rows; ValueError if none is marked."""
    references = sorted(set(table.loc[table["verdict"] == REFERENCE, "group"]))
    if len(references) != 1:
        raise ValueError(f"attribute {attribute!r} needs one reference group, found {references}")
    return references[0]


def _text(value: Any) -> str:
    """A text cell: "" when blank."""
    return "" if _missing(value) else str(value)


def _verdict_text(verdict: str, reason: str) -> str:
    """ "insufficient data (fewer than 20 officers)", or the verdict alone."""
    return f"{verdict} ({reason})" if reason else verdict


@dataclass(frozen=True)
class _Row:
    """One audited row (group × metric, ``BY_GROUP_COLUMNS``) and its verdict's reason."""

    record: Mapping[str, Any]
    reason: str

    @property
    def group(self) -> str:
        return str(self.record["group"])

    @property
    def verdict(self) -> str:
        return str(self.record["verdict"])

    @property
    def muted(self) -> bool:
        """Insufficient or suppressed: drawn grey, never read as a verdict."""
        return self.verdict not in (REFERENCE, WITHIN, INCONCLUSIVE, OUTSIDE)


def _rows(table: pd.DataFrame, *, attribute: str, config: FairnessConfig) -> dict[str, list[_Row]]:
    """Per metric (in ``METRICS`` order), the rows of one attribute in ``_table_groups``
    order."""
    groups = _table_groups(table, attribute=attribute, config=config)
    order = {group: i for i, group in enumerate(groups)}
    out: dict[str, list[_Row]] = {}
    for metric in _ordered_metrics(table["metric"]):
        records = table.loc[table["metric"] == metric].to_dict(orient="records")
        records.sort(key=lambda record: order[record["group"]])
        # The reason is the audit's own (``ewp.models.fairness.verdict_reason``), never re-derived.
        out[metric] = [_Row(record=r, reason=_text(r["verdict_reason"])) for r in records]
    return out


# ---------------------------------------------------------------------------------------------
# The ratio plot
# ---------------------------------------------------------------------------------------------
def _arrow(edge: float, y: float, direction: int) -> str:
    """An arrowhead just outside the axis end at (edge, y), pointing left (-1) or right (+1):
    a value runs off the axis there."""
    base = edge + direction * (MARK_RADIUS + 1)
    tip = base + direction * ARROW
    return closed_path([(tip, y), (base, y - ARROW / 2), (base, y + ARROW / 2)])


def _domain(rows: Iterable[_Row], config: FairnessConfig) -> tuple[float, float]:
    """The log axis of an attribute's plots: powers of 2 around the band and every ratio and
    interval bound with a verdict, within ``AXIS_LIMITS`` (greyed rows may be clipped)."""
    values = [*config.band]
    for row in rows:
        if not row.muted:
            for key in ("ratio", "ratio_ci_low", "ratio_ci_high"):
                value = row.record[key]
                if not _missing(value) and 0 < value < math.inf:
                    values.append(float(value))
    low = max(2.0 ** math.floor(math.log2(min(values))), AXIS_LIMITS[0])
    high = min(2.0 ** math.ceil(math.log2(max(values))), AXIS_LIMITS[1])
    return low, high


@dataclass(frozen=True)
class _PlotRow:
    label: str  # shortened to ``LABEL_CHARS``; the title has it in full
    label_y: str
    y: str
    colour: str
    mark: str  # path of the point ("" when the ratio is missing)
    whisker: tuple[str, str] | None  # x from, x to
    arrows: tuple[str, ...]  # arrowheads where the point or interval runs off the axis
    text: str
    title: str
    muted: bool  # grey text and a hollow mark


@dataclass(frozen=True)
class _Plot:
    plot_id: str
    title: str
    description: str
    width: int
    height: str
    plot_left: str
    plot_right: str
    top: str
    band_x: str
    band_width: str
    band_height: str
    one_x: str
    axis_y: str
    tick_end: str
    tick_label_y: str
    text_x: str
    ticks: tuple[tuple[str, str], ...]  # x, label
    rows: tuple[_PlotRow, ...]


def _plot_row(
    row: _Row,
    *,
    index: int,
    x_of: Callable[[float], float],
    domain: tuple[float, float],
    confidence: float,
) -> _PlotRow:
    """One group's row of a ratio plot: label, point, whisker, clipping arrows and words."""
    y = PLOT_TOP + (index + 0.5) * ROW_HEIGHT
    is_reference = row.verdict == REFERENCE
    colour, shape = VERDICT_MARKS.get(row.verdict, (MUTED, "circle"))
    low_limit, high_limit = domain

    def place(value: float) -> tuple[float, int]:
        """x of a value on the axis, and -1 / +1 when it is clipped at the left / right."""
        if value < low_limit:
            return PLOT_LEFT, -1
        if value > high_limit:
            return PLOT_RIGHT, 1
        return x_of(value), 0

    arrows: list[str] = []
    ratio, low, high = (row.record[k] for k in ("ratio", "ratio_ci_low", "ratio_ci_high"))
    mark = ""
    if not _missing(ratio):
        x, side = place(float(ratio))
        mark = mark_path(shape, x, y, radius=MARK_RADIUS)
        if side:
            arrows.append(_arrow(x, y, side))
    whisker = None
    if not (is_reference or _missing(low) or _missing(high)):
        (x_low, low_side), (x_high, high_side) = place(float(low)), place(float(high))
        whisker = (px(x_low), px(x_high))
        arrows += [
            _arrow(x, y, side) for x, side in ((x_low, low_side), (x_high, high_side)) if side
        ]
    ratio_text = _fixed(ratio, RATIO_DIGITS)
    interval = _interval(low, high, RATIO_DIGITS)
    if is_reference:
        text = "reference"
    elif row.muted:
        text = _verdict_text(row.verdict, row.reason)
    else:
        text = f"{ratio_text} [{interval}] {row.verdict}"
    label = f"{row.group} (reference)" if is_reference else row.group
    return _PlotRow(
        label=label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…",
        label_y=px(y + 4),
        y=px(y),
        colour=colour,
        mark=mark,
        whisker=whisker,
        arrows=tuple(dict.fromkeys(arrows)),
        text=text,
        title=(
            f"{label}: ratio {ratio_text} ({_percent(confidence)} interval {interval}); "
            f"{_verdict_text(row.verdict, row.reason)}"
        ),
        muted=row.muted,
    )


def _plot(
    rows: Sequence[_Row],
    *,
    attribute: str,
    metric: str,
    reference: str,
    domain: tuple[float, float],
    config: FairnessConfig,
) -> _Plot:
    """The dot-and-whisker plot of one attribute × metric: ratio to the reference, log scale."""
    low_limit, high_limit = domain
    span = math.log(high_limit) - math.log(low_limit)

    def x_of(value: float) -> float:
        return PLOT_LEFT + (math.log(value) - math.log(low_limit)) / span * (PLOT_RIGHT - PLOT_LEFT)

    band_low, band_high = config.band
    axis_y = PLOT_TOP + len(rows) * ROW_HEIGHT + 4
    ticks = tuple(
        (px(x_of(2.0**power)), f"{2.0**power:g}")
        for power in range(round(math.log2(low_limit)), round(math.log2(high_limit)) + 1)
    )
    muted = sum(row.muted for row in rows)
    label = _metric_label(metric)
    description = (
        f"The {label} of each {_attribute_label(attribute).lower()} group as a ratio to the "
        f"{reference} reference, on a log scale from {low_limit:g} to {high_limit:g}, with "
        f"{_percent(config.confidence)} intervals; the band {_band(config)} is shaded and a "
        f"line marks 1. {len(rows)} groups, {muted} greyed for want of data."
    )
    return _Plot(
        plot_id=f"plot-{_slug(attribute)}-{_slug(metric)}",
        title=(
            f"{_capitalised(label)} ratio to the {reference} reference, "
            f"by {_attribute_label(attribute).lower()}"
        ),
        description=description,
        width=PLOT_WIDTH,
        height=px(axis_y + 22),
        plot_left=px(PLOT_LEFT),
        plot_right=px(PLOT_RIGHT),
        top=px(PLOT_TOP),
        band_x=px(x_of(band_low)),
        band_width=px(x_of(band_high) - x_of(band_low)),
        band_height=px(axis_y - PLOT_TOP),
        one_x=px(x_of(1.0)),
        axis_y=px(axis_y),
        tick_end=px(axis_y + 5),
        tick_label_y=px(axis_y + 17),
        text_x=px(PLOT_RIGHT + 2 * (MARK_RADIUS + 1) + ARROW),
        ticks=ticks,
        rows=tuple(
            _plot_row(row, index=i, x_of=x_of, domain=domain, confidence=config.confidence)
            for i, row in enumerate(rows)
        ),
    )


def _legend() -> list[dict[str, str | bool]]:
    """One legend entry per verdict: its name, colour, mark and whether the mark is hollow."""
    return [
        {
            "label": verdict,
            "colour": colour,
            "path": mark_path(shape, 8.0, 8.0, radius=MARK_RADIUS),
            "hollow": verdict == INSUFFICIENT,
        }
        for verdict, (colour, shape) in VERDICT_MARKS.items()
    ]


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------
def _table_rows(rows: Sequence[_Row]) -> list[dict[str, Any]]:
    """The table of one attribute × metric: every row, numbers formatted."""
    return [
        {
            "group": row.group,
            "is_reference": row.verdict == REFERENCE,
            "n": _count(row.record["n"]),
            "denominator": _count(row.record["denominator"]),
            "value": rate_text(
                str(row.record["metric"]),
                row.record["value"],
                row.record["ci_low"],
                row.record["ci_high"],
            ),
            "difference": ""
            if row.verdict == REFERENCE
            else rate_text(
                str(row.record["metric"]),
                row.record["difference"],
                row.record["difference_ci_low"],
                row.record["difference_ci_high"],
                signed=True,
            ),
            "ratio": _ratio_cell(row.record, "ratio", is_reference=row.verdict == REFERENCE),
            "verdict": _verdict_text(row.verdict, row.reason),
            "verdict_class": _slug(row.verdict),
            "muted": row.muted,
        }
        for row in rows
    ]


def _concern(row: _Row, *, attribute: str, reference: str, config: FairnessConfig) -> str:
    """ "Black officers: flag rate 1.90× the White reference (95% interval 1.40–2.60): outside
    the 0.8–1.25 band"."""
    record = row.record
    head = (
        f"{_capitalised(_who(attribute, row.group))}: {_metric_label(str(record['metric']))} "
        f"{_fixed(record['ratio'], RATIO_DIGITS)}× the {reference} reference "
        f"({_percent(config.confidence)} interval "
        f"{_interval(record['ratio_ci_low'], record['ratio_ci_high'], RATIO_DIGITS)})"
    )
    if row.verdict == OUTSIDE:
        sentence = f"{head}: outside the {_band(config)} band"
    else:
        sentence = (
            f"{head}: inconclusive, outside the {_band(config)} band but its interval reaches in"
        )
    if record["metric"] == "share_of_flags":
        sentence += " (the share of flags mostly reflects the group's size)"
    return sentence


def _insufficient(
    rows: Sequence[_Row], *, attribute: str, metrics: int, config: FairnessConfig
) -> str:
    """ "Mixed officers (n = 12): insufficient data for every metric (fewer than 20 officers).
    A verdict on 12 officers is not a verdict." for one group's insufficient rows."""
    by_reason: dict[str, list[str]] = {}
    for row in rows:
        by_reason.setdefault(row.reason, []).append(_metric_label(str(row.record["metric"])))
    if len(by_reason) == 1 and len(rows) == metrics:
        clauses = [f"every metric ({next(iter(by_reason))})"]
    else:
        clauses = [f"{_listed(labels)} ({reason})" for reason, labels in by_reason.items()]
    n = _count(rows[0].record["n"])
    sentence = (
        f"{_capitalised(_who(attribute, rows[0].group))} (n = {n}): insufficient data for "
        f"{'; '.join(clauses)}."
    )
    if f"fewer than {config.min_group_size} officers" in by_reason:
        sentence += f" A verdict on {n} officers is not a verdict."
    return sentence


def _summary(
    attribute: str,
    metric_rows: Mapping[str, Sequence[_Row]],
    *,
    reference: str,
    config: FairnessConfig,
) -> dict[str, Any]:
    """The verdict summary of one attribute: concerns first, then too little data."""
    compared = [row for rows in metric_rows.values() for row in rows if row.verdict != REFERENCE]
    groups = list(dict.fromkeys(row.group for row in compared))
    by_group = {group: [row for row in compared if row.group == group] for group in groups}
    concerns = [
        _concern(row, attribute=attribute, reference=reference, config=config)
        for verdict in (OUTSIDE, INCONCLUSIVE)
        for group in groups
        for row in by_group[group]
        if row.verdict == verdict
    ]
    insufficient = [
        _insufficient(rows, attribute=attribute, metrics=len(metric_rows), config=config)
        for rows in (
            [row for row in by_group[group] if row.verdict == INSUFFICIENT] for group in groups
        )
        if rows
    ] + [
        f"{_capitalised(_who(attribute, group))}: fewer than {config.min_group_size} officers, "
        "so every number about them is suppressed."
        for group in groups
        if all(row.verdict == suppressed_verdict(config.min_group_size) for row in by_group[group])
    ]
    within = [
        _who(attribute, group)
        for group in groups
        if all(row.verdict == WITHIN for row in by_group[group])
    ]
    counts = {
        verdict: sum(row.verdict == verdict for row in compared)
        for verdict in (OUTSIDE, INCONCLUSIVE, WITHIN, INSUFFICIENT)
    }
    suppressed = sum(row.verdict == suppressed_verdict(config.min_group_size) for row in compared)
    if suppressed:
        counts["suppressed"] = suppressed
    return {
        "attribute": _attribute_label(attribute),
        "anchor": f"attribute-{_slug(attribute)}",
        "reference": reference,
        "concerns": concerns,
        "insufficient": insufficient,
        "within": _listed(within) if within else "",
        "counts": (
            f"Of {len(compared)} comparisons with the {reference} reference: "
            + ", ".join(f"{count} {verdict}" for verdict, count in counts.items())
            + "."
            if compared
            else f"No {_attribute_label(attribute).lower()} is recorded for any officer: not "
            "audited."
            if reference == "Unknown"
            else f"Only the {reference} group is present: there is nothing to compare."
        ),
    }


def _attribute_section(
    attribute: str, table: pd.DataFrame, config: FairnessConfig
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summary and the plots and tables of one attribute."""
    reference = _reference_of(table, attribute=attribute)
    metric_rows = _rows(table, attribute=attribute, config=config)
    domain = _domain([row for rows in metric_rows.values() for row in rows], config)
    metrics = [
        {
            "metric": metric,
            "label": _capitalised(_metric_label(metric)),
            "reading": METRIC_TEXT[metric].reading if metric in METRIC_TEXT else "",
            "denominator": METRIC_TEXT[metric].denominator if metric in METRIC_TEXT else "",
            "gate": metric in config.gate_metrics,
            "plot": _plot(
                rows,
                attribute=attribute,
                metric=metric,
                reference=reference,
                domain=domain,
                config=config,
            ),
            "rows": _table_rows(rows),
        }
        for metric, rows in metric_rows.items()
    ]
    summary = _summary(attribute, metric_rows, reference=reference, config=config)
    section = {
        "attribute": summary["attribute"],
        "anchor": summary["anchor"],
        "reference": reference,
        "metrics": metrics,
    }
    return summary, section


def _intersections(
    table: pd.DataFrame, config: FairnessConfig
) -> tuple[list[dict[str, Any]], list[str]]:
    """The ethnicity × gender cells, reference first (a suppressed cell is one line), and their
    summary: a sentence per cell and metric outside the band or inconclusive, then the cells
    suppressed."""
    if table.empty:
        return [], []
    attribute = str(table["attribute"].iloc[0])
    metric_rows = _rows(table, attribute=attribute, config=config)
    by_cell = {
        group: [row for rows in metric_rows.values() for row in rows if row.group == group]
        for group in _table_groups(table, attribute=attribute, config=config)
    }
    references = [group for group, rows in by_cell.items() if rows[0].verdict == REFERENCE]
    suppressed = {
        group: rows[0].verdict
        for group, rows in by_cell.items()
        if rows[0].verdict.startswith("suppressed")
    }
    summary = [
        _concern(row, attribute=attribute, reference=references[0], config=config)
        for verdict in (OUTSIDE, INCONCLUSIVE)
        for rows in by_cell.values()
        for row in rows
        if row.verdict == verdict
    ]
    if suppressed:
        summary.append(
            f"{len(suppressed)} cell{'' if len(suppressed) == 1 else 's'} with fewer than "
            f"{config.min_group_size} officers suppressed: {_listed(sorted(suppressed))}."
        )
    cells = [
        {
            "group": group,
            "is_reference": group in references,
            "suppressed": suppressed.get(group, ""),
            "rows": [
                {"metric": _capitalised(_metric_label(str(row.record["metric"]))), **cell}
                for row, cell in zip(rows, _table_rows(rows), strict=True)
            ],
        }
        for group, rows in by_cell.items()
    ]
    return cells, summary


def _direction(value: Any, low: Any, high: Any, *, what: str) -> str:
    """Whether the list carries more or less disparity than ``what``, as far as the interval
    tells ("" when the ratio is unknown, e.g. no labels)."""
    if _missing(value):
        return ""
    if _missing(low) or _missing(high):
        side = "more" if value > 1 else "less"
        return f"by the point estimate, the list carries {side} disparity than the {what}"
    if low > 1:
        return f"the list carries more disparity than the {what}"
    if high < 1:
        return f"the list carries less disparity than the {what}"
    return f"the data cannot tell whether the list carries more or less disparity than the {what}"


def _source_sentence(record: Mapping[str, Any], *, reference: str, pct: str) -> str:
    """One group's way to the list in words: its ratios at each stage, then whether the list
    carries more or less disparity than its notices and its labels."""
    stages = [
        f"{_fixed(record[ratio], RATIO_DIGITS)}× {what}"
        for what, ratio in (
            ("the notices per officer", "notices_ratio"),
            ("the case-to-answer rate", "case_to_answer_ratio"),
            ("the label rate", "label_ratio"),
            ("the flag rate", "flag_ratio"),
        )
        if not _missing(record[ratio])
    ]
    who = _capitalised(_who(str(record["attribute"]), str(record["group"])))
    parts = [f"{who}: {_listed(stages)} of the {reference} reference"]
    for column, what, short in (
        ("added_vs_notices", "notices", "notice"),
        ("added_by_model", "labels", "label"),
    ):
        low, high = record[f"{column}_ci_low"], record[f"{column}_ci_high"]
        reading = _direction(record[column], low, high, what=what)
        if reading:
            parts.append(
                f"{reading}: flag ratio ÷ {short} ratio {_fixed(record[column], RATIO_DIGITS)} "
                f"({pct} interval {_interval(low, high, RATIO_DIGITS)})"
            )
    return "; ".join(parts) + "."


def _sources(
    sources: pd.DataFrame, attributes: Sequence[str], config: FairnessConfig
) -> list[dict[str, Any]]:
    """Per attribute, the ``disparity_sources`` rows side by side, and a sentence per group."""
    _require(sources, _source_columns(), name="sources")
    pct = _percent(config.confidence)
    present = set(sources["attribute"])
    out = []
    for attribute in [a for a in attributes if a in present] + sorted(present - set(attributes)):
        table = sources.loc[sources["attribute"] == attribute]
        references = sorted(set(table.loc[table["reference"].astype(bool), "group"]))
        if len(references) != 1:
            raise ValueError(f"sources for {attribute!r} need one reference group: {references}")
        order = _ordered_groups(
            table["group"].astype(str), references=references, attribute=attribute, config=config
        )
        records = sorted(
            table.to_dict(orient="records"), key=lambda r: order.index(str(r["group"]))
        )
        rows, sentences = [], []
        for record in records:
            small = _missing(record["n"]) or int(record["n"]) < config.min_group_size
            is_reference = bool(record["reference"])
            rows.append(
                {
                    "group": str(record["group"]),
                    "is_reference": is_reference,
                    "n": _count(record["n"]),
                    "muted": small,
                    "cells": [
                        (
                            *_ratio_parts(record, ratio, is_reference=is_reference),
                            f"value {rate_text(value, record[value])}",
                        )
                        for value, (ratio, _) in SOURCES.items()
                    ]
                    + [
                        (*_ratio_parts(record, column, is_reference=is_reference), "")
                        for column in ADDED_COLUMNS
                    ],
                }
            )
            if not (is_reference or small):
                sentences.append(_source_sentence(record, reference=references[0], pct=pct))
        out.append(
            {
                "attribute": _attribute_label(attribute),
                "reference": references[0],
                "rows": rows,
                "sentences": sentences,
            }
        )
    return out


def _tradeoff(tradeoff: pd.DataFrame, config: FairnessConfig) -> dict[str, Any]:
    """Precision and every ratio column per candidate, best precision first."""
    _require(tradeoff, TRADEOFF_KEYS, name="tradeoff")
    band_low, band_high = config.band
    ratio_columns = [c for c in tradeoff.columns if c not in TRADEOFF_KEYS]
    # "flag_rate_ratio:ethnicity=Black" -> "Flag rate ratio" over "Black" and "ethnicity";
    # neighbouring columns of one metric share its header.
    headers: list[tuple[str, list[tuple[str, str]]]] = []
    for column in ratio_columns:
        metric, _, where = str(column).partition(":")
        attribute, _, group = where.partition("=")
        name = (
            _capitalised(_metric_label(metric.removesuffix("_ratio"))) + " ratio"
            if where
            else metric
        )
        sub = (group, _attribute_label(attribute).lower()) if group else (where, "")
        if headers and headers[-1][0] == name and where:
            headers[-1][1].append(sub)
        else:
            headers.append((name, [sub]))
    ordered = tradeoff.assign(_precision=-pd.to_numeric(tradeoff["precision"])).sort_values(
        ["_precision", "candidate"], kind="stable", na_position="last"
    )
    rows = []
    for record in ordered.to_dict(orient="records"):
        cells = []
        for column in ratio_columns:
            value = record[column]
            outside = not _missing(value) and not band_low <= float(value) <= band_high
            cells.append((_fixed(value, RATIO_DIGITS), outside))
        rows.append(
            {
                "candidate": str(record["candidate"]),
                "feature_set": str(record["feature_set"]),
                "precision": rate_text("precision", record["precision"]),
                "cells": cells,
            }
        )
    return {"headers": headers, "rows": rows}


# The trend chart: flag rate per 1,000 by week, one line per group (Okabe-Ito colours, each
# with its own dash pattern so colour alone never carries the group).
TREND_WIDTH = 860
TREND_HEIGHT = 240
TREND_LEFT = 56.0
TREND_RIGHT = 660.0
TREND_TOP = 12.0
TREND_BOTTOM = 200.0
TREND_LINES: tuple[tuple[str, str], ...] = (
    ("#0072B2", ""),
    ("#D55E00", "6,3"),
    ("#009E73", "2,2"),
    ("#CC79A7", "8,3,2,3"),
    ("#E69F00", "4,4"),
    ("#56B4E9", "1,3"),
    ("#000000", "10,4"),
)


def _nice_top(value: float) -> float:
    """A round axis top at or above ``value``: 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _trend_chart(
    trend: pd.DataFrame,
    *,
    attribute: str,
    reference: str,
    weeks: Sequence[str],
    config: FairnessConfig,
) -> dict[str, Any]:
    """One attribute's flag rate per 1,000 by week, a line per group with enough officers
    (suppressed weeks leave a gap), reference first then in reading order."""
    table = trend.loc[trend["attribute"] == attribute]
    groups = _ordered_groups(
        table["group"].astype(str), references=[reference], attribute=attribute, config=config
    )
    rates = table.pivot(index="group", columns="as_of", values="flag_rate").reindex(
        index=groups, columns=list(weeks)
    )
    shown = [g for g in groups if rates.loc[g].notna().any()]
    per_thousand = rates.loc[shown].astype("float64") * 1000
    top = _nice_top(float(np.nanmax(per_thousand.to_numpy())) if shown else 0.0)
    step = (TREND_RIGHT - TREND_LEFT) / max(len(weeks) - 1, 1)

    def x_of(index: int) -> float:
        return TREND_LEFT + index * step

    def y_of(value: float) -> float:
        return TREND_BOTTOM - value / top * (TREND_BOTTOM - TREND_TOP)

    lines = []
    for position, group in enumerate(shown):
        colour, dash = TREND_LINES[position % len(TREND_LINES)]
        segments: list[list[tuple[str, str]]] = []
        current: list[tuple[str, str]] = []
        for index, value in enumerate(per_thousand.loc[group]):
            if np.isnan(value):
                if current:
                    segments.append(current)
                current = []
            else:
                current.append((px(x_of(index)), px(y_of(value))))
        if current:
            segments.append(current)
        last = per_thousand.loc[group].last_valid_index()
        lines.append(
            {
                "group": group,
                "colour": colour,
                "dash": dash,
                "paths": ["M" + "L".join(f"{x},{y}" for x, y in points) for points in segments],
                "dots": [point for points in segments for point in points],
                "label_y": px(y_of(float(per_thousand.loc[group, last])) + 4),
                "title": f"{group}: "
                + ", ".join(
                    f"{week} {rate_text('flag_rate', rate / 1000)}"
                    for week, rate in per_thousand.loc[group].items()
                    if not np.isnan(rate)
                ),
            }
        )
    ticks = [
        (px(y_of(top * fraction)), f"{top * fraction:g}") for fraction in (0, 0.25, 0.5, 0.75, 1)
    ]
    # At most six dates under the axis, spaced evenly back from the latest.
    labelled = set(range(len(weeks) - 1, -1, -max(1, math.ceil(len(weeks) / 6))))
    return {
        "chart_id": f"trend-{_slug(attribute)}",
        "title": f"Flag rate per 1,000 officers by week, by {_attribute_label(attribute).lower()}",
        "description": (
            f"One line per {_attribute_label(attribute).lower()} group across {len(weeks)} "
            f"weekly lists from {weeks[0]} to {weeks[-1]}; the vertical axis runs from 0 to "
            f"{top:g} flags per 1,000 officers. Groups with fewer than {config.min_group_size} "
            "officers in a week are left out of that week."
        ),
        "width": TREND_WIDTH,
        "height": TREND_HEIGHT,
        "left": px(TREND_LEFT),
        "right": px(TREND_RIGHT),
        "top": px(TREND_TOP),
        "bottom": px(TREND_BOTTOM),
        "label_x": px(TREND_RIGHT + 8),
        "ticks": ticks,
        "weeks": [(px(x_of(i)), week) for i, week in enumerate(weeks) if i in labelled],
        "lines": lines,
        "table": {
            "weeks": list(weeks),
            "rows": [
                (group, [rate_text("flag_rate", rates.loc[group, week]) for week in weeks])
                for group in groups
            ],
        },
    }


def _rolling(rolling: RollingAudit, config: FairnessConfig) -> dict[str, Any]:
    """The pooled weeks: what was pooled, per attribute the verdicts on the pooled flag rate
    (sentences and table) and the trend chart."""
    by_group = rolling.pooled.by_group
    attributes = []
    for attribute in _attributes(by_group, config):
        table = by_group.loc[
            (by_group["attribute"] == attribute) & (by_group["metric"] == "flag_rate")
        ]
        reference = _reference_of(table, attribute=attribute)
        metric_rows = _rows(table, attribute=attribute, config=config)
        summary = _summary(attribute, metric_rows, reference=reference, config=config)
        attributes.append(
            {
                "attribute": summary["attribute"],
                "reference": reference,
                "concerns": summary["concerns"],
                "insufficient": summary["insufficient"],
                "counts": summary["counts"],
                "rows": _table_rows(metric_rows["flag_rate"]),
                "chart": _trend_chart(
                    rolling.trend,
                    attribute=attribute,
                    reference=reference,
                    weeks=rolling.weeks,
                    config=config,
                ),
            }
        )
    return {
        "weeks": len(rolling.weeks),
        "first": rolling.weeks[0],
        "last": rolling.weeks[-1],
        "flags": rolling.flags,
        "officers_flagged": rolling.officers_flagged,
        "attributes": attributes,
    }


UNGATED_COLUMNS: tuple[str, ...] = (
    "attribute",
    "group",
    "reference",
    "metric",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "rule_ratio",
)


@dataclass(frozen=True)
class GateSummary:
    """What the promotion gate decided across the candidates of one model selection.

    ``mode``: ``FairnessConfig.gate``; ``rule``: the force's current rule (the baseline of a
    relative gate); ``champion``: the selected candidate, or None; ``passed``: candidate ->
    whether the gate (with any override) let it through; ``breaches``:
    ``ewp.models.fairness.band_breaches`` over every candidate; ``not_audited``: the attributes no
    officer has a recorded value of; ``ungated``: the recorded attributes audited but not gated
    (``FairnessConfig.ungated_attributes``, age by default); ``ungated_against``: the
    champion's rows on them that would have blocked it had they been gated (columns
    ``UNGATED_COLUMNS``; ``rule_ratio`` NaN under an absolute gate).
    """

    mode: str
    rule: str
    champion: str | None
    passed: Mapping[str, bool]
    breaches: pd.DataFrame
    not_audited: Sequence[str] = ()
    ungated: Sequence[str] = ()
    ungated_against: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(UNGATED_COLUMNS))
    )


def _ratio_of(table: pd.DataFrame, candidate: str | None) -> str:
    """A candidate's ratio in one breach key's rows: "1.45×", or "n/a"."""
    rows = table.loc[table["candidate"] == candidate, "ratio"]
    return "n/a" if rows.empty else f"{_fixed(rows.iloc[0], RATIO_DIGITS)}×"


def breach_findings(gate: GateSummary, config: FairnessConfig) -> list[str]:
    """In plain words: how the gate worked, and which groups are outside the band for which
    options, the force's current rule included (a breach the rule shares is harm already in
    today's practice, and is said so, never hidden by the relative gate).

    One sentence for the gate, then one per kind of breach, each listing the groups and
    metrics with the rule's and the champion's ratios: outside for every option; for the
    champion and the rule; for the champion only; for the rule only; for other candidates
    only. "Outside" means the whole interval lies outside the band.
    """
    band = _band(config)
    rule, champion = gate.rule, gate.champion
    gated = _listed([_attribute_label(a).lower() for a in config.gated_attributes] or ["nothing"])
    if gate.mode == "relative_to_rule":
        opening = (
            f"The fairness gate compared every candidate with the force's current rule, "
            f"{rule}, by {gated}: a candidate was blocked only where a group is outside the "
            f"{band} band and the candidate is further from parity there than the rule, beyond "
            "the uncertainty of the estimate."
        )
    else:
        opening = (
            f"The fairness gate was absolute, by {gated}: any group outside the {band} band "
            "blocked."
        )
    lines = [opening]
    if champion is None:
        lines.append("No candidate passed the gate: there is no champion.")
    audited = [a for a in config.attributes if a not in set(gate.not_audited)]
    if not audited:
        return [*lines, "Not audited: no officer has a recorded ethnicity, gender or age."]
    if gate.not_audited:
        missing = _listed([_attribute_label(a).lower() for a in gate.not_audited])
        lines.append(f"Not audited, no values recorded: {missing}.")
    if not config.gate_metrics:
        return [*lines, "The gate checked no metric (fairness.gate_metrics is empty)."]
    metrics = _listed([_metric_label(m) for m in config.gate_metrics])
    candidates = set(gate.passed)
    kinds: dict[str, list[str]] = {}
    keys = ["attribute", "group", "metric"]
    for (attribute, group, metric), table in gate.breaches.groupby(keys, sort=True):
        outside = set(table.loc[table["verdict"] == OUTSIDE, "candidate"])
        if outside >= candidates:
            kind = "every option, the current rule included"
        elif rule in outside and champion == rule:
            kind = "the current rule, which is the champion"
        elif rule in outside and champion in outside:
            kind = "the champion and the current rule"
        elif champion in outside:
            kind = "the champion, though not conclusively for the current rule"
        elif rule in outside:
            kind = "the current rule, though not conclusively for the champion"
        else:
            kind = (
                f"other candidates only ({', '.join(sorted(outside))}), not conclusively for "
                "the current rule or the champion"
            )
        named = [rule, *([champion] if champion not in (None, rule) else [])]
        if kind.startswith("other candidates"):
            named += sorted(outside - set(named))
        ratios = [f"{name} {_ratio_of(table, name)}" for name in named]
        kinds.setdefault(kind, []).append(
            f"{_who(str(attribute), str(group))} on {_metric_label(str(metric))} "
            f"({', '.join(ratios)} the {table['reference'].iloc[0]} reference)"
        )
    if not kinds:
        return [
            *lines,
            f"No group is outside the {band} band on {metrics} for any option, the current "
            "rule included.",
            *_ungated_findings(gate, band=band),
        ]
    # The harm everyone shares first, then what the champion carries, then the rest.
    order = (
        "every option",
        "the current rule, which",
        "the champion and",
        "the champion,",
        "the current rule,",
        "other",
    )
    for kind, listed in sorted(
        kinds.items(),
        key=lambda item: next(i for i, o in enumerate(order) if item[0].startswith(o)),
    ):
        lines.append(f"Outside the {band} band for {kind}: {'; '.join(listed)}.")
    if any(
        kind.startswith(("every option", "the champion and", "the current rule, which"))
        for kind in kinds
    ):
        lines.append(
            "A breach the current rule shares is harm already in today's practice, not made by "
            "the model: it calls for review of how these officers come to be accused and "
            "flagged, whichever list is used."
        )
    return [*lines, *_ungated_findings(gate, band=band)]


def _ungated_findings(gate: GateSummary, *, band: str) -> list[str]:
    """What the gate did not check, in words: the audited attributes it does not gate and
    whether, gated, they would have blocked the champion (with its ratio and the rule's)."""
    if not gate.ungated:
        return []
    names = _listed([_attribute_label(a).lower() for a in gate.ungated])
    lines = [
        f"Audited, compared with the current rule and reported, but not gated "
        f"(fairness.gate_attributes): {names}."
    ]
    if gate.champion is not None:
        against = gate.ungated_against
        if against.empty:
            lines.append(f"Gated, {names} would not have blocked the champion.")
        else:
            relative = gate.mode == "relative_to_rule"
            how = f"outside the {band} band" + (
                f" and further from parity than {gate.rule}" if relative else ""
            )
            listed = []
            for row in against.itertuples():
                ratios = [f"{gate.champion} {_fixed(row.ratio, RATIO_DIGITS)}×"]
                if pd.notna(row.rule_ratio):
                    ratios.append(f"{gate.rule} {_fixed(row.rule_ratio, RATIO_DIGITS)}×")
                listed.append(
                    f"{_who(str(row.attribute), str(row.group))} on "
                    f"{_metric_label(str(row.metric))} ({', '.join(ratios)} the "
                    f"{row.reference} reference)"
                )
            lines.append(
                f"Gated, {names} would have blocked the champion, {how}: {'; '.join(listed)}."
            )
    if "age_band" in gate.ungated:
        lines.append(
            "An age disparity may follow exposure (longer service, longer records) rather than "
            "be added by the model, and these records cannot tell which: a person should judge "
            "whether it is justified, or the force can gate age (fairness.gate_attributes)."
        )
    return lines


def _gate_table(gate: GateSummary) -> dict[str, Any]:
    """The breaches side by side: one row per group and metric outside the band for some
    option, one column per candidate (the rule first, then the champion, then by name)."""
    order = sorted(gate.passed, key=lambda c: (c != gate.rule, c != gate.champion, c))
    headers = [
        {
            "candidate": name,
            "role": "current rule"
            if name == gate.rule
            else "champion"
            if name == gate.champion
            else "",
            "gate": "passed" if gate.passed[name] else "blocked",
        }
        for name in order
    ]
    rows = []
    for (attribute, group, metric), table in gate.breaches.groupby(
        ["attribute", "group", "metric"], sort=True
    ):
        by_candidate = table.set_index("candidate")
        cells = []
        for name in order:
            if name not in by_candidate.index:
                cells.append(("n/a", False))
                continue
            record = by_candidate.loc[name]
            cells.append(
                (
                    _ratio_cell(record, "ratio", is_reference=False),
                    record["verdict"] == OUTSIDE,
                )
            )
        rows.append(
            {
                "group": _capitalised(_who(str(attribute), str(group))),
                "metric": _capitalised(_metric_label(str(metric))),
                "reference": str(table["reference"].iloc[0]),
                "cells": cells,
            }
        )
    return {"headers": headers, "rows": rows}


def _provenance(provenance: Mapping[str, str]) -> list[tuple[str, str]]:
    """(label, value) pairs: the known keys in ``PROVENANCE_LABELS`` order, then the rest."""
    missing = [key for key in REQUIRED_PROVENANCE if key not in provenance]
    if missing:
        raise ValueError(f"provenance lacks keys {missing}")
    known = [key for key in PROVENANCE_LABELS if key in provenance]
    extra = sorted(set(provenance) - set(PROVENANCE_LABELS))
    return [(PROVENANCE_LABELS[key], str(provenance[key])) for key in known] + [
        (key.replace("_", " ").capitalize(), str(provenance[key])) for key in extra
    ]


def _overall(overall: pd.DataFrame) -> list[tuple[str, str]]:
    """The audit's overall numbers: counts as integers, rates to three decimals."""
    _require(overall, ["metric", "value"], name="overall")
    labels = {"n": "Officers audited (rows)", "flagged": "Flagged"}
    values = dict(zip(overall["metric"], overall["value"], strict=True))
    pairs = [(labels[key], _count(values[key])) for key in labels if key in values]
    return pairs + [
        (_capitalised(_metric_label(metric)), rate_text(metric, values[metric]))
        for metric in _ordered_metrics(set(values) - set(labels))
    ]


def _basis(audit: AuditResult, attribute: str, config: FairnessConfig) -> str:
    """How an attribute's reference group was chosen, in words (``AuditResult.references``)."""
    if attribute in audit.references:
        return str(audit.references[attribute])
    return "configured" if attribute in config.reference_groups else "the largest group"


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------
def render_audit_report(
    *,
    title: str,
    scope: str,
    audit: AuditResult,
    sources: pd.DataFrame | None,
    tradeoff: pd.DataFrame | None,
    config: FairnessConfig,
    provenance: Mapping[str, str],
    gate: GateSummary | None = None,
    rolling: RollingAudit | None = None,
) -> str:
    """The fairness audit as one self-contained HTML document.

    * ``title`` and ``scope``: what is audited, e.g. "weekly list of 2024-12-30" or "model
      selection: test dates 2019–2023 pooled".
    * ``audit``: ``ewp.models.fairness.audit``; ``config``: the ``FairnessConfig`` it ran with.
    * ``sources``: ``ewp.models.fairness.disparity_sources``, or None (no such section).
    * ``tradeoff``: one row per candidate with ``candidate``, ``feature_set``, ``precision``
      (mean at the selection list) and any ratio columns, named e.g.
      ``flag_rate_ratio:ethnicity=Black``; or None (no such section).
    * ``provenance``: ``model_version``, ``data_fingerprint`` and ``config_name``; the other
      keys of ``ewp.reports.weekly.PROVENANCE_LABELS`` follow, then any more, sorted.
    * ``gate``: the promotion gate across candidates (a model selection), or None: the gate,
      and every group outside the band for any option, the current rule included.
    * ``rolling``: ``ewp.models.fairness.rolling_audit`` of the last weeks' lists, or None.

    Raises ValueError on a missing column or key, or an attribute without one reference group.
    """
    _require(audit.by_group, BY_GROUP_COLUMNS, name="by_group")
    _require(audit.intersections, BY_GROUP_COLUMNS, name="intersections")
    attributes = _attributes(audit.by_group, config)
    summaries, sections = [], []
    for attribute in attributes:
        table = audit.by_group.loc[audit.by_group["attribute"] == attribute]
        summary, section = _attribute_section(attribute, table, config)
        summaries.append(summary)
        sections.append(section)
    audited = _ordered_metrics(audit.by_group["metric"])
    intersections, intersection_summary = _intersections(audit.intersections, config)
    band_low, band_high = config.band
    return load_template(TEMPLATE).render(
        marking=MARKING,
        title=title,
        scope=scope,
        band=_band(config),
        band_spread=f"{band_high / band_low:g}",
        confidence=_percent(config.confidence),
        bootstrap_samples=config.bootstrap_samples,
        min_group_size=config.min_group_size,
        references=[
            (section["attribute"], section["reference"], _basis(audit, attribute, config))
            for attribute, section in zip(attributes, sections, strict=True)
        ],
        gate_metrics=[_metric_label(m) for m in config.gate_metrics],
        gate_attributes=[_attribute_label(a).lower() for a in config.gated_attributes]
        or ["no attribute"],
        ungated_attributes=[_attribute_label(a).lower() for a in config.ungated_attributes],
        gate_mode="relative to the force’s current rule"
        if config.gate == "relative_to_rule"
        else "absolute",
        gate_rule=GATE_RULES[config.gate],
        labelled=any(m not in ("flag_rate", "share_of_flags") for m in audited),
        metric_texts=[
            (_capitalised(METRIC_TEXT[m].label), METRIC_TEXT[m].meaning, METRIC_TEXT[m].reading)
            for m in METRICS
        ],
        overall=_overall(audit.overall),
        provenance=_provenance(provenance),
        summaries=summaries,
        sections=sections,
        legend=_legend(),
        muted=MUTED,
        intersections=intersections,
        intersection_summary=intersection_summary,
        sources=None if sources is None else _sources(sources, attributes, config),
        source_labels=[SOURCE_LABELS.get(column, column) for column in SOURCES],
        added_labels=list(ADDED_COLUMNS.values()),
        tradeoff=None if tradeoff is None else _tradeoff(tradeoff, config),
        gate=None
        if gate is None
        else {"findings": breach_findings(gate, config), **_gate_table(gate)},
        rolling=None if rolling is None else _rolling(rolling, config),
    )


def audit_tables(audit: AuditResult, sources: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """The audit's CSV tables by file name, in a fixed order (pure: the caller writes them).

    ``audit_by_group.csv`` and ``audit_intersections.csv`` (columns ``BY_GROUP_COLUMNS``),
    ``audit_overall.csv`` (metric, value) and, when ``sources`` is given,
    ``audit_sources.csv`` (the ``disparity_sources`` table). Copies: the caller may change them.
    """
    tables = {
        "audit_by_group.csv": audit.by_group.loc[:, list(BY_GROUP_COLUMNS)].copy(),
        "audit_intersections.csv": audit.intersections.loc[:, list(BY_GROUP_COLUMNS)].copy(),
        "audit_overall.csv": audit.overall.copy(),
    }
    if sources is not None:
        tables["audit_sources.csv"] = sources.copy()
    return tables
