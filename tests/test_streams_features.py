"""Features from the optional streams: units as of each date from postings, activity counts."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ewp.core.config import ActivityFeatureConfig, FeatureConfig
from ewp.core.errors import ContractError
from ewp.features.explanations import reason_sentence, risk_note
from ewp.features.history import build_features, feature_columns
from ewp.features.registry import feature_specs, render_reason
from tests.builders import make_force

POSTINGS = FeatureConfig(units_from_postings=True)
ACTIVITY = FeatureConfig(
    windows_days=(90, 365),
    activity=ActivityFeatureConfig(
        kinds=("use_of_force", "commendation"), severe_at=4, flags=("injury",)
    ),
)
T = dt.date(2020, 7, 1)


def day(offset: int) -> str:
    """The date ``offset`` days after the as-of date T (negative: before it)."""
    return str(T + dt.timedelta(days=offset))


def units_by_date(config: FeatureConfig, force, dates: list[str]) -> dict[tuple[str, str], str]:
    matrix = build_features(force, [dt.date.fromisoformat(d) for d in dates], config=config)
    return {
        (row.officer_id, str(row.as_of.date())): row.unit
        for row in matrix[["officer_id", "as_of", "unit"]].itertuples()
    }


def test_unit_as_of_each_date_move_overlap_and_gap() -> None:
    # The worked example of ewp.features.history ("Optional streams"); every roster unit is R.
    force = make_force(
        officers=[
            {"officer_id": "mover", "joined_on": "2010-01-01", "unit": "R"},
            {"officer_id": "overlap", "joined_on": "2010-01-01", "unit": "R"},
            {"officer_id": "gap", "joined_on": "2010-01-01", "unit": "R"},
        ],
        notices=[],
        postings=[
            {"officer_id": "mover", "unit": "U1", "start_on": "2019-01-01", "end_on": "2020-06-30"},
            {"officer_id": "mover", "unit": "U2", "start_on": "2020-07-01"},
            {"officer_id": "overlap", "unit": "U1", "start_on": "2015-01-01"},
            {
                "officer_id": "overlap",
                "unit": "U3",
                "start_on": "2019-03-01",
                "end_on": "2019-05-31",
            },
            {"officer_id": "gap", "unit": "U1", "start_on": "2018-01-01", "end_on": "2019-12-31"},
            {"officer_id": "gap", "unit": "U2", "start_on": "2020-03-01"},
        ],
    )
    dates = ["2019-04-01", "2019-07-01", "2020-01-01", "2020-02-01", "2020-07-01", "2020-07-02"]
    units = units_by_date(POSTINGS, force, dates)
    assert [units[("mover", d)] for d in dates] == ["U1", "U1", "U1", "U1", "U1", "U2"]
    assert [units[("overlap", d)] for d in dates] == ["U3", "U1", "U1", "U1", "U1", "U1"]
    assert [units[("gap", d)] for d in dates] == ["U1", "U1", "U1", "R", "U2", "U2"]
    # Without units_from_postings the roster's unit stays, postings or not.
    assert set(units_by_date(FeatureConfig(), force, dates).values()) == {"R"}


def test_same_start_day_the_later_row_wins_and_before_any_posting_the_roster() -> None:
    force = make_force(
        officers=[{"officer_id": "A", "joined_on": "2010-01-01", "unit": "R"}],
        notices=[],
        postings=[
            {"officer_id": "A", "unit": "U1", "start_on": "2020-01-01"},
            {"officer_id": "A", "unit": "U2", "start_on": "2020-01-01"},
        ],
    )
    units = units_by_date(POSTINGS, force, ["2020-01-01", "2020-01-02"])
    assert units == {("A", "2020-01-01"): "R", ("A", "2020-01-02"): "U2"}


def test_peer_features_compare_officers_in_their_unit_as_of_the_date() -> None:
    # P and Q share a roster unit, but their postings put them in different units at T.
    force = make_force(
        officers=[
            {"officer_id": "P", "joined_on": "2010-01-01", "unit": "R"},
            {"officer_id": "Q", "joined_on": "2010-01-01", "unit": "R"},
        ],
        notices=[
            {"notice_id": "p1", "officer_id": "P", "received_on": day(-30)},
            {"notice_id": "p2", "officer_id": "P", "received_on": day(-20)},
        ],
        postings=[
            {"officer_id": "P", "unit": "U1", "start_on": "2015-01-01"},
            {"officer_id": "Q", "unit": "U2", "start_on": "2015-01-01", "end_on": day(-2)},
            {"officer_id": "Q", "unit": "U1", "start_on": day(0)},  # known only after T
        ],
    )
    roster = build_features(force, [T], config=FeatureConfig()).set_index("officer_id")
    posted = build_features(force, [T], config=POSTINGS).set_index("officer_id")
    assert roster.loc["P", "unit_share_below_365d"] == 1.0  # above Q in R
    # At T, Q's U2 posting ended on T - 2 and U1 is not yet known: Q falls back to R, so P is
    # alone in U1 and has no peer to be above.
    assert posted["unit"].to_dict() == {"P": "U1", "Q": "R"}
    assert posted.loc["P", "unit_share_below_365d"] == 0.0
    assert posted.loc["P", "unit_ratio_365d"] == pytest.approx(1.0)


def test_a_posting_starting_on_the_as_of_date_is_not_known_yet() -> None:
    # Guard for the no-leak property: a posting a day earlier changes the unit at T.
    def unit_at_t(start: str) -> str:
        force = make_force(
            officers=[{"officer_id": "A", "joined_on": "2010-01-01", "unit": "R"}],
            notices=[],
            postings=[{"officer_id": "A", "unit": "U1", "start_on": start}],
        )
        return build_features(force, [T], config=POSTINGS)["unit"].item()

    assert unit_at_t(day(0)) == "R"
    assert unit_at_t(day(-1)) == "U1"


def tiny_force():
    officers = [
        {"officer_id": "A", "joined_on": "2010-01-01"},
        {"officer_id": "B", "joined_on": "2010-01-01"},
        {"officer_id": "C", "joined_on": "2010-01-01"},
    ]
    activity = [
        {"officer_id": "A", "known_on": day(-1), "severity": 5, "injury": True},
        {"officer_id": "A", "known_on": day(-100), "severity": 2, "injury": False},
        {"officer_id": "A", "known_on": day(-400), "severity": 6},
        {"officer_id": "A", "known_on": day(0), "severity": 6, "injury": True},  # on T: unknown
        {"officer_id": "A", "known_on": day(-10), "kind": "commendation"},
        {"officer_id": "C", "known_on": day(-30)},
    ]
    return make_force(officers=officers, notices=[], activity=activity)


def test_activity_features_on_a_tiny_force() -> None:
    f = build_features(tiny_force(), [T], config=ACTIVITY).set_index("officer_id")
    uof = [
        "use_of_force_90d",
        "use_of_force_365d",
        "use_of_force_all",
        "days_since_last_use_of_force",
        "use_of_force_severe_all",
        "use_of_force_injury_all",
        "use_of_force_unit_share_below_365d",
    ]
    assert f.loc["A", uof].tolist() == [1, 2, 3, 1, 2, 1, 1.0]
    assert f.loc["B", uof].tolist() == [0, 0, 0, 3650, 0, 0, 0.0]
    assert f.loc["C", uof].tolist() == [1, 1, 1, 30, 0, 0, 0.5]
    assert f.loc[
        "A", ["commendation_90d", "commendation_all", "days_since_last_commendation"]
    ].tolist() == [1, 1, 10]
    assert list(f.columns[-16:]) == feature_columns(ACTIVITY)[-16:]
    assert [c for c in f.columns if c.startswith("commendation")] == [
        "commendation_90d",
        "commendation_365d",
        "commendation_all",
        "commendation_severe_all",
        "commendation_injury_all",
        "commendation_unit_share_below_365d",
    ]


def test_activity_reasons_in_plain_language() -> None:
    specs = {spec.name: spec for spec in feature_specs(ACTIVITY)}
    assert render_reason(specs["use_of_force_365d"], 14) == (
        "14 use-of-force reports in the last 12 months"
    )
    assert render_reason(specs["use_of_force_unit_share_below_365d"], 0.93) == (
        "more use-of-force reports in the last 12 months than 93% of officers in the same unit"
    )
    assert render_reason(specs["use_of_force_severe_all"], 1) == (
        "1 use-of-force report at severity 4 or above"
    )
    assert render_reason(specs["commendation_all"], 2) == "2 commendation records in total"
    # In the weekly report a count carries its comparison with the unit (as of the date).
    assert reason_sentence(specs["use_of_force_365d"], 14, peer_share_below=0.93) == (
        "14 use-of-force reports in the last 12 months, more than 93% of officers in the same unit"
    )
    since = specs["days_since_last_use_of_force"]
    assert reason_sentence(since, 400, peer_share_below=0.9) == (
        "last use-of-force report 400 days ago"
    )
    assert risk_note(since, 400, typical=200).startswith("A long time since the last such")
    assert risk_note(since, 20, typical=200) is None
    assert risk_note(specs["use_of_force_365d"], 0, typical=2).startswith("Having fewer")


def test_absent_streams_have_no_features_and_asking_for_them_is_an_error() -> None:
    without = tiny_force()
    plain = build_features(without, [T], config=FeatureConfig())
    assert not [c for c in plain.columns if "use_of_force" in c or "commendation" in c]
    no_stream = make_force(officers=[{"officer_id": "A", "joined_on": "2010-01-01"}], notices=[])
    pd.testing.assert_frame_equal(
        build_features(no_stream, [T], config=FeatureConfig()),
        build_features(
            make_force(
                officers=[{"officer_id": "A", "joined_on": "2010-01-01"}],
                notices=[],
                postings=[{"officer_id": "A", "unit": "U9", "start_on": "2011-01-01"}],
                activity=[{"officer_id": "A", "known_on": day(-1)}],
            ),
            [T],
            config=FeatureConfig(),
        ),
    )
    with pytest.raises(ContractError, match="the export has no activity table"):
        build_features(no_stream, [T], config=ACTIVITY)
    with pytest.raises(ContractError, match="the export has no postings table"):
        build_features(no_stream, [T], config=POSTINGS)
