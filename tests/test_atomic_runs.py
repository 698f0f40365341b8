"""Atomic, idempotent runs: a killed run leaves no half-written output, and a rerun completes.

* ``ewp.core.atomic`` on its own: a failed write leaves the old file; a failed or killed run folder
  leaves the old folder, and its staging folder is cleared by the next run.
* A real ``ewp score`` in a subprocess (against the session's Prefect test server), paused at a
  known step with ``EWP_TEST_PAUSE_AFTER`` and killed there with SIGKILL: no weekly folder
  appears, the next run completes with files byte-identical to an uninterrupted run in another
  data home, and the review store holds each flag once, however often the week is rerun.
* A bad export through ``ewp score`` ends with one line and exit code 2, no traceback, even
  from inside a Prefect flow.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ewp.core.atomic import PAUSE_ENV, atomic_path, staged_dir, write_text
from tests.conftest import SMALL_TRAIN

WEEK = "weekly-2021-12-27"  # the small force's export ends 2021-12-31


# --- ewp.core.atomic ------------------------------------------------------------------------------


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = write_text(tmp_path / "flags.csv", "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half a fi")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["flags.csv"]
    write_text(target, "new\n")
    assert target.read_bytes() == b"new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["flags.csv"]


def test_a_failed_run_folder_leaves_the_previous_one(tmp_path: Path) -> None:
    final = tmp_path / "runs" / WEEK
    with staged_dir(final) as staging:
        write_text(staging / "report.html", "week one")
    assert (final / "report.html").read_text() == "week one"
    with pytest.raises(RuntimeError), staged_dir(final) as staging:
        write_text(staging / "report.html", "half")
        raise RuntimeError("failed after the report")
    assert [p.name for p in final.iterdir()] == ["report.html"]
    assert (final / "report.html").read_text() == "week one"
    assert [p.name for p in final.parent.iterdir()] == [WEEK]  # no staging left
    with staged_dir(final) as staging:
        write_text(staging / "flags.csv", "rerun")
    assert [p.name for p in final.iterdir()] == ["flags.csv"]  # replaced whole, not merged


def test_staging_left_by_a_dead_process_is_cleared_but_not_a_live_ones(tmp_path: Path) -> None:
    final = tmp_path / WEEK
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    stale = tmp_path / f".{WEEK}.partial-{dead.stdout.strip()}"
    live = tmp_path / f".{WEEK}.partial-{os.getppid()}"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "report.html").write_text("half")
    with staged_dir(final) as staging:
        write_text(staging / "report.html", "whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([WEEK, live.name])


# --- a real run, killed -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def scoring(small_trained, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A config scoring the trained small force, and an uninterrupted run's files."""
    from prefect.settings import PREFECT_API_URL

    from ewp.core.config import load_config
    from ewp.flows.common import synthetic_folder
    from ewp.flows.score import score_flow

    root = tmp_path_factory.mktemp("atomic")
    config = root / "atomic.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                **SMALL_TRAIN.model_dump(mode="json"),
                "name": "atomic",
                "data": {"dir": str(synthetic_folder(SMALL_TRAIN, small_trained.home) / "export")},
                "mlflow": {
                    "tracking_uri": f"sqlite:///{small_trained.home / 'mlflow.db'}",
                    "experiment": SMALL_TRAIN.mlflow.experiment,
                },
            }
        )
    )
    clean = score_flow(load_config(config), root / "clean-home")
    return {
        "config": config,
        "loaded": load_config(config),
        "root": root,
        "api_url": PREFECT_API_URL.value(),
        "clean": {p.name: p.read_bytes() for p in clean.run_dir.iterdir()},
        "flagged": clean.flagged,
    }


def start(
    scoring: dict,
    home: Path,
    *,
    pause: str | None,
    args: tuple[str, ...] = (),
    own_server: bool = False,
):
    """``ewp score`` in a subprocess on the session's Prefect server (``own_server``: on the
    temporary server it starts itself, as a user's run does); output to a log file."""
    env = {**os.environ, "EWP_HOME": str(home), "PREFECT_API_URL": scoring["api_url"]}
    if own_server:
        del env["PREFECT_API_URL"]
        env["PREFECT_HOME"] = str(home / "prefect")
    env.pop(PAUSE_ENV, None)
    if pause:
        env[PAUSE_ENV] = pause
    log = home.parent / f"{home.name}-{pause or 'run'}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ewp.cli", "score", "-c", str(scoring["config"]), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log


def wait_for_pause(proc: subprocess.Popen, log: Path, step: str) -> None:
    deadline = time.monotonic() + 240
    while f"ewp: paused after {step}" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"never paused at {step}:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)


def stored(home: Path) -> tuple[int, list[str]]:
    from ewp.stores.review import ReviewStore, default_url

    store = ReviewStore(default_url(home))
    try:
        return len(store.flags_frame()), store.audit_frame()["action"].tolist()
    finally:
        store.close()


def test_a_killed_run_leaves_no_report_and_the_rerun_completes_identically(scoring) -> None:
    from ewp.flows.score import score_flow

    home = scoring["root"] / "home"
    runs = home / "runs" / "atomic"
    flagged = scoring["flagged"]

    # Killed after the flags reached the review store, before the folder was published.
    proc, log = start(scoring, home, pause="flags-recorded")
    wait_for_pause(proc, log, "flags-recorded")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (runs / WEEK).exists()
    assert [p.name for p in runs.iterdir() if not p.name.startswith(".")] == []
    assert not [p for p in home.rglob("report.html") if ".partial-" not in str(p)]
    assert stored(home) == (flagged, ["flag_published"] * flagged)

    # The next run (as `ewp score` would, in-process to save a start-up) completes: the same
    # files as an uninterrupted run, each flag stored once; and so does every rerun.
    for _ in range(2):
        published = score_flow(scoring["loaded"], home)
        assert published.run_dir == runs / WEEK and published.new_flags == flagged
        assert {p.name: p.read_bytes() for p in (runs / WEEK).iterdir()} == scoring["clean"]
        assert [p.name for p in runs.iterdir()] == [WEEK]  # the killed run's staging is gone
        assert stored(home) == (flagged, ["flag_published"] * flagged)


def children(parent: int) -> dict[int, str]:
    """The processes whose parent is ``parent``: pid -> command line (Linux ``/proc``)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                found[int(stat.parent.name)] = (
                    (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                )
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    return found


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the watchdog reads /proc")
def test_a_killed_run_takes_its_temporary_prefect_server_with_it(scoring) -> None:
    """``ewp score`` without PREFECT_API_URL starts Prefect's temporary server; killed with
    SIGKILL (no atexit hook runs), it leaves no server behind (ewp.cli.prefect_server)."""
    home = scoring["root"] / "own-server"
    proc, log = start(scoring, home, pause="list-written", own_server=True)
    servers: list[int] = []
    try:
        wait_for_pause(proc, log, "list-written")
        servers = [pid for pid, cmd in children(proc.pid).items() if "uvicorn" in cmd]
        assert len(servers) == 1, children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 30
        while alive(servers[0]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(servers[0]), "the temporary server outlived its command"
    finally:
        proc.kill()
        for pid in servers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_bad_export_ends_a_flow_in_one_line_without_traceback(scoring, tmp_path: Path) -> None:
    export = tmp_path / "export"
    source = Path(yaml.safe_load(scoring["config"].read_text())["data"]["dir"])
    export.mkdir()
    for name in ("officers.csv", "outcomes.csv"):
        (export / name).write_bytes((source / name).read_bytes())
    packed = gzip.compress((source / "notices.csv").read_bytes())
    (export / "notices.csv.gz").write_bytes(packed[: len(packed) // 2])
    config = tmp_path / "bad-export.yaml"
    config.write_text(scoring["config"].read_text().replace(str(source), str(export)))
    proc, log = start({**scoring, "config": config}, tmp_path / "home", pause=None)
    assert proc.wait(timeout=300) == 2
    output = log.read_text(errors="replace")
    assert "Traceback" not in output
    assert (
        "Contract error: notices.csv.gz is not a complete gzip file (Compressed file ended before "
        "the end-of-stream marker was reached); expected gzip-compressed CSV"
    ) in output.splitlines()
