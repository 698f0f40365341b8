"""Scale machinery: blocks of as-of dates change nothing, the naive pandas and DuckDB SQL
formulations of the benchmark agree with ewp's matrix, the feature matrix built on demand returns
what ``build_features`` returns, and the runtime config refuses bad values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ewp.benchmarks.naive import naive_features
from ewp.benchmarks.sql import duckdb_available, sql_features
from ewp.core.config import (
    ActivityFeatureConfig,
    Config,
    ConfigError,
    FeatureConfig,
    LabelConfig,
    RuntimeConfig,
    load_config,
)
from ewp.core.contract import ForceData
from ewp.core.timechop import as_of_dates
from ewp.data.synthetic import generate_force
from ewp.features.history import IndexedForce, build_features, feature_columns
from ewp.features.labelled import LabelledDates, observed_label_blocks, observed_labels
from ewp.features.labels import build_labels
from ewp.features.matrix import FeatureMatrix
from ewp.models.candidates import HistGBYardstick, scores_and_probabilities
from ewp.models.rules import CountRanker
from ewp.models.scorecard import ScorecardClassifier
from tests.builders import make_force

CONFIG = FeatureConfig()
# Officers with no left_on are presumed gone after 3 years with neither joining nor a notice.
PRESUMED = FeatureConfig(presume_left_after_years=3)
# Both optional streams: units as of each date, two activity kinds with severity and flags.
STREAMS = FeatureConfig(
    units_from_postings=True,
    activity=ActivityFeatureConfig(
        kinds=("use_of_force", "commendation"), severe_at=4, flags=("injury", "weapon")
    ),
)


@pytest.fixture(scope="module")
def force() -> ForceData:
    """A small synthetic force with enough notices, decisions and sanctions to matter."""
    generated = generate_force(
        officers=1500, start_year=2014, end_year=2020, seed=7, reporting_bias={"Black": 0.81}
    )
    return ForceData(generated.officers, generated.notices, generated.outcomes)


@pytest.fixture(scope="module")
def stream_force(force: ForceData) -> ForceData:
    """The synthetic force with random streams: 1-4 postings per officer, overlapping or with
    gaps, some still running and some starting the same day (in units of the roster and new
    ones), and activity events of two kinds with blank severities and flags."""
    rng = np.random.default_rng(5)
    officers = force.officers
    per_officer = rng.integers(1, 5, len(officers))
    owner = np.repeat(officers["officer_id"].to_numpy(), per_officer)
    start = pd.Timestamp("2012-01-01") + pd.to_timedelta(rng.integers(0, 9 * 365, len(owner)), "D")
    length = pd.to_timedelta(rng.integers(0, 1500, len(owner)), "D")
    units = np.concatenate([officers["unit"].unique(), ["Posted A", "Posted B"]])
    postings = pd.DataFrame(
        {
            "officer_id": owner,
            "unit": rng.choice(units, len(owner)),
            "start_on": start.astype("datetime64[us]"),
            "end_on": pd.Series(start + length).where(rng.random(len(owner)) < 0.7),
        }
    ).astype({"end_on": "datetime64[us]"})
    postings.loc[postings.index[::50], "start_on"] = pd.Timestamp("2016-03-01")
    n = 20_000
    activity = pd.DataFrame(
        {
            "event_id": [f"A{i}" for i in range(n)],
            "officer_id": rng.choice(officers["officer_id"].to_numpy(), n),
            "known_on": (
                pd.Timestamp("2013-01-01") + pd.to_timedelta(rng.integers(0, 8 * 365, n), "D")
            ).astype("datetime64[us]"),
            "kind": rng.choice(["use_of_force", "use_of_force", "commendation"], n),
            "severity": pd.array(rng.integers(0, 7, n), dtype="Int64"),
            "injury": pd.array(rng.random(n) < 0.2, dtype="boolean"),
            "weapon": pd.array(rng.random(n) < 0.1, dtype="boolean"),
        }
    )
    activity.loc[activity.index[::7], ["severity", "injury"]] = pd.NA
    return ForceData(
        force.officers, force.notices, force.outcomes, postings=postings, activity=activity
    )


@pytest.fixture(scope="module")
def case_force(force: ForceData) -> ForceData:
    """The synthetic force with what its generator never makes: every other notice gains a
    second allegation in its case, received 0-399 days later in another category and source
    (decided later, or never), and some joining and decision dates are unknown."""
    rng = np.random.default_rng(3)
    first = force.notices.iloc[::2]
    later = pd.to_timedelta(rng.integers(0, 400, len(first)), unit="D")
    added = first.assign(
        notice_id=first["notice_id"] + "x",
        received_on=first["received_on"] + later,
        category=np.roll(first["category"].to_numpy(), 1),
        source=np.roll(first["source"].to_numpy(), 1),
    )
    decided = added.iloc[::3]
    outcomes = pd.concat(
        [
            force.outcomes,
            pd.DataFrame(
                {
                    "notice_id": decided["notice_id"].to_numpy(),
                    "decided_on": decided["received_on"].to_numpy()
                    + pd.to_timedelta(rng.integers(0, 300, len(decided)), unit="D"),
                    "finding": np.resize(["proven", "no_case_to_answer"], len(decided)),
                    "sanction": "none",
                }
            ),
        ],
        ignore_index=True,
    )
    outcomes.loc[outcomes.index % 30 == 7, "decided_on"] = pd.NaT
    officers = force.officers.copy()
    officers.loc[officers.index % 20 == 3, "joined_on"] = pd.NaT
    notices = pd.concat([force.notices, added], ignore_index=True)
    return ForceData(officers, notices, outcomes)


@pytest.fixture(scope="module")
def edge_force() -> ForceData:
    """Every knowledge-date edge at 2020-07-01: a notice received on the date, one decided on
    it, one decided the day before, an undecided one, same-day notices, an officer joining on
    the date and one who left the day before it."""
    return make_force(
        officers=[
            {"officer_id": "A", "joined_on": "2015-01-01", "unit": "U1"},
            {"officer_id": "B", "joined_on": "2015-01-01", "unit": "U1"},
            {"officer_id": "C", "joined_on": "2020-07-01", "unit": "U1"},
            {"officer_id": "D", "joined_on": "2012-01-01", "left_on": "2020-06-30", "unit": "U2"},
            {"officer_id": "E", "joined_on": "2019-01-01", "unit": "U2"},
        ],
        notices=[
            {"notice_id": "a1", "officer_id": "A", "received_on": "2019-01-10"},
            {"notice_id": "a2", "officer_id": "A", "received_on": "2019-03-01"},
            {"notice_id": "a3", "officer_id": "A", "received_on": "2020-07-01"},
            {"notice_id": "a4", "officer_id": "A", "received_on": "2017-07-02"},
            {
                "notice_id": "b1",
                "officer_id": "B",
                "received_on": "2020-03-01",
                "category": "sexual_misconduct",
                "source": "internal",
                "severity": "gross_misconduct",
            },
            {"notice_id": "b2", "officer_id": "B", "received_on": "2020-03-01"},
            {"notice_id": "d1", "officer_id": "D", "received_on": "2020-01-01"},
            {"notice_id": "e1", "officer_id": "E", "received_on": "2020-06-30"},
        ],
        outcomes=[
            {
                "notice_id": "a1",
                "decided_on": "2020-06-30",
                "finding": "proven",
                "sanction": "written_warning",
            },
            {
                "notice_id": "a2",
                "decided_on": "2020-07-01",
                "finding": "proven",
                "sanction": "dismissal",
            },
            {"notice_id": "a4", "decided_on": "2018-01-01", "finding": "no_case_to_answer"},
            {
                "notice_id": "b2",
                "decided_on": "2020-05-01",
                "finding": "case_to_answer_not_proven",
            },
        ],
    )


EDGE_DATES = [dt.date(2020, 6, 30), dt.date(2020, 7, 1), dt.date(2020, 7, 2), dt.date(2021, 3, 1)]


def test_blocks_of_dates_change_nothing(force: ForceData) -> None:
    dates = as_of_dates(start=dt.date(2016, 1, 1), end=dt.date(2019, 12, 31), cadence="weekly")
    whole = build_features(force, dates, config=CONFIG, block_dates=len(dates))
    assert len(whole) > 250_000
    for block_dates in (1, 7, 100):
        pd.testing.assert_frame_equal(
            build_features(force, dates, config=CONFIG, block_dates=block_dates), whole
        )


def test_naive_reference_agrees_on_every_knowledge_date_edge(edge_force: ForceData) -> None:
    ewp = build_features(edge_force, EDGE_DATES, config=CONFIG)
    naive = naive_features(edge_force, EDGE_DATES, config=CONFIG)
    pd.testing.assert_frame_equal(naive, ewp)
    at_t = ewp.loc[ewp["as_of"] == pd.Timestamp("2020-07-01")].set_index("officer_id")
    # The edges the three formulations must agree on, worked out by hand.
    assert sorted(at_t.index) == ["A", "B", "E"]  # C joins on t, D left the day before
    assert at_t.loc["A", "notices_all"] == 3  # a3 arrives on t: not yet known
    assert at_t.loc["A", "findings_proven_all"] == 1  # a1 decided the day before; a2 on t
    assert at_t.loc["A", "worst_sanction_level"] == 3  # written warning; dismissal not yet known
    assert at_t.loc["A", "open_cases"] == 1  # a2 (decided on t)
    assert at_t.loc["A", "findings_no_case_all"] == 1  # a4
    assert at_t.loc["B", "notices_while_open_all"] == 0  # b1 and b2 on the same day
    assert at_t.loc["B", "notices_sexual_discrimination_365d"] == 1
    assert at_t.loc["E", "days_since_last_notice"] == 1


def test_naive_reference_agrees_on_a_synthetic_force(force: ForceData) -> None:
    dates = as_of_dates(start=dt.date(2015, 6, 1), end=dt.date(2020, 12, 31), cadence="monthly")
    dates = dates[::8]
    ewp = build_features(force, dates, config=CONFIG)
    nonzero = (ewp[["notices_all", "open_cases", "notices_while_open_all"]] > 0).sum()
    assert (nonzero > [1000, 300, 50]).all()  # enough history for the comparison to matter
    pd.testing.assert_frame_equal(naive_features(force, dates, config=CONFIG), ewp)


def test_naive_reference_agrees_on_cases_and_unknown_dates(case_force: ForceData) -> None:
    dates = as_of_dates(start=dt.date(2015, 6, 1), end=dt.date(2020, 12, 31), cadence="monthly")
    rows = {}
    for config in (CONFIG, PRESUMED):
        ewp = build_features(case_force, dates[::8], config=config)
        rows[config.presume_left_after_years] = len(ewp)
        # The comparison matters: cases differ from notices, tenure is sometimes unknown.
        assert (ewp["cases_1095d"] < ewp["notices_1095d"]).sum() > 100
        assert (ewp["open_cases"] < ewp["open_notices"]).sum() > 30
        assert (ewp["cases_violence_365d"] < ewp["notices_violence_365d"]).sum() > 5
        assert (ewp["cases_proven_all"] < ewp["findings_proven_all"]).sum() > 10
        assert ewp["tenure_days"].isna().sum() > 100
        pd.testing.assert_frame_equal(naive_features(case_force, dates[::8], config=config), ewp)
    assert rows[3] < rows[None]  # officers quiet for 3 years are presumed gone


def test_naive_reference_agrees_on_the_optional_streams(stream_force: ForceData) -> None:
    dates = as_of_dates(start=dt.date(2015, 6, 1), end=dt.date(2020, 12, 31), cadence="monthly")
    ewp = build_features(stream_force, dates[::8], config=STREAMS)
    # The comparison matters: units move, activity counts and shares vary.
    roster = build_features(stream_force, dates[::8], config=CONFIG)
    assert (ewp["unit"] != roster["unit"]).sum() > 1000
    assert (ewp["use_of_force_365d"] > 0).sum() > 1000
    assert (ewp["use_of_force_unit_share_below_365d"] > 0).sum() > 1000
    assert (ewp["commendation_weapon_all"] > 0).sum() > 100
    pd.testing.assert_frame_equal(naive_features(stream_force, dates[::8], config=STREAMS), ewp)
    pd.testing.assert_frame_equal(
        build_features(stream_force, dates[::8], config=STREAMS, block_dates=1), ewp
    )


@pytest.mark.skipif(
    not duckdb_available(), reason="duckdb not installed: pip install -e '.[bench]'"
)
def test_sql_formulation_agrees_on_the_optional_streams(
    stream_force: ForceData, tmp_path: Path
) -> None:
    dates = as_of_dates(start=dt.date(2015, 6, 1), end=dt.date(2020, 12, 31), cadence="monthly")
    ewp = build_features(stream_force, dates[::6], config=STREAMS)
    sql = sql_features(stream_force, dates[::6], config=STREAMS, temp=tmp_path)
    pd.testing.assert_frame_equal(sql, ewp)


@pytest.mark.skipif(
    not duckdb_available(), reason="duckdb not installed: pip install -e '.[bench]'"
)
def test_sql_formulation_agrees(
    force: ForceData, case_force: ForceData, edge_force: ForceData, tmp_path: Path
) -> None:
    dates = as_of_dates(start=dt.date(2015, 6, 1), end=dt.date(2020, 12, 31), cadence="monthly")
    cases = (
        (case_force, dates[::6], CONFIG),
        (case_force, dates[::6], PRESUMED),
        (edge_force, EDGE_DATES, PRESUMED),
    )
    for data, at, config in ((force, dates[::6], CONFIG), (edge_force, EDGE_DATES, CONFIG), *cases):
        ewp = build_features(data, at, config=config)
        pd.testing.assert_frame_equal(sql_features(data, at, config=config, temp=tmp_path), ewp)


def test_the_matrix_on_demand_reads_what_build_features_returns(force: ForceData) -> None:
    dates = as_of_dates(start=dt.date(2016, 1, 1), end=dt.date(2017, 12, 31), cadence="monthly")
    # Blocks of 5 dates: a read of 4 dates from the sixth on spans two blocks.
    on_demand = FeatureMatrix(IndexedForce.build(force, config=CONFIG), block_dates=5)
    matrix = build_features(force, dates, config=CONFIG)
    pd.testing.assert_frame_equal(on_demand.read(dates), matrix)
    some = dates[5:9]
    expected = matrix.loc[matrix["as_of"].isin(pd.to_datetime(some))].reset_index(drop=True)
    pd.testing.assert_frame_equal(on_demand.read(some), expected)
    pd.testing.assert_frame_equal(on_demand.read(list(reversed(some)) + some), expected)
    rows = np.array([0, 3, len(expected) // 2, len(expected) - 1])
    pd.testing.assert_frame_equal(
        on_demand.read(some, columns=["officer_id", "notices_all"], rows=rows),
        expected.loc[rows, ["officer_id", "notices_all"]].reset_index(drop=True),
    )
    ids = on_demand.read(some, columns=["as_of", "officer_id", "unit"], categorical_ids=True)
    assert isinstance(ids["officer_id"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(
        ids.astype({"officer_id": "str", "unit": "str"}),
        expected[["as_of", "officer_id", "unit"]],
    )
    empty = on_demand.read([], columns=["officer_id", "notices_all"])
    assert empty.empty and list(empty.columns) == ["officer_id", "notices_all"]
    assert on_demand.read(some, rows=np.array([], dtype=np.int64)).columns.equals(matrix.columns)


def test_labelled_dates_build_each_date_as_the_whole_block_reads_it(force: ForceData) -> None:
    """A test block held as identifiers (``LabelledDates``) gives, date by date, exactly the
    rows and labels of labelling and reading the whole block, for a whole date or some of its
    officers, and any of its columns for the whole block. The horizons of the last two dates
    end after ``observed_until``, so those dates have no labelled row and are left out."""
    dates = as_of_dates(start=dt.date(2018, 1, 1), end=dt.date(2019, 3, 31), cadence="monthly")
    matrix = FeatureMatrix(IndexedForce.build(force, config=CONFIG), block_dates=4)
    label, until = LabelConfig(), dt.date(2020, 1, 1)
    observed, labels = observed_labels(force, matrix, dates, label=label, observed_until=until)
    whole = matrix.read(dates, rows=observed)
    held = LabelledDates.read(force, matrix, dates, label=label, observed_until=until)
    np.testing.assert_array_equal(held.labels, labels)
    pd.testing.assert_frame_equal(held.ids, whole[["officer_id", "unit", "as_of"]])
    columns = ["officer_id", "as_of", "notices_365d"]
    pd.testing.assert_frame_equal(held.columns(columns), whole[columns])
    as_of = held.ids["as_of"].to_numpy()
    assert len(np.unique(as_of)) == len(dates) - 2
    for date in np.unique(as_of):
        on_day = np.flatnonzero(as_of == date)
        for positions in (on_day, on_day[1::3]):
            pd.testing.assert_frame_equal(
                held.rows(positions), whole.iloc[positions].reset_index(drop=True)
            )


def test_labels_a_block_of_dates_at_a_time_are_the_labels_of_the_whole_window(
    force: ForceData,
) -> None:
    """A training window labelled a block of dates at a time (``observed_label_blocks``, as
    ``training_sample`` does) gives the positions and labels of labelling it whole with
    ``build_labels``: 15 monthly dates in blocks of 4 (the last block 3 dates), the last two
    dates' horizons ending after ``observed_until`` (no labelled row there)."""
    dates = as_of_dates(start=dt.date(2018, 1, 1), end=dt.date(2019, 3, 31), cadence="monthly")
    matrix = FeatureMatrix(IndexedForce.build(force, config=CONFIG), block_dates=4)
    label, until = LabelConfig(), dt.date(2020, 1, 1)
    whole = build_labels(
        force,
        matrix.read(dates, columns=["officer_id", "as_of"]),
        label=label,
        observed_until=until,
    ).to_numpy()
    blocks = list(observed_label_blocks(force, matrix, dates, label=label, observed_until=until))
    assert len(blocks) == 4
    positions = np.concatenate([observed for observed, _ in blocks])
    np.testing.assert_array_equal(positions, np.flatnonzero(~np.isnan(whole)))
    np.testing.assert_array_equal(np.concatenate([y for _, y in blocks]), whole[positions])
    # The last block (January to March 2019) is labelled on January only.
    assert len(blocks[-1][0]) == len(matrix.read([dates[12]], columns=["as_of"]))
    assert whole[positions].sum() > 0


def test_probabilities_from_one_pass_equal_predict_proba(force: ForceData) -> None:
    dates = [dt.date(2017, 1, 1), dt.date(2018, 1, 1)]
    matrix = build_features(force, dates, config=CONFIG)
    x = matrix[feature_columns(CONFIG)]
    y = (matrix["notices_365d"] > 0).to_numpy(dtype="int64")  # any learnable target will do
    yardstick = HistGBYardstick(max_iter=20).fit(x, y)
    scores, probabilities = scores_and_probabilities(yardstick, x)
    np.testing.assert_array_equal(scores, yardstick.decision_function(x))
    np.testing.assert_array_equal(probabilities, yardstick.predict_proba(x)[:, 1])
    scorecard = ScorecardClassifier().fit(x, y)
    scores, probabilities = scores_and_probabilities(scorecard, x)
    np.testing.assert_array_equal(scores, scorecard.decision_function(x))
    np.testing.assert_array_equal(probabilities, scorecard.predict_proba(x)[:, 1])
    ranker = CountRanker(feature="notices_365d").fit(x, y)  # its probability is isotonic
    _, ranked = scores_and_probabilities(ranker, x)
    np.testing.assert_array_equal(ranked, ranker.predict_proba(x)[:, 1])


def test_runtime_config_refuses_bad_values(tmp_path: Path) -> None:
    assert Config().runtime == RuntimeConfig(task_runner="threads", dask_address=None)
    bad = tmp_path / "bad.yaml"
    bad.write_text("runtime: {task_runner: ray}\n")
    with pytest.raises(ConfigError, match=r"runtime\.task_runner: Input should be 'threads' or"):
        load_config(bad)
    bad.write_text("runtime: {dask_address: 'tcp://scheduler:8786'}\n")
    with pytest.raises(ConfigError, match="set task_runner: dask"):
        load_config(bad)
