"""Concurrent reviewers: several OS processes recording decisions on one review store at once,
on SQLite and on a real PostgreSQL server, lose no write and keep the audit trail consistent;
and a burst of concurrent wrong passwords gets no more tries than the login limit allows.

The PostgreSQL case connects to ``$EWP_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://ewp:ewp@127.0.0.1:5432/ewp_test``; ``.ci/with-postgres.sh`` starts a
throwaway server and sets it) and skips with a message where no server answers. Each run works
in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from ewp.core.config import ReviewConfig
from ewp.stores.access import LOGIN_ATTEMPTS, AccessError, LoginLimits, LoginRefused, WorkspaceStore
from ewp.stores.review import DecisionConflict, ReviewStore
from tests.test_review import fid, flag_list

ALLOWED = ReviewConfig().decisions
NOW = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
DEFAULT_POSTGRES_URL = "postgresql+psycopg://ewp:ewp@127.0.0.1:5432/ewp_test"
WORKERS = ("a", "b", "c")
OWN = 20  # flags only one worker decides on
SHARED = 3  # flags every worker decides on, ROUNDS times each
ROUNDS = 8  # each write on a shared flag has a note of its own, so each is a change
DECISION = dict(zip(WORKERS, ALLOWED, strict=False))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose ``search_path`` is a fresh schema, dropped afterwards."""
    url = make_url(os.environ.get("EWP_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    admin = create_engine(url, connect_args={"connect_timeout": 3})
    schema = f"ewp_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(
            f"no PostgreSQL server at {url.render_as_string(hide_password=True)} "
            f"({str(exc.orig).strip().splitlines()[0]}); set EWP_TEST_POSTGRES_URL, or run "
            "the tests under .ci/with-postgres.sh as CI does"
        )
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'review.db'}"
    return request.getfixturevalue("postgres_url")


def _record_many(url: str, worker: str, plan: list[tuple[str, str]], barrier, results) -> None:
    """Child process: wait for the others, then, for each (flag, note) of ``plan``, read the
    flag's decision version and record this worker's decision against it, one transaction
    each, as separate ``ewp review decide --expect-version`` runs would. A write that meets a
    newer version is refused (``DecisionConflict``); the note names the version seen."""
    store = ReviewStore(url)
    barrier.wait()
    recorded = refused = 0
    for target, note in plan:
        current = store.decision(target)
        seen = 0 if current is None else current.version
        try:
            store.record_decision(
                flag_id=target,
                decision=DECISION[worker],
                reviewer=f"reviewer {worker}",
                note=f"{note} saw v{seen}",
                decided_on=date(2025, 1, 8),
                allowed=ALLOWED,
                expected_version=seen,
            )
            recorded += 1
        except DecisionConflict:
            refused += 1
    store.close()
    results.put((worker, recorded, refused))


def test_concurrent_reviewers_lose_no_write_and_overwrite_nobody_unknowingly(
    store_url: str,
) -> None:
    officers = tuple(f"O{i:03d}" for i in range(len(WORKERS) * OWN + SHARED))
    store = ReviewStore(store_url, clock=lambda: NOW)
    store.publish_flags(flag_list(officers), actor="score-flow")
    store.close()
    ids = [fid(o) for o in officers]
    shared = ids[:SHARED]
    own = {w: ids[SHARED + i * OWN : SHARED + (i + 1) * OWN] for i, w in enumerate(WORKERS)}
    # Every worker starts on the shared flags at once, round after round, then does its own.
    plans = {
        w: [(f, f"{w} round {r}") for r in range(ROUNDS) for f in shared]
        + [(f, "own") for f in own[w]]
        for w in WORKERS
    }

    # Spawn, not fork: the session may run threads (a Prefect test server) that a fork would
    # copy mid-flight.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(WORKERS))
    results = context.Queue()
    workers = [
        context.Process(target=_record_many, args=(store_url, w, plans[w], barrier, results))
        for w in WORKERS
    ]
    for worker in workers:
        worker.start()
    reported = [results.get(timeout=120) for _ in WORKERS]
    counts = {worker: (recorded, refused) for worker, recorded, refused in reported}
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * len(WORKERS)

    store = ReviewStore(store_url)
    try:
        decisions = store.decisions_frame().set_index("flag_id")
        trail = store.audit_frame()
    finally:
        store.close()
    # Every flag has a decision; every worker's own flags carry its decision, at version 1.
    assert len(decisions) == len(ids)
    for w in WORKERS:
        assert set(decisions.loc[own[w], "reviewer"]) == {f"reviewer {w}"}
        assert set(decisions.loc[own[w], "decision"]) == {DECISION[w]}
        assert set(decisions.loc[own[w], "version"]) == {1}
        assert sum(counts[w]) == len(plans[w])  # each write recorded or refused, none lost

    # The trail: one row per write (publishing, then every recorded decision), ids unique,
    # increasing and without gaps.
    assert trail["id"].tolist() == list(
        range(trail["id"].iloc[0], trail["id"].iloc[0] + len(trail))
    )
    assert (trail["action"] == "flag_published").sum() == len(ids)
    on_decisions = trail.loc[trail["action"].str.startswith("decision")]
    assert len(on_decisions) == sum(recorded for recorded, _ in counts.values())
    assert (on_decisions["action"] == "decision_recorded").sum() == len(ids)
    for flag, rows in on_decisions.groupby("flag_id"):
        actions = rows["action"].tolist()
        assert actions[0] == "decision_recorded" and rows["details"].iloc[0]["old"] is None
        assert set(actions[1:]) <= {"decision_changed"}
        details = rows["details"].tolist()
        # Each change starts from what the previous write left, in trail order and time, and
        # from the version its writer saw: nobody overwrote a decision they had not seen.
        for before, after in itertools.pairwise(details):
            assert after["old"] == before["new"]
        for entry in details:
            seen = 0 if entry["old"] is None else entry["old"]["version"]
            assert entry["new"]["note"].endswith(f"saw v{seen}")
            assert entry["new"]["version"] == seen + 1
        assert rows["at"].is_monotonic_increasing
        assert details[-1]["new"]["reviewer"] == decisions.loc[flag, "reviewer"]
        assert details[-1]["new"]["version"] == decisions.loc[flag, "version"] == len(details)
        assert rows["actor"].tolist() == [d["new"]["reviewer"] for d in details]


def test_a_stale_decision_is_refused_with_the_other_one_and_can_then_be_made_knowingly(
    store_url: str,
) -> None:
    """Reviewers A and B open the same undecided flag; A records a referral; B's "no action"
    from the stale form is refused, naming A's decision, and changes nothing; B decides again
    against A's version and that is recorded as a change of A's."""
    clock = lambda: NOW  # noqa: E731
    a, b = ReviewStore(store_url, clock=clock), ReviewStore(store_url, clock=clock)
    try:
        a.publish_flags(flag_list(("O1",)), actor="score-flow")
        target = fid("O1")
        seen_by_b = b.flags_frame()["version"].tolist()
        assert seen_by_b == [0]
        decided = {"flag_id": target, "decided_on": date(2025, 1, 8), "allowed": ALLOWED}
        assert (
            a.record_decision(
                **decided, decision="referral_to_professional_standards", reviewer="A"
            )
            == 1
        )
        with pytest.raises(DecisionConflict) as refused:
            b.record_decision(
                **decided, decision="no_action", reviewer="B", expected_version=seen_by_b[0]
            )
        [(expected, now)] = refused.value.conflicts
        assert expected == 0 and now is not None
        assert (now.decision, now.reviewer, now.recorded_by, now.recorded_at, now.version) == (
            "referral_to_professional_standards",
            "A",
            "A",
            NOW,
            1,
        )
        assert b.decision(target) == now  # nothing changed
        assert (
            b.record_decision(
                **decided, decision="no_action", reviewer="B", expected_version=now.version
            )
            == 2
        )
        changed = b.audit_frame().iloc[-1]
        assert changed["action"] == "decision_changed" and changed["actor"] == "B"
        assert changed["details"]["old"]["decision"] == "referral_to_professional_standards"
    finally:
        a.close()
        b.close()


def test_a_write_that_meets_a_lock_is_rolled_back_and_rerun(tmp_path: Path) -> None:
    store = ReviewStore(f"sqlite:///{tmp_path / 'review.db'}", clock=lambda: NOW)
    store.publish_flags(flag_list(("O1",)), actor="score-flow")
    calls: list[int] = []

    def work(conn) -> str:
        calls.append(1)
        conn.execute(text("INSERT INTO imports VALUES ('abc', 'f.csv', 1, '2025-01-01 00:00:00')"))
        if len(calls) == 1:  # the first attempt meets a lock after it has written
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
        return "written"

    assert store._run_write(work) == "written"
    assert len(calls) == 2
    with store._engine.connect() as conn:  # the first attempt left nothing behind
        assert conn.execute(text("SELECT COUNT(*) FROM imports")).scalar() == 1

    def broken(conn) -> None:
        calls.append(1)
        conn.execute(text("SELECT * FROM nowhere"))

    calls.clear()
    with pytest.raises(OperationalError, match="no such table"):
        store._run_write(broken)
    assert len(calls) == 1  # any other error is raised at once, not retried
    store.close()


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["rev.a"] * 30, {"wrong": 5, "refused": 25}),  # per user name: 5
        ([f"guess{i}" for i in range(30)], {"wrong": 20, "refused": 10}),  # per client: 20
    ],
    ids=["one-user", "one-client"],
)
def test_concurrent_wrong_passwords_get_no_more_tries_than_the_limit(
    store_url: str, names: list[str], expected: dict[str, int]
) -> None:
    """30 wrong passwords at once from one client: the attempt is reserved before the slow
    password check, so exactly the limit are checked (wrong password) and the rest refused."""
    store = WorkspaceStore(store_url, clock=lambda: NOW)
    store.add_user(
        username="rev.a", role="reviewer", units=["B1"], password="correct horse battery", actor="t"
    )
    limits = LoginLimits(per_user=5, per_client=20, window=timedelta(minutes=15))
    barrier = threading.Barrier(len(names))

    def attempt(name: str) -> str:
        barrier.wait()
        try:
            store.check_login(
                username=name, password="wrong guess 123", client="10.0.0.9", limits=limits
            )
        except LoginRefused:
            return "refused"
        except AccessError:
            return "wrong"
        return "signed in"

    try:
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            outcomes = Counter(pool.map(attempt, names))
        assert outcomes == expected
        attempts = Counter(
            store._frame(select(LOGIN_ATTEMPTS.c.outcome))["outcome"]  # every attempt recorded
        )
        assert attempts == {"failure": expected["wrong"], "refused": expected["refused"]}
    finally:
        store.close()
