"""The model card: sections, number formatting, override reason, determinism, no officer IDs."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest

from ewp.core.config import FeatureConfig
from ewp.features.registry import FeatureSpec, feature_specs
from ewp.reports.model_card import render_model_card

OFFICER = "OFF034293"  # an officer-like string hidden in columns the card must not show

SECTIONS = [
    "# Model card: scorecard-abc123",
    "## Intended use",
    "## Model",
    "## Data",
    "## Label",
    "## Features",
    "## Performance against the rules",
    "## Selection",
    "## Fairness gate and promotion",
    "## Limitations",
    "## How to challenge a flag",
]


def _headline() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "candidate": ["ebm", "rule_3_in_180d", "scorecard"],
            "k": [40, 40, 40],
            "tp": [10.0, 8.0, 12.26],
            "fp": [30.0, 32.0, 27.74],
            "precision": [0.25, 0.2, 0.30625],
            "tp_ratio": [1.25, 1.0, 1.53125],
            "fp_change": [-0.0625, 0.0, -0.1328125],
            "officer_ids": [OFFICER] * 3,
        }
    )


def _summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "candidate": ["ebm", "scorecard", "scorecard"],
            "list": ["top_50", "top_50", "volume_rule_3_in_180d"],
            "k": [100, 100, 40],
            "tp": [15.0, 18.0, 12.25],
            "fp": [85.0, 82.0, 27.75],
            "tp_worst": [15.0, 17.0, 12.0],
            "tp_best": [15.0, 19.0, 13.0],
            "precision": [0.15, 0.18, 0.30625],
            "precision_worst": [0.15, 0.17, 0.3],
            "precision_best": [0.15, 0.19, 0.325],
            "mean_recall": [0.25, 0.3, 0.2],
            "average_precision": [0.19, 0.2144, 0.2144],
            "brier": [0.05, 0.0412, 0.0412],
            "test_dates": [2, 2, 2],
            "note": [OFFICER] * 3,
        }
    )


def _selection() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "candidate": ["scorecard", "rule_3_in_180d", "ebm"],
            "mean_precision": [0.18, 0.12, 0.15],
            "worst_regret": [0.0, 0.06, 0.04],
            "interpretable_or_allowed": [True, True, True],
            "gate_passed": [True, True, False],
            "gate_reason": ["", "", "flag-rate ratio 1.90 | limit 1.25"],
            "eligible": [True, True, False],
            "top_officer": [OFFICER] * 3,
        }
    )


def _card(**overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "model_id": "scorecard-abc123",
        "candidate": "scorecard",
        "kind": "scorecard",
        "params": {"regularisation_c": 0.1, "class_weight": None},
        "interpretable": True,
        "training_window": ("2016-01-01", "2021-01-01"),
        "data_fingerprint": "sha256:0123abcd",
        "extracted_on": "2025-01-01",
        "label_description": "A serious-category notice within 365 days of the as-of date.",
        "features": feature_specs(FeatureConfig())[:3],
        "headline": _headline(),
        "summary": _summary(),
        "selection": _selection(),
        "selection_metric": "top_50.precision",
        "rule_name": "rule_3_in_180d",
        "gate_notes": ["ebm: flag-rate ratio 1.90 for Black officers exceeds 1.25"],
    }
    return render_model_card(**{**arguments, **overrides})


def test_card_has_every_section_in_order() -> None:
    card = _card()
    positions = [card.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions)
    assert "not a finding" in card
    assert "never triggers automatic action" in card
    assert "Interpretable (glass box)" in card
    assert "`regularisation_c` = `0.1`" in card
    assert "2016-01-01 to 2021-01-01" in card
    assert "`sha256:0123abcd`" in card
    assert "never model inputs" in card and "only by the fairness audit" in card
    assert "A serious-category notice within 365 days" in card
    assert "| `notices_90d` | Misconduct notices received in the 90 days" in card
    assert "ebm: flag-rate ratio 1.90 for Black officers exceeds 1.25" in card
    assert "contact the professional standards unit" in card


def test_tables_are_formatted() -> None:
    card = _card()
    # Headline: counts to 1 decimal, precision to 3, ratios to 2, FP change signed.
    assert "| scorecard (this model) | 12.3 | 27.7 | 0.306 | 1.53 | -0.13 |" in card
    assert "| rule_3_in_180d (rule) | 8.0 | 32.0 | 0.200 | 1.00 | +0.00 |" in card
    # Summary: this model's rows only, with the tie range.
    assert (
        "| top_50 | 100 | 18.0 | 82.0 | 0.180 | 0.170–0.190 | 0.300 | 0.214 | 0.041 | 2 |" in card
    )
    assert "| top_50 | 100 | 15.0 |" not in card  # the ebm row
    # Selection: in the given order, booleans in words, pipes in text escaped.
    assert "| scorecard | 0.180 | 0.000 | yes | yes |  | yes |" in card
    assert "| ebm | 0.150 | 0.040 | yes | no | flag-rate ratio 1.90 \\| limit 1.25 | no |" in card


def test_undefined_numbers_read_n_a() -> None:
    headline = _headline().assign(tp_ratio=float("nan"), fp_change=float("nan"))
    card = _card(headline=headline)
    assert "| ebm | 10.0 | 30.0 | 0.250 | n/a | n/a |" in card


def test_override_reason_only_when_given() -> None:
    assert "Manual override" not in _card()
    card = _card(override_reason="Version 3 failed its review; the scorecard is kept.")
    assert "**Manual override.**" in card
    assert "Reason given: Version 3 failed its review; the scorecard is kept." in card


def test_black_box_and_no_gate_notes_are_said_plainly() -> None:
    card = _card(interpretable=False, gate_notes=(), params={})
    assert "Black box" in card and "Interpretable" not in card
    assert "No fairness gate notes were recorded." in card
    assert "- Parameters: none (the candidate's defaults)" in card


def test_rendering_is_deterministic() -> None:
    assert _card() == _card()
    reordered = {"class_weight": None, "regularisation_c": 0.1}
    assert _card(params=reordered) == _card()


def test_no_officer_identifiers_reach_the_card() -> None:
    assert OFFICER not in _card()


def test_protected_attribute_as_feature_is_refused() -> None:
    ethnicity = FeatureSpec("ethnicity", "Self-defined ethnicity.", "{value}", "protected")
    with pytest.raises(ValueError, match="protected"):
        _card(features=[ethnicity])


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match=r"headline table lacks columns \['fp_change'\]"):
        _card(headline=_headline().drop(columns="fp_change"))


TABLE_TAGS = {"table", "thead", "tbody", "tr", "th", "td"}
HOSTILE_LABEL = '<meta http-equiv="refresh" content="0;url=http://evil">'


def test_values_from_the_data_and_config_render_as_text_not_html() -> None:
    """A hostile ethnicity label (in the gate's reasons) and a hostile override reason show as
    text in any Markdown renderer: no tag, link or image comes through."""
    import markdown

    reason = f"flag-rate ratio 1.90 for {HOSTILE_LABEL} officers exceeds 1.25"
    selection = _selection()
    selection.loc[2, "gate_reason"] = reason
    card = _card(
        gate_notes=[f"ebm: {reason}"],
        selection=selection,
        override_reason="approved <script>alert(1)</script> [see](javascript:alert(1)) ![x](y)\n<b",
        params={"note": "<img src=x> `tick`"},
    )
    html = markdown.markdown(card, extensions=["tables"])
    tags = set(re.findall(r"</?([A-Za-z][A-Za-z0-9]*)", html))
    assert tags <= {"h1", "h2", "p", "ul", "li", "code", "strong", "em"} | TABLE_TAGS, tags
    assert (
        'ebm: flag-rate ratio 1.90 for &lt;meta http-equiv="refresh" '
        'content="0;url=http://evil"&gt; officers exceeds 1.25'
    ) in html
    assert "approved &lt;script&gt;alert(1)&lt;/script&gt; [see](javascript:alert(1))" in html
    assert "<code>&lt;img src=x&gt; 'tick'</code>" in html  # inside a code span: text already


def test_the_card_lists_the_models_own_features_with_their_points() -> None:
    from ewp.models.explain import ModelTerms

    terms = ModelTerms(
        table=pd.DataFrame(
            {
                "term": ["findings_case_to_answer_all", "tenure_days", "tenure_days & probationer"],
                "weight": [0.4213, -0.05, 0.1],
                "detail": ["mean 0.2, standard deviation 0.5", "", ""],
            }
        ),
        weight_label="log-odds points per standard deviation",
    )
    card = _card(features=feature_specs(FeatureConfig()), terms=terms)
    section = card[card.index("## Features") : card.index("## Performance")]
    built = len(feature_specs(FeatureConfig()))
    assert f"The features this model reads (2 of the {built} the configuration" in section
    assert (
        "| `findings_case_to_answer_all` | +0.421 | Notices decided before the as-of date with a "
        "case to answer (proven or not). | mean 0.2, standard deviation 0.5 |"
    ) in section
    assert "| `tenure_days` | -0.050 | Days of service on the as-of date. |  |" in section
    assert "Interaction of `tenure_days` and `probationer`." in section
    assert "`notices_365d`" not in section  # a feature the model does not read
    with pytest.raises(ValueError, match=r"unknown features: \['shoe_size'\]"):
        _card(terms=ModelTerms(terms.table.assign(term="shoe_size"), weight_label="w"))
