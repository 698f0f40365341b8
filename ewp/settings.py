"""Where ewp keeps its state, and the environment Prefect and MLflow need to run offline.

All state (generated data, Prefect's database, the MLflow store, run outputs) lives under one
*data home*: ``$EWP_HOME`` if set, else the config's ``home`` (default ``.ewp`` in the working
directory). ``configure_environment`` must run before Prefect or MLflow is imported: Prefect
reads its settings at import time.

The data home is the secure data folder: it holds officer identifiers and protected attributes,
so it is owner-only (0700), and ``configure_environment`` sets the process umask to 0077 so that
every file ewp, Prefect or MLflow writes from then on is owner-only too (0600 files, 0700
folders).
"""

from __future__ import annotations

import os
from pathlib import Path


def data_home(configured: Path) -> Path:
    """The data home: ``$EWP_HOME`` or the configured path, made absolute."""
    return Path(os.environ.get("EWP_HOME") or configured).expanduser().resolve()


def default_tracking_uri(home: Path) -> str:
    """The default MLflow store: a SQLite file under the data home."""
    return f"sqlite:///{home / 'mlflow.db'}"


def configure_environment(home: Path) -> None:
    """Offline-safe Prefect and MLflow settings under ``home`` (values already set win); the
    data home and everything written afterwards owner-only (see the module docstring)."""
    os.umask(0o077)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    defaults = {
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "GIT_PYTHON_REFRESH": "quiet",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
