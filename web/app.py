"""The review workspace app: ``create_app(settings)`` returns a FastAPI app.

Pages are rendered on the server from Jinja2 templates (``web/templates``) with no JavaScript
and no external asset; every form is a plain HTML form.

Access rules (who sees what)
    * Every route needs a signed-in user, except the login form itself; anonymous requests are
      redirected to ``/login`` (unknown paths too, so nothing is learned before login). The
      API docs and OpenAPI schema are switched off.
    * ``reviewer``: the list, officer cards, decisions, the audit trail and the decisions CSV,
      for flags of the units assigned to them only. Another unit's flag answers 404, as an
      unknown one does, and the attempt is logged as denied. An officer card lists the
      officer's flags from other units too, with their decisions, but never another unit's
      free-text note (in the earlier flags or in the trail): notes are written for the unit.
      Reviewers also read each week's fairness audit and model card: the weekly report tells
      them to read the audit before acting on a flag, and both are aggregates (no officer).
    * ``auditor``: the weeks, each week's fairness audit (aggregates, small cells suppressed)
      and model card, and the oversight reports (``ewp.web.oversight``, reviewers too); never an
      officer card (403).
      and model card; never an officer card (403).
    * ``analyst`` (the data team) and ``auditor``: the monitoring pages (``ewp.web.monitor``).
    * ``admin``: accounts and unit assignments, the whole audit trail and the access log; no
      officer cards, audits or model cards (403): administering accounts needs none of them.

Sessions, CSRF, logins
    A login starts a server-side session (``ewp.stores.access``); the signed session cookie
    (Starlette's ``SessionMiddleware``, ``SameSite=Strict``, ``HttpOnly``) carries the session
    token and a per-session CSRF token. Every POST must carry that CSRF token in its form, or
    is refused with 403 before anything else happens. Sessions end after ``session_idle``
    without a request, ``session_lifetime`` after login, at logout, and when the account is
    deactivated or its password changed. Failed logins are rate-limited in the database
    (``LoginLimits``), each attempt reserved before its password is checked. With
    ``trusted_user_header`` set, a request from one of ``trusted_proxies`` carrying that header
    is signed in as the named (existing, active) user.

Logging
    Each officer-card view, decision, decisions export, login, logout and account change goes
    to the access log with user, time, client and outcome: ``allowed``; ``denied`` (a route
    the role may not use, 403; another unit's or an unknown flag, 404; a form without a valid
    CSRF token); ``rejected`` (a decision refused as invalid, 400); ``conflict`` (a decision
    from a stale form, 409). Decisions also go to the review audit trail (actor = the user
    name), as with ``ewp review decide``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import jinja2
import markdown
import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from ewp.core.atomic import csv_text
from ewp.reports.weekly import CHART_YEARS, MARKING, chart_legend, officer_history
from ewp.stores import run_status
from ewp.stores.access import ROLES, AccessError, AccessOutcome, LoginRefused, User, WorkspaceStore
from ewp.stores.review import CurrentDecision, DecisionConflict, ReviewError
from ewp.web import runs
from ewp.web.monitor import monitor_router
from ewp.web.oversight import oversight_router
from ewp.web.settings import WebSettings

SESSION_COOKIE = "ewp_workspace"
PUBLIC_PATHS = frozenset({"/login"})
HOME_OF_ROLE = {
    "reviewer": "/flags",
    "auditor": "/audits",
    "analyst": "/monitor",
    "admin": "/admin/users",
}
TRAIL_LIMIT = 500
ACCESS_LOG_LIMIT = 500
# No script may run at all; inline styles are the only inline content the pages use.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATUS_FILTERS = ("all", "awaiting review", "decided")
EXPORT_COLUMNS = (
    "flag_id",
    "as_of",
    "officer_id",
    "unit",
    "rank",
    "score",
    "decision",
    "reviewer",
    "decided_on",
    "note",
    "version",  # ewp review import replaces a decision only at this version
)


class LoginRequired(Exception):
    """No signed-in user: the request is redirected to the login form."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


def require(*roles: str) -> Callable[[Request], User]:
    """A dependency giving the signed-in user (set by the app's guard) if their role is one of
    ``roles``, else 403."""

    def dependency(request: Request) -> User:
        user: User = request.state.user
        if user.role not in roles:
            raise HTTPException(403, f"A {user.role} may not open this page.")
        return user

    return dependency


# Route parameters: the signed-in user, of the roles the route allows.
Reviewer = Annotated[User, Depends(require("reviewer"))]
Admin = Annotated[User, Depends(require("admin"))]
ReviewerOrAdmin = Annotated[User, Depends(require("reviewer", "admin"))]
ReviewerOrAuditor = Annotated[User, Depends(require("reviewer", "auditor"))]
Anyone = Annotated[User, Depends(require(*ROLES))]


def create_app(settings: WebSettings) -> FastAPI:
    """The workspace over ``settings.database_url`` and ``settings.runs_dir``: the routers of
    each area (signing in, reviewers, weeks, admins) behind one guard."""
    store = WorkspaceStore(settings.database_url, clock=settings.clock)
    pages = _Pages(settings)

    async def guard(request: Request) -> None:
        """Identify the user, send anonymous requests to login, check CSRF on every POST."""
        request.state.user = await run_in_threadpool(_identify, request, store, settings)
        if request.state.user is None and request.url.path not in PUBLIC_PATHS:
            raise LoginRequired(_target(request))
        if request.method == "POST":
            form = await request.form()
            sent = form.get("csrf_token")
            expected = request.session.get("csrf")
            if not (isinstance(sent, str) and expected and secrets.compare_digest(sent, expected)):
                request.state.refused_action = "csrf_refused"
                raise HTTPException(
                    403,
                    "This form is out of date or did not come from the workspace (no valid "
                    "CSRF token). Reload the page and try again.",
                )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()  # the database connections go when the server stops

    app = FastAPI(
        title="ewp review workspace",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(guard)],
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.pages = pages
    app.include_router(monitor_router(settings, pages.render))  # analysts and auditors

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=int(settings.session_lifetime.total_seconds()),
        same_site="strict",
        https_only=settings.secure_cookies,
    )
    _add_error_pages(app, store=store, settings=settings, pages=pages)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(oversight_router(settings, render=pages.render, user=ReviewerOrAuditor))
    return app


def _add_error_pages(
    app: FastAPI, *, store: WorkspaceStore, settings: WebSettings, pages: _Pages
) -> None:
    """Anonymous requests go to the login form; refusals are logged as denied; every error is
    a page of the workspace."""

    @app.exception_handler(LoginRequired)
    async def to_login(_request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?{urlencode({'next': exc.target})}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not hasattr(request.state, "user"):  # no route ran the guard (unknown path, 405)
            request.state.user = await run_in_threadpool(_identify, request, store, settings)
            if request.state.user is None:
                return await to_login(request, LoginRequired(_target(request)))
        if exc.status_code == 403:  # a role refused a route, or a form without its CSRF token
            user: User | None = request.state.user
            await run_in_threadpool(
                store.log_access,
                username=user.username if user is not None else "(not signed in)",
                action=getattr(request.state, "refused_action", None) or _action(request),
                target=request.url.path,
                outcome="denied",
                client=_client(request),
            )
        return pages.error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'][1:])}: {error['msg']}"
            for error in exc.errors()
        )
        return pages.error(request, 400, f"The request is not valid: {problems}")


# -- rendering -----------------------------------------------------------------------------

# Markdown constructs a model card never uses; off, so a card file can render no tag or link
# of its own (``ewp.reports.model_card`` escapes every value too).
_CARD_OFF = {
    "preprocessors": ("html_block",),
    "inlinePatterns": (
        "html",
        "autolink",
        "automail",
        "link",
        "image_link",
        "reference",
        "image_reference",
        "short_reference",
        "short_image_ref",
    ),
}


def card_html(text: str) -> str:
    """A model card's Markdown as HTML, with raw HTML shown as text and no links or images."""
    renderer = markdown.Markdown(extensions=["tables"])
    for registry, names in _CARD_OFF.items():
        for name in names:
            getattr(renderer, registry).deregister(name)
    return renderer.convert(text)


# -- identity ------------------------------------------------------------------------------


def _identify(request: Request, store: WorkspaceStore, settings: WebSettings) -> User | None:
    """The signed-in user: from the trusted proxy's header, else from the session; None if
    neither. Also gives every session a CSRF token (anonymous ones too: the login form)."""
    session = request.session
    if not isinstance(session.get("csrf"), str):
        session["csrf"] = secrets.token_urlsafe(32)
    header = settings.trusted_user_header
    if header and _client(request) in settings.trusted_proxies and header in request.headers:
        user = store.user(request.headers[header])
        return user if user is not None and user.active else None
    token = session.get("sid")
    if not isinstance(token, str):
        return None
    user = store.session_user(token, idle=settings.session_idle, lifetime=settings.session_lifetime)
    if user is None:
        session.pop("sid", None)
    return user


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


# Access-log actions of the routes a role may be refused (others: the route's own name).
ROUTE_ACTIONS = {"officer_card": "view_officer_card", "decide": "record_decision"}


def _action(request: Request) -> str:
    """The access-log action of the request's route (its name), or its method and path."""
    route = request.scope.get("route")
    name = getattr(route, "name", None)
    return ROUTE_ACTIONS.get(name, name) if name else f"{request.method} {request.url.path}"


def _target(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _local(target: str) -> str:
    """``target`` if it is a path on this site, else ``/``: no open redirect after login."""
    ok = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if ok else "/"


def _safe_next(target: str, user: User) -> str:
    local = _local(target)
    return HOME_OF_ROLE[user.role] if local == "/" else local


# -- shaping data for the pages ------------------------------------------------------------


def _visible(flags: pd.DataFrame | None, user: User) -> pd.DataFrame:
    """The flags of ``user``'s units (none for any other role)."""
    if flags is None:
        return pd.DataFrame(columns=["flag_id", "unit", "decision"])
    return flags.loc[flags["unit"].isin(sorted(user.units)) & (user.role == "reviewer")]


def _filter(flags: pd.DataFrame, *, unit: str, status: str) -> pd.DataFrame:
    shown = flags.loc[flags["unit"] == unit] if unit else flags
    if status == "awaiting review":
        return shown.loc[shown["decision"].isna()]
    if status == "decided":
        return shown.loc[shown["decision"].notna()]
    if status != "all":
        return shown.loc[shown["decision"] == status]
    return shown


def _text(value: object) -> str:
    if value is None or (not isinstance(value, list | tuple) and pd.isna(value)):
        return ""
    return str(value)


def _row(record: dict[str, Any], *, withhold_note: bool = False) -> dict[str, Any]:
    """One flag as the list and the card show it; ``withhold_note``: another unit's flag,
    whose note is not shown (``note_withheld`` says whether there is one)."""
    note = _text(record["note"])
    return {
        "flag_id": record["flag_id"],
        "as_of": _text(record["as_of"]),
        "rank": int(record["rank"]),
        "officer_id": record["officer_id"],
        "unit": record["unit"],
        "score": f"{float(record['score']):.3f}",
        "reasons": list(record["reasons"]),
        "decision": _text(record["decision"]),
        "reviewer": _text(record["reviewer"]),
        "note": "" if withhold_note else note,
        "note_withheld": withhold_note and bool(note),
        "decided_on": _text(record["decided_on"]),
        "version": int(record["version"]),
    }


def _trail_rows(
    trail: pd.DataFrame,
    *,
    officers: dict[str, str],
    link: bool,
    withhold_notes: Collection[str] = (),
) -> list[dict[str, str]]:
    """Audit trail entries in words: when, who, what, which flag (and officer, from
    ``officers``: flag ID -> officer ID), old -> new; without the notes of the flags in
    ``withhold_notes`` (another unit's)."""
    rows = []
    for record in trail.to_dict("records"):
        details = record["details"]
        old, new = details.get("old") or {}, details.get("new") or {}
        action = record["action"]
        if action.startswith("decision"):
            change = f"{old.get('decision', '–')} → {new.get('decision')}"
            if new.get("note") and record["flag_id"] in withhold_notes:
                change += " (note withheld: another unit's)"
            elif new.get("note"):
                change += f" (note: {new['note']})"
            change += f", decided {new.get('decided_on')}"
        elif action.startswith("flag"):
            change = f"rank {new.get('rank')}, score {float(new.get('score', 0)):.3f}"
        else:
            change = ", ".join(f"{key} {value}" for key, value in sorted(details.items()))
        rows.append(
            {
                "at": f"{record['at']:%Y-%m-%d %H:%M:%S} UTC",
                "actor": record["actor"],
                "action": action.replace("_", " "),
                "flag_id": _text(record["flag_id"]),
                "officer_id": officers.get(_text(record["flag_id"]), ""),
                "change": change,
                "link": "1" if link and _text(record["flag_id"]) else "",
            }
        )
    return rows


class _Pages:
    """Renders the templates with what every page needs (user, CSRF token, marking)."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("ewp.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, request: Request, name: str, *, status: int = 200, **context: Any) -> Response:
        user: User | None = getattr(request.state, "user", None)
        html = self.env.get_template(name).render(
            marking=MARKING,
            user=user,
            csrf_token=request.session.get("csrf", ""),
            path=request.url.path,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def error(self, request: Request, status: int, message: str) -> Response:
        return self.render(request, "error.html.j2", status=status, code=status, message=message)

    def card(
        self,
        request: Request,
        store: WorkspaceStore,
        flag: dict[str, Any],
        *,
        saved: bool = False,
        error: str = "",
        conflict: CurrentDecision | None = None,
        form: dict[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        """The officer card of one flag: reasons, history, decision form (carrying the version
        of the decision it was opened at), earlier flags; ``conflict``: the decision someone
        else recorded after the form was opened."""
        settings = self.settings
        as_of: dt.date = flag["as_of"]
        officer = str(flag["officer_id"])
        folder = runs.run_folder(settings.runs_dir, as_of)
        timelines = runs.read_timelines(folder)
        history, chart = ([], None)
        if timelines is not None:
            history, chart = officer_history(
                timelines=timelines, officer_id=officer, flag_id=str(flag["flag_id"]), as_of=as_of
            )
        everything = store.flags_frame()
        officer_flags = everything.loc[everything["officer_id"] == officer]
        earlier = officer_flags.loc[officer_flags["flag_id"] != flag["flag_id"]].iloc[::-1]
        trail = store.trail_frame(list(officer_flags["flag_id"])).iloc[::-1]
        # Another unit's flags of this officer show that they exist and what was decided, but
        # not the note written for that unit.
        user: User = request.state.user
        others = {
            record["flag_id"]
            for record in officer_flags.to_dict("records")
            if not user.may_see_unit(str(record["unit"]))
        }
        current = _row(flag)
        today = settings.clock().date()
        return self.render(
            request,
            "card.html.j2",
            status=status,
            flag=current,
            model_version=str(flag["model_version"]),
            history=history,
            chart=chart,
            timelines_found=timelines is not None,
            legend=chart_legend(),
            chart_years=CHART_YEARS,
            earlier=[
                _row(record, withhold_note=record["flag_id"] in others)
                for record in earlier.to_dict("records")
            ],
            trail=_trail_rows(
                trail,
                officers=dict.fromkeys(officer_flags["flag_id"], officer),
                link=False,
                withhold_notes=others,
            ),
            decisions=settings.decisions,
            form=form
            or {
                "decision": current["decision"],
                "note": current["note"],
                "decided_on": today.isoformat(),
                "version": str(current["version"]),
            },
            today=today.isoformat(),
            saved=saved,
            error=error,
            conflict=conflict,
        )

    def users(
        self,
        request: Request,
        store: WorkspaceStore,
        *,
        saved: str = "",
        error: str = "",
        status: int = 200,
    ) -> Response:
        return self.render(
            request,
            "users.html.j2",
            status=status,
            users=store.users(),
            roles=ROLES,
            units=store.known_units(),
            saved=saved,
            error=error,
        )


# -- the routers of each area ------------------------------------------------------------
# Every route reads the app's store, settings and page renderer through these dependencies
# (``create_app`` puts them on ``app.state``); the app's guard has identified the user first.


def _store(request: Request) -> WorkspaceStore:
    return request.app.state.store


def _settings(request: Request) -> WebSettings:
    return request.app.state.settings


def _pages(request: Request) -> _Pages:
    return request.app.state.pages


Store = Annotated[WorkspaceStore, Depends(_store)]
Settings = Annotated[WebSettings, Depends(_settings)]
Pages = Annotated[_Pages, Depends(_pages)]


def visible_flag(
    request: Request,
    store: WorkspaceStore,
    user: User,
    flag_id: str,
    action: str,
    *,
    log_allowed: bool = True,
) -> dict[str, Any]:
    """The flag if ``user`` may see it; else 404 (as for an unknown flag), logged as
    denied. An allowed access is logged too, unless ``log_allowed`` is false (the caller
    logs it with its outcome)."""
    flag = store.flag(flag_id)
    allowed = flag is not None and user.may_see_unit(str(flag["unit"]))
    if allowed and not log_allowed:
        return flag
    store.log_access(
        username=user.username,
        action=action,
        target=flag_id,
        outcome="allowed" if allowed else "denied",
        client=_client(request),
    )
    if flag is None or not allowed:
        raise HTTPException(404, f"No flag {flag_id} in your units.")
    return flag


# -- signing in and out ------------------------------------------------------------------

sign_in_routes = APIRouter()


@sign_in_routes.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    next: str = "/",
    *,
    pages: Pages,
) -> Response:
    if request.state.user is not None:
        return RedirectResponse(_safe_next(next, request.state.user), status_code=303)
    return pages.render(request, "login.html.j2", next=_local(next))


@sign_in_routes.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    *,
    store: Store,
    settings: Settings,
    pages: Pages,
) -> Response:
    try:
        user = store.check_login(
            username=username,
            password=password,
            client=_client(request),
            limits=settings.login_limits,
        )
    except LoginRefused as exc:
        return pages.render(request, "login.html.j2", status=429, next=_local(next), error=str(exc))
    except AccessError as exc:
        return pages.render(request, "login.html.j2", status=401, next=_local(next), error=str(exc))
    # A fresh session and CSRF token at login, so a session planted before it is useless.
    request.session.clear()
    request.session["sid"] = store.start_session(user.username, client=_client(request))
    request.session["csrf"] = secrets.token_urlsafe(32)
    return RedirectResponse(_safe_next(next, user), status_code=303)


@sign_in_routes.post("/logout")
def logout(
    request: Request,
    _user: Anyone,
    store: Store,
) -> Response:
    token = request.session.get("sid")
    if isinstance(token, str):
        store.end_session(token, client=_client(request))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@sign_in_routes.get("/favicon.ico")
def favicon(_user: Anyone) -> Response:
    # Pages declare an empty icon; this answers browsers that ask anyway (the fairness
    # audit page is the run's own file), so they log no 404.
    return Response(status_code=204)


@sign_in_routes.get("/")
def home(user: Anyone) -> Response:
    return RedirectResponse(HOME_OF_ROLE[user.role], status_code=303)


# -- reviewers: the list, officer cards, decisions ---------------------------------------

review_routes = APIRouter()


@review_routes.get("/flags", response_class=HTMLResponse)
def flag_list(
    request: Request,
    user: Reviewer,
    week: dt.date | None = None,
    unit: str = "",
    status: str = "all",
    *,
    store: Store,
    settings: Settings,
    pages: Pages,
) -> Response:
    weeks = store.weeks(user.units)
    if week is not None and week not in weeks:
        raise HTTPException(404, f"No list for {week} in your units.")
    chosen = week or (weeks[0] if weeks else None)
    statuses = (*STATUS_FILTERS, *settings.decisions)
    if status not in statuses:
        raise HTTPException(400, f"Unknown status {status!r}; use one of {statuses}.")
    flags = _visible(store.flags_frame(as_of=chosen), user) if chosen else _visible(None, user)
    shown = _filter(flags, unit=unit, status=status)
    return pages.render(
        request,
        "list.html.j2",
        week=chosen,
        weeks=weeks,
        unit=unit,
        units=sorted(user.units),
        status_filter=status,
        statuses=statuses,
        total=len(flags),
        decided=int(flags["decision"].notna().sum()),
        rows=[_row(record) for record in shown.to_dict("records")],
        export=f"/decisions.csv?{urlencode({'week': chosen or '', 'unit': unit})}",
        failed_runs=run_status.failures(settings.runs_dir),
    )


@review_routes.get("/flags/{flag_id}", response_class=HTMLResponse)
def officer_card(
    request: Request,
    user: Reviewer,
    flag_id: str,
    saved: int = 0,
    *,
    store: Store,
    pages: Pages,
) -> Response:
    flag = visible_flag(request, store, user, flag_id, "view_officer_card")
    return pages.card(request, store, flag, saved=bool(saved))


@review_routes.post("/flags/{flag_id}/decision", response_class=HTMLResponse)
def decide(
    request: Request,
    user: Reviewer,
    flag_id: str,
    decision: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    decided_on: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "0",
    *,
    store: Store,
    settings: Settings,
    pages: Pages,
) -> Response:
    flag = visible_flag(request, store, user, flag_id, "record_decision", log_allowed=False)
    form = {"decision": decision, "note": note, "decided_on": decided_on, "version": version}

    def log(outcome: AccessOutcome) -> None:
        store.log_access(
            username=user.username,
            action="record_decision",
            target=flag_id,
            outcome=outcome,
            client=_client(request),
        )

    try:
        day = dt.date.fromisoformat(decided_on) if decided_on else settings.clock().date()
        if not version.isdigit():
            raise ReviewError(f"version: {version!r} is not a version (a whole number)")
        store.record_decision(
            flag_id=flag_id,
            decision=decision,
            reviewer=user.username,
            note=note,
            decided_on=day,
            allowed=settings.decisions,
            expected_version=int(version),
        )
    except DecisionConflict as exc:
        # Someone decided since this card was opened: show their decision; the reviewer's
        # own stays in the form, now against the current version, to resubmit knowingly.
        [(_, now)] = exc.conflicts
        form["version"] = str(now.version if now is not None else 0)
        log("conflict")
        return pages.card(request, store, flag, conflict=now, form=form, status=409)
    except ValueError as exc:  # ReviewError, or a date that does not parse
        message = str(exc) if isinstance(exc, ReviewError) else f"decided_on: {exc}"
        log("rejected")
        return pages.card(request, store, flag, error=message, form=form, status=400)
    log("allowed")
    return RedirectResponse(f"/flags/{quote(flag_id)}?saved=1", status_code=303)


@review_routes.get("/decisions.csv")
def export_decisions(
    request: Request,
    user: Reviewer,
    week: dt.date | None = None,
    unit: str = "",
    *,
    store: Store,
) -> Response:
    flags = _visible(store.flags_frame(as_of=week), user)
    decided = _filter(flags, unit=unit, status="decided")
    store.log_access(
        username=user.username,
        action="export_decisions",
        target=f"{week or 'all weeks'} {unit or 'all units'}".strip(),
        outcome="allowed",
        client=_client(request),
    )
    table = decided[list(EXPORT_COLUMNS)].map(_text)
    name = f"decisions-{week or 'all'}.csv"
    return Response(
        csv_text(table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@review_routes.get("/trail", response_class=HTMLResponse)
def trail(
    request: Request,
    user: ReviewerOrAdmin,
    store: Store,
    pages: Pages,
) -> Response:
    flags = store.flags_frame()
    if user.role == "admin":
        entries = store.trail_frame()
    else:
        flags = _visible(flags, user)
        entries = store.trail_frame(list(flags["flag_id"]))
    newest = entries.iloc[::-1].head(TRAIL_LIMIT)
    officers = dict(zip(flags["flag_id"], flags["officer_id"], strict=True))
    return pages.render(
        request,
        "trail.html.j2",
        entries=_trail_rows(newest, officers=officers, link=user.role == "reviewer"),
        limit=TRAIL_LIMIT,
    )


# -- reviewers and auditors: weeks, fairness audit, model card ---------------------------

week_routes = APIRouter()


@week_routes.get("/audits", response_class=HTMLResponse)
def audits(
    request: Request,
    _user: ReviewerOrAuditor,
    store: Store,
    settings: Settings,
    pages: Pages,
) -> Response:
    flags = store.flags_frame()
    weeks = []
    for week in store.weeks():
        folder = runs.run_folder(settings.runs_dir, week)
        of_week = flags.loc[flags["as_of"] == week]
        weeks.append(
            {
                "as_of": week,
                "flags": len(of_week),
                "units": of_week["unit"].nunique(),
                "decided": int(of_week["decision"].notna().sum()),
                "has_audit": runs.audit_html(folder) is not None,
                "model_version": str(of_week["model_version"].iloc[0]),
            }
        )
    return pages.render(request, "audits.html.j2", weeks=weeks)


@week_routes.get("/weeks/{week}/audit", response_class=HTMLResponse)
def fairness_audit(
    week: dt.date,
    _user: ReviewerOrAuditor,
    settings: Settings,
) -> Response:
    page = runs.audit_html(runs.run_folder(settings.runs_dir, week))
    if page is None:
        raise HTTPException(404, f"No fairness audit was written for the list of {week}.")
    # The audit is a self-contained report; a bar at its top leads back to the workspace.
    bar = (
        '<p style="margin:0;padding:0.4rem 1rem;background:#eef5fb">'
        '<a href="/audits">Back to the workspace</a></p>'
    )
    head, found, tail = page.partition("<body>")
    return HTMLResponse(head + found + bar + tail if found else page)


@week_routes.get("/weeks/{week}/model-card", response_class=HTMLResponse)
def model_card(
    request: Request,
    week: dt.date,
    _user: ReviewerOrAuditor,
    store: Store,
    settings: Settings,
    pages: Pages,
) -> Response:
    flags = store.flags_frame(as_of=week)
    if flags.empty:
        raise HTTPException(404, f"No list was published for {week}.")
    folder = runs.run_folder(settings.runs_dir, week)
    model_version = str(flags["model_version"].iloc[0])
    card = runs.model_card(settings.runs_dir, folder, model_version)
    return pages.render(
        request,
        "model_card.html.j2",
        week=week,
        model_version=model_version,
        data_fingerprint=str(flags["data_fingerprint"].iloc[0]),
        card_html=card_html(card[0]) if card else None,
        card_path=card[1].name if card else None,
        manifest=runs.manifest(folder),
    )


# -- admins: users, units, the access log ------------------------------------------------

admin_routes = APIRouter()


@admin_routes.get("/admin/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    _user: Admin,
    saved: str = "",
    *,
    store: Store,
    pages: Pages,
) -> Response:
    return pages.users(request, store, saved=saved)


@admin_routes.post("/admin/users", response_class=HTMLResponse)
def add_user(
    request: Request,
    user: Admin,
    username: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    units: Annotated[list[str] | None, Form()] = None,
    *,
    store: Store,
    pages: Pages,
) -> Response:
    try:
        added = store.add_user(
            username=username,
            role=role,
            units=units or [],
            password=password or None,
            actor=user.username,
        )
    except AccessError as exc:
        return pages.users(request, store, error=str(exc), status=400)
    return RedirectResponse(f"/admin/users?saved={quote(added.username)}", status_code=303)


@admin_routes.post("/admin/users/{username}", response_class=HTMLResponse)
def change_user(
    request: Request,
    user: Admin,
    username: str,
    role: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    units: Annotated[list[str] | None, Form()] = None,
    *,
    store: Store,
    pages: Pages,
) -> Response:
    try:
        changed = store.update_user(
            username=username,
            actor=user.username,
            role=role or None,
            units=units or [],
            active=active == "on",
            password=password or None,
        )
    except AccessError as exc:
        return pages.users(request, store, error=str(exc), status=400)
    return RedirectResponse(f"/admin/users?saved={quote(changed.username)}", status_code=303)


@admin_routes.get("/admin/access-log", response_class=HTMLResponse)
def access_log(
    request: Request,
    _user: Admin,
    store: Store,
    pages: Pages,
) -> Response:
    log = store.access_frame(limit=ACCESS_LOG_LIMIT)
    entries = [
        {**record, "at": f"{record['at']:%Y-%m-%d %H:%M:%S} UTC"}
        for record in log.to_dict("records")
    ]
    return pages.render(request, "access_log.html.j2", entries=entries, limit=ACCESS_LOG_LIMIT)


# Every area's router, in the order the app includes them.
ROUTERS: tuple[APIRouter, ...] = (sign_in_routes, review_routes, week_routes, admin_routes)
