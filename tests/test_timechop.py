"""Tests for ewp.core.timechop: exact as-of date lists, leak-free splits, clear errors."""

from __future__ import annotations

import datetime as dt
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ewp.core.timechop import Split, SplitError, as_of_dates, make_splits

MONDAY = 0


def _is_cadence_date(day: date, cadence: str) -> bool:
    return day.day == 1 if cadence == "monthly" else day.weekday() == MONDAY


def _brute_cadence_dates(start: date, end: date, cadence: str) -> list[date]:
    """Independent oracle: walk every day in [start, end] and keep the cadence dates."""
    days = (start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    return [day for day in days if _is_cadence_date(day, cadence)]


def _next_cadence_date(day: date, cadence: str) -> date:
    following = day + dt.timedelta(days=1)
    while not _is_cadence_date(following, cadence):
        following += dt.timedelta(days=1)
    return following


def _previous_cadence_date(day: date, cadence: str) -> date:
    preceding = day - dt.timedelta(days=1)
    while not _is_cadence_date(preceding, cadence):
        preceding -= dt.timedelta(days=1)
    return preceding


# --- as_of_dates: exact lists ---------------------------------------------------------------


def test_monthly_range_includes_both_ends():
    assert as_of_dates(start=date(2015, 1, 1), end=date(2015, 4, 1), cadence="monthly") == [
        date(2015, 1, 1),
        date(2015, 2, 1),
        date(2015, 3, 1),
        date(2015, 4, 1),
    ]


def test_monthly_month_end_start_rounds_up_to_next_first():
    assert as_of_dates(start=date(2015, 1, 31), end=date(2015, 5, 15), cadence="monthly") == [
        date(2015, 2, 1),
        date(2015, 3, 1),
        date(2015, 4, 1),
        date(2015, 5, 1),
    ]


def test_monthly_crosses_year_end():
    assert as_of_dates(start=date(2014, 11, 30), end=date(2015, 2, 1), cadence="monthly") == [
        date(2014, 12, 1),
        date(2015, 1, 1),
        date(2015, 2, 1),
    ]


def test_monthly_leap_day_start_rounds_up_to_march():
    assert as_of_dates(start=date(2016, 2, 29), end=date(2016, 4, 30), cadence="monthly") == [
        date(2016, 3, 1),
        date(2016, 4, 1),
    ]


def test_weekly_mondays_across_leap_day():
    # 2016-02-29 was a Monday.
    assert as_of_dates(start=date(2016, 2, 22), end=date(2016, 3, 14), cadence="weekly") == [
        date(2016, 2, 22),
        date(2016, 2, 29),
        date(2016, 3, 7),
        date(2016, 3, 14),
    ]


def test_weekly_sunday_start_rounds_up_to_monday():
    # 2015-01-04 was a Sunday.
    assert as_of_dates(start=date(2015, 1, 4), end=date(2015, 1, 19), cadence="weekly") == [
        date(2015, 1, 5),
        date(2015, 1, 12),
        date(2015, 1, 19),
    ]


def test_range_without_a_cadence_date_is_empty():
    assert as_of_dates(start=date(2015, 1, 2), end=date(2015, 1, 31), cadence="monthly") == []
    assert as_of_dates(start=date(2015, 1, 6), end=date(2015, 1, 11), cadence="weekly") == []


@settings(max_examples=200, deadline=None)
@given(
    start=st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31)),
    length=st.integers(min_value=0, max_value=800),
    cadence=st.sampled_from(["monthly", "weekly"]),
)
def test_as_of_dates_match_day_by_day_oracle(start: date, length: int, cadence: str):
    end = start + dt.timedelta(days=length)
    assert as_of_dates(start=start, end=end, cadence=cadence) == _brute_cadence_dates(
        start, end, cadence
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"start": date(2015, 2, 1), "end": date(2015, 1, 1), "cadence": "monthly"},
            r"end \(2015-01-01\) is before start \(2015-02-01\)",
        ),
        (
            {"start": date(2015, 1, 1), "end": date(2015, 2, 1), "cadence": "daily"},
            r"cadence must be one of \['monthly', 'weekly'\], got 'daily'",
        ),
        (
            {"start": dt.datetime(2015, 1, 1), "end": date(2015, 2, 1), "cadence": "monthly"},
            r"start must be a datetime.date",
        ),
    ],
)
def test_as_of_dates_errors(kwargs: dict, message: str):
    with pytest.raises(SplitError, match=message):
        as_of_dates(**kwargs)


# --- make_splits: exact lists -------------------------------------------------------------


def test_worked_example_from_module_docstring():
    # Last training date: 2015-01-01 - 365 days = 2014-01-01 (a 1st, so it is kept); its label
    # window [2014-01-01, 2015-01-01) ends exactly at the test date.
    # History: 2014-01-01 - 730 days = 2012-01-02 (2012 is a leap year), so the first
    # training date is 2012-02-01, not 2012-01-01.
    (split,) = make_splits(
        test_dates=[date(2015, 1, 1)],
        label_horizon_days=365,
        training_history_days=730,
        cadence="monthly",
        data_start=date(2010, 1, 1),
    )
    expected = (
        [date(2012, m, 1) for m in range(2, 13)]
        + [date(2013, m, 1) for m in range(1, 13)]
        + [date(2014, 1, 1)]
    )
    assert split == Split(
        test_as_of=date(2015, 1, 1),
        train_as_of=tuple(expected),
        findings_known_by=date(2015, 1, 1),
        test_block=(date(2015, 1, 1),),
    )
    assert len(split.train_as_of) == 24


def test_one_more_day_of_history_reaches_back_to_2012_01_01():
    (split,) = make_splits(
        test_dates=[date(2015, 1, 1)],
        label_horizon_days=365,
        training_history_days=731,
        cadence="monthly",
        data_start=date(2010, 1, 1),
    )
    assert split.train_as_of[0] == date(2012, 1, 1)
    assert split.train_as_of[-1] == date(2014, 1, 1)
    assert len(split.train_as_of) == 25


def test_data_start_cuts_history_short():
    (split,) = make_splits(
        test_dates=[date(2015, 1, 1)],
        label_horizon_days=365,
        training_history_days=730,
        cadence="monthly",
        data_start=date(2013, 6, 15),
    )
    assert split.train_as_of == tuple([date(2013, m, 1) for m in range(7, 13)] + [date(2014, 1, 1)])


def test_no_history_limit_uses_everything_from_data_start():
    splits = make_splits(
        test_dates=[date(2015, 1, 1), date(2015, 2, 1)],
        label_horizon_days=365,
        training_history_days=None,
        cadence="monthly",
        data_start=date(2013, 10, 1),
    )
    assert [s.test_as_of for s in splits] == [date(2015, 1, 1), date(2015, 2, 1)]
    assert [s.findings_known_by for s in splits] == [date(2015, 1, 1), date(2015, 2, 1)]
    assert splits[0].train_as_of == (
        date(2013, 10, 1),
        date(2013, 11, 1),
        date(2013, 12, 1),
        date(2014, 1, 1),
    )
    assert splits[1].train_as_of == (*splits[0].train_as_of, date(2014, 2, 1))


def test_leap_day_test_date():
    # 2016-02-29 - 365 days = 2015-03-01: its label window [2015-03-01, 2016-02-29) just fits.
    # One day earlier, 2016-02-28 - 365 days = 2015-02-28, so the last 1st is 2015-02-01.
    day_before, leap = make_splits(
        test_dates=[date(2016, 2, 28), date(2016, 2, 29)],
        label_horizon_days=365,
        training_history_days=59,
        cadence="monthly",
        data_start=date(2010, 1, 1),
    )
    # 2015-03-01 - 59 days = 2015-01-01.
    assert leap.train_as_of == (date(2015, 1, 1), date(2015, 2, 1), date(2015, 3, 1))
    # 2015-02-01 - 59 days = 2014-12-04, rounded up to 2015-01-01.
    assert day_before.train_as_of == (date(2015, 1, 1), date(2015, 2, 1))


def test_horizon_of_366_days_over_a_leap_year():
    # 2016-03-01 - 366 days = 2015-03-01: the label window [2015-03-01, 2016-03-01) includes
    # 2016-02-29 and ends exactly at the test date.
    (split,) = make_splits(
        test_dates=[date(2016, 3, 1)],
        label_horizon_days=366,
        training_history_days=31,
        cadence="monthly",
        data_start=date(2010, 1, 1),
    )
    # 2015-03-01 - 31 days = 2015-01-29, rounded up to 2015-02-01.
    assert split.train_as_of == (date(2015, 2, 1), date(2015, 3, 1))


def test_weekly_split_on_a_monday():
    # 2015-01-05 is a Monday; 2015-01-05 - 28 days = 2014-12-08 (a Monday);
    # 2014-12-08 - 21 days = 2014-11-17.
    (split,) = make_splits(
        test_dates=[date(2015, 1, 5)],
        label_horizon_days=28,
        training_history_days=21,
        cadence="weekly",
        data_start=date(2014, 1, 1),
    )
    assert split.train_as_of == (
        date(2014, 11, 17),
        date(2014, 11, 24),
        date(2014, 12, 1),
        date(2014, 12, 8),
    )


def test_weekly_split_midweek_test_date():
    # 2015-01-07 is a Wednesday; - 28 days = Wednesday 2014-12-10, whose Monday is 2014-12-08;
    # 2014-12-08 - 14 days = 2014-11-24.
    (split,) = make_splits(
        test_dates=[date(2015, 1, 7)],
        label_horizon_days=28,
        training_history_days=14,
        cadence="weekly",
        data_start=date(2014, 1, 1),
    )
    assert split.train_as_of == (date(2014, 11, 24), date(2014, 12, 1), date(2014, 12, 8))


# --- make_splits: no label window reaches the test date -----------------------------------


@settings(max_examples=300, deadline=None)
@given(
    data_start=st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31)),
    offset_days=st.integers(min_value=0, max_value=3000),
    horizon=st.integers(min_value=1, max_value=800),
    history=st.none() | st.integers(min_value=31, max_value=1500),
    cadence=st.sampled_from(["monthly", "weekly"]),
)
def test_splits_are_leak_free_and_maximal(
    data_start: date, offset_days: int, horizon: int, history: int | None, cadence: str
):
    test = data_start + dt.timedelta(days=offset_days)
    label_horizon = dt.timedelta(days=horizon)
    kwargs = {
        "test_dates": [test],
        "label_horizon_days": horizon,
        "training_history_days": history,
        "cadence": cadence,
        "data_start": data_start,
    }
    if not _brute_cadence_dates(data_start, test - label_horizon, cadence):
        with pytest.raises(SplitError, match="no training as-of date fits"):
            make_splits(**kwargs)
        return

    (split,) = make_splits(**kwargs)
    train = split.train_as_of
    assert split.test_as_of == split.findings_known_by == test
    # Consecutive cadence dates, ascending, with no gaps.
    assert list(train) == _brute_cadence_dates(train[0], train[-1], cadence)
    # No label window reaches past the test date...
    assert all(t + label_horizon <= test for t in train)
    # ...and the next cadence date would: the last training date is as late as possible.
    assert _next_cadence_date(train[-1], cadence) + label_horizon > test
    # History starts at data_start or the history limit, as early as either allows.
    assert train[0] >= data_start
    previous = _previous_cadence_date(train[0], cadence)
    if history is None:
        assert previous < data_start
    else:
        assert (train[-1] - train[0]).days <= history
        assert previous < data_start or (train[-1] - previous).days > history


# --- make_splits: errors name the parameter -----------------------------------------------

VALID = {
    "test_dates": [date(2015, 1, 1)],
    "label_horizon_days": 365,
    "training_history_days": 730,
    "cadence": "monthly",
    "data_start": date(2010, 1, 1),
}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"label_horizon_days": 0},
            r"label_horizon_days must be a positive whole number of days, got 0",
        ),
        ({"label_horizon_days": -30}, r"label_horizon_days .* got -30"),
        ({"label_horizon_days": 365.5}, r"label_horizon_days .* got 365.5"),
        (
            {"training_history_days": 30},
            r"training_history_days must be a whole number of days no shorter than one monthly "
            r"step \(31 days\), or None for all history; got 30",
        ),
        (
            {"training_history_days": 6, "cadence": "weekly"},
            r"training_history_days .* weekly step \(7 days\)",
        ),
        ({"test_dates": []}, r"test_dates is empty"),
        (
            {"test_dates": [date(2015, 2, 1), date(2015, 1, 1)]},
            r"test_dates must be strictly increasing: 2015-01-01 follows 2015-02-01",
        ),
        (
            {"test_dates": [date(2015, 1, 1), date(2015, 1, 1)]},
            r"test_dates must be strictly increasing",
        ),
        ({"test_dates": ["2015-01-01"]}, r"test_dates must be a datetime.date"),
        ({"data_start": dt.datetime(2010, 1, 1)}, r"data_start must be a datetime.date"),
        ({"cadence": "quarterly"}, r"cadence must be one of"),
        (
            # Last training date 2014-01-01, but the first 1st on or after data_start is
            # 2014-02-01.
            {"data_start": date(2014, 1, 2)},
            r"no training as-of date fits test date 2015-01-01: with label_horizon_days=365 "
            r"the last monthly training date is 2014-01-01, but data_start is 2014-01-02 "
            r"\(first monthly date 2014-02-01\); use a later test date, a shorter "
            r"label_horizon_days or an earlier data_start",
        ),
        (
            {"test_dates": [date(2010, 6, 1)]},
            r"no training as-of date fits test date 2010-06-01",
        ),
    ],
)
def test_make_splits_errors(override: dict, message: str):
    with pytest.raises(SplitError, match=message):
        make_splits(**{**VALID, **override})


def test_split_error_is_a_value_error():
    assert issubclass(SplitError, ValueError)


def test_test_blocks_follow_the_docstring_example() -> None:
    (split,) = make_splits(
        test_dates=[date(2015, 1, 1)],
        label_horizon_days=365,
        training_history_days=730,
        cadence="monthly",
        data_start=date(2010, 1, 1),
        test_block_days=365,
    )
    assert split.test_block == tuple(date(2015, m, 1) for m in range(1, 13))
    assert split.train_as_of[-1] == date(2014, 1, 1)


def test_test_blocks_stop_at_the_next_test_date_and_default_to_the_test_date() -> None:
    splits = make_splits(
        test_dates=[date(2015, 1, 1), date(2015, 4, 1)],
        label_horizon_days=365,
        training_history_days=None,
        cadence="monthly",
        data_start=date(2010, 1, 1),
        test_block_days=365,
    )
    assert splits[0].test_block == (date(2015, 1, 1), date(2015, 2, 1), date(2015, 3, 1))
    assert splits[1].test_block[-1] == date(2016, 3, 1)  # before 2015-04-01 + 365 days
    plain = make_splits(
        test_dates=[date(2015, 1, 1)],
        label_horizon_days=365,
        training_history_days=None,
        cadence="weekly",
        data_start=date(2010, 1, 1),
    )
    assert plain[0].test_block == (date(2015, 1, 1),)
    with pytest.raises(SplitError, match="test_block_days"):
        make_splits(
            test_dates=[date(2015, 1, 1)],
            label_horizon_days=365,
            training_history_days=None,
            cadence="monthly",
            data_start=date(2010, 1, 1),
            test_block_days=0,
        )
