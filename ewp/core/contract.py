"""The ewp input contract: the tables a force exports, and their vocabularies.

A force sends three tables (CSV, CSV.gz or Parquet), and may send two optional *streams*,
documented for people in ``docs/data-contract.md``:

* ``officers``: one row per officer ever employed in the export period.
* ``notices``: one row per allegation against one officer (a misconduct notice). Its
  ``received_on`` is the *knowledge date*: the day the force knew of the allegation. Its
  ``case_id`` groups the allegations of one complaint or conduct matter (a *case*).
* ``outcomes``: at most one row per notice, the decision. Its ``decided_on`` is the knowledge
  date of the finding and sanction.

A case's finding is the one that establishes most (``FINDINGS`` order) among its allegations
decided so far: a case is proven once any of its allegations is. Dates in ``UNKNOWN_DATES`` may
be blank, meaning unknown, and are never invented.

This module holds only names and vocabularies, so that validation, the synthetic generator,
the feature code and the adapters all agree on them. Validation lives in ``ewp.data.validation``.

Protected attributes (``ethnicity``, ``gender``, ``birth_year``) are part of the officers table
for the fairness audit only; ``AUDIT_ONLY_COLUMNS`` names them so the feature code can refuse
them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

OFFICERS = "officers"
NOTICES = "notices"
OUTCOMES = "outcomes"
TABLES: tuple[str, ...] = (OFFICERS, NOTICES, OUTCOMES)
POSTINGS = "postings"
ACTIVITY = "activity"
# Optional tables: read and validated when the export has them.
STREAMS: tuple[str, ...] = (POSTINGS, ACTIVITY)

# Columns per table: (required, optional). Optional columns may be absent from the file.
OFFICER_COLUMNS_REQUIRED = ("officer_id", "joined_on", "rank", "unit")
OFFICER_COLUMNS_OPTIONAL = ("left_on", "ethnicity", "gender", "birth_year")
NOTICE_COLUMNS_REQUIRED = (
    "notice_id",
    "case_id",
    "officer_id",
    "received_on",
    "category",
    "source",
)
NOTICE_COLUMNS_OPTIONAL = ("incident_on", "severity")
OUTCOME_COLUMNS_REQUIRED = ("notice_id", "decided_on", "finding")
OUTCOME_COLUMNS_OPTIONAL = ("sanction",)
POSTING_COLUMNS_REQUIRED = ("officer_id", "unit", "start_on")
POSTING_COLUMNS_OPTIONAL = ("end_on",)
ACTIVITY_COLUMNS_REQUIRED = ("event_id", "officer_id", "known_on", "kind")
ACTIVITY_COLUMNS_OPTIONAL = ("severity", "injury", "weapon")
# The activity kind every force may send; others are declared in features.activity.kinds.
ACTIVITY_KINDS: tuple[str, ...] = ("use_of_force",)
ACTIVITY_FLAGS: tuple[str, ...] = ("injury", "weapon")

COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    OFFICERS: (OFFICER_COLUMNS_REQUIRED, OFFICER_COLUMNS_OPTIONAL),
    NOTICES: (NOTICE_COLUMNS_REQUIRED, NOTICE_COLUMNS_OPTIONAL),
    OUTCOMES: (OUTCOME_COLUMNS_REQUIRED, OUTCOME_COLUMNS_OPTIONAL),
    POSTINGS: (POSTING_COLUMNS_REQUIRED, POSTING_COLUMNS_OPTIONAL),
    ACTIVITY: (ACTIVITY_COLUMNS_REQUIRED, ACTIVITY_COLUMNS_OPTIONAL),
}
DATE_COLUMNS: dict[str, tuple[str, ...]] = {
    OFFICERS: ("joined_on", "left_on"),
    NOTICES: ("received_on", "incident_on"),
    OUTCOMES: ("decided_on",),
    POSTINGS: ("start_on", "end_on"),
    ACTIVITY: ("known_on",),
}
# Required date columns whose value may be blank: the date is *unknown*. Nothing is invented
# for it: an officer with an unknown joined_on is serving since before the records (no tenure
# or probation features); a finding with an unknown decided_on is never known as of any date
# (its notice reads as open). The column must still be in the file.
UNKNOWN_DATES: dict[str, tuple[str, ...]] = {
    OFFICERS: ("joined_on",),
    NOTICES: (),
    OUTCOMES: ("decided_on",),
    POSTINGS: (),
    ACTIVITY: (),
}

# Never model inputs: used only by the fairness audit, taken as of each date.
AUDIT_ONLY_COLUMNS: tuple[str, ...] = ("ethnicity", "gender", "birth_year")

# The standard category taxonomy. A force's own category labels map onto these through the
# ``taxonomy`` section of its config (see configs/default.yaml).
CATEGORIES: tuple[str, ...] = (
    "sexual_misconduct",
    "discrimination",
    "violence_use_of_force",
    "domestic_abuse",
    "dishonesty_fraud",
    "corruption_abuse_of_position",
    "improper_disclosure",
    "neglect_of_duty",
    "discreditable_conduct",
    "other",
)
# The categories the Casey review singles out as serious: the default escalation label
# (``label.serious_categories``) and the synthetic force's escalation ladder.
SERIOUS_CATEGORIES: tuple[str, ...] = CATEGORIES[:7]
CATEGORY_LABELS: dict[str, str] = {
    "sexual_misconduct": "sexual misconduct",
    "discrimination": "discrimination",
    "violence_use_of_force": "violence / use of force",
    "domestic_abuse": "domestic abuse",
    "dishonesty_fraud": "dishonesty / fraud",
    "corruption_abuse_of_position": "corruption / abuse of position",
    "improper_disclosure": "improper disclosure",
    "neglect_of_duty": "neglect of duty",
    "discreditable_conduct": "discreditable conduct",
    "other": "other",
}

SOURCES: tuple[str, ...] = ("public", "internal", "conduct_matter")
SEVERITIES: tuple[str, ...] = ("misconduct", "gross_misconduct")

# Findings, in the order of how much they establish.
FINDINGS: tuple[str, ...] = (
    "withdrawn",
    "no_case_to_answer",
    "case_to_answer_not_proven",
    "proven",
)
CASE_TO_ANSWER_FINDINGS: tuple[str, ...] = ("case_to_answer_not_proven", "proven")

# Sanctions, ordered from least to most severe; the index is the sanction's level.
SANCTIONS: tuple[str, ...] = (
    "none",
    "reflective_practice",
    "management_advice",
    "written_warning",
    "final_written_warning",
    "reduction_in_rank",
    "dismissal",
)
SANCTION_LEVEL: dict[str, int] = {name: level for level, name in enumerate(SANCTIONS)}


@dataclass(frozen=True)
class ForceData:
    """A validated export: typed tables that passed every contract check.

    Dates are ``datetime64`` (``NaT`` where blank); categories are already mapped to the
    standard taxonomy (the raw label is kept in ``category_raw``); ``birth_year`` is a nullable
    integer. Rows that failed a check are not here: they are in the quarantine report.
    ``postings`` and ``activity`` are None when the export has no such table (the stream is
    absent); activity's ``severity`` is a nullable integer and its flags nullable booleans.
    """

    officers: pd.DataFrame
    notices: pd.DataFrame
    outcomes: pd.DataFrame
    postings: pd.DataFrame | None = None
    activity: pd.DataFrame | None = None

    def notices_with_outcomes(self) -> pd.DataFrame:
        """Notices left-joined to their outcome (``decided_on``/``finding``/``sanction``)."""
        cols = ["notice_id", "decided_on", "finding", "sanction"]
        return self.notices.merge(self.outcomes[cols], on="notice_id", how="left", validate="1:1")
