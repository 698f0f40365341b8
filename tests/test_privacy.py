"""Data protection: the pseudonymisation key, keyed pseudonyms, scrubbed logs and MLflow
params, owner-only OFFICIAL-SENSITIVE run folders, and a scan of a trained data home's MLflow
store, logs and shared outputs for the force's raw officer identifiers."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import os
import pickle
import re
import shutil
import sqlite3
import stat
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from ewp.core.marking import MARKING, NOTICE_FILE, mark_folder
from ewp.core.settings import configure_environment
from ewp.stores.pseudonym import (
    KEY_ENV,
    KEY_FILE_ENV,
    LogScrubber,
    Pseudonymiser,
    PseudonymKeyError,
    ScrubbedError,
    default_key_file,
    load_key,
    scrubbed_errors,
)
from tests.conftest import SMALL_TRAIN

KEY = bytes(range(32))
PSEUDONYM = re.compile(r"P-[0-9a-f]{16}")


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the key ---------------------------------------------------------------------------------


def test_first_run_creates_an_owner_only_key_and_later_runs_reuse_it(tmp_path: Path) -> None:
    with pytest.raises(PseudonymKeyError, match="no pseudonymisation key"):
        load_key(tmp_path)  # reading never creates one
    key = load_key(tmp_path, create=True)
    path = default_key_file(tmp_path)
    assert path == tmp_path / "secrets" / "pseudonym.key"
    assert (mode(path), mode(path.parent)) == (0o600, 0o700)
    assert len(key) == 32 and path.read_text() == key.hex() + "\n"
    assert load_key(tmp_path, create=True) == key == load_key(tmp_path)


def test_key_from_the_environment_wins_and_a_named_file_is_never_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY.hex())
    assert load_key(tmp_path, create=True) == KEY
    assert not default_key_file(tmp_path).exists()
    monkeypatch.delenv(KEY_ENV)
    named = tmp_path / "vault" / "ewp.key"
    monkeypatch.setenv(KEY_FILE_ENV, str(named))
    with pytest.raises(PseudonymKeyError, match=f"{named}: no pseudonymisation key"):
        load_key(tmp_path, create=True)
    named.parent.mkdir()
    named.write_text(KEY.hex())
    named.chmod(0o600)
    assert load_key(tmp_path) == KEY


@pytest.mark.parametrize(
    ("text", "problem"),
    [("abc123", "at least 32"), ("zz" * 20, "hex digits"), ("a" * 33, "even number")],
)
def test_a_malformed_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, problem: str
) -> None:
    monkeypatch.setenv(KEY_ENV, text)
    with pytest.raises(PseudonymKeyError, match=problem):
        load_key(tmp_path)


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    load_key(tmp_path, create=True)
    default_key_file(tmp_path).chmod(0o644)
    with pytest.raises(PseudonymKeyError, match="readable by others \\(mode 0644\\); run chmod"):
        load_key(tmp_path)


# -- pseudonyms and scrubbing ----------------------------------------------------------------


def test_pseudonym_is_hmac_sha256_of_the_identifier_truncated() -> None:
    expected = hmac.new(KEY, b"ewp officer v1\x00OFF000001", hashlib.sha256).hexdigest()[:16]
    pseudonymiser = Pseudonymiser(KEY)
    assert pseudonymiser.pseudonym("OFF000001") == f"P-{expected}"
    assert PSEUDONYM.fullmatch(pseudonymiser.pseudonym("OFF000002"))
    assert pseudonymiser.pseudonym("OFF000001") != pseudonymiser.pseudonym("OFF000002")
    # Another key (a rotated one) gives another pseudonym; the key never shows in a repr.
    assert Pseudonymiser(KEY[::-1]).pseudonym("OFF000001") != pseudonymiser.pseudonym("OFF000001")
    assert KEY.hex() not in repr(pseudonymiser)


def test_scrub_replaces_known_identifiers_standing_as_whole_tokens() -> None:
    p = Pseudonymiser(KEY, ["OFF000001", "OFF000002"])
    one, two = p.pseudonym("OFF000001"), p.pseudonym("OFF000002")
    text = "OFF000001 and OFF000002, not OFF0000011 nor OFF000003; (OFF000001)."
    assert p.scrub(text) == f"{one} and {two}, not OFF0000011 nor OFF000003; ({one})."
    assert Pseudonymiser(KEY).scrub(text) == text  # knows no identifier: changes nothing


def test_frame_pseudonymises_identifier_columns_only() -> None:
    p = Pseudonymiser(KEY)
    table = pd.DataFrame(
        {
            "officer_id": ["OFF000001", None],
            "officer_ids": [["OFF000001", "OFF000002"], []],
            "unit": ["OFF000001", "U2"],  # not an identifier column: left to ``scrub``
        }
    )
    out = p.frame(table)
    assert out["officer_id"][0] == p.pseudonym("OFF000001") and pd.isna(out["officer_id"][1])
    assert out["officer_ids"].tolist() == [
        [p.pseudonym("OFF000001"), p.pseudonym("OFF000002")],
        [],
    ]
    assert out["unit"].tolist() == ["OFF000001", "U2"]
    assert table["officer_id"][0] == "OFF000001"  # the input is untouched


def test_log_scrubber_rewrites_messages_and_tracebacks_before_any_handler() -> None:
    p = Pseudonymiser(KEY, ["OFF000042"])
    logger = logging.getLogger("ewp.test-privacy")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.addFilter(LogScrubber(p))
    try:
        logger.warning("officer %s flagged", "OFF000042")
        try:
            {}["OFF000042"]
        except KeyError:
            logger.exception("lookup failed for %r", "OFF000042")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "OFF000042" not in output
    # Two messages, then the traceback's source line and its KeyError line.
    assert output.count(p.pseudonym("OFF000042")) == 4
    assert "Traceback (most recent call last)" in output


@pytest.fixture
def scrubbing(monkeypatch: pytest.MonkeyPatch) -> Pseudonymiser:
    """A scrubber that knows OFF000042, installed for this test only."""
    import ewp.stores.pseudonym

    p = Pseudonymiser(KEY, ["OFF000042"])
    monkeypatch.setattr(ewp.stores.pseudonym, "_SCRUBBER", LogScrubber(p))
    return p


def test_an_error_naming_an_officer_is_raised_again_scrubbed_and_unchained(
    scrubbing: Pseudonymiser, caplog: pytest.LogCaptureFixture
) -> None:
    @scrubbed_errors
    def look_up(officer_id: str) -> int:
        return {}[officer_id]

    with pytest.raises(ScrubbedError) as raised:
        look_up("OFF000042")
    assert str(raised.value) == f"KeyError: '{scrubbing.pseudonym('OFF000042')}'"
    assert raised.value.__cause__ is None and raised.value.__context__ is None
    # The original traceback is logged for debugging, scrubbed even with no filter installed.
    assert "Traceback (most recent call last)" in caplog.text
    assert "OFF000042" not in caplog.text
    assert scrubbing.pseudonym("OFF000042") in caplog.text


def test_an_error_naming_no_officer_passes_unchanged(scrubbing: Pseudonymiser) -> None:
    error = OSError("disk full")

    @scrubbed_errors
    def write() -> None:
        raise error

    with pytest.raises(OSError) as raised:
        write()
    assert raised.value is error


def test_every_flow_and_task_scrubs_what_it_raises() -> None:
    """Each Prefect flow and task in ``flows`` runs through ``scrubbed_errors`` (declared with
    ``ewp_flow`` / ``ewp_task``): a new one declared with Prefect's bare decorator fails here."""
    import importlib

    from prefect import Flow, Task

    wrapper_code = scrubbed_errors(lambda: None).__code__
    found = []
    for module_name in ("common", "schedule", "score", "train"):
        module = importlib.import_module(f"ewp.flows.{module_name}")
        for name, value in vars(module).items():
            if isinstance(value, Flow | Task) and value.fn.__module__ == module.__name__:
                found.append(name)
                assert value.fn.__code__ is wrapper_code, f"ewp.flows.{module_name}.{name}"
    assert len(found) >= 14  # the scan does see them (14 since the demo runs the train flow)


def test_a_failed_prefect_run_stores_no_raw_identifier(
    prefect_harness: None, scrubbing: Pseudonymiser
) -> None:
    """The message Prefect keeps with a failed task's and flow's state, which no logging
    filter reaches, names the officer by pseudonym only."""
    from prefect import flow, task
    from prefect.client.orchestration import get_client

    @task
    @scrubbed_errors
    def look_up(officer_id: str) -> int:
        return {}[officer_id]

    @flow(name="ewp-privacy-failure")
    @scrubbed_errors
    def run(officer_id: str) -> int:
        return look_up(officer_id)

    state = run("OFF000042", return_state=True)
    assert state.is_failed()
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
        in_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
        # Task run states reach the server as events, a moment after the run ends.
        for _ in range(100):
            task_runs = client.read_task_runs(flow_run_filter=in_run)
            if task_runs and task_runs[0].state is not None and task_runs[0].state.is_failed():
                break
            time.sleep(0.1)
    (task_run,) = task_runs
    messages = [flow_run.state.message, task_run.state.message]
    for message in messages:
        assert "OFF000042" not in message
        assert scrubbing.pseudonym("OFF000042") in message, message


def test_tracker_pseudonymises_identifier_tables_and_scrubs_what_it_logs(tmp_path: Path) -> None:
    from ewp.stores.tracking import Tracker

    p = Pseudonymiser(KEY, ["OFF000007"])
    tracker = Tracker(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        experiment="privacy",
        artifact_root=tmp_path / "artifacts",
        pseudonymiser=p,
    )
    run_id = tracker.log_evaluation_run(
        run_name="rule @ OFF000007",
        params={"note": "checked OFF000007 by hand"},
        metrics={"OFF000007.tp": 1.0},
        tags={"reviewer_of": "OFF000007"},
    )
    run = tracker.client.get_run(run_id)
    alias = p.pseudonym("OFF000007")
    assert run.data.params == {"note": f"checked {alias} by hand"}
    assert run.data.metrics == {f"{alias}.tp": 1.0}
    assert run.data.tags["reviewer_of"] == alias
    assert run.data.tags["mlflow.runName"] == f"rule @ {alias}"

    table = pd.DataFrame({"officer_id": ["OFF000007"], "rank": [1]})
    csv = tracker._table_csv(table, name="lists.csv")
    assert csv == f"officer_id,rank\n{alias},1\n"
    bare = Tracker(tracking_uri=tracker.tracking_uri, experiment="privacy", artifact_root=tmp_path)
    with pytest.raises(ValueError, match=r"lists.csv: column\(s\) officer_id hold officer"):
        bare._table_csv(table, name="lists.csv")


# -- permissions and marking -----------------------------------------------------------------


def test_mark_folder_writes_the_notice_and_makes_everything_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir(mode=0o755)
    (folder / "flags.csv").write_text("flag_id\n")
    (folder / "flags.csv").chmod(0o644)
    notice = mark_folder(folder)
    assert notice == folder / NOTICE_FILE == folder / "OFFICIAL-SENSITIVE.txt"
    assert notice.read_text().startswith(f"{MARKING}\n")
    assert mode(folder) == 0o700
    assert {p.name: mode(p) for p in folder.iterdir()} == {
        "flags.csv": 0o600,
        "OFFICIAL-SENSITIVE.txt": 0o600,
    }


def test_data_home_is_owner_only_and_new_files_are_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    previous = os.umask(0o022)
    try:
        configure_environment(home)
        assert mode(home) == 0o700
        (home / "new.csv").write_text("x\n")
        (home / "sub").mkdir()
        assert (mode(home / "new.csv"), mode(home / "sub")) == (0o600, 0o700)
    finally:
        os.umask(previous)


def test_every_ewp_command_writes_owner_only_files(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ewp.cli.commands import app

    previous = os.umask(0o022)  # a typical login umask: group- and world-readable files
    try:
        args = ["--out", str(tmp_path / "force"), "--officers", "40", "--end-year", "2020"]
        result = CliRunner().invoke(app, ["generate", "--start-year", "2020", *args])
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    written = sorted((tmp_path / "force").rglob("*"))
    assert any(p.name == "officers.csv" for p in written)
    assert {mode(p) for p in written if p.is_file()} == {0o600}
    assert {mode(p) for p in [tmp_path / "force", *written] if p.is_dir()} == {0o700}


# -- a scan for raw identifiers --------------------------------------------------------------


def found_ids(data: bytes | str, ids: frozenset[str]) -> set[str]:
    """The identifiers in ``ids`` that occur in ``data``: as whole alphanumeric tokens of its
    text (bytes read one to one, so ASCII inside binary formats counts), and, for bytes, as
    UTF-16 or UTF-32 text (numpy string arrays in a pickle)."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    hits = set(re.findall(r"[A-Za-z0-9_]+", text)) & ids
    if isinstance(data, bytes):
        hits |= {i for i in ids for enc in ("utf-16-le", "utf-32-le") if i.encode(enc) in data}
    return hits


def scan_sqlite(path: Path, ids: frozenset[str]) -> dict[str, set[str]]:
    """Every text or blob value of every table of a SQLite file, scanned; table -> hits."""
    hits: dict[str, set[str]] = {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, str | bytes):
                        hits.setdefault(table, set()).update(found_ids(value, ids))
    return {table: found for table, found in hits.items() if found}


def scan_files(paths: Iterable[Path], ids: frozenset[str]) -> dict[str, set[str]]:
    """Each file's bytes, scanned; file -> hits."""
    hits = {str(p): found_ids(p.read_bytes(), ids) for p in paths if p.is_file()}
    return {name: found for name, found in hits.items() if found}


def test_the_scanner_finds_identifiers_planted_in_each_kind_of_store(tmp_path: Path) -> None:
    ids = frozenset({"OFF000001", "OFF000002", "OFF000003", "OFF000004"})
    db = tmp_path / "store.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE params (key TEXT, value TEXT, raw BLOB)")
        conn.execute("INSERT INTO params VALUES ('a', 'x,OFF000001;y', NULL)")
        conn.execute("INSERT INTO params VALUES ('b', 'OFF0000022', ?)", (b"\x00OFF000002\x01",))
    conn.close()
    assert scan_sqlite(db, ids) == {"params": {"OFF000001", "OFF000002"}}
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(np.array(["OFF000003"])))  # UTF-32
    (tmp_path / "list.csv").write_text("rank,officer\n1,OFF000004\n")
    (tmp_path / "clean.csv").write_text("rank,officer\n1,P-0123456789abcdef\n")
    files = [tmp_path / name for name in ("model.pkl", "list.csv", "clean.csv")]
    assert scan_files(files, ids) == {
        str(tmp_path / "model.pkl"): {"OFF000003"},
        str(tmp_path / "list.csv"): {"OFF000004"},
    }


@pytest.fixture(scope="module")
def weekly_home(small_trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the trained data home (so this module's list does not touch the weekly
    tests' review store), scored once, with the run's log records captured."""
    from prefect.logging.handlers import APILogHandler

    from ewp.flows.score import score_flow

    home = tmp_path_factory.mktemp("privacy") / "home"
    shutil.copytree(small_trained.home, home)
    # Weekly lists other modules may already have published into the shared home (test order)
    # are not this module's: its run folders are the training run and its own list.
    for folder in (home / "runs" / SMALL_TRAIN.name).glob("weekly-*"):
        shutil.rmtree(folder)
    records: list[str] = []
    capture = logging.Handler()
    capture.emit = lambda record: records.append(logging.Formatter().format(record))
    prefect_logger = logging.getLogger("prefect")
    prefect_logger.addHandler(capture)
    try:
        score_flow(SMALL_TRAIN, home)
    finally:
        prefect_logger.removeHandler(capture)
    APILogHandler().flush()  # send what the run logged to the server before reading it
    (home / "captured.log").write_text("\n".join(records))
    return home


def force_ids(home: Path) -> frozenset[str]:
    (officers,) = home.glob("synthetic/*/export/officers.csv")
    return frozenset(pd.read_csv(officers, dtype=str)["officer_id"])


def prefect_api_logs() -> str:
    """Every log line the session's Prefect server holds (training and scoring runs)."""
    from prefect.client.orchestration import get_client

    lines = []
    with get_client(sync_client=True) as client:
        while page := client.read_logs(limit=200, offset=len(lines)):
            lines.extend(log.message for log in page)
    return "\n".join(lines)


def test_no_raw_officer_id_reaches_mlflow_logs_or_shared_outputs(weekly_home: Path) -> None:
    ids = force_ids(weekly_home)
    assert len(ids) >= SMALL_TRAIN.synthetic.officers  # every officer who ever served
    # MLflow: every text and blob value of the store, and every artifact file (model pickles
    # included).
    mlflow_db = weekly_home / "mlflow.db"
    assert pd.read_sql("SELECT COUNT(*) AS n FROM runs", sqlite3.connect(mlflow_db))["n"][0] > 3
    artifacts = sorted((weekly_home / "mlartifacts").rglob("*"))
    assert any(p.name == "model.pkl" for p in artifacts)
    assert any(p.name == "model_card.md" for p in artifacts)
    assert scan_sqlite(mlflow_db, ids) == {}
    assert scan_files(artifacts, ids) == {}
    # Prefect: what the runs logged, as the server stored it and as handlers received it.
    api_logs = prefect_api_logs()
    assert "Published" in api_logs and "Champion decision" in api_logs
    assert found_ids(api_logs, ids) == set()
    captured = (weekly_home / "captured.log").read_text()
    assert "Published" in captured
    assert found_ids(captured, ids) == set()
    # The model card and the audits' aggregates, in the training and the weekly run folders.
    runs = weekly_home / "runs" / SMALL_TRAIN.name
    shared = sorted(runs.glob("*/model_card.md")) + sorted(runs.glob("*/audit*"))
    assert {p.parent.name.split("-")[0] for p in shared} == {"train", "weekly"}
    assert scan_files(shared, ids) == {}
    # The weekly list itself names officers: the scan would find them there.
    (flags,) = runs.glob("weekly-*/flags.csv")
    assert scan_files([flags], ids)


def test_run_folders_are_owner_only_and_marked(weekly_home: Path) -> None:
    runs = weekly_home / "runs" / SMALL_TRAIN.name
    folders = sorted(runs.iterdir())
    assert [f.name.split("-")[0] for f in folders] == ["train", "weekly"]
    for folder in folders:
        assert mode(folder) == 0o700, folder
        assert (folder / NOTICE_FILE).read_text().startswith(MARKING)
        modes = {p.name: mode(p) for p in folder.iterdir()}
        assert set(modes.values()) == {0o600}, modes
    weekly = folders[1]
    assert {"flags.csv", "report.html", "audit.html"} <= {p.name for p in weekly.iterdir()}
    for report in ("report.html", "audit.html"):
        html = (weekly / report).read_text()
        assert re.search(rf'<header class="marking"[^>]*>{MARKING}</header>', html)
    # The key that made the pseudonyms lives beside them, owner-only, and never in MLflow.
    key = default_key_file(weekly_home)
    assert mode(key) == 0o600
    assert key.read_text().strip().encode() not in (weekly_home / "mlflow.db").read_bytes()
