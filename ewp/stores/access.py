"""Who may use the review workspace (``ewp web``), and a log of what they did.

``WorkspaceStore`` is the review store (``ewp.stores.review.ReviewStore``: flags, decisions, audit
trail) plus the tables below, kept in the same database and the same SQLAlchemy metadata, so
SQLite and PostgreSQL both work and one URL (``review.database_url``) configures everything.

Schema
    ``users``           ``username`` (primary key), ``role`` (``ROLES``), ``password_hash``
                        (argon2id; NULL for an account that only signs in through a trusted
                        reverse proxy), ``active``, ``created_at``.
    ``user_units``      the units a reviewer may see: (``username``, ``unit``).
    ``web_sessions``    one row per login: ``session_hash`` (SHA-256 of the random session
                        token in the user's signed cookie; the token itself is never stored),
                        ``username``, ``created_at``, ``last_seen_at``, ``ended_at``
                        (logout). A session ends ``idle`` after its last request and ``lifetime``
                        after login, whichever comes first.
    ``login_attempts``  every password login: ``at``, ``username`` (as typed), ``client``
                        (address), ``outcome`` (``pending`` while its password is checked, then
                        ``success`` or ``failure``; ``refused``). The rate limit counts
                        failures and pending attempts in a sliding window here, reserving each
                        attempt before its password is checked, so it holds across restarts,
                        across several server processes sharing the database and under a
                        burst of concurrent requests.
    ``access_log``      append-only: ``at`` (UTC), ``username``, ``action``, ``target`` (a flag
                        ID, user name, week or path), ``outcome`` (``AccessOutcome``:
                        ``allowed``, ``denied``, ``rejected`` or ``conflict``), ``client``.
                        Every view of an officer card, every decision, export, login, logout
                        and account change is logged, refused ones included, and so is every
                        request the workspace refuses (a role's forbidden page, a bad CSRF
                        token).

Roles
    ``reviewer`` sees and decides the flags of the units assigned to them, and reads the
    fairness audits and model cards; ``auditor`` reads aggregate fairness audits and model
    cards, never an officer card; ``admin`` manages users and their units and reads the access
    log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    and_,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

# The access tables join the review store's metadata, so the store creates them with its own.
from ewp.stores.review import _METADATA, FLAGS, ReviewStore, _as_utc

Role = Literal["reviewer", "auditor", "analyst", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
# An access log entry's outcome: done; refused for who asked (403, 404, CSRF); refused as
# invalid (400); refused because the flag's decision changed since the form was opened (409).
AccessOutcome = Literal["allowed", "denied", "rejected", "conflict"]
MIN_PASSWORD_LENGTH = 12
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
# A session's last-seen time is written at most this often (one write per request is waste).
TOUCH_EVERY = dt.timedelta(seconds=30)

USERS = Table(
    "users",
    _METADATA,
    Column("username", String(100), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(200), nullable=True),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

USER_UNITS = Table(
    "user_units",
    _METADATA,
    Column("username", String(100), ForeignKey("users.username"), primary_key=True),
    Column("unit", String(200), primary_key=True),
)

WEB_SESSIONS = Table(
    "web_sessions",
    _METADATA,
    Column("session_hash", String(64), primary_key=True),
    Column("username", String(100), ForeignKey("users.username"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
)

LOGIN_ATTEMPTS = Table(
    "login_attempts",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("username", String(200), nullable=False),
    Column("client", String(100), nullable=False),
    Column("outcome", String(10), nullable=False),
    Index("ix_login_attempts_username_at", "username", "at"),
    Index("ix_login_attempts_client_at", "client", "at"),
)

ACCESS_LOG = Table(
    "access_log",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("username", String(200), nullable=False),
    Column("action", String(50), nullable=False),
    Column("target", String(200), nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("client", String(100), nullable=False),
    Index("ix_access_log_at", "at"),
)

_HASHER = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory defaults
# Verified against when the user name is unknown, so a login takes as long either way.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class AccessError(ValueError):
    """A request about accounts the store refuses; nothing was changed. The message says why."""


class LoginRefused(AccessError):
    """Too many failed logins in the window: refused without checking the password."""


@dataclass(frozen=True)
class User:
    """A workspace account as the app sees it."""

    username: str
    role: str
    units: frozenset[str]
    active: bool
    has_password: bool

    def may_see_unit(self, unit: str) -> bool:
        """Reviewers see the flags of their own units; nobody else sees officer cards."""
        return self.role == "reviewer" and unit in self.units


@dataclass(frozen=True)
class LoginLimits:
    """The login rate limit: failures allowed per user name and per client in ``window``."""

    per_user: int
    per_client: int
    window: dt.timedelta


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``; ``AccessError`` if it is shorter than the minimum."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccessError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def session_hash(token: str) -> str:
    """What the store keeps of a session token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


class WorkspaceStore(ReviewStore):
    """The review store with accounts, sessions, the login rate limit and the access log."""

    # -- accounts --------------------------------------------------------------------------

    def add_user(
        self,
        *,
        username: str,
        role: str,
        units: Collection[str] = (),
        password: str | None,
        actor: str,
    ) -> User:
        """Create an account. ``password`` None makes an account that can only sign in through
        a trusted reverse proxy. Raises ``AccessError`` for a bad name, role, unit list or
        password, or a name already taken."""
        name = _check_username(username)
        check_role(role, units)
        digest = None if password is None else hash_password(password)
        now = self._now()
        with self._write() as conn:
            if conn.execute(select(USERS.c.username).where(USERS.c.username == name)).first():
                raise AccessError(f"user {name} already exists")
            conn.execute(
                insert(USERS).values(
                    username=name, role=role, password_hash=digest, active=True, created_at=now
                )
            )
            _set_units(conn, name, units)
            _log(conn, at=now, username=actor, action="user_added", target=name)
        added = self.user(name)
        assert added is not None
        return added

    def update_user(
        self,
        *,
        username: str,
        actor: str,
        role: str | None = None,
        units: Collection[str] | None = None,
        active: bool | None = None,
        password: str | None = None,
    ) -> User:
        """Change an account's role, units, active flag or password (None: leave as is).

        Deactivating an account or changing its password ends its open sessions. Refuses
        (``AccessError``) to leave the workspace without an active admin."""
        current = self.user(username)
        if current is None:
            raise AccessError(f"unknown user {username}")
        new_role = role or current.role
        if units is not None:
            new_units = frozenset(units)
        else:  # a reviewer keeps their units; any other role has none
            new_units = current.units if new_role == "reviewer" else frozenset()
        check_role(new_role, new_units)
        values: dict[str, Any] = {"role": new_role}
        if active is not None:
            values["active"] = active
        if password is not None:
            values["password_hash"] = hash_password(password)
        now = self._now()
        with self._write() as conn:
            conn.execute(update(USERS).where(USERS.c.username == current.username).values(values))
            admins = conn.execute(
                select(func.count())
                .select_from(USERS)
                .where(USERS.c.role == "admin", USERS.c.active.is_(True))
            ).scalar_one()
            if current.role == "admin" and current.active and admins == 0:
                raise AccessError("the workspace needs at least one active admin")
            _set_units(conn, current.username, new_units)
            if active is False or password is not None:
                _end_sessions(conn, current.username, at=now)
            changes = sorted(
                key
                for key, changed in (
                    ("role", new_role != current.role),
                    ("units", new_units != current.units),
                    ("active", active is not None and active != current.active),
                    ("password", password is not None),
                )
                if changed
            )
            _log(
                conn,
                at=now,
                username=actor,
                action="user_changed:" + ",".join(changes or ["nothing"]),
                target=current.username,
            )
        changed = self.user(current.username)
        assert changed is not None
        return changed

    def user(self, username: str) -> User | None:
        """The account ``username`` (active or not), or None."""
        found = [u for u in self._users(USERS.c.username == username.strip())]
        return found[0] if found else None

    def users(self) -> list[User]:
        """Every account, by name."""
        return self._users(None)

    def known_units(self) -> list[str]:
        """Units that appear in published flags or in assignments, sorted."""
        with self._engine.connect() as conn:
            flagged = conn.execute(select(FLAGS.c.unit).distinct()).scalars().all()
            assigned = conn.execute(select(USER_UNITS.c.unit).distinct()).scalars().all()
        return sorted({*flagged, *assigned})

    # -- logging in ------------------------------------------------------------------------

    def check_login(
        self, *, username: str, password: str, client: str, limits: LoginLimits
    ) -> User:
        """The active account whose password this is; every attempt is recorded.

        Raises ``LoginRefused`` when the user name (counting failures since its last successful
        login) or the client has ``limits`` failures in the window (the password is then not
        checked), and ``AccessError`` ("wrong user name or password", the same for an unknown
        name) otherwise.

        The attempt is reserved before the slow password check, in one write transaction that
        counts the failures and the attempts still being checked and records this one as
        ``pending`` (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the ``login_attempts`` table
        locked against other reservations). So however many requests arrive at once, at most
        the limit get their password checked; the rest are refused. An attempt whose check
        never finishes (the process was killed) stays ``pending`` and counts as a failure.
        """
        typed = username.strip()[:200]
        client = client[:100]
        now = self._now()
        attempt = self._run_write(
            lambda conn: _reserve_attempt(
                conn, username=typed, client=client, at=now, limits=limits
            )
        )
        if attempt is None:
            raise LoginRefused("too many failed logins; try again later")
        with self._engine.connect() as conn:
            row = conn.execute(
                select(USERS.c.password_hash).where(
                    USERS.c.username == typed, USERS.c.active.is_(True)
                )
            ).first()
        stored = row.password_hash if row is not None else None
        valid = _verify(stored or _DUMMY_HASH, password) and stored is not None
        self._settle_attempt(
            attempt, at=now, username=typed, client=client, valid=valid, password=password
        )
        if not valid:
            raise AccessError("wrong user name or password")
        user = self.user(typed)
        assert user is not None
        return user

    def start_session(self, username: str, *, client: str) -> str:
        """A new session for ``username``: returns the token for the cookie (stored hashed)."""
        token = secrets.token_urlsafe(32)
        now = self._now()
        with self._write() as conn:
            conn.execute(
                insert(WEB_SESSIONS).values(
                    session_hash=session_hash(token),
                    username=username,
                    created_at=now,
                    last_seen_at=now,
                    ended_at=None,
                )
            )
            _log(conn, at=now, username=username, action="login", target=username, client=client)
        return token

    def session_user(
        self, token: str, *, idle: dt.timedelta, lifetime: dt.timedelta
    ) -> User | None:
        """The active user of a live session, or None (unknown, ended, idle or too old)."""
        now = self._now()
        key = session_hash(token)
        with self._engine.connect() as conn:
            row = conn.execute(
                select(WEB_SESSIONS).where(WEB_SESSIONS.c.session_hash == key)
            ).first()
        if row is None or row.ended_at is not None:
            return None
        last_seen = _as_utc(row.last_seen_at)
        if now - last_seen > idle or now - _as_utc(row.created_at) > lifetime:
            return None
        user = self.user(row.username)
        if user is None or not user.active:
            return None
        if now - last_seen >= TOUCH_EVERY:
            with self._write() as conn:
                conn.execute(
                    update(WEB_SESSIONS)
                    .where(WEB_SESSIONS.c.session_hash == key)
                    .values(last_seen_at=now)
                )
        return user

    def end_session(self, token: str, *, client: str) -> None:
        """Log out: the session can never be used again."""
        now = self._now()
        key = session_hash(token)
        with self._write() as conn:
            row = conn.execute(
                select(WEB_SESSIONS).where(WEB_SESSIONS.c.session_hash == key)
            ).first()
            if row is None or row.ended_at is not None:
                return
            conn.execute(
                update(WEB_SESSIONS).where(WEB_SESSIONS.c.session_hash == key).values(ended_at=now)
            )
            _log(
                conn,
                at=now,
                username=row.username,
                action="logout",
                target=row.username,
                client=client,
            )

    # -- the access log --------------------------------------------------------------------

    def log_access(
        self, *, username: str, action: str, target: str, outcome: AccessOutcome, client: str
    ) -> None:
        """Append one entry to the access log."""
        with self._write() as conn:
            _log(
                conn,
                at=self._now(),
                username=username,
                action=action,
                target=target,
                outcome=outcome,
                client=client,
            )

    def access_frame(self, *, limit: int | None = None) -> pd.DataFrame:
        """The access log, newest first: ``id``, ``at`` (UTC), ``username``, ``action``,
        ``target``, ``outcome``, ``client``."""
        query = select(ACCESS_LOG).order_by(ACCESS_LOG.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        frame = self._frame(query)
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        return frame

    # -- what the workspace reads ----------------------------------------------------------

    def weeks(self, units: Collection[str] | None = None) -> list[dt.date]:
        """As-of dates with published flags (of ``units`` only, if given), newest first."""
        query = select(FLAGS.c.as_of).distinct().order_by(FLAGS.c.as_of.desc())
        if units is not None:
            query = query.where(FLAGS.c.unit.in_(sorted(units)))
        with self._engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def flag(self, flag_id: str) -> dict[str, Any] | None:
        """One flag with its current decision (``flags_frame``'s columns), or None."""
        frame = self.flags_frame()
        rows = frame.loc[frame["flag_id"] == flag_id]
        return None if rows.empty else rows.iloc[0].to_dict()

    def trail_frame(self, flag_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """The audit trail (``audit_frame``), restricted to ``flag_ids`` if given."""
        trail = self.audit_frame()
        if flag_ids is None:
            return trail
        return trail.loc[trail["flag_id"].isin(list(flag_ids))].reset_index(drop=True)

    # -- internals -------------------------------------------------------------------------

    def _users(self, where: Any) -> list[User]:
        query = select(USERS).order_by(USERS.c.username)
        if where is not None:
            query = query.where(where)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
            units: dict[str, set[str]] = {}
            for name, unit in conn.execute(select(USER_UNITS.c.username, USER_UNITS.c.unit)):
                units.setdefault(name, set()).add(unit)
        return [
            User(
                username=row.username,
                role=row.role,
                units=frozenset(units.get(row.username, ())),
                active=bool(row.active),
                has_password=row.password_hash is not None,
            )
            for row in rows
        ]

    def _settle_attempt(
        self,
        attempt: int,
        *,
        at: dt.datetime,
        username: str,
        client: str,
        valid: bool,
        password: str,
    ) -> None:
        """Record a reserved attempt's outcome (and rehash a valid password if needed)."""
        with self._write() as conn:
            conn.execute(
                update(LOGIN_ATTEMPTS)
                .where(LOGIN_ATTEMPTS.c.id == attempt)
                .values(outcome="success" if valid else "failure")
            )
            if not valid:
                _log_login(conn, at=at, username=username, client=client, outcome="failure")
                return
            stored = conn.execute(
                select(USERS.c.password_hash).where(USERS.c.username == username)
            ).scalar_one()
            if _HASHER.check_needs_rehash(stored):
                conn.execute(
                    update(USERS)
                    .where(USERS.c.username == username)
                    .values(password_hash=_HASHER.hash(password))
                )


def _reserve_attempt(
    conn: Connection, *, username: str, client: str, at: dt.datetime, limits: LoginLimits
) -> int | None:
    """Within a write transaction: the ID of a new ``pending`` attempt, or None (the attempt is
    recorded as ``refused``) when the user name or the client is at its limit. Failures and
    attempts still pending both count."""
    if conn.dialect.name == "postgresql":
        # Conflicts with itself, not with readers: one reservation at a time.
        conn.execute(text("LOCK TABLE login_attempts IN SHARE ROW EXCLUSIVE MODE"))
    since = at - limits.window
    last_success = conn.execute(
        select(func.max(LOGIN_ATTEMPTS.c.at)).where(
            LOGIN_ATTEMPTS.c.username == username, LOGIN_ATTEMPTS.c.outcome == "success"
        )
    ).scalar_one()
    start = max(since, _as_utc(last_success)) if last_success else since
    by_user = _failures(conn, LOGIN_ATTEMPTS.c.username == username, start)
    by_client = _failures(conn, LOGIN_ATTEMPTS.c.client == client, since)
    refused = by_user >= limits.per_user or by_client >= limits.per_client
    inserted = conn.execute(
        insert(LOGIN_ATTEMPTS).values(
            at=at, username=username, client=client, outcome="refused" if refused else "pending"
        )
    )
    if refused:
        _log_login(conn, at=at, username=username, client=client, outcome="refused")
        return None
    return int(inserted.inserted_primary_key[0])


def _log_login(
    conn: Connection, *, at: dt.datetime, username: str, client: str, outcome: str
) -> None:
    _log(
        conn,
        at=at,
        username=username,
        action=f"login_{outcome}",
        target=username,
        outcome="denied",
        client=client,
    )


def _check_username(username: str) -> str:
    name = username.strip()
    if not USERNAME.fullmatch(name):
        raise AccessError(
            f"user name {name!r}: use 1-100 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_role(role: str, units: Collection[str]) -> None:
    """Refuse (``AccessError``) an unknown role, a reviewer without units, or units for
    another role."""
    if role not in ROLES:
        raise AccessError(f"role {role!r} is not one of: {', '.join(ROLES)}")
    if role == "reviewer" and not units:
        raise AccessError("a reviewer needs at least one unit")
    if role != "reviewer" and units:
        raise AccessError(f"only reviewers have units; a {role} sees no officer cards")
    if any(not unit.strip() for unit in units):
        raise AccessError("unit names must not be empty")


def _set_units(conn: Connection, username: str, units: Collection[str]) -> None:
    conn.execute(delete(USER_UNITS).where(USER_UNITS.c.username == username))
    for unit in sorted({unit.strip() for unit in units}):
        conn.execute(insert(USER_UNITS).values(username=username, unit=unit))


def _end_sessions(conn: Connection, username: str, *, at: dt.datetime) -> None:
    conn.execute(
        update(WEB_SESSIONS)
        .where(and_(WEB_SESSIONS.c.username == username, WEB_SESSIONS.c.ended_at.is_(None)))
        .values(ended_at=at)
    )


def _failures(conn: Connection, who: Any, since: dt.datetime) -> int:
    """Failed attempts after ``since``, and attempts still being checked."""
    query = (
        select(func.count())
        .select_from(LOGIN_ATTEMPTS)
        .where(
            who,
            LOGIN_ATTEMPTS.c.outcome.in_(("failure", "pending")),
            LOGIN_ATTEMPTS.c.at > since,
        )
    )
    return int(conn.execute(query).scalar_one())


def _verify(digest: str, password: str) -> bool:
    try:
        return _HASHER.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False


def _log(
    conn: Connection,
    *,
    at: dt.datetime,
    username: str,
    action: str,
    target: str,
    outcome: str = "allowed",
    client: str = "",
) -> None:
    conn.execute(
        insert(ACCESS_LOG).values(
            at=at,
            username=username[:200],
            action=action[:50],
            target=target[:200],
            outcome=outcome,
            client=client[:100],
        )
    )
