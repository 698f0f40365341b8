"""The fairness audit report: verdict sentences, small groups, one plot per metric, suppressed
cells, optional sections, marking, escaping, no external references, determinism, CSV tables."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ewp.core.config import FairnessConfig
from ewp.models.fairness import BY_GROUP_COLUMNS, METRICS, AuditResult, audit, disparity_sources
from ewp.reports.audit import audit_tables, render_audit_report
from ewp.reports.weekly import MARKING

CONFIG = FairnessConfig(attributes=("ethnicity", "gender"), bootstrap_samples=200)
SMALL = "<b>Mixed</b>"  # a small group whose name must be escaped
ESCAPED = "&lt;b&gt;Mixed&lt;/b&gt;"
PROVENANCE = {
    "model_version": "scorecard-3f9a1c2b4d5e",
    "data_fingerprint": "9f86d081884c7d659a2feaa0c55ad015",
    "config_name": "default",
}
# Per group: officers flagged and escalating (label 1), flagged only, escalating only, neither;
# and each officer's least number of notices (officers add 0, 1 or 2 in turn). Black officers
# are flagged 2.5 times as often as White officers.
GROUPS: dict[str, tuple[int, int, int, int, int]] = {
    "White": (40, 160, 160, 1640, 1),
    "Black": (50, 200, 60, 690, 2),
    SMALL: (1, 1, 1, 9, 1),
}


def _frame(*, labelled: bool = True) -> pd.DataFrame:
    """One row per officer: the groups above, genders alternating within every block."""
    blocks = []
    for ethnicity, (*counts, notices) in GROUPS.items():
        for (flagged, label), count in zip(
            [(True, 1), (True, 0), (False, 1), (False, 0)], counts, strict=True
        ):
            blocks.append(
                pd.DataFrame(
                    {
                        "ethnicity": ethnicity,
                        "gender": np.where(np.arange(count) % 2 == 0, "Male", "Female"),
                        "flagged": flagged,
                        "label": float(label) if labelled else np.nan,
                        "notices": notices + np.arange(count) % 3,
                    }
                )
            )
    frame = pd.concat(blocks, ignore_index=True)
    frame["officer_id"] = [f"OFF{i:05d}" for i in range(len(frame))]
    return frame.assign(decided=frame["notices"], case_to_answer=frame["notices"] // 2)


@pytest.fixture(scope="module")
def result() -> AuditResult:
    return audit(_frame(), config=CONFIG, seed=7)


@pytest.fixture(scope="module")
def sources() -> pd.DataFrame:
    return disparity_sources(_frame(), config=CONFIG, seed=7)


@pytest.fixture(scope="module")
def tradeoff() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "candidate": ["counts_lr", "all_gbm", "rule_3_in_180d"],
            "feature_set": ["counts", "all", "rule"],
            "precision": [0.21, 0.26, 0.18],
            "flag_rate_ratio:ethnicity=Black": [1.9, 1.1, np.nan],
            "flag_rate_ratio:ethnicity=Asian": [1.0, 0.9, 1.2],
            "false_positive_rate_ratio:gender=Female": [0.95, 0.7, 1.0],
        }
    )


def _inputs(result: AuditResult, **changes: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "title": "Fairness audit of the weekly list",
        "scope": "weekly list of 2024-12-30",
        "audit": result,
        "sources": None,
        "tradeoff": None,
        "config": CONFIG,
        "provenance": PROVENANCE,
    }
    return inputs | changes


@pytest.fixture(scope="module")
def html(result: AuditResult, sources: pd.DataFrame, tradeoff: pd.DataFrame) -> str:
    return render_audit_report(**_inputs(result, sources=sources, tradeoff=tradeoff))


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', html, flags=re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


def test_marked_with_scope_band_rules_and_provenance(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    assert re.search(rf'<header class="marking"[^>]*>{MARKING}</header>', html)
    assert re.search(rf'<footer class="marking"[^>]*>{MARKING}</footer>', html)
    about = _section(html, "about")
    for label, value in [
        ("Scope", "weekly list of 2024-12-30"),
        ("Tolerance band", "ratio to the reference group within 0.8–1.25"),
        ("Intervals", "95% bootstrap intervals, 200 resamples"),
        ("Reference: Ethnicity", "White (the largest group with a non-zero rate on every metric)"),
        ("Model version", f"<code>{PROVENANCE['model_version']}</code>"),
        ("Data fingerprint", f"<code>{PROVENANCE['data_fingerprint']}</code>"),
        ("Configuration", "<code>default</code>"),
    ]:
        assert f"<dt>{label}</dt><dd>{value}</dd>" in about
    assert "<dt>Group-size rule</dt><dd>groups and intersection cells with fewer than 20 " in about


def test_summary_says_which_group_is_outside_the_band(html: str, result: AuditResult) -> None:
    summary = _section(html, "summary")
    row = result.by_group.set_index(["attribute", "group", "metric"]).loc[
        ("ethnicity", "Black", "flag_rate")
    ]
    assert row["verdict"] == "outside band"
    sentence = (
        f"<li>Black officers: flag rate {row['ratio']:.2f}× the White reference (95% interval "
        f"{row['ratio_ci_low']:.2f}–{row['ratio_ci_high']:.2f}): outside the 0.8–1.25 band</li>"
    )
    assert sentence in summary
    # Concerns come before the groups with too little data.
    assert summary.index(sentence) < summary.index("Too little data for a verdict")
    assert "Gender</a> (reference: Male)" in summary


def test_small_group_is_suppressed_everywhere(html: str, sources: pd.DataFrame) -> None:
    assert (
        f"<li>{ESCAPED} officers: fewer than 20 officers, so every number about them is "
        "suppressed.</li>"
    ) in _section(html, "summary")
    ethnicity = _section(html, "attribute-ethnicity")
    rows = re.findall(
        rf'<tr class="muted"><th scope="row">{re.escape(ESCAPED)}</th>.*?</tr>', ethnicity
    )
    assert len(rows) == len(METRICS)
    for row in rows:  # no count, rate or ratio: n/a in every cell but the verdict
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells == ["n/a"] * (len(cells) - 1) + ["suppressed (n &lt; 20)"]
    # Greyed in each plot, with no mark.
    assert ethnicity.count('fill="#8a8f92">suppressed (n &lt; 20)</text>') == 6
    # Where the disparity comes from: the group's row is there, blank and muted.
    mixed = sources.loc[sources["group"] == "<b>Mixed</b>"]
    assert len(mixed) == 1 and pd.isna(mixed["n"].iloc[0])
    assert mixed.drop(columns=["attribute", "group", "reference", "n"]).isna().all().all()


def test_one_ratio_plot_and_table_per_attribute_and_metric(html: str) -> None:
    for attribute, reference in (("ethnicity", "White"), ("gender", "Male")):
        section = _section(html, f"attribute-{attribute}")
        plots = re.findall(r'<svg class="plot" role="img".*?</svg>', section, flags=re.S)
        assert len(plots) == len(METRICS)
        for metric, plot in zip(METRICS, plots, strict=True):
            plot_id = f"plot-{attribute}-{metric.replace('_', '-')}"
            assert f'<title id="{plot_id}-title">' in plot and f'<desc id="{plot_id}-desc">' in plot
            assert 'fill="#dcebdc"' in plot  # the band, shaded
            assert 'stroke-dasharray="3,2"' in plot  # 1 marked
            assert f"{reference} (reference)</text>" in plot
        assert section.count("<table>") == len(METRICS)
        assert section.count('<span class="tag">reference</span>') == len(METRICS)
    ethnicity = _section(html, "attribute-ethnicity")
    # Flag rates per 1,000, other rates per cent, ratios to two decimals: White's flag rate is
    # 200 / 2000, Black's 250 / 1000 (2.5 times White's, 150 more per 1,000).
    assert (
        '<td class="num">2000</td><td class="num">2000</td><td class="num">100.0 per 1,000 ['
        in ethnicity
    )
    assert re.search(r'<td class="num">2\.50 \[\d\.\d\d–\d\.\d\d\]</td>', ethnicity)
    assert re.search(
        r'<td class="num">\+150\.0 per 1,000 \[\+\d+\.\d to \+\d+\.\d\]</td>', ethnicity
    )
    # Precision of White's flags: 40 / 200.
    assert re.search(r'<td class="num">20\.0% \[\d+\.\d–\d+\.\d\]</td>', ethnicity)


def test_small_intersection_cells_are_suppressed(html: str) -> None:
    intersections = _section(html, "intersections")
    for cell in (f"{ESCAPED} × Female", f"{ESCAPED} × Male"):
        assert (
            f'<tr class="muted"><th scope="row">{cell}</th>'
            '<td colspan="6">suppressed (n &lt; 20)</td></tr>'
        ) in intersections
    assert 'rowspan="6">White × Male <span class="tag">reference</span>' in intersections
    assert (
        f"<li>2 cells with fewer than 20 officers suppressed: {ESCAPED} × Female and {ESCAPED} "
        "× Male.</li>"
    ) in _section(html, "summary")


def test_sources_and_tradeoff_appear_only_when_given(
    html: str, result: AuditResult, sources: pd.DataFrame
) -> None:
    bare = render_audit_report(**_inputs(result))
    assert 'id="sources"' not in bare and 'id="tradeoff"' not in bare
    section = _section(html, "sources")
    assert "Below 1: the list carries less disparity than the notices it learned from" in section
    black = sources.set_index(["attribute", "group"]).loc[("ethnicity", "Black")]
    assert (
        f"<li>Black officers: {black['notices_ratio']:.2f}× the notices per officer, "
        f"{black['case_to_answer_ratio']:.2f}× the case-to-answer rate, "
        f"{black['label_ratio']:.2f}× the label rate and {black['flag_ratio']:.2f}× the flag "
        "rate of the White reference; "
    ) in section
    assert "flag ratio ÷ notice ratio" in section and "flag ratio ÷ label ratio" in section
    trade = _section(html, "tradeoff")
    assert '<th scope="colgroup" colspan="2">Flag rate ratio</th>' in trade  # one per metric
    assert '<th scope="colgroup" colspan="1">False positive rate ratio</th>' in trade
    assert '<th scope="col">Black<span class="value">ethnicity</span></th>' in trade
    assert '<th scope="col">Female<span class="value">gender</span></th>' in trade
    candidates = re.findall(r'<tr><th scope="row">([^<]+)</th>', trade)
    assert candidates == ["all_gbm", "counts_lr", "rule_3_in_180d"]  # best precision first
    assert '<td class="num outside-point">1.90 †</td>' in trade
    assert '<td class="num">n/a</td>' in trade


def test_a_list_without_outcomes_audits_flags_only() -> None:
    unlabelled = audit(_frame(labelled=False), config=CONFIG, seed=7)
    html = render_audit_report(**_inputs(unlabelled))
    assert html.count('<svg class="plot"') == 2 * 2  # flag rate and share of flags
    assert "The outcome of this list is not known yet" in html


def test_text_is_escaped_and_nothing_is_external(html: str) -> None:
    assert SMALL not in html and ESCAPED in html
    assert "http://" not in html and "https://" not in html
    for reference in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert reference.startswith("#"), reference
    assert "<script" not in html and "<link" not in html
    assert "@import" not in html and "url(" not in html


def test_same_inputs_give_byte_identical_html_whatever_the_row_order(
    html: str, result: AuditResult, sources: pd.DataFrame, tradeoff: pd.DataFrame
) -> None:
    assert render_audit_report(**_inputs(result, sources=sources, tradeoff=tradeoff)) == html
    shuffled = AuditResult(
        overall=result.overall.iloc[::-1],
        by_group=result.by_group.sample(frac=1.0, random_state=1),
        intersections=result.intersections.sample(frac=1.0, random_state=2),
        references=result.references,
    )
    again = render_audit_report(
        **_inputs(shuffled, sources=sources.iloc[::-1], tradeoff=tradeoff.iloc[::-1])
    )
    assert again == html


def test_audit_tables_are_the_audit_as_csv_tables(
    result: AuditResult, sources: pd.DataFrame
) -> None:
    tables = audit_tables(result, sources)
    assert list(tables) == [
        "audit_by_group.csv",
        "audit_intersections.csv",
        "audit_overall.csv",
        "audit_sources.csv",
    ]
    pd.testing.assert_frame_equal(tables["audit_by_group.csv"], result.by_group)
    pd.testing.assert_frame_equal(tables["audit_intersections.csv"], result.intersections)
    pd.testing.assert_frame_equal(tables["audit_overall.csv"], result.overall)
    pd.testing.assert_frame_equal(tables["audit_sources.csv"], sources)
    assert list(tables["audit_by_group.csv"].columns) == list(BY_GROUP_COLUMNS)
    tables["audit_by_group.csv"].loc[0, "verdict"] = "changed"  # copies, not views
    assert result.by_group.loc[0, "verdict"] != "changed"
    assert "audit_sources.csv" not in audit_tables(result, None)


def test_missing_inputs_are_named(
    result: AuditResult, sources: pd.DataFrame, tradeoff: pd.DataFrame
) -> None:
    with pytest.raises(ValueError, match=r"provenance lacks keys \['data_fingerprint'\]"):
        provenance = {k: v for k, v in PROVENANCE.items() if k != "data_fingerprint"}
        render_audit_report(**_inputs(result, provenance=provenance))
    with pytest.raises(ValueError, match=r"sources table lacks columns \['added_by_model'"):
        render_audit_report(**_inputs(result, sources=sources.drop(columns="added_by_model")))
    with pytest.raises(ValueError, match=r"tradeoff table lacks columns \['precision'\]"):
        render_audit_report(**_inputs(result, tradeoff=tradeoff.drop(columns="precision")))


def test_breach_findings_say_who_is_outside_the_band_for_which_option() -> None:
    from ewp.reports.audit import GateSummary, breach_findings

    config = FairnessConfig(attributes=("ethnicity", "gender"))
    rows = [
        # (candidate, attribute, group, reference, ratio, verdict)
        ("rule", "gender", "Female", "Male", 0.26, "outside band"),
        ("model", "gender", "Female", "Male", 0.17, "outside band"),
        ("other", "gender", "Female", "Male", 0.30, "outside band"),
        ("rule", "ethnicity", "Black", "White", 1.90, "outside band"),
        ("model", "ethnicity", "Black", "White", 1.10, "within band"),
        ("other", "ethnicity", "Black", "White", 1.50, "inconclusive"),
        ("rule", "ethnicity", "Mixed", "White", 1.10, "within band"),
        ("model", "ethnicity", "Mixed", "White", 1.00, "within band"),
        ("other", "ethnicity", "Mixed", "White", 0.40, "outside band"),
    ]
    breaches = pd.DataFrame(
        [
            {
                "candidate": c,
                "attribute": a,
                "group": g,
                "reference": r,
                "metric": "flag_rate",
                "ratio": x,
                "ratio_ci_low": x * 0.9,
                "ratio_ci_high": x * 1.1,
                "verdict": v,
            }
            for c, a, g, r, x, v in rows
        ]
    )
    gate = GateSummary(
        mode="relative_to_rule",
        rule="rule",
        champion="model",
        passed={"rule": True, "model": True, "other": False},
        breaches=breaches,
    )
    assert breach_findings(gate, config)[1:] == [
        "Outside the 0.8–1.25 band for every option, the current rule included: Female officers "
        "on flag rate (rule 0.26×, model 0.17× the Male reference).",
        "Outside the 0.8–1.25 band for the current rule, though not conclusively for the champion: "
        "Black officers on flag rate (rule 1.90×, model 1.10× the White reference).",
        "Outside the 0.8–1.25 band for other candidates only (other), not conclusively for the "
        "current rule or the champion: Mixed officers on flag rate (rule 1.10×, model 1.00×, "
        "other 0.40× the White reference).",
        "A breach the current rule shares is harm already in today's practice, not made by the "
        "model: it calls for review of how these officers come to be accused and flagged, "
        "whichever list is used.",
    ]
    rule_champion = GateSummary(
        mode="relative_to_rule",
        rule="rule",
        champion="rule",
        passed={"rule": True, "model": False, "other": False},
        breaches=breaches,
    )
    assert breach_findings(rule_champion, config)[2] == (
        "Outside the 0.8–1.25 band for the current rule, which is the champion: Black officers "
        "on flag rate (rule 1.90× the White reference)."
    )
    nobody = GateSummary(
        mode="absolute",
        rule="rule",
        champion="model",
        passed={"rule": True, "model": True},
        breaches=breaches.iloc[0:0],
    )
    assert breach_findings(nobody, config) == [
        "The fairness gate was absolute, by ethnicity and gender: any group outside the "
        "0.8–1.25 band blocked.",
        "No group is outside the 0.8–1.25 band on false positive rate and flag rate for any "
        "option, the current rule included.",
    ]
    unrecorded = GateSummary(
        mode="absolute",
        rule="rule",
        champion="model",
        passed={"rule": True},
        breaches=breaches.iloc[0:0],
        not_audited=("ethnicity", "gender"),
    )
    assert breach_findings(unrecorded, config)[-1] == (
        "Not audited: no officer has a recorded ethnicity, gender or age."
    )


def test_breach_findings_say_what_an_ungated_attribute_would_have_blocked() -> None:
    """Age is audited, compared with the rule and reported, not gated (the default): the
    findings name it, and say whether, gated, it would have blocked the champion, with the
    champion's ratio and the rule's."""
    from ewp.reports.audit import UNGATED_COLUMNS, GateSummary, breach_findings

    config = FairnessConfig()  # every attribute audited, age not gated
    assert config.gated_attributes == ("ethnicity", "gender")
    assert config.ungated_attributes == ("age_band",)
    against = pd.DataFrame(
        [("age_band", "45-54", "25-34", "false_positive_rate", 3.36, 2.5, 4.4, 1.11)],
        columns=list(UNGATED_COLUMNS),
    )
    no_breach = pd.DataFrame(columns=["candidate", "attribute", "group", "metric", "verdict"])
    gate = GateSummary(
        mode="relative_to_rule",
        rule="rule",
        champion="model",
        passed={"rule": True, "model": True},
        breaches=no_breach,
        ungated=("age_band",),
        ungated_against=against,
    )
    findings = breach_findings(gate, config)
    assert findings[0].startswith(
        "The fairness gate compared every candidate with the force's current rule, rule, by "
        "ethnicity and gender: "
    )
    assert findings[2:] == [
        "Audited, compared with the current rule and reported, but not gated "
        "(fairness.gate_attributes): age band.",
        "Gated, age band would have blocked the champion, outside the 0.8–1.25 band and further "
        "from parity than rule: officers aged 45-54 on false positive rate (model 3.36×, rule "
        "1.11× the 25-34 reference).",
        "An age disparity may follow exposure (longer service, longer records) rather than be "
        "added by the model, and these records cannot tell which: a person should judge "
        "whether it is justified, or the force can gate age (fairness.gate_attributes).",
    ]
    clear = dataclasses.replace(gate, ungated_against=against.iloc[0:0])
    assert breach_findings(clear, config)[3] == (
        "Gated, age band would not have blocked the champion."
    )
    # Age gated by config: nothing is left ungated, and the findings say nothing more.
    gated = FairnessConfig(gate_attributes=("ethnicity", "gender", "age_band"))
    assert gated.ungated_attributes == ()
    assert len(breach_findings(dataclasses.replace(gate, ungated=()), gated)) == 2
