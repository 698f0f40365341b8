"""The review workspace's routes, role by role: what each role may see and do, login, sessions,
CSRF, the login rate limit, the access log, the proxy header and ``ewp users``.

The workspace (``tests/web_builders.py``): flags of 2025-01-06 and 2025-01-13 in Borough 01 and
Borough 02; reviewer ``rev.a`` has Borough 01, ``rev.b`` Borough 02, plus an auditor and an
admin. The app's clock is fixed (``NOW``, 2025-01-15 09:00 UTC) and advanced by hand.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ewp.cli.commands import app as cli
from ewp.features.explanations import officer_timelines
from ewp.reports.weekly import officer_history
from ewp.stores.access import LoginLimits, WorkspaceStore
from ewp.web import create_app
from ewp.web.app import ROUTERS
from ewp.web.runs import read_timelines
from tests.builders import make_force
from tests.web_builders import (
    EARLIER,
    LATEST,
    NOW,
    PASSWORD,
    Clock,
    Workspace,
    build_workspace,
    copy_workspace,
    fid,
    flag_frame,
)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
A_FLAG = fid("OFF000101")  # Borough 01, rank 1 this week
B_FLAG = fid("OFF000201")  # Borough 02


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return build_workspace(tmp_path_factory.mktemp("web") / "workspace")


@pytest.fixture()
def workspace(built: Workspace, tmp_path: Path) -> Workspace:
    return copy_workspace(built, tmp_path / "workspace")


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def client(workspace: Workspace, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(workspace.settings(clock)), follow_redirects=False) as c:
        yield c


def store_of(workspace: Workspace) -> WorkspaceStore:
    return WorkspaceStore(workspace.database_url, clock=lambda: NOW)


def token(client: TestClient, page: str = "/login") -> str:
    """The CSRF token of the client's session, read from a form on ``page`` (signed in, the
    login page leads to the user's home page, whose sign-out form carries it)."""
    found = CSRF.search(client.get(page, follow_redirects=True).text)
    assert found, f"no CSRF token on {page}"
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> None:
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token(client)},
    )
    assert response.status_code == 303, response.text


def decide(client: TestClient, flag: str, **fields: str) -> object:
    data = {"decision": "no_action", "note": "", "csrf_token": token(client), **fields}
    return client.post(f"/flags/{flag}/decision", data=data)


def redirected_to_login(response: object) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/login?next=")


def test_anonymous_requests_are_redirected_to_login_on_every_route(
    client: TestClient, workspace: Workspace
) -> None:
    values = {"flag_id": A_FLAG, "week": LATEST, "as_of": LATEST, "username": "rev.a"}
    routes = [
        r
        for router in ROUTERS
        for r in router.routes
        if isinstance(r, APIRoute) and r.path != "/login"
    ]
    assert len(routes) >= 13
    for route in routes:
        path = route.path.format(**values)
        for method in route.methods:
            response = client.request(method, path, data={"decision": "no_action"})
            assert redirected_to_login(response), (method, path, response.status_code)
    # Paths no route serves, and the API docs FastAPI would add, tell nothing before login.
    for path in ("/docs", "/openapi.json", "/redoc", "/no/such/page"):
        assert redirected_to_login(client.get(path)), path
    assert client.get("/flags?week=2025-01-13").headers["location"] == (
        "/login?next=%2Fflags%3Fweek%3D2025-01-13"
    )
    store = store_of(workspace)
    assert len(store.decisions_frame()) == 1  # the decision the builder made, nothing more
    store.close()


def test_login_lands_on_the_role_home_and_logout_ends_the_session(client: TestClient) -> None:
    wrong = client.post(
        "/login",
        data={"username": "rev.a", "password": "not the password", "csrf_token": token(client)},
    )
    assert wrong.status_code == 401 and "wrong user name or password" in wrong.text
    unknown = client.post(
        "/login", data={"username": "nobody", "password": PASSWORD, "csrf_token": token(client)}
    )
    assert unknown.status_code == 401 and "wrong user name or password" in unknown.text
    no_csrf = client.post("/login", data={"username": "rev.a", "password": PASSWORD})
    assert no_csrf.status_code == 403

    response = client.post(
        "/login",
        data={
            "username": "rev.a",
            "password": PASSWORD,
            "csrf_token": token(client),
            "next": "//evil.example/phish",  # not a local path: ignored
        },
    )
    assert response.headers["location"] == "/flags"
    assert client.get("/flags").status_code == 200
    cookie = client.cookies.get("ewp_workspace")

    assert client.post("/logout").status_code == 403  # no CSRF token
    assert client.post("/logout", data={"csrf_token": token(client, "/flags")}).status_code == 303
    assert redirected_to_login(client.get("/flags"))
    client.cookies.set("ewp_workspace", cookie)  # the cookie from before logout, replayed
    assert redirected_to_login(client.get("/flags"))


def test_a_reviewer_sees_and_decides_only_their_units(
    client: TestClient, workspace: Workspace
) -> None:
    login(client, "rev.a")
    listed = client.get("/flags").text
    assert "as of 2025-01-13" in listed
    for officer in ("OFF000101", "OFF000102", "OFF000103"):
        assert f">{officer}</a>" in listed
    assert "OFF0002" not in listed and "Borough 02" not in listed
    assert "3 flags this week in your units, 0 decided, 3 awaiting review" in listed

    earlier = client.get(f"/flags?week={EARLIER}").text
    assert ">OFF000101</a>" in earlier and ">OFF000102</a>" not in earlier
    assert "supervisor conversation" in earlier
    awaiting = client.get(f"/flags?week={EARLIER}&status=awaiting+review").text
    assert "No flags match." in awaiting
    assert client.get("/flags?week=2024-12-30").status_code == 404  # no list that week

    # Another unit's officer: 404 as for an unknown flag, for the card and for a decision.
    assert client.get(f"/flags/{B_FLAG}").status_code == 404
    assert client.get("/flags/F000000000000").status_code == 404
    assert decide(client, B_FLAG).status_code == 404
    store = store_of(workspace)
    assert B_FLAG not in set(store.decisions_frame()["flag_id"])
    denied = store.access_frame()
    denied = denied.loc[(denied["target"] == B_FLAG) & (denied["username"] == "rev.a")]
    assert sorted(denied["action"]) == ["record_decision", "view_officer_card"]
    assert set(denied["outcome"]) == {"denied"}

    card = client.get(f"/flags/{A_FLAG}")
    assert card.status_code == 200
    text = card.text
    assert "Officer OFF000101" in text
    assert "6 notices received in the last 12 months, more than 99% of officers" in text
    for notice in ("N1001", "N1002", "N1003", "N1004", "N1005"):
        assert f"<td>{notice}</td>" in text
    assert "N2001" not in text  # another officer's notice
    assert text.count('<svg class="chart"') == 1
    assert "talked it through with the sergeant" in text  # the earlier flag's decision
    log = store.access_frame()
    view = log.loc[(log["action"] == "view_officer_card") & (log["target"] == A_FLAG)]
    assert view[["username", "outcome"]].to_dict("records") == [
        {"username": "rev.a", "outcome": "allowed"}
    ]
    assert view["at"].iloc[0] == NOW

    # The card of a week whose run folder has no timelines.csv says so.
    old = client.get(f"/flags/{fid('OFF000101', EARLIER)}").text
    assert "has no timelines.csv" in old
    store.close()


def test_a_decision_from_a_stale_card_shows_the_other_one_instead_of_saving(
    client: TestClient, workspace: Workspace
) -> None:
    """rev.a opens the card of an undecided flag; a colleague (here through the CLI's store)
    records a referral; rev.a's "no action" from the open card is refused with 409, naming
    the referral, who and when; submitting the form again replaces it knowingly."""
    login(client, "rev.a")
    opened = client.get(f"/flags/{A_FLAG}").text
    assert '<input type="hidden" name="version" value="0">' in opened
    store = store_of(workspace)
    store.record_decision(
        flag_id=A_FLAG,
        decision="referral_to_professional_standards",
        reviewer="ps.ahmed",
        note="pattern of force",
        decided_on=NOW.date(),
        allowed=("referral_to_professional_standards",),
    )
    before = store.trail_frame([A_FLAG])
    store.close()

    stale = decide(client, A_FLAG, decision="no_action", note="nothing in it", version="0")
    assert stale.status_code == 409
    assert (
        "someone else recorded a decision on this flag after you opened it: <strong>referral to "
        "professional standards</strong> by ps.ahmed, decided 2025-01-15, recorded 2025-01-15 "
        "09:00 UTC by ps.ahmed: “pattern of force”."
    ) in stale.text
    assert '<input type="hidden" name="version" value="1">' in stale.text  # now knowingly
    assert ">nothing in it</textarea>" in stale.text  # rev.a's own decision is kept
    store = store_of(workspace)
    assert len(store.trail_frame([A_FLAG])) == len(before)  # nothing saved
    store.close()

    again = decide(client, A_FLAG, decision="no_action", note="nothing in it", version="1")
    assert again.status_code == 303
    store = store_of(workspace)
    changed = store.trail_frame([A_FLAG]).iloc[-1]
    assert changed["action"] == "decision_changed" and changed["actor"] == "rev.a"
    assert changed["details"]["old"]["reviewer"] == "ps.ahmed"
    store.close()


def test_a_decision_from_the_form_reaches_the_store_and_the_audit_trail(
    client: TestClient, workspace: Workspace
) -> None:
    login(client, "rev.a")
    response = decide(
        client, A_FLAG, decision="referral_to_professional_standards", note="pattern of force"
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/flags/{A_FLAG}?saved=1"
    assert "Decision recorded" in client.get(response.headers["location"]).text

    store = store_of(workspace)
    decision = store.decisions_frame().set_index("flag_id").loc[A_FLAG]
    assert decision["decision"] == "referral_to_professional_standards"
    assert decision["reviewer"] == "rev.a"
    assert decision["note"] == "pattern of force"
    assert decision["decided_on"] == NOW.date()
    trail = store.trail_frame([A_FLAG])
    assert list(trail["action"]) == ["flag_published", "decision_recorded"]
    assert trail["actor"].iloc[-1] == "rev.a"
    log = store.access_frame()
    assert "record_decision" in set(log.loc[log["target"] == A_FLAG, "action"])
    store.close()

    page = client.get("/trail").text
    newest = page.split("<tbody>")[1].split("</tr>")[0]
    assert "<td>rev.a</td><td>decision recorded</td>" in newest
    assert "<td>OFF000101</td>" in newest and "pattern of force" in newest
    assert "OFF000201" not in page  # rev.a's trail holds their units' flags only

    # Refused decisions: re-shown with the reason, nothing changed.
    before = decide(client, A_FLAG, decision="no_action", decided_on="2025-01-10")
    assert before.status_code == 400 and "before the flag&#39;s as-of date" in before.text
    unknown = decide(client, A_FLAG, decision="sack_them")
    assert unknown.status_code == 400 and "not an allowed decision" in unknown.text
    store = store_of(workspace)
    assert len(store.trail_frame([A_FLAG])) == 2
    store.close()


def test_a_form_without_a_valid_csrf_token_is_rejected(
    client: TestClient, workspace: Workspace, clock: Clock
) -> None:
    login(client, "rev.a")
    url = f"/flags/{A_FLAG}/decision"
    assert client.post(url, data={"decision": "no_action"}).status_code == 403
    forged = {"decision": "no_action", "csrf_token": "x" * 43}
    assert client.post(url, data=forged).status_code == 403
    # A real token, but of another session, is no good either.
    with TestClient(create_app(workspace.settings(clock)), follow_redirects=False) as other:
        login(other, "rev.a")
        theirs = token(other, "/flags")
    stolen = client.post(url, data={"decision": "no_action", "csrf_token": theirs})
    assert stolen.status_code == 403 and "CSRF" in stolen.text
    store = store_of(workspace)
    assert A_FLAG not in set(store.decisions_frame()["flag_id"])
    store.close()


def test_an_auditor_reads_audits_and_model_cards_but_no_officer_card(
    client: TestClient,
) -> None:
    login(client, "auditor")
    assert client.get("/").headers["location"] == "/audits"
    for path in (f"/flags/{A_FLAG}", "/flags", "/trail", "/decisions.csv", "/admin/users"):
        assert client.get(path).status_code == 403, path
    assert decide(client, A_FLAG).status_code == 403

    weeks = client.get("/audits").text
    assert f'href="/weeks/{LATEST}/audit"' in weeks
    assert f'href="/weeks/{LATEST}/model-card"' in weeks
    assert "OFF0" not in weeks  # aggregates only: no officer on the page
    audit = client.get(f"/weeks/{LATEST}/audit").text
    assert "Flag rate ratio, Black to White: 1.12" in audit
    assert '<a href="/audits">Back to the workspace</a>' in audit
    assert client.get(f"/weeks/{EARLIER}/audit").status_code == 404  # none written that week
    card = client.get(f"/weeks/{LATEST}/model-card").text
    assert "<h1>Model card: scorecard-abc123</h1>" in card
    assert "<h2>Intended use</h2>" in card
    assert client.get("/weeks/2024-12-30/model-card").status_code == 404


def test_reviewers_read_audits_and_model_cards_and_admins_do_not(client: TestClient) -> None:
    """The role table of docs/review-workspace.md: a reviewer reads each week's audit and model
    card (the weekly report tells them to before acting on a flag); an admin reads neither."""
    login(client, "rev.a")
    for path in ("/audits", f"/weeks/{LATEST}/audit", f"/weeks/{LATEST}/model-card"):
        assert client.get(path).status_code == 200, path
    assert 'href="/audits"' in client.get("/flags").text
    client.post("/logout", data={"csrf_token": token(client, "/flags")})
    login(client, "admin")
    for path in ("/audits", f"/weeks/{LATEST}/audit", f"/weeks/{LATEST}/model-card"):
        assert client.get(path).status_code == 403, path
    assert 'href="/audits"' not in client.get("/admin/users").text


def test_every_refusal_is_in_the_access_log_with_its_outcome(
    client: TestClient, workspace: Workspace
) -> None:
    login(client, "auditor")
    assert client.get("/flags").status_code == 403
    assert decide(client, A_FLAG).status_code == 403
    assert client.post(f"/flags/{A_FLAG}/decision", data={"decision": "other"}).status_code == 403
    client.post("/logout", data={"csrf_token": token(client, "/audits")})
    login(client, "admin")
    assert client.get(f"/flags/{A_FLAG}").status_code == 403
    assert client.get(f"/weeks/{LATEST}/audit").status_code == 403
    client.post("/logout", data={"csrf_token": token(client, "/admin/users")})
    login(client, "rev.a")
    assert decide(client, A_FLAG, decided_on="2025-01-01").status_code == 400  # before as-of
    assert decide(client, A_FLAG, decision="other").status_code == 303
    assert decide(client, A_FLAG, decision="no_action", version="0").status_code == 409

    store = store_of(workspace)
    log = store.access_frame().iloc[::-1]  # oldest first
    store.close()
    since = log["action"].eq("login").idxmax()  # from the first sign-in of this test
    entries = log.loc[since:].loc[lambda f: ~f["action"].str.startswith("log")]
    entries = entries[["username", "action", "target"]]
    assert entries.assign(outcome=log["outcome"]).values.tolist() == [
        ["auditor", "flag_list", "/flags", "denied"],
        ["auditor", "record_decision", f"/flags/{A_FLAG}/decision", "denied"],
        ["auditor", "csrf_refused", f"/flags/{A_FLAG}/decision", "denied"],
        ["admin", "view_officer_card", f"/flags/{A_FLAG}", "denied"],
        ["admin", "fairness_audit", f"/weeks/{LATEST}/audit", "denied"],
        ["rev.a", "record_decision", A_FLAG, "rejected"],
        ["rev.a", "record_decision", A_FLAG, "allowed"],
        ["rev.a", "record_decision", A_FLAG, "conflict"],
    ]


def test_a_card_shows_another_units_flags_and_decisions_but_not_their_notes(
    client: TestClient, workspace: Workspace
) -> None:
    """OFF000101 was flagged in Borough 02 before moving to rev.a's Borough 01: rev.a sees
    that flag and its decision, not rev.b's note; rev.b sees the note on their own flag."""
    store = store_of(workspace)
    moved = flag_frame("2024-12-30", ["OFF000101"]).assign(
        unit="Borough 02", flag_id=fid("OFF000101", "2024-12-30")
    )
    store.publish_flags(moved, actor="ewp score")
    store.record_decision(
        flag_id=fid("OFF000101", "2024-12-30"),
        decision="supervisor_conversation",
        reviewer="rev.b",
        note="private matter discussed with the officer",
        decided_on=dt.date(2025, 1, 2),
        allowed=("supervisor_conversation",),
    )
    store.close()
    login(client, "rev.a")
    card = client.get(f"/flags/{A_FLAG}").text
    earlier = card.split("Earlier and later flags of this officer")[1]
    assert "2024-12-30" in earlier and "Borough 02" in earlier
    assert 'supervisor conversation <span class="meta">by rev.b, 2025-01-02</span>' in earlier
    assert "withheld: another unit's note" in earlier
    assert "talked it through with the sergeant" in earlier  # Borough 01's own note
    assert "private matter" not in card
    assert "(note withheld: another unit&#39;s)" in card  # in the trail too
    client.post("/logout", data={"csrf_token": token(client, "/flags")})
    login(client, "rev.b")
    own = client.get(f"/flags/{fid('OFF000101', '2024-12-30')}").text
    assert "private matter discussed with the officer" in own


def test_a_model_card_file_with_raw_html_renders_it_as_text(
    client: TestClient, workspace: Workspace
) -> None:
    """A card written before ewp escaped its values (or edited by hand) cannot put a tag or a
    link on the page: raw HTML is shown as text."""
    hostile = (
        "# Model card: scorecard-abc123\n\n"
        '<meta http-equiv="refresh" content="0;url=http://evil">\n\n'
        "- gate: <script>alert(1)</script> [click](javascript:alert(1)) <http://evil>\n"
    )
    card_file = workspace.runs_dir / "train-2025-01-01" / "model_card.md"
    card_file.write_text(hostile, encoding="utf-8")
    login(client, "auditor")
    page = client.get(f"/weeks/{LATEST}/model-card").text
    card = page.split('<div class="card">', 1)[1].split("</div>", 1)[0]
    assert set(re.findall(r"</?([a-z0-9]+)", card)) == {"h1", "p", "ul", "li"}
    assert '&lt;meta http-equiv="refresh" content="0;url=http://evil"&gt;' in card
    assert "&lt;script&gt;alert(1)&lt;/script&gt; [click](javascript:alert(1))" in card


def test_an_admin_manages_users_and_units_but_opens_no_officer_card(
    client: TestClient, workspace: Workspace, clock: Clock
) -> None:
    login(client, "admin")
    assert client.get(f"/flags/{A_FLAG}").status_code == 403
    assert client.get("/flags").status_code == 403
    page = client.get("/admin/users").text
    assert "rev.a" in page and 'value="Borough 02"' in page

    csrf = token(client, "/admin/users")
    short = client.post(
        "/admin/users",
        data={
            "username": "rev.c",
            "role": "reviewer",
            "units": "Borough 02",
            "password": "short",
            "csrf_token": csrf,
        },
    )
    assert short.status_code == 400 and "at least 12 characters" in short.text
    added = client.post(
        "/admin/users",
        data={
            "username": "rev.c",
            "role": "reviewer",
            "units": ["Borough 01", "Borough 02"],
            "password": PASSWORD,
            "csrf_token": csrf,
        },
    )
    assert added.headers["location"] == "/admin/users?saved=rev.c"

    # rev.b signs in, then loses Borough 02 and gains Borough 01.
    with TestClient(create_app(workspace.settings(clock)), follow_redirects=False) as rev_b:
        login(rev_b, "rev.b")
        assert rev_b.get(f"/flags/{B_FLAG}").status_code == 200
        assert rev_b.get(f"/flags/{A_FLAG}").status_code == 404
        moved = client.post(
            "/admin/users/rev.b",
            data={"role": "reviewer", "units": "Borough 01", "active": "on", "csrf_token": csrf},
        )
        assert moved.status_code == 303
        assert rev_b.get(f"/flags/{B_FLAG}").status_code == 404
        assert rev_b.get(f"/flags/{A_FLAG}").status_code == 200
        # Deactivated: the open session ends at once.
        client.post(
            "/admin/users/rev.b",
            data={"role": "reviewer", "units": "Borough 01", "csrf_token": csrf},
        )
        assert redirected_to_login(rev_b.get("/flags"))

    alone = client.post(
        "/admin/users/admin",
        data={"role": "admin", "csrf_token": csrf},  # "active" unticked
    )
    assert alone.status_code == 400 and "at least one active admin" in alone.text
    log = client.get("/admin/access-log").text
    assert "user added" in log and "user changed:active" in log and "login" in log
    store = store_of(workspace)
    assert store.user("rev.c").units == frozenset({"Borough 01", "Borough 02"})
    assert store.user("rev.b").active is False
    assert store.user("admin").active is True
    store.close()


def test_the_decisions_export_holds_the_reviewers_units_only(
    client: TestClient, workspace: Workspace
) -> None:
    store = store_of(workspace)
    store.record_decision(
        flag_id=B_FLAG,
        decision="no_action",
        reviewer="rev.b",
        decided_on=NOW.date(),
        allowed=("no_action",),
    )
    store.close()
    login(client, "rev.a")
    assert decide(client, A_FLAG, decision="other", note="=HYPERLINK(1)").status_code == 303
    export = client.get("/decisions.csv")
    assert export.headers["content-type"].startswith("text/csv")
    lines = export.text.splitlines()
    assert lines[0] == (
        "flag_id,as_of,officer_id,unit,rank,score,decision,reviewer,decided_on,note,version"
    )
    assert [line.split(",")[2] for line in lines[1:]] == ["OFF000101", "OFF000101"]
    assert lines[-1].endswith(",other,rev.a,2025-01-15,'=HYPERLINK(1),1")  # no formula
    week = client.get(f"/decisions.csv?week={LATEST}").text.splitlines()
    assert len(week) == 2
    store = store_of(workspace)
    assert "export_decisions" in set(store.access_frame()["action"])
    store.close()


def test_thirty_concurrent_wrong_passwords_get_five_401s_and_the_rest_429(
    workspace: Workspace, clock: Clock
) -> None:
    """The limit (5 per user name) holds for a burst: each attempt is reserved before its
    password is checked (tests/test_review_concurrency.py runs it on PostgreSQL too)."""
    limits = LoginLimits(per_user=5, per_client=20, window=dt.timedelta(minutes=15))
    app = create_app(workspace.settings(clock, login_limits=limits))
    with TestClient(app, follow_redirects=False) as client:
        form = {"username": "rev.a", "password": "guess guess guess", "csrf_token": token(client)}
        barrier = threading.Barrier(30)

        def attempt(_: int) -> int:
            barrier.wait()
            return client.post("/login", data=form).status_code

        with ThreadPoolExecutor(max_workers=30) as pool:
            statuses = Counter(pool.map(attempt, range(30)))
    assert statuses == {401: 5, 429: 25}


def test_failed_logins_are_rate_limited_per_user_and_per_client(
    workspace: Workspace, clock: Clock
) -> None:
    limits = LoginLimits(per_user=3, per_client=5, window=dt.timedelta(minutes=15))
    with TestClient(
        create_app(workspace.settings(clock, login_limits=limits)), follow_redirects=False
    ) as client:
        for _ in range(3):
            assert (
                client.post(
                    "/login",
                    data={
                        "username": "rev.a",
                        "password": "guess guess guess",
                        "csrf_token": token(client),
                    },
                ).status_code
                == 401
            )
        refused = client.post(
            "/login",
            data={"username": "rev.a", "password": PASSWORD, "csrf_token": token(client)},
        )
        assert refused.status_code == 429 and "too many failed logins" in refused.text
        clock.advance(dt.timedelta(minutes=16))  # the failures leave the window
        login(client, "rev.a")

        # Per client: failures spread over several names still add up.
        for name in ("x1", "x2", "x3", "x4", "x5"):
            client.post(
                "/login",
                data={
                    "username": name,
                    "password": "guess guess guess",
                    "csrf_token": token(client),
                },
            )
        refused = client.post(
            "/login",
            data={"username": "auditor", "password": PASSWORD, "csrf_token": token(client)},
        )
        assert refused.status_code == 429
    store = store_of(workspace)
    log = store.access_frame()
    assert (log["action"] == "login_refused").sum() == 2
    assert (log["action"] == "login_failure").sum() == 8
    store.close()


def test_sessions_end_when_idle_and_after_their_lifetime(client: TestClient, clock: Clock) -> None:
    login(client, "rev.a")
    clock.advance(dt.timedelta(minutes=29))
    assert client.get("/flags").status_code == 200
    clock.advance(dt.timedelta(minutes=31))  # 31 minutes since the last request
    assert redirected_to_login(client.get("/flags"))

    login(client, "rev.a")
    for _ in range(8 * 3):  # active all day: a request every 20 minutes for 8 hours
        clock.advance(dt.timedelta(minutes=20))
        assert client.get("/flags").status_code == 200
    clock.advance(dt.timedelta(minutes=1))
    assert redirected_to_login(client.get("/flags"))


def test_a_trusted_proxy_header_signs_in_only_from_a_trusted_proxy(
    workspace: Workspace, clock: Clock
) -> None:
    trusted = workspace.settings(
        clock, trusted_user_header="X-Remote-User", trusted_proxies=("testclient",)
    )
    with TestClient(create_app(trusted), follow_redirects=False) as client:
        assert client.get("/flags", headers={"X-Remote-User": "rev.a"}).status_code == 200
        assert client.get(f"/flags/{B_FLAG}", headers={"X-Remote-User": "rev.a"}).status_code == 404
        assert redirected_to_login(client.get("/flags", headers={"X-Remote-User": "mallory"}))
        assert redirected_to_login(client.get("/flags"))
        # Forms still need the session's CSRF token.
        headers = {"X-Remote-User": "rev.a"}
        assert (
            client.post(
                f"/flags/{A_FLAG}/decision", data={"decision": "no_action"}, headers=headers
            ).status_code
            == 403
        )
    elsewhere = workspace.settings(
        clock, trusted_user_header="X-Remote-User", trusted_proxies=("10.0.0.1",)
    )
    with TestClient(create_app(elsewhere), follow_redirects=False) as client:
        assert redirected_to_login(client.get("/flags", headers={"X-Remote-User": "rev.a"}))


def test_pages_carry_security_headers_and_no_script(client: TestClient) -> None:
    login(client, "rev.a")
    for path in ("/flags", f"/flags/{A_FLAG}", "/login", "/trail", "/audits"):
        response = client.get(path, follow_redirects=True)
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert response.headers["cache-control"] == "no-store"
        assert "<script" not in response.text
    assert client.get("/docs").status_code == 404
    signed_in = client.post(
        "/login", data={"username": "rev.b", "password": PASSWORD, "csrf_token": token(client)}
    )
    cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_timelines_round_trip_through_the_run_folder(tmp_path: Path) -> None:
    """What publish_list writes to timelines.csv draws the same card as the data it came from."""
    force = make_force(
        officers=[{"officer_id": "A", "joined_on": "2015-01-01"}],
        notices=[
            {
                "notice_id": "n1",
                "officer_id": "A",
                "received_on": "2023-02-01",
                "category": "neglect_of_duty",
            },
            {
                "notice_id": "n2",
                "officer_id": "A",
                "received_on": "2024-06-01",
                "category": "violence_use_of_force",
            },
        ],
        outcomes=[{"notice_id": "n1", "decided_on": "2023-08-01", "finding": "no_case"}],
    )
    as_of = dt.date(2025, 1, 6)
    frame = officer_timelines(force, ["A"], as_of)
    frame.to_csv(tmp_path / "timelines.csv", index=False, date_format="%Y-%m-%d")
    back = read_timelines(tmp_path)
    assert back is not None
    original = officer_history(timelines=frame, officer_id="A", flag_id="F1", as_of=as_of)
    assert officer_history(timelines=back, officer_id="A", flag_id="F1", as_of=as_of) == original
    rows, chart = original
    assert [(r["received"], r["status"], r["days_open"]) for r in rows] == [
        ("2023-02-01", "decided", ""),
        ("2024-06-01", "open", "219"),
    ]
    assert len(chart.marks) == 2
    assert read_timelines(tmp_path / "elsewhere") is None


def test_ewp_users_add_creates_an_account_that_can_sign_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EWP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EWP_PASSWORD", raising=False)
    secret = tmp_path / "password.txt"
    secret.write_text(PASSWORD + "\n")
    runner = CliRunner()
    added = runner.invoke(
        cli,
        [
            "users",
            "add",
            "ps.ahmed",
            "--role",
            "reviewer",
            "--unit",
            "Borough 01",
            "--unit",
            "Borough 07",
            "--password-file",
            str(secret),
        ],
    )
    assert added.exit_code == 0, added.output
    assert "Added reviewer ps.ahmed for Borough 01, Borough 07" in added.output
    again = runner.invoke(
        cli, ["users", "add", "ps.ahmed", "--role", "auditor", "--password-file", str(secret)]
    )
    assert again.exit_code == 2 and "already exists" in again.output
    no_unit = runner.invoke(
        cli, ["users", "add", "x", "--role", "reviewer"], env={"EWP_PASSWORD": PASSWORD}
    )
    assert no_unit.exit_code == 2 and "needs at least one unit" in no_unit.output
    proxy = runner.invoke(cli, ["users", "add", "sso.user", "--role", "auditor", "--proxy-only"])
    assert proxy.exit_code == 0, proxy.output
    listed = runner.invoke(cli, ["users", "list"])
    assert "ps.ahmed" in listed.output and "reverse proxy only" in listed.output

    store = WorkspaceStore(f"sqlite:///{tmp_path / 'home' / 'review.db'}")
    limits = LoginLimits(per_user=5, per_client=20, window=dt.timedelta(minutes=15))
    user = store.check_login(username="ps.ahmed", password=PASSWORD, client="t", limits=limits)
    assert user.units == frozenset({"Borough 01", "Borough 07"})
    assert PASSWORD not in (tmp_path / "home" / "review.db").read_bytes().decode("latin-1")
    store.close()
