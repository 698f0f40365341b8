"""The model card: what a published model is for, what it was trained on and how it compares.

``render_model_card`` is pure: aggregates in, markdown out, the same bytes for the same inputs.
It takes only aggregate tables (one row per candidate, or per candidate and list size) and
renders only named columns from them, so no officer identifier can reach the card. The text
lives in ``templates/model_card.md.j2``; this module formats the numbers and tables.

Every value from the data or the config (group labels in the gate's reasons, override reasons,
parameters, names) is escaped before it enters the Markdown (``_md_text`` in prose and table
cells, ``_md_code`` inside code spans), so the card renders as text what the data says: no
HTML tag, link or image and no line break of a value reaches the rendered page. Worked
example: the gate reason ``<meta http-equiv="refresh" content="0;url=http://evil"> 1.90``
enters the card as ``&lt;meta http-equiv="refresh" content="0;url=http://evil"&gt; 1.90``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ewp.core.contract import AUDIT_ONLY_COLUMNS
from ewp.features.registry import FORBIDDEN_INPUTS, FeatureSpec
from ewp.models.explain import INTERACTION_SEPARATOR, ModelTerms
from ewp.reports import load_template

TEMPLATE = "model_card.md.j2"


def _number(digits: int, *, signed: bool = False) -> Callable[[Any], str]:
    """A formatter to ``digits`` decimals; NaN reads "n/a" and -0.00 reads 0.00."""

    def format_value(value: Any) -> str:
        value = float(value)
        if math.isnan(value):
            return "n/a"
        rounded = round(value, digits) + 0.0
        return f"{rounded:+.{digits}f}" if signed else f"{rounded:.{digits}f}"

    return format_value


def _yes_no(value: Any) -> str:
    return "yes" if bool(value) else "no"


def _md_text(value: Any) -> str:
    """``value`` as Markdown prose that renders as that text: on one line, ``& < >`` as HTML
    entities (no raw HTML, no autolink) and ``[ ]`` backslash-escaped (no link or image)."""
    text = html.escape(" ".join(str(value).split()), quote=False)
    return text.replace("[", "\\[").replace("]", "\\]")


def _md_code(value: Any) -> str:
    """``value`` for the inside of a Markdown code span (whose content is never HTML): on one
    line, with no backtick to close the span early."""
    return " ".join(str(value).split()).replace("`", "'")


def _cell(value: Any) -> str:
    """Text made safe for a markdown table cell."""
    return _md_text(value).replace("|", "\\|")


@dataclass(frozen=True)
class _Column:
    header: str
    key: str
    format: Callable[[Any], str] = str


def _require(frame: pd.DataFrame, keys: Sequence[str], *, name: str) -> None:
    missing = [key for key in keys if key not in frame.columns]
    if missing:
        raise ValueError(f"the {name} table lacks columns {missing}")


def _table(frame: pd.DataFrame, columns: Sequence[_Column], *, name: str) -> str:
    """A markdown table of the named columns of ``frame``, in its row order."""
    _require(frame, [c.key for c in columns], name=name)
    if frame.empty:
        return "_No rows._"
    lines = [
        "| " + " | ".join(c.header for c in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for record in frame.to_dict(orient="records"):
        lines.append("| " + " | ".join(_cell(c.format(record[c.key])) for c in columns) + " |")
    return "\n".join(lines)


def _features_table(features: Sequence[FeatureSpec], terms: ModelTerms | None) -> str:
    """The features section's table: the model's own terms with their weights, or every
    feature of the config when the model's terms are not given."""
    described = {f.name: f.description for f in features}
    if terms is None:
        frame = pd.DataFrame(
            {"name": [f"`{n}`" for n in described], "description": list(described.values())}
        )
        return _table(
            frame, [_Column("name", "name"), _Column("description", "description")], name="features"
        )
    descriptions = []
    for term in terms.table["term"]:
        parts = str(term).split(INTERACTION_SEPARATOR)
        unknown = [part for part in parts if part not in described]
        if unknown:
            raise ValueError(f"model terms name unknown features: {unknown}")
        descriptions.append(
            described[parts[0]]
            if len(parts) == 1
            else "Interaction of " + " and ".join(f"`{part}`" for part in parts) + "."
        )
    frame = terms.table.assign(
        name=[f"`{term}`" for term in terms.table["term"]], description=descriptions
    )
    columns = [_Column("name", "name")]
    if terms.weight_label:
        columns.append(_Column(terms.weight_label, "weight", _number(3, signed=True)))
    columns.append(_Column("description", "description"))
    if (terms.table["detail"] != "").any():
        columns.append(_Column("detail", "detail"))
    return _table(frame, columns, name="features")


def _summary_table(summary: pd.DataFrame, *, candidate: str) -> str:
    """The card's summary of ``candidate`` at each list size
    (``ewp.models.evaluation.summarise``)."""
    _require(summary, ["candidate", "precision_worst", "precision_best"], name="summary")
    own = summary.loc[summary["candidate"] == candidate]
    three = _number(3)
    return _table(
        own.assign(
            precision_range=[
                f"{three(worst)}–{three(best)}"
                for worst, best in zip(own["precision_worst"], own["precision_best"], strict=True)
            ]
        ),
        [
            _Column("list", "list"),
            _Column("flagged", "k", _number(0)),
            _Column("tp", "tp", _number(1)),
            _Column("fp", "fp", _number(1)),
            _Column("precision", "precision", three),
            _Column("precision over ties", "precision_range"),
            _Column("mean recall", "mean_recall", three),
            _Column("average precision", "average_precision", three),
            _Column("Brier", "brier", three),
            _Column("test dates", "test_dates", _number(0)),
        ],
        name="summary",
    )


def _selection_table(selection: pd.DataFrame) -> str:
    """The card's selection table (``ewp.models.evaluation.Selection.table``)."""
    return _table(
        selection,
        [
            _Column("candidate", "candidate"),
            _Column("mean precision", "mean_precision", _number(3)),
            _Column("worst regret", "worst_regret", _number(3)),
            _Column("interpretable or allowed", "interpretable_or_allowed", _yes_no),
            _Column("gate passed", "gate_passed", _yes_no),
            _Column("gate reason", "gate_reason"),
            _Column("eligible", "eligible", _yes_no),
        ],
        name="selection",
    )


def render_model_card(
    *,
    model_id: str,
    candidate: str,
    kind: str,
    params: Mapping[str, Any],
    interpretable: bool,
    training_window: tuple[str, str],
    data_fingerprint: str,
    extracted_on: str,
    label_description: str,
    features: Sequence[FeatureSpec],
    headline: pd.DataFrame,
    summary: pd.DataFrame,
    selection: pd.DataFrame,
    selection_metric: str,
    rule_name: str,
    gate_notes: Sequence[str] = (),
    override_reason: str | None = None,
    terms: ModelTerms | None = None,
    fairness_findings: Sequence[str] = (),
) -> str:
    """The model card for one published model, as markdown.

    ``headline``, ``summary`` and ``selection`` are the tables of ``ewp.models.evaluation``
    (``headline``, ``summarise`` and ``Selection.table``); ``summary`` is shown for this
    model's ``candidate`` only. ``rule_name`` is the threshold rule whose flag volume the
    headline compares at. ``override_reason`` is given when the model was promoted by a manual
    override of the selection rule. ``features`` are the specs of the features the config
    builds; ``terms`` (``ewp.models.explain.model_terms``) are the ones the model itself reads, with
    their points or importance: the card lists those (all ``features`` when None).
    ``fairness_findings``: the fairness gate's findings in words
    (``ewp.reports.audit.breach_findings``): which groups are outside the band for which options,
    the current rule included; a section of their own. Raises ValueError if a table lacks a
    column, a term is not a feature of ``features`` (or an interaction of two), or a feature is
    a protected attribute.
    """
    forbidden = sorted({f.name for f in features} & FORBIDDEN_INPUTS)
    if forbidden:
        raise ValueError(f"protected attributes cannot be model features: {forbidden}")

    def headline_name(name: str) -> str:
        marks = [
            mark for mark, who in (("this model", candidate), ("rule", rule_name)) if who == name
        ]
        return f"{name} ({', '.join(marks)})" if marks else name

    features_table = _features_table(features, terms)
    headline_table = _table(
        headline,
        [
            _Column("candidate", "candidate", headline_name),
            _Column("tp", "tp", _number(1)),
            _Column("fp", "fp", _number(1)),
            _Column("precision", "precision", _number(3)),
            _Column("tp_ratio", "tp_ratio", _number(2)),
            _Column("fp_change", "fp_change", _number(2, signed=True)),
        ],
        name="headline",
    )
    summary_table = _summary_table(summary, candidate=candidate)
    selection_table = _selection_table(selection)
    return load_template(TEMPLATE, autoescape=False).render(  # markdown, not HTML
        model_id=_md_code(model_id),
        model_title=_md_text(model_id),
        candidate=_md_code(candidate),
        kind=_md_code(kind),
        params=sorted((_md_code(k), _md_code(v)) for k, v in params.items()),
        interpretable=interpretable,
        window_start=_md_text(training_window[0]),
        window_end=_md_text(training_window[1]),
        data_fingerprint=_md_code(data_fingerprint),
        extracted_on=_md_text(extracted_on),
        protected=[f"`{name}`" for name in AUDIT_ONLY_COLUMNS],
        label_description=_md_text(label_description),
        features_table=features_table,
        own_features=None
        if terms is None
        else sum(INTERACTION_SEPARATOR not in term for term in terms.table["term"]),
        all_features=len(features),
        headline_table=headline_table,
        summary_table=summary_table,
        selection_table=selection_table,
        selection_metric=_md_code(selection_metric),
        rule_name=_md_code(rule_name),
        gate_notes=[_md_text(note) for note in gate_notes],
        override_reason=None if override_reason is None else _md_text(override_reason),
        fairness_findings=[_md_text(text) for text in fairness_findings],
    )
