"""The workspace's monitoring pages (``ewp monitor``'s ``monitor.html``), for the data team.

``analyst`` (the data team) and ``auditor`` read them: they hold aggregates only (matured
lists' hit rates, drift, what reviewers decided, in counts), no officer. ``/monitor`` lists the
monitoring runs of the config; ``/monitor/<export date>`` shows one run's page as written, with
a bar leading back. Other roles get 403.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from ewp.stores.access import User
from ewp.stores.health import MONITOR_PREFIX, read_health
from ewp.web.settings import WebSettings

MONITOR_HTML = "monitor.html"  # written by ewp.flows.monitor.monitor_flow
MONITOR_ROLES = ("analyst", "auditor")


def monitoring_runs(runs_dir: Path) -> list[dt.date]:
    """The export dates of the monitoring runs with a page, newest first."""
    found = []
    for path in runs_dir.glob(f"{MONITOR_PREFIX}*/{MONITOR_HTML}"):
        try:
            found.append(dt.date.fromisoformat(path.parent.name.removeprefix(MONITOR_PREFIX)))
        except ValueError:
            continue
    return sorted(found, reverse=True)


def _monitoring_user(request: Request) -> User:
    user: User = request.state.user
    if user.role not in MONITOR_ROLES:
        raise HTTPException(403, f"A {user.role} may not open this page.")
    return user


DataTeam = Annotated[User, Depends(_monitoring_user)]


def monitor_router(settings: WebSettings, render: Callable[..., Response]) -> APIRouter:
    """The monitoring routes over ``settings.runs_dir``; ``render(request, template,
    **context)`` draws a workspace page."""
    router = APIRouter()

    @router.get("/monitor", response_class=HTMLResponse)
    def monitoring(request: Request, _user: DataTeam) -> Response:
        health = read_health(settings.runs_dir)
        context: dict[str, Any] = {
            "runs": monitoring_runs(settings.runs_dir),
            "health": None if health is None else health.line(),
        }
        return render(request, "monitor.html.j2", **context)

    @router.get("/monitor/{extracted_on}", response_class=HTMLResponse)
    def monitoring_page(extracted_on: dt.date, _user: DataTeam) -> Response:
        page = settings.runs_dir / f"{MONITOR_PREFIX}{extracted_on.isoformat()}" / MONITOR_HTML
        if not page.is_file():
            raise HTTPException(404, f"No monitoring run for the export of {extracted_on}.")
        html = page.read_text(encoding="utf-8")
        bar = (
            '<p style="margin:0;padding:0.4rem 1rem;background:#eef5fb">'
            '<a href="/monitor">Back to the workspace</a></p>'
        )
        head, found, tail = html.partition("<body>")
        return HTMLResponse(head + found + bar + tail if found else html)

    return router
