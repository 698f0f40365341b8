"""Feature histories: window edges worked out by hand, and the no-leakage property."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ewp.core.config import ActivityFeatureConfig, FeatureConfig
from ewp.core.contract import CATEGORIES, FINDINGS, SANCTIONS, SOURCES, ForceData
from ewp.features.history import build_features, feature_columns, serving_cohort
from ewp.features.registry import FORBIDDEN_INPUTS, feature_specs, render_reason
from tests.builders import make_force

CONFIG = FeatureConfig(windows_days=(90, 180, 365, 1095), group_windows_days=(365,))
PRESUMED = FeatureConfig(group_windows_days=(180,), presume_left_after_years=1)
STREAMS = FeatureConfig(
    units_from_postings=True,
    activity=ActivityFeatureConfig(
        kinds=("use_of_force", "commendation"), severe_at=3, flags=("injury", "weapon")
    ),
)
AS_OF = dt.date(2020, 7, 1)


def features_at(data: ForceData, as_of: dt.date = AS_OF) -> pd.DataFrame:
    return build_features(data, [as_of], config=CONFIG).set_index("officer_id")


def test_window_edges_worked_example() -> None:
    # The module docstring's example: 180-day window at 2020-07-01 is [2020-01-03, 2020-07-01).
    force = make_force(
        officers=[{"officer_id": "A", "joined_on": "2010-01-01"}],
        notices=[
            {"notice_id": "n1", "officer_id": "A", "received_on": "2020-01-02"},
            {"notice_id": "n2", "officer_id": "A", "received_on": "2020-01-03"},
            {"notice_id": "n3", "officer_id": "A", "received_on": "2020-06-30"},
            {"notice_id": "n4", "officer_id": "A", "received_on": "2020-07-01"},
        ],
    )
    row = features_at(force).loc["A"]
    assert row["notices_180d"] == 2  # n2, n3
    assert row["notices_365d"] == 3  # n1, n2, n3 (2019-07-02 .. 2020-06-30)
    assert row["notices_all"] == 3  # n4 is on the as-of date: not yet known
    assert row["days_since_last_notice"] == 1  # n3, the day before
    # 3 notices in the last 12 months, none in the 2 years before -> rate up by 3 a year.
    assert row["acceleration"] == 3


def test_open_cases_findings_and_sanctions_known_only_when_decided() -> None:
    force = make_force(
        officers=[{"officer_id": "A", "joined_on": "2015-01-01"}],
        notices=[
            {"notice_id": "n1", "officer_id": "A", "received_on": "2019-01-10"},
            {"notice_id": "n2", "officer_id": "A", "received_on": "2019-03-01"},
            {"notice_id": "n3", "officer_id": "A", "received_on": "2020-03-01"},
        ],
        outcomes=[
            # decided the day before the as-of date: known
            {
                "notice_id": "n1",
                "decided_on": "2020-06-30",
                "finding": "proven",
                "sanction": "written_warning",
            },
            # decided on the as-of date: not yet known, so still open
            {
                "notice_id": "n2",
                "decided_on": "2020-07-01",
                "finding": "proven",
                "sanction": "dismissal",
            },
        ],
    )
    row = features_at(force).loc["A"]
    assert row["findings_proven_all"] == 1
    assert row["findings_case_to_answer_all"] == 1
    assert row["worst_sanction_level"] == SANCTIONS.index("written_warning")
    assert row["open_cases"] == 2  # n2 (decided on t) and n3 (undecided)
    # Oldest open is n2, received 2019-03-01: 488 days before 2020-07-01.
    assert row["oldest_open_days"] == (dt.date(2020, 7, 1) - dt.date(2019, 3, 1)).days
    # n2 arrived while n1 was open (n1 decided 2020-06-30); n3 while n1 and n2 were open.
    assert row["notices_while_open_all"] == 2


def test_cohort_edges_joined_and_left() -> None:
    force = make_force(
        officers=[
            {"officer_id": "joins_on_t", "joined_on": "2020-07-01"},
            {"officer_id": "joined_day_before", "joined_on": "2020-06-30"},
            {"officer_id": "left_day_before", "joined_on": "2010-01-01", "left_on": "2020-06-30"},
            {"officer_id": "leaves_on_t", "joined_on": "2010-01-01", "left_on": "2020-07-01"},
        ],
        notices=[],
    )
    cohort = serving_cohort(force, [AS_OF], config=CONFIG)
    assert sorted(cohort["officer_id"]) == ["joined_day_before", "leaves_on_t"]


def test_tenure_probation_and_peer_context() -> None:
    force = make_force(
        officers=[
            {"officer_id": "A", "joined_on": "2019-07-02", "unit": "U1"},
            {"officer_id": "B", "joined_on": "2010-01-01", "unit": "U1"},
            {"officer_id": "C", "joined_on": "2010-01-01", "unit": "U1"},
            {"officer_id": "D", "joined_on": "2010-01-01", "unit": "U2"},
        ],
        notices=[
            {"notice_id": "a1", "officer_id": "A", "received_on": "2020-02-01"},
            {"notice_id": "a2", "officer_id": "A", "received_on": "2020-03-01"},
            {"notice_id": "b1", "officer_id": "B", "received_on": "2020-02-01"},
            {"notice_id": "d1", "officer_id": "D", "received_on": "2020-02-01"},
        ],
    )
    f = features_at(force)
    assert f.loc["A", "tenure_days"] == 365
    assert f.loc["A", "probationer"] == 1 and f.loc["B", "probationer"] == 0
    # Unit U1 has counts A=2, B=1, C=0: A has more than both peers, B more than one of two.
    assert f.loc["A", "unit_share_below_365d"] == 1.0
    assert f.loc["B", "unit_share_below_365d"] == 0.5
    assert f.loc["C", "unit_share_below_365d"] == 0.0
    # U1 mean is 1 notice: A has 2x, C 0x. D is alone in U2: ratio to own mean 1.
    assert f.loc["A", "unit_ratio_365d"] == pytest.approx(2.0)
    assert f.loc["C", "unit_ratio_365d"] == 0.0
    assert f.loc["D", "unit_ratio_365d"] == pytest.approx(1.0)
    assert f.loc["D", "unit_share_below_365d"] == 0.0


def test_category_and_source_counts() -> None:
    force = make_force(
        officers=[{"officer_id": "A", "joined_on": "2010-01-01"}],
        notices=[
            {
                "notice_id": "n1",
                "officer_id": "A",
                "received_on": "2020-01-01",
                "category": "sexual_misconduct",
                "source": "internal",
                "severity": "gross_misconduct",
            },
            {
                "notice_id": "n2",
                "officer_id": "A",
                "received_on": "2018-01-01",
                "category": "discrimination",
                "source": "public",
            },
        ],
    )
    row = features_at(force).loc["A"]
    assert row["notices_sexual_discrimination_365d"] == 1  # n2 is outside 12 months
    assert row["notices_source_internal_365d"] == 1
    assert row["notices_source_public_365d"] == 0
    assert row["gross_misconduct_all"] == 1


def test_registry_matches_matrix_and_excludes_protected_attributes() -> None:
    force = make_force(officers=[{"officer_id": "A", "joined_on": "2010-01-01"}], notices=[])
    matrix = build_features(force, [AS_OF], config=CONFIG)
    assert list(matrix.columns) == ["officer_id", "unit", "as_of", *feature_columns(CONFIG)]
    assert not FORBIDDEN_INPUTS & set(matrix.columns)
    assert "ethnicity" not in matrix.columns and "birth_year" not in matrix.columns


def test_reason_sentences() -> None:
    specs = {s.name: s for s in feature_specs(CONFIG)}
    assert render_reason(specs["notices_365d"], 4.0) == "4 notices received in the last 12 months"
    assert (
        render_reason(specs["unit_share_below_365d"], 0.97)
        == "more notices in the last 12 months than 97% of officers in the same unit"
    )
    assert render_reason(specs["open_cases"], 2.0) == "2 cases still open"
    assert render_reason(specs["open_cases"], 1.0) == "1 case still open"
    assert render_reason(specs["days_since_last_notice"], 1.0) == "last notice 1 day ago"


# --- No leakage: events known on or after the as-of date change nothing --------------------

BASE = dt.date(2015, 1, 1)
days = st.integers(min_value=0, max_value=8 * 365)


@st.composite
def force_and_future(draw: st.DrawFn) -> tuple[tuple, tuple, dt.date]:
    """A random small force, an as-of date, and a copy with extra events known on/after it.

    Notices fall into a few shared cases (several allegations per case, several officers per
    case); some joining and decision dates are unknown. The copy adds new notices received on
    or after t (some to existing cases), decides still-open cases on or after t (with any
    finding), and changes the decision date/finding of cases decided on or after t. The
    optional streams too: postings (overlapping, with gaps) and activity events; the copy adds
    postings starting on or after t, ends running postings on or after t - 1 (the last day known
    at t), and adds activity events known on or after t. Returns plain records; the test builds
    the frames (pandas has no place inside a strategy).
    """
    n_officers = draw(st.integers(1, 4))
    officers = [
        {
            "officer_id": f"O{i}",
            "joined_on": draw(
                st.one_of(
                    st.none(),
                    st.integers(-2000, 1500).map(lambda d: str(BASE + dt.timedelta(days=d))),
                )
            ),
            "unit": draw(st.sampled_from(["U1", "U2"])),
        }
        for i in range(n_officers)
    ]
    cases = st.integers(0, 5).map(lambda k: f"K{k}")
    t = BASE + dt.timedelta(days=draw(st.integers(365, 6 * 365)))
    notices, outcomes = [], []
    for j in range(draw(st.integers(0, 12))):
        received = BASE + dt.timedelta(days=draw(days))
        notice = {
            "notice_id": f"n{j}",
            "case_id": draw(cases),
            "officer_id": f"O{draw(st.integers(0, n_officers - 1))}",
            "received_on": str(received),
            "category": draw(st.sampled_from(CATEGORIES)),
            "source": draw(st.sampled_from(SOURCES)),
        }
        notices.append(notice)
        if draw(st.booleans()):
            decided = received + dt.timedelta(days=draw(st.integers(0, 900)))
            outcomes.append(
                {
                    "notice_id": notice["notice_id"],
                    # A decision date may be unknown: never known as of any date.
                    "decided_on": draw(st.sampled_from([str(decided), str(decided), None])),
                    "finding": draw(st.sampled_from(FINDINGS)),
                    "sanction": draw(st.sampled_from(SANCTIONS)),
                }
            )
    future_notices = [dict(n) for n in notices]
    future_outcomes = []
    decided_ids = {o["notice_id"] for o in outcomes}
    for o in outcomes:
        o2 = dict(o)
        if o["decided_on"] and dt.date.fromisoformat(o["decided_on"]) >= t:  # not yet known
            o2["decided_on"] = str(t + dt.timedelta(days=draw(st.integers(0, 400))))
            o2["finding"] = draw(st.sampled_from(FINDINGS))
            o2["sanction"] = draw(st.sampled_from(SANCTIONS))
        future_outcomes.append(o2)
    for n in notices:
        if n["notice_id"] not in decided_ids and draw(st.booleans()):
            received = dt.date.fromisoformat(n["received_on"])
            future_outcomes.append(
                {
                    "notice_id": n["notice_id"],
                    "decided_on": str(max(t, received) + dt.timedelta(days=draw(days))),
                    "finding": draw(st.sampled_from(FINDINGS)),
                    "sanction": draw(st.sampled_from(SANCTIONS)),
                }
            )
    for k in range(draw(st.integers(0, 5))):
        future_notices.append(
            {
                "notice_id": f"future{k}",
                "case_id": draw(cases),  # a new case, or an allegation added to a known one
                "officer_id": f"O{draw(st.integers(0, n_officers - 1))}",
                "received_on": str(t + dt.timedelta(days=draw(st.integers(0, 500)))),
                "category": draw(st.sampled_from(CATEGORIES)),
                "source": draw(st.sampled_from(SOURCES)),
                "severity": "gross_misconduct",
            }
        )
    streams, future_streams = _streams_and_future(draw, n_officers, t)
    return (
        (officers, notices, outcomes, streams),
        (officers, future_notices, future_outcomes, future_streams),
        t,
    )


def _streams_and_future(draw: st.DrawFn, n_officers: int, t: dt.date) -> tuple[dict, dict]:
    """Postings and activity known before ``t``, and a copy with more known on or after it."""
    days = st.integers(0, 6 * 365)
    officer = st.integers(0, n_officers - 1).map(lambda i: f"O{i}")
    postings = []
    for _ in range(draw(st.integers(0, 6))):
        start = BASE + dt.timedelta(days=draw(days))
        if start >= t:
            continue
        length = draw(st.one_of(st.none(), st.integers(0, 900)))
        end = None if length is None else str(start + dt.timedelta(days=length))
        postings.append(
            {
                "officer_id": draw(officer),
                "unit": draw(st.sampled_from(["U1", "U2", "U3"])),
                "start_on": str(start),
                "end_on": end,
            }
        )
    kinds = st.sampled_from(["use_of_force", "use_of_force", "commendation"])

    def event(known: dt.date, i: int) -> dict:
        return {
            "event_id": f"E{i}",
            "officer_id": draw(officer),
            "known_on": str(known),
            "kind": draw(kinds),
            "severity": draw(st.one_of(st.none(), st.integers(0, 6))),
            "injury": draw(st.one_of(st.none(), st.booleans())),
            "weapon": draw(st.one_of(st.none(), st.booleans())),
        }

    activity = [
        event(BASE + dt.timedelta(days=draw(st.integers(0, (t - BASE).days - 1))), i)
        for i in range(draw(st.integers(0, 10)))
    ]
    future_postings = [
        {**p, "end_on": str(t - dt.timedelta(days=1) + dt.timedelta(days=draw(days)))}
        if p["end_on"] is None and draw(st.booleans())
        else dict(p)
        for p in postings
    ]
    for _ in range(draw(st.integers(0, 3))):
        future_postings.append(
            {
                "officer_id": draw(officer),
                "unit": draw(st.sampled_from(["U1", "U2", "U4"])),
                "start_on": str(t + dt.timedelta(days=draw(st.integers(0, 400)))),
                "end_on": None,
            }
        )
    future_activity = activity + [
        event(t + dt.timedelta(days=draw(st.integers(0, 400))), len(activity) + k)
        for k in range(draw(st.integers(0, 4)))
    ]
    return (
        {"postings": postings, "activity": activity},
        {"postings": future_postings, "activity": future_activity},
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(force_and_future())
def test_events_on_or_after_as_of_change_no_feature(case: tuple[tuple, tuple, dt.date]) -> None:
    (*past_records, past_streams), (*future_records, future_streams), t = case
    past = make_force(*past_records, **past_streams)
    with_future = make_force(*future_records, **future_streams)
    # Features at t and at an earlier date: both must ignore everything known on/after t,
    # the cohort included (an officer quiet for a year is presumed gone with PRESUMED), the
    # unit as of the date and the activity counts too (STREAMS).
    dates = [t - dt.timedelta(days=100), t]
    for config in (CONFIG, PRESUMED, STREAMS):
        before = build_features(past, dates, config=config)
        after = build_features(with_future, dates, config=config)
        pd.testing.assert_frame_equal(before, after)


def test_property_would_catch_a_leak() -> None:
    # Guard for the property test: moving a notice from t to t-1 must change the features,
    # so a builder that let same-day events in would fail the property above.
    on_t = make_force(
        officers=[{"officer_id": "A", "joined_on": "2010-01-01"}],
        notices=[{"notice_id": "n", "officer_id": "A", "received_on": str(AS_OF)}],
    )
    day_before = make_force(
        officers=[{"officer_id": "A", "joined_on": "2010-01-01"}],
        notices=[
            {"notice_id": "n", "officer_id": "A", "received_on": str(AS_OF - dt.timedelta(1))}
        ],
    )
    assert features_at(on_t).loc["A", "notices_90d"] == 0
    assert features_at(day_before).loc["A", "notices_90d"] == 1
    assert not np.array_equal(features_at(on_t).to_numpy(), features_at(day_before).to_numpy())
