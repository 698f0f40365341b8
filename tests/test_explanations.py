"""Peer comparison, reason sentences, officer timelines and list changes, on a hand-built force
whose every expected number is worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from ewp.core.config import FeatureConfig
from ewp.core.contract import ForceData
from ewp.features.explanations import (
    TIMELINE_COLUMNS,
    list_changes,
    officer_timelines,
    peer_comparison,
    reason_sentence,
)
from ewp.features.history import build_features
from ewp.features.registry import FeatureSpec, feature_specs
from tests.builders import make_force

AS_OF = dt.date(2021, 1, 1)
EARLIER = dt.date(2020, 1, 1)
OTHER = {"category": "neglect_of_duty", "source": "public"}
SPECS: dict[str, FeatureSpec] = {spec.name: spec for spec in feature_specs(FeatureConfig())}


@pytest.fixture(scope="module")
def force() -> ForceData:
    """Unit U1: A, B, C, D serving on 2021-01-01; E left 2020-06-01 (serving on 2020-01-01
    only); F joins on 2021-01-01 (not yet serving). G is alone in U2, H alone in U3."""
    joined = "2015-01-01"
    officers = [
        {"officer_id": "A", "joined_on": joined, "unit": "U1"},
        {"officer_id": "B", "joined_on": joined, "unit": "U1"},
        {"officer_id": "C", "joined_on": joined, "unit": "U1"},
        {"officer_id": "D", "joined_on": joined, "unit": "U1"},
        {"officer_id": "E", "joined_on": joined, "unit": "U1", "left_on": "2020-06-01"},
        {"officer_id": "F", "joined_on": "2021-01-01", "unit": "U1"},
        {"officer_id": "G", "joined_on": joined, "unit": "U2"},
        {"officer_id": "H", "joined_on": joined, "unit": "U3"},
    ]
    notices = [
        {"notice_id": "N1", "officer_id": "A", "received_on": "2018-03-01",
         "category": "discreditable_conduct", "source": "public"},
        {"notice_id": "N2", "officer_id": "A", "received_on": "2020-03-01",
         "category": "sexual_misconduct", "source": "internal"},
        {"notice_id": "N3", "officer_id": "A", "received_on": "2020-06-15",
         "category": "dishonesty_fraud", "source": "conduct_matter"},
        {"notice_id": "N4", "officer_id": "A", "received_on": "2020-11-01",
         "category": "violence_use_of_force", "source": "public"},
        # Received on the as-of date: not yet known on it.
        {"notice_id": "N5", "officer_id": "A", "received_on": "2021-01-01", **OTHER},
        {"notice_id": "N6", "officer_id": "B", "received_on": "2020-05-01", **OTHER},
        {"notice_id": "N7", "officer_id": "B", "received_on": "2020-07-01", **OTHER},
        {"notice_id": "N8", "officer_id": "C", "received_on": "2019-01-01", **OTHER},
        {"notice_id": "N9", "officer_id": "E", "received_on": "2020-02-01", **OTHER},
        {"notice_id": "N10", "officer_id": "E", "received_on": "2020-03-01", **OTHER},
        {"notice_id": "N11", "officer_id": "G", "received_on": "2020-09-01", **OTHER},
    ]  # fmt: skip
    outcomes = [
        {"notice_id": "N1", "decided_on": "2018-09-01", "finding": "proven",
         "sanction": "written_warning"},
        # Decided on the as-of date: not yet known on it, so the notice reads "open".
        {"notice_id": "N2", "decided_on": "2021-01-01", "finding": "proven",
         "sanction": "dismissal"},
        {"notice_id": "N3", "decided_on": "2020-12-31", "finding": "no_case_to_answer",
         "sanction": "none"},
        {"notice_id": "N8", "decided_on": "2019-02-01", "finding": "withdrawn",
         "sanction": "none"},
    ]  # fmt: skip
    return make_force(officers, notices, outcomes)


@pytest.fixture(scope="module")
def matrix(force: ForceData) -> pd.DataFrame:
    return build_features(force, [EARLIER, AS_OF], config=FeatureConfig())


def test_timelines_show_only_what_was_known_before_the_as_of_date(force: ForceData) -> None:
    timelines = officer_timelines(force, ["B", "A", "Z"], AS_OF)
    assert list(timelines.columns) == list(TIMELINE_COLUMNS)
    expected = pd.DataFrame(
        [
            ("A", "N1", "2018-03-01", "discreditable conduct", "public", "decided", "proven",
             "written warning", None),
            # Decided 2021-01-01, the as-of date: open; 2020-03-01 to 2021-01-01 is 306 days.
            ("A", "N2", "2020-03-01", "sexual misconduct", "internal", "open", "", "", 306),
            ("A", "N3", "2020-06-15", "dishonesty / fraud", "conduct matter", "decided",
             "no case to answer", "none", None),
            # No outcome: open; November (30) + December (31) = 61 days.
            ("A", "N4", "2020-11-01", "violence / use of force", "public", "open", "", "", 61),
            # N5, received on the as-of date, is not yet known.
            ("B", "N6", "2020-05-01", "neglect of duty", "public", "open", "", "", 245),
            ("B", "N7", "2020-07-01", "neglect of duty", "public", "open", "", "", 184),
        ],
        columns=list(TIMELINE_COLUMNS),
    )  # fmt: skip
    pd.testing.assert_frame_equal(
        timelines.astype({"received_on": "datetime64[s]"}),
        expected.assign(
            received_on=pd.to_datetime(expected["received_on"]).astype("datetime64[s]"),
            days_open=expected["days_open"].astype("Int64"),
        ),
        check_dtype=False,
    )
    assert timelines["days_open"].dtype == "Int64"


def test_timelines_a_day_later_show_the_decision(force: ForceData) -> None:
    later = officer_timelines(force, ["A"], AS_OF + dt.timedelta(days=1)).set_index("notice_id")
    assert later.loc["N2", ["status", "finding", "sanction"]].tolist() == [
        "decided",
        "proven",
        "dismissal",
    ]
    assert pd.isna(later.loc["N2", "days_open"])
    assert later.loc["N5", "status"] == "open" and later.loc["N5", "days_open"] == 1
    assert officer_timelines(force, ["Z"], AS_OF).empty


def _reasons(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "officer_id": [o for o, _, _ in rows],
            "rank": list(range(1, len(rows) + 1)),
            "feature": [f for _, f, _ in rows],
            "value": [v for _, _, v in rows],
            "contribution": np.linspace(1.0, 0.5, len(rows)),
        }
    )


def test_peer_shares_count_serving_unit_colleagues_with_strictly_lower_values(
    matrix: pd.DataFrame,
) -> None:
    # On 2021-01-01 the unit U1 serves A, B, C, D (E has left, F has not yet joined).
    # Notices in [2020-01-02, 2021-01-01): A 3 (N2, N3, N4), B 2, C 0, D 0.
    # Open cases: A 2 (N2 decided on the as-of date, N4), B 2, C 0, D 0.
    reasons = _reasons(
        [
            ("A", "notices_365d", 3.0),  # peers B, C, D all lower: 3 / 3
            ("A", "open_cases", 2.0),  # C and D lower, B ties (not lower): 2 / 3
            ("B", "notices_365d", 2.0),  # C and D lower, A higher: 2 / 3
            ("C", "notices_365d", 0.0),  # nobody lower: 0 / 3
            ("H", "notices_365d", 0.0),  # alone in U3: no peers
        ]
    ).assign(as_of="2021-01-01")
    out = peer_comparison(matrix, reasons)
    assert list(out.columns) == [*reasons.columns, "peer_share_below", "unit_peers"]
    pd.testing.assert_frame_equal(out[reasons.columns], reasons)
    assert out["unit_peers"].tolist() == [3, 3, 3, 3, 0]
    np.testing.assert_allclose(
        out["peer_share_below"].to_numpy(), [1.0, 2 / 3, 2 / 3, 0.0, np.nan], equal_nan=True
    )


def test_peers_are_taken_on_each_reasons_own_date(matrix: pd.DataFrame) -> None:
    # On 2020-01-01 U1 serves A, B, C, D and E (E leaves later). All notices before then:
    # A 1 (N1), C 1 (N8), B, D, E 0. A's peers B, C, D, E; lower: B, D, E -> 3 / 4.
    reasons = _reasons([("A", "notices_all", 1.0), ("A", "notices_all", 3.0)]).assign(
        as_of=["2020-01-01", "2021-01-01"]
    )
    out = peer_comparison(matrix, reasons)
    assert out["unit_peers"].tolist() == [4, 3]
    # On 2021-01-01, notices before it: A 4, B 2, C 1, D 0 -> all three lower than 3.
    np.testing.assert_allclose(out["peer_share_below"], [0.75, 1.0])


def test_peer_comparison_refuses_ambiguous_or_unknown_input(matrix: pd.DataFrame) -> None:
    reasons = _reasons([("A", "notices_365d", 3.0)])
    with pytest.raises(ValueError, match="2 as-of dates: give the reasons an as_of column"):
        peer_comparison(matrix, reasons)
    one_date = matrix.loc[matrix["as_of"] == pd.Timestamp(AS_OF)]
    assert peer_comparison(one_date, reasons)["peer_share_below"].tolist() == [1.0]
    with pytest.raises(ValueError, match=r"not serving on the reason's as-of date: \['F'\]"):
        peer_comparison(one_date, _reasons([("F", "notices_365d", 0.0)]))
    with pytest.raises(ValueError, match=r"not in the feature matrix: \['shoe_size'\]"):
        peer_comparison(one_date, _reasons([("A", "shoe_size", 9.0)]))


@pytest.mark.parametrize(
    ("feature", "value", "share", "sentence"),
    [
        (
            "notices_365d",
            4,
            0.975,
            "4 notices received in the last 12 months, more than 97% of officers in the same unit",
        ),
        ("open_cases", 2, None, "2 cases still open"),
        ("open_cases", 2, math.nan, "2 cases still open"),
        ("open_cases", 2, 0.49, "2 cases still open"),  # below half: not informative
        ("open_cases", 2, 0.5, "2 cases still open, more than 50% of officers in the same unit"),
        # Rounded down, never up (0.57 * 100 is 56.99999... in floating point).
        ("open_cases", 2, 0.57, "2 cases still open, more than 57% of officers in the same unit"),
        (
            "notices_while_open_all",
            1,
            0.999,
            "1 notice received while earlier ones were still undecided, more than 99% of "
            "officers in the same unit",
        ),
        (
            "notices_365d",
            1,
            1.0,
            "1 notice received in the last 12 months, more than any other officer in the same unit",
        ),
        # Not counts of events: the registry's sentence alone.
        ("oldest_open_days", 400, 0.99, "oldest open case waiting 400 days for a decision"),
        ("worst_sanction_level", 4, 0.99, "most severe earlier sanction at level 4 of 6"),
        ("days_since_last_notice", 12, 0.99, "last notice 12 days ago"),
        # A change of rate in words for its sign: never "up by -0.5".
        ("acceleration", 1.5, None, "notice rate up by 1.5 a year on the 2 years before"),
        ("acceleration", -0.5, None, "notice rate down by 0.5 a year on the 2 years before"),
        ("acceleration", -0.04, None, "notice rate level with the 2 years before"),
        ("acceleration", 0.0, None, "notice rate level with the 2 years before"),
        (
            "unit_share_below_365d",
            0.9,
            0.9,
            "more notices in the last 12 months than 90% of officers in the same unit",
        ),
    ],
)
def test_reason_sentences(feature: str, value: float, share: float | None, sentence: str) -> None:
    assert reason_sentence(SPECS[feature], value, share) == sentence


def test_sentences_from_peer_comparison(matrix: pd.DataFrame) -> None:
    reasons = _reasons([("A", "notices_365d", 3.0), ("A", "open_cases", 2.0)])
    out = peer_comparison(matrix.loc[matrix["as_of"] == pd.Timestamp(AS_OF)], reasons)
    sentences = [
        reason_sentence(SPECS[f], v, s)
        for f, v, s in zip(out["feature"], out["value"], out["peer_share_below"], strict=True)
    ]
    assert sentences == [
        "3 notices received in the last 12 months, more than any other officer in the same unit",
        "2 cases still open, more than 66% of officers in the same unit",
    ]


def test_list_changes() -> None:
    first = list_changes(None, ["A", "B"])
    assert first.to_dict(orient="list") == {"officer_id": ["A", "B"], "change": ["new", "new"]}
    changes = list_changes(["A", "B", "C"], ["D", "B"])
    assert list(changes.itertuples(index=False, name=None)) == [
        ("D", "new"),
        ("B", "continuing"),
        ("A", "dropped off"),
        ("C", "dropped off"),
    ]
    assert list_changes(["A"], [])["change"].tolist() == ["dropped off"]
    assert list_changes([], []).empty
    with pytest.raises(ValueError, match="current list names an officer more than once"):
        list_changes(None, ["A", "A"])
    with pytest.raises(ValueError, match="previous list names an officer more than once"):
        list_changes(["B", "B"], ["A"])


def test_the_label_in_words_follows_the_config() -> None:
    from ewp.core.config import LabelConfig
    from ewp.features.explanations import label_in_words

    assert label_in_words(LabelConfig()) == (
        "a notice for a serious matter (sexual misconduct, discrimination, violence / use of "
        "force, domestic abuse, dishonesty / fraud, corruption / abuse of position, improper "
        "disclosure), a notice assessed as potential gross misconduct or an allegation proven, "
        "within 12 months"
    )
    narrow = LabelConfig(
        serious_categories=("sexual_misconduct",), proven_finding=False, horizon_days=730
    )
    assert label_in_words(narrow) == (
        "a notice for a serious matter (sexual misconduct) or a notice assessed as potential "
        "gross misconduct, within 2 years"
    )
    only_proven = LabelConfig(serious_categories=(), gross_misconduct=False, horizon_days=180)
    assert label_in_words(only_proven) == "an allegation proven, within 180 days"


@pytest.mark.parametrize(
    ("rate", "words"),
    [
        (0.0625, "about 6 in 100"),
        (0.01, "about 1 in 100"),
        (0.00996, "about 1 in 100"),  # rounds to 1 in 100, not "10 in 1,000"
        (0.0042, "about 4 in 1,000"),
        (0.0002, "about 1 in 1,000"),  # never "about 0"
        (0.0, "none"),
        (1.0, "about 100 in 100"),
    ],
)
def test_rates_in_words(rate: float, words: str) -> None:
    from ewp.features.explanations import rate_in_words

    assert rate_in_words(rate) == words


def test_reasons_that_sound_reassuring_carry_a_note() -> None:
    from ewp.features.explanations import risk_note

    unproven = risk_note(SPECS["findings_no_case_all"], 7, typical=0.3)
    assert unproven is not None and "not findings" in unproven and "unproven" in unproven
    assert "more often" in unproven
    assert "not a finding" in risk_note(SPECS["acceleration"], -0.5, typical=0.1)
    assert risk_note(SPECS["acceleration"], 1.5, typical=0.1) is None  # rising: no surprise
    # A count below the typical value raised the score: "0 earlier allegations proven".
    fewer = risk_note(SPECS["findings_proven_all"], 0, typical=0.2)
    assert fewer.startswith("Having fewer of these than the average officer counted towards")
    assert risk_note(SPECS["notices_365d"], 4, typical=0.5) is None
    # A long gap sounds reassuring; a recent notice does not.
    assert "long time since the last notice" in risk_note(
        SPECS["days_since_last_notice"], 3000, typical=2500
    )
    assert risk_note(SPECS["days_since_last_notice"], 12, typical=2500) is None
    assert risk_note(SPECS["tenure_days"], 100, typical=5000) is None


def test_why_each_officer_dropped_off() -> None:
    from ewp.features.explanations import dropped_off_reasons

    officers = pd.DataFrame(
        {
            "officer_id": ["A", "B", "C", "D", "E"],
            "left_on": pd.to_datetime([None, "2021-06-30", None, None, None]),
        }
    )
    previous = pd.DataFrame(
        {
            "officer_id": ["A", "B", "C", "D", "E", "X"],
            "score": [0.5, 0.4, 0.3, 0.2, 0.25, 0.1],
            "model_version": "m (v1)",
        }
    )
    ranked = pd.DataFrame(
        {"officer_id": ["Z", "A", "D", "C", "E"], "score": [0.9, 0.4, 0.2, 0.1, 0.05]}
    ).assign(rank=[1, 2, 3, 4, 5])
    falls = pd.DataFrame(
        {"officer_id": ["C"], "feature": ["open_cases"], "before": [3.0], "after": [1.0]}
    )
    why = dropped_off_reasons(
        dropped=["A", "B", "C", "D", "X", "E"],
        as_of=dt.date(2021, 7, 5),
        officers=officers,
        serving={"Z", "A", "C", "D", "E"},
        suppressed=pd.DataFrame({"officer_id": ["E"], "reason": ["reviewed 2021-07-01"]}),
        previous=previous,
        ranked=ranked,
        falls=falls,
        specs=SPECS,
        model_version="m (v1)",
        listed=1,
    )
    assert why.values.tolist() == [
        ["A", "score fell from 0.500 to 0.400, now ranked 2 of 5 (the list holds 1)"],
        ["B", "left the force on 2021-06-30"],
        [
            "C",
            "score fell from 0.300 to 0.100, now ranked 4 of 5 (the list holds 1); biggest "
            "change: 3 cases still open then, 1 case still open now",
        ],
        ["D", "score 0.200 (was 0.200), but others now score higher; now ranked 3 of 5 "
              "(the list holds 1)"],
        ["X", "no longer in the export"],
        ["E", "suppressed after review: reviewed 2021-07-01"],
    ]  # fmt: skip
    another = dropped_off_reasons(
        dropped=["A"],
        as_of=dt.date(2021, 7, 5),
        officers=officers,
        serving={"A"},
        suppressed=pd.DataFrame({"officer_id": [], "reason": []}),
        previous=previous,
        ranked=ranked,
        falls=falls.iloc[0:0],
        specs=SPECS,
        model_version="m (v2)",
        listed=1,
    )
    assert another["why"].tolist() == [
        "the list is now drawn by another model (m (v2)); now ranked 2 of 5 (the list holds 1)"
    ]
