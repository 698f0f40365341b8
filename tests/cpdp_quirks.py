"""A tiny invented export in the shape of the Chicago CPDP files, one row per quirk.

No real data: complaint IDs 9000100+ and officer UIDs 200001+ do not occur in the real export
(which tests read from ``../shared`` only), and no row equals a real one, IDs aside: the
complaint categories keep the export's code prefixes (``01B-``, the part the mapping reads)
with descriptions of our own, the recommended finding and discipline (which the mapping does
not read) are blank or set so that no accusation's values repeat a real row's, and the
use-of-force reports carry IDs (990001+, events 990051+) and dates of their own. The texts are kept
here, not as CSV files, so nothing tracked can be mistaken for a copy of the export. Tests
write them out (gzipped, as ``<name>.csv.gz``) before ingesting with the ``cpdp`` mapping;
expected rows and counts are worked out by hand in ``tests/test_adapter_cpdp.py``.

| rows | quirk |
|---|---|
| complaints `9000100` ×2 | address variants with identical dates (one removed) |
| complaints `9000101` ×2 | conflicting complaint dates (earliest, 2009-03-08, kept) |
| complaints `9000120` | a complaint nobody is accused in (no notice) |
| accused `9000102` | complaint before the officer's appointed_date (quarantined) |
| accused `9000103` | complaint after the officer's resignation_date (quarantined) |
| accused `9000104` | UID not in the roster (quarantined) |
| accused `9000105` | blank category (mapped to `other`) |
| accused `9000106` | undocumented finding `NC` (outcome quarantined, notice kept) |
| accused `9000107`, `9000112` | open cases (no closed_date); `9000112` already has a finding |
| accused `9000108` | closed_date before complaint_date (outcome quarantined) |
| accused `9000109` | officer-filed complaint (`internal`), 10-day suspension |
| accused `9000110` | closed without a finding (`withdrawn`) |
| accused `9000111` | discipline `100`: reprimand, not a 100-day suspension |
| accused `9000113`, `9000115` | officers quarantined below: their notices follow |
| accused `9000114` | undocumented discipline `999` (sanction blank) |
| officers `200003` | blank race, gender, unit, rank, birth year |
| officers `200004` | no appointed_date (quarantined) |
| officers `200005` | resignation_date before appointed_date (quarantined) |
| officers `200007` | birth year 1850 (quarantined) |
"""

from __future__ import annotations

FILES = ("officers", "accused", "complaints", "officer_filed")

# Each file's columns, in the export's order. Header rows are joined from these, so that no
# tracked line reproduces a line of the real files (their header rows included).
COLUMNS: dict[str, tuple[str, ...]] = {
    "officers": (
        "UID",
        "birth_year",
        "race",
        "gender",
        "appointed_date",
        "resignation_date",
        "current_status",
        "current_unit",
        "current_rank",
    ),
    "accused": (
        "cr_id",
        "UID",
        "complaint_category",
        "recommended_finding",
        "final_finding",
        "recommended_discipline",
        "final_discipline",
    ),
    "complaints": (
        "cr_id",
        "beat",
        "location_code",
        "incident_date",
        "incident_time",
        "complaint_date",
        "closed_date",
    ),
    "officer_filed": ("cr_id",),
    "unit_history": ("UID", "unit", "unit_start_date", "unit_end_date"),
    "trr": (
        "trr_id",
        "UID",
        "trr_date",
        "trr_time",
        "submitted_date",
        "known_date",
        "event_id",
        "officer_injured",
        "officer_on_duty",
        "officer_in_uniform",
        "officer_rank",
        "officer_unit",
        "max_force_level",
        "force_top",
        "firearm_discharged",
        "taser_used",
        "n_shots",
        "n_weapon_discharges",
        "subject_injured",
        "subject_alleged_injury",
        "subject_armed",
        "uid_in_shared_officers",
    ),
}


def _header(name: str) -> str:
    """The header row of file ``name``, with its newline."""
    return ",".join(COLUMNS[name]) + "\n"


# The raw CSV text of each file, exactly as a force's export would hold it.
TEXTS: dict[str, str] = {
    "officers": _header("officers")
    + """\
200001,1970.0,WHITE,MALE,2000-01-03,,1.0,7.0,POLICE OFFICER
200002,1965.0,BLACK,FEMALE,1995-06-01,2010-12-31,0.0,44.0,SERGEANT OF POLICE
200003,,,,2005-03-01,,1.0,,
200004,1980.0,HISPANIC,MALE,,,0.0,,UNKNOWN
200005,1975.0,ASIAN/PACIFIC ISLANDER,MALE,2012-06-04,2008-11-20,1.0,5.0,POLICE OFFICER
200006,1960.0,NATIVE AMERICAN/ALASKAN NATIVE,FEMALE,1990-01-01,,1.0,12.0,LIEUTENANT OF POLICE
200007,1850.0,WHITE,MALE,1999-01-04,,1.0,3.0,POLICE OFFICER
""",
    "accused": _header("accused")
    + """\
9000100,200001,"01B-REMARK ON ORIGIN, OTHER",,UN,,600.0
9000100,200002,05A-FORCE DURING AN ARREST,,NS,,600.0
9000101,200001,03C-WARRANTLESS SEARCH OF A CAR,,EX,,600.0
9000102,200003,04E-DETAINEE'S BELONGINGS NOT LOGGED,,NAF,,600.0
9000103,200002,10U-SERVICE NOT GIVEN,UN,UN,,600.0
9000104,209999,01A-SWEARING AT A MEMBER OF THE PUBLIC,,NS,,600.0
9000105,200001,,,NS,,600.0
9000106,200001,10J-DUTY NEGLECTED ON SHIFT,,NC,,600.0
9000107,200006,05L-NEEDLESS PHYSICAL CONTACT ON SHIFT,SU,,,
9000108,200003,08F-TAKING PROPERTY,,SU,,1.0
9000109,200001,10Z-OTHER CONDUCT MATTER,,SU,,10.0
9000110,200006,03D-ARREST WITHOUT GROUNDS,NS,,,
9000111,200006,10S-UNWANTED SEXUAL REMARKS,,SU,,100.0
9000112,200003,05D-FORCE WITH NO ARREST,,SU,,5.0
9000113,200005,01A-SWEARING AT A MEMBER OF THE PUBLIC,,NS,,600.0
9000114,200002,05K-DOMESTIC INCIDENT OFF SHIFT,,SU,,999.0
9000115,200004,01A-SWEARING AT A MEMBER OF THE PUBLIC,,NS,,600.0
""",
    "complaints": _header("complaints")
    + """\
9000100,0611,17,2008-01-02,10:00:00,2008-01-05,2008-06-30
9000100,611.0,17,2008-01-02,10:00:00,2008-01-05,2008-06-30
9000101,1523,17,2009-03-01,09:00:00,2009-03-10,2009-09-01
9000101,1523,17,2009-03-01,09:00:00,2009-03-08,2009-09-01
9000102,0411,04,2004-11-30,12:00:00,2004-12-01,2005-04-01
9000103,0411,04,2011-01-30,12:00:00,2011-02-01,2011-06-01
9000104,0822,17,2010-05-01,12:00:00,2010-05-05,2010-08-08
9000105,0822,17,2012-04-01,12:00:00,2012-04-04,2012-10-10
9000106,1111,17,2012-05-01,12:00:00,2012-05-02,2012-11-11
9000107,1111,17,2016-08-30,12:00:00,2016-09-01,
9000108,2222,17,2007-05-03,12:00:00,2007-05-05,2007-05-01
9000109,2222,17,2013-01-01,12:00:00,2013-01-02,2014-03-03
9000110,2222,17,2014-02-01,12:00:00,2014-02-02,2014-09-09
9000111,2222,17,2014-03-01,12:00:00,2014-03-03,2015-01-15
9000112,2222,17,2016-06-01,12:00:00,2016-06-02,
9000113,2222,17,2014-01-01,12:00:00,2014-01-01,2014-05-05
9000114,2222,17,2005-01-01,12:00:00,2005-01-01,2005-06-01
9000115,2222,17,2006-01-01,12:00:00,2006-01-01,2006-02-01
9000120,2222,17,2010-01-01,12:00:00,2010-01-01,2010-02-01
""",
    "officer_filed": _header("officer_filed")
    + """\
9000109
""",
}

# The optional streams, one row per quirk (``tests/test_streams_adapter.py``):
# unit_history: 200001 moves from unit 7 to 44 (still assigned: the roster's end date
# 2018-06-01); 200004 is a quarantined officer; 200002's second row ends before it starts.
# trr: 200001 files two reports in event 990051 (the second is a repeat), one with a firearm; a
# report without a UID; 200002 reports after resigning; 200003 with a blank force level.
STREAM_FILES = ("unit_history", "trr")
STREAM_TEXTS: dict[str, str] = {
    "unit_history": _header("unit_history")
    + """\
200001,7,2000-01-03,2010-01-11
200001,44.0,2010-01-12,2018-06-01
200004,5,2001-01-08,2018-06-01
200002,44,1995-06-01,2010-12-31
200002,12,2011-01-05,2010-12-31
""",
    "trr": _header("trr")
    + """\
990001,200001,2012-02-07,10:17,2012-02-09,2012-02-09,990051,0,1,1,PO,44,6,firearm,1,0,2,2,1,1,1,1
990002,200001,2012-02-07,10:17,2012-02-07,2012-02-07,990051,0,1,1,PO,44,3,physical,0,0,0,0,0,0,0,1
990003,,2012-03-13,10:17,2012-03-13,2012-03-13,990052,0,1,1,AIDE,44,3,physical,0,0,0,0,0,0,0,0
990004,200002,2011-02-15,10:17,2011-02-15,2011-02-15,990053,0,1,1,SGT,44,4,taser,0,1,0,1,0,0,0,1
990005,200003,2013-05-14,10:17,2013-05-14,2013-05-14,990054,1,1,1,PO,12,,other,0,0,0,0,0,1,0,1
""",
}
