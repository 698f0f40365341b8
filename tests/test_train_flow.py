"""The train flow end to end on a small synthetic force: evaluation, selection, registry."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tests.conftest import SMALL_TRAIN


@pytest.fixture(scope="module")
def trained(small_trained):
    return small_trained.home, small_trained.first, small_trained.second


def test_every_candidate_is_evaluated_on_every_month_of_each_block(trained) -> None:
    _, first, _ = trained
    metrics = first.metrics
    months = sorted(metrics["test_as_of"].dt.date.unique())
    assert months == [dt.date(y, m, 1) for y in (2018, 2019) for m in range(1, 13)]
    names = set(metrics["candidate"])
    assert {"rule_3_in_180d", "count_ranker", "scorecard", "hgb_yardstick"} <= names
    # The synthetic force's ground truth, and its estimate from the history, as references.
    assert {"oracle_ground_truth", "ceiling_from_history"} <= names
    selection = first.selection.set_index("candidate")
    assert not selection.loc[["oracle_ground_truth", "ceiling_from_history"], "eligible"].any()
    lists = set(metrics["list"])
    # The configured sizes, the rule's volume and the published top 50 (scoring.top_k).
    assert {"top_20", "top_1pct", "volume_rule_3_in_180d", "top_50"} == lists
    # At its own volume the rule's list is exactly its flags: no ties straddle the cut-off.
    rule = metrics.loc[
        (metrics["candidate"] == "rule_3_in_180d") & (metrics["list"] == "volume_rule_3_in_180d")
    ]
    assert (rule["tp_worst"] == rule["tp_best"]).all()


def test_headline_compares_everyone_with_the_rule_at_its_volume(trained) -> None:
    _, first, _ = trained
    table = first.headline.set_index("candidate")
    rule = table.loc["rule_3_in_180d"]
    assert (table["k"] == rule["k"]).all()  # equal flag volume
    assert (table["tp"] + table["fp"]).round(6).eq(rule["k"]).all()
    if rule["tp"] > 0:
        assert rule["tp_ratio"] == pytest.approx(1.0)
    else:  # the rule found nobody: a ratio to it is undefined, not infinite
        assert table["tp_ratio"].isna().all()


def test_black_box_is_never_selected_and_champion_is_registered(trained) -> None:
    _, first, _ = trained
    assert first.champion in {"rule_3_in_180d", "count_ranker", "scorecard"}
    selection = first.selection.set_index("candidate")
    assert not selection.loc["hgb_yardstick", "eligible"]
    assert first.version == "1" and first.promoted
    assert (first.run_dir / "model_card.md").read_text().count(first.model_id) >= 1


def test_rerun_keeps_the_champion_and_registers_nothing_new(trained) -> None:
    from ewp.stores.tracking import tracker_for

    home, first, second = trained
    assert second.model_id == first.model_id
    assert not second.promoted and "already the champion" in second.promotion_reason
    versions = tracker_for(SMALL_TRAIN, home).list_versions()
    assert versions["version"].tolist() == ["1"]
    assert versions["is_champion"].tolist() == [True]
    # Same data and config: the same evaluation, number for number.
    assert first.summary.equals(second.summary)


def test_selected_model_is_audited_on_every_test_block(trained) -> None:
    _, first, _ = trained
    by_split = pd.read_csv(first.run_dir / "audit_by_split.csv")
    assert sorted(by_split["split"].unique()) == ["2018-01-01", "2019-01-01"]
    assert {"flag_rate", "false_positive_rate", "recall"} <= set(by_split["metric"])
    tradeoff = pd.read_csv(first.run_dir / "audit_tradeoff.csv")
    assert {"scorecard", "count_ranker", "hgb_yardstick"} <= set(tradeoff["candidate"])
    assert (first.run_dir / "audit.html").exists()


def test_evaluate_prints_the_champions_share_of_the_ceiling_and_the_oracle(trained) -> None:
    from ewp.cli import commands as cli

    _, first, _ = trained
    precision = first.selection.set_index("candidate")["mean_precision"]
    with cli.console.capture() as captured:
        cli._print_evaluation(first, SMALL_TRAIN)
    text = " ".join(captured.get().split())
    for reference in ("ceiling_from_history", "oracle_ground_truth"):
        share = precision[first.champion] / precision[reference]
        assert f"{first.champion} reaches {share:.2f} of {reference}'s" in text


def test_selection_is_at_the_published_list_with_a_curve_around_it(trained) -> None:
    """Issue 16 item 2: selected at the list scoring publishes (top 50), with the top 1% and
    the rule's volume beside it, and a precision-at-k curve with intervals per candidate."""
    _, first, _ = trained
    assert SMALL_TRAIN.selection_list() == "top_50"
    selection = first.selection.set_index("candidate")
    at_50 = first.metrics.loc[first.metrics["list"] == "top_50"]
    mean = at_50.groupby("candidate")["precision"].mean()
    assert selection["mean_precision"].to_dict() == pytest.approx(mean.to_dict())
    assert (selection["precision_low"] <= selection["pooled_precision"] + 1e-12).all()
    assert (selection["pooled_precision"] <= selection["precision_high"] + 1e-12).all()
    curve = pd.read_csv(first.run_dir / "precision_at_k.csv")
    assert list(curve.columns[:7]) == [
        "candidate",
        "k",
        "places",
        "tp",
        "fp",
        "precision",
        "precision_low",
    ]
    assert {20, 50} <= set(curve["k"]) and set(curve["candidate"]) == set(selection.index)
    # The curve at 50 is the selection list, pooled (the CSV holds six decimals).
    at_k_50 = curve.loc[curve["k"] == 50].set_index("candidate")["precision"]
    assert at_k_50.to_dict() == pytest.approx(selection["pooled_precision"].to_dict(), abs=1e-6)
    assert (curve["precision_low"] <= curve["precision"] + 1e-9).all()
    assert (curve["precision"] <= curve["precision_high"] + 1e-9).all()
    assert first.precision_curve is not None
    # evaluation.html beside the tables, marked, naming the selection (issue 14 item 8).
    html = (first.run_dir / "evaluation.html").read_text()
    assert first.evaluation_report == first.run_dir / "evaluation.html"
    assert f"Selected: <strong>{first.champion}</strong>" in html and "<code>top_50</code>" in html
    assert html.count("OFFICIAL-SENSITIVE</") == 2


def test_evaluate_prints_the_selection_with_intervals_curve_and_report(trained) -> None:
    from ewp.cli import commands as cli

    _, first, _ = trained
    with cli.console.capture() as captured:
        cli._print_evaluation(first, SMALL_TRAIN)
    text = " ".join(captured.get().split())
    assert "Selection on mean top_50 precision over test dates (the list scoring publishes" in text
    row = first.selection.set_index("candidate").loc[first.champion]
    assert f"{row['pooled_precision']:.3f} [{row['precision_low']:.3f}," in text
    assert f"Precision at k of {first.champion} (95% interval): 10: " in text
    assert "Ties at a list's cut-off share its places" in text
    path = first.run_dir / "evaluation.html"  # long paths wrap: compare without spaces
    assert f"Evaluationreport:{path}" in text.replace(" ", "")
    assert "nan" not in text.lower().split()


def test_the_gate_compares_with_the_rule_and_its_findings_are_recorded_everywhere(
    trained,
) -> None:
    from ewp.stores.tracking import tracker_for

    home, first, _ = trained
    selection = first.selection.set_index("candidate")
    # The relative gate: the force's rule passes its own gate, so there is always a champion.
    assert selection.loc["rule_3_in_180d", "gate_passed"] and first.champion is not None
    comparison = pd.read_csv(first.run_dir / "audit_comparison.csv")
    rule = comparison.loc[comparison["candidate"] == "rule_3_in_180d"]
    assert len(rule) > 0 and (rule["excess"] == 0).all()
    assert set(comparison["metric"]) == set(SMALL_TRAIN.fairness.gate_metrics)
    assert (first.run_dir / "audit_breaches.csv").exists()
    findings = first.fairness_findings
    assert findings[0].startswith(
        "The fairness gate compared every candidate with the force's current rule, rule_3_in_180d"
    )
    # The same words in the audit page, the model card and the promotion record.
    html = (first.run_dir / "audit.html").read_text()
    assert '<section id="gate">' in html
    card = (first.run_dir / "model_card.md").read_text()
    assert "## Groups outside the fairness band, the current rule included" in card
    for line in findings:
        assert f"- {line}" in card
    champion = tracker_for(SMALL_TRAIN, home).champion()
    assert champion is not None
    assert champion.tags["fairness_findings"].split("\n") == list(findings)
    assert champion.tags["fairness_gate"] == selection.loc[first.champion, "gate_reason"]


def test_a_test_block_is_scored_in_parts_of_consecutive_dates() -> None:
    from ewp.flows.train import block_parts

    dates = [dt.date(2020, month, 1) for month in range(1, 6)]
    assert block_parts(dates, 2) == [tuple(dates[:3]), tuple(dates[3:])]
    assert block_parts(dates, 1) == [tuple(dates)]
    # Never an empty part: one date in two parts is one part.
    assert block_parts(dates[:1], 2) == [(dates[0],)]
    assert block_parts(dates, 5) == [(date,) for date in dates]


def test_a_scored_part_keeps_what_the_audit_reads_of_its_rows() -> None:
    # score_split keeps the counts the audit reads of each date's rows as they are scored: its
    # audit input equals the one built from the same columns read again, on three dates.
    from ewp.core.contract import ForceData
    from ewp.data.synthetic import generate_force
    from ewp.features.labelled import LabelledDates
    from ewp.flows.audit import audit_rows
    from ewp.flows.train import (
        AUDIT_COLUMNS,
        evaluation_splits,
        fit_split,
        index_matrix,
        score_split,
    )

    config = SMALL_TRAIN.model_copy(
        update={
            "evaluation": SMALL_TRAIN.evaluation.model_copy(
                update={"candidates": SMALL_TRAIN.evaluation.candidates[:3]}
            )
        }
    )
    force = generate_force(
        officers=400, start_year=2014, end_year=2021, seed=3, reporting_bias={"Black": 0.8}
    )
    data = ForceData(officers=force.officers, notices=force.notices, outcomes=force.outcomes)
    matrix = index_matrix.fn(data=data, config=config)
    split = evaluation_splits(config)[0]
    fitted = fit_split.fn(
        data=data,
        matrix=matrix,
        split=split,
        config=config,
        candidates=config.evaluation.candidates,
        feature_sets={},
    )
    dates = tuple(split.test_block[3:6])
    result = score_split.fn(
        data=data,
        matrix=matrix,
        split=split,
        dates=dates,
        fitted=fitted,
        config=config,
        extracted_on=force.extracted_on,
        ground_truth=None,
    )
    test = LabelledDates.read(
        data, matrix, dates, label=config.label, observed_until=force.extracted_on
    )
    lists = result.evaluation.lists
    again = audit_rows(
        data=data,
        rows=test.columns(AUDIT_COLUMNS),
        labels=pd.Series(test.labels),
        lists=lists.loc[lists["list"] == config.selection_list()],
        config=config,
    )
    assert len(test.ids) > 0 and sorted(result.audit.flagged) == sorted(again.flagged)
    pd.testing.assert_frame_equal(result.audit.frame, again.frame)
    for name, flags in again.flagged.items():
        assert result.audit.flagged[name].tolist() == flags.tolist()


def test_a_config_with_another_label_in_the_same_store_never_takes_or_serves_the_champion(
    trained, tmp_path
) -> None:
    """A second config with another label trained in the first one's store (a copy of it)
    registers its own version but neither compares with nor displaces the first config's
    champion; scoring it with that champion is refused, naming both labels."""
    import shutil

    from ewp.core.config import LabelConfig
    from ewp.flows.score import load_champion
    from ewp.flows.train import run_train
    from ewp.stores.tracking import ChampionForOtherLabelError, tracker_for

    home, first, _ = trained
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    other = SMALL_TRAIN.model_copy(
        update={"name": "small-train-6m", "label": LabelConfig(horizon_days=180)}
    )
    result = run_train(other, copy)
    assert not result.promoted
    assert "was trained under config 'small-train' for the label" in result.promotion_reason
    assert "not compared with this run's candidates" in result.promotion_reason
    tracker = tracker_for(other, copy)
    versions = tracker.list_versions().set_index("version")
    assert versions["is_champion"].to_dict() == {"1": True, "2": False}
    with pytest.raises(ChampionForOtherLabelError, match="store: in the config"):
        load_champion.fn(tracker, config=other)
    _, version, _ = load_champion.fn(tracker, config=SMALL_TRAIN)
    assert version == f"{first.model_id} (v1)"
