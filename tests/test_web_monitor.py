"""The workspace's monitoring pages: the data team (``analyst``) and auditors read them; no
other role does, and nobody before signing in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ewp.stores.access import WorkspaceStore
from ewp.web import create_app
from tests.test_web import login, redirected_to_login
from tests.web_builders import NOW, PASSWORD, Clock, Workspace, build_workspace

PAGE = (
    "<!DOCTYPE html><html><head><title>OFFICIAL-SENSITIVE</title></head><body>"
    "<h1>Monitoring the champion in service</h1><p>12.5% of flags escalated</p></body></html>"
)
HEALTH = (
    '{"breaches": [], "in_sample_weeks": 0, "latest_week": "2025-01-13", "matured_weeks": 4, '
    '"monitored_on": "2025-01-14", "precision": 0.125, "rule_precision": 0.1}'
)


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    workspace: Workspace = build_workspace(tmp_path / "workspace")
    run = workspace.runs_dir / "monitor-2025-01-14"
    run.mkdir()
    (run / "monitor.html").write_text(PAGE, encoding="utf-8")
    (run / "health.json").write_text(HEALTH, encoding="utf-8")
    store = WorkspaceStore(workspace.database_url, clock=lambda: NOW)
    store.add_user(username="data.team", role="analyst", units=(), password=PASSWORD, actor="t")
    store.close()
    with TestClient(create_app(workspace.settings(Clock())), follow_redirects=False) as c:
        yield c


def test_an_analyst_lands_on_monitoring_and_reads_the_page(client: TestClient) -> None:
    assert redirected_to_login(client.get("/monitor"))
    assert redirected_to_login(client.get("/monitor/2025-01-14"))
    login(client, "data.team")
    assert client.get("/").headers["location"] == "/monitor"
    listing = client.get("/monitor").text
    assert 'href="/monitor/2025-01-14"' in listing
    assert "Matured lists (4 weeks): 12.5% of flags escalated, the rule&#39;s 10.0%." in listing
    page = client.get("/monitor/2025-01-14").text
    assert "12.5% of flags escalated" in page
    assert '<a href="/monitor">Back to the workspace</a>' in page
    assert client.get("/monitor/2025-01-07").status_code == 404
    for path in ("/flags", "/audits", "/trail", "/admin/users"):
        assert client.get(path).status_code == 403, path


@pytest.mark.parametrize("user", ["rev.a", "admin"])
def test_reviewers_and_admins_may_not_open_monitoring(client: TestClient, user: str) -> None:
    login(client, user)
    assert client.get("/monitor").status_code == 403
    assert client.get("/monitor/2025-01-14").status_code == 403


def test_an_auditor_reads_monitoring(client: TestClient) -> None:
    login(client, "auditor")
    assert client.get("/monitor/2025-01-14").status_code == 200
    assert "Monitoring" in client.get("/audits").text  # in the auditor's navigation
