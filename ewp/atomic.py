"""Atomic output: a reader never sees a half-written file or a half-written run folder.

* ``atomic_path`` / ``write_text`` / ``write_csv``: a file is written under a temporary name
  in its own directory, flushed to disk (``fsync``) and renamed onto its final name
  (``os.replace``, atomic on POSIX and Windows). A crash leaves the old file or the new one,
  never a mix; at worst a hidden ``.<name>.<pid>.<thread>.tmp`` file.
* ``staged_dir``: a run folder is built under a hidden sibling, ``.<name>.partial-<pid>``, and
  renamed onto ``<name>`` only when every file in it is written. A run killed part-way leaves
  the previous complete folder (or none) and a hidden staging folder, which the next run for
  the same folder removes.
* ``pause_point``: a test hook. When ``$EWP_TEST_PAUSE_AFTER`` names a step, the run prints
  ``ewp: paused after <step>`` on stderr and sleeps, so a test can kill it at a known point
  (see tests/test_atomic_runs.py). Unset in normal use, it does nothing.
"""

from __future__ import annotations

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
    """``frame.to_csv(path, index=False, **to_csv)``, atomically; return ``path``."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, **to_csv)
    return Path(path)


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
