"""Config loading: the YAML default matches the embedded one, and errors name the field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from ewp.core.config import Config, ConfigError, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_default_yaml_is_the_embedded_default() -> None:
    assert load_config(CONFIGS / "default.yaml") == Config()
    # Every top-level setting is written out, the config version included.
    written = yaml.safe_load((CONFIGS / "default.yaml").read_text(encoding="utf-8"))
    assert list(written) == list(Config.model_fields)
    assert load_config(None) == Config()


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    assert isinstance(load_config(path), Config)


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("label:\n  horizon_day: 365\n", "label.horizon_day: unknown key (expected one of: "),
        ("label:\n  horizon_days: 0\n", "label.horizon_days: Input should be greater than 0"),
        ("training:\n  as_of_start: 2016-13-01\n", "training.as_of_start"),
        ("taxonomy:\n  Rudeness: rude\n", "'Rudeness' maps to 'rude'"),
        ("synthetic:\n  start_year: 2020\n  end_year: 2010\n", "end_year (2010) is before"),
        ("label:\n  serious_categories: [violence]\n", "unknown categories ['violence']"),
        ("- a\n- b\n", "expected a mapping"),
        ("fairness:\n  gate_baseline: rule_x\n", "fairness: gate_baseline was replaced by gate"),
        ("fairness:\n  gate: lenient\n", "fairness.gate: Input should be 'relative_to_rule' or"),
        (
            "fairness:\n  attributes: [ethnicity]\n  reference_groups: {gender: Male}\n",
            "fairness: reference_groups: ['gender'] not in attributes",
        ),
        (
            "fairness:\n  rolling_weeks: 3\n",
            "fairness: rolling_min_weeks (4) is more than rolling_weeks (3)",
        ),
    ],
)
def test_bad_config_names_file_and_field(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_config_is_frozen() -> None:
    with pytest.raises(Exception, match="frozen"):
        Config().name = "changed"  # type: ignore[misc]


# --- every error names the field and what was expected ---------------------------------------

LABEL_KEYS = "counts, gross_misconduct, horizon_days, proven_finding, serious_categories"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "evaluation:\n  candidates:\n    - {name: x, kind: scorecard, parms: {}}\n",
            "evaluation.candidates[0].parms: unknown key "
            "(expected one of: feature_set, kind, name, params)",
        ),
        (
            "training:\n  as_of_start: 01/02/2016\n",
            'training.as_of_start: "01/02/2016" is not a date (invalid character in year); '
            "expected YYYY-MM-DD",
        ),
        (
            "evaluation:\n  test_dates: [2019-01-01, 2020-1-1]\n",
            'evaluation.test_dates[1]: "2020-1-1" is not a date (input is too short); '
            "expected YYYY-MM-DD",
        ),
        (
            "evaluation:\n  test_dates: [2020-01-01, 2019-01-01]\n",
            "evaluation.test_dates: 2019-01-01 follows 2020-01-01; expected dates in increasing "
            "order, no repeats",
        ),
        ("evaluation:\n  test_dates: []\n", "evaluation.test_dates: expected at least one"),
        (
            "evaluation:\n  test_block_days: -30\n",
            "evaluation.test_block_days: Input should be greater than 0 (got -30)",
        ),
        (
            "evaluation:\n  training_history_days: 20\n",
            "evaluation.training_history_days: 20 days is shorter than one monthly step of "
            "training.cadence; expected at least 31, or null",
        ),
        (
            # The first monthly as-of date is 2016-01-01; a model tested on a date needs its
            # last training date (and so 2016-01-01) one 365-day horizon before it.
            "evaluation:\n  test_dates: [2016-06-01, 2017-01-01]\n",
            "evaluation.test_dates: 2016-06-01 leaves no training as-of date: a model tested "
            "then trains on monthly as-of dates from training.as_of_start (2016-01-01) to "
            "label.horizon_days (365) before the test date; expected test dates on or after "
            "2016-12-31",
        ),
        (
            # 2016-01-15 rounds up to 2016-02-01, the first monthly as-of date.
            "training:\n  as_of_start: 2016-01-15\nevaluation:\n  test_dates: [2017-01-01]\n",
            "expected test dates on or after 2017-01-31",
        ),
        (
            # The last test block of 2023-01-01 runs to 2023-12-01, whose label needs 365 days.
            "data:\n  extracted_on: 2024-06-30\n",
            "evaluation.test_dates: the last test as-of date, 2023-12-01, needs labels until "
            "2024-11-30, after data.extracted_on (2024-06-30); expected test dates and test "
            "blocks ending by 2023-07-01",
        ),
        (
            "data:\n  extracted_on: 2025-01-01\nscoring:\n  as_of: 2025-01-06\n",
            "scoring.as_of (2025-01-06) is after data.extracted_on (2025-01-01); expected a date "
            "on or before the export date",
        ),
        (
            "training:\n  regularisation_c: 0.1\n",
            "training.regularisation_c: unknown key (expected one of: as_of_start, cadence)",
        ),
        ("store: ../elsewhere\n", "store: String should match pattern"),
        ("training:\n  cadence: daily\n", "training.cadence: Input should be 'monthly' or "),
        (
            "evaluation:\n  candidates:\n    - {name: x, kind: random_forest}\n",
            "evaluation.candidates[0].kind: Input should be 'threshold_rule', 'peer_rule', "
            "'count_ranker', 'scorecard', 'ebm' or 'hist_gradient_boosting' (got 'random_forest')",
        ),
        (
            "fairness:\n  gate_metrics: [flag_rate, false_positive_rat]\n",
            "fairness.gate_metrics[1]: Input should be 'flag_rate', 'share_of_flags', "
            "'precision', 'false_positive_rate', 'false_negative_rate' or 'recall' "
            "(got 'false_positive_rat')",
        ),
        (
            "config_version: 0\n",
            "config_version: the file is written for config version 0, and this ewp reads "
            "version 1; see docs/config-checks.md for what changed between versions, update the "
            "file, then set config_version: 1",
        ),
        (
            "evaluation:\n  selection_list: top_100\n",
            "evaluation.selection_list: 'top_100' is not a list the evaluation takes; expected "
            "one of ['top_50', 'top_1pct', 'volume_rule_3_in_180d', "
            "'volume_rule_3_notices_in_180d', 'volume_rule_3_in_365d', 'volume_peer_top_5pct'], "
            "or null for the list scoring publishes (top_50)",
        ),
    ],
)
def test_config_errors_name_the_field_and_what_was_expected(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_a_window_that_just_fits_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    # The earliest possible test date (2016-01-01 + 365 days), and the last test block's label
    # (2023-12-01 + 365 days) ending on the export date itself.
    path.write_text(
        "data:\n  extracted_on: 2024-11-30\n"
        "evaluation:\n  test_dates: [2016-12-31, 2020-01-01, 2023-01-01]\n"
    )
    config = load_config(path)
    assert config.evaluation.test_dates[0] == dt.date(2016, 12, 31)


COMMANDS = [
    ["demo"],
    ["train"],
    ["evaluate"],
    ["score"],
    ["validate"],
    ["audit", "RUN"],
    ["serve"],
    ["models", "list"],
    ["models", "promote", "1", "--reason", "because", "--by", "DS Khan"],
    ["review", "trail"],
    ["review", "decide", "F1", "--decision", "no_action", "--by", "DS Khan"],
    ["review", "import", "decisions.csv"],
    ["users", "list"],
    ["web"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_command_validates_its_config_before_any_work(
    tmp_path: Path, command: list[str]
) -> None:
    from typer.testing import CliRunner

    from ewp.cli.commands import app

    path = tmp_path / "bad.yaml"
    path.write_text("label:\n  horizon_day: 365\n")
    home = tmp_path / "home"
    result = CliRunner().invoke(app, [*command, "-c", str(path)], env={"EWP_HOME": str(home)})
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"Config error: {path}: label.horizon_day: unknown key (expected one of: {LABEL_KEYS})"
    ]
    assert not home.exists()  # nothing started: no data home, no Prefect, no MLflow store


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            ["score", "--as-of", "2021-13-01"],
            'Bad option: --as-of: "2021-13-01" is not a date (expected YYYY-MM-DD): month must '
            "be in 1..12",
        ),
        (
            ["review", "decide", "F1", "--decision", "no_action", "--by", "X", "--on", "1/2"],
            'Bad option: --on: "1/2" is not a date (expected YYYY-MM-DD): Invalid isoformat '
            "string: '1/2'",
        ),
    ],
)
def test_a_bad_date_option_is_named(tmp_path: Path, command: list[str], expected: str) -> None:
    from typer.testing import CliRunner

    from ewp.cli.commands import app

    home = tmp_path / "home"
    result = CliRunner().invoke(app, command, env={"EWP_HOME": str(home)})
    assert result.exit_code == 2
    assert result.output.splitlines() == [expected]
    assert not home.exists()


@pytest.mark.parametrize(
    ("yaml_text", "where"),
    [
        ("label:\n  horizon_days: [365\n", "line 3, column 1: not valid YAML (expected ',' or ']'"),
        ("label:\n horizon_days: 365\n  gross_misconduct: true\n", "line 3, column 19"),
        ("name: 'unterminated\n", "line 2, column 1: not valid YAML (found unexpected end"),
        ("name: x\n? [a, b]\n: 1\n", "line 2, column 3: not valid YAML (found unhashable key"),
    ],
)
def test_a_yaml_syntax_error_is_one_line_naming_file_and_line(
    tmp_path: Path, yaml_text: str, where: str
) -> None:
    from typer.testing import CliRunner

    from ewp.cli.commands import app

    path = tmp_path / "broken.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path} {where}")
    result = CliRunner().invoke(app, ["train", "-c", str(path)], env={"COLUMNS": "60"})
    assert result.exit_code == 2
    assert result.output.splitlines() == [f"Config error: {caught.value}"]


def test_a_key_written_twice_in_a_section_is_refused_with_both_lines(tmp_path: Path) -> None:
    """Plain YAML keeps the second of two equal keys without a word: the first (here the
    force's choice to leave age out of the gate) would be silently ignored."""
    path = tmp_path / "twice.yaml"
    path.write_text(
        "fairness:\n  gate_attributes: [ethnicity, gender]\n  band: [0.8, 1.25]\n"
        "  gate_attributes: null\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path} line 4, column 3: not valid YAML (key 'gate_attributes' appears twice in one "
        "section (lines 2 and 4); YAML would keep only the second: remove one)"
    )
    path.write_text("fairness:\n  gate_attributes: [ethnicity, gender]\nlabel:\n  band: 1\n")
    with pytest.raises(ConfigError, match=r"label\.band: unknown key"):
        load_config(path)  # the same key in two sections is not a repeat


# --- the champion is selected at the list a unit receives ----------------------------------


@pytest.mark.parametrize(
    ("scoring", "selected"),
    [
        ("scoring: {top_k: 30}", "top_30"),
        ("scoring: {top_k: 30, max_per_unit: 3}", "top_30_max_3_per_unit"),
        ("scoring: {selection: threshold, threshold: 0.25}", "score_at_least_0.25"),
        ("scoring: {top_k: 30}\nevaluation: {selection_list: top_1pct}", "top_1pct"),
    ],
)
def test_the_selection_list_follows_the_scoring_config(
    tmp_path: Path, scoring: str, selected: str
) -> None:
    """Issue 16 item 2: the default selected on top_1pct while scoring published the top 50.
    The selection list is now derived from scoring unless a config names an evaluated list."""
    assert Config().selection_list() == "top_50" == Config().scoring.list_name
    path = tmp_path / "c.yaml"
    path.write_text(scoring + "\n")
    config = load_config(path)
    assert config.selection_list() == selected
    assert selected in config.evaluated_lists()
