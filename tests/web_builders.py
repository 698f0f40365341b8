"""A small review workspace for the web tests: a review store with two weeks of hand-made flags
in two units, the run folders a weekly run writes (timelines, fairness audit, model card) and
one account per role. Built once per session and copied for each test (password hashing is
deliberately slow)."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ewp.core.config import ReviewConfig
from ewp.features.explanations import TIMELINE_COLUMNS
from ewp.models.flags import flag_id
from ewp.stores.access import WorkspaceStore
from ewp.web.settings import WebSettings

NOW = dt.datetime(2025, 1, 15, 9, 0, tzinfo=dt.UTC)
LATEST = "2025-01-13"
EARLIER = "2025-01-06"
MODEL = "scorecard-abc123 (v2)"
PASSWORD = "correct horse battery"
ACCOUNTS = {
    "rev.a": ("reviewer", ("Borough 01",)),
    "rev.b": ("reviewer", ("Borough 02",)),
    "auditor": ("auditor", ()),
    "admin": ("admin", ()),
}
# officer -> unit, and the reasons of their flag (as ewp score phrases them)
OFFICERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "OFF000101": (
        "Borough 01",
        (
            "6 notices received in the last 12 months, more than 99% of officers in the same unit",
            "2 cases still open, more than any other officer in the same unit",
            "3 earlier notices found to have a case to answer",
        ),
    ),
    "OFF000102": (
        "Borough 01",
        (
            "4 notices received in the last 12 months, more than 97% of officers in the same unit",
            "1 notice alleging violence or use of force in the last 3 years",
        ),
    ),
    "OFF000103": ("Borough 01", ("3 notices received while earlier ones were still open",)),
    "OFF000201": (
        "Borough 02",
        ("5 notices received in the last 12 months, more than 98% of officers in the same unit",),
    ),
    "OFF000202": ("Borough 02", ("2 cases still open",)),
}
# (officer, notice, received, category label, source, status, finding, sanction, days open)
NOTICES = (
    (
        "OFF000101",
        "N1001",
        "2021-03-02",
        "neglect of duty",
        "public",
        "decided",
        "no case",
        "",
        None,
    ),
    (
        "OFF000101",
        "N1002",
        "2022-06-15",
        "discreditable conduct",
        "internal",
        "decided",
        "case to answer",
        "written warning",
        None,
    ),
    (
        "OFF000101",
        "N1003",
        "2023-09-01",
        "violence / use of force",
        "public",
        "decided",
        "case to answer",
        "final written warning",
        None,
    ),
    ("OFF000101", "N1004", "2024-04-20", "dishonesty / fraud", "public", "open", "", "", 268),
    ("OFF000101", "N1005", "2024-11-30", "neglect of duty", "public", "open", "", "", 44),
    ("OFF000102", "N2001", "2024-02-11", "violence / use of force", "public", "open", "", "", 337),
)
AUDIT_PAGE = (
    "<!DOCTYPE html><html><head><title>Fairness audit</title></head><body>"
    "<h1>Fairness audit of the list of 2025-01-13</h1>"
    "<p>Flag rate ratio, Black to White: 1.12 (within band)</p></body></html>\n"
)
MODEL_CARD = "# Model card: scorecard-abc123\n\n## Intended use\n\nA prompt for review.\n"


def fid(officer: str, as_of: str = LATEST) -> str:
    """The flag ID of an officer's flag in a week."""
    return flag_id(officer_id=officer, as_of=as_of, model_version=MODEL)


def flag_frame(as_of: str, officers: list[str]) -> pd.DataFrame:
    """A flag list of ``officers`` in flags.csv's layout."""
    rows = []
    for rank, officer in enumerate(officers, start=1):
        unit, reasons = OFFICERS[officer]
        padded = (*reasons, "", "", "")[:3]
        rows.append(
            {
                "flag_id": fid(officer, as_of),
                "rank": rank,
                "officer_id": officer,
                "unit": unit,
                "as_of": as_of,
                "score": round(0.95 - 0.07 * rank, 6),
                "reason_1": padded[0],
                "reason_2": padded[1],
                "reason_3": padded[2],
                "model_version": MODEL,
                "data_fingerprint": "fp-2025-01",
            }
        )
    return pd.DataFrame(rows)


def timelines() -> pd.DataFrame:
    """The history behind this week's flags, as ``officer_timelines`` gives it."""
    frame = pd.DataFrame(NOTICES, columns=list(TIMELINE_COLUMNS))
    frame["received_on"] = pd.to_datetime(frame["received_on"])
    frame["days_open"] = frame["days_open"].astype("Int64")
    return frame


class Clock:
    """A settable clock for the app (sessions, rate limit, log times)."""

    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta


@dataclass(frozen=True)
class Workspace:
    """Where a test's workspace lives."""

    root: Path
    database_url: str
    runs_dir: Path

    def settings(self, clock: Clock, **overrides: object) -> WebSettings:
        values: dict[str, object] = {
            "database_url": self.database_url,
            "runs_dir": self.runs_dir,
            "decisions": ReviewConfig().decisions,
            "secret_key": "test-secret-key-of-enough-length-0123456789",
            "clock": clock,
            **overrides,
        }
        return WebSettings(**values)  # type: ignore[arg-type]


def build_workspace(root: Path) -> Workspace:
    """Write the store and run folders under ``root``."""
    runs_dir = root / "runs" / "default"
    url = f"sqlite:///{root / 'review.db'}"
    store = WorkspaceStore(url, clock=lambda: NOW)
    try:
        store.publish_flags(flag_frame(EARLIER, ["OFF000101", "OFF000201"]), actor="ewp score")
        store.publish_flags(flag_frame(LATEST, list(OFFICERS)), actor="ewp score")
        store.record_decision(
            flag_id=fid("OFF000101", EARLIER),
            decision="supervisor_conversation",
            reviewer="rev.a",
            note="talked it through with the sergeant",
            decided_on=dt.date(2025, 1, 8),
            allowed=ReviewConfig().decisions,
        )
        for name, (role, units) in ACCOUNTS.items():
            store.add_user(username=name, role=role, units=units, password=PASSWORD, actor="test")
    finally:
        store.close()
    latest = runs_dir / f"weekly-{LATEST}"
    latest.mkdir(parents=True)
    timelines().to_csv(latest / "timelines.csv", index=False, date_format="%Y-%m-%d")
    (latest / "audit.html").write_text(AUDIT_PAGE, encoding="utf-8")
    (runs_dir / EARLIER).mkdir()  # the demo's layout, written before timelines existed
    (runs_dir / "train-2025-01-01").mkdir()
    (runs_dir / "train-2025-01-01" / "model_card.md").write_text(MODEL_CARD, encoding="utf-8")
    return Workspace(root=root, database_url=url, runs_dir=runs_dir)


def copy_workspace(template: Workspace, root: Path) -> Workspace:
    """A private copy of a built workspace."""
    shutil.copytree(template.root, root)
    return Workspace(
        root=root,
        database_url=f"sqlite:///{root / 'review.db'}",
        runs_dir=root / "runs" / "default",
    )
