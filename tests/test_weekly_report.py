"""The weekly HTML report: list, cards, timeline charts, sections, marking, escaping, no
external references, determinism."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pandas as pd
import pytest

from ewp.core.config import FeatureConfig, ReviewConfig
from ewp.features.explanations import TIMELINE_COLUMNS
from ewp.features.registry import feature_specs
from ewp.models.flags import flag_id
from ewp.reports.weekly import MARKING, render_weekly_report

AS_OF = "2026-11-23"
MODEL = "scorecard-3f9a1c2b4d5e"
DATA_FINGERPRINT = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
OFFICERS = ("OFF00417", "OFF01234", "OFF02201")
UNITS = ("Borough 07", "Territorial Support", "Borough 12")


def _flags(officers: tuple[str, ...] = OFFICERS) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "flag_id": [flag_id(officer_id=o, as_of=AS_OF, model_version=MODEL) for o in officers],
            "rank": [1, 2, 3],
            "officer_id": list(officers),
            "unit": list(UNITS),
            "as_of": [AS_OF] * 3,
            "score": [0.91234, 0.7444, 0.70149],
        }
    )


def _reasons(officers: tuple[str, ...] = OFFICERS) -> pd.DataFrame:
    first, second, third = officers
    return pd.DataFrame(
        {
            "officer_id": [first, first, first, second, second, third],
            "rank": [1, 2, 3, 1, 2, 1],
            "feature": [
                "notices_365d",
                "open_cases",
                "notices_while_open_all",
                "notices_1095d",
                "gross_misconduct_all",
                "notices_dishonesty_365d",
            ],
            "value": [4.0, 3.0, 2.0, 5.0, 1.0, 2.0],
            "contribution": [0.9, 0.6, 0.3, 0.7, 0.4, 0.5],
            "sentence": [
                "4 notices received in the last 12 months, more than 97% of officers in the "
                "same unit",
                "3 cases still open",
                "2 notices received while earlier ones were still undecided",
                "5 notices received in the last 3 years, more than 90% of officers in the same "
                "unit",
                "1 notice assessed as potential gross misconduct",
                "2 notices for dishonesty / fraud or corruption / abuse of position or improper "
                "disclosure in the last 12 months",
            ],
        }
    )


def _timelines(officers: tuple[str, ...] = OFFICERS) -> pd.DataFrame:
    first, second, third = officers
    rows = [
        # officer, notice, received, category, source, status, finding, sanction, days open
        (first, "N0101", "2020-02-11", "discreditable conduct", "public", "decided",
         "no case to answer", "none", None),
        (first, "N0102", "2023-05-02", "sexual misconduct", "internal", "decided",
         "case to answer not proven", "management advice", None),
        (first, "N0103", "2025-12-01", "violence / use of force", "public", "open", "", "", 357),
        (first, "N0104", "2026-03-15", "improper disclosure", "conduct matter", "decided",
         "proven", "written warning", None),
        (first, "N0105", "2026-06-30", "discrimination", "internal", "open", "", "", 146),
        (first, "N0106", "2026-07-02", "sexual misconduct", "internal", "open", "", "", 144),
        (second, "N0201", "2024-01-09", "dishonesty / fraud", "conduct matter", "decided",
         "withdrawn", "", None),
        (second, "N0202", "2025-08-20", "domestic abuse", "public", "open", "", "", 460),
        (third, "N0301", "2026-09-01", "corruption / abuse of position", "conduct matter",
         "open", "", "", 83),
        (third, "N0302", "2026-09-03", "dishonesty / fraud", "conduct matter", "open", "", "", 81),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(TIMELINE_COLUMNS))
    return frame.assign(
        received_on=pd.to_datetime(frame["received_on"]),
        days_open=frame["days_open"].astype("Int64"),
    )


def sample_inputs(officers: tuple[str, ...] = OFFICERS) -> dict[str, Any]:
    """Keyword arguments for a small but complete report (also used by the browser test)."""
    first, second, third = officers
    return {
        "as_of": AS_OF,
        "flags": _flags(officers),
        "reasons": _reasons(officers),
        "timelines": _timelines(officers),
        "changes": pd.DataFrame(
            {
                "officer_id": [first, second, third, "OFF00999"],
                "change": ["new", "continuing", "new", "dropped off"],
            }
        ),
        "suppressed": pd.DataFrame(
            {
                "officer_id": ["OFF00555"],
                "reason": ["reviewed on 2026-10-05 (no_action); no new notice since"],
            }
        ),
        "provenance": {
            "model_version": MODEL,
            "data_fingerprint": DATA_FINGERPRINT,
            "config_name": "default",
            "config_fingerprint": "c0ffee" * 10,
            "extracted_on": "2026-11-23",
        },
        "methods": {
            "features": feature_specs(FeatureConfig()),
            "rules": {
                "rule_3_in_180d": "3 or more notices in the last 180 days",
                "peer_top_5pct": "the top 5% of each unit by notices in the last 12 months",
            },
            "limitations": [
                "Allegations are themselves biased: see the fairness audit.",
                "The high-risk set churns from week to week.",
            ],
            "challenge": [
                "Contact the professional standards unit, which records the challenge.",
            ],
            "decisions": ReviewConfig().decisions,
            "review_command": "ewp review {flag_id} --decision DECISION --reviewer NAME",
            "decisions_csv": "flags.csv: fill in review_decision, reviewer, reviewed_on and "
            "review_note, then run ewp review import flags.csv",
        },
        "links": {"Fairness audit": "fairness_audit.html", "Model card": "model_card.md"},
    }


@pytest.fixture(scope="module")
def html() -> str:
    return render_weekly_report(**sample_inputs())


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', html, flags=re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


def test_the_report_is_marked_in_header_and_footer(html: str) -> None:
    assert re.search(rf'<header class="marking"[^>]*>{MARKING}</header>', html)
    assert re.search(rf'<footer class="marking"[^>]*>{MARKING}</footer>', html)
    assert html.startswith("<!DOCTYPE html>")


def test_summary_counts_and_identities(html: str) -> None:
    summary = _section(html, "summary")
    for label, value in [
        ("As-of date", AS_OF),
        ("Officers flagged", "3"),
        ("New this week", "2"),
        ("Continuing", "1"),
        ("Dropped off", "1"),
        ("Suppressed", "1"),
        ("Model version", f"<code>{MODEL}</code>"),
        ("Data fingerprint", f"<code>{DATA_FINGERPRINT[:12]}</code>"),
        ("Configuration", "default"),
    ]:
        assert f"<dt>{label}</dt><dd>{value}</dd>" in summary
    assert DATA_FINGERPRINT not in summary  # the short form only


def test_list_rows_in_rank_order_link_to_their_cards(html: str) -> None:
    listing = _section(html, "list")
    rows = re.findall(r'<tr id="row-(F[0-9a-f]{12})">(.*?)</tr>', listing, flags=re.S)
    flags = _flags()
    assert [flag for flag, _ in rows] == list(flags["flag_id"])
    first = rows[0][1]
    assert '<td class="num">1</td>' in first
    assert f'<a href="#flag-{flags["flag_id"][0]}">OFF00417</a>' in first
    assert "<td>Borough 07</td>" in first
    assert '<td class="num">0.912</td>' in first  # fixed three decimals
    assert "<li>3 cases still open</li>" in first
    assert ">new</span>" in first and f"<code>{flags['flag_id'][0]}</code>" in first
    assert ">continuing</span>" in rows[1][1]
    for flag in flags["flag_id"]:
        assert f'<article class="card" id="flag-{flag}"' in html


def test_cards_hold_reasons_chart_timeline_and_decision_block(html: str) -> None:
    cards = re.findall(r'<article class="card".*?</article>', html, flags=re.S)
    assert len(cards) == 3
    first, second, third = cards
    assert "1. Officer OFF00417" in first and "score 0.912" in first
    reasons = re.findall(r"<li>(.*?)</li>", first.split("<h4>History</h4>")[0])
    assert reasons == [
        "4 notices received in the last 12 months, more than 97% of officers in the same unit",
        "3 cases still open",
        "2 notices received while earlier ones were still undecided",
    ]
    # One SVG chart per card, labelled by its <title> and <desc>, one mark per notice drawn.
    assert first.count('<svg class="chart" role="img"') == 1
    assert '<title id="chart-F' in first and '<desc id="chart-F' in first
    marks = re.findall(
        r'<path d="[^"]+" fill="([^"]+)" stroke="[^"]+" stroke-width="(\d)">'
        r"<title>([^<]+)</title></path>",
        first,
    )
    assert len(marks) == 5  # N0101 (2020) is more than 5 years back: in the table only
    open_marks = [title for fill, width, title in marks if fill == "#fff" and width == "2"]
    assert open_marks == [
        "2025-12-01: violence / use of force, from source public; open for 357 days on the "
        "as-of date",
        "2026-06-30: discrimination, from source internal; open for 146 days on the as-of date",
        "2026-07-02: sexual misconduct, from source internal; open for 144 days on the as-of date",
    ]
    assert (
        "2026-03-15: improper disclosure, from source conduct matter; decided: proven, written "
        "warning" in [title for _, _, title in marks]
    )
    assert first.count('stroke-dasharray="4,3"') == 3  # a pending line per open case
    assert "5 notices received from 2021-11-23 to the as-of date, 3 still open; 1 earlier " in (
        first
    )
    # The text table carries every notice, the earlier one included.
    table_rows = re.findall(
        r'<tr><td class="nowrap">(\d{4}-\d{2}-\d{2})</td><td>(N\d+)</td>', first
    )
    assert [notice for _, notice in table_rows] == [
        "N0101",
        "N0102",
        "N0103",
        "N0104",
        "N0105",
        "N0106",
    ]
    assert (
        '<tr><td class="nowrap">2025-12-01</td><td>N0103</td><td>violence / use of force</td>'
        '<td>public</td><td>open</td><td></td><td></td><td class="num">357</td></tr>'
    ) in first
    # Record a decision: the allowed decisions, the command with this flag's ID, the CSV.
    flag = _flags()["flag_id"][0]
    assert "<h4>Record a decision</h4>" in first
    for decision in ReviewConfig().decisions:
        assert f"<code>{decision}</code>" in first
    assert f"<code>ewp review {flag} --decision DECISION --reviewer NAME</code>" in first
    assert (
        "<p>Or through the CSV: flags.csv: fill in review_decision, reviewer, reviewed_on and "
        f"review_note, then run ewp review import flags.csv (this flag's ID: <code>{flag}"
        "</code>).</p>"
    ) in first
    # Two notices two days apart in one lane are stacked, not drawn on top of each other.
    ys = re.findall(r'<line x1="[\d.]+" y1="([\d.]+)"[^>]+stroke-dasharray="4,3"', third)
    assert len(ys) == 2 and len(set(ys)) == 2
    assert "1 notice received from" not in second  # plural handled: 2 notices
    assert "2 notices received from 2021-11-23 to the as-of date, 1 still open." in second


def test_suppressed_dropped_provenance_methods_and_links(html: str) -> None:
    suppressed = _section(html, "suppressed")
    assert (
        "<tr><td>OFF00555</td><td>reviewed on 2026-10-05 (no_action); no new notice since</td></tr>"
    ) in suppressed
    assert "<tr><td>OFF00999</td><td>not recorded</td></tr>" in _section(html, "dropped")
    provenance = _section(html, "provenance")
    for label, value in [
        ("Model version", MODEL),
        ("Data fingerprint", DATA_FINGERPRINT),
        ("Configuration fingerprint", "c0ffee" * 10),
        ("Export taken on", "2026-11-23"),
    ]:
        assert f"<dt>{label}</dt><dd><code>{value}</code></dd>" in provenance
    methods = _section(html, "methods")
    for spec in feature_specs(FeatureConfig()):
        assert f"<tr><td><code>{spec.name}</code></td>" in methods
    assert "<li><code>rule_3_in_180d</code>: 3 or more notices in the last 180 days</li>" in (
        methods
    )
    assert "<li>The high-risk set churns from week to week.</li>" in methods
    assert "<h3>How to challenge a flag</h3>" in methods
    assert '<li><a href="fairness_audit.html">Fairness audit</a></li>' in methods
    without_links = render_weekly_report(**{**sample_inputs(), "links": {}})
    assert "Published with this report" not in without_links


def test_empty_sections_say_so() -> None:
    inputs = sample_inputs()
    inputs["changes"] = inputs["changes"].iloc[:3]
    inputs["suppressed"] = inputs["suppressed"].iloc[:0]
    html = render_weekly_report(**inputs)
    assert "No officers were suppressed." in html
    assert "No officer dropped off the list since the last report." in html


def test_text_is_escaped_and_nothing_is_external() -> None:
    hostile = ("<script>alert('x')</script>", "OFF01234", 'OFF"><img src=x>')
    inputs = sample_inputs(hostile)
    inputs["flags"]["unit"] = ["<b>Unit</b>", "A & B", "Borough 12"]
    html = render_weekly_report(**inputs)
    assert "<script" not in html and "<img" not in html and "<b>Unit" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "OFF&#34;&gt;&lt;img src=x&gt;" in html
    assert "<td>A &amp; B</td>" in html
    for document in (html, render_weekly_report(**sample_inputs())):
        assert "http://" not in document and "https://" not in document
        for reference in re.findall(r'(?:src|href)="([^"]*)"', document):
            assert reference.startswith("#") or ":" not in reference.split("/")[0], reference
        assert "<link" not in document and "<script" not in document
        assert "@import" not in document and "url(" not in document


def test_links_that_leave_the_folder_are_refused() -> None:
    for href in ("https://example.org/audit.html", "//host/audit.html", "file:///tmp/a.html"):
        with pytest.raises(ValueError, match="relative paths"):
            render_weekly_report(**{**sample_inputs(), "links": {"Audit": href}})


def test_missing_inputs_are_named() -> None:
    inputs = sample_inputs()
    with pytest.raises(ValueError, match=r"reasons table lacks columns \['sentence'\]"):
        render_weekly_report(**{**inputs, "reasons": inputs["reasons"].drop(columns="sentence")})
    with pytest.raises(ValueError, match="without a change status"):
        render_weekly_report(**{**inputs, "changes": inputs["changes"].iloc[1:]})
    with pytest.raises(ValueError, match=r"provenance lacks keys \['config_fingerprint'\]"):
        provenance = {k: v for k, v in inputs["provenance"].items() if k != "config_fingerprint"}
        render_weekly_report(**{**inputs, "provenance": provenance})
    late = inputs["timelines"].assign(received_on=pd.Timestamp(AS_OF))
    with pytest.raises(ValueError, match=r"on or after the as-of date 2026-11-23: \['N0101'"):
        render_weekly_report(**{**inputs, "timelines": late})
    odd = inputs["timelines"].assign(category="parking")
    with pytest.raises(ValueError, match=r"unknown category labels \['parking'\]"):
        render_weekly_report(**{**inputs, "timelines": odd})
    with pytest.raises(ValueError, match="unknown list changes"):
        changes = inputs["changes"].assign(change=["new", "stayed", "new", "dropped off"])
        render_weekly_report(**{**inputs, "changes": changes})


def test_same_inputs_give_byte_identical_html_whatever_the_row_order(html: str) -> None:
    assert render_weekly_report(**sample_inputs()) == html
    shuffled = sample_inputs()
    for key in ("flags", "reasons", "timelines"):
        shuffled[key] = shuffled[key].iloc[::-1].reset_index(drop=True)
    assert render_weekly_report(**shuffled) == html


def test_rejected_records_are_counted_by_table_and_audit_only_officers_named() -> None:
    from ewp.reports.weekly import count_rejections

    quarantine = pd.DataFrame(
        {
            "table": ["notices", "officers", "officers", "officers", "notices"],
            "reason": [
                'notices.csv line 4, field received_on: "2020-13-01" is not a date',
                'officers.csv line 3, field birth_year: "19x0" is not a birth year',
                'officers.csv line 5, field joined_on: is blank; field birth_year: "x" is not',
                # Fields are read where the reason's items start ("field <name>: ").
                'officers.csv line 9, field gender: "a; field b:" ...; field birth_year: "q"',
                'notices.csv line 7, field officer_id: officer "A2" was quarantined',
            ],
        }
    )
    rejections = count_rejections(quarantine)
    assert rejections.by_table == (("officers", 3), ("notices", 2))
    assert rejections.total == 5
    # Lines 3 and 9 only: line 5 also lacks its joining date, which the model needs.
    assert rejections.audit_only_officers == 2
    html = render_weekly_report(**sample_inputs(), rejections=rejections)
    summary = _section(html, "summary")
    assert (
        '5 records rejected (3 officers, 2 notices): see <a href="quarantine.csv">'
        "quarantine.csv</a>" in summary
    )
    assert "2 officer records were rejected only because of a field used by the fairness" in summary


def test_no_rejections_say_so_and_none_given_says_nothing() -> None:
    from ewp.reports.weekly import count_rejections

    empty = count_rejections(pd.DataFrame({"table": [], "reason": []}))
    assert empty.total == 0 and empty.audit_only_officers == 0
    summary = _section(render_weekly_report(**sample_inputs(), rejections=empty), "summary")
    assert "No records were rejected." in summary and "quarantine.csv" not in summary
    assert "rejected" not in _section(render_weekly_report(**sample_inputs()), "summary")


def test_the_score_chart_counts_each_bin_and_places_the_cut_off() -> None:
    from ewp.reports.weekly import FLAGGED_COLOUR, OTHER_COLOUR, score_chart

    chart = score_chart([0.001, 0.003, 0.004, 0.3], cutoff=0.3, listed=1)
    assert [bar.count for bar in chart.bars] == ["1", "2", "0", "0", "0", "0", "0", "1", "0"]
    assert [bar.range_label for bar in chart.bars][:2] == ["0–0.002", "0.002–0.005"]
    # Slot 7 (0.2-0.5) of 9 over x = 40..700, log(0.3 / 0.2) / log(0.5 / 0.2) = 0.4425 in:
    # 40 + 7.4425 * 660 / 9 = 585.8.
    assert chart.cutoff_x == "585.8"
    # Only bins wholly at or above the cut-off are drawn in the list's colour (here the empty
    # 0.5-1 bin), not the one it falls in.
    assert [bar.colour for bar in chart.bars] == [OTHER_COLOUR] * 8 + [FLAGGED_COLOUR]
    above = score_chart([0.001, 0.6, 0.7], cutoff=0.5, listed=2)
    assert above.bars[-1].colour == FLAGGED_COLOUR and above.bars[-1].count == "2"
    assert above.description == (
        "3 serving officers scored; the 2 on the list scored 0.500 or more (the cut-off); "
        "half of all officers scored below 0.600."
    )


def test_what_a_score_means_states_the_label_the_hit_rate_and_the_chart() -> None:
    from ewp.reports.weekly import ScoreMeaning

    meaning = ScoreMeaning(
        label="a notice for a serious matter (sexual misconduct), within 12 months",
        list_size=50,
        precision=0.0625,
        rule_description="3 or more notices received in the last 180 days",
        rule_precision=0.0123,
        test_dates=60,
        test_period="2019-01-01 to 2023-12-01",
    )
    inputs = sample_inputs()
    html = render_weekly_report(**inputs, meaning=meaning, scores=[0.01] * 40 + [0.8, 0.75, 0.7])
    section = _section(html, "meaning")
    nobody = render_weekly_report(**inputs, meaning=dataclasses.replace(meaning, precision=0.0))
    assert "), no officer on a list of the top 50 went on to have" in nobody
    assert (
        "In back-testing on 60 monthly lists (2019-01-01 to 2023-12-01), about 6 in 100 officers "
        "on a list of the top 50 went on to have a notice for a serious matter (sexual "
        "misconduct), within 12 months, against about 1 in 100 for the force&#39;s rule (3 or "
        "more notices received in the last 180 days) at the same list size."
    ) in section
    assert section.count("<rect ") == 9 and "cut-off 0.701" in section
    assert '<a href="#meaning">What a score means</a>' in html


def test_a_missing_hit_rate_is_said_and_the_report_still_renders() -> None:
    from ewp.reports.weekly import ScoreMeaning

    meaning = ScoreMeaning(
        label="an allegation proven, within 12 months",
        list_size=50,
        notes=("No back-tested hit rate is given for this list: the model was registered before "
               "ewp recorded it; retrain (ewp train) to add it.",),
    )  # fmt: skip
    section = _section(render_weekly_report(**sample_inputs(), meaning=meaning), "meaning")
    assert "an allegation proven, within 12 months" in section
    assert "In back-testing" not in section and "registered before ewp recorded it" in section
    assert "<svg" not in section  # no scores given: no chart


def test_a_reassuring_reason_carries_its_note_in_the_card() -> None:
    inputs = sample_inputs()
    reasons = inputs["reasons"].assign(note="")
    reasons.loc[4, "sentence"] = "7 earlier notices with no case to answer"
    reasons.loc[4, "note"] = "Notices that ended with no case to answer are not findings."
    html = render_weekly_report(**{**inputs, "reasons": reasons})
    second = OFFICERS[1]
    card = html[html.index(f"{2}. Officer {second}") :]
    card = card[: card.index("</article>")]
    assert (
        '<p class="reason-note">Notices that ended with no case to answer are not findings.</p>'
        in card
    )
    assert html.count('class="reason-note"') == 1  # in that officer's card only


def test_dropped_officers_are_listed_with_why() -> None:
    inputs = sample_inputs()
    changes = inputs["changes"].assign(why="")
    changes.loc[3, "why"] = "left the force on 2026-10-31"
    section = _section(render_weekly_report(**{**inputs, "changes": changes}), "dropped")
    assert "<tr><td>OFF00999</td><td>left the force on 2026-10-31</td></tr>" in section


def test_score_bars_are_on_a_log_scale_so_a_few_officers_still_show() -> None:
    from ewp.reports.weekly import SCORE_CHART_HEIGHT, score_chart

    chart = score_chart([0.015] * 26_851 + [0.6] * 6, cutoff=0.6, listed=6)
    tallest, top = chart.bars[3], chart.bars[8]  # 0.01-0.02 and 0.5-1
    assert (tallest.count, top.count) == ("26,851", "6")
    assert float(tallest.height) == SCORE_CHART_HEIGHT
    # log(1 + 6) / log(1 + 26,851) of the plot's height: 150 * 1.946 / 10.198 = 28.6.
    assert top.height == "28.6"
    assert chart.bars[0].height == "0.0"
