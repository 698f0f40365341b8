"""``ewp train`` + ``ewp score`` with a champion trained on a feature subset, end to end.

The champion is the case-to-answer scorecard (8 of 25 features, in the default config's subset).
Its weekly report, opened in headless Chromium, must show for every officer the reasons their
own records support (issue 14, point 1), and a retrain whose grid no longer holds that
candidate must re-evaluate the champion as itself, on its own features (point 2).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
from pathlib import Path

import pandas as pd
import pytest

from ewp.core.config import (
    CandidateConfig,
    Config,
    EvaluationConfig,
    FairnessConfig,
    ScoringConfig,
    SyntheticConfig,
    TrainingConfig,
)
from ewp.features.registry import feature_specs, render_reason
from tests.history_oracle import recompute

# A rule that fires on a small force (one that flags nobody is another issue's case).
RULE = CandidateConfig(
    name="rule_2_in_365d", kind="threshold_rule", params={"feature": "notices_365d", "threshold": 2}
)
SUBSET_SCORECARD = CandidateConfig(
    name="scorecard_case_to_answer",
    kind="scorecard",
    params={"regularisation_c": 0.1},
    feature_set="case_to_answer_only",
)
FULL_SCORECARD = CandidateConfig(
    name="scorecard", kind="scorecard", params={"regularisation_c": 0.1}
)
# A small force, one test block, no fairness gate (this test is about reasons, not fairness).
CONFIG = Config(
    name="subset-champion",
    synthetic=SyntheticConfig(officers=2000, start_year=2015, end_year=2021),
    training=TrainingConfig(as_of_start=dt.date(2016, 1, 1)),
    evaluation=EvaluationConfig(
        test_dates=(dt.date(2019, 1, 1),),
        test_block_days=365,
        training_history_days=730,
        negative_sample_rate=0.5,
        list_sizes=(20,),
        candidates=(RULE, SUBSET_SCORECARD),
        headline_rule="rule_2_in_365d",
        bootstrap_samples=50,
    ),
    fairness=FairnessConfig(gate_metrics=(), bootstrap_samples=50),
    scoring=ScoringConfig(top_k=20),
)
RETRAIN = CONFIG.model_copy(
    update={
        "evaluation": CONFIG.evaluation.model_copy(
            update={"candidates": (RULE, FULL_SCORECARD), "feature_sets": {}}
        )
    }
)


@dataclasses.dataclass(frozen=True)
class Run:
    home: Path
    first: object
    champion_tags: dict[str, str]
    champion_features: list[str]
    champion_description: str
    model_card: str  # the first run's: the retrain writes its own into the same folder
    published: object
    retrain: object


def _hold_back_the_rule(name: str):
    from ewp.models.evaluation import GateDecision

    if name == RULE.name:
        return GateDecision(passed=False, reason="held back by the test: the subset model serves")
    return GateDecision(passed=True)


@pytest.fixture(scope="module")
def run(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Run:
    from ewp.flows.score import score_flow
    from ewp.flows.train import run_train
    from ewp.stores.tracking import tracker_for

    home = tmp_path_factory.mktemp("subset-home")
    # The gate hook holds the rule back, so the subset scorecard is the champion to score with.
    first = run_train(CONFIG, home, gate=_hold_back_the_rule)
    tracker = tracker_for(CONFIG, home)
    champion = tracker.champion()
    champion_tags = champion.tags
    description = tracker.client.get_model_version(
        tracker.registered_model, champion.version
    ).description
    champion_features = [str(f) for f in tracker.load_champion().feature_names_in_]
    model_card = (first.run_dir / "model_card.md").read_text()
    published = score_flow(CONFIG, home)
    return Run(
        home=home,
        first=first,
        champion_tags=champion_tags,
        champion_features=champion_features,
        champion_description=description,
        model_card=model_card,
        published=published,
        retrain=run_train(RETRAIN, home),
    )


def _force(home: Path):
    from ewp.flows.common import prepare_export, validate

    return validate.fn(prepare_export.fn(CONFIG, home), CONFIG).data


def test_the_champion_is_registered_with_its_feature_list(run: Run) -> None:
    assert run.first.champion == "scorecard_case_to_answer" and run.first.promoted
    spec = json.loads(run.champion_tags["candidate_spec"])
    subset = list(CONFIG.evaluation.feature_sets["case_to_answer_only"])
    assert spec == {
        "kind": "scorecard",
        "params": {"regularisation_c": 0.1},
        "feature_set": "case_to_answer_only",
        "features": subset,
    }
    assert run.champion_features == subset


def test_a_retrain_without_the_candidate_re_evaluates_the_champion_as_itself(run: Run) -> None:
    from ewp.flows.train import CURRENT_CHAMPION

    first = run.first.selection.set_index("candidate")["mean_precision"]
    again = run.retrain.selection.set_index("candidate")["mean_precision"]
    # Same data, seed and features: the champion's evaluation is repeated number for number.
    assert again[CURRENT_CHAMPION] == first["scorecard_case_to_answer"]
    assert set(again.index) >= {"rule_2_in_365d", "scorecard", CURRENT_CHAMPION}


def test_the_report_in_a_browser_shows_each_officers_own_values(run: Run, tmp_path: Path) -> None:
    from tests.test_browser import _console_problems, _headless

    report = run.published.report
    result = _headless(report, profile=tmp_path / "profile", action=["--dump-dom"])
    assert _console_problems(result.stderr) == []
    dom = result.stdout
    data = _force(run.home)
    as_of = dt.date.fromisoformat(run.published.run_dir.name.removeprefix("weekly-"))
    reasons = pd.read_csv(run.published.run_dir / "reasons.csv", dtype={"officer_id": str})
    flags = pd.read_csv(run.published.flags_csv, dtype={"officer_id": str})
    subset = set(CONFIG.evaluation.feature_sets["case_to_answer_only"])
    assert len(reasons) >= len(flags) and set(reasons["feature"]) <= subset
    specs = {spec.name: spec for spec in feature_specs(CONFIG.features)}
    for flag, officer in zip(flags["flag_id"], flags["officer_id"], strict=True):
        start = dom.index(f'<article class="card" id="flag-{flag}"')
        card = html.unescape(dom[start : dom.index("</article>", start)])
        for feature in reasons.loc[reasons["officer_id"] == officer, "feature"]:
            expected = recompute(data, officer, as_of, feature, CONFIG.features)
            assert f"<li>{render_reason(specs[feature], expected)}" in card, (officer, feature)


def test_the_report_says_what_a_score_means_from_the_registered_evaluation(run: Run) -> None:
    from ewp.features.explanations import label_in_words, rate_in_words

    summary = run.first.summary.set_index(["candidate", "list"])
    own = summary.loc[("scorecard_case_to_answer", "top_20"), "precision"]
    rule = summary.loc[("rule_2_in_365d", "top_20"), "precision"]
    tags = run.champion_tags
    assert tags["weekly_list"] == "top_20" and tags["label"] == label_in_words(CONFIG.label)
    assert float(tags["weekly_list.precision"]) == pytest.approx(own, abs=1e-6)
    html_text = html.unescape(run.published.report.read_text())
    assert (
        "In back-testing on 12 monthly lists (2019-01-01 to 2019-12-01), "
        f"{'no officer' if own == 0 else rate_in_words(own) + ' officers'} on a list of the "
        "top 20 went on to have "
        f"{label_in_words(CONFIG.label)}, against {rate_in_words(rule)} for the force's rule "
        "(2 or more notices received in the last 12 months) at the same list size."
    ) in html_text
    assert "cut-off" in html_text


def test_the_model_card_and_the_registry_describe_the_champion_itself(run: Run) -> None:
    card = run.model_card
    features = card[card.index("## Features") : card.index("## Performance")]
    subset = CONFIG.evaluation.feature_sets["case_to_answer_only"]
    rows = [line for line in features.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(subset)
    assert "log-odds points per standard deviation" in features
    assert run.champion_description.startswith(
        "scorecard_case_to_answer (scorecard; feature set case_to_answer_only: 8 features). "
        "Trained on as-of dates "
    )
    assert run.champion_description.endswith(
        "A flag is a prompt for a human review, never a finding."
    )
