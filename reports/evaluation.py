"""The evaluation report: ``evaluation.html``, what a data team opens after ``ewp train``.

``render_evaluation_report`` is pure: the run's tables in, one self-contained HTML document out,
the same bytes for the same tables. It shows the selection at the list a unit receives and the
gate's verdicts, precision and recall at k per candidate with bootstrap intervals (and how the
choice would change at other list sizes), the comparison with each rule at the rule's own flag
volume, precision per test block, calibration (predicted against observed by score decile),
score distributions, the rules' volumes and how ties and short rule lists were handled.

Charts are inline SVG from ``ewp.reports.charts``; CSS is inline; there is no JavaScript and no
external reference, so it opens offline and prints. Every piece of text goes through Jinja's
autoescaping (the charts escape their own). The page is marked OFFICIAL-SENSITIVE in its header
and footer, like the other reports. Numbers that are undefined (a ratio to a rule that found
nobody) show as "–", never "nan" or "inf".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from markupsafe import Markup

from ewp.reports import load_template
from ewp.reports.charts import Axis, Bars, Marker, Series, bar_chart, line_chart, value_text
from ewp.reports.weekly import MARKING, PROVENANCE_LABELS

TEMPLATE = "evaluation.html.j2"
SELECTION_COLUMNS = (
    "candidate",
    "mean_precision",
    "worst_regret",
    "interpretable_or_allowed",
    "gate_passed",
    "gate_reason",
    "eligible",
)
CURVE_COLUMNS = (
    "candidate",
    "k",
    "places",
    "tp",
    "precision",
    "precision_low",
    "precision_high",
    "recall",
    "recall_low",
    "recall_high",
)
SMALL_WIDTH, SMALL_HEIGHT = 340, 210


@dataclass(frozen=True)
class EvaluationTables:
    """The run's tables the report reads (``ewp.models.evaluation`` names in brackets).

    ``selection``: ``Selection.table`` with pooled_precision, precision_low, precision_high.
    ``summary``: ``summarise``. ``headline_by_rule``: ``PooledEvaluation.headline_by_rule``.
    ``curve``: ``PooledEvaluation.curve``. ``by_split``: ``by_split`` at the selection list.
    ``calibration`` and ``distribution``: ``PooledEvaluation``'s. ``short_rule_lists``:
    ``short_rule_lists``. ``metrics``: every candidate, list and test date (for the rules'
    volumes per date).
    """

    selection: pd.DataFrame
    summary: pd.DataFrame
    headline_by_rule: pd.DataFrame
    curve: pd.DataFrame
    by_split: pd.DataFrame
    calibration: pd.DataFrame
    distribution: pd.DataFrame
    short_rule_lists: pd.DataFrame
    metrics: pd.DataFrame


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _number(value: Any, digits: int = 3) -> str:
    """A number to ``digits`` decimals; "–" when undefined or infinite."""
    if _missing(value) or pd.isna(value):
        return "–"
    return f"{float(value):.{digits}f}"


def _count(value: Any) -> str:
    """A count: whole when whole, else one decimal (shared ties give fractions)."""
    if _missing(value) or pd.isna(value):
        return "–"
    value = float(value)
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"


def _with_interval(value: Any, low: Any, high: Any, digits: int = 3, signed: bool = False) -> str:
    """``0.081 [0.052, 0.112]``; the interval left out when undefined."""
    if _missing(value) or pd.isna(value):
        return "–"
    sign = "+" if signed else ""
    text = f"{float(value):{sign}.{digits}f}"
    if any(_missing(v) or pd.isna(v) for v in (low, high)):
        return text
    return f"{text} [{float(low):{sign}.{digits}f}, {float(high):{sign}.{digits}f}]"


def _require(frame: pd.DataFrame, keys: Sequence[str], *, name: str) -> None:
    missing = [key for key in keys if key not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}")


def _provenance(provenance: Mapping[str, str]) -> list[tuple[str, str]]:
    known = [key for key in PROVENANCE_LABELS if key in provenance]
    extra = sorted(set(provenance) - set(PROVENANCE_LABELS))
    return [(PROVENANCE_LABELS[key], str(provenance[key])) for key in known] + [
        (key.replace("_", " ").capitalize(), str(provenance[key])) for key in extra
    ]


def _ordered(candidates: Sequence[str], *, first: Sequence[str | None]) -> list[str]:
    """Candidates with ``first`` (the champion, the headline rule) leading, then the rest."""
    lead = [c for c in first if c is not None and c in candidates]
    return list(dict.fromkeys([*lead, *candidates]))


def rule_volumes(metrics: pd.DataFrame, rules: Sequence[str]) -> dict[str, float]:
    """Each rule's mean flag volume per test date (``volume_<rule>`` list's k)."""
    out = {}
    for rule in rules:
        at = metrics.loc[(metrics["list"] == f"volume_{rule}") & (metrics["candidate"] == rule)]
        if len(at):
            out[rule] = float(at["k"].mean())
    return out


def _curve_chart(
    curve: pd.DataFrame,
    *,
    metric: str,
    order: Sequence[str],
    emphasised: Sequence[str],
    markers: Sequence[Marker],
    chart_id: str,
    confidence: str,
) -> Markup:
    """Precision or recall at k, one line per candidate; emphasised ones with their band."""
    series = []
    for name in order:
        rows = curve.loc[curve["candidate"] == name].sort_values("k")
        points = list(zip(rows["k"], rows[metric], strict=True))
        notes = [
            f"[{_number(lo)}, {_number(hi)}]"
            for lo, hi in zip(rows[f"{metric}_low"], rows[f"{metric}_high"], strict=True)
        ]
        band = (
            list(zip(rows["k"], rows[f"{metric}_low"], rows[f"{metric}_high"], strict=True))
            if name in emphasised
            else []
        )
        series.append(Series(name, points, band=band, emphasis=name in emphasised, notes=notes))
    label = "precision" if metric == "precision" else "recall"
    return line_chart(
        chart_id=chart_id,
        title=f"{label.capitalize()} at k, pooled over the test dates",
        description=(
            f"{label.capitalize()} of each candidate's top k list for k from "
            f"{int(curve['k'].min())} to {int(curve['k'].max())} on a log scale; the selected "
            f"model and the force's rule are drawn thicker with their {confidence} intervals "
            "shaded; dashed lines mark the published list size and the rules' mean volumes."
        ),
        series=series,
        x_axis=Axis("officers listed on each date (k)", log=True),
        y_axis=Axis(label, low=0.0),
        markers=markers,
    )


def _small_multiples(
    curve: pd.DataFrame,
    *,
    metric: str,
    order: Sequence[str],
    reference: str | None,
    markers: Sequence[Marker],
    confidence: str,
) -> list[tuple[str, Markup]]:
    """One small chart per candidate: its curve with its interval, the reference's (the
    selected model) as a thin line, on a common y axis."""
    top = float(curve[f"{metric}_high"].max()) if len(curve) else 1.0
    top = top if math.isfinite(top) and top > 0 else 1.0
    charts = []
    for index, name in enumerate(order):
        rows = curve.loc[curve["candidate"] == name].sort_values("k")
        series = [
            Series(
                name,
                list(zip(rows["k"], rows[metric], strict=True)),
                band=list(
                    zip(rows["k"], rows[f"{metric}_low"], rows[f"{metric}_high"], strict=True)
                ),
                emphasis=True,
                notes=[
                    f"[{_number(lo)}, {_number(hi)}]"
                    for lo, hi in zip(rows[f"{metric}_low"], rows[f"{metric}_high"], strict=True)
                ],
            )
        ]
        if reference is not None and reference != name:
            ref = curve.loc[curve["candidate"] == reference].sort_values("k")
            series.append(
                Series(f"{reference} (selected)", list(zip(ref["k"], ref[metric], strict=True)))
            )
        charts.append(
            (
                name,
                line_chart(
                    chart_id=f"{metric}-small-{index}",
                    title=f"{metric.capitalize()} at k: {name}",
                    description=f"{name}'s {metric} at k with its {confidence} interval shaded"
                    + (f", against {reference} (thin line)" if len(series) > 1 else "")
                    + ".",
                    series=series,
                    x_axis=Axis("k", log=True),
                    y_axis=Axis(metric, low=0.0, high=top),
                    markers=markers,
                    width=SMALL_WIDTH,
                    height=SMALL_HEIGHT,
                ),
            )
        )
    return charts


def _other_sizes(
    curve: pd.DataFrame, selection: pd.DataFrame, champion: str | None
) -> list[dict[str, str]]:
    """At each k of the curve: the eligible candidate with the best pooled precision, and the
    selected model's precision, each with its interval."""
    eligible = set(selection.loc[selection["eligible"], "candidate"])
    rows = []
    for k, at in curve.groupby("k", sort=True):
        pool = at.loc[at["candidate"].isin(eligible) & at["precision"].notna()]
        if pool.empty:
            continue
        best = pool.sort_values(["precision", "candidate"], ascending=[False, True]).iloc[0]
        mine = at.loc[at["candidate"] == champion]
        chosen = mine.iloc[0] if len(mine) else None
        overlap = chosen is not None and chosen["precision_high"] >= best["precision_low"]
        rows.append(
            {
                "k": str(int(k)),
                "best": str(best["candidate"]),
                "best_precision": _with_interval(
                    best["precision"], best["precision_low"], best["precision_high"]
                ),
                "champion_precision": "–"
                if chosen is None
                else _with_interval(
                    chosen["precision"], chosen["precision_low"], chosen["precision_high"]
                ),
                "verdict": "the selected model"
                if chosen is not None and best["candidate"] == champion
                else ("intervals overlap" if overlap else "better, beyond the interval"),
            }
        )
    return rows


def _selection_rows(
    tables: EvaluationTables, *, selection_list: str, headline_rule: str, champion: str | None
) -> list[dict[str, Any]]:
    summary = tables.summary.set_index(["candidate", "list"])

    def pooled(name: str, list_name: str) -> str:
        key = (name, list_name)
        return _number(summary.loc[key, "precision"]) if key in summary.index else "–"

    rows = []
    for record in tables.selection.to_dict("records"):
        name = record["candidate"]
        rows.append(
            {
                "candidate": name,
                "champion": name == champion,
                "mean_precision": _number(record["mean_precision"]),
                "pooled": _with_interval(
                    record.get("pooled_precision"),
                    record.get("precision_low"),
                    record.get("precision_high"),
                ),
                "top_1pct": pooled(name, "top_1pct"),
                "at_rule": pooled(name, f"volume_{headline_rule}"),
                "regret": _number(record["worst_regret"]),
                "interpretable": "yes" if record["interpretable_or_allowed"] else "no",
                "gate": "passed" if record["gate_passed"] else "blocked",
                "gate_summary": _gate_summary(str(record["gate_reason"] or "")),
                "gate_reason": str(record["gate_reason"] or ""),
                "eligible": "yes" if record["eligible"] else "no",
            }
        )
    return rows


GATE_SUMMARY_CHARS = 140


def _gate_summary(reason: str) -> str:
    """The gate's reason cut to its first clauses (the table shows it whole on demand):
    "blocked, outside the band 0.8–1.25: ethnicity 'Asian': flag_rate ratio 2.68 (…)"."""
    clauses = reason.split("; ")
    summary = clauses[0]
    for clause in clauses[1:]:
        if len(summary) >= GATE_SUMMARY_CHARS // 3:
            break
        summary += "; " + clause
    if len(summary) > GATE_SUMMARY_CHARS:
        summary = summary[: GATE_SUMMARY_CHARS - 1] + "…"
    return summary


def _headline_sections(
    headline_by_rule: pd.DataFrame, *, volumes: Mapping[str, float]
) -> list[dict[str, Any]]:
    sections = []
    for rule, table in headline_by_rule.groupby("rule", sort=False):
        rows = [
            {
                "candidate": r["candidate"],
                "is_rule": r["candidate"] == rule,
                "tp": _count(r["tp"]),
                "fp": _count(r["fp"]),
                "precision": _number(r["precision"]),
                "tp_ratio": _with_interval(
                    r["tp_ratio"], r["tp_ratio_low"], r["tp_ratio_high"], digits=2
                ),
                "fp_change": _with_interval(
                    r["fp_change"], r["fp_change_low"], r["fp_change_high"], 2, signed=True
                ),
            }
            for r in table.to_dict("records")
        ]
        flags = table.loc[table["candidate"] == rule, "k"]
        sections.append(
            {
                "rule": str(rule),
                "flags": _count(flags.iloc[0]) if len(flags) else "–",
                "per_date": value_text(volumes.get(str(rule), math.nan)),
                "rows": rows,
            }
        )
    return sections


def _split_chart(
    by_split: pd.DataFrame, *, order: Sequence[str], emphasised: Sequence[str], selection_list: str
) -> Markup:
    blocks = sorted(s for s in by_split["split"].unique() if s != "all")
    ticks = [(float(i), str(block)) for i, block in enumerate(blocks)]
    series = []
    for name in order:
        rows = by_split.loc[by_split["candidate"] == name].set_index("split")
        points = [
            (float(i), float(rows.loc[block, "precision"]) if block in rows.index else math.nan)
            for i, block in enumerate(blocks)
        ]
        series.append(Series(name, points, emphasis=name in emphasised))
    return line_chart(
        chart_id="per-split",
        title=f"Precision at {selection_list} per test block",
        description=(
            f"Each candidate's precision at {selection_list}, pooled over the as-of dates of "
            f"each of the {len(blocks)} test blocks (named by their test date)."
        ),
        series=series,
        x_axis=Axis("test block", low=-0.25, high=len(blocks) - 0.75, ticks=ticks),
        y_axis=Axis("precision", low=0.0),
    )


def _calibration_chart(
    calibration: pd.DataFrame, *, order: Sequence[str], emphasised: Sequence[str]
) -> Markup:
    series = []
    for name in order:
        rows = calibration.loc[calibration["candidate"] == name]
        rows = rows.sort_values(["mean_predicted", "decile"], kind="stable")
        series.append(
            Series(
                name,
                list(zip(rows["mean_predicted"], rows["observed_rate"], strict=True)),
                emphasis=name in emphasised,
                notes=[
                    f"(decile {d}, {n:,} officer-dates)"
                    for d, n in zip(rows["decile"], rows["n"], strict=True)
                ],
            )
        )
    return line_chart(
        chart_id="calibration",
        title="Calibration: predicted against observed escalation rate, by score decile",
        description=(
            "For each candidate, officers are put in ten groups by score on each test date "
            "(tied scores share a group); each point is a group's mean predicted probability "
            "against the share that escalated, pooled over the dates. A calibrated model's "
            "points lie on the dotted diagonal."
        ),
        series=series,
        x_axis=Axis("mean predicted probability", low=0.0),
        y_axis=Axis("observed escalation rate", low=0.0),
        diagonal=True,
    )


def _distribution_charts(
    distribution: pd.DataFrame, *, order: Sequence[str]
) -> list[tuple[str, Markup]]:
    charts = []
    for index, name in enumerate(order):
        rows = distribution.loc[distribution["candidate"] == name].sort_values("bin")
        if rows.empty:
            continue
        categories = [
            f"{low * 100:.2g}%–{high * 100:.2g}%"
            for low, high in zip(rows["lower"], rows["upper"], strict=True)
        ]
        categories[0] = f"below {rows['upper'].iloc[0] * 100:.2g}%"
        decades = [
            (float(i), f"{low * 100:g}%")
            for i, low in enumerate(rows["lower"])
            if low > 0 and _is_decade(low)
        ] + [(float(len(rows)), "100%")]
        negatives, positives = rows["negatives"].sum(), rows["positives"].sum()
        bars = [
            Bars(
                "did not escalate",
                list(rows["negatives"] / negatives) if negatives else [math.nan] * len(rows),
            ),
            Bars(
                "escalated",
                list(rows["positives"] / positives) if positives else [math.nan] * len(rows),
            ),
        ]
        charts.append(
            (
                name,
                bar_chart(
                    chart_id=f"distribution-{index}",
                    title=f"Score distribution: {name}",
                    description=(
                        f"Share of officer-dates in each band of {name}'s predicted escalation "
                        "probability (from 0.01% to 100%, four bands a decade), for officers who "
                        "escalated and who did not: the further apart, the better it separates."
                    ),
                    categories=categories,
                    bars=bars,
                    x_label="predicted probability",
                    ticks=decades,
                    y_axis=Axis("share of officer-dates", percent=True),
                    width=SMALL_WIDTH,
                    height=SMALL_HEIGHT,
                ),
            )
        )
    return charts


def _is_decade(value: float) -> bool:
    """Whether ``value`` is a power of ten (1e-4, 0.001, ...), allowing for rounding."""
    power = math.log10(value)
    return abs(power - round(power)) < 1e-9


def _curves(
    curve: pd.DataFrame,
    *,
    metric: str,
    order: Sequence[str],
    emphasised: Sequence[str],
    champion: str | None,
    markers: Sequence[Marker],
    confidence: str,
) -> dict[str, str]:
    """The ``metric``-at-k chart of every candidate, and its small multiples."""
    # The small charts mark only the published list: a dozen labels would hide the curves.
    published_marks = [m for m in markers if m.label.startswith("published")]
    return {
        "chart": _curve_chart(
            curve,
            metric=metric,
            order=order,
            emphasised=emphasised,
            markers=markers,
            chart_id=f"{metric}-at-k",
            confidence=confidence,
        ),
        "small": _small_multiples(
            curve,
            metric=metric,
            order=order,
            reference=champion,
            markers=published_marks,
            confidence=confidence,
        ),
    }


def _curve_rows(curve: pd.DataFrame) -> list[dict[str, str]]:
    """The curve's table: candidate, k, tp, precision and recall with their intervals."""
    return [
        {
            "candidate": r["candidate"],
            "k": str(int(r["k"])),
            "tp": _count(r["tp"]),
            "precision": _with_interval(r["precision"], r["precision_low"], r["precision_high"]),
            "recall": _with_interval(r["recall"], r["recall_low"], r["recall_high"]),
        }
        for r in curve.sort_values(["candidate", "k"]).to_dict("records")
    ]


def _short_rule_rows(short_rule_lists: pd.DataFrame) -> list[dict[str, str]]:
    """The rules whose lists run short, in words (``ewp.models.evaluation.short_rule_lists``)."""
    return [
        {
            "rule": r["rule"],
            "list": r["list"],
            "short": f"{int(r['short_dates'])} of {int(r['test_dates'])}",
            "own": f"{_count(r['rule_flags'])} of {_count(r['places'])}",
            "filled_by": str(r["filled_by"]),
        }
        for r in short_rule_lists.to_dict("records")
    ]


def render_evaluation_report(
    *,
    title: str,
    provenance: Mapping[str, str],
    tables: EvaluationTables,
    champion: str | None,
    decision: str,
    selection_list: str,
    published_list: str,
    headline_rule: str,
    rules: Sequence[str],
    confidence: float,
    bootstrap_samples: int,
) -> str:
    """The evaluation as one self-contained HTML document.

    * ``provenance``: e.g. config_name, data_fingerprint, extracted_on, model_version
      (``ewp.reports.weekly.PROVENANCE_LABELS`` order, then any others, sorted).
    * ``tables``: ``EvaluationTables``. ``champion``: the selected candidate or None;
      ``decision``: what became of it, in words (registered, promoted, evaluation only).
    * ``selection_list``: the list selected on; ``published_list``: the list scoring draws
      (``ScoringConfig.list_name``); ``headline_rule``: the force's rule; ``rules``: every
      threshold and peer rule (their volumes are marked).
    * ``confidence`` and ``bootstrap_samples``: of the intervals.

    Raises ValueError on a missing column.
    """
    _require(tables.selection, SELECTION_COLUMNS, name="selection")
    _require(tables.curve, CURVE_COLUMNS, name="curve")
    _require(
        tables.headline_by_rule, ["rule", "candidate", "tp", "fp", "tp_ratio"], name="headline"
    )
    pct = f"{confidence:.0%}"
    candidates = list(tables.selection["candidate"])
    order = _ordered(candidates, first=[champion, headline_rule])
    emphasised = [c for c in (champion, headline_rule) if c is not None]
    volumes = rule_volumes(tables.metrics, rules)
    markers = [
        Marker(float(k), f"{label} ({value_text(k)})")
        for k, label in _marks(
            selection_list=selection_list,
            published_list=published_list,
            summary=tables.summary,
            volumes=volumes,
        )
    ]
    curve = tables.curve.loc[tables.curve["candidate"].isin(candidates)]
    # The curves' log axis runs between the powers of ten around the curve's sizes.
    shown_k = (
        (
            10 ** math.floor(math.log10(curve["k"].min())),
            10 ** math.ceil(math.log10(curve["k"].max())),
        )
        if len(curve)
        else (0.0, 0.0)
    )
    outside = [m.label for m in markers if not shown_k[0] <= m.x <= shown_k[1]]
    selected = tables.selection.set_index("candidate")
    champion_row = selected.loc[champion] if champion is not None else None
    headline = tables.headline_by_rule.loc[tables.headline_by_rule["rule"] == headline_rule]
    headline = headline.set_index("candidate")
    return load_template(TEMPLATE).render(
        marking=MARKING,
        title=title,
        provenance=_provenance(provenance),
        champion=champion,
        decision=decision,
        selection_list=selection_list,
        published_list=published_list,
        selection_is_published=selection_list == published_list,
        headline_rule=headline_rule,
        confidence=pct,
        bootstrap_samples=bootstrap_samples,
        champion_precision=None
        if champion_row is None
        else _with_interval(
            champion_row.get("pooled_precision"),
            champion_row.get("precision_low"),
            champion_row.get("precision_high"),
        ),
        champion_ratio=None
        if champion is None or champion not in headline.index
        else _with_interval(
            headline.loc[champion, "tp_ratio"],
            headline.loc[champion, "tp_ratio_low"],
            headline.loc[champion, "tp_ratio_high"],
            digits=2,
        ),
        test_blocks=len([s for s in tables.by_split["split"].unique() if s != "all"]),
        selection_rows=_selection_rows(
            tables, selection_list=selection_list, headline_rule=headline_rule, champion=champion
        ),
        curves={
            metric: _curves(
                curve,
                metric=metric,
                order=order,
                emphasised=emphasised,
                champion=champion,
                markers=markers,
                confidence=pct,
            )
            for metric in ("precision", "recall")
        },
        other_sizes=_other_sizes(curve, tables.selection, champion),
        outside_curve=outside,
        curve_rows=_curve_rows(curve),
        headline_sections=_headline_sections(tables.headline_by_rule, volumes=volumes),
        split_chart=_split_chart(
            tables.by_split, order=order, emphasised=emphasised, selection_list=selection_list
        ),
        calibration_chart=_calibration_chart(
            tables.calibration, order=order, emphasised=emphasised
        ),
        distribution_charts=_distribution_charts(tables.distribution, order=order),
        volumes=[(rule, value_text(v)) for rule, v in volumes.items()],
        short_rules=_short_rule_rows(tables.short_rule_lists),
    )


def _marks(
    *,
    selection_list: str,
    published_list: str,
    summary: pd.DataFrame,
    volumes: Mapping[str, float],
) -> list[tuple[float, str]]:
    """Where the curves are marked: the published list (if a fixed size), the selection list
    if another, the top 1% (mean size per date) and each rule's mean volume per date."""
    marks: list[tuple[float, str]] = []
    per_date = summary.assign(mean_k=summary["k"] / summary["test_dates"])
    for name, label in ((published_list, "published"), (selection_list, "selection")):
        at = per_date.loc[per_date["list"] == name, "mean_k"]
        if len(at) and (name != published_list or label == "published"):
            marks.append((float(at.iloc[0]), f"{label} {name}"))
    top = per_date.loc[per_date["list"] == "top_1pct", "mean_k"]
    if len(top):
        marks.append((float(top.iloc[0]), "top 1%"))
    marks += [(v, rule) for rule, v in volumes.items() if v > 0]
    return list(dict.fromkeys(marks))
