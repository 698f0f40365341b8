"""Atomic output: a reader never sees a half-written file or a half-written run folder.

* ``atomic_path`` / ``write_text`` / ``write_csv``: a file is written under a temporary name
  in its own directory, flushed to disk (``fsync``) and renamed onto its final name
  (``os.replace``, atomic on POSIX and Windows). A crash leaves the old file or the new one,
  never a mix; at worst a hidden ``.<name>.<pid>.<thread>.tmp`` file.
* ``write_csv`` / ``csv_text`` are the one way ewp writes CSV (run folders, quarantine reports,
  exports, the workspace's decisions download), and every CSV is **safe to open in a
  spreadsheet**: a text cell that a spreadsheet would run as a formula gets a leading ``'``
  (``spreadsheet_safe``); ``read_csv`` / ``spreadsheet_value`` undo it when ewp reads its own
  CSV back (``ewp review import``, the workspace's timelines), so a round trip keeps every value.

  The rule (OWASP's "CSV injection"): a text cell starting with ``=``, ``+``, ``-``, ``@``, a
  tab or a carriage return is prefixed with ``'``. Only text is touched: numeric columns are
  written as numbers, and a text cell that is a plain decimal number (``-3``, ``+0.5``,
  ``-1e-3``) is left alone, since a spreadsheet reads it as that number and runs nothing. So
  that undoing is exact, a cell that already starts with ``'`` before such a character gets
  one more: ``=1+1`` is written ``'=1+1``, ``'=x`` is written ``''=x``, and reading removes
  exactly one ``'`` from a cell of the form ``'…'`` + formula character. A file with a
  carriage return inside any cell has every cell quoted (Python's CSV writer quotes only cells
  holding the line end ``\\n``), so that a spreadsheet or reader never splits the row there.
* ``staged_dir``: a run folder is built under a hidden sibling, ``.<name>.partial-<pid>``, and
  renamed onto ``<name>`` only when every file in it is written. A run killed part-way leaves
  the previous complete folder (or none) and a hidden staging folder, which the next run for
  the same folder removes.
* ``pause_point``: a test hook. When ``$EWP_TEST_PAUSE_AFTER`` names a step, the run prints
  ``ewp: paused after <step>`` on stderr and sleeps, so a test can kill it at a known point
  (see tests/test_atomic_runs.py). Unset in normal use, it does nothing.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

# A spreadsheet runs a text cell starting with = + - @ tab or CR as a formula (OWASP).
_NEEDS_QUOTE = r"'*[=+\-@\t\r]"  # what ``spreadsheet_safe`` prefixes with one more "'"
_QUOTED = r"'+[=+\-@\t\r]"  # what ``spreadsheet_value`` removes one "'" from
_PLAIN_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"

PAUSE_ENV = "EWP_TEST_PAUSE_AFTER"
# Long enough for any test to kill the paused run; a forgotten variable only delays a run.
PAUSE_SECONDS = 120


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path``: write to it in the block; it replaces ``path`` after.

    On an exception in the block the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` as UTF-8 with ``\\n`` line ends, atomically; return ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return Path(path)


def write_csv(frame: pd.DataFrame, path: Path, **to_csv: Any) -> Path:
    """``frame.to_csv(path, index=False, **to_csv)``, spreadsheet-safe (see the module
    docstring) and atomic; return ``path``."""
    safe = spreadsheet_safe(frame)
    with atomic_path(path) as tmp:
        safe.to_csv(tmp, index=False, **_quoting(safe), **to_csv)
    return Path(path)


def csv_text(frame: pd.DataFrame, **to_csv: Any) -> str:
    """``frame`` as spreadsheet-safe CSV text, as ``write_csv`` writes it (``\\n`` line ends)."""
    safe = spreadsheet_safe(frame)
    return safe.to_csv(index=False, lineterminator="\n", **_quoting(safe), **to_csv)


def read_csv(path: Path, **read_csv_options: Any) -> pd.DataFrame:
    """``pd.read_csv`` of a CSV ewp wrote, with every text cell as it was before
    ``spreadsheet_safe`` (see the module docstring)."""
    return spreadsheet_restored(pd.read_csv(path, **read_csv_options))


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each text cell a spreadsheet would run as a formula prefixed with ``'``.

    Worked example: ``=HYPERLINK("http://x","click")`` -> ``'=HYPERLINK("http://x","click")``;
    ``-3`` and ``-0.5`` stay (plain numbers); ``- spoke to him`` -> ``'- spoke to him``;
    ``'=x`` -> ``''=x``; ``Borough 01`` stays. Numeric, date and boolean columns are untouched.
    """
    columns = _text_columns(frame)
    if not columns:
        return frame
    return frame.assign(**{column: _safe_column(frame[column]) for column in columns})


def spreadsheet_restored(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (read from a CSV ewp wrote) with every text cell as it was before
    ``spreadsheet_safe``: the inverse of ``spreadsheet_safe``."""
    columns = _text_columns(frame)
    if not columns:
        return frame
    return frame.assign(**{column: _restored_column(frame[column]) for column in columns})


def spreadsheet_value(text: str) -> str:
    """The value a cell written by ``spreadsheet_safe`` stood for: one leading ``'`` removed
    from ``'…'`` followed by a formula character; any other text as it is."""
    return text[1:] if isinstance(text, str) and re.match(_QUOTED, text) else text


def _safe_column(values: pd.Series) -> pd.Series:
    if pd.api.types.infer_dtype(values, skipna=True) != "string":
        return values.map(_safe_cell)  # mixed or no values: only the strings among them
    quote = _matches(values, _NEEDS_QUOTE) & ~_matches(values, _PLAIN_NUMBER, full=True)
    return values.where(~quote, "'" + values)


def _restored_column(values: pd.Series) -> pd.Series:
    if pd.api.types.infer_dtype(values, skipna=True) != "string":
        return values.map(spreadsheet_value)
    return values.where(~_matches(values, _QUOTED), values.str.slice(1))


def _matches(values: pd.Series, pattern: str, *, full: bool = False) -> pd.Series:
    """Whether each string matches ``pattern`` at its start (or in whole); missing: False."""
    found = values.str.fullmatch(pattern) if full else values.str.match(pattern)
    return found.fillna(False).astype(bool)


def _safe_cell(value: Any) -> Any:
    if (
        isinstance(value, str)
        and re.match(_NEEDS_QUOTE, value)
        and not re.fullmatch(_PLAIN_NUMBER, value)
    ):
        return "'" + value
    return value


def _quoting(frame: pd.DataFrame) -> dict[str, int]:
    """Quote every cell if a text cell holds a carriage return (see the module docstring)."""
    for column in _text_columns(frame):
        if frame[column].map(lambda value: isinstance(value, str) and "\r" in value).any():
            return {"quoting": csv.QUOTE_ALL}
    return {}


def _text_columns(frame: pd.DataFrame) -> list[Any]:
    """Columns that may hold text: object or string dtype."""
    return [
        column
        for column, dtype in frame.dtypes.items()
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
    ]


@contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Build folder ``final`` in a hidden staging folder, then rename it into place.

    Yields the staging folder (empty). If the block succeeds, the staging folder replaces
    ``final`` (a previous ``final`` is moved aside first, then deleted); if it raises, the
    staging folder is deleted and ``final`` is untouched. Staging folders left by a killed run
    (their process is gone) are deleted first.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(final)
    staging = final.with_name(f".{final.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for file in staging.rglob("*"):
        if file.is_file():
            _fsync_file(file)
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    staging.rename(final)
    _fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)


def pause_point(step: str) -> None:
    """Test hook: sleep here if ``$EWP_TEST_PAUSE_AFTER`` is ``step`` (see module docstring)."""
    if os.environ.get(PAUSE_ENV) == step:
        print(f"ewp: paused after {step}", file=sys.stderr, flush=True)
        time.sleep(PAUSE_SECONDS)


def _remove_stale(final: Path) -> None:
    """Delete ``final``'s staging and set-aside folders whose process no longer runs."""
    pattern = re.compile(rf"\.{re.escape(final.name)}\.(?:partial|old)-(\d+)")
    for sibling in final.parent.iterdir():
        match = pattern.fullmatch(sibling.name)
        if match and not _running(int(match.group(1))):
            shutil.rmtree(sibling, ignore_errors=True)


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftover from an earlier, failed attempt in this process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX; directories cannot be opened on Windows)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
