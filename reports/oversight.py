"""The oversight report: ``ewp.models.oversight``'s figures as one self-contained HTML page.

Pure: the figures (with officer identifiers already replaced by pseudonyms: the report is for
leadership, an ethics committee or an inspectorate, and may leave the data home) in, HTML out.
Charts are inline SVG from ``ewp.reports.charts``; every value from the data or the config is
escaped by the template (``reports.load_template``); there is no script and no external asset.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from ewp.core.config import FairnessConfig
from ewp.core.contract import CATEGORY_LABELS
from ewp.core.marking import MARKING
from ewp.models.fairness import OUTSIDE, REFERENCE
from ewp.models.oversight import (
    BACKLOG_BANDS,
    FAMILIES,
    PILEUP_LIST_MIN,
    SANCTIONED_FROM,
    STAGES,
    Oversight,
    still_open_after,
)
from ewp.reports import load_template
from ewp.reports.charts import (
    Axis,
    Bars,
    Interval,
    Marker,
    Series,
    bar_chart,
    interval_chart,
    line_chart,
)

TEMPLATE = "oversight.html.j2"
PILEUP_LIST_SHOWN = 50  # officers listed in the report; the CSV has every one
CURVE_STEP_DAYS = 15
CURVE_MAX_DAYS = 6 * 365
METRIC_LABELS = {
    "allegations_per_officer_year": "allegations per officer-year",
    "case_to_answer_rate": "case to answer (of decided)",
    "proven_rate": "proven (of decided)",
    "sanctioned_rate": "sanctioned (of decided)",
}
SOURCE_LABELS = {"public": "public", "internal": "internal", "conduct_matter": "conduct matter"}
SANCTION_WORDS = "management advice or above"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def percent(value: Any) -> str:
    """0.1234 -> "12.3%"; missing -> "–"."""
    return "–" if _missing(value) else f"{100 * float(value):.1f}%"


def days(value: Any) -> str:
    """Days as a whole number ("412 days"); missing -> "not reached"."""
    return "not reached" if _missing(value) else f"{float(value):,.0f} days"


def count(value: Any) -> str:
    """A count with thousands separators; missing (suppressed) -> "–"."""
    return "–" if _missing(value) else f"{int(value):,}"


def ratio(value: Any, low: Any, high: Any) -> str:
    """A ratio with its interval, "1.81 [1.62, 2.03]"; the ratio alone without one; "–"."""
    if _missing(value):
        return "–"
    if _missing(low) or _missing(high):
        return f"{float(value):.2f}"
    return f"{float(value):.2f} [{float(low):.2f}, {float(high):.2f}]"


def group_label(by: str, group: str) -> str:
    """A category or source in words; other groups as they are."""
    if by == "category":
        return CATEGORY_LABELS.get(group, group)
    if by == "source":
        return SOURCE_LABELS.get(group, group)
    return group


def _formatted(table: pd.DataFrame, **formats: Callable[[Any], str]) -> list[dict[str, str]]:
    """Each row of ``table`` as text: column -> its format, for the columns named."""
    return [
        {column: text(row[column]) for column, text in formats.items()}
        for row in table.to_dict("records")
    ]


def _mean_text(row: Mapping[str, Any]) -> str:
    if row["mean_restricted"]:
        return (
            f"at least {days(row['mean_days'])} (restricted to {days(row['restricted_to_days'])})"
        )
    return days(row["mean_days"])


def _duration_rows(durations: pd.DataFrame) -> list[dict[str, str]]:
    return [
        {
            "by": row["by"],
            "group": group_label(row["by"], row["group"]),
            "notices": count(row["notices"]),
            "open": count(row["open"]),
            "median": days(row["median_days"]),
            "mean": _mean_text(row),
            "p90": days(row["p90_days"]),
            "over_one_year": percent(row["over_one_year"]),
            "over_two_years": percent(row["over_two_years"]),
            "undated": count(row["undated"]),
        }
        for row in durations.to_dict("records")
    ]


def _curve_chart(result: Oversight) -> Markup:
    """The share still undecided by days since receipt, per source family."""
    series = []
    for family, curve in result.curves.items():
        if curve.empty:
            continue
        longest = min(float(curve["days"].iloc[-1]), CURVE_MAX_DAYS)
        grid = np.arange(0, longest + 1, CURVE_STEP_DAYS)
        points = [(float(d), still_open_after(curve, float(d))) for d in grid]
        series.append(Series(family, points, emphasis=family == "all sources"))
    return line_chart(
        chart_id="duration-curve",
        title="Share of notices still undecided, by days since receipt",
        description=(
            "Kaplan–Meier estimate: open notices count as undecided for as long as they have "
            "been open. One line per source family."
        ),
        series=series,
        x_axis=Axis("days since the notice was received"),
        y_axis=Axis("still undecided", low=0.0, high=1.0, percent=True),
        markers=[Marker(365, "1 year"), Marker(730, "2 years")],
    )


def _backlog_chart(backlog: pd.DataFrame) -> Markup:
    return bar_chart(
        chart_id="backlog",
        title="Open notices by age",
        description="Notices still undecided on the report's date, by time since receipt.",
        categories=[label for _, label in BACKLOG_BANDS],
        bars=[Bars("open notices", [float(v) for v in backlog["notices"]])],
        x_label="time since the notice was received",
        y_axis=Axis("open notices"),
        ticks=[(i + 0.5, label) for i, (_, label) in enumerate(BACKLOG_BANDS)],
    )


def _trend_chart(trend: pd.DataFrame) -> Markup | None:
    known = trend.dropna(subset=["open_at_quarter_end"]) if len(trend) else trend
    if known.empty:
        return None
    periods = pd.PeriodIndex(known["quarter"], freq="Q")
    xs = periods.year + (periods.quarter - 1) / 4
    points = [(float(x), float(v)) for x, v in zip(xs, known["open_at_quarter_end"], strict=True)]
    return line_chart(
        chart_id="backlog-trend",
        title="Open notices at the end of each quarter",
        description="Notices received by the last day of the quarter and not decided by it.",
        series=[Series("open notices", points, emphasis=True)],
        x_axis=Axis("quarter"),
        y_axis=Axis("open notices", low=0.0),
    )


def _disparity_chart(table: pd.DataFrame, *, family: str, metric: str, config: FairnessConfig):
    part = table.loc[(table["family"] == family) & (table["metric"] == metric)]
    rows = []
    for row in part.to_dict("records"):
        note = str(row["verdict"])
        rows.append(
            Interval(
                label=f"{row['attribute'].replace('_', ' ')}: {row['group']}",
                value=float("nan") if _missing(row["ratio"]) else float(row["ratio"]),
                low=float("nan") if _missing(row["ratio_ci_low"]) else float(row["ratio_ci_low"]),
                high=float("nan")
                if _missing(row["ratio_ci_high"])
                else float(row["ratio_ci_high"]),
                note=note,
            )
        )
    slug = f"{family}-{metric}".replace(" ", "-")
    return interval_chart(
        chart_id=f"disparity-{slug}",
        title=f"{family.capitalize()}: {METRIC_LABELS[metric]}, ratio to the reference group",
        description=(
            f"Each group's ratio to its reference group with a {config.confidence:.0%} "
            f"bootstrap interval; the shaded band is {config.band[0]}–{config.band[1]}."
        ),
        rows=rows,
        axis=Axis("ratio to the reference group", log=True),
        reference=1.0,
        band=tuple(config.band),
    )


def _disparity_tables(table: pd.DataFrame, config: FairnessConfig) -> list[dict[str, Any]]:
    sections = []
    for family in FAMILIES:
        part = table.loc[table["family"] == family]
        rows = []
        for (attribute, group), cells in part.groupby(["attribute", "group"], sort=False):
            by_metric = cells.set_index("metric")
            rate = by_metric.loc["allegations_per_officer_year"]
            row = {
                "attribute": attribute.replace("_", " "),
                "group": group,
                "officers": count(rate["officers"]),
                "rate": "–" if _missing(rate["value"]) else f"{float(rate['value']):.3f}",
                "reference": rate["verdict"] == REFERENCE,
                "cells": [],
            }
            for metric in STAGES:
                cell = by_metric.loc[metric]
                row["cells"].append(
                    {
                        "text": ratio(cell["ratio"], cell["ratio_ci_low"], cell["ratio_ci_high"]),
                        "verdict": str(cell["verdict"]),
                        "outside": cell["verdict"] == OUTSIDE,
                    }
                )
            rows.append(row)
        sections.append(
            {
                "family": family,
                "rows": rows,
                "charts": [
                    {
                        "svg": _disparity_chart(table, family=family, metric=metric, config=config),
                        "caption": f"{METRIC_LABELS[metric].capitalize()}: ratio to the "
                        f"reference group, {config.confidence:.0%} interval; shaded: "
                        f"{config.band[0]}–{config.band[1]}.",
                    }
                    for metric in ("allegations_per_officer_year", "proven_rate")
                ],
            }
        )
    return sections


def _finding_rows(findings: pd.DataFrame) -> list[dict[str, str]]:
    return [
        {
            "by": row["by"],
            "group": group_label(row["by"], row["group"]),
            "decided": count(row["decided"]),
            "withdrawn": percent(row["withdrawn"]),
            "no_case_to_answer": percent(row["no_case_to_answer"]),
            "case_to_answer": percent(row["case_to_answer"]),
            "proven": percent(row["proven"]),
        }
        for row in findings.to_dict("records")
    ]


def _repeat_rows(repeat: pd.DataFrame) -> list[dict[str, str]]:
    return [
        {
            "group": row["group"],
            "officers": count(row["officers"]),
            "proven": f"{count(row['proven'])} ({percent(row['proven_share'])})",
            "sanctioned": f"{count(row['sanctioned'])} ({percent(row['sanctioned_share'])})",
            "dismissed": f"{count(row['dismissed'])} ({percent(row['dismissed_share'])})",
        }
        for row in repeat.to_dict("records")
    ]


def headline(result: Oversight) -> list[str]:
    """The report's key figures, one sentence each (also printed by ``ewp oversight``)."""
    frame = result.allegations
    overall = result.durations.loc[result.durations["by"] == "all"].iloc[0]
    findings = result.findings.loc[result.findings["by"] == "all"].iloc[0]
    repeat = result.repeat_outcomes.set_index("group")
    decided = int((frame["status"] != "open").sum())
    sentences = [
        f"{len(frame):,} notices received before {result.as_of.isoformat()}: {decided:,} "
        f"decided, {len(frame) - decided:,} still open.",
        f"Time to decide (open cases counted as censored): median {days(overall['median_days'])}"
        f", mean {_mean_text(overall)}, 90th percentile {days(overall['p90_days'])}; "
        f"{percent(overall['over_one_year'])} take over a year and "
        f"{percent(overall['over_two_years'])} over two years.",
        f"Of {count(findings['decided'])} decided notices, {percent(findings['no_case_to_answer'])}"
        f" ended no case to answer, {percent(findings['withdrawn'])} withdrawn, "
        f"{percent(findings['case_to_answer'])} case to answer and {percent(findings['proven'])} "
        "proven.",
    ]
    if "2 or more notices" in repeat.index:
        two = repeat.loc["2 or more notices"]
        sentences.append(
            f"{count(two['officers'])} officers had 2 or more notices: "
            f"{percent(two['sanctioned_share'])} were ever sanctioned and "
            f"{percent(two['dismissed_share'])} dismissed."
        )
    if len(result.pileups):
        top = result.pileups.iloc[0]
        sentences.append(
            f"At most {int(top['most_before_decided'])} cases of one officer arrived before one "
            f"of their cases was decided; {int((result.pileups['open_now'] >= 2).sum()):,} "
            "officers have 2 or more cases open now."
        )
    return sentences


def render_oversight_report(
    *,
    result: Oversight,
    pileup_list: pd.DataFrame,
    config: FairnessConfig,
    provenance: Mapping[str, str],
    files: Sequence[str] = (),
) -> str:
    """The report as HTML. ``pileup_list``: ``ewp.models.oversight.pileup_list`` with
    ``officer_id`` already pseudonymised; ``provenance``: what the figures came from (config,
    data fingerprint, export date); ``files``: the CSV tables written beside the report."""
    trend = result.trend
    context = {
        "marking": MARKING,
        "title": f"Oversight report, as of {result.as_of.isoformat()}",
        "provenance": dict(provenance),
        "headline": headline(result),
        "durations": _duration_rows(result.durations),
        "curve_chart": _curve_chart(result),
        "trend": _formatted(
            trend,
            quarter=str,
            received=count,
            open=count,
            median_days=days,
            over_one_year=percent,
            over_two_years=percent,
            open_at_quarter_end=count,
        ),
        "trend_chart": _trend_chart(trend),
        "backlog": _formatted(
            result.backlog,
            age=str,
            notices=count,
            cases=count,
            public=count,
            internal=count,
            share=percent,
        ),
        "backlog_chart": _backlog_chart(result.backlog),
        "pileup_summary": result.pileup_summary.to_dict("records"),
        "pileup_list": pileup_list.head(PILEUP_LIST_SHOWN).to_dict("records"),
        "pileup_listed": len(pileup_list),
        "pileup_shown": min(len(pileup_list), PILEUP_LIST_SHOWN),
        "pileup_min": PILEUP_LIST_MIN,
        "findings": _finding_rows(result.findings),
        "repeat": _repeat_rows(result.repeat_outcomes),
        "sanction_words": SANCTION_WORDS,
        "sanctioned_from": SANCTIONED_FROM,
        "disparity_sentences": result.disparity_sentences,
        "disparity": _disparity_tables(result.disparity, config),
        "metric_labels": [METRIC_LABELS[m] for m in STAGES],
        "band": f"{config.band[0]}–{config.band[1]}",
        "confidence": f"{config.confidence:.0%}",
        "bootstrap_samples": config.bootstrap_samples,
        "min_group_size": config.min_group_size,
        "files": list(files),
    }
    return load_template(TEMPLATE).render(**context)
