"""The synthetic force's optional streams: opt-in, consistent postings, use-of-force reports
that follow assignment more than latent risk, and a contract-valid export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ewp.core.config import Config
from ewp.data.io import read_raw_export, write_export
from ewp.data.synthetic import SyntheticForce, generate_force
from ewp.data.synthetic_streams import SyntheticStreams, generate_streams, stream_figures
from ewp.data.validation import validate_export
from ewp.flows.common import synthetic_folder


@pytest.fixture(scope="module")
def force() -> SyntheticForce:
    return generate_force(
        officers=1500, start_year=2015, end_year=2020, seed=11, reporting_bias={"Black": 0.81}
    )


@pytest.fixture(scope="module")
def streams(force: SyntheticForce) -> SyntheticStreams:
    return generate_streams(force, seed=11)


def test_streams_are_deterministic_and_leave_the_force_unchanged(
    force: SyntheticForce, streams: SyntheticStreams
) -> None:
    again = generate_streams(force, seed=11)
    pd.testing.assert_frame_equal(again.postings, streams.postings)
    pd.testing.assert_frame_equal(again.activity, streams.activity)
    assert not generate_streams(force, seed=12).activity.equals(streams.activity)
    regenerated = generate_force(
        officers=1500, start_year=2015, end_year=2020, seed=11, reporting_bias={"Black": 0.81}
    )
    pd.testing.assert_frame_equal(regenerated.notices, force.notices)


def test_postings_cover_each_service_without_overlap_and_end_in_the_roster_unit(
    force: SyntheticForce, streams: SyntheticStreams
) -> None:
    postings = streams.postings
    officers = force.officers.set_index("officer_id")
    assert set(postings["officer_id"]) == set(officers.index)
    by_officer = postings.groupby("officer_id", sort=False)
    # head/tail, not first/last: those skip blanks, and a running posting's end is blank.
    first = by_officer.head(1).set_index("officer_id")
    last = by_officer.tail(1).set_index("officer_id")
    assert (first["start_on"] == officers.loc[first.index, "joined_on"]).all()
    assert (last["unit"] == officers.loc[last.index, "unit"]).all()
    left = officers.loc[last.index, "left_on"]
    assert ((last["end_on"] == left) | (last["end_on"].isna() & left.isna())).all()
    # Consecutive postings of an officer touch: each starts the day after the previous ends.
    following = postings.groupby("officer_id")["start_on"].shift(-1)
    moved = following.notna()
    assert (following[moved] - postings.loc[moved, "end_on"] == pd.Timedelta(days=1)).all()
    assert (postings["end_on"].isna() | (postings["end_on"] >= postings["start_on"])).all()
    assert (by_officer.size() > 1).mean() > 0.3  # moves are common


def test_use_of_force_follows_assignment_more_than_risk(
    force: SyntheticForce, streams: SyntheticStreams
) -> None:
    figures = stream_figures(force, streams).set_index("figure")["value"]
    assert figures["sd of log rate from assignment"] > 2 * figures["sd of log rate from risk"]
    by_assignment = "rank correlation: reports per year vs assignment (1+ years served)"
    by_risk = "rank correlation: reports per year vs risk (1+ years served)"
    assert figures[by_assignment] > figures[by_risk] > 0.05
    assert 0.5 < figures["reports per officer-year"] < 2.0
    activity = streams.activity
    assert (activity["known_on"] < pd.Timestamp(force.extracted_on)).all()
    assert set(activity["severity"].unique()) <= set(range(7))
    assert (activity["weapon"] == (activity["severity"] >= 5)).all()


def test_streams_write_and_validate_without_a_quarantined_row(
    force: SyntheticForce, streams: SyntheticStreams, tmp_path: Path
) -> None:
    write_export(
        officers=force.officers,
        notices=force.notices,
        outcomes=force.outcomes,
        postings=streams.postings,
        activity=streams.activity,
        out_dir=tmp_path,
    )
    result = validate_export(
        read_raw_export(tmp_path),
        category_map=Config().category_map(),
        extracted_on=force.extracted_on,
    )
    assert result.quarantine.empty
    assert len(result.data.postings) == len(streams.postings)
    assert np.array_equal(result.data.activity["event_id"], streams.activity["event_id"])


def test_streams_are_opt_in_and_the_default_folder_is_unchanged(tmp_path: Path) -> None:
    default = Config()
    assert default.synthetic.streams is False
    with_streams = Config.model_validate({"synthetic": {"streams": True}})
    assert synthetic_folder(default, tmp_path) != synthetic_folder(with_streams, tmp_path)
    # The folder name is a hash of the synthetic parameters as they were before streams.
    assert synthetic_folder(default, tmp_path).name == "3a4a1c722711"
