"""The review store: published flags, the human decisions on them, and an append-only audit trail.

A ``ReviewStore`` wraps one SQLAlchemy 2.0 database: a SQLite file by default
(``sqlite:///path/review.db``), or a PostgreSQL URL for a shared deployment. Only portable types
and constructs are used; the tables are created if missing.

Schema
    ``flags``        one row per published flag: ``flag_id`` (primary key), ``as_of``,
                     ``officer_id``, ``unit``, ``rank``, ``score``, ``model_version``,
                     ``data_fingerprint`` and ``reasons`` (a JSON list of sentences). No
                     publication time is stored, so a flag's row depends on the flag alone.
    ``decisions``    the *current* decision per flag: ``flag_id`` (primary key, references
                     ``flags``), ``decision``, ``reviewer``, ``note``, ``decided_on`` and
                     ``version`` (1 for the first decision, one more for each change; a flag
                     without a decision is at version 0). A store created before versions
                     existed gets the column on opening, its decisions at version 1.
    ``audit_trail``  append-only: ``id``, ``at`` (UTC), ``actor``, ``action``, ``flag_id`` and
                     ``details`` (JSON text holding the old and new values). Actions:
                     ``flag_published``, ``flag_updated``, ``decision_recorded``,
                     ``decision_changed``, ``decisions_imported``. Nothing here updates or
                     deletes a trail row.
    ``imports``      one row per imported decisions file: ``sha256`` of its bytes (primary
                     key), ``file_name``, ``rows``, ``at``; a second import of the same bytes is
                     refused.

Versions: nobody overwrites a decision unknowingly
    A decision is a compare-and-set: the writer says which version of the flag's decision it
    saw (the workspace's form carries it; ``ewp review decide --expect-version N``; a
    ``version`` or ``review_version`` column in an imported file), and it is applied only if
    the flag is still at that version. No version stated means 0, "the flag is undecided". Else
    ``DecisionConflict`` is raised, naming the decision now on the flag, its reviewer, when it
    was recorded and by whom, and its version; nothing is written. Worked example: A and B
    open the same undecided flag (version 0); A records ``referral_to_professional_standards``
    (now version 1); B's ``no_action`` from the stale form (expecting 0) is refused with A's
    decision, and B can record it again, knowingly, expecting version 1. Recording exactly the
    current decision again is a no-op, whatever the version.

Idempotency
    Publishing is an upsert by ``flag_id``: a flag already stored with the same values is left
    alone and adds nothing to the trail, so rerunning a week changes nothing; a flag whose
    values changed is updated and the trail keeps old and new. Recording a decision identical
    to the current one is likewise a no-op.

Transactions
    Each call is one transaction: on any error nothing is written. An import validates every
    row (naming file, line and field) before applying anything. SQLite runs in WAL mode with
    foreign keys on, a 30 s busy timeout and ``BEGIN IMMEDIATE`` for writes, so concurrent
    writers queue instead of failing; on PostgreSQL the flag rows a decision touches are
    locked (``SELECT … FOR UPDATE``, in flag ID order), so two reviewers changing one flag at
    once both reach the trail, the second as a change of the first. A write that still meets
    a transient conflict (PostgreSQL's serialization failure or deadlock, SQLite's "database
    is locked" after the busy timeout) is rolled back and run again from the start, up to
    ``_WRITE_ATTEMPTS`` times; a trail entry is therefore written once or not at all.

Suppression rule
    A candidate officer is suppressed (not listed again, shown with the reason) when their most
    recent decision on or before the as-of date was recorded at most ``weeks`` weeks before it
    (``as_of - decided_on <= 7 * weeks`` days) and they have had no new notice since: their last
    notice is unknown, or dated before the decision. A notice on the day of the decision or
    later lists the officer again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from ewp.core.atomic import spreadsheet_value

_METADATA = MetaData()
_T = TypeVar("_T")

FLAGS = Table(
    "flags",
    _METADATA,
    Column("flag_id", String(64), primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("officer_id", String(64), nullable=False),
    Column("unit", String(200), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("score", Float, nullable=False),
    Column("model_version", String(200), nullable=False),
    Column("data_fingerprint", String(200), nullable=False),
    Column("reasons", Text, nullable=False),
    Index("ix_flags_officer_id", "officer_id"),
    Index("ix_flags_as_of", "as_of"),
)

DECISIONS = Table(
    "decisions",
    _METADATA,
    Column("flag_id", String(64), ForeignKey("flags.flag_id"), primary_key=True),
    Column("decision", String(100), nullable=False),
    Column("reviewer", String(200), nullable=False),
    Column("note", Text, nullable=False),
    Column("decided_on", Date, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    Index("ix_decisions_decided_on", "decided_on"),
)

AUDIT_TRAIL = Table(
    "audit_trail",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(50), nullable=False),
    Column("flag_id", String(64), nullable=True),
    Column("details", Text, nullable=False),
    Index("ix_audit_trail_flag_id", "flag_id"),
)

IMPORTS = Table(
    "imports",
    _METADATA,
    Column("sha256", String(64), primary_key=True),
    Column("file_name", String(500), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

_FLAG_COLUMNS: tuple[str, ...] = (
    "flag_id",
    "rank",
    "officer_id",
    "unit",
    "as_of",
    "score",
    "model_version",
    "data_fingerprint",
)
# Field of a decisions file -> the column names accepted for it (the second: flags.csv's).
_IMPORT_FIELDS: dict[str, tuple[str, ...]] = {
    "flag_id": ("flag_id",),
    "decision": ("decision", "review_decision"),
    "reviewer": ("reviewer",),
    "note": ("note", "review_note"),
    "decided_on": ("decided_on", "reviewed_on"),
    "version": ("version", "review_version"),
}
_OPTIONAL_FIELDS: frozenset[str] = frozenset({"note", "version"})
_IMMEDIATE = "ewp_begin_immediate"  # execution option: SQLite write transactions lock at BEGIN
_BUSY_TIMEOUT_MS = 30_000
_WRITE_ATTEMPTS = 5
_RETRY_PAUSE_S = 0.05  # doubled after each attempt, with jitter, so retries do not collide
# PostgreSQL SQLSTATEs of conflicts that a rerun of the transaction resolves.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock
_CHUNK = 500  # ids per IN (...) list, well below every backend's bound-parameter limit
_MAX_LISTED_PROBLEMS = 50


class ReviewError(ValueError):
    """A request the review store refuses; nothing was changed. The message says why."""


@dataclass(frozen=True)
class CurrentDecision:
    """The decision now on a flag, and who recorded it when (from the audit trail)."""

    flag_id: str
    decision: str
    reviewer: str
    note: str
    decided_on: date
    version: int
    recorded_at: datetime | None  # UTC; None if the trail has no entry for it
    recorded_by: str

    def describe(self) -> str:
        """In words, e.g. "referral_to_professional_standards by PS Ahmed, decided 2025-01-08,
        recorded 2025-01-09 10:03 UTC by PS Ahmed (version 1)"."""
        recorded = (
            f", recorded {self.recorded_at:%Y-%m-%d %H:%M} UTC by {self.recorded_by}"
            if self.recorded_at is not None
            else ""
        )
        note = f' (note: "{self.note}")' if self.note else ""
        return (
            f"{self.decision} by {self.reviewer}, decided {self.decided_on.isoformat()}"
            f"{recorded}{note} (version {self.version})"
        )


class DecisionConflict(ReviewError):
    """The flag's decision changed since the writer saw it (see "Versions" above): nothing
    was written. ``conflicts`` pairs each version the writer expected with the decision now
    there (None: the flag is still undecided)."""

    def __init__(self, message: str, conflicts: list[tuple[int, CurrentDecision | None]]) -> None:
        super().__init__(message)
        self.conflicts = conflicts


@dataclass(frozen=True)
class _Decision:
    flag_id: str
    decision: str
    reviewer: str
    note: str
    decided_on: date
    expected_version: int = 0  # the version its writer saw; 0: undecided

    def values(self) -> dict[str, Any]:
        """The ``decisions`` row's values, without the version."""
        return {
            "flag_id": self.flag_id,
            "decision": self.decision,
            "reviewer": self.reviewer,
            "note": self.note,
            "decided_on": self.decided_on,
        }


def default_url(home: Path) -> str:
    """The default review store: the SQLite file ``review.db`` under the data home."""
    return f"sqlite:///{home / 'review.db'}"


class ReviewStore:
    """Flags, decisions and the audit trail in one database (see the module docstring).

    ``url`` is a SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://…``); a SQLite
    file's directory is created if missing. ``clock`` gives the current time (timezone-aware;
    a naive value is taken as UTC) for trail entries and the "decision in the future" check;
    inject a fixed one in tests.
    """

    def __init__(
        self, url: str, *, clock: Callable[[], datetime] = lambda: datetime.now().astimezone()
    ) -> None:
        parsed = make_url(url)
        is_sqlite = parsed.get_backend_name() == "sqlite"
        if is_sqlite and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self._engine: Engine = create_engine(parsed, pool_pre_ping=True)
        if is_sqlite:
            _configure_sqlite(self._engine)
        self._writer: Engine = self._engine.execution_options(**{_IMMEDIATE: True})
        self._clock = clock
        try:
            with self._write() as conn:
                _METADATA.create_all(conn)
        except DBAPIError:
            # PostgreSQL: another process created the tables at the same moment; they exist now.
            with self._write() as conn:
                _METADATA.create_all(conn)
        self._add_version_column()

    def close(self) -> None:
        """Close the store's database connections."""
        self._engine.dispose()

    # -- writing ---------------------------------------------------------------------------

    def publish_flags(self, flags: pd.DataFrame, *, actor: str) -> int:
        """Store a flag list (``ewp.models.flags.build_flag_list``'s layout, or flags.csv read
        back).

        Upserts by ``flag_id``: new flags are inserted, flags whose values changed are updated,
        identical ones are left alone; each insert or update appends one trail entry. Returns
        the number of new flags. Raises ``ReviewError`` for a missing column, a bad value or a
        repeated ``flag_id``.
        """
        actor = _required_text(actor, what="actor")
        rows = _flag_rows(flags)
        # PostgreSQL: a concurrent publisher may insert some of these flags first; the
        # transaction is then rolled back and rerun, reading them back and upserting the rest.
        return self._run_write(
            lambda conn: self._upsert_flags(conn, rows, actor=actor), retry_integrity=True
        )

    def record_decision(
        self,
        *,
        flag_id: str,
        decision: str,
        reviewer: str,
        note: str = "",
        decided_on: date,
        allowed: Sequence[str],
        expected_version: int = 0,
    ) -> int:
        """Record (or change) the decision on one flag; the reviewer is the trail's actor.
        Returns the flag's decision version after the call.

        ``expected_version`` is the version of the flag's decision the reviewer saw (0, the
        default: the flag is undecided). If the flag is at another version,
        ``DecisionConflict`` is raised naming the decision now there (see "Versions" in the
        module docstring). Raises ``ReviewError``, changing nothing, for an unknown flag ID, a
        decision not in ``allowed``, an empty reviewer, or a ``decided_on`` before the flag's
        as-of date or in the future. Recording the current decision again changes nothing.
        """
        if not isinstance(decided_on, date) or isinstance(decided_on, datetime):
            raise ReviewError(f"decided_on must be a date, got {decided_on!r}")
        if expected_version < 0:
            raise ReviewError(f"expected version must be 0 or more, got {expected_version}")
        item = _Decision(
            flag_id=flag_id.strip(),
            decision=decision.strip(),
            reviewer=reviewer.strip(),
            note=note.strip(),
            decided_on=decided_on,
            expected_version=expected_version,
        )
        _raise_if(
            _decision_problems(
                flag_id=item.flag_id,
                decision=item.decision,
                reviewer=item.reviewer,
                decided_on=item.decided_on,
                allowed=allowed,
                today=self._clock().date(),
            )
        )

        def write(conn: Connection) -> int:
            as_of = _lock_flags(conn, [item.flag_id]).get(item.flag_id)
            _raise_if(_flag_problems(flag_id=item.flag_id, decided_on=decided_on, as_of=as_of))
            current = _current_decisions(conn, [item.flag_id])
            conflicts = _conflicts(conn, [item], current)
            if conflicts:
                expected, now = conflicts[0][1:]
                raise DecisionConflict(
                    f"flag {item.flag_id}: {_conflict_text(expected, now)}",
                    [(expected, now)],
                )
            _apply_decisions(
                conn, [item], current, actor=item.reviewer, at=self._now(), source=None
            )
            return int(_current_decisions(conn, [item.flag_id])[item.flag_id]["version"])

        return self._run_write(write)

    def import_decisions(self, path: Path, *, allowed: Sequence[str], actor: str) -> int:
        """Apply a CSV of decisions, all rows or none, in one transaction.

        Columns ``flag_id``, ``decision``, ``reviewer``, ``note`` (optional), ``decided_on``
        (YYYY-MM-DD) and ``version`` (optional: the version of the flag's decision the file was
        filled in against; blank or absent: the flag must be undecided); flags.csv's
        ``review_decision``, ``review_note``, ``reviewed_on`` and ``review_version`` are
        accepted in their place, other columns are ignored. Cells are read as ewp writes them
        (``ewp.core.atomic.spreadsheet_value``). Rows with a blank decision are skipped (the trail
        entry counts them). Every row is validated first; ``ReviewError`` lists each problem
        with file, line and field, and nothing is applied; if the only problems are decisions
        changed since the file was filled in, it is a ``DecisionConflict`` naming each one.
        A file whose bytes were imported before is refused ("already imported on …").
        Returns the number of decisions in the file (rows with a decision).
        """
        actor = _required_text(actor, what="actor")
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ReviewError(f"{path}: file not found") from exc
        sha256 = hashlib.sha256(data).hexdigest()
        name = path.name
        rows = _read_decisions_csv(data, name=name)
        parsed = _parse_decisions(rows, allowed=allowed, today=self._clock().date())
        at = self._now()

        def write(conn: Connection) -> None:
            _refuse_repeat_import(conn, sha256, name=name)
            # Inserted first: a concurrent import of the same file waits here, then fails.
            conn.execute(
                insert(IMPORTS).values(sha256=sha256, file_name=name, rows=len(rows), at=at)
            )
            stored = _lock_flags(conn, [flag_id for _, flag_id, _ in parsed.targets])
            problems = parsed.problems + [
                (line, field, message)
                for line, flag_id, decided_on in parsed.targets
                for field, message in _flag_problems(
                    flag_id=flag_id, decided_on=decided_on, as_of=stored.get(flag_id)
                )
            ]
            if problems:
                raise ReviewError(_problem_report(name, problems))
            current = _current_decisions(conn, [item.flag_id for item in parsed.items])
            conflicts = _conflicts(conn, parsed.items, current)
            if conflicts:
                line_of = {flag_id: line for line, flag_id, _ in parsed.targets}
                raise DecisionConflict(
                    _problem_report(
                        name,
                        [
                            (
                                line_of[item.flag_id],
                                "version",
                                f"{item.flag_id}: {_conflict_text(expected, now)}",
                            )
                            for item, expected, now in conflicts
                        ],
                    ),
                    [(expected, now) for _, expected, now in conflicts],
                )
            counts = _apply_decisions(conn, parsed.items, current, actor=actor, at=at, source=name)
            _append_audit(
                conn,
                at=at,
                actor=actor,
                action="decisions_imported",
                flag_id=None,
                details={
                    "file": name,
                    "sha256": sha256,
                    "rows": len(rows),
                    "decisions": len(parsed.items),
                    "skipped_blank": parsed.skipped,
                    **{key: counts[key] for key in ("recorded", "changed", "unchanged")},
                },
            )

        try:
            self._run_write(write)
        except IntegrityError:
            # PostgreSQL: the same file was imported concurrently and committed first.
            with self._engine.connect() as conn:
                _refuse_repeat_import(conn, sha256, name=name)
            raise
        return len(parsed.items)

    # -- reading ---------------------------------------------------------------------------

    def suppressed(
        self,
        *,
        candidates: pd.DataFrame,
        as_of: date,
        weeks: int,
        last_notice: Mapping[str, date | None],
    ) -> pd.DataFrame:
        """The candidate officers to leave off the list at ``as_of``, with the reason.

        ``candidates`` needs an ``officer_id`` column; ``last_notice`` maps an officer to the
        date of their latest notice known at ``as_of`` (a missing officer, None or NaT counts
        as none). See
        the module docstring for the rule. Returns ``officer_id``, ``last_flag_id``,
        ``decided_on``, ``decision``, ``reason``, in candidate order.
        """
        if "officer_id" not in candidates.columns:
            raise ReviewError("candidates need an officer_id column")
        if weeks < 0:
            raise ReviewError(f"weeks must be 0 or more, got {weeks}")
        query = (
            select(
                FLAGS.c.officer_id,
                FLAGS.c.flag_id,
                FLAGS.c.as_of,
                DECISIONS.c.decision,
                DECISIONS.c.decided_on,
            )
            .join(DECISIONS, DECISIONS.c.flag_id == FLAGS.c.flag_id)
            .where(DECISIONS.c.decided_on.between(as_of - timedelta(weeks=weeks), as_of))
        )
        with self._engine.connect() as conn:
            recent = conn.execute(query).all()
        latest: dict[str, Any] = {}
        for row in sorted(recent, key=lambda r: (r.decided_on, r.as_of, r.flag_id)):
            latest[row.officer_id] = row
        out = []
        for officer in dict.fromkeys(candidates["officer_id"].astype(str)):
            row = latest.get(officer)
            notice = _optional_date(last_notice.get(officer))
            if row is None or (notice is not None and notice >= row.decided_on):
                continue
            out.append(
                {
                    "officer_id": officer,
                    "last_flag_id": row.flag_id,
                    "decided_on": row.decided_on,
                    "decision": row.decision,
                    "reason": (
                        f"reviewed {row.decided_on.isoformat()} "
                        f"({row.decision.replace('_', ' ')}); no new notice since"
                    ),
                }
            )
        return pd.DataFrame(
            out, columns=["officer_id", "last_flag_id", "decided_on", "decision", "reason"]
        )

    def flags_frame(self, as_of: date | None = None) -> pd.DataFrame:
        """Stored flags (those of ``as_of`` only, if given) with their current decision.

        Columns ``flag_id``, ``as_of``, ``rank``, ``officer_id``, ``unit``, ``score``,
        ``reasons`` (a list of sentences), ``model_version``, ``data_fingerprint``,
        ``decision``, ``reviewer``, ``note``, ``decided_on`` (missing, ``pd.isna``, while
        undecided) and ``version`` (0 while undecided); ordered by as-of date and rank.
        """
        query = (
            select(
                FLAGS.c.flag_id,
                FLAGS.c.as_of,
                FLAGS.c.rank,
                FLAGS.c.officer_id,
                FLAGS.c.unit,
                FLAGS.c.score,
                FLAGS.c.reasons,
                FLAGS.c.model_version,
                FLAGS.c.data_fingerprint,
                DECISIONS.c.decision,
                DECISIONS.c.reviewer,
                DECISIONS.c.note,
                DECISIONS.c.decided_on,
                DECISIONS.c.version,
            )
            .outerjoin(DECISIONS, DECISIONS.c.flag_id == FLAGS.c.flag_id)
            .order_by(FLAGS.c.as_of, FLAGS.c.rank, FLAGS.c.flag_id)
        )
        if as_of is not None:
            query = query.where(FLAGS.c.as_of == as_of)
        frame = self._frame(query)
        frame["reasons"] = [json.loads(text) for text in frame["reasons"]]
        frame["version"] = frame["version"].fillna(0).astype("int64")
        return frame

    def decisions_frame(self) -> pd.DataFrame:
        """Current decisions: ``flag_id``, ``officer_id``, ``as_of``, ``decision``, ``reviewer``,
        ``note``, ``decided_on``, ``version``; ordered by decision date and flag ID."""
        query = (
            select(
                DECISIONS.c.flag_id,
                FLAGS.c.officer_id,
                FLAGS.c.as_of,
                DECISIONS.c.decision,
                DECISIONS.c.reviewer,
                DECISIONS.c.note,
                DECISIONS.c.decided_on,
                DECISIONS.c.version,
            )
            .join(FLAGS, FLAGS.c.flag_id == DECISIONS.c.flag_id)
            .order_by(DECISIONS.c.decided_on, DECISIONS.c.flag_id)
        )
        return self._frame(query)

    def decision(self, flag_id: str) -> CurrentDecision | None:
        """The decision now on ``flag_id``, with who recorded it when; None if undecided."""
        with self._engine.connect() as conn:
            current = _current_decisions(conn, [flag_id])
            return _described(conn, current[flag_id]) if flag_id in current else None

    def audit_frame(self) -> pd.DataFrame:
        """The audit trail, oldest first: ``id``, ``at`` (UTC timestamps), ``actor``,
        ``action``, ``flag_id``, ``details`` (a dict: ``old``/``new`` values or import
        counts)."""
        frame = self._frame(select(AUDIT_TRAIL).order_by(AUDIT_TRAIL.c.id))
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        frame["details"] = [json.loads(text) for text in frame["details"]]
        return frame

    # -- internals -------------------------------------------------------------------------

    def _run_write(self, work: Callable[[Connection], _T], *, retry_integrity: bool = False) -> _T:
        """``work`` in one write transaction, rerun from the start after a transient conflict
        (and, with ``retry_integrity``, after a unique-key clash with a concurrent writer)."""
        attempt = 1
        while True:
            try:
                with self._write() as conn:
                    return work(conn)
            except DBAPIError as exc:
                retry = _is_transient(exc) or (retry_integrity and isinstance(exc, IntegrityError))
                if not retry or attempt == _WRITE_ATTEMPTS:
                    raise
            time.sleep(_RETRY_PAUSE_S * 2 ** (attempt - 1) * (1 + random.random()))
            attempt += 1

    def _add_version_column(self) -> None:
        """Give a store created before decision versions its ``decisions.version`` column
        (existing decisions at version 1)."""
        with self._engine.connect() as conn:
            if "version" in {c["name"] for c in inspect(conn).get_columns("decisions")}:
                return
        try:
            with self._write() as conn:
                conn.execute(
                    sql_text("ALTER TABLE decisions ADD COLUMN version INTEGER NOT NULL DEFAULT 1")
                )
        except DBAPIError:
            with self._engine.connect() as conn:  # another process added it at the same moment
                if "version" not in {c["name"] for c in inspect(conn).get_columns("decisions")}:
                    raise

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite); rolled back on error."""
        with self._writer.begin() as conn:
            yield conn

    def _now(self) -> datetime:
        return _as_utc(self._clock())

    def _frame(self, query: Any) -> pd.DataFrame:
        with self._engine.connect() as conn:
            result = conn.execute(query)
            return pd.DataFrame(result.all(), columns=list(result.keys()))

    def _upsert_flags(self, conn: Connection, rows: list[dict[str, Any]], *, actor: str) -> int:
        stored: dict[str, dict[str, Any]] = {}
        for chunk in _chunks([row["flag_id"] for row in rows]):
            query = select(FLAGS).where(FLAGS.c.flag_id.in_(chunk))
            stored.update({r.flag_id: dict(r._mapping) for r in conn.execute(query)})
        at = self._now()
        new = 0
        for row in sorted(rows, key=lambda r: r["flag_id"]):
            old = stored.get(row["flag_id"])
            if old == row:
                continue
            if old is None:
                conn.execute(insert(FLAGS).values(**row))
                new += 1
            else:
                conn.execute(update(FLAGS).where(FLAGS.c.flag_id == row["flag_id"]).values(**row))
            _append_audit(
                conn,
                at=at,
                actor=actor,
                action="flag_published" if old is None else "flag_updated",
                flag_id=row["flag_id"],
                details={"old": _flag_details(old), "new": _flag_details(row)},
            )
        return new


def _is_transient(exc: DBAPIError) -> bool:
    """A conflict that rerunning the transaction resolves: PostgreSQL's serialization failure
    or deadlock, or SQLite still locked after the busy timeout."""
    if getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    message = str(exc.orig).lower()
    return isinstance(exc.orig, sqlite3.OperationalError) and (
        "locked" in message or "busy" in message
    )


# -- SQLite ----------------------------------------------------------------------------------


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and SQLAlchemy-issued BEGIN (IMMEDIATE for writes)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Stop pysqlite issuing its own BEGIN/COMMIT; ``_on_begin`` below issues BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write transaction takes the write lock at BEGIN, waiting up to the busy timeout,
        # so a read-then-write never fails on a lock upgrade.
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# -- flags -----------------------------------------------------------------------------------


def _flag_rows(flags: pd.DataFrame) -> list[dict[str, Any]]:
    """The flag list as ``flags`` table rows; ``ReviewError`` on a missing column or bad value."""
    missing = [column for column in _FLAG_COLUMNS if column not in flags.columns]
    if missing:
        raise ReviewError(f"the flag list lacks column(s): {', '.join(missing)}")
    reason_columns = sorted(
        (c for c in flags.columns if re.fullmatch(r"reason_\d+", str(c))),
        key=lambda c: int(str(c).removeprefix("reason_")),
    )
    rows = []
    for number, record in enumerate(flags.to_dict("records"), start=1):
        try:
            rows.append(
                {
                    "flag_id": _required_text(record["flag_id"], what="flag_id"),
                    "as_of": _as_date(record["as_of"]),
                    "officer_id": _required_text(record["officer_id"], what="officer_id"),
                    "unit": _text(record["unit"]),
                    "rank": int(record["rank"]),
                    "score": round(float(record["score"]), 6),
                    "model_version": _required_text(record["model_version"], what="model_version"),
                    "data_fingerprint": _text(record["data_fingerprint"]),
                    "reasons": json.dumps(
                        [_text(record[c]) for c in reason_columns if _text(record[c])],
                        ensure_ascii=False,
                    ),
                }
            )
        except (TypeError, ValueError) as exc:
            raise ReviewError(f"flag list row {number}: {exc}") from exc
    repeated = sorted(flag for flag, n in Counter(r["flag_id"] for r in rows).items() if n > 1)
    if repeated:
        raise ReviewError(f"the flag list repeats flag ID(s): {', '.join(repeated)}")
    return rows


# -- decisions -------------------------------------------------------------------------------


def _decision_problems(
    *,
    flag_id: str,
    decision: str,
    reviewer: str,
    decided_on: date | None,
    allowed: Sequence[str],
    today: date,
) -> list[tuple[str, str]]:
    """(field, problem) for the checks that need no database (``decided_on`` None: unread)."""
    problems = []
    if not flag_id:
        problems.append(("flag_id", "empty"))
    if decision not in allowed:
        problems.append(
            (
                "decision",
                f"{decision!r} is not an allowed decision; expected one of: {', '.join(allowed)}",
            )
        )
    if not reviewer:
        problems.append(("reviewer", "empty; name the reviewer"))
    if decided_on is not None and decided_on > today:
        problems.append(("decided_on", f"{decided_on} is in the future"))
    return problems


def _flag_problems(
    *, flag_id: str, decided_on: date | None, as_of: date | None
) -> list[tuple[str, str]]:
    """(field, problem) for the checks against the stored flag (``as_of`` None: not stored)."""
    if not flag_id:  # reported by _decision_problems
        return []
    if as_of is None:
        return [("flag_id", f"unknown flag ID {flag_id}")]
    if decided_on is not None and decided_on < as_of:
        return [("decided_on", f"{decided_on} is before the flag's as-of date {as_of}")]
    return []


def _lock_flags(conn: Connection, flag_ids: Sequence[str]) -> dict[str, date]:
    """The as-of date of each stored flag among ``flag_ids``, locking their rows (PostgreSQL)
    in flag ID order, so concurrent writers to one flag take turns and never deadlock."""
    found: dict[str, date] = {}
    for chunk in _chunks(sorted(set(flag_ids))):
        query = (
            select(FLAGS.c.flag_id, FLAGS.c.as_of)
            .where(FLAGS.c.flag_id.in_(chunk))
            .order_by(FLAGS.c.flag_id)
            .with_for_update()
        )
        found.update({row.flag_id: row.as_of for row in conn.execute(query)})
    return found


def _current_decisions(conn: Connection, flag_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The ``decisions`` row (version included) of each decided flag among ``flag_ids``."""
    current: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(list(flag_ids)):
        query = select(DECISIONS).where(DECISIONS.c.flag_id.in_(chunk))
        current.update({row.flag_id: dict(row._mapping) for row in conn.execute(query)})
    return current


def _conflicts(
    conn: Connection, items: list[_Decision], current: Mapping[str, Mapping[str, Any]]
) -> list[tuple[_Decision, int, CurrentDecision | None]]:
    """(item, version it expected, decision now there) for each item whose flag is no longer at
    the version its writer saw. Recording exactly the current decision is never a conflict."""
    found = []
    for item in items:
        old = current.get(item.flag_id)
        if old is not None and _values(old) == item.values():
            continue
        version = 0 if old is None else int(old["version"])
        if version != item.expected_version:
            found.append(
                (item, item.expected_version, None if old is None else _described(conn, old))
            )
    return found


def _conflict_text(expected: int, now: CurrentDecision | None) -> str:
    if now is None:
        return f"version {expected} was expected, but the flag has no decision; nothing was saved"
    seen = "undecided" if expected == 0 else f"at version {expected}"
    return (
        f"the decision changed after you saw it {seen}: it is now {now.describe()}. "
        f"Nothing was saved; to replace it, decide again against version {now.version}"
    )


def _described(conn: Connection, row: Mapping[str, Any]) -> CurrentDecision:
    """A ``decisions`` row with who recorded it when, from its latest trail entry."""
    entry = conn.execute(
        select(AUDIT_TRAIL.c.at, AUDIT_TRAIL.c.actor)
        .where(
            AUDIT_TRAIL.c.flag_id == row["flag_id"],
            AUDIT_TRAIL.c.action.in_(("decision_recorded", "decision_changed")),
        )
        .order_by(AUDIT_TRAIL.c.id.desc())
        .limit(1)
    ).first()
    return CurrentDecision(
        **_values(row),
        version=int(row["version"]),
        recorded_at=None if entry is None else _as_utc(entry.at),
        recorded_by="" if entry is None else entry.actor,
    )


def _values(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``decisions`` row without its version."""
    return {key: value for key, value in row.items() if key != "version"}


def _apply_decisions(
    conn: Connection,
    items: list[_Decision],
    current: Mapping[str, Mapping[str, Any]],
    *,
    actor: str,
    at: datetime,
    source: str | None,
) -> Counter[str]:
    """Insert or update each decision (``current``: the rows before, checked by ``_conflicts``)
    and append old -> new to the trail; counts by outcome."""
    counts: Counter[str] = Counter()
    for item in items:
        old = current.get(item.flag_id)
        if old is not None and _values(old) == item.values():
            counts["unchanged"] += 1
            continue
        new = {**item.values(), "version": 1 if old is None else int(old["version"]) + 1}
        if old is None:
            conn.execute(insert(DECISIONS).values(**new))
            counts["recorded"] += 1
        else:
            conn.execute(update(DECISIONS).where(DECISIONS.c.flag_id == item.flag_id).values(**new))
            counts["changed"] += 1
        details: dict[str, Any] = {"old": None if old is None else dict(old), "new": new}
        if source is not None:
            details["source"] = source
        _append_audit(
            conn,
            at=at,
            actor=actor,
            action="decision_recorded" if old is None else "decision_changed",
            flag_id=item.flag_id,
            details=details,
        )
    return counts


# -- decision files --------------------------------------------------------------------------


def _read_decisions_csv(data: bytes, *, name: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, field -> text) for each non-blank row of a decisions CSV.

    Line numbers are physical lines (the header is line 1), right even when a quoted note spans
    several lines. Columns are matched case-insensitively; see ``_IMPORT_FIELDS``.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReviewError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [column.strip().lower() for column in next(reader)]
    except StopIteration:
        raise ReviewError(f"{name}: the file is empty") from None
    except csv.Error as exc:
        raise ReviewError(f"{name} line 1: not valid CSV: {exc}") from exc
    positions: dict[str, int] = {}
    problems = []
    for field, names in _IMPORT_FIELDS.items():
        present = [column for column in names if column in header]
        if len(present) > 1:
            problems.append(f"both {' and '.join(present)} columns; keep one")
        elif present:
            positions[field] = header.index(present[0])
        elif field not in _OPTIONAL_FIELDS:
            problems.append(f"no {' or '.join(names)} column")
    if problems:
        raise ReviewError(f"{name} line 1: {'; '.join(problems)}")
    rows = []
    start = reader.line_num + 1
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                if len(record) > len(header):
                    raise ReviewError(
                        f"{name} line {start}: {len(record)} fields, the header has {len(header)}"
                    )
                cells = [*record, *[""] * (len(header) - len(record))]
                rows.append(
                    (start, {f: spreadsheet_value(cells[i].strip()) for f, i in positions.items()})
                )
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ReviewError(f"{name} line {start}: not valid CSV: {exc}") from exc
    return rows


@dataclass(frozen=True)
class _ParsedFile:
    """A decisions file after the checks that need no database."""

    items: list[_Decision]  # the rows with a decision whose date could be read
    targets: list[tuple[int, str, date | None]]  # (line, flag_id, decided_on) to check in the DB
    problems: list[tuple[int, str, str]]  # (line, field, problem)
    skipped: int  # rows with a blank decision


def _parse_decisions(
    rows: list[tuple[int, dict[str, str]]], *, allowed: Sequence[str], today: date
) -> _ParsedFile:
    """Check each row with a decision; rows with a blank decision are only counted."""
    items: list[_Decision] = []
    targets: list[tuple[int, str, date | None]] = []
    problems: list[tuple[int, str, str]] = []
    first_line: dict[str, int] = {}
    for line, cells in rows:
        if not cells["decision"]:
            continue
        flag_id = cells["flag_id"]
        try:
            decided_on: date | None = date.fromisoformat(cells["decided_on"])
        except ValueError:
            decided_on = None
            problems.append(
                (line, "decided_on", f"{cells['decided_on']!r} is not a date in YYYY-MM-DD form")
            )
        problems.extend(
            (line, field, message)
            for field, message in _decision_problems(
                flag_id=flag_id,
                decision=cells["decision"],
                reviewer=cells["reviewer"],
                decided_on=decided_on,
                allowed=allowed,
                today=today,
            )
        )
        version_text = cells.get("version", "")
        expected_version = int(version_text) if version_text.isdigit() else 0
        if version_text and not version_text.isdigit():
            problems.append(
                (line, "version", f"{version_text!r} is not a version (a whole number, 0 or more)")
            )
        if flag_id in first_line:
            problems.append(
                (line, "flag_id", f"{flag_id} also has a decision on line {first_line[flag_id]}")
            )
        first_line.setdefault(flag_id, line)
        targets.append((line, flag_id, decided_on))
        if decided_on is not None:
            items.append(
                _Decision(
                    flag_id=flag_id,
                    decision=cells["decision"],
                    reviewer=cells["reviewer"],
                    note=cells.get("note", ""),
                    decided_on=decided_on,
                    expected_version=expected_version,
                )
            )
    return _ParsedFile(
        items=items, targets=targets, problems=problems, skipped=len(rows) - len(targets)
    )


def _raise_if(problems: list[tuple[str, str]]) -> None:
    """``ReviewError`` listing ``(field, problem)`` pairs, if any."""
    if problems:
        raise ReviewError("; ".join(f"{field}: {message}" for field, message in problems))


def _problem_report(name: str, problems: list[tuple[int, str, str]]) -> str:
    """One message listing each problem as ``<file> line <n>, field <f>: <problem>``."""
    ordered = sorted(problems)
    lines = [f"{name} line {line}, field {field}: {message}" for line, field, message in ordered]
    if len(lines) > _MAX_LISTED_PROBLEMS:
        lines = [*lines[:_MAX_LISTED_PROBLEMS], f"… and {len(lines) - _MAX_LISTED_PROBLEMS} more"]
    count = f"{len(ordered)} problem{'s' if len(ordered) != 1 else ''}"
    return f"{name}: {count}, nothing imported:\n" + "\n".join(lines)


def _refuse_repeat_import(conn: Connection, sha256: str, *, name: str) -> None:
    """``ReviewError`` if a file with these bytes was imported before."""
    previous = conn.execute(select(IMPORTS).where(IMPORTS.c.sha256 == sha256)).first()
    if previous is not None:
        at = _as_utc(previous.at)
        raise ReviewError(
            f"{name}: already imported on {at:%Y-%m-%d %H:%M} UTC (as {previous.file_name}, "
            f"{previous.rows} rows); nothing changed"
        )


# -- helpers ---------------------------------------------------------------------------------


def _flag_details(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A ``flags`` row for the trail, reasons as a list rather than JSON text."""
    return None if row is None else {**row, "reasons": json.loads(row["reasons"])}


def _append_audit(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    flag_id: str | None,
    details: Mapping[str, Any],
) -> None:
    conn.execute(
        insert(AUDIT_TRAIL).values(
            at=at,
            actor=actor,
            action=action,
            flag_id=flag_id,
            details=json.dumps(details, sort_keys=True, default=str, ensure_ascii=False),
        )
    )


def _as_utc(value: datetime) -> datetime:
    """``value`` as aware UTC; naive is taken as UTC (SQLite returns stored times naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip())


def _optional_date(value: object) -> date | None:
    """A date, or None for a missing one (None, NaT); pandas Timestamps are accepted."""
    return None if value is None or pd.isna(value) else _as_date(value)


def _text(value: object) -> str:
    """A cell as stripped text; missing values (None, NaN) as ``""``."""
    if isinstance(value, str):
        return value.strip()
    return "" if value is None or pd.isna(value) else str(value).strip()


def _required_text(value: object, *, what: str) -> str:
    text = _text(value)
    if not text:
        raise ReviewError(f"{what} must not be empty")
    return text


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
