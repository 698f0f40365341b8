"""The weekly report: one self-contained HTML file a professional standards unit reads on Monday.

``render_weekly_report`` is pure: tables in, HTML out, the same bytes for the same inputs (no
clock, fixed number formats, rows in a fixed order). The file needs nothing else: CSS is
inline, each officer's timeline is an inline SVG drawn here, there is no JavaScript and no
external reference, so it opens offline and prints. Every piece of text goes through Jinja's
autoescaping; this module only computes numbers, coordinates and formatted strings, and the
layout lives in ``templates/weekly.html.j2``.

The report is marked OFFICIAL-SENSITIVE in its header and footer. A flag is presented as a
prompt for a human review with its reasons in plain language, never as a finding.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ewp.core.config import Config
from ewp.core.contract import AUDIT_ONLY_COLUMNS, CATEGORY_LABELS, TABLES
from ewp.core.marking import MARKING as _MARKING
from ewp.features.explanations import CHANGES, TIMELINE_COLUMNS, officers_in_words, rate_in_words
from ewp.features.registry import FeatureSpec, feature_specs
from ewp.reports import load_template
from ewp.reports.charts import mark_path, px

TEMPLATE = "weekly.html.j2"
MARKING = _MARKING  # the report's header and footer

# The provenance every report shows, with its label; further keys follow, sorted.
PROVENANCE_LABELS: dict[str, str] = {
    "model_version": "Model version",
    "data_fingerprint": "Data fingerprint",
    "config_name": "Configuration",
    "config_fingerprint": "Configuration fingerprint",
    "extracted_on": "Export taken on",
}
NO_LINKS: Mapping[str, str] = MappingProxyType({})
# ``methods``: features (FeatureSpecs), rules (name -> what it flags), limitations and
# challenge (sentences), decisions (the allowed review decisions), review_command (the
# ``ewp review`` command line, with ``{flag_id}`` where the flag's ID goes) and decisions_csv
# (in words, how to record decisions through a CSV instead, e.g. "flags.csv: fill in
# review_decision, reviewer, reviewed_on and review_note, then run ewp review import").
METHODS_KEYS: tuple[str, ...] = (
    "features",
    "rules",
    "limitations",
    "challenge",
    "decisions",
    "review_command",
    "decisions_csv",
)
FINGERPRINT_SHORT = 12

# The methods section's fixed prose.
LIMITATIONS = (
    "Allegations themselves are biased: Black, Asian and Mixed officers receive more "
    "allegations than White officers. See the fairness audit before acting on a flag.",
    "Escalation is rare, so even the best list holds more officers who will not escalate than "
    "officers who will. A flag is a reason to look, not a finding.",
    "Rank and unit are as recorded in the latest export, not at the time of each notice.",
    "The officers at highest risk change from year to year; a past flag is not a label.",
)
CHALLENGE = (
    "Every flag is reviewed by a person before anything happens; the model never decides.",
    "The reasons listed with each flag are the facts the score rests on; if one is wrong, "
    "tell the standards unit and the record will be corrected and the officer re-scored.",
    "Officers and staff associations may ask for the model card, the feature list and the "
    "fairness audit behind any list.",
)

# The timeline chart: one lane per category group, each with its colour (Okabe-Ito, readable
# with colour-blindness) and its shape, so neither colour nor shape alone carries the meaning.
CHART_GROUPS: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("Sexual / discrimination", ("sexual_misconduct", "discrimination"), "#CC79A7", "diamond"),
    (
        "Violence / domestic abuse",
        ("violence_use_of_force", "domestic_abuse"),
        "#D55E00",
        "triangle",
    ),
    (
        "Dishonesty / corruption",
        ("dishonesty_fraud", "corruption_abuse_of_position", "improper_disclosure"),
        "#0072B2",
        "square",
    ),
    ("Other conduct", ("neglect_of_duty", "discreditable_conduct", "other"), "#009E73", "circle"),
)
CHART_YEARS = 5
CHART_WIDTH = 720
CHART_PLOT_LEFT = 180.0
CHART_PLOT_RIGHT = 700.0
CHART_TOP = 6.0
LANE_HEIGHT = 30.0
MARK_RADIUS = 6.0
# Vertical offsets for marks that would overlap their left neighbour in a lane, in turn.
STACK_OFFSETS: tuple[float, ...] = (0.0, -9.0, 9.0)


QUARANTINE_CSV = "quarantine.csv"
# The fields a quarantine reason names: "<file> line 7, field birth_year: ...; field x: ...".
_REASON_FIELD = re.compile(r"(?:^|, |; )field ([A-Za-z0-9_]+): ")


@dataclass(frozen=True)
class Rejections:
    """What validation rejected from the export behind a list, for the report's summary.

    ``by_table``: (table, records rejected) for each table with any, in the contract's table
    order (officers, notices, outcomes); ``audit_only_officers``:
    officer records rejected only because of an audit-only field (``ewp.core.contract``'s
    ``AUDIT_ONLY_COLUMNS``, e.g. a birth year that is not a year), so officers who may be
    serving are missing from the list and from its fairness audit.
    """

    by_table: tuple[tuple[str, int], ...]
    audit_only_officers: int

    @property
    def total(self) -> int:
        """Records rejected in all."""
        return sum(count for _, count in self.by_table)


def count_rejections(quarantine: pd.DataFrame) -> Rejections:
    """``Rejections`` from a quarantine report (``ewp.data.validation``: ``table``, ``reason``)."""
    _require(quarantine, ["table", "reason"], name="quarantine")
    counts = quarantine["table"].astype(str).value_counts()
    order = [*(t for t in TABLES if t in counts.index), *sorted(set(counts.index) - set(TABLES))]
    per_table = counts.reindex(order)
    officers = quarantine.loc[quarantine["table"] == "officers", "reason"].astype(str)
    audit_only = sum(
        bool(fields) and set(fields) <= set(AUDIT_ONLY_COLUMNS)
        for fields in (_REASON_FIELD.findall(reason) for reason in officers)
    )
    return Rejections(
        by_table=tuple((str(t), int(n)) for t, n in per_table.items()),
        audit_only_officers=audit_only,
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _rejection_sentences(rejections: Rejections) -> dict[str, str]:
    """The summary's lines on rejected records ("4 records rejected (1 officer, 3 notices)")."""
    if rejections.total == 0:
        return {"rejected": "No records were rejected.", "audit_only": ""}
    tables = ", ".join(_plural(n, t.removesuffix("s")) for t, n in rejections.by_table)
    audit_only = ""
    if rejections.audit_only_officers:
        fields = ", ".join(c.replace("_", " ") for c in AUDIT_ONLY_COLUMNS)
        audit_only = (
            f"{_plural(rejections.audit_only_officers, 'officer record')} "
            f"{'was' if rejections.audit_only_officers == 1 else 'were'} rejected only because "
            f"of a field used by the fairness audit alone ({fields}): those officers are missing "
            "from this list and from its fairness audit until the record is corrected."
        )
    return {
        "rejected": f"{_plural(rejections.total, 'record')} rejected ({tables})",
        "audit_only": audit_only,
    }


@dataclass(frozen=True)
class StaleExport:
    """The export behind a list was older than ``max_age_days`` on the day of the run."""

    extracted_on: str
    max_age_days: int
    age_days: int

    @property
    def warning(self) -> str:
        """The console's warning, with the age in days."""
        return (
            f"The export was taken on {self.extracted_on}, {self.age_days} days ago (more than "
            f"scoring.max_export_age_days = {self.max_age_days}): the list may miss recent "
            "notices, decisions and leavers. Get a fresh export before acting on it."
        )

    @property
    def banner(self) -> str:
        """The report's banner: no age in days, so a rerun on another day writes the same."""
        return (
            f"Out-of-date data: this list comes from an export taken on {self.extracted_on}, "
            f"more than {self.max_age_days} days before it was published. It may miss recent "
            "notices, decisions and officers who have left; ask for a fresh export before "
            "acting on it."
        )


# Standard category label -> index into ``CHART_GROUPS``.
GROUP_OF_LABEL: dict[str, int] = {
    CATEGORY_LABELS[category]: index
    for index, (_, members, _, _) in enumerate(CHART_GROUPS)
    for category in members
}


@dataclass(frozen=True)
class _Mark:
    path: str
    colour: str
    is_open: bool
    title: str
    pending_from: str  # x where an open case's dashed line starts ("" when decided)
    y: str


@dataclass(frozen=True)
class _Chart:
    chart_id: str
    title: str
    description: str
    width: int
    height: str
    plot_left: str
    plot_right: str
    plot_width: str
    lane_height: str
    axis_y: str
    tick_end: str  # y where a tick mark ends, below the axis
    tick_label_y: str
    lanes: tuple[tuple[str, str, str], ...]  # label, label baseline y, lane top y
    ticks: tuple[tuple[str, str], ...]  # x, year
    marks: tuple[_Mark, ...]


def _mark_title(row: Mapping[str, Any]) -> str:
    """What a mark means, in words, for its SVG <title>."""
    head = f"{row['received']}: {row['category']}, from source {row['source']}"
    if row["status"] == "open":
        return f"{head}; open for {row['days_open']} days on the as-of date"
    outcome = ", ".join(part for part in (row["finding"], row["sanction"]) if part)
    return f"{head}; decided: {outcome}" if outcome else f"{head}; decided"


def _chart(
    *, chart_id: str, officer_id: str, rows: Sequence[Mapping[str, Any]], as_of: dt.date
) -> _Chart:
    """The timeline chart of one officer: notices over the ``CHART_YEARS`` before ``as_of``."""
    end = pd.Timestamp(as_of)
    start = end - pd.DateOffset(years=CHART_YEARS)
    span = (end - start).days
    plot_width = CHART_PLOT_RIGHT - CHART_PLOT_LEFT

    def x_of(day: pd.Timestamp) -> float:
        return CHART_PLOT_LEFT + (day - start).days / span * plot_width

    lanes = tuple(
        (
            label,
            px(CHART_TOP + (i + 0.5) * LANE_HEIGHT + 4),
            px(CHART_TOP + i * LANE_HEIGHT),
        )
        for i, (label, _, _, _) in enumerate(CHART_GROUPS)
    )
    axis_y = CHART_TOP + len(CHART_GROUPS) * LANE_HEIGHT
    ticks = tuple(
        (px(x_of(pd.Timestamp(year=year, month=1, day=1))), str(year))
        for year in range(start.year + 1, end.year + 1)
    )
    shown = [row for row in rows if pd.Timestamp(row["received_on"]) >= start]
    marks: list[_Mark] = []
    last_x: dict[int, float] = {}
    level: dict[int, int] = {}
    for row in shown:
        group = GROUP_OF_LABEL[row["category"]]
        _, _, colour, shape = CHART_GROUPS[group]
        x = x_of(pd.Timestamp(row["received_on"]))
        close = group in last_x and x - last_x[group] < 2 * MARK_RADIUS + 1
        level[group] = level.get(group, 0) + 1 if close else 0
        last_x[group] = x
        y = (
            CHART_TOP
            + (group + 0.5) * LANE_HEIGHT
            + STACK_OFFSETS[level[group] % len(STACK_OFFSETS)]
        )
        is_open = row["status"] == "open"
        marks.append(
            _Mark(
                path=mark_path(shape, x, y, radius=MARK_RADIUS),
                colour=colour,
                is_open=is_open,
                title=_mark_title(row),
                pending_from=px(x + MARK_RADIUS) if is_open else "",
                y=px(y),
            )
        )
    earlier = len(rows) - len(shown)
    opened = sum(mark.is_open for mark in marks)
    description = (
        f"{len(marks)} notice{'' if len(marks) == 1 else 's'} received from "
        f"{start:%Y-%m-%d} to the as-of date, {opened} still open"
    )
    if earlier:
        description += f"; {earlier} earlier notice{'' if earlier == 1 else 's'} in the table only"
    return _Chart(
        chart_id=chart_id,
        title=f"Notices against officer {officer_id} in the {CHART_YEARS} years before {as_of}",
        description=description + ".",
        width=CHART_WIDTH,
        height=px(axis_y + 22),
        plot_left=px(CHART_PLOT_LEFT),
        plot_right=px(CHART_PLOT_RIGHT),
        plot_width=px(plot_width),
        lane_height=px(LANE_HEIGHT),
        axis_y=px(axis_y),
        tick_end=px(axis_y + 5),
        tick_label_y=px(axis_y + 17),
        lanes=lanes,
        ticks=ticks,
        marks=tuple(marks),
    )


def _legend() -> list[dict[str, str]]:
    """One legend entry per category group: label, colour and a small icon path."""
    return [
        {"label": label, "colour": colour, "path": mark_path(shape, 8.0, 8.0, radius=MARK_RADIUS)}
        for label, _, colour, shape in CHART_GROUPS
    ]


def _require(frame: pd.DataFrame, keys: Sequence[str], *, name: str) -> None:
    missing = [key for key in keys if key not in frame.columns]
    if missing:
        raise ValueError(f"the {name} table lacks columns {missing}")


def _require_keys(mapping: Mapping[str, Any], keys: Sequence[str], *, name: str) -> None:
    missing = [key for key in keys if key not in mapping]
    if missing:
        raise ValueError(f"{name} lacks keys {missing}")


def _is_local(href: str) -> bool:
    """A link inside the report's own folder: no scheme, no host."""
    head = href.split("/", 1)[0]
    return not href.startswith("//") and ":" not in head


def _timeline_rows(timelines: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Timeline rows per officer, dates and days as text, sorted by date then notice."""
    frame = timelines.assign(received_on=pd.to_datetime(timelines["received_on"]))
    frame = frame.sort_values(["officer_id", "received_on", "notice_id"], kind="stable")
    rows: dict[str, list[dict[str, Any]]] = {}
    for record in frame.to_dict(orient="records"):
        days = record["days_open"]
        record["received"] = f"{record['received_on']:%Y-%m-%d}"
        record["days_open"] = "" if pd.isna(days) else str(int(days))
        for column in ("source", "finding", "sanction"):
            record[column] = "" if pd.isna(record[column]) else str(record[column])
        rows.setdefault(str(record["officer_id"]), []).append(record)
    return rows


def officer_history(
    *, timelines: pd.DataFrame, officer_id: str, flag_id: str, as_of: dt.date
) -> tuple[list[dict[str, Any]], _Chart]:
    """One officer's history as an officer card shows it: the timeline table rows (dates and
    days as text) and the timeline chart, exactly as the weekly report draws them.

    ``timelines`` has ``ewp.features.explanations.TIMELINE_COLUMNS`` (e.g. ``timelines.csv`` of a
    run read back); rows of other officers are ignored.
    """
    _require(timelines, list(TIMELINE_COLUMNS), name="timelines")
    rows = _timeline_rows(timelines.loc[timelines["officer_id"].astype(str) == officer_id])
    history = rows.get(officer_id, [])
    chart = _chart(chart_id=f"chart-{flag_id}", officer_id=officer_id, rows=history, as_of=as_of)
    return history, chart


def chart_legend() -> list[dict[str, str]]:
    """The timeline chart's legend: label, colour and icon path per category group."""
    return _legend()


@dataclass(frozen=True)
class ScoreMeaning:
    """What a score means, for the report's "What a score means" section.

    ``label``: what the model predicts, in words (``ewp.features.explanations.label_in_words``).
    ``list_size``: the officers on a full list (``scoring.top_k``). ``precision``: the share
    of officers on such a list who went on to the label in back-testing, pooled over
    ``test_dates`` test dates in ``test_period``; ``rule_precision`` the same for the force's
    rule (``rule_description``) at the same list size. None where not known; ``notes`` say
    why (e.g. a model registered before ewp recorded it).
    """

    label: str
    list_size: int | None
    precision: float | None = None
    rule_description: str | None = None
    rule_precision: float | None = None
    test_dates: int | None = None
    test_period: str | None = None
    notes: tuple[str, ...] = ()


def _meaning_sentences(meaning: ScoreMeaning) -> dict[str, Any]:
    """The section's sentences: the label, the back-tested hit rate, and what is not known."""
    hit_rate = ""
    if meaning.precision is not None and meaning.list_size is not None:
        hit_rate = (
            f"In back-testing on {meaning.test_dates} monthly lists ({meaning.test_period}), "
            f"{officers_in_words(meaning.precision)} on a list of the top "
            f"{meaning.list_size} went on to have {meaning.label}"
        )
        if meaning.rule_precision is not None:
            hit_rate += (
                f", against {rate_in_words(meaning.rule_precision)} for the force's rule "
                f"({meaning.rule_description}) at the same list size"
            )
        hit_rate += "."
    return {"label": meaning.label, "hit_rate": hit_rate, "notes": list(meaning.notes)}


# The score distribution chart: bins on a 1-2-5 scale, drawn as equal slots, so the many low
# scores and the few high ones are both readable.
SCORE_BIN_EDGES: tuple[float, ...] = (0.0, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
SCORE_CHART_LEFT = 40.0
SCORE_CHART_RIGHT = 700.0
SCORE_CHART_TOP = 24.0
SCORE_CHART_HEIGHT = 150.0
FLAGGED_COLOUR = "#1d70b8"
OTHER_COLOUR = "#b1b4b6"


@dataclass(frozen=True)
class _Bar:
    x: str
    y: str
    width: str
    height: str
    label_x: str
    count: str
    count_y: str
    range_label: str
    colour: str


@dataclass(frozen=True)
class _ScoreChart:
    width: int
    height: str
    axis_y: str
    label_y: str
    plot_left: str
    plot_right: str
    bars: tuple[_Bar, ...]
    cutoff_x: str
    cutoff_label: str
    description: str


def _edge_text(edge: float) -> str:
    return f"{edge:g}"


def score_chart(scores: Sequence[float], *, cutoff: float, listed: int) -> _ScoreChart:
    """The serving cohort's scores as a bar chart on ``SCORE_BIN_EDGES``, the list's cut-off
    (the lowest listed score) marked; bins wholly at or above it are drawn in the list's
    colour. Bar heights are on a log scale (log of 1 + count), each bar labelled with its
    count. Worked example: scores 0.001, 0.003, 0.004 and 0.3 with cut-off 0.3 give bars of
    1, 2, 0, ..., 1 officers; the cut-off line sits in the 0.2–0.5 slot at
    log(0.3 / 0.2) / log(0.5 / 0.2) = 0.44 of its width."""
    values = np.clip(np.asarray(scores, dtype="float64"), 0.0, 1.0)
    edges = np.asarray(SCORE_BIN_EDGES)
    slots = len(edges) - 1
    counts = np.bincount(
        np.clip(np.searchsorted(edges, values, side="right") - 1, 0, slots - 1), minlength=slots
    )
    slot = (SCORE_CHART_RIGHT - SCORE_CHART_LEFT) / slots
    axis_y = SCORE_CHART_TOP + SCORE_CHART_HEIGHT
    tallest = max(int(counts.max()), 1) if len(values) else 1
    bars = []
    for index, count in enumerate(counts):
        low, high = edges[index], edges[index + 1]
        # Heights on a log scale, so the few officers at the top still show beside the many
        # below; each bar is labelled with its count.
        height = SCORE_CHART_HEIGHT * np.log1p(count) / np.log1p(tallest)
        x = SCORE_CHART_LEFT + index * slot + 3
        bars.append(
            _Bar(
                x=px(x),
                y=px(axis_y - height),
                width=px(slot - 6),
                height=px(height),
                label_x=px(x + (slot - 6) / 2),
                count=f"{int(count):,}",
                count_y=px(axis_y - height - 4),
                range_label=f"{_edge_text(low)}–{_edge_text(high)}",
                colour=FLAGGED_COLOUR if low >= cutoff and listed else OTHER_COLOUR,
            )
        )
    where = int(np.clip(np.searchsorted(edges, cutoff, side="right") - 1, 0, slots - 1))
    low, high = edges[where], edges[where + 1]
    # Log-scaled within a slot, like the slots themselves; the first slot starts at 0.
    fraction = np.log(max(cutoff, low) / low) / np.log(high / low) if low > 0 else cutoff / high
    cutoff_x = SCORE_CHART_LEFT + (where + min(max(float(fraction), 0.0), 1.0)) * slot
    median = float(np.median(values)) if len(values) else float("nan")
    description = (
        f"{len(values):,} serving officers scored; the {listed} on the list scored "
        f"{cutoff:.3f} or more (the cut-off); half of all officers scored below {median:.3f}."
    )
    return _ScoreChart(
        width=int(SCORE_CHART_RIGHT + 20),
        height=px(axis_y + 36),
        axis_y=px(axis_y),
        label_y=px(axis_y + 16),
        plot_left=px(SCORE_CHART_LEFT),
        plot_right=px(SCORE_CHART_RIGHT),
        bars=tuple(bars),
        cutoff_x=px(cutoff_x),
        cutoff_label=f"cut-off {cutoff:.3f}",
        description=description,
    )


def _check_inputs(
    *, changes: pd.DataFrame, timelines: pd.DataFrame, links: Mapping[str, str], day: dt.date
) -> None:
    """Refuse unknown changes or categories, a notice not yet known on ``day``, and a link
    that leaves the report's folder (see ``render_weekly_report``)."""
    unknown_changes = sorted(set(changes["change"]) - set(CHANGES))
    if unknown_changes:
        raise ValueError(f"unknown list changes {unknown_changes}; expected {list(CHANGES)}")
    unknown_categories = sorted(set(timelines["category"]) - set(GROUP_OF_LABEL))
    if unknown_categories:
        raise ValueError(f"timelines hold unknown category labels {unknown_categories}")
    too_late = timelines.loc[pd.to_datetime(timelines["received_on"]) >= pd.Timestamp(day)]
    if not too_late.empty:
        raise ValueError(
            f"timelines hold notices received on or after the as-of date {day.isoformat()}: "
            f"{sorted(too_late['notice_id'].astype(str))}"
        )
    external = [href for href in links.values() if not _is_local(href)]
    if external:
        raise ValueError(f"links must be relative paths (the report opens offline): {external}")


def _officer_sections(
    ordered: pd.DataFrame,
    *,
    reasons: pd.DataFrame,
    timelines: pd.DataFrame,
    change_of: Mapping[str, str],
    review_command: str,
    day: dt.date,
) -> list[dict[str, Any]]:
    """One section per flagged officer, in list order: reasons, notes, timeline and chart."""
    sentences = reasons.sort_values(["officer_id", "rank"], kind="stable")
    notes = sentences["note"] if "note" in sentences else pd.Series("", index=sentences.index)
    reasons_of: dict[str, list[str]] = {}
    notes_of: dict[str, list[str]] = {}
    for officer, sentence, note in zip(
        sentences["officer_id"], sentences["sentence"], notes.fillna(""), strict=True
    ):
        reasons_of.setdefault(str(officer), []).append(str(sentence))
        if note and str(note) not in notes_of.get(str(officer), []):
            notes_of.setdefault(str(officer), []).append(str(note))
    timeline_of = _timeline_rows(timelines)

    officers = []
    for record in ordered.to_dict(orient="records"):
        officer = str(record["officer_id"])
        flag = str(record["flag_id"])
        history = timeline_of.get(officer, [])
        officers.append(
            {
                "rank": int(record["rank"]),
                "officer_id": officer,
                "unit": str(record["unit"]),
                "score": f"{float(record['score']):.3f}",
                "flag_id": flag,
                "anchor": f"flag-{flag}",
                "change": change_of[officer],
                "reasons": reasons_of.get(officer, []),
                "notes": notes_of.get(officer, []),
                "timeline": history,
                "chart": _chart(
                    chart_id=f"chart-{flag}", officer_id=officer, rows=history, as_of=day
                ),
                "review_command": review_command.replace("{flag_id}", flag),
            }
        )
    return officers


def render_weekly_report(
    *,
    as_of: str,
    flags: pd.DataFrame,
    reasons: pd.DataFrame,
    timelines: pd.DataFrame,
    changes: pd.DataFrame,
    suppressed: pd.DataFrame,
    provenance: Mapping[str, str],
    methods: Mapping[str, Any],
    links: Mapping[str, str] = NO_LINKS,
    rejections: Rejections | None = None,
    meaning: ScoreMeaning | None = None,
    scores: Sequence[float] | None = None,
    stale_export: StaleExport | None = None,
    health: str | None = None,
    health_warning: bool = False,
) -> str:
    """The weekly report as one self-contained HTML document.

    * ``flags``: the flag list (``ewp.models.flags.build_flag_list``): ``flag_id``, ``rank``,
      ``officer_id``, ``unit``, ``score``.
    * ``reasons``: ``officer_id``, ``rank``, ``sentence`` (``reason_sentence`` text), and
      optionally ``note`` (``ewp.features.explanations.risk_note``: why a reason that sounds
      reassuring counts, shown under the officer's reasons).
    * ``timelines``: ``ewp.features.explanations.officer_timelines``.
    * ``changes``: ``ewp.features.explanations.list_changes``; every flagged officer needs a row.
      An optional ``why`` column says why an officer dropped off
      (``ewp.features.explanations.dropped_off_reasons``).
    * ``suppressed``: ``officer_id``, ``reason``.
    * ``provenance``: the keys of ``PROVENANCE_LABELS``; more keys follow them, sorted.
    * ``methods``: the ``METHODS_KEYS`` (see there).
    * ``links``: label -> relative path (e.g. the fairness audit file), shown only if given.
    * ``rejections``: what validation rejected (``count_rejections``); the summary says how
      many records and points to ``quarantine.csv`` in the same folder. None: not shown.
    * ``meaning``: what a score means (the label and the back-tested hit rate), shown in its
      own section; None: the section says only that a flag is a prompt for review.
    * ``scores``: every serving officer's score, drawn as a distribution with the list's
      cut-off (the lowest listed score) marked; None or no flags: no chart.
    * ``stale_export``: the export was older than the configured maximum; a banner says so at
      the top of the report.
    * ``health``: the monitor's one-line summary (``ewp.stores.health.health_summary``), shown at
      the top, as a warning when ``health_warning``; None: not shown.

    Raises ValueError on a missing column or key, a flagged officer without a change status,
    an unknown change or category, a notice received on or after ``as_of`` (not yet known
    then), or a link that leaves the report's folder.
    """
    day = dt.date.fromisoformat(as_of)
    _require(flags, ["flag_id", "rank", "officer_id", "unit", "score"], name="flags")
    _require(reasons, ["officer_id", "rank", "sentence"], name="reasons")
    _require(timelines, list(TIMELINE_COLUMNS), name="timelines")
    _require(changes, ["officer_id", "change"], name="changes")
    _require(suppressed, ["officer_id", "reason"], name="suppressed")
    _require_keys(provenance, list(PROVENANCE_LABELS), name="provenance")
    _require_keys(methods, METHODS_KEYS, name="methods")
    _check_inputs(changes=changes, timelines=timelines, links=links, day=day)

    change_of = dict(zip(changes["officer_id"], changes["change"], strict=True))
    ordered = flags.sort_values(["rank", "officer_id"], kind="stable")
    without = sorted(set(ordered["officer_id"]) - set(change_of))
    if without:
        raise ValueError(f"flagged officers without a change status: {without}")
    officers = _officer_sections(
        ordered,
        reasons=reasons,
        timelines=timelines,
        change_of=change_of,
        review_command=str(methods["review_command"]),
        day=day,
    )

    counts = changes["change"].value_counts()
    dropped = changes.loc[changes["change"] == "dropped off"].sort_values(
        "officer_id", kind="stable"
    )
    why = dropped["why"] if "why" in dropped else pd.Series("", index=dropped.index)
    held = suppressed.sort_values("officer_id", kind="stable")
    extra = sorted(set(provenance) - set(PROVENANCE_LABELS))
    labels = {**PROVENANCE_LABELS, **{key: key.replace("_", " ").capitalize() for key in extra}}
    return load_template(TEMPLATE).render(
        marking=MARKING,
        as_of=day.isoformat(),
        summary={
            "flagged": len(officers),
            "new": int(counts.get("new", 0)),
            "continuing": int(counts.get("continuing", 0)),
            "dropped": int(counts.get("dropped off", 0)),
            "suppressed": len(held),
            "model_version": str(provenance["model_version"]),
            "data_fingerprint": str(provenance["data_fingerprint"])[:FINGERPRINT_SHORT],
            "config_name": str(provenance["config_name"]),
        },
        officers=officers,
        legend=_legend(),
        chart_years=CHART_YEARS,
        suppressed=[
            {"officer_id": str(o), "reason": str(r)}
            for o, r in zip(held["officer_id"], held["reason"], strict=True)
        ],
        dropped=[
            {"officer_id": str(o), "why": "" if pd.isna(w) else str(w)}
            for o, w in zip(dropped["officer_id"], why, strict=True)
        ],
        provenance=[(labels[key], str(provenance[key])) for key in labels],
        **_methods_context(methods),
        links=[(str(label), str(href)) for label, href in links.items()],
        rejections=None if rejections is None else _rejection_sentences(rejections),
        meaning=None if meaning is None else _meaning_sentences(meaning),
        stale_banner=None if stale_export is None else stale_export.banner,
        health=health,
        health_warning=health_warning,
        score_chart=None
        if scores is None or ordered.empty
        else score_chart(scores, cutoff=float(ordered["score"].min()), listed=len(ordered)),
        rejected_any=rejections is not None and rejections.total > 0,
        quarantine_csv=QUARANTINE_CSV,
    )


def _methods_context(methods: Mapping[str, Any]) -> dict[str, Any]:
    """The template's methods section from ``methods`` (``METHODS_KEYS``), as plain text."""
    features: Sequence[FeatureSpec] = methods["features"]
    return {
        "features": [(spec.name, spec.description) for spec in features],
        "rules": [(str(name), str(text)) for name, text in methods["rules"].items()],
        "limitations": [str(text) for text in methods["limitations"]],
        "challenge": [str(text) for text in methods["challenge"]],
        "decisions": [str(name) for name in methods["decisions"]],
        "decisions_csv": str(methods["decisions_csv"]),
        # Optional (ewp.flows.audit.champion_findings): the gate's findings at model selection.
        "fairness_findings": [str(text) for text in methods.get("fairness_findings", ())],
    }


def weekly_methods(config: Config, *, features: Sequence[str]) -> dict[str, Any]:
    """The report's ``methods`` (``METHODS_KEYS``) for a list drawn under ``config``: the
    model's own ``features`` (registry order), rules compared, limitations, how to challenge,
    review."""
    rules = {
        c.name: str(c.params)
        for c in config.evaluation.candidates
        if c.kind in {"threshold_rule", "peer_rule", "count_ranker"}
    }
    return {
        "features": [s for s in feature_specs(config.features) if s.name in set(features)],
        "rules": rules,
        "limitations": list(LIMITATIONS),
        "challenge": list(CHALLENGE),
        "decisions": list(config.review.decisions),
        "review_command": "ewp review decide {flag_id} --decision DECISION --reviewer NAME",
        "decisions_csv": "flags.csv: fill in review_decision, reviewer, reviewed_on and "
        "review_note, then run ewp review import flags.csv",
    }
