"""A registered champion is re-evaluated as itself: its spec records kind, params, feature set
and the feature list, and ``with_current_champion`` finds it by what it is (issue 14, point 2)."""

from __future__ import annotations

import json

import pytest

from ewp.core.config import CandidateConfig
from ewp.flows.train import CURRENT_CHAMPION, candidate_spec, with_current_champion
from ewp.models.evaluation import candidate_features
from ewp.stores.tracking import ChampionInfo

FEATURES = ["notices_365d", "notices_all", "findings_case_to_answer_all", "tenure_days"]
SETS = {"decided": ("findings_case_to_answer_all", "tenure_days")}
SCORECARD = CandidateConfig(name="scorecard", kind="scorecard", params={"regularisation_c": 0.1})
DECIDED = CandidateConfig(
    name="scorecard_decided",
    kind="scorecard",
    params={"regularisation_c": 0.1},
    feature_set="decided",
)
RULE = CandidateConfig(
    name="rule", kind="threshold_rule", params={"feature": "notices_365d", "threshold": 3}
)


def _champion(spec: str) -> ChampionInfo:
    return ChampionInfo(
        version="4", run_id="r", model_uri="models:/m", tags={"candidate_spec": spec}
    )


def test_the_spec_records_kind_params_feature_set_and_features() -> None:
    spec = json.loads(candidate_spec(DECIDED, features=list(SETS["decided"])))
    assert spec == {
        "kind": "scorecard",
        "params": {"regularisation_c": 0.1},
        "feature_set": "decided",
        "features": ["findings_case_to_answer_all", "tenure_days"],
    }


def test_a_feature_set_champion_is_itself_not_the_all_features_twin() -> None:
    champion = _champion(candidate_spec(DECIDED, features=list(SETS["decided"])))
    grid = with_current_champion(
        (RULE, SCORECARD, DECIDED), champion, features=FEATURES, feature_sets=SETS
    )
    assert grid.name == "scorecard_decided"
    assert grid.candidates == (RULE, SCORECARD, DECIDED) and not grid.note


def test_a_champion_the_grid_no_longer_has_is_evaluated_on_its_own_features() -> None:
    champion = _champion(candidate_spec(DECIDED, features=list(SETS["decided"])))
    # The grid dropped the subset candidate and the config renamed its feature sets.
    grid = with_current_champion(
        (RULE, SCORECARD), champion, features=FEATURES, feature_sets={"other": ("notices_all",)}
    )
    assert grid.name == CURRENT_CHAMPION
    extra = grid.candidates[-1]
    assert (extra.name, extra.kind, extra.params) == (
        CURRENT_CHAMPION,
        "scorecard",
        {"regularisation_c": 0.1},
    )
    assert grid.candidates[:-1] == (RULE, SCORECARD)
    own = candidate_features(extra, features=FEATURES, feature_sets=grid.feature_sets)
    assert own == ["findings_case_to_answer_all", "tenure_days"]
    assert grid.feature_sets["other"] == ("notices_all",)


def test_the_same_feature_list_under_another_set_name_is_the_same_model() -> None:
    champion = _champion(candidate_spec(DECIDED, features=list(SETS["decided"])))
    renamed = DECIDED.model_copy(update={"name": "decided_v2", "feature_set": "renamed"})
    grid = with_current_champion(
        (SCORECARD, renamed),
        champion,
        features=FEATURES,
        feature_sets={"renamed": SETS["decided"]},
    )
    assert grid.name == "decided_v2" and len(grid.candidates) == 2


def test_an_all_features_champion_matches_all_features_only() -> None:
    champion = _champion(candidate_spec(SCORECARD, features=FEATURES))
    grid = with_current_champion(
        (DECIDED, SCORECARD), champion, features=FEATURES, feature_sets=SETS
    )
    assert grid.name == "scorecard"
    # With a new feature in the config, the champion (trained without it) is not "all" now.
    grid = with_current_champion(
        (DECIDED, SCORECARD), champion, features=[*FEATURES, "open_cases"], feature_sets=SETS
    )
    assert grid.name == CURRENT_CHAMPION
    assert grid.candidates[-1].feature_set == CURRENT_CHAMPION
    assert grid.feature_sets[CURRENT_CHAMPION] == tuple(FEATURES)


def test_a_spec_registered_before_feature_lists_matches_by_feature_set_name() -> None:
    old = json.dumps({"kind": "scorecard", "params": {"regularisation_c": 0.1}}, sort_keys=True)
    grid = with_current_champion(
        (DECIDED, SCORECARD), _champion(old), features=FEATURES, feature_sets=SETS
    )
    assert grid.name == "scorecard"


@pytest.mark.parametrize("tags", [{}, None])
def test_no_champion_or_no_spec_leaves_the_grid(tags: dict | None) -> None:
    champion = None if tags is None else ChampionInfo("1", "r", "models:/m", tags)
    grid = with_current_champion((RULE,), champion, features=FEATURES, feature_sets=SETS)
    assert grid.candidates == (RULE,) and grid.name is None and not grid.note


def test_a_champion_reading_features_no_longer_built_cannot_be_re_evaluated() -> None:
    champion = _champion(candidate_spec(DECIDED, features=["gone_feature", "tenure_days"]))
    grid = with_current_champion((RULE, SCORECARD), champion, features=FEATURES, feature_sets=SETS)
    assert grid.name is None and grid.candidates == (RULE, SCORECARD)
    assert "version 4" in grid.note and "gone_feature" in grid.note
