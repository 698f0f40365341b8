"""Where ewp keeps its state, and the environment Prefect and MLflow need to run offline.

All state (generated data, Prefect's database, the MLflow store, run outputs) lives under one
*data home*: the command line's ``--home`` if given, else ``$EWP_HOME`` if set, else the
config's ``home`` (default ``.ewp`` in the working directory). ``configure_environment`` must
run before Prefect or MLflow is imported: Prefect reads its settings at import time.

A data home is never created where nobody chose one (``chosen_data_home``): an existing one is
used, and a new one is created only when it was named (``--home``, ``$EWP_HOME`` or an absolute
``home`` in the config) or lies inside the ewp checkout ewp runs from. So running ``ewp`` in
another folder does not leave a stray ``.ewp/`` there holding officer records.

A config's review store and model registry live in its *store folder*: the data home itself,
or ``<home>/stores/<name>/`` for a config with its own ``store`` (the demo's), so that two
configs' lists and models never mix while the export is shared.

The data home is the secure data folder: it holds officer identifiers and protected attributes,
so it is owner-only (0700), and ``configure_environment`` sets the process umask to 0077 so that
every file ewp, Prefect or MLflow writes from then on is owner-only too (0600 files, 0700
folders).
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "EWP_HOME"


class DataHomeError(RuntimeError):
    """No data home where one would have to be created without anybody choosing it."""


def data_home(configured: Path, *, override: Path | None = None) -> Path:
    """The data home: ``override`` (``--home``), else ``$EWP_HOME``, else the configured path;
    made absolute."""
    return Path(override or os.environ.get(HOME_ENV) or configured).expanduser().resolve()


def project_folder() -> Path | None:
    """The ewp checkout this ewp runs from (an editable install, as ``make install`` makes),
    or None for an installed package."""
    root = Path(__file__).resolve().parents[2]
    is_checkout = (root / "pyproject.toml").is_file() and (root / "configs").is_dir()
    return root if is_checkout else None


def chosen_data_home(configured: Path, *, override: Path | None = None) -> Path:
    """The data home (``data_home``), if it exists or may be created: it was named
    (``override``, ``$EWP_HOME``, an absolute configured path) or lies in the ewp checkout.
    Raises ``DataHomeError`` otherwise, saying how to choose one."""
    home = data_home(configured, override=override)
    named = (
        override is not None
        or bool(os.environ.get(HOME_ENV))
        or Path(configured).expanduser().is_absolute()
    )
    project = project_folder()
    if home.exists() or named or (project is not None and home.is_relative_to(project)):
        return home
    raise DataHomeError(
        f"no data home at {home}, and ewp creates one only where you choose: pass --home DIR "
        f"(or set {HOME_ENV}), or run ewp from the folder that holds the data home"
    )


def store_folder(home: Path, store: str | None) -> Path:
    """Where a config's review store and model registry live: the data home, or
    ``<home>/stores/<store>`` for a config with a store of its own (see the module docstring)."""
    return home if store is None else home / "stores" / store


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
