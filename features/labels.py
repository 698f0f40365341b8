"""The escalation label: did the officer escalate within the horizon after an as-of date?

For an as-of date ``t`` and horizon ``h`` the label looks at notices *received* in ``[t, t + h)``
(the mirror image of the feature windows, which end just before ``t``). A notice there is an
escalation event if, per ``LabelConfig``:

* its category is serious (default: the categories the Casey review singles out), or
* it was assessed as potential gross misconduct, or
* it was eventually proven, **and the finding was known by** ``findings_known_by``.

Findings take a year or more, so "eventually proven" is only known at ``decided_on``. When
training for a test date T, pass ``findings_known_by=T``: a finding decided on or after T did
not exist when the model would have been trained and must not shape its labels.

Worked example, horizon 365 days, as-of 2020-01-01, export extracted 2021-06-01:
the window is [2020-01-01, 2020-12-31). A use-of-force notice received 2020-01-01 counts (day 0
of the horizon); one received 2020-12-31 does not (365 days after t). A discreditable-conduct
notice received 2020-05-01 and proven on 2021-03-01 counts with ``findings_known_by`` 2021-06-01
but not with 2021-01-01. The as-of date 2020-07-01 has a horizon ending 2021-07-01, after the
export was taken, so its label is unknown (NaN) and it is not used for training.

Counting cases (``LabelConfig.counts = "cases"``): an escalation is a *case* (one officer's part
in one ``case_id``, see ``ewp.features.history``) that became known in the horizon, i.e. whose first
allegation against the officer was received in ``[t, t + h)``, and that escalates through an
allegation received before ``t + h`` (serious or gross, or eventually proven as above). An
allegation added in the horizon to a case known before ``t`` is no escalation then: the case
was already known. Worked example, horizon 365 days, as-of 2020-01-01, horizon
[2020-01-01, 2020-12-31):

====  ======================================  ======================================  =========
case  allegations (received on)               why                                     escalates
====  ======================================  ======================================  =========
K1    neglect 2019-11-01, force 2020-02-01    known before t                          no
K2    neglect 2020-03-01, force 2020-09-01    known in the horizon, force within it   yes
K3    neglect 2020-10-01, force 2021-02-01    force received after the horizon        no
====  ======================================  ======================================  =========

Counting notices, K1's and K2's force allegations both escalate (received in the horizon).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ewp.core.config import LabelConfig
from ewp.core.contract import ForceData
from ewp.features.history import EventSeries, day_numbers


def escalation_events(
    data: ForceData, *, label: LabelConfig, findings_known_by: dt.date | None
) -> pd.DataFrame:
    """The notices that count as escalation events (a subset of ``data.notices_with_outcomes``)."""
    notices = data.notices_with_outcomes()
    is_event = notices["category"].isin(label.serious_categories).to_numpy(dtype=bool, copy=True)
    if label.gross_misconduct:
        is_event |= (notices["severity"] == "gross_misconduct").fillna(False).to_numpy(dtype=bool)
    if label.proven_finding:
        proven = (notices["finding"] == "proven").fillna(False).to_numpy(dtype=bool, copy=True)
        if findings_known_by is not None:
            known = (notices["decided_on"] < pd.Timestamp(findings_known_by)).fillna(False)
            proven &= known.to_numpy(dtype=bool)
        is_event |= proven
    return notices.loc[is_event]


def _escalations(
    data: ForceData, *, label: LabelConfig, findings_known_by: dt.date | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per escalation: officer code, the day it became known, the day it escalated (module
    docstring). A notice is both known and escalated on its receipt; a case is known with its
    first allegation against the officer and escalates with its first escalating one."""
    events = escalation_events(data, label=label, findings_known_by=findings_known_by)
    if label.counts == "notices":
        received = day_numbers(events["received_on"])
        return officer_codes(data.officers, events["officer_id"]), received, received
    notices = data.notices
    first = (
        notices.groupby(["officer_id", "case_id"], sort=False)["received_on"].min().rename("known")
    )
    escalated = events.groupby(["officer_id", "case_id"], sort=False)["received_on"].min()
    cases = first.to_frame().join(escalated.rename("escalated"), how="inner").reset_index()
    return (
        officer_codes(data.officers, cases["officer_id"]),
        day_numbers(cases["known"]),
        day_numbers(cases["escalated"]),
    )


def officer_codes(officers: pd.DataFrame, officer_ids: pd.Series) -> np.ndarray:
    """Each ID's row number in the officers table. Categorical IDs (as the feature matrix reads
    them) are looked up once per category, not once per row: tens of millions of rows cost
    an array index, not a string hash each."""
    code_of = pd.Series(np.arange(len(officers), dtype="int64"), index=officers["officer_id"])
    if isinstance(officer_ids.dtype, pd.CategoricalDtype):
        per_category = code_of.reindex(officer_ids.cat.categories).to_numpy()
        return per_category[officer_ids.cat.codes.to_numpy()]
    return code_of.reindex(officer_ids).to_numpy()


@dataclass(frozen=True)
class Escalations:
    """A force's escalations indexed for labelling rows: built once, then any number of rows
    (a long window a block of dates at a time) are labelled by binary search.

    An escalation known on ``known`` that escalated by ``escalated`` counts for the as-of
    dates t with t <= known and escalated < t + h, i.e. t in [escalated - h + 1, known]:
    ``starts`` holds the first such day per escalation, ``ends`` the last, and a row's count is
    the starts on or before t less the ends before t.
    """

    officers: pd.DataFrame
    starts: EventSeries
    ends: EventSeries
    horizon_days: int

    @classmethod
    def build(
        cls, data: ForceData, *, label: LabelConfig, findings_known_by: dt.date
    ) -> Escalations:
        """The escalations of ``data`` under ``label``, findings counted once known by
        ``findings_known_by``."""
        codes, known, escalated = _escalations(
            data, label=label, findings_known_by=findings_known_by
        )
        first = escalated - label.horizon_days + 1
        possible = first <= known
        return cls(
            officers=data.officers,
            starts=EventSeries.build(codes[possible], first[possible]),
            ends=EventSeries.build(codes[possible], known[possible]),
            horizon_days=label.horizon_days,
        )

    def labels(self, rows: pd.DataFrame, *, observed_until: dt.date) -> pd.Series:
        """Label per row of ``rows`` (``officer_id``, ``as_of``): 1.0, 0.0, or NaN where the
        horizon reaches past ``observed_until`` (see ``build_labels``)."""
        row_codes = officer_codes(self.officers, rows["officer_id"])
        t = day_numbers(rows["as_of"])
        count = self.starts.count_before(row_codes, t + 1) - self.ends.count_before(row_codes, t)
        observed = t + self.horizon_days <= day_numbers([observed_until])[0]
        return pd.Series(
            np.where(observed, (count > 0).astype("float64"), np.nan),
            index=rows.index,
            name="label",
        )


def build_labels(
    data: ForceData,
    rows: pd.DataFrame,
    *,
    label: LabelConfig,
    observed_until: dt.date,
    findings_known_by: dt.date | None = None,
) -> pd.Series:
    """Label per row of ``rows`` (``officer_id``, ``as_of``): 1.0, 0.0, or NaN if unobserved.

    ``observed_until`` is the first day *not* covered by the data (the export date, or a test
    date when training): a row whose horizon ``[t, t + h)`` reaches past it is NaN.
    ``findings_known_by`` defaults to ``observed_until``.
    """
    if findings_known_by is None:
        findings_known_by = observed_until
    escalations = Escalations.build(data, label=label, findings_known_by=findings_known_by)
    return escalations.labels(rows, observed_until=observed_until)
