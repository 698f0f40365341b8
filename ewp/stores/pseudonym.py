"""Pseudonyms for officer identifiers in everything that leaves the secure data folder.

The data home (``.ewp`` or ``$EWP_HOME``) is the secure data folder: the export, the run
folders a standards unit reads (``flags.csv``, ``report.html``) and the review store hold real
officer identifiers there. What leaves it (MLflow params, metrics, tags and artifacts, Prefect
logs, the model card) carries at most a *pseudonym*: ``P-`` and the first 16 hex digits of
HMAC-SHA256 over the identifier, keyed with a secret that never leaves the data home.

The key
    ``$EWP_PSEUDONYM_KEY`` (hex, at least 32 digits) if set; else the file named by
    ``$EWP_PSEUDONYM_KEY_FILE``; else ``<data home>/secrets/pseudonym.key``, which the first run
    creates (64 hex digits from ``secrets.token_hex``, mode 0600 in a 0700 folder). A key file
    that others can read is refused, as ssh refuses a private key. Without the key a pseudonym
    cannot be turned back into an identifier, nor recomputed from a guessed one; the same key
    always gives the same pseudonym, so runs logged with one key can be compared. A new key
    gives every officer a new pseudonym; runs logged before keep the old ones (see
    docs/data-protection.md).

Scrubbing text
    ``Pseudonymiser.scrub`` replaces every identifier it knows (``known``, e.g. a force's
    ``officer_id`` column) that stands as a whole token in a text: a maximal run of the
    characters identifiers are made of. It errs towards replacing: with numeric identifiers, a
    number in a log line that equals an officer's identifier is replaced too. ``LogScrubber``
    applies it to Prefect's run loggers, exception tracebacks included. ``scrubbed_errors``
    applies it to what a flow or task raises: Prefect stores that exception's text with the
    failed run's state, out of the loggers' reach.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import inspect
import logging
import os
import re
import secrets
import stat
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import ParamSpec, TypeVar

import pandas as pd

P = ParamSpec("P")
R = TypeVar("R")

KEY_ENV = "EWP_PSEUDONYM_KEY"
KEY_FILE_ENV = "EWP_PSEUDONYM_KEY_FILE"
PREFIX = "P-"
DIGITS = 16  # 64 bits: among 100,000 officers a collision has odds of about 1 in 3.7 million
MIN_KEY_HEX = 32  # 128 bits
# Columns that hold officer identifiers: one per row, or a list per row (evaluation lists).
IDENTIFIER_COLUMNS: tuple[str, ...] = ("officer_id",)
IDENTIFIER_LIST_COLUMNS: tuple[str, ...] = ("officer_ids",)
# Loggers whose records reach Prefect's API (and its console): run loggers, the engine, ewp's.
RUN_LOGGERS: tuple[str, ...] = (
    "prefect.flow_runs",
    "prefect.task_runs",
    "prefect.engine",
    "ewp",
)
# Domain separation: a future pseudonym of another kind of identifier never equals this one.
_CONTEXT = b"ewp officer v1\x00"


class PseudonymKeyError(RuntimeError):
    """The key is missing, malformed or readable by others; the message says what to do."""


def default_key_file(home: Path) -> Path:
    """Where the key lives unless ``$EWP_PSEUDONYM_KEY_FILE`` says otherwise."""
    return home / "secrets" / "pseudonym.key"


def _parse_key(text: str, *, where: str) -> bytes:
    value = text.strip()
    if len(value) < MIN_KEY_HEX or not re.fullmatch(r"[0-9a-fA-F]+", value) or len(value) % 2:
        raise PseudonymKeyError(
            f"{where}: the pseudonymisation key must be an even number of hex digits, at least "
            f"{MIN_KEY_HEX} (e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return bytes.fromhex(value)


def _create_key_file(path: Path) -> None:
    """A new random key in ``path`` (0600), its folder 0700; never overwrites one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")


def load_key(home: Path, *, create: bool = False) -> bytes:
    """The pseudonymisation key (see the module docstring for where it comes from).

    ``create``: make the default key file if neither variable is set and it is missing.
    Raises ``PseudonymKeyError`` for a missing, malformed or group/other-readable key.
    """
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return _parse_key(from_env, where=f"${KEY_ENV}")
    named = os.environ.get(KEY_FILE_ENV)
    path = Path(named).expanduser() if named else default_key_file(home)
    if not path.exists():
        if named or not create:
            raise PseudonymKeyError(
                f"{path}: no pseudonymisation key; set ${KEY_ENV}, point ${KEY_FILE_ENV} at a "
                "key file, or run ewp demo / ewp train once to create one"
            )
        _create_key_file(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PseudonymKeyError(
            f"{path}: the pseudonymisation key is readable by others (mode {mode:04o}); "
            f"run chmod 600 {path}"
        )
    return _parse_key(path.read_text(encoding="ascii"), where=str(path))


class Pseudonymiser:
    """Keyed pseudonyms for officer identifiers, and a scrubber for the identifiers it knows.

    ``key``: the secret (``load_key``). ``known``: the force's identifiers that ``scrub`` looks
    for in free text.
    """

    def __init__(self, key: bytes, known: Iterable[str] = ()) -> None:
        if len(key) * 2 < MIN_KEY_HEX:
            raise PseudonymKeyError(f"the key has {len(key)} bytes; at least 16 are needed")
        self._key = key
        self._known = frozenset(str(i) for i in known if str(i))
        alphabet = "".join(sorted({c for i in self._known for c in i}))
        self._token = re.compile(f"[{re.escape(alphabet)}]+") if alphabet else None

    def __repr__(self) -> str:  # never show the key
        return f"Pseudonymiser(known={len(self._known)} identifiers)"

    def pseudonym(self, identifier: str) -> str:
        """``P-`` and 16 hex digits; the same identifier and key always give the same one."""
        digest = hmac.new(
            self._key, _CONTEXT + str(identifier).encode("utf-8"), hashlib.sha256
        ).hexdigest()
        return PREFIX + digest[:DIGITS]

    def frame(self, table: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``table`` with every identifier column (``IDENTIFIER_COLUMNS``, and the
        list-valued ``IDENTIFIER_LIST_COLUMNS``) replaced by pseudonyms; missing values stay."""
        out = table.copy()
        for column in IDENTIFIER_COLUMNS:
            if column in out.columns:
                out[column] = [v if _missing(v) else self.pseudonym(v) for v in out[column]]
        for column in IDENTIFIER_LIST_COLUMNS:
            if column in out.columns:
                out[column] = [
                    v if _missing(v) else [self.pseudonym(i) for i in v] for v in out[column]
                ]
        return out

    def scrub(self, text: str) -> str:
        """``text`` with every known identifier standing as a whole token replaced by its
        pseudonym (see the module docstring for what a token is)."""
        if self._token is None:
            return text
        return self._token.sub(
            lambda m: self.pseudonym(m.group()) if m.group() in self._known else m.group(), text
        )


def _missing(value: object) -> bool:
    """None, NaN or NA; a list or array of identifiers is never missing, even when empty."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


class LogScrubber(logging.Filter):
    """A logging filter that scrubs each record's message and traceback before any handler
    (Prefect's API and console handlers included) formats it. Never drops a record."""

    def __init__(self, pseudonymiser: Pseudonymiser) -> None:
        super().__init__()
        self.pseudonymiser = pseudonymiser

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's text by its scrubbed form; keep the record."""
        scrub = self.pseudonymiser.scrub
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format: keep both
            message = f"{record.msg} {record.args}"
        record.msg = scrub(message)
        record.args = None
        if record.exc_info:
            # Format the traceback now, scrubbed, and drop the live exception so no handler
            # renders it again from the original (Formatter appends ``exc_text`` as it is).
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


_SCRUBBER: LogScrubber | None = None


def scrub_logs(pseudonymiser: Pseudonymiser, loggers: Sequence[str] = RUN_LOGGERS) -> LogScrubber:
    """Scrub the known identifiers from every record of ``loggers`` from now on.

    One scrubber per process: a later call (the next flow, another force) replaces its
    pseudonymiser rather than stacking filters. Returns the installed filter.
    """
    global _SCRUBBER
    if _SCRUBBER is None:
        _SCRUBBER = LogScrubber(pseudonymiser)
    else:
        _SCRUBBER.pseudonymiser = pseudonymiser
    for name in loggers:
        logger = logging.getLogger(name)
        if _SCRUBBER not in logger.filters:
            logger.addFilter(_SCRUBBER)
    return _SCRUBBER


class ScrubbedError(RuntimeError):
    """An error whose text named an officer, re-raised with pseudonyms: ``KeyError: P-…``."""


def scrubbed_errors(function: Callable[P, R]) -> Callable[P, R]:
    """``function``, except that an exception whose text names an officer the installed
    scrubber knows (``scrub_logs``) is re-raised as ``ScrubbedError`` with that text scrubbed.

    Prefect stores a failed task's or flow's exception text with its state, where no logging
    filter reaches; decorating every flow and task keeps raw identifiers out of it. The
    original exception is neither chained nor the context, so no traceback carries its text; an
    exception naming no officer, or raised before any scrubber is installed, passes
    unchanged, type and all (retry conditions look at the type).
    """

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except Exception as error:
            replacement = _scrubbed_error(error)
            if replacement is None:
                raise
        raise replacement  # outside the except block: the original is not even its context

    # Prefect validates a flow's parameters against its signature, resolving string
    # annotations in the wrapper's module, where names like ``Config`` do not exist: give the
    # wrapper the signature with its types already resolved.
    wrapper.__signature__ = inspect.signature(function, eval_str=True)  # type: ignore[attr-defined]
    return wrapper


def _scrubbed_error(error: Exception) -> ScrubbedError | None:
    """``error`` as a ScrubbedError if its text names a known officer, else None. The original
    traceback, scrubbed here (whichever filters the logger has), goes to the ``ewp`` log for
    whoever debugs it."""
    if _SCRUBBER is None:
        return None
    scrub = _SCRUBBER.pseudonymiser.scrub
    text = f"{type(error).__name__}: {error}"
    scrubbed = scrub(text)
    if scrubbed == text:
        return None
    replacement = ScrubbedError(scrubbed)
    original = scrub("".join(traceback.format_exception(error)))
    logging.getLogger("ewp").error("%s; the original error:\n%s", replacement, original)
    return replacement
