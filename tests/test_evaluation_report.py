"""evaluation.html: built from a small evaluation's tables, escaped, self-contained, and
opened in headless Chromium with its charts (issue 14 item 8)."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ewp.core.config import CandidateConfig, ScoringConfig
from ewp.models.evaluation import (
    by_split,
    evaluate_split,
    pool_evaluations,
    rule_fills,
    select_champion,
    short_rule_lists,
)
from ewp.reports.charts import Axis, Marker, Series, line_chart
from ewp.reports.evaluation import EvaluationTables, render_evaluation_report
from ewp.reports.weekly import MARKING
from tests.test_browser import _console_problems, _headless

HOSTILE = '<script>alert("x")</script>'
HOSTILE_REASON = 'flag rate ratio: ethnicity=<img src=x onerror="alert(1)"> 1.9'
CANDIDATES = [
    CandidateConfig(
        name="rule_3", kind="threshold_rule", params={"feature": "n180", "threshold": 3}
    ),
    CandidateConfig(
        name="ranker", kind="count_ranker", params={"feature": "n365", "tie_breaker": "n180"}
    ),
    CandidateConfig(name="scorecard", kind="scorecard", params={"regularisation_c": 0.1}),
]


def evaluated(name: str = HOSTILE) -> dict[str, object]:
    """The report's inputs from a real (pure) evaluation of 120 officers on four dates in two
    test blocks, the scorecard renamed ``name`` and blocked by a gate quoting a hostile label."""
    rng = np.random.default_rng(3)
    evaluations = []
    for block, days in enumerate((["2020-01-01", "2020-02-01"], ["2021-01-01", "2021-02-01"])):
        frames, labels = [], []
        for day in days:
            n365 = rng.poisson(1.5, 120).astype(float)
            frames.append(
                pd.DataFrame(
                    {
                        "officer_id": [f"O{i:03d}" for i in range(120)],
                        "as_of": pd.Timestamp(day),
                        "unit": "U",
                        "n180": np.minimum(n365, rng.poisson(1.0, 120)),
                        "n365": n365,
                    }
                )
            )
            labels.append((rng.random(120) < 0.05 + 0.08 * n365).astype(int))
        test, y = pd.concat(frames, ignore_index=True), np.concatenate(labels)
        evaluation = evaluate_split(
            train=test,
            train_labels=y,
            train_weights=np.ones(len(y)),
            test=test,
            test_labels=y,
            features=["n180", "n365"],
            candidates=CANDIDATES,
            seed=1,
            sizes=(),
            fractions=(0.01,),
            curve_sizes=(5, 10, 20, 50),
            published=ScoringConfig(top_k=10),
        )
        evaluation.metrics["split"] = f"{2020 + block}-01-01"
        evaluations.append(evaluation)
    pooled = pool_evaluations(evaluations, rules=["rule_3"], samples=200, confidence=0.95, seed=1)
    selection = select_champion(
        pooled.metrics,
        list_name="top_10",
        eligible={c.name: True for c in CANDIDATES},
        gate=lambda c: __import__("ewp.models.evaluation").models.evaluation.GateDecision(
            passed=c != "scorecard", reason=HOSTILE_REASON if c == "scorecard" else ""
        ),
        intervals=pooled.intervals,
    )

    def renamed(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        for column in ("candidate", "rule"):
            if column in out:
                out[column] = out[column].replace("scorecard", name)
        return out

    tables = EvaluationTables(
        selection=renamed(selection.table),
        summary=renamed(pooled.summary),
        headline_by_rule=renamed(pooled.headline_by_rule),
        curve=renamed(pooled.curve([5, 10, 20, 50])),
        by_split=renamed(by_split(pooled.metrics, list_name="top_10")),
        calibration=renamed(pooled.calibration),
        distribution=renamed(pooled.distribution),
        short_rule_lists=short_rule_lists(pooled.metrics, fills=rule_fills(CANDIDATES, seed=1)),
        metrics=renamed(pooled.metrics),
    )
    return {
        "title": "Evaluation of the candidate models: test",
        "provenance": {
            "model_version": "m-1",
            "data_fingerprint": "abc",
            "config_name": "test",
            "extracted_on": "2022-01-01",
        },
        "tables": tables,
        "champion": str(selection.champion),
        "decision": "champion alias moves: there is no champion yet",
        "selection_list": "top_10",
        "published_list": "top_10",
        "headline_rule": "rule_3",
        "rules": ["rule_3"],
        "confidence": 0.95,
        "bootstrap_samples": 200,
    }


@pytest.fixture(scope="module")
def inputs() -> dict[str, object]:
    return evaluated()


def test_the_report_escapes_hostile_names_and_reasons(inputs) -> None:
    html = render_evaluation_report(**inputs)
    assert "<script" not in html and "<img" not in html and 'onerror="' not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    # Marked like the other reports, header and footer.
    assert html.count(f">{MARKING}</") == 2


def test_the_report_is_self_contained_and_never_prints_nan_or_inf(inputs) -> None:
    html = render_evaluation_report(**inputs)
    # No tag fetches anything: no src, no link, no script, only links within the page.
    tags = re.findall(r"<[a-zA-Z][^>]*>", html)
    assert not [t for t in tags if re.search(r"\ssrc=|^<(link|script|img|iframe)", t, re.I)]
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', html))
    assert "url(" not in html and "@import" not in html
    text = re.sub(r"<[^>]+>", " ", html)
    assert not re.search(r"\bnan\b|\binf\b", text, re.IGNORECASE)
    assert html == render_evaluation_report(**inputs)  # same tables, same bytes


def test_the_report_shows_the_selection_curves_and_short_rule_lists(inputs) -> None:
    html = render_evaluation_report(**inputs)
    tables = inputs["tables"]
    assert isinstance(tables, EvaluationTables)
    champion = inputs["champion"]
    assert f"Selected: <strong>{champion}</strong>" in html
    for chart in ("precision-at-k", "recall-at-k", "per-split", "calibration"):
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in html
    # One small precision and recall chart and one distribution per candidate.
    n = len(tables.selection)
    assert html.count('id="precision-small-') == html.count('id="recall-small-') == 2 * n
    assert html.count('id="distribution-') == 2 * n
    # The rule flags fewer than 10 officers on some date: the report says how its list went on.
    assert len(tables.short_rule_lists) and "the officers with the most n180" in html
    # The selected model's pooled precision at the selection list, with its interval.
    row = tables.selection.set_index("candidate").loc[champion]
    shown = f"{row['pooled_precision']:.3f} [{row['precision_low']:.3f}, "
    assert shown in html


def test_charts_escape_text_and_skip_undefined_points() -> None:
    chart = line_chart(
        chart_id="c",
        title="<t>",
        description="d & e",
        series=[Series("<a>", [(10, 0.1), (20, float("nan")), (0, 0.3)])],
        x_axis=Axis("k", log=True),
        y_axis=Axis("p", low=0.0),
    )
    assert "<t>" not in chart and "&lt;t&gt;" in chart and "d &amp; e" in chart
    assert chart.count("<circle") == 1  # NaN and a 0 on a log axis are not drawn


def test_chromium_opens_the_report_offline_with_its_charts(inputs, tmp_path: Path) -> None:
    page = tmp_path / "evaluation.html"
    page.write_text(render_evaluation_report(**inputs), encoding="utf-8")
    result = _headless(page, profile=tmp_path / "profile", action=["--dump-dom"])
    dom = result.stdout
    assert dom.count("<svg") >= 4 + 3 * len(inputs["tables"].selection)
    assert "<path" in dom and "<circle" in dom and "<rect" in dom
    assert _console_problems(result.stderr) == []
    shot = tmp_path / "shot.png"
    result = _headless(
        page,
        profile=tmp_path / "profile-2",
        action=[f"--screenshot={shot}", "--window-size=1280,2000"],
    )
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1280, 2000)
    assert _console_problems(result.stderr) == []


def test_marker_labels_stay_inside_the_chart_and_off_range_markers_are_left_out() -> None:
    chart = line_chart(
        chart_id="m",
        title="t",
        description="d",
        series=[Series("a", [(10, 0.1), (700, 0.05)])],
        x_axis=Axis("k", log=True),
        y_axis=Axis("p", low=0.0),
        markers=[Marker(998, "a long label near the right edge"), Marker(0.5, "far below")],
    )
    assert 'width="720"' in chart  # the chart keeps its size
    assert 'text-anchor="end">a long label near the right edge</text>' in chart
    assert "far below" not in chart  # the axis spans the series: 10 to 1,000
    assert ">1,000</text>" in chart
