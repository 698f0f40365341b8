"""An export as it comes: zipped header-less files, a linkage filter, a field derived from two
columns, no hire or separation dates, findings without decision dates, a blank date filled from
its case. It ingests through a mapping file alone, with every row accounted for.

The rows are invented (the "Northshire" force does not exist). Worked out by hand:

* roster.zip/roster.csv (no header): 5 rows; S900 is civilian staff, left out by the mapping's
  ``keep: {record_type: [OFFICER]}`` (filtered, not quarantined). No joining or leaving dates.
* allegations.zip/allegations.csv (no header): 8 rows; A6's ``linked`` flag is 0, left out by
  ``keep: {linked: ["1"]}``. A2 has no date logged: it takes its case C1's (A1's, line 1). A7
  names an officer not in the roster and A9 has no date in a case of its own: quarantined.
  ``source`` comes from case type and complainant type together. A2 and A4 have a finding but
  no decision date: kept, with the date unknown. A3 has neither: open.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ewp.cli.commands import app
from ewp.core.config import Config, FeatureConfig
from ewp.core.errors import ContractError
from ewp.data.adapters import IngestResult, MappingError, ingest, mapping_path, resolve_mapping
from ewp.data.io import read_raw_export
from ewp.data.validation import validate_export
from ewp.features.history import build_features

ROSTER = """\
N001,PC,North,F,White,OFFICER
N002,PS,North,M,Black,OFFICER
N003,PC,South,M,Asian,OFFICER
S900,Clerk,HQ,F,White,STAFF
N004,PC,South,M,White,OFFICER
"""
ALLEGATIONS = """\
A1,C1,N001,2019-03-04,COMPLAINT,PUBLIC,FORCE,UPHELD,2019-09-01,1
A2,C1,N001,,COMPLAINT,PUBLIC,RUDE,NOT UPHELD,,1
A3,C1,N002,2019-03-04,COMPLAINT,PUBLIC,RUDE,,,1
A4,C2,N002,2020-01-10,CONDUCT,,DISHONEST,UPHELD,,1
A5,C3,N003,2020-02-02,COMPLAINT,POLICE,RUDE,NOT UPHELD,2020-05-05,1
A6,C4,N003,2020-03-03,COMPLAINT,PUBLIC,FORCE,,,0
A7,C5,N999,2020-04-04,COMPLAINT,PUBLIC,RUDE,,,1
A9,C7,N004,,COMPLAINT,PUBLIC,RUDE,,,1
"""
MAPPING = """\
name: northshire
description: An invented force whose export comes zipped, header-less and without HR dates.
files:
  roster:
    archive: roster.zip
    path: roster.csv
    columns: [staff_no, grade, team, gender, ethnicity, record_type]
    key: [staff_no]
    keep: {record_type: [OFFICER]}          # civilian staff are not in scope
  allegations:
    archive: allegations.zip
    path: allegations.csv
    columns: [ref, case_ref, staff_no, logged, case_type, complainant, code, outcome, decided,
              linked]
    key: [ref]
    keep: {linked: ["1"]}                   # 0: the export could not link the officer
officers:
  file: roster
  columns:                                  # no joining or leaving dates in this export
    officer_id: {column: staff_no}
    rank: {column: grade}
    unit: {column: team}
    gender: {column: gender, values: {F: Female, M: Male}}
    ethnicity: {column: ethnicity}
notices:
  file: allegations
  columns:
    notice_id: {column: ref}
    case_id: {column: case_ref}
    officer_id: {column: staff_no}
    received_on: {column: logged, fill_from_case: earliest}
    source:
      template: "{case_type}|{complainant}"
      values:
        "COMPLAINT|PUBLIC": public
        "COMPLAINT|POLICE": internal
        "CONDUCT|": conduct_matter
        "CONDUCT|POLICE": conduct_matter
    category:
      column: code
      values: {FORCE: violence_use_of_force, RUDE: discreditable_conduct,
               DISHONEST: dishonesty_fraud}
outcomes:
  blank_decided_on: date_unknown            # a finding without its date is kept, date unknown
  columns:
    decided_on: {column: decided}
    finding: {column: outcome, values: {UPHELD: proven, NOT UPHELD: no_case_to_answer}}
"""


def write_source(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for archive, member, text in (
        ("roster.zip", "roster.csv", ROSTER),
        ("allegations.zip", "allegations.csv", ALLEGATIONS),
    ):
        with zipfile.ZipFile(folder / archive, "w") as zipped:
            zipped.writestr(member, text)
    return folder


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[IngestResult, Path]:
    root = tmp_path_factory.mktemp("messy")
    mapping = root / "northshire.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    result = ingest(source_dir=write_source(root / "source"), out_dir=root / "out", mapping=mapping)
    return result, root


def test_the_contract_tables(messy: tuple[IngestResult, Path]) -> None:
    result, _ = messy
    assert result.paths["officers"].read_text() == (
        "officer_id,joined_on,rank,unit,ethnicity,gender\n"
        "N001,,PC,North,White,Female\n"
        "N002,,PS,North,Black,Male\n"
        "N003,,PC,South,Asian,Male\n"
        "N004,,PC,South,White,Male\n"
    )
    assert result.paths["notices"].read_text() == (
        "notice_id,case_id,officer_id,received_on,category,source\n"
        "A1,C1,N001,2019-03-04,violence_use_of_force,public\n"
        "A2,C1,N001,2019-03-04,discreditable_conduct,public\n"
        "A3,C1,N002,2019-03-04,discreditable_conduct,public\n"
        "A4,C2,N002,2020-01-10,dishonesty_fraud,conduct_matter\n"
        "A5,C3,N003,2020-02-02,discreditable_conduct,internal\n"
    )
    assert result.paths["outcomes"].read_text() == (
        "notice_id,decided_on,finding\n"
        "A1,2019-09-01,proven\n"
        "A2,,no_case_to_answer\n"
        "A4,,proven\n"
        "A5,2020-05-05,no_case_to_answer\n"
    )


def test_every_row_is_accounted_for(messy: tuple[IngestResult, Path]) -> None:
    result, _ = messy
    summary = {
        (row.step, row.item): (row.count, row.action)
        for row in result.summary.itertuples(index=False)
    }
    # Officers: 5 read = 4 written + 0 quarantined + 1 filtered.
    assert summary[("read", "roster.zip/roster.csv rows")] == (5, "read")
    assert summary[("read", "roster.zip/roster.csv rows not kept (record_type in OFFICER)")] == (
        1,
        "filtered",
    )
    assert summary[("write", "officers.csv rows")] == (4, "written")
    assert summary[("officers", "joined_on not in the mapping -> date unknown")] == (
        4,
        "date unknown",
    )
    # Allegations: 8 read = 5 written + 2 quarantined + 1 filtered.
    assert summary[("read", "allegations.zip/allegations.csv rows")] == (8, "read")
    assert summary[("read", "allegations.zip/allegations.csv rows not kept (linked in 1)")] == (
        1,
        "filtered",
    )
    assert summary[("write", "notices.csv rows")] == (5, "written")
    assert summary[("notices", "logged blank -> filled from the earliest row of its case")] == (
        1,
        "filled",
    )
    assert summary[("notices", "staff_no not in roster.zip/roster.csv")] == (1, "quarantined")
    assert summary[("notices", "logged blank (received_on is required)")] == (1, "quarantined")
    # Outcomes: 5 notices written = 4 outcomes written + 0 quarantined + 1 open.
    assert summary[("write", "outcomes.csv rows")] == (4, "written")
    assert summary[("outcomes", "decided blank: case open")] == (1, "no outcome row")
    assert summary[("outcomes", "decided blank -> date unknown")] == (2, "date unknown")
    quarantined = result.quarantine[["file", "line", "record_id", "reason"]]
    assert quarantined.to_dict("records") == [
        {
            "file": "allegations.zip/allegations.csv",
            "line": 7,
            "record_id": "A7",
            "reason": "allegations.zip/allegations.csv line 7, field staff_no: officer N999 is "
            "not in roster.zip/roster.csv",
        },
        {
            "file": "allegations.zip/allegations.csv",
            "line": 8,
            "record_id": "A9",
            "reason": "allegations.zip/allegations.csv line 8, field logged: is blank, but "
            "received_on is required",
        },
    ]
    # The filled date is traceable to the row it came from (header-less: line 1 is a row).
    assert result.filled.to_dict("records") == [
        {
            "table": "notices",
            "file": "allegations.zip/allegations.csv",
            "line": 2,
            "record_id": "A2",
            "field": "logged (received_on)",
            "value": "2019-03-04",
            "from_line": 1,
        }
    ]
    assert result.paths["filled"].exists()


def test_the_export_validates_and_nothing_is_invented(messy: tuple[IngestResult, Path]) -> None:
    result, _ = messy
    validated = validate_export(
        read_raw_export(result.paths["officers"].parent), category_map=Config().category_map()
    )
    assert validated.quarantine.empty
    data = validated.data
    assert data.officers["joined_on"].isna().all()
    dates = [dt.date(2020, 6, 1), dt.date(2021, 6, 1)]
    every = build_features(data, dates, config=FeatureConfig())
    # Unknown joining: serving since before the records, with no tenure or probation invented.
    assert every.groupby("as_of").size().tolist() == [4, 4]
    assert every["tenure_days"].isna().all() and every["probationer"].isna().all()
    at = every.loc[every["as_of"] == pd.Timestamp("2021-06-01")].set_index("officer_id")
    # A2's and A4's findings have no date: never known, so those allegations read as open.
    assert at["findings_proven_all"].to_dict() == {"N001": 1, "N002": 0, "N003": 0, "N004": 0}
    assert at["open_notices"].to_dict() == {"N001": 1, "N002": 2, "N003": 0, "N004": 0}
    # No separation dates: with a cohort rule, a year without joining or a notice is gone.
    quiet = build_features(data, dates, config=FeatureConfig(presume_left_after_years=1))
    serving = quiet.groupby("as_of")["officer_id"].apply(list).to_dict()
    assert serving == {pd.Timestamp("2020-06-01"): ["N002", "N003"]}


def test_a_bad_mapping_of_the_new_kinds_names_the_field(tmp_path: Path) -> None:
    mapping = tmp_path / "bad.yaml"
    without_dates = MAPPING.replace("  blank_decided_on: date_unknown", "").replace(
        "    decided_on: {column: decided}\n", ""
    )
    mapping.write_text(without_dates, encoding="utf-8")
    with pytest.raises(MappingError, match="set blank_decided_on: date_unknown"):
        ingest(
            source_dir=write_source(tmp_path / "source"), out_dir=tmp_path / "o", mapping=mapping
        )
    mapping.write_text(MAPPING.replace('keep: {linked: ["1"]}', "keep: {linked: [1]}"))
    with pytest.raises(MappingError, match=r"keep.*quote"):
        ingest(source_dir=tmp_path / "source", out_dir=tmp_path / "o", mapping=mapping)
    mapping.write_text(MAPPING.replace("ref, case_ref, staff_no", "ref, staff_no"))
    with pytest.raises(ContractError, match="line 1 has 10 fields but the mapping names 9 columns"):
        ingest(source_dir=tmp_path / "source", out_dir=tmp_path / "o", mapping=mapping)


def test_the_cli_and_a_config_take_the_same_sources(
    messy: tuple[IngestResult, Path], tmp_path: Path
) -> None:
    _, root = messy
    mapping = root / "northshire.yaml"
    assert resolve_mapping("cpdp") == mapping_path("cpdp")
    assert resolve_mapping(str(mapping)) == mapping
    runner = CliRunner()
    out = tmp_path / "cli"
    cli = runner.invoke(
        app, ["ingest", str(root / "source"), "--source", str(mapping), "--out", str(out)]
    )
    assert cli.exit_code == 0, cli.output
    assert (out / "notices.csv").read_text() == (root / "out" / "notices.csv").read_text()
    config = tmp_path / "northshire-config.yaml"
    config.write_text(
        f"data:\n  ingest:\n    source: {mapping}\n    from_dir: {root / 'source'}\n"
        "features:\n  presume_left_after_years: 5\n",
        encoding="utf-8",
    )
    checked = runner.invoke(app, ["validate", "--config", str(config)])
    assert checked.exit_code == 0, checked.output
    assert f"Mapping OK: {mapping}" in checked.output.replace("\n", "")
