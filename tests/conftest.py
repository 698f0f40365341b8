"""Test-wide setup: Prefect and MLflow state in a temporary home, one Prefect test server.

The environment is set before anything imports Prefect (it reads settings at import time).
Tests that run flows take the ``prefect_harness`` fixture: one temporary Prefect server for the
whole session (~8 s), with heartbeats off so each flow call costs ~0.2 s instead of ~1.1 s.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ewp.settings import configure_environment

configure_environment(Path(tempfile.mkdtemp(prefix="ewp-test-home-")))


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server and database for the session."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=90),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield
