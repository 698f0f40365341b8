"""The review store: idempotent publishing, decisions with an audit trail, all-or-nothing
imports and the suppression rule (concurrent writers: test_review_concurrency.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from ewp.core.atomic import csv_text
from ewp.core.config import ReviewConfig
from ewp.models.flags import REVIEW_COLUMNS, flag_id
from ewp.stores.review import DecisionConflict, ReviewError, ReviewStore, default_url

ALLOWED = ReviewConfig().decisions
NOW = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
WEEK = "2025-01-06"


def make_store(tmp_path: Path) -> ReviewStore:
    return ReviewStore(f"sqlite:///{tmp_path / 'review.db'}", clock=lambda: NOW)


def flag_list(officers: tuple[str, ...] = ("O1", "O2", "O3"), as_of: str = WEEK) -> pd.DataFrame:
    """A flag list in flags.csv's layout (review columns empty)."""
    flags = pd.DataFrame(
        {
            "flag_id": [flag_id(officer_id=o, as_of=as_of, model_version="m1") for o in officers],
            "rank": range(1, len(officers) + 1),
            "officer_id": list(officers),
            "unit": [f"Borough {o}" for o in officers],
            "as_of": as_of,
            "score": [0.9 - 0.1 * i for i in range(len(officers))],
            "reason_1": "4 notices in the last 365 days",
            "reason_2": "2 open cases",
            "reason_3": "",
            "model_version": "m1",
            "data_fingerprint": "fp1",
        }
    )
    for column in REVIEW_COLUMNS:
        flags[column] = ""
    flags["review_version"] = 0
    return flags


def store_with_one_decision(tmp_path: Path) -> ReviewStore:
    """A store with ``flag_list()`` published and O1 decided: no action, by PS Ahmed."""
    store = make_store(tmp_path)
    store.publish_flags(flag_list(), actor="score-flow")
    store.record_decision(
        flag_id=fid("O1"),
        decision="no_action",
        reviewer="PS Ahmed",
        decided_on=date(2025, 1, 8),
        allowed=ALLOWED,
    )
    return store


def fid(officer: str, as_of: str = WEEK) -> str:
    return flag_id(officer_id=officer, as_of=as_of, model_version="m1")


def snapshot(store: ReviewStore) -> tuple[pd.DataFrame, ...]:
    return store.flags_frame(), store.decisions_frame(), store.audit_frame()


def assert_unchanged(store: ReviewStore, before: tuple[pd.DataFrame, ...]) -> None:
    for old, new in zip(before, snapshot(store), strict=True):
        pd.testing.assert_frame_equal(old, new)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_store_is_a_wal_sqlite_file_under_the_data_home(tmp_path: Path) -> None:
    ReviewStore(default_url(tmp_path / "home")).close()
    with sqlite3.connect(tmp_path / "home" / "review.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"flags", "decisions", "audit_trail", "imports"} <= tables


def test_publishing_a_week_twice_adds_no_rows_and_no_trail_entries(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert store.publish_flags(flag_list(), actor="score-flow") == 3
    first = snapshot(store)
    assert store.publish_flags(flag_list(), actor="score-flow") == 0
    assert_unchanged(store, first)

    flags = store.flags_frame(as_of=date(2025, 1, 6))
    assert list(flags["rank"]) == [1, 2, 3]
    assert flags.loc[0, "reasons"] == ["4 notices in the last 365 days", "2 open cases"]
    assert flags.loc[0, "as_of"] == date(2025, 1, 6)
    assert flags["decision"].isna().all()
    trail = store.audit_frame()
    assert list(trail["action"]) == ["flag_published"] * 3
    assert set(trail["actor"]) == {"score-flow"}
    assert (trail["at"] == pd.Timestamp(NOW)).all()
    published = trail.set_index("flag_id").loc[fid("O1"), "details"]
    assert published["old"] is None
    assert published["new"]["officer_id"] == "O1"
    assert published["new"]["reasons"] == ["4 notices in the last 365 days", "2 open cases"]

    # A new week adds its flags; a re-extracted week updates the changed flag and records it.
    assert store.publish_flags(flag_list(("O1",), as_of="2025-01-13"), actor="score-flow") == 1
    changed = flag_list().assign(data_fingerprint=["fp1", "fp2", "fp1"])
    assert store.publish_flags(changed, actor="score-flow") == 0
    trail = store.audit_frame()
    assert len(store.flags_frame()) == 4 and len(trail) == 5
    updated = trail.iloc[-1]
    assert updated["action"] == "flag_updated" and updated["flag_id"] == fid("O2")
    assert updated["details"]["old"]["data_fingerprint"] == "fp1"
    assert updated["details"]["new"]["data_fingerprint"] == "fp2"


def test_publishing_refuses_a_list_it_cannot_store(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with pytest.raises(ReviewError, match="lacks column"):
        store.publish_flags(flag_list().drop(columns="score"), actor="score-flow")
    with pytest.raises(ReviewError, match="repeats flag ID"):
        store.publish_flags(pd.concat([flag_list(), flag_list()]), actor="score-flow")
    with pytest.raises(ReviewError, match="row 2"):
        store.publish_flags(flag_list().assign(as_of=[WEEK, "06/01/2025", WEEK]), actor="x")
    assert store.flags_frame().empty and store.audit_frame().empty


def test_a_changed_decision_keeps_old_and_new_in_the_trail(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.publish_flags(flag_list(), actor="score-flow")
    target = fid("O1")
    store.record_decision(
        flag_id=target,
        decision="supervisor_conversation",
        reviewer="PS Ahmed",
        decided_on=date(2025, 1, 8),
        allowed=ALLOWED,
    )
    # The same decision again is no change.
    store.record_decision(
        flag_id=target,
        decision="supervisor_conversation",
        reviewer="PS Ahmed",
        decided_on=date(2025, 1, 8),
        allowed=ALLOWED,
    )
    version = store.record_decision(
        flag_id=target,
        decision="referral_to_professional_standards",
        reviewer="Insp Brown",
        note="second allegation came to light",
        decided_on=date(2025, 1, 10),
        allowed=ALLOWED,
        expected_version=1,
    )
    assert version == 2
    decisions = store.decisions_frame()
    assert decisions.to_dict("records") == [
        {
            "flag_id": target,
            "officer_id": "O1",
            "as_of": date(2025, 1, 6),
            "decision": "referral_to_professional_standards",
            "reviewer": "Insp Brown",
            "note": "second allegation came to light",
            "decided_on": date(2025, 1, 10),
            "version": 2,
        }
    ]
    trail = store.audit_frame()
    trail = trail[trail["flag_id"] == target].iloc[1:]  # after flag_published
    assert list(trail["action"]) == ["decision_recorded", "decision_changed"]
    assert list(trail["actor"]) == ["PS Ahmed", "Insp Brown"]
    recorded, changed = trail["details"]
    assert recorded["old"] is None
    assert recorded["new"]["decision"] == "supervisor_conversation"
    assert changed["old"] == recorded["new"]
    assert changed["new"]["decision"] == "referral_to_professional_standards"
    assert changed["new"]["decided_on"] == "2025-01-10"


def test_a_store_from_before_versions_gets_them_at_version_1(tmp_path: Path) -> None:
    store = store_with_one_decision(tmp_path)
    store.close()
    with sqlite3.connect(tmp_path / "review.db") as conn:  # the schema before versions
        conn.execute("ALTER TABLE decisions DROP COLUMN version")
    store = make_store(tmp_path)
    assert store.flags_frame()["version"].tolist() == [1, 0, 0]
    assert (
        store.record_decision(
            flag_id=fid("O1"),
            decision="other",
            reviewer="Insp Brown",
            decided_on=date(2025, 1, 9),
            allowed=ALLOWED,
            expected_version=1,
        )
        == 2
    )
    store.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"flag_id": "Fdoesnotexist"}, "unknown flag ID Fdoesnotexist"),
        ({"decision": "sacked"}, "expected one of: no_action, supervisor_conversation"),
        ({"reviewer": "  "}, "reviewer: empty"),
        ({"decided_on": date(2025, 1, 5)}, "before the flag's as-of date 2025-01-06"),
        ({"decided_on": date(2025, 3, 4)}, "in the future"),
        (
            {"expected_version": 0},  # a stale form: it saw the flag undecided
            "changed after you saw it undecided: it is now no_action by PS Ahmed, decided "
            "2025-01-08, recorded 2025-03-03 09:30 UTC by PS Ahmed \\(version 1\\)",
        ),
        ({"expected_version": 2}, "against version 1"),
    ],
)
def test_a_refused_decision_changes_nothing(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    store = store_with_one_decision(tmp_path)
    before = snapshot(store)
    request: dict = {
        "flag_id": fid("O1"),
        "decision": "other",
        "reviewer": "Insp Brown",
        "decided_on": date(2025, 1, 9),
        "expected_version": 1,
    } | change
    with pytest.raises(ReviewError, match=message):
        store.record_decision(**request, allowed=ALLOWED)
    assert_unchanged(store, before)
    assert len(before[1]) == 1 and len(before[2]) == 4


def test_import_applies_every_decision_and_skips_blank_rows(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.publish_flags(flag_list(), actor="score-flow")
    path = write_csv(
        tmp_path / "decisions.csv",
        "flag_id,decision,reviewer,note,decided_on\n"
        f"{fid('O1')},no_action,PS Ahmed,,2025-01-08\n"
        f"{fid('O2')},,,,\n"
        f'{fid("O3")},other,PS Ahmed,"moved unit, see note",2025-01-09\n',
    )
    assert store.import_decisions(path, allowed=ALLOWED, actor="clerk") == 2
    decisions = store.decisions_frame().set_index("flag_id")
    assert list(decisions.index) == [fid("O1"), fid("O3")]
    assert decisions.loc[fid("O3"), "note"] == "moved unit, see note"
    trail = store.audit_frame().iloc[3:]
    assert list(trail["action"]) == ["decision_recorded"] * 2 + ["decisions_imported"]
    assert set(trail["actor"]) == {"clerk"}
    assert trail.iloc[0]["details"]["source"] == "decisions.csv"
    summary = trail.iloc[-1]["details"]
    assert summary["rows"] == 3 and summary["skipped_blank"] == 1 and summary["recorded"] == 2


def test_import_accepts_the_flags_csv_with_its_review_columns_filled_in(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    csv_path = tmp_path / "flags.csv"
    flag_list().to_csv(csv_path, index=False, float_format="%.6f")  # as the score flow writes it
    store.publish_flags(pd.read_csv(csv_path, keep_default_na=False), actor="score-flow")
    store.record_decision(
        flag_id=fid("O2"),
        decision="no_action",
        reviewer="PS Ahmed",
        decided_on=date(2025, 1, 7),
        allowed=ALLOWED,
    )
    reviewed = pd.read_csv(csv_path, keep_default_na=False)
    reviewed["review_decision"] = ["supervisor_conversation", "other", ""]
    reviewed["reviewer"] = ["Insp Brown", "Insp Brown", ""]
    reviewed["reviewed_on"] = ["2025-01-09", "2025-01-09", ""]
    reviewed["review_note"] = ["spoke to officer\nfollow-up booked", "", ""]
    reviewed.to_csv(csv_path, index=False)

    # O2 was decided after this flags.csv was issued (its review_version says 0): refused,
    # naming the decision now there; nothing is imported.
    before = snapshot(store)
    with pytest.raises(DecisionConflict, match=r"(?s)1 problem, nothing imported:\n") as refused:
        store.import_decisions(csv_path, allowed=ALLOWED, actor="clerk")
    assert str(refused.value).splitlines()[1] == (
        f"flags.csv line 4, field version: {fid('O2')}: the decision changed after you saw it "
        "undecided: it is now no_action by PS Ahmed, decided 2025-01-07, recorded 2025-03-03 "
        "09:30 UTC by PS Ahmed (version 1). Nothing was saved; to replace it, decide again "
        "against version 1"
    )
    assert_unchanged(store, before)

    # Knowingly replacing it: the clerk fills in the version they saw.
    reviewed.loc[1, "review_version"] = 1
    reviewed.to_csv(csv_path, index=False)
    assert store.import_decisions(csv_path, allowed=ALLOWED, actor="clerk") == 2
    decisions = store.decisions_frame().set_index("flag_id")
    assert decisions.loc[fid("O1"), "note"] == "spoke to officer\nfollow-up booked"
    assert decisions.loc[fid("O2"), "decision"] == "other"
    assert fid("O3") not in decisions.index
    changed = store.audit_frame().query("action == 'decision_changed'")
    assert changed.iloc[0]["details"]["old"]["reviewer"] == "PS Ahmed"
    summary = store.audit_frame().iloc[-1]["details"]
    assert (summary["recorded"], summary["changed"], summary["skipped_blank"]) == (1, 1, 1)


def test_an_import_reads_spreadsheet_safe_cells_back_as_written(tmp_path: Path) -> None:
    """A decisions file ewp wrote (the workspace's download, flags.csv) neutralises formulas
    with a leading "'"; importing it keeps each value as the reviewer wrote it."""
    store = make_store(tmp_path)
    store.publish_flags(flag_list(), actor="score-flow")
    notes = ['=HYPERLINK("http://x","click")', "- spoke to supervisor", "'=as typed"]
    decisions = pd.DataFrame(
        {
            "flag_id": [fid("O1"), fid("O2"), fid("O3")],
            "decision": "other",
            "reviewer": ["@ps.ahmed", "PS Ahmed", "PS Ahmed"],
            "note": notes,
            "decided_on": "2025-01-08",
        }
    )
    path = tmp_path / "decisions.csv"
    path.write_text(csv_text(decisions), encoding="utf-8")
    assert "'=HYPERLINK" in path.read_text()
    assert store.import_decisions(path, allowed=ALLOWED, actor="clerk") == 3
    stored = store.decisions_frame().set_index("flag_id")
    assert stored.loc[[fid("O1"), fid("O2"), fid("O3")], "note"].tolist() == notes
    assert stored.loc[fid("O1"), "reviewer"] == "@ps.ahmed"


def test_a_file_with_bad_rows_imports_nothing_and_names_file_line_and_field(
    tmp_path: Path,
) -> None:
    store = make_store(tmp_path)
    store.publish_flags(flag_list(), actor="score-flow")
    before = snapshot(store)
    good = f'{fid("O1")},no_action,PS Ahmed,"two-line\nnote",2025-01-08\n'  # lines 2-3
    path = write_csv(
        tmp_path / "week2.csv",
        "flag_id,decision,reviewer,note,decided_on\n"
        + good
        + f"{fid('O2')},nfa,PS Ahmed,,2025-01-08\n"  # line 4
        + "F000000000000,no_action,PS Ahmed,,08/01/2025\n",  # line 5
    )
    with pytest.raises(ReviewError) as refused:
        store.import_decisions(path, allowed=ALLOWED, actor="clerk")
    message = str(refused.value)
    assert "week2.csv: 3 problems, nothing imported" in message
    assert "week2.csv line 4, field decision: 'nfa' is not an allowed decision" in message
    assert "week2.csv line 5, field decided_on: '08/01/2025' is not a date" in message
    assert "week2.csv line 5, field flag_id: unknown flag ID F000000000000" in message
    assert_unchanged(store, before)

    # Nothing about the refused file was kept: once fixed, it imports.
    write_csv(path, "flag_id,decision,reviewer,note,decided_on\n" + good)
    assert store.import_decisions(path, allowed=ALLOWED, actor="clerk") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "decisions.csv: the file is empty"),
        (b"flag_id,decision,reviewer\n", "line 1: no decided_on or reviewed_on column"),
        (
            b"flag_id,decision,review_decision,reviewer,decided_on\n",
            "line 1: both decision and review_decision columns",
        ),
        (b"flag_id,decision,reviewer,decided_on\n\xff\n", "not UTF-8"),
        (
            b"flag_id,decision,reviewer,decided_on\nF1,no_action,A,2025-01-08,extra\n",
            "line 2: 5 fields, the header has 4",
        ),
    ],
)
def test_an_unreadable_decisions_file_is_refused(
    tmp_path: Path, content: bytes, message: str
) -> None:
    store = make_store(tmp_path)
    path = tmp_path / "decisions.csv"
    path.write_bytes(content)
    with pytest.raises(ReviewError, match=message):
        store.import_decisions(path, allowed=ALLOWED, actor="clerk")
    assert store.audit_frame().empty


def test_importing_the_same_file_twice_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.publish_flags(flag_list(), actor="score-flow")
    path = write_csv(
        tmp_path / "decisions.csv",
        f"flag_id,decision,reviewer,decided_on\n{fid('O1')},no_action,PS Ahmed,2025-01-08\n",
    )
    store.import_decisions(path, allowed=ALLOWED, actor="clerk")
    before = snapshot(store)
    copy = tmp_path / "copy.csv"
    copy.write_bytes(path.read_bytes())
    for again in (path, copy):
        with pytest.raises(
            ReviewError, match=r"already imported on 2025-03-03 09:30 UTC \(as decisions.csv"
        ):
            store.import_decisions(again, allowed=ALLOWED, actor="clerk")
    assert_unchanged(store, before)


def test_suppression_rule_worked_by_hand(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    as_of = date(2025, 3, 3)
    # Officer: (flag week, decision date).  as_of - decided_on in days is in the comment.
    reviewed = {
        "A": ("2025-02-10", date(2025, 2, 10)),  # 21 days, no notice since -> suppressed
        "B": ("2025-02-10", date(2025, 2, 10)),  # 21 days, a notice since -> listed
        "C": ("2024-12-23", date(2024, 12, 23)),  # 70 days > 8 weeks -> listed
        "D": ("2025-01-06", date(2025, 1, 6)),  # 56 days = 8 weeks -> suppressed
        "E": ("2025-02-17", date(2025, 2, 17)),  # notice on the decision day -> listed
    }
    for officer, (week, decided_on) in reviewed.items():
        store.publish_flags(flag_list((officer,), as_of=week), actor="score-flow")
        store.record_decision(
            flag_id=fid(officer, week),
            decision="supervisor_conversation",
            reviewer="PS Ahmed",
            decided_on=decided_on,
            allowed=ALLOWED,
        )
    # F: an older review, then a newer one (the newer counts); G: never reviewed.
    store.publish_flags(flag_list(("F",), as_of="2024-11-04"), actor="score-flow")
    store.record_decision(
        flag_id=fid("F", "2024-11-04"),
        decision="other",
        reviewer="PS Ahmed",
        decided_on=date(2024, 11, 5),
        allowed=ALLOWED,
    )
    store.publish_flags(flag_list(("F", "G"), as_of="2025-02-24"), actor="score-flow")
    store.record_decision(
        flag_id=fid("F", "2025-02-24"),
        decision="no_action",
        reviewer="PS Ahmed",
        decided_on=date(2025, 2, 25),
        allowed=ALLOWED,
    )
    candidates = pd.DataFrame({"officer_id": ["G", "F", "E", "D", "C", "B", "A"]})
    last_notice = {
        "A": date(2025, 2, 1),
        "B": date(2025, 2, 20),
        "C": None,
        "E": date(2025, 2, 17),
        "F": date(2025, 1, 2),
    }
    out = store.suppressed(candidates=candidates, as_of=as_of, weeks=8, last_notice=last_notice)
    assert list(out.columns) == ["officer_id", "last_flag_id", "decided_on", "decision", "reason"]
    assert list(out["officer_id"]) == ["F", "D", "A"]  # candidate order
    by_officer = out.set_index("officer_id")
    assert by_officer.loc["A", "reason"] == (
        "reviewed 2025-02-10 (supervisor conversation); no new notice since"
    )
    assert by_officer.loc["A", "last_flag_id"] == fid("A", "2025-02-10")
    assert by_officer.loc["F", "decided_on"] == date(2025, 2, 25)
    assert by_officer.loc["F", "reason"] == "reviewed 2025-02-25 (no action); no new notice since"
    # Notice dates as a pandas groupby gives them (Timestamps, NaT for none) work the same.
    stamps = {officer: pd.Timestamp(day) for officer, day in last_notice.items()}
    pd.testing.assert_frame_equal(
        store.suppressed(candidates=candidates, as_of=as_of, weeks=8, last_notice=stamps), out
    )

    # From 2025-02-24, F's review of 2025-02-25 has not happened yet and the one of
    # 2024-11-05 is 111 days old: F is listed. C (63 days) still listed, D (49) suppressed.
    earlier = store.suppressed(
        candidates=candidates, as_of=date(2025, 2, 24), weeks=8, last_notice=last_notice
    )
    assert list(earlier["officer_id"]) == ["D", "A"]
    none = store.suppressed(
        candidates=candidates.iloc[:0], as_of=as_of, weeks=8, last_notice=last_notice
    )
    assert none.empty and list(none.columns) == list(out.columns)


def test_ewp_review_decide_replaces_a_decision_only_against_its_version(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ewp.cli.commands import app

    home = tmp_path / "home"
    store = ReviewStore(default_url(home))
    store.publish_flags(flag_list(), actor="score-flow")
    store.close()
    target = fid("O1")

    def decide(decision: str, *version: str) -> tuple[int, str]:
        options = ["--decision", decision, "--reviewer", "DS Khan", "--on", "2025-01-08"]
        result = CliRunner().invoke(
            app,
            ["review", "decide", target, *options, *version],
            env={"EWP_HOME": str(home)},
            terminal_width=400,
        )
        return result.exit_code, result.output.strip()

    assert decide("no_action") == (0, f"Recorded no_action on {target} by DS Khan (version 1)")
    code, output = decide("other")  # as if from a stale view: it expects an undecided flag
    assert code == 2
    assert output.startswith(
        f"Not recorded: flag {target}: the decision changed after you saw it undecided: it is "
        "now no_action by DS Khan, decided 2025-01-08, recorded "
    )
    assert output.endswith("decide again against version 1")
    assert decide("other", "--expect-version", "1") == (
        0,
        f"Recorded other on {target} by DS Khan (version 2)",
    )
