"""The mapped adapter with the Chicago (CPDP) mapping: quirks, real data, mapping errors.

* A tiny synthetic export with one row per quirk (``tests/cpdp_quirks.py``) gives the
  contract rows and summary counts worked out by hand.
* The real data is read from ``../shared/data/chicago-cpdp-2000-2016/`` (relative to the repo
  root), never copied into the repository; those tests skip when it is absent. A hand-picked
  slice gives hand-derived rows; the full ingest matches SOURCE.md's figures, validates without
  a quarantined row and reruns to the same bytes.
* A bad mapping, or a source code the mapping does not cover, stops with an error naming the
  mapping file and the field or code.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from ewp.core.config import Config
from ewp.data.adapters import IngestResult, MappingError, ingest, load_mapping, mapping_path
from ewp.data.io import read_raw_export
from ewp.data.validation import validate_export
from tests.cpdp_quirks import FILES, TEXTS

REPO = Path(__file__).resolve().parents[1]
MAPPING = REPO / "configs" / "mappings" / "cpdp.yaml"
REAL = REPO.parent / "shared" / "data" / "chicago-cpdp-2000-2016"


def gzip_fixture(folder: Path, replace: dict[str, tuple[str, str]] | None = None) -> Path:
    """The quirks fixture as ``.csv.gz`` files in ``folder`` (optionally one text replaced)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        text = TEXTS[name]
        if replace and name in replace:
            text = text.replace(*replace[name])
        (folder / f"{name}.csv.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    return folder


def counts(result: IngestResult) -> dict[tuple[str, str], int]:
    return {(row.step, row.item): row.count for row in result.summary.itertuples(index=False)}


def written(result: IngestResult, table: str) -> str:
    return result.paths[table].read_text(encoding="utf-8")


def _digest(text: str) -> str:
    """SHA-256 of a written table's text (expected real-data outputs are kept as digests)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def validated_quarantine(out_dir: Path) -> pd.DataFrame:
    raw = read_raw_export(out_dir)
    return validate_export(raw, category_map=Config().category_map()).quarantine


# --- the quirks fixture ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def quirks(tmp_path_factory: pytest.TempPathFactory) -> IngestResult:
    root = tmp_path_factory.mktemp("quirks")
    return ingest(source_dir=gzip_fixture(root / "source"), out_dir=root / "out", mapping=MAPPING)


def test_quirks_give_the_expected_contract_rows(quirks: IngestResult) -> None:
    assert written(quirks, "officers") == (
        "officer_id,joined_on,rank,unit,left_on,ethnicity,gender,birth_year\n"
        "200001,2000-01-03,POLICE OFFICER,7,,White,Male,1970\n"
        "200002,1995-06-01,SERGEANT OF POLICE,44,2010-12-31,Black,Female,1965\n"
        "200003,2005-03-01,UNKNOWN,UNKNOWN,,Unknown,,\n"
        "200006,1990-01-01,LIEUTENANT OF POLICE,12,,Native American,Female,1960\n"
    )
    # Address variants collapse; 9000101 takes its earliest complaint_date; 9000109 is
    # officer-filed; 9000105's blank category is "other"; 01B is discrimination, 10S sexual.
    assert written(quirks, "notices") == (
        "notice_id,case_id,officer_id,received_on,category,source,incident_on\n"
        "9000100-200001,9000100,200001,2008-01-05,discrimination,public,2008-01-02\n"
        "9000100-200002,9000100,200002,2008-01-05,violence_use_of_force,public,2008-01-02\n"
        "9000101-200001,9000101,200001,2009-03-08,other,public,2009-03-01\n"
        "9000105-200001,9000105,200001,2012-04-04,other,public,2012-04-01\n"
        "9000106-200001,9000106,200001,2012-05-02,neglect_of_duty,public,2012-05-01\n"
        "9000107-200006,9000107,200006,2016-09-01,violence_use_of_force,public,2016-08-30\n"
        "9000108-200003,9000108,200003,2007-05-05,dishonesty_fraud,public,2007-05-03\n"
        "9000109-200001,9000109,200001,2013-01-02,neglect_of_duty,internal,2013-01-01\n"
        "9000110-200006,9000110,200006,2014-02-02,other,public,2014-02-01\n"
        "9000111-200006,9000111,200006,2014-03-03,sexual_misconduct,public,2014-03-01\n"
        "9000112-200003,9000112,200003,2016-06-02,violence_use_of_force,public,2016-06-01\n"
        "9000114-200002,9000114,200002,2005-01-01,domestic_abuse,public,2005-01-01\n"
    )
    # 9000106 (NC) and 9000108 (closed before received) are quarantined; 9000107 and 9000112
    # are open; 9000110 closed without a finding; 100 is a reprimand; 999 leaves sanction blank.
    assert written(quirks, "outcomes") == (
        "notice_id,decided_on,finding,sanction\n"
        "9000100-200001,2008-06-30,no_case_to_answer,none\n"
        "9000100-200002,2008-06-30,case_to_answer_not_proven,none\n"
        "9000101-200001,2009-09-01,no_case_to_answer,none\n"
        "9000105-200001,2012-10-10,case_to_answer_not_proven,none\n"
        "9000109-200001,2014-03-03,proven,final_written_warning\n"
        "9000110-200006,2014-09-09,withdrawn,\n"
        "9000111-200006,2015-01-15,proven,written_warning\n"
        "9000114-200002,2005-06-01,proven,\n"
    )


def test_quirks_summary_counts_every_step(quirks: IngestResult) -> None:
    assert list(quirks.summary.columns) == ["step", "item", "count", "action"]
    join = "join complaints.csv.gz"
    assert counts(quirks) == {
        ("read", "officers.csv.gz rows"): 7,
        ("read", "accused.csv.gz rows"): 17,
        ("read", "complaints.csv.gz rows"): 19,
        ("read", "officer_filed.csv.gz rows"): 1,
        (join, "rows repeating another row's cr_id, complaint_date, incident_date, closed_date"): 1,
        (join, "cr_id with conflicting rows"): 1,
        (join, "conflicting rows dropped"): 1,
        (join, "cr_id in no accused.csv.gz row"): 1,
        ("officers", "UID repeated"): 0,
        ("officers", "UID blank (officer_id is required)"): 0,
        ("officers", "appointed_date blank (joined_on is required)"): 1,
        ("officers", "appointed_date not a date"): 0,
        ("officers", "resignation_date not a date"): 0,
        ("officers", "birth_year not a birth year"): 1,
        ("officers", "resignation_date before appointed_date"): 1,
        ("officers", "current_rank blank -> UNKNOWN"): 1,
        ("officers", "current_unit blank -> UNKNOWN"): 1,
        ("officers", "race blank -> Unknown"): 1,
        ("notices", "cr_id, UID repeated"): 0,
        ("notices", "cr_id not in complaints.csv.gz"): 0,
        ("notices", "UID blank (officer_id is required)"): 0,
        ("notices", "UID not in officers.csv.gz"): 1,
        ("notices", "officer quarantined"): 2,
        ("notices", "cr_id blank (case_id is required)"): 0,
        ("notices", "complaint_date blank (received_on is required)"): 0,
        ("notices", "complaint_date not a date"): 0,
        ("notices", "incident_date not a date"): 0,
        ("notices", "complaint_date before the officer's appointed_date"): 1,
        ("notices", "complaint_date after the officer's resignation_date"): 1,
        ("notices", "complaint_category blank -> other"): 1,
        ("outcomes", "closed_date blank: case open"): 2,
        ("outcomes", "closed_date blank, final_finding recorded"): 1,
        ("outcomes", "closed_date blank, final_discipline recorded"): 1,
        ("outcomes", "closed_date not a date"): 0,
        ("outcomes", "final_finding NC (undocumented finding code)"): 1,
        ("outcomes", "final_finding DIS (undocumented finding code)"): 0,
        ("outcomes", "closed_date before complaint_date"): 1,
        ("outcomes", "final_finding blank -> withdrawn"): 1,
        ("outcomes", "final_discipline 540 -> blank"): 0,
        ("outcomes", "final_discipline 999 -> blank"): 1,
        ("write", "officers.csv rows"): 4,
        ("write", "notices.csv rows"): 12,
        ("write", "outcomes.csv rows"): 8,
        ("validate", "officers.csv rows quarantined by validate_export"): 0,
        ("validate", "notices.csv rows quarantined by validate_export"): 0,
        ("validate", "outcomes.csv rows quarantined by validate_export"): 0,
    }


def test_quirks_quarantine_names_file_line_and_reason(quirks: IngestResult) -> None:
    report = quirks.quarantine
    assert list(report[["table", "line", "record_id", "field"]].itertuples(index=False)) == [
        ("officers", 5, "200004", "appointed_date"),
        ("officers", 6, "200005", "resignation_date"),
        ("officers", 8, "200007", "birth_year"),
        ("notices", 5, "9000102-200003", "complaint_date"),
        ("notices", 6, "9000103-200002", "complaint_date"),
        ("notices", 7, "9000104-209999", "UID"),
        ("notices", 16, "9000113-200005", "UID"),
        ("notices", 18, "9000115-200004", "UID"),
        ("outcomes", 9, "9000106-200001", "final_finding"),
        ("outcomes", 11, "9000108-200003", "closed_date"),
    ]
    reasons = dict(zip(report["record_id"], report["reason"], strict=True))
    assert reasons["200004"] == (
        "officers.csv.gz line 5, field appointed_date: is blank, but joined_on is required"
    )
    assert reasons["9000102-200003"] == (
        "accused.csv.gz line 5, field complaint_date: 2004-12-01 is before the officer's "
        "appointed_date 2005-03-01"
    )
    assert reasons["9000104-209999"] == (
        "accused.csv.gz line 7, field UID: officer 209999 is not in officers.csv.gz"
    )
    # Every problem of a row is listed; the summary counts the row under the first.
    assert reasons["9000113-200005"] == (
        "accused.csv.gz line 16, field UID: officer 200005 was quarantined (officers.csv.gz "
        "line 6); field complaint_date: 2014-01-01 is after the officer's resignation_date "
        "2008-11-20"
    )
    assert reasons["9000106-200001"] == (
        "accused.csv.gz line 9, field final_finding: 'NC': undocumented finding code"
    )
    assert reasons["9000108-200003"] == (
        "accused.csv.gz line 11, field closed_date: 2007-05-01 is before complaint_date 2007-05-05"
    )
    raw = json.loads(report.loc[report["record_id"].eq("9000106-200001"), "raw"].item())
    assert raw["final_finding"] == "NC"


def test_quirks_export_validates_and_reports_are_written(quirks: IngestResult) -> None:
    out_dir = quirks.paths["officers"].parent
    assert validated_quarantine(out_dir).empty
    assert quirks.paths["summary"] == out_dir / "ingest" / "summary.csv"
    assert pd.read_csv(quirks.paths["quarantine"], dtype=str).shape == (10, 8)


# --- the mapping -----------------------------------------------------------------------------


def test_shipped_mapping_loads_and_is_found_by_name() -> None:
    assert mapping_path("cpdp") == MAPPING
    mapping = load_mapping(MAPPING)
    assert mapping.name == "cpdp"
    assert mapping.outcomes.columns["finding"].quarantine == {
        "NC": "undocumented finding code",
        "DIS": "undocumented finding code",
    }
    with pytest.raises(MappingError, match=r"no mapping for source 'met'.*known: \['cpdp'\]"):
        mapping_path("met")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "      match: prefix",
            "      match: prefix\n      valeus: {}",
            r"notices\.columns\.category\.valeus: Extra inputs are not permitted",
        ),
        ("date_format:", "date_fromat:", r"date_fromat: Extra inputs are not permitted"),
        (
            "SU: proven",
            "SU: proved",
            r"outcomes\.columns: Value error, finding: \['proved'\] not in the finding vocabulary",
        ),
        (
            '"600": none',
            "600: none",
            r"outcomes\.columns\.sanction\.values: Value error, code 600 is not text",
        ),
        (
            "member_of: officer_filed",
            "member_of: officers_filed",
            r"notices\.columns\.source\.member_of: 'officers_filed' is not in files",
        ),
    ],
    ids=["unknown-key", "unknown-top-key", "bad-target", "unquoted-code", "unknown-file"],
)
def test_mapping_errors_name_the_file_and_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = MAPPING.read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(MappingError, match=rf"^{bad}: .*{message}"):
        load_mapping(bad)


def test_a_mapping_key_written_twice_is_refused(tmp_path: Path) -> None:
    text = MAPPING.read_text(encoding="utf-8")
    assert text.count("\nname: cpdp\n") == 1
    bad = tmp_path / "twice.yaml"
    bad.write_text(text.replace("\nname: cpdp\n", "\nname: cpdp\nname: other\n"), encoding="utf-8")
    with pytest.raises(
        MappingError, match=r"key 'name' appears twice in one section \(lines 5 and 6\)"
    ):
        load_mapping(bad)


def test_unmapped_category_code_stops_with_the_code(tmp_path: Path) -> None:
    source = gzip_fixture(
        tmp_path / "source",
        replace={"accused": ("03D-ARREST WITHOUT GROUNDS", "16A-A CODE NOBODY MAPPED")},
    )
    with pytest.raises(
        MappingError,
        match=(
            rf"^{MAPPING}: notices\.columns\.category: complaint_category values not in the "
            r"mapping: '16A' \(1 rows, e\.g\. '16A-A CODE NOBODY MAPPED'\)"
        ),
    ):
        ingest(source_dir=source, out_dir=tmp_path / "out", mapping=MAPPING)


def test_missing_source_column_names_mapping_and_file(tmp_path: Path) -> None:
    source = gzip_fixture(
        tmp_path / "source", replace={"officers": ("appointed_date", "appointment")}
    )
    with pytest.raises(
        MappingError, match=rf"^{MAPPING}: officers: officers\.csv\.gz has no column appointed_date"
    ):
        ingest(source_dir=source, out_dir=tmp_path / "out", mapping=MAPPING)


def test_repeated_accusation_and_unknown_complaint_are_quarantined(tmp_path: Path) -> None:
    last = "9000115,200004,01A-SWEARING AT A MEMBER OF THE PUBLIC,,NS,,600.0\n"
    extra = (
        "9000100,200001,01A-SWEARING AT A MEMBER OF THE PUBLIC,NS,NS,600.0,600.0\n"
        "1000999,200001,01A-SWEARING AT A MEMBER OF THE PUBLIC,NS,NS,600.0,600.0\n"
    )
    source = gzip_fixture(tmp_path / "source", replace={"accused": (last, last + extra)})
    result = ingest(source_dir=source, out_dir=tmp_path / "out", mapping=MAPPING)
    step = counts(result)
    assert step[("notices", "cr_id, UID repeated")] == 1
    assert step[("notices", "cr_id not in complaints.csv.gz")] == 1
    reasons = result.quarantine["reason"].tolist()
    assert (
        "accused.csv.gz line 19, field cr_id: cr_id, UID 9000100/200001 repeats line 2 "
        "(the first is kept)"
    ) in reasons
    assert (
        "accused.csv.gz line 20, field cr_id: cr_id 1000999 is not in complaints.csv.gz; "
        "field complaint_date: is blank, but received_on is required"
    ) in reasons


def test_another_force_needs_only_a_mapping(tmp_path: Path) -> None:
    """A different shape: day-first dates, one notices file, a constant source, no joins."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "staff.csv").write_text(
        "pid,start,end,grade,team\nP1,01/02/2015,,PC,North\nP2,15/03/2016,31/12/2020,PS,South\n"
    )
    (source / "allegations.csv").write_text(
        "ref,pid,logged,type,result,logged_off,action\n"
        "A1,P1,03/04/2019,FORCE-1,Upheld,10/10/2019,FWW\n"
        "A2,P2,05/05/2021,RUDE,Not upheld,06/06/2021,\n"
    )
    mapping = tmp_path / "force.yaml"
    mapping.write_text(
        """
name: other-force
date_format: "%d/%m/%Y"
files:
  staff: {path: staff.csv, key: [pid]}
  allegations: {path: allegations.csv, key: [ref]}
officers:
  file: staff
  columns:
    officer_id: {column: pid}
    joined_on: {column: start}
    left_on: {column: end}
    rank: {column: grade}
    unit: {column: team}
notices:
  file: allegations
  columns:
    notice_id: {column: ref}
    case_id: {template: "case-{ref}"}
    officer_id: {column: pid}
    received_on: {column: logged}
    source: {constant: public}
    category: {column: type, extract: '^([A-Z]+)', values: {FORCE: violence_use_of_force,
               RUDE: discreditable_conduct}}
outcomes:
  columns:
    decided_on: {column: logged_off}
    finding: {column: result, values: {Upheld: proven, Not upheld: no_case_to_answer}}
    sanction: {column: action, values: {FWW: final_written_warning, "": null}}
""",
        encoding="utf-8",
    )
    result = ingest(source_dir=source, out_dir=tmp_path / "out", mapping=mapping)
    # P2 left on 2020-12-31, so A2 (2021-05-05) falls outside service and is quarantined.
    assert written(result, "notices") == (
        "notice_id,case_id,officer_id,received_on,category,source\n"
        "A1,case-A1,P1,2019-04-03,violence_use_of_force,public\n"
    )
    assert written(result, "outcomes") == (
        "notice_id,decided_on,finding,sanction\nA1,2019-10-10,proven,final_written_warning\n"
    )
    assert result.quarantine["record_id"].tolist() == ["A2"]


# --- the real data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_dir() -> Path:
    if not all((REAL / f"{name}.csv.gz").is_file() for name in FILES):
        pytest.skip(f"the real CPDP data is not at {REAL} (../shared is absent)")
    return REAL


def _record_key(record_id: str) -> str:
    """A short keyed digest of a real record's ID: the slice below names its records by these,
    so no identifier of the real export is tracked (the IDs are found in ../shared)."""
    return hashlib.sha256(f"cpdp-slice|{record_id}".encode()).hexdigest()[:16]


# One complaint per case worth checking by hand (see docs/adapters.md), by _record_key(cr_id).
SLICE = {
    "ac597226eb792e02": "5 accused; one accused before his appointed_date",
    "ea9200251b898fa4": "sustained, discipline 100: reprimand",
    "29262635ed679042": "sustained, discipline 0: violation noted",
    "a2588c1bd5090cc9": "officer-filed, no final finding but 300 (administrative termination)",
    "08de79e7a6df5ff3": "officer-filed domestic altercation (05K), 2- and 3-day suspensions",
    "b46ec3334056cc9a": "closed_date before complaint_date",
    "6c3cd822d9a9bb06": "an officer accused after his resignation_date",
    "d067b74c73398065": "theft (08F), 400 separation",
    "8ad2de78d8102cc9": "sustained, undocumented discipline 999",
    "7c08dcc4562c9f21": "open: no closed_date; one accused already has SU",
    "6dd1bf0afa529505": "undocumented finding NC",
    "1984ffbf0b323d74": "blank category, two address rows, closed without a finding",
    "f2682451348490e0": "officer-filed sexual harassment (10S), two address rows, 100 and 10 days",
    "0ea75987af6410cc": "the accused's resignation_date is before his appointed_date",
}
# Four officers of these cases, by _record_key(UID): the one accused before appointment, the
# one with SU on the open case, and two more.
PICKED_OFFICERS = {"656ee86bf4baddb7", "8ddf5165c1db8cab", "5b0410516def6d7d", "0f11c78e70620833"}


def test_real_slice_gives_the_expected_rows(real_dir: Path, tmp_path: Path) -> None:
    frames = {
        name: pd.read_csv(real_dir / f"{name}.csv.gz", dtype=str, keep_default_na=False)
        for name in FILES
    }
    keys = frames["complaints"]["cr_id"].map(_record_key)
    cr_ids = set(frames["complaints"].loc[keys.isin(list(SLICE)), "cr_id"])
    assert len(cr_ids) == len(SLICE)  # every case is found in the export
    accused = frames["accused"][frames["accused"]["cr_id"].isin(cr_ids)]
    sliced = {
        "accused": accused,
        "complaints": frames["complaints"][frames["complaints"]["cr_id"].isin(cr_ids)],
        "officer_filed": frames["officer_filed"][frames["officer_filed"]["cr_id"].isin(cr_ids)],
        "officers": frames["officers"][frames["officers"]["UID"].isin(accused["UID"])],
    }
    source = tmp_path / "source"
    source.mkdir()
    for name, frame in sliced.items():
        frame.to_csv(source / f"{name}.csv.gz", index=False)
    result = ingest(source_dir=source, out_dir=tmp_path / "out", mapping=MAPPING)

    # The expected contract rows were worked out by hand from the slice (the cases above) and
    # are held as digests: the test stays exact, and no record of the real export is tracked in
    # the repository (it is read from ../shared only). `written(result, table)` shows the rows.
    assert _digest(written(result, "notices")) == (
        "94f0ced20bdfaba34d6c344235b09fd63fab8da5d4678e42ce4fa350c03a83a9"
    )  # 26 notices
    assert _digest(written(result, "outcomes")) == (
        "57ac18d75f7971b3c4960e746131608ed739c72b765dd27f9a03bbb911c86029"
    )  # 18 outcomes
    officers = pd.read_csv(result.paths["officers"], dtype=str, keep_default_na=False)
    picked = officers[officers["officer_id"].map(_record_key).isin(PICKED_OFFICERS)]
    # Joining and leaving dates, rank, unit, attributes of the four.
    assert _digest(picked.to_csv(index=False, lineterminator="\n")) == (
        "937971085fa365490ef296106439834880154e26bf52cfe0247c3c517f5a7567"
    )
    assert len(officers) == len(sliced["officers"]) - 1  # one left before joining
    # Quarantined, in order: that officer; a notice before appointment, one after resignation,
    # the departed officer's notice; two outcomes closed before received; the finding NC.
    quarantined = list(result.quarantine[["table", "record_id", "field"]].itertuples(index=False))
    assert [(table, field) for table, _, field in quarantined] == [
        ("officers", "resignation_date"),
        ("notices", "complaint_date"),
        ("notices", "complaint_date"),
        ("notices", "UID"),
        ("outcomes", "closed_date"),
        ("outcomes", "closed_date"),
        ("outcomes", "final_finding"),
    ]
    assert _digest(repr([tuple(row) for row in quarantined])) == (
        "95156cfd24adffcaf056d76c9eed2ddb9d1ddf2054795042dd066ffa9b47b9f7"
    )
    step = counts(result)
    assert step[("join complaints.csv.gz", "cr_id with conflicting rows")] == 0
    assert step[("outcomes", "closed_date blank: case open")] == 5


@pytest.fixture(scope="module")
def real_run(real_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> IngestResult:
    # Speed is the benchmarks' concern, never a test's (a loaded machine fails a timed test).
    return ingest(
        source_dir=real_dir, out_dir=tmp_path_factory.mktemp("cpdp") / "out", mapping=MAPPING
    )


def test_real_ingest_matches_source_md(real_run: IngestResult) -> None:
    result = real_run
    step = counts(result)
    assert step[("read", "officers.csv.gz rows")] == 33_051
    assert step[("read", "accused.csv.gz rows")] == 125_581
    assert step[("read", "complaints.csv.gz rows")] == 131_142
    assert step[("read", "officer_filed.csv.gz rows")] == 13_461
    join = "join complaints.csv.gz"
    repeated = "rows repeating another row's cr_id, complaint_date, incident_date, closed_date"
    assert step[(join, repeated)] == 131_142 - 109_339  # address variants, identical dates
    assert step[(join, "cr_id with conflicting rows")] == 0

    notices = pd.read_csv(result.paths["notices"], dtype=str, keep_default_na=False)
    outcomes = pd.read_csv(result.paths["outcomes"], dtype=str, keep_default_na=False)
    report = result.quarantine
    quarantined = report["table"].value_counts()
    assert len(notices) + quarantined["notices"] == 125_581
    # "59 accusations are dated before the officer's appointed_date and 451 after
    # resignation_date": every one is quarantined (6 of the 451 are also the accusations of
    # officers quarantined for leaving before joining, so the reason lists both).
    reasons = report.loc[report["table"].eq("notices"), "reason"]
    assert reasons.str.contains("before the officer's appointed_date").sum() == 59
    assert reasons.str.contains("after the officer's resignation_date").sum() == 451
    # NC 47, DIS 12 (undocumented): every such row is in the quarantine report.
    assert report["raw"].str.contains('"final_finding": "NC"').sum() == 47
    assert report["raw"].str.contains('"final_finding": "DIS"').sum() == 12
    # closed_date filled for ~98% of accusations.
    decided = len(outcomes) + quarantined["outcomes"]
    assert decided / len(notices) == pytest.approx(0.98, abs=0.005)
    # 16,021 distinct accused officers, a few lost with quarantined accusations.
    assert 0.98 * 16_021 <= notices["officer_id"].nunique() <= 16_021
    # Sustained: ~2% of civilian complaints, ~42% of officer-filed ones.
    proven = notices.merge(outcomes, on="notice_id").assign(
        proven=lambda frame: frame["finding"].eq("proven")
    )
    rate = proven.groupby("source")["proven"].mean()
    assert rate["public"] == pytest.approx(0.02, abs=0.005)
    assert rate["internal"] == pytest.approx(0.42, abs=0.03)
    # ~21,765 officers served at some point in 2000-2016.
    officers = pd.read_csv(result.paths["officers"], dtype=str, keep_default_na=False)
    served = officers["joined_on"].le("2016-12-31") & (
        officers["left_on"].eq("") | officers["left_on"].ge("2000-01-01")
    )
    assert served.sum() == pytest.approx(21_765, rel=0.01)


def test_real_export_validates_with_only_implausible_incident_dates_quarantined(
    real_run: IngestResult,
) -> None:
    """The ingested export passes the contract except for the few complaints whose incident
    date is after the day they were received (a typo in the source, one to thirty days late),
    which the contract quarantines with their outcomes (docs/adapters.md)."""
    result = real_run
    quarantine = validated_quarantine(result.paths["officers"].parent)
    notices = quarantine.loc[quarantine["table"] == "notices"]
    assert set(notices["field"]) == {"incident_on"}
    assert notices["reason"].str.contains("is after the notice was received").all()
    assert 1 <= len(notices) <= 10
    outcomes = quarantine.loc[quarantine["table"] == "outcomes"]
    assert outcomes["reason"].str.contains("was quarantined").all()
    assert set(quarantine["table"]) <= {"notices", "outcomes"}


def test_real_rerun_gives_identical_bytes(
    real_run: IngestResult, real_dir: Path, tmp_path: Path
) -> None:
    first = real_run
    again = ingest(source_dir=real_dir, out_dir=tmp_path / "again", mapping=MAPPING)
    assert first.paths.keys() == again.paths.keys()
    for name, path in first.paths.items():
        assert path.read_bytes() == again.paths[name].read_bytes(), name
