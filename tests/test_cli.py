"""The command line feels finished: version, completion, a data home nobody creates by
accident, choices, one "who" flag, plain help, a trail to filter and export, accounts checked
before the password, IDs never cut short, and no file written into the working folder."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner, Result

from ewp.core.config import Config
from tests.conftest import SMALL_TRAIN
from tests.web_builders import EARLIER, LATEST, fid, flag_frame


def ewp(*args: object, width: int = 200, env: dict[str, str] | None = None) -> Result:
    """``ewp ARGS`` in this process, on a terminal ``width`` columns wide."""
    from ewp.cli.commands import app

    return CliRunner().invoke(
        app,
        [str(a) for a in args],
        terminal_width=width,
        env={"COLUMNS": str(width), **(env or {})},
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data home holding a review store with two weeks of flags (units Borough 01 and 02),
    published on 10 January 2025; ``ewp`` runs on it through ``$EWP_HOME``."""
    from ewp.stores.review import ReviewStore, default_url

    home = tmp_path / "home"
    monkeypatch.setenv("EWP_HOME", str(home))
    store = ReviewStore(default_url(home), clock=lambda: dt.datetime(2025, 1, 10, tzinfo=dt.UTC))
    try:
        store.publish_flags(flag_frame(EARLIER, ["OFF000101", "OFF000201"]), actor="ewp score")
    finally:
        store.close()
    store = ReviewStore(default_url(home), clock=lambda: dt.datetime(2025, 1, 14, tzinfo=dt.UTC))
    try:
        store.publish_flags(flag_frame(LATEST, ["OFF000101", "OFF000102"]), actor="ewp score")
    finally:
        store.close()
    return home


# --- version, completion, help -------------------------------------------------------------


def test_version_prints_the_installed_version() -> None:
    result = ewp("--version")
    assert result.exit_code == 0
    assert result.output == f"ewp {version('ewp')}\n"


def test_show_completion_prints_a_shell_script_offline() -> None:
    result = ewp("--show-completion", "bash")
    assert result.exit_code == 0
    assert "_EWP_COMPLETE=complete_bash" in result.output
    assert "complete " in result.output


def _every_command() -> list[list[str]]:
    import typer

    from ewp.cli.commands import app

    def walk(command, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in getattr(command, "commands", {}).items():
            found += walk(sub, [*path, name])
        return found

    return walk(typer.main.get_command(app), [])


@pytest.mark.parametrize("command", _every_command(), ids=lambda c: " ".join(c) or "ewp")
def test_help_has_no_type_tags_templates_or_markup(command: list[str]) -> None:
    result = ewp(*command, "--help", width=100)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: ewp {' '.join(command)}".replace("  ", " "))
    for leftover in ("<bool>", "{", "}", "``", ":class:", ":func:", "[bold", "[/"):
        assert leftover not in result.output, leftover


def test_old_who_spellings_still_work_but_are_not_shown() -> None:
    for command, old in ((["review", "decide"], "--reviewer"), (["review", "import"], "--actor")):
        shown = ewp(*command, "--help").output
        assert "--by" in shown and old not in shown


# --- the data home --------------------------------------------------------------------------


def test_no_data_home_is_created_where_nobody_chose_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EWP_HOME")
    monkeypatch.chdir(tmp_path)
    result = ewp("review", "trail")
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"No data home: no data home at {tmp_path / '.ewp'}, and ewp creates one only where you "
        "choose: pass --home DIR (or set EWP_HOME), or run ewp from the folder that holds the "
        "data home"
    ]
    assert list(tmp_path.iterdir()) == []


def test_home_option_names_the_data_home_and_an_existing_one_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EWP_HOME")
    monkeypatch.chdir(tmp_path)
    chosen = tmp_path / "elsewhere"
    assert ewp("--home", chosen, "review", "trail").output == "No trail entries match.\n"
    assert (chosen / "review.db").is_file()
    (tmp_path / ".ewp").mkdir()
    assert ewp("review", "trail").exit_code == 0
    assert (tmp_path / ".ewp" / "review.db").is_file()


def test_a_data_home_may_be_created_when_named_or_inside_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ewp.core import settings

    monkeypatch.delenv("EWP_HOME")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(settings.DataHomeError):
        settings.chosen_data_home(Path(".ewp"))
    assert settings.chosen_data_home(Path("/srv/ewp")) == Path("/srv/ewp")  # absolute: named
    assert settings.chosen_data_home(Path(".ewp"), override=Path("h")) == tmp_path / "h"
    monkeypatch.setenv("EWP_HOME", str(tmp_path / "env"))
    assert settings.chosen_data_home(Path(".ewp")) == tmp_path / "env"
    monkeypatch.delenv("EWP_HOME")
    monkeypatch.setattr(settings, "project_folder", lambda: tmp_path)
    assert settings.chosen_data_home(Path(".ewp")) == tmp_path / ".ewp"


def test_validate_writes_its_quarantine_under_the_data_home_not_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "export-2025"
    export.mkdir()
    (export / "officers.csv").write_text(
        "officer_id,joined_on,rank,unit\nO1,2010-01-01,Constable,U1\n"
    )
    (export / "notices.csv").write_text(
        "notice_id,case_id,officer_id,received_on,category,source\n"
        "N1,C1,O9,2019-01-01,other,public\n"
        "N2,C2,O1,2019-02-01,other,public\n"
    )
    (export / "outcomes.csv").write_text("notice_id,decided_on,finding\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("EWP_HOME", str(tmp_path / "home"))
    result = ewp("validate", export)
    assert result.exit_code == 0, result.output
    written = tmp_path / "home" / "validate" / "export-2025" / "quarantine.csv"
    assert f"Quarantine report: {written} (1 rows)" in result.output
    assert pd.read_csv(written)["line"].tolist() == [2]
    assert list(work.iterdir()) == []


def test_validate_names_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "officers.csv").write_text(
        "officer_id,joined_on,rank,unit\nO1,2010-01-01,Constable,U1\n"
    )
    (tmp_path / "notices.csv").write_text(
        "notice_id,case_id,officer_id,received_on,category,source\n"
        "N1,C1,O1,2019-13-45,other,public\n"
        "N2,C2,O9,2019-01-01,other,public\n"
        "N3,C3,O1,2019-02-01,other,public\n"
    )
    (tmp_path / "outcomes.csv").write_text("notice_id,decided_on,finding\n")
    quarantine = tmp_path / "q.csv"
    result = ewp("validate", tmp_path, "--quarantine", quarantine)
    assert result.exit_code == 0, result.output
    assert "notices.csv line 2, field received_on" in result.output
    assert "notices.csv line 3, field officer_id" in result.output
    assert pd.read_csv(quarantine)["line"].tolist() == [2, 3]


def test_validate_a_missing_column_exits_2(tmp_path: Path) -> None:
    (tmp_path / "officers.csv").write_text("officer_id,rank,unit\nO1,Constable,U1\n")
    (tmp_path / "notices.csv").write_text("notice_id\n")
    (tmp_path / "outcomes.csv").write_text("notice_id\n")
    result = ewp("validate", tmp_path, env={"EWP_HOME": str(tmp_path / "home")})
    assert result.exit_code == 2
    assert "officers.csv" in result.output and "joined_on" in result.output


# --- choices ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["users", "add", "x", "--role", "boss", "--proxy-only"], "--role"),
        (["bench", "--scale", "moon"], "--scale"),
        (["bench", "--cadence", "daily"], "--cadence"),
    ],
)
def test_a_value_outside_the_choices_is_refused_before_any_work(
    tmp_path: Path, command: list[str], option: str
) -> None:
    result = ewp(*command, env={"EWP_HOME": str(tmp_path / "home")})
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output
    assert not (tmp_path / "home").exists()


def test_the_role_choices_are_the_workspaces_roles() -> None:
    from ewp.cli.commands import RoleName
    from ewp.stores.access import ROLES

    assert tuple(role.value for role in RoleName) == ROLES


def test_a_decision_must_be_one_of_the_configs(tmp_path: Path) -> None:
    result = ewp(
        "review", "decide", "F1", "--decision", "maybe", env={"EWP_HOME": str(tmp_path / "h")}
    )
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "Bad option: --decision: 'maybe' is not one of: no_action, supervisor_conversation, "
        "referral_to_professional_standards, other"
    ]
    assert not (tmp_path / "h").exists()


def test_decisions_complete_from_the_config(tmp_path: Path) -> None:
    from ewp.cli.commands import _complete_decision

    custom = tmp_path / "custom.yaml"
    custom.write_text("review:\n  decisions: [words_of_advice, no_action]\n")
    assert _complete_decision(SimpleNamespace(params={"config": None}), "s") == [
        "supervisor_conversation"
    ]
    assert _complete_decision(SimpleNamespace(params={"config": custom}), "") == [
        "words_of_advice",
        "no_action",
    ]


# --- who: --by everywhere ---------------------------------------------------------------------


def _current_decision(home: Path, flag: str) -> pd.Series:
    from ewp.stores.review import ReviewStore, default_url

    store = ReviewStore(default_url(home))
    try:
        flags = store.flags_frame()
    finally:
        store.close()
    return flags.set_index("flag_id").loc[flag]


def test_decide_records_by_defaulting_to_the_user_at_the_keyboard(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ewp.cli.commands.getpass.getuser", lambda: "pc.jones")
    flag = fid("OFF000101")
    result = ewp("review", "decide", flag, "--decision", "no_action", "--on", "2025-01-14")
    assert result.output == f"Recorded no_action on {flag} by pc.jones (version 1)\n"
    assert _current_decision(home, flag)["reviewer"] == "pc.jones"
    by_khan = ("--by", "DS Khan", "--on", "2025-01-14", "--expect-version", "1")
    result = ewp("review", "decide", flag, "--decision", "other", *by_khan)
    assert result.exit_code == 0, result.output
    assert _current_decision(home, flag)["reviewer"] == "DS Khan"
    old_spelling = ("--reviewer", "DS Old", "--on", "2025-01-14", "--expect-version", "2")
    result = ewp("review", "decide", flag, "--decision", "no_action", *old_spelling)
    assert result.exit_code == 0, result.output
    assert _current_decision(home, flag)["reviewer"] == "DS Old"


def test_import_records_by_as_the_trails_actor(home: Path, tmp_path: Path) -> None:
    from ewp.stores.review import ReviewStore, default_url

    decisions = tmp_path / "decisions.csv"
    decisions.write_text(
        f"flag_id,decision,reviewer,decided_on\n{fid('OFF000102')},no_action,DS Khan,2025-01-14\n"
    )
    result = ewp("review", "import", decisions, "--by", "clerk.b")
    assert result.exit_code == 0, result.output
    store = ReviewStore(default_url(home))
    try:
        trail = store.audit_frame()
    finally:
        store.close()
    assert trail.loc[trail["action"] == "decisions_imported", "actor"].tolist() == ["clerk.b"]


@pytest.fixture
def registry_home(small_trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the small force's trained data home, and SMALL_TRAIN as a YAML file."""
    home = tmp_path / "trained"
    shutil.copytree(small_trained.home, home)
    monkeypatch.setenv("EWP_HOME", str(home))
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(SMALL_TRAIN.model_dump(mode="json")))
    return home


def _version_tags(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / "mlflow.db") as db:
        return dict(db.execute("select key, value from model_version_tags where version = 1"))


def test_promote_records_who_promoted(
    registry_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ewp.cli.commands.getpass.getuser", lambda: "data.lead")
    config = tmp_path / "small.yaml"
    result = ewp("models", "promote", "1", "--reason", "reviewed by the board", "-c", config)
    assert result.exit_code == 0, result.output
    assert _version_tags(registry_home)["promoted_by"] == "data.lead"
    ewp("models", "promote", "1", "--reason", "again", "--by", "DS Khan", "-c", config)
    assert _version_tags(registry_home)["promoted_by"] == "DS Khan"


def test_models_list_never_cuts_an_id_short_on_a_narrow_terminal(
    registry_home: Path, tmp_path: Path
) -> None:
    config = tmp_path / "small.yaml"
    wide = ewp("models", "list", "-c", config, width=200)
    narrow = ewp("models", "list", "-c", config, width=40)
    model_id = _version_tags(registry_home)["model_id"]
    for result in (wide, narrow):
        assert result.exit_code == 0, result.output
        assert model_id in result.output
        assert "…" not in result.output
    assert f"  model_id: {model_id}" in narrow.output.splitlines()


# --- accounts ---------------------------------------------------------------------------------


def test_users_add_refuses_an_unknown_unit_before_asking_for_a_password(home: Path) -> None:
    result = ewp("users", "add", "rev.c", "--role", "reviewer", "--unit", "Borough 1")
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "Not added: unknown unit 'Borough 1': not in the export or a list (did you mean "
        "Borough 01 or Borough 02?)"
    ]
    assert "Password" not in result.output


def test_users_add_checks_role_and_units_before_asking_for_a_password(home: Path) -> None:
    result = ewp("users", "add", "rev.e", "--role", "reviewer")
    assert result.exit_code == 2
    assert result.output == "Not added: a reviewer needs at least one unit\n"


def test_users_add_accepts_a_unit_of_the_published_lists(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ewp.stores.access import WorkspaceStore
    from ewp.stores.review import default_url

    monkeypatch.setenv("EWP_PASSWORD", "correct horse battery")
    account = ("rev.c", "--role", "reviewer", "--unit", "Borough 02")
    result = ewp("users", "add", *account, "--by", "it.admin")
    assert result.output == "Added reviewer rev.c for Borough 02\n"
    store = WorkspaceStore(default_url(home))
    try:
        log = store.access_frame()
    finally:
        store.close()
    assert log.loc[log["action"] == "user_added", "username"].tolist() == ["it.admin"]


def test_users_add_says_when_units_cannot_be_checked_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EWP_HOME", str(tmp_path / "empty"))
    result = ewp("users", "add", "rev.d", "--role", "reviewer", "--unit", "U9", "--proxy-only")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Units not checked: no export or published list yet",
        "Added reviewer rev.d for U9",
    ]


# --- the review trail -------------------------------------------------------------------------


def test_trail_filters_by_flag_and_date_and_writes_csv(home: Path, tmp_path: Path) -> None:
    from ewp.stores.review import ReviewStore, default_url

    flag = fid("OFF000102")
    store = ReviewStore(default_url(home), clock=lambda: dt.datetime(2025, 1, 20, tzinfo=dt.UTC))
    try:
        store.record_decision(
            flag_id=flag,
            decision="no_action",
            reviewer="DS Khan",
            decided_on=dt.date(2025, 1, 14),
            allowed=Config().review.decisions,
        )
    finally:
        store.close()
    out = tmp_path / "trail.csv"
    assert ewp("review", "trail", "--csv", out).exit_code == 0
    everything = pd.read_csv(out)
    assert len(everything) == 5  # 2 + 2 flags published, 1 decision
    ewp("review", "trail", "--flag", flag, "--csv", out)
    assert pd.read_csv(out)["action"].tolist() == ["flag_published", "decision_recorded"]
    ewp("review", "trail", "--since", "2025-01-14", "--csv", out)
    since = pd.read_csv(out)
    assert since["at"].tolist() == [
        "2025-01-14 00:00:00 UTC",
        "2025-01-14 00:00:00 UTC",
        "2025-01-20 00:00:00 UTC",
    ]
    shown = ewp("review", "trail", "--flag", flag, "--since", "2025-01-15")
    assert "decision_recorded" in shown.output and "flag_published" not in shown.output
    assert ewp("review", "trail", "--flag", "F-none").output == "No trail entries match.\n"


def test_demo_table_names_the_list_the_champion_is_selected_on() -> None:
    """The column reads the selection list (the published top 50 by default), never "None"."""
    from ewp.cli.commands import _demo_table

    result = SimpleNamespace(
        champion="scorecard",
        selection=pd.DataFrame(
            {
                "candidate": ["scorecard", "oracle_ground_truth"],
                "mean_precision": [0.223, 0.240],
                "gate_reason": ["passed; no gate metric is outside the band", "passed"],
            }
        ),
    )
    table = _demo_table(result, Config())
    headers = [column.header for column in table.columns]
    assert headers == ["candidate", "mean top_50 precision", "fairness gate"]
