"""The workspace's oversight pages: the monthly oversight reports (``ewp oversight``).

A router of its own, included by ``ewp.web.app.create_app``: ``/oversight`` lists the reports in
the config's run folders (``oversight-<as-of>/oversight.html``), ``/oversight/<as-of>`` shows
one, with a bar leading back to the workspace. The reports hold aggregates and pseudonyms only
(no officer identifier), so reviewers and auditors read them, as they read the fairness audits;
``create_app`` passes the dependency that admits those roles.
"""

# No ``from __future__ import annotations``: the routes' user parameter is annotated with the
# dependency ``create_app`` passes in, which FastAPI must see as an object, not as a name.
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from ewp.web.settings import WebSettings

FOLDER_PREFIX = "oversight-"
REPORT = "oversight.html"  # written by ewp.flows.oversight
BACK_BAR = (
    '<p style="margin:0;padding:0.4rem 1rem;background:#eef5fb">'
    '<a href="/oversight">Back to the workspace</a></p>'
)


def report_dates(runs_dir: Path) -> list[dt.date]:
    """The dates of the oversight reports written for this config, newest first."""
    dates = []
    for folder in runs_dir.glob(f"{FOLDER_PREFIX}*"):
        try:
            day = dt.date.fromisoformat(folder.name.removeprefix(FOLDER_PREFIX))
        except ValueError:
            continue
        if (folder / REPORT).is_file():
            dates.append(day)
    return sorted(dates, reverse=True)


def oversight_router(
    settings: WebSettings, *, render: Callable[..., Response], user: Any
) -> APIRouter:
    """The oversight routes; ``render`` draws a workspace page (template, context) and
    ``user`` is the route parameter type admitting the roles that may read the reports."""
    router = APIRouter()

    @router.get("/oversight", response_class=HTMLResponse)
    def oversight_reports(request: Request, _user: user) -> Response:
        return render(request, "oversight.html.j2", reports=report_dates(settings.runs_dir))

    @router.get("/oversight/{as_of}", response_class=HTMLResponse)
    def oversight_report(as_of: dt.date, _user: user) -> Response:
        path = settings.runs_dir / f"{FOLDER_PREFIX}{as_of.isoformat()}" / REPORT
        if not path.is_file():
            raise HTTPException(404, f"No oversight report was written as of {as_of}.")
        page = path.read_text(encoding="utf-8")
        head, found, tail = page.partition("<body>")
        return HTMLResponse(head + found + BACK_BAR + tail if found else page)

    return router
