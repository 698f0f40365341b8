"""A command's temporary Prefect server dies with the command, however the command ends.

Without ``PREFECT_API_URL``, Prefect starts a temporary API server on first use (a uvicorn
subprocess, ``prefect.server.api.server.SubprocessASGIServer``) and stops it at exit with an
``atexit`` hook. A command killed with SIGKILL runs no hook: the server, re-parented to PID 1,
would run on, holding its port and its SQLite database. Prefect 3.8.8 offers no hook to tie the
server's life to its parent's (no ``preexec_fn``), so ``tie_temporary_server`` does it from
outside:

1. it starts the temporary server up front, from the command's main thread; Prefect keeps one
   instance per process (``SubprocessASGIServer()`` returns it again), so the flows use it;
2. it starts a watchdog, a small Python process in a session of its own (so a Ctrl-C or a
   signal to the command's process group does not stop it first), that checks twice a second
   whether the command is still its parent. When the command is gone (whatever killed it), the
   watchdog stops the server (SIGTERM, then SIGKILL after 5 s) and exits; when the server is
   gone first (the command stopped it at a normal exit), the watchdog just exits.

With ``PREFECT_API_URL`` set (a long-running ``prefect server start``), nothing is started.
"""

from __future__ import annotations

import os
import subprocess
import sys

# Runs as ``python -c WATCHDOG <command pid> <server pid>`` (standard library only).
WATCHDOG = """
import os, signal, sys, time
command, server = int(sys.argv[1]), int(sys.argv[2])

def server_alive():
    try:
        with open(f"/proc/{server}/cmdline", "rb") as handle:
            return b"prefect.server.api.server" in handle.read()  # not a reused PID
    except OSError:
        return False

while os.getppid() == command:
    if not server_alive():
        sys.exit(0)
    time.sleep(0.5)
if server_alive():
    os.kill(server, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while server_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if server_alive():
        os.kill(server, signal.SIGKILL)
"""


def tie_temporary_server() -> subprocess.Popen[bytes] | None:
    """Start Prefect's temporary server now, and a watchdog that stops it when this process is
    gone (see the module docstring); returns the watchdog, or None when no temporary server
    is used (``PREFECT_API_URL`` set, ephemeral mode off, or not Linux: the watchdog reads
    ``/proc``)."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return None
    if not sys.platform.startswith("linux"):
        return None
    server = SubprocessASGIServer()
    server.start()
    assert server.server_process is not None, "Prefect's temporary server did not start"
    watchdog = subprocess.Popen(
        [sys.executable, "-c", WATCHDOG, str(os.getpid()), str(server.server_process.pid)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _WATCHDOGS.append(watchdog)  # held for the life of the process, never collected running
    return watchdog


_WATCHDOGS: list[subprocess.Popen[bytes]] = []
