"""A hostile export through ``ewp validate``, ``ewp train``, ``ewp score`` and ``ewp web``.

A small synthetic force (1,500 officers, 2015-2021) is made hostile the way an attacker or a
careless clerk would: an officer ID ``=HYPERLINK(...)`` on the officer with most notices, a
unit ``=cmd|' /C calc'!A0``, the largest ethnicity group labelled with a ``<meta refresh>``
tag, a config override reason with a ``<script>``, a notice typed a few days before today
(five years after the export ends), a notice received before its officer joined and an
incident dated after its notice. Then:

* ``ewp validate`` quarantines exactly the three bad notices, naming file, line and field;
* training (one test date, two candidates) and scoring run through, and the list is dated by
  the export's real end, not by the typo;
* no CSV any of them wrote holds a cell a spreadsheet would run, and no HTML page or file
  (report, audit, model card, the workspace's pages) carries a tag from the data;
* an export whose officers are all invalid stops ``ewp validate`` and ``ewp score`` with one
  line and exit code 2; an export of one officer and one notice validates and scores.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import markdown
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ewp.cli.commands import app
from ewp.core.atomic import read_csv
from ewp.core.config import ReviewConfig, load_config
from ewp.data.io import write_export
from ewp.data.synthetic import generate_force
from ewp.stores.access import WorkspaceStore
from ewp.web import create_app
from ewp.web.settings import WebSettings
from tests.builders import formula_cells

HOSTILE_OFFICER = '=HYPERLINK("http://x","click")'
HOSTILE_UNIT = "=cmd|' /C calc'!A0"
HOSTILE_LABEL = '<meta http-equiv="refresh" content="0;url=http://evil">'
HOSTILE_REASON = "<script>alert(1)</script> approved by the ethics board"
PASSWORD = "correct horse battery"
TYPO_DAY = dt.date.today() - dt.timedelta(days=4)  # before today: only the data can date it
# The force's last knowledge date is 2021-12-20: the list is for Monday 2021-12-20, not for
# the week of the typo.
LAST_DAY = "2021-12-20"
WEEK = "2021-12-20"
# Markup that only the hostile data could have put on a page (ewp's pages carry no script, no
# refresh and no link to another site).
TAG = re.compile(r"<\s*script|<\s*meta\s+http-equiv|<a\s[^>]*href=\"?(?:http|javascript)", re.I)


def config_dict(export: Path, **overrides: object) -> dict:
    """A tiny training config: one test date, a rule and a scorecard."""
    return {
        "name": "hostile",
        "data": {"dir": str(export)},
        "training": {"as_of_start": "2016-01-01"},
        "evaluation": {
            "test_dates": ["2020-01-01"],
            "test_block_days": 90,
            "training_history_days": 730,
            "negative_sample_rate": 0.5,
            "list_sizes": [20],
            "bootstrap_samples": 50,
            "headline_rule": "rule_2_in_365d",
            "candidates": [
                {
                    # A rule that fires on so small a force (one that flags nobody on a test
                    # date is the evaluation's own case, tested in test_evaluation.py).
                    "name": "rule_2_in_365d",
                    "kind": "threshold_rule",
                    "params": {"feature": "notices_365d", "threshold": 2},
                },
                {"name": "scorecard", "kind": "scorecard", "params": {"regularisation_c": 0.1}},
            ],
        },
        "fairness": {"bootstrap_samples": 50, "overrides": {"scorecard": HOSTILE_REASON}},
        "scoring": {"top_k": 20},
        **overrides,
    }


def hostile_force() -> dict[str, pd.DataFrame]:
    force = generate_force(
        officers=1500, start_year=2015, end_year=2021, seed=20_261_204, reporting_bias={}
    )
    officers, notices = force.officers.copy(), force.notices.copy()
    top = notices["officer_id"].value_counts().index[0]
    for frame in (officers, notices):
        frame.loc[frame["officer_id"] == top, "officer_id"] = HOSTILE_OFFICER
    hostile = officers["officer_id"] == HOSTILE_OFFICER
    officers.loc[officers["unit"] == officers.loc[hostile, "unit"].iloc[0], "unit"] = HOSTILE_UNIT
    largest = officers["ethnicity"].value_counts().index[0]
    officers.loc[officers["ethnicity"] == largest, "ethnicity"] = HOSTILE_LABEL
    late_joiner = officers.loc[officers["joined_on"] > "2018-01-01"].iloc[0]
    template = notices.iloc[0]
    # A serious notice every other month from the officer's joining: whichever candidate
    # wins, it learns that this history escalates, and lists the officer.
    joined = officers.loc[hostile, "joined_on"].iloc[0]
    recent = pd.DataFrame(
        [
            {
                **template,
                "notice_id": f"SERIOUS{number}",
                "case_id": f"SERIOUS{number}",
                "officer_id": HOSTILE_OFFICER,
                "received_on": day,
                "incident_on": pd.NaT,
                "category": "sexual_misconduct",
            }
            for number, day in enumerate(pd.date_range(joined, "2021-12-01", freq="2MS"))
        ]
    )
    bad = pd.DataFrame(
        [
            {**template, "notice_id": "TYPO", "received_on": pd.Timestamp(TYPO_DAY)},
            {
                **template,
                "notice_id": "BEFORE-JOINING",
                "officer_id": late_joiner["officer_id"],
                "received_on": late_joiner["joined_on"] - pd.Timedelta(days=1),
                "incident_on": pd.NaT,
            },
            {
                **template,
                "notice_id": "INCIDENT-LATER",
                "received_on": pd.Timestamp("2019-05-01"),
                "incident_on": pd.Timestamp("2019-05-06"),
            },
        ]
    )
    for column in ("notice_id", "case_id"):
        bad[column] = bad["notice_id"]
    last_day = max(notices["received_on"].max(), force.outcomes["decided_on"].max())
    assert last_day == pd.Timestamp(LAST_DAY)  # what the export date is inferred from
    return {
        "officers": officers,
        "notices": pd.concat([notices, recent, bad], ignore_index=True),
        "outcomes": force.outcomes,
    }


@pytest.fixture(scope="module")
def hostile(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Validate, train and score the hostile export once; later tests read what they left."""
    from prefect.settings import PREFECT_API_URL

    from ewp.flows.score import score_flow
    from ewp.flows.train import run_train

    root = tmp_path_factory.mktemp("hostile")
    export = root / "export"
    tables = hostile_force()
    write_export(**tables, out_dir=export)
    config_file = root / "hostile.yaml"
    config_file.write_text(yaml.safe_dump(config_dict(export)))
    config = load_config(config_file)
    home = root / "home"

    quarantine = root / "quarantine.csv"
    validated = CliRunner().invoke(
        app, ["validate", "-c", str(config_file), "--quarantine", str(quarantine)]
    )
    trained = run_train(config, home)
    # In process, as `ewp score` runs it (the CLI's error path: the all-invalid export below).
    scored = score_flow(config, home)
    env = {**os.environ, "EWP_HOME": str(home), "PREFECT_API_URL": PREFECT_API_URL.value()}
    return {
        "root": root,
        "home": home,
        "export": export,
        "tables": tables,
        "config_file": config_file,
        "env": env,
        "validated": validated,
        "quarantine": quarantine,
        "trained": trained,
        "scored": scored,
    }


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """``ewp ARGS`` in a subprocess (against the session's Prefect test server)."""
    return subprocess.run(
        [sys.executable, "-m", "ewp.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_validate_quarantines_exactly_the_bad_notices(hostile: dict) -> None:
    validated = hostile["validated"]
    assert validated.exit_code == 0, validated.output
    assert "Traceback" not in validated.output
    report = read_csv(hostile["quarantine"], dtype=str, keep_default_na=False)
    assert report["record_id"].tolist() == ["TYPO", "BEFORE-JOINING", "INCIDENT-LATER"]
    reasons = report["reason"].tolist()
    assert f'field received_on: "{TYPO_DAY}" is after {LAST_DAY}, the last day' in reasons[0]
    assert "field received_on:" in reasons[1] and "is before the officer joined" in reasons[1]
    assert (
        'field incident_on: "2019-05-06" is after the notice was received (2019-05-01)'
        in (reasons[2])
    )
    assert f"Export date: 2021-12-21 (inferred: the day after {LAST_DAY}" in validated.output
    assert formula_cells(hostile["quarantine"]) == []


def test_train_and_score_run_and_date_the_list_by_the_export_not_the_typo(hostile: dict) -> None:
    runs = hostile["home"] / "runs" / "hostile"
    assert hostile["scored"].run_dir == runs / f"weekly-{WEEK}"
    assert sorted(p.name for p in runs.iterdir()) == ["train-2021-12-21", f"weekly-{WEEK}"]
    flags = read_csv(runs / f"weekly-{WEEK}" / "flags.csv", dtype=str, keep_default_na=False)
    assert HOSTILE_OFFICER in set(flags["officer_id"])  # the officer with most notices
    assert HOSTILE_UNIT in set(flags["unit"])
    assert hostile["trained"].selection is not None


def test_no_csv_written_holds_a_cell_a_spreadsheet_would_run(hostile: dict) -> None:
    written = sorted((hostile["home"] / "runs").rglob("*.csv"))
    names = {path.name for path in written}
    assert {"flags.csv", "reasons.csv", "timelines.csv", "selection.csv"} <= names
    assert {str(path.relative_to(hostile["home"])): formula_cells(path) for path in written} == {
        str(path.relative_to(hostile["home"])): [] for path in written
    }
    # And the raw values are there, as text: written with a leading ', read back exactly.
    week = hostile["home"] / "runs" / "hostile" / f"weekly-{WEEK}"
    assert (
        f'"\'{HOSTILE_OFFICER.replace(chr(34), chr(34) * 2)}"' in (week / "flags.csv").read_text()
    )


def test_no_page_or_file_carries_a_tag_from_the_data(hostile: dict) -> None:
    runs = hostile["home"] / "runs" / "hostile"
    pages = {path: path.read_text() for path in runs.rglob("*.html")}
    assert {p.name for p in pages} >= {"report.html", "audit.html"}
    for path, html in pages.items():
        assert not TAG.search(html), (path, TAG.search(html))
    audit = (runs / f"weekly-{WEEK}" / "audit.html").read_text()
    assert "&lt;meta http-equiv=" in audit  # the label is shown, as text
    for card in runs.rglob("model_card.md"):
        assert not TAG.search(markdown.markdown(card.read_text(), extensions=["tables"]))


def test_the_workspace_shows_the_hostile_data_as_text(hostile: dict, tmp_path: Path) -> None:
    home = hostile["home"]
    url = f"sqlite:///{home / 'review.db'}"
    store = WorkspaceStore(url)
    store.add_user(
        username="rev", role="reviewer", units=[HOSTILE_UNIT], password=PASSWORD, actor="t"
    )
    store.add_user(username="aud", role="auditor", password=PASSWORD, actor="t")
    flag = store.flags_frame().query("officer_id == @HOSTILE_OFFICER").iloc[0]
    store.close()
    settings = WebSettings(
        database_url=url,
        runs_dir=home / "runs" / "hostile",
        decisions=ReviewConfig().decisions,
        secret_key="test-secret-key-of-enough-length-0123456789",
    )
    pages: dict[str, str] = {}
    with TestClient(create_app(settings)) as client:
        for user, paths in (
            ("rev", ["/flags", f"/flags/{flag['flag_id']}", "/trail"]),
            ("aud", ["/audits", f"/weeks/{WEEK}/audit", f"/weeks/{WEEK}/model-card"]),
        ):
            login(client, user)
            for path in paths:
                response = client.get(path)
                assert response.status_code == 200, (path, response.text[:500])
                pages[path] = response.text
            if user == "rev":
                form = csrf(client, f"/flags/{flag['flag_id']}")
                decided = client.post(
                    f"/flags/{flag['flag_id']}/decision",
                    data={"decision": "other", "note": "=1+1", "csrf_token": form},
                )
                assert decided.status_code == 200  # redirected to the card
                download = tmp_path / "decisions.csv"
                download.write_text(client.get("/decisions.csv").text)
                assert formula_cells(download) == []
                assert read_csv(download, dtype=str)["note"].tolist() == ["=1+1"]
            client.post(
                "/logout",
                data={"csrf_token": csrf(client, "/audits" if user == "aud" else "/flags")},
            )
    for path, html in pages.items():
        assert not TAG.search(html), (path, TAG.search(html))
    assert "=cmd|&#39; /C calc&#39;!A0" in pages["/flags"]
    assert "=HYPERLINK(&#34;http://x&#34;,&#34;click&#34;)" in pages[f"/flags/{flag['flag_id']}"]


def login(client: TestClient, username: str) -> None:
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf(client, "/login")},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]


def csrf(client: TestClient, page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    assert found, page
    return found.group(1)


def test_an_export_whose_officers_are_all_invalid_stops_validate_and_score(
    hostile: dict,
) -> None:
    tables = hostile["tables"]
    export = hostile["root"] / "all-invalid"
    write_export(
        officers=tables["officers"].assign(rank=""),  # a required field, blank everywhere
        notices=tables["notices"],
        outcomes=tables["outcomes"],
        out_dir=export,
    )
    config_file = hostile["root"] / "all-invalid.yaml"
    config_file.write_text(yaml.safe_dump(config_dict(export)))
    message = (
        "Contract error: officers.csv: no officer passed the contract's checks (all "
        f"{len(tables['officers'])} records were quarantined); expected at least one valid "
        "officer"
    )
    validated = CliRunner().invoke(
        app,
        ["validate", "-c", str(config_file), "--quarantine", str(hostile["root"] / "q.csv")],
        terminal_width=400,
    )
    assert validated.exit_code == 2 and validated.output.splitlines()[-1] == message
    scored = run_cli(["score", "-c", str(config_file)], hostile["env"])
    assert scored.returncode == 2
    assert "Traceback" not in scored.stdout + scored.stderr
    assert f"{message}: `ewp validate` lists why each record was quarantined" in (
        scored.stdout.splitlines()
    )


def test_one_officer_and_one_notice_validate_and_score(hostile: dict) -> None:
    from ewp.flows.score import score_flow

    export = hostile["root"] / "thin"
    thin = pd.DataFrame(
        {"officer_id": ["OFF1"], "joined_on": [pd.Timestamp("2015-03-02")], "rank": ["PC"]}
    ).assign(unit="Borough 01", left_on=pd.NaT, ethnicity="White", gender="Female")
    notices = (
        hostile["tables"]["notices"]
        .iloc[:1]
        .assign(officer_id="OFF1", received_on=pd.Timestamp("2021-06-01"), incident_on=pd.NaT)
    )
    write_export(
        officers=thin.assign(birth_year=1990),
        notices=notices,
        outcomes=hostile["tables"]["outcomes"].iloc[:0],
        out_dir=export,
    )
    config_file = hostile["root"] / "thin.yaml"
    config_file.write_text(
        yaml.safe_dump(
            config_dict(
                export,
                mlflow={"tracking_uri": f"sqlite:///{hostile['home'] / 'mlflow.db'}"},
            )
        )
    )
    validated = CliRunner().invoke(
        app, ["validate", "-c", str(config_file), "--quarantine", str(hostile["root"] / "t.csv")]
    )
    assert validated.exit_code == 0, validated.output
    published = score_flow(load_config(config_file), hostile["root"] / "thin-home")
    assert published.run_dir.name == "weekly-2021-05-31"  # the one notice dates the export
    assert published.flagged == 1
