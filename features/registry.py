"""One registry of every model feature: its name, what it means, and how to say it in a sentence.

The feature builder (``ewp.features.history``) produces columns in registry order, the model card
and the methods section list the descriptions, and the weekly report turns a (feature, value)
pair into a plain-language reason with ``render_reason``. Adding a feature means adding it here
and in ``ewp.features.history``; a test checks that the two agree.

Counts come in two units: *notices* (allegations, one per officer) and *cases* (complaints or
conduct matters, ``case_id``; see ``ewp.features.history``, "Cases"). A case count names its
allegation count as its ``companion``, so a reason reads "3 complaints (7 allegations) received
in the last 12 months" where the two differ, and "3 complaints received ..." where they do not.

Protected attributes (ethnicity, gender, age) are never features: ``FORBIDDEN_INPUTS`` is checked
when the registry is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ewp.core.config import FeatureConfig
from ewp.core.contract import AUDIT_ONLY_COLUMNS, CATEGORY_LABELS

FORBIDDEN_INPUTS: frozenset[str] = frozenset({*AUDIT_ONLY_COLUMNS, "age", "race", "sex"})

SOURCE_LABELS: dict[str, str] = {
    "public": "from members of the public",
    "internal": "raised by colleagues",
    "conduct_matter": "raised by the force as conduct matters",
}


@dataclass(frozen=True)
class FeatureSpec:
    """A model feature.

    ``description`` is for the model card and methods section; ``reason`` is a sentence
    template for the weekly report with ``{value}`` and ``{s}`` (the plural ending, empty when
    the value is 1), e.g. "{value} notice{s} in the last 12 months". A feature that can be
    negative says so in words: ``reason_negative`` is used for a value below zero, with the
    value's size (e.g. "notice rate down by {value} a year ..."), and ``reason_zero`` for a
    value that reads as zero. A case count also has ``{detail}`` after its noun and names the
    allegation count it is shown with in ``companion`` (see ``render_reason``).
    """

    name: str
    description: str
    reason: str
    family: str
    reason_negative: str | None = None
    reason_zero: str | None = None
    companion: str | None = None

    def sentence(self, value: str, *, s: str, detail: str = "", template: str | None = None) -> str:
        """A reason template (default ``reason``) filled in (``detail`` only where the
        template has it)."""
        return (template or self.reason).format(value=value, s=s, detail=detail)


def window_phrase(days: int) -> str:
    """Say a window in words: 365 -> "12 months", 1095 -> "3 years", 90 -> "90 days"."""
    if days % 365 == 0:
        years = days // 365
        return "12 months" if years == 1 else f"{years} years"
    return f"{days} days"


def _group_label(members: tuple[str, ...]) -> str:
    return " or ".join(CATEGORY_LABELS[m] for m in members)


def _group_and_source_windows(config: FeatureConfig) -> Iterator[tuple[int, str, str, str]]:
    """(days, name part, words, family) of each category-group and source count, e.g.
    (365, "violence", "for violence / use of force or domestic abuse", "category") or
    (365, "source_public", "from members of the public", "source")."""
    for days in config.group_windows_days:
        for group, members in config.category_groups.items():
            yield days, group, f"for {_group_label(members)}", "category"
        for source in config.sources:
            yield days, f"source_{source}", SOURCE_LABELS[source], "source"


def feature_specs(config: FeatureConfig) -> tuple[FeatureSpec, ...]:
    """The features built for a config, in the order of the feature matrix's columns."""
    specs: list[FeatureSpec] = []
    for days in config.windows_days:
        phrase = window_phrase(days)
        specs.append(
            FeatureSpec(
                f"notices_{days}d",
                f"Misconduct notices received in the {phrase} before the as-of date.",
                f"{{value}} notice{{s}} received in the last {phrase}",
                "volume",
            )
        )
    specs.append(
        FeatureSpec(
            "notices_all",
            "All misconduct notices received before the as-of date.",
            "{value} notice{s} received in total",
            "volume",
        )
    )
    specs += [
        FeatureSpec(
            f"notices_{part}_{days}d",
            f"Notices {words} received in the {window_phrase(days)} before the as-of date.",
            f"{{value}} notice{{s}} {words} in the last {window_phrase(days)}",
            family,
        )
        for days, part, words, family in _group_and_source_windows(config)
    ]
    specs += _history_specs(config)
    specs += _case_specs(config)
    specs += _activity_specs(config)
    forbidden = [s.name for s in specs if s.name in FORBIDDEN_INPUTS]
    if forbidden:
        raise ValueError(f"protected attributes cannot be model inputs: {forbidden}")
    return tuple(specs)


def _history_specs(config: FeatureConfig) -> list[FeatureSpec]:
    """Severity, outcomes, open cases, trend, career and peer features, in matrix order."""
    return [
        FeatureSpec(
            "gross_misconduct_all",
            "Notices assessed as potential gross misconduct, received before the as-of date.",
            "{value} notice{s} assessed as potential gross misconduct",
            "severity",
        ),
        FeatureSpec(
            "findings_case_to_answer_all",
            "Notices decided before the as-of date with a case to answer (proven or not).",
            "{value} earlier notice{s} found to have a case to answer",
            "outcomes",
        ),
        FeatureSpec(
            "findings_proven_all",
            "Notices decided before the as-of date with the allegation proven.",
            "{value} earlier allegation{s} proven",
            "outcomes",
        ),
        FeatureSpec(
            "findings_no_case_all",
            "Notices decided before the as-of date with no case to answer.",
            "{value} earlier notice{s} with no case to answer",
            "outcomes",
        ),
        FeatureSpec(
            "worst_sanction_level",
            "Most severe sanction decided before the as-of date, on the scale none (0), "
            "reflective practice (1), management advice (2), written warning (3), final written "
            "warning (4), reduction in rank (5), dismissal (6).",
            "most severe earlier sanction at level {value} of 6",
            "outcomes",
        ),
        FeatureSpec(
            "open_cases",
            "Cases with an allegation received before the as-of date and not yet decided on it.",
            "{value} case{s}{detail} still open",
            "pending",
            companion="open_notices",
        ),
        FeatureSpec(
            "open_notices",
            "Notices received before the as-of date and not yet decided on it.",
            "{value} allegation{s} still open",
            "pending",
        ),
        FeatureSpec(
            "oldest_open_days",
            "Age in days of the oldest notice still open on the as-of date (0 if none).",
            "oldest open case waiting {value} day{s} for a decision",
            "pending",
        ),
        FeatureSpec(
            "notices_while_open_all",
            "Notices received while an earlier notice against the officer was still undecided.",
            "{value} notice{s} received while earlier ones were still undecided",
            "pending",
        ),
        FeatureSpec(
            "acceleration",
            "Notices in the last 12 months minus the yearly average of the 2 years before: "
            "positive when the rate is rising.",
            "notice rate up by {value} a year on the 2 years before",
            "trend",
            reason_negative="notice rate down by {value} a year on the 2 years before",
            reason_zero="notice rate level with the 2 years before",
        ),
        FeatureSpec(
            "days_since_last_notice",
            f"Days since the last notice was received (capped at {config.max_days_since}; the "
            "cap also means none).",
            "last notice {value} day{s} ago",
            "trend",
        ),
        FeatureSpec(
            "tenure_days",
            "Days of service on the as-of date.",
            "{value} day{s} of service",
            "career",
        ),
        FeatureSpec(
            "probationer",
            f"1 while the officer has served under {config.probation_days} days.",
            "still in the probation period",
            "career",
        ),
        FeatureSpec(
            "unit_share_below_365d",
            "Share of serving officers in the same unit with fewer notices in the last 12 "
            "months (0 to 1).",
            "more notices in the last 12 months than {value} of officers in the same unit",
            "peer",
        ),
        FeatureSpec(
            "unit_ratio_365d",
            "Notices in the last 12 months divided by the unit's average for serving officers.",
            "{value} times the unit's average number of notices in the last 12 months",
            "peer",
        ),
    ]


def _case_specs(config: FeatureConfig) -> list[FeatureSpec]:
    """Case counts (family "cases"), each beside the notice count it is shown with (and which
    it equals where every case carries one allegation per officer: ``twin_of``)."""
    known = "a case counts from its first allegation against the officer"
    specs = [
        FeatureSpec(
            f"cases_{days}d",
            f"Cases (complaints or conduct matters) that became known in the "
            f"{window_phrase(days)} before the as-of date; {known}.",
            f"{{value}} complaint{{s}}{{detail}} received in the last {window_phrase(days)}",
            "cases",
            companion=f"notices_{days}d",
        )
        for days in config.windows_days
    ]
    specs.append(
        FeatureSpec(
            "cases_all",
            f"All cases that became known before the as-of date; {known}.",
            "{value} complaint{s}{detail} received in total",
            "cases",
            companion="notices_all",
        )
    )
    specs += [
        FeatureSpec(
            f"cases_{part}_{days}d",
            f"Cases that became known in the {window_phrase(days)} before the as-of date with "
            f"an allegation {words} known before it.",
            f"{{value}} complaint{{s}}{{detail}} {words} in the last {window_phrase(days)}",
            "cases",
            companion=f"notices_{part}_{days}d",
        )
        for days, part, words, _ in _group_and_source_windows(config)
    ]
    specs += [
        FeatureSpec(
            "cases_proven_all",
            "Cases with an allegation proven in a decision before the as-of date.",
            "{value} earlier complaint{s} with an allegation proven",
            "cases",
        ),
        FeatureSpec(
            "cases_case_to_answer_all",
            "Cases with an allegation found to have a case to answer (proven or not) in a "
            "decision before the as-of date.",
            "{value} earlier complaint{s} with a case to answer",
            "cases",
        ),
    ]
    return specs


# How a reason names one event of an activity kind; other kinds read "<kind> record".
ACTIVITY_NOUNS: dict[str, str] = {"use_of_force": "use-of-force report"}
FLAG_WORDS: dict[str, str] = {"injury": "recording an injury", "weapon": "recording a weapon"}


def activity_noun(kind: str) -> str:
    """One event of ``kind`` in words: "use-of-force report", "commendation record"."""
    return ACTIVITY_NOUNS.get(kind, f"{kind.replace('_', ' ')} record")


def _activity_specs(config: FeatureConfig) -> list[FeatureSpec]:
    """Per declared activity kind (``config.activity.kinds``, family "activity"): counts in
    the windows and in total, days since the last, severity and flag counts, and the share of
    unit colleagues with fewer in the last 12 months. None when no kind is declared."""
    specs: list[FeatureSpec] = []
    activity = config.activity
    for kind in activity.kinds:
        noun = activity_noun(kind)
        specs += [
            FeatureSpec(
                f"{kind}_{days}d",
                f"{noun.capitalize()}s known in the {window_phrase(days)} before the as-of date.",
                f"{{value}} {noun}{{s}} in the last {window_phrase(days)}",
                "activity",
            )
            for days in config.windows_days
        ]
        specs.append(
            FeatureSpec(
                f"{kind}_all",
                f"All {noun}s known before the as-of date.",
                f"{{value}} {noun}{{s}} in total",
                "activity",
            )
        )
        specs.append(
            FeatureSpec(
                f"days_since_last_{kind}",
                f"Days since the last {noun} became known (capped at {config.max_days_since}; "
                "the cap also means none).",
                f"last {noun} {{value}} day{{s}} ago",
                "activity",
            )
        )
        if activity.severe_at is not None:
            specs.append(
                FeatureSpec(
                    f"{kind}_severe_all",
                    f"{noun.capitalize()}s at severity {activity.severe_at} or above, known "
                    "before the as-of date.",
                    f"{{value}} {noun}{{s}} at severity {activity.severe_at} or above",
                    "activity",
                )
            )
        specs += [
            FeatureSpec(
                f"{kind}_{flag}_all",
                f"{noun.capitalize()}s {FLAG_WORDS[flag]}, known before the as-of date.",
                f"{{value}} {noun}{{s}} {FLAG_WORDS[flag]}",
                "activity",
            )
            for flag in activity.flags
        ]
        specs.append(
            FeatureSpec(
                f"{kind}_unit_share_below_365d",
                f"Share of serving officers in the same unit with fewer {noun}s in the last 12 "
                "months (0 to 1).",
                f"more {noun}s in the last 12 months than {{value}} of officers in the same unit",
                "activity",
            )
        )
    return specs


def twin_of(name: str) -> str | None:
    """The feature a case feature equals wherever every case carries one allegation per
    officer: its allegation count (``cases_365d`` -> ``notices_365d``, ``cases_proven_all`` ->
    ``findings_proven_all``; ``open_notices`` -> ``open_cases``). None for the others. A model
    leaves a feature out when it equals its twin (``ewp.models.inputs.repeated_columns``)."""
    if name == "open_notices":
        return "open_cases"
    if name in ("cases_proven_all", "cases_case_to_answer_all"):
        return "findings_" + name.removeprefix("cases_")
    if name.startswith("cases_"):
        return "notices_" + name.removeprefix("cases_")
    return None


def format_value(name: str, value: float) -> str:
    """Format a feature value for a sentence: shares as percentages, others as whole numbers."""
    if name.endswith("unit_share_below_365d"):
        return f"{value:.0%}"
    if name in {"acceleration", "unit_ratio_365d"}:
        return f"{value:.1f}"
    return f"{value:.0f}"


def render_reason(spec: FeatureSpec, value: float, companion: float | None = None) -> str:
    """A plain-language reason: the spec's sentence with the value filled in.

    A value that reads as zero uses ``reason_zero`` and a negative one ``reason_negative``
    (with the value's size), when the spec has them: "notice rate down by 0.5 a year", never
    "up by -0.5". ``companion`` is the officer's value of ``spec.companion`` (the allegations
    behind a case count); where it differs from ``value`` it is named: "3 complaints (7
    allegations) received in the last 12 months".
    """
    template = spec.reason
    size = abs(value)
    if spec.reason_zero is not None and float(format_value(spec.name, size).rstrip("%")) == 0:
        template = spec.reason_zero
    elif spec.reason_negative is not None and value < 0:
        template, value = spec.reason_negative, size
    text = format_value(spec.name, value)
    detail = ""
    if spec.companion is not None and companion is not None and not np.isnan(companion):
        allegations = format_value(spec.companion, companion)
        if allegations != text:
            detail = f" ({allegations} allegation{'' if allegations == '1' else 's'})"
    return spec.sentence(text, s="" if text == "1" else "s", detail=detail, template=template)
