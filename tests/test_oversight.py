"""The oversight figures (ewp.models.oversight) on small forces worked out by hand, and the report
(ewp.reports.oversight): censoring, as-of knowledge, pile-ups, outcomes, disproportionality with
suppression, escaping and no external asset."""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import pandas as pd
import pytest

from ewp.core.config import FairnessConfig
from ewp.core.contract import ForceData
from ewp.models.oversight import (
    DECIDED,
    OPEN,
    UNDATED,
    allegations_as_of,
    backlog_by_age,
    disparity_findings,
    disproportionality,
    duration_summary,
    durations_by,
    finding_shares,
    kaplan_meier,
    officer_years,
    oversight,
    pileup_list,
    pileups,
    quarterly_trend,
    repeat_officer_outcomes,
)
from ewp.reports.oversight import render_oversight_report
from tests.builders import make_force

FAST = FairnessConfig(bootstrap_samples=200, reference_groups={"ethnicity": "White"})


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _after(start: str, days: int) -> str:
    return (_day(start) + dt.timedelta(days=days)).isoformat()


# --- time to decide ---------------------------------------------------------------------------
def test_kaplan_meier_worked_example() -> None:
    days = [100, 500, 800, 900, 300, 731]
    decided = [True, True, True, True, False, False]
    curve = kaplan_meier(days, decided)
    assert curve["days"].tolist() == [100, 300, 500, 731, 800, 900]
    assert curve["at_risk"].tolist() == [6, 5, 4, 3, 2, 1]
    assert curve["decided"].tolist() == [1, 0, 1, 0, 1, 1]
    assert curve["censored"].tolist() == [0, 1, 0, 1, 0, 0]
    assert curve["still_open"].tolist() == pytest.approx([5 / 6, 5 / 6, 0.625, 0.625, 0.3125, 0])
    summary = duration_summary(days, decided)
    assert summary["median_days"] == 800 and summary["p90_days"] == 900
    assert summary["mean_days"] == pytest.approx(100 + 400 * 5 / 6 + 300 * 0.625 + 100 * 0.3125)
    assert summary["mean_restricted"] is False
    assert summary["over_one_year"] == pytest.approx(5 / 6)
    # The case open for 731 days counts towards "over two years"; the decided ones alone
    # would give 2 of 4 (0.5), and counting open cases as decided today 3 of 6.
    assert summary["over_two_years"] == pytest.approx(0.625)
    assert (summary["notices"], summary["decided"], summary["open"]) == (6, 4, 2)


def _one_open_case(as_of: str) -> tuple[ForceData, dt.date]:
    """Four notices received 2018-01-01: three decided after 100, 200 and 300 days, one open."""
    notices = [
        {"notice_id": f"N{i}", "officer_id": f"O{i}", "received_on": "2018-01-01"} for i in range(4)
    ]
    outcomes = [
        {"notice_id": f"N{i}", "decided_on": _after("2018-01-01", d), "finding": "proven"}
        for i, d in enumerate([100, 200, 300])
    ]
    officers = [{"officer_id": f"O{i}", "joined_on": "2010-01-01"} for i in range(4)]
    return make_force(officers, notices, outcomes), _day(as_of)


def test_a_case_still_open_counts_over_two_years_once_it_passes_two_years() -> None:
    # 2018-01-01 + 731 days = 2020-01-02: the open case has been open 731 days.
    data, as_of = _one_open_case("2020-01-02")
    frame = allegations_as_of(data, as_of=as_of, extracted_on=as_of)
    assert frame["status"].tolist() == [DECIDED, DECIDED, DECIDED, OPEN]
    assert frame["days"].tolist() == [100, 200, 300, 731]
    overall = durations_by(frame, None).iloc[0]
    assert overall["over_two_years"] == pytest.approx(0.25)
    assert overall["over_one_year"] == pytest.approx(0.25)
    assert overall["median_days"] == 200  # S falls to 0.5 there
    # The longest case is open: the mean is restricted to its 731 days, and says so.
    assert bool(overall["mean_restricted"]) and overall["restricted_to_days"] == 731
    assert overall["mean_days"] == pytest.approx(100 + 100 * 0.75 + 100 * 0.5 + 431 * 0.25)
    # 700 days open: whether it will take over two years is not known yet.
    earlier, day = _one_open_case("2019-12-02")
    open_700 = durations_by(allegations_as_of(earlier, as_of=day, extracted_on=day), None)
    assert math.isnan(open_700.iloc[0]["over_two_years"])
    assert open_700.iloc[0]["over_one_year"] == pytest.approx(0.25)


def test_only_what_was_known_before_the_date_counts() -> None:
    officers = [{"officer_id": "A", "joined_on": "2010-01-01"}]
    notices = [
        {"notice_id": "N1", "officer_id": "A", "received_on": "2020-01-10"},
        {"notice_id": "N2", "officer_id": "A", "received_on": "2020-03-10"},  # on the date
    ]
    outcomes = [{"notice_id": "N1", "decided_on": "2020-03-10", "finding": "proven"}]
    data = make_force(officers, notices, outcomes)
    on_the_day = allegations_as_of(data, as_of=_day("2020-03-10"), extracted_on=_day("2021-01-01"))
    assert on_the_day["notice_id"].tolist() == ["N1"]
    assert on_the_day["status"].tolist() == [OPEN] and on_the_day["days"].tolist() == [60]
    assert on_the_day["finding"].isna().all()
    next_day = allegations_as_of(data, as_of=_day("2020-03-11"), extracted_on=_day("2021-01-01"))
    assert next_day["notice_id"].tolist() == ["N1", "N2"]
    assert next_day["status"].tolist() == [DECIDED, OPEN]
    assert next_day["days"].tolist() == [60, 1] and next_day["finding"].iloc[0] == "proven"


def test_an_undated_finding_is_known_from_the_export_date_with_no_duration() -> None:
    officers = [{"officer_id": "A", "joined_on": "2010-01-01"}]
    notices = [{"notice_id": "N1", "officer_id": "A", "received_on": "2020-01-10"}]
    outcomes = [{"notice_id": "N1", "decided_on": None, "finding": "no_case_to_answer"}]
    data = make_force(officers, notices, outcomes)
    before = allegations_as_of(data, as_of=_day("2020-06-01"), extracted_on=_day("2020-07-01"))
    assert before["status"].tolist() == [OPEN] and before["finding"].isna().all()
    at_export = allegations_as_of(data, as_of=_day("2020-07-01"), extracted_on=_day("2020-07-01"))
    assert at_export["status"].tolist() == [UNDATED]
    assert math.isnan(at_export["days"].iloc[0])
    row = durations_by(at_export, None).iloc[0]
    assert (row["notices"], row["undated"]) == (0, 1)
    assert finding_shares(at_export, None).iloc[0]["no_case_to_answer"] == 1.0
    assert backlog_by_age(at_export)["notices"].sum() == 0


def test_quarterly_trend_counts_the_backlog_at_each_quarter_end() -> None:
    officers = [{"officer_id": "A", "joined_on": "2010-01-01"}]
    notices = [
        {"notice_id": "N1", "officer_id": "A", "received_on": "2020-02-01"},
        {"notice_id": "N2", "officer_id": "A", "received_on": "2020-05-01"},
    ]
    outcomes = [{"notice_id": "N1", "decided_on": "2020-05-01", "finding": "withdrawn"}]
    data = make_force(officers, notices, outcomes)
    as_of = _day("2020-08-15")
    trend = quarterly_trend(allegations_as_of(data, as_of=as_of, extracted_on=as_of), as_of=as_of)
    assert trend["quarter"].tolist() == ["2020Q1", "2020Q2"]
    assert trend["received"].tolist() == [1, 1]
    assert trend["open"].tolist() == [0, 1]
    # End of Q1: N1 open; end of Q2: N1 decided on 2020-05-01, N2 open.
    assert trend["open_at_quarter_end"].tolist() == [1, 1]


# --- backlog and pile-ups ----------------------------------------------------------------------
def test_backlog_by_age_bands() -> None:
    as_of = "2024-01-01"
    ages = [10, 100, 200, 400, 800, 2000, 2001]
    notices = [
        {
            "notice_id": f"N{i}",
            "case_id": "C" if i >= 5 else f"C{i}",
            "officer_id": "A",
            "received_on": _after(as_of, -age),
            "source": "internal" if i == 0 else "public",
        }
        for i, age in enumerate(ages)
    ]
    data = make_force([{"officer_id": "A", "joined_on": "2000-01-01"}], notices)
    frame = allegations_as_of(data, as_of=_day(as_of), extracted_on=_day(as_of))
    backlog = backlog_by_age(frame)
    assert backlog["notices"].tolist() == [1, 1, 1, 1, 1, 2]
    assert backlog["cases"].tolist() == [1, 1, 1, 1, 1, 1]
    assert backlog["internal"].tolist() == [1, 0, 0, 0, 0, 0]
    assert backlog["share"].tolist() == pytest.approx([1 / 7] * 5 + [2 / 7])


def test_pileups_worked_example() -> None:
    notices = [
        {"notice_id": "1", "case_id": "C1", "officer_id": "A", "received_on": "2020-01-01"},
        # Two notices of one case count as one case.
        {"notice_id": "2a", "case_id": "C2", "officer_id": "A", "received_on": "2020-03-01"},
        {"notice_id": "2b", "case_id": "C2", "officer_id": "A", "received_on": "2020-03-01"},
        {"notice_id": "3", "case_id": "C3", "officer_id": "A", "received_on": "2020-05-01"},
        {"notice_id": "4", "case_id": "C4", "officer_id": "A", "received_on": "2021-02-01"},
        # Officer B: a case decided on the day the next arrives is no longer open then.
        {"notice_id": "5", "case_id": "C5", "officer_id": "B", "received_on": "2020-01-01"},
        {"notice_id": "6", "case_id": "C6", "officer_id": "B", "received_on": "2020-02-01"},
    ]
    outcomes = [
        {"notice_id": "1", "decided_on": "2021-01-01", "finding": "proven"},
        {"notice_id": "2a", "decided_on": "2020-04-01", "finding": "withdrawn"},
        {"notice_id": "2b", "decided_on": "2020-06-01", "finding": "withdrawn"},
        {"notice_id": "5", "decided_on": "2020-02-01", "finding": "withdrawn"},
        {"notice_id": "6", "decided_on": "2020-03-01", "finding": "withdrawn"},
    ]
    officers = [{"officer_id": o, "joined_on": "2010-01-01"} for o in "AB"]
    as_of = _day("2021-06-01")
    frame = allegations_as_of(
        make_force(officers, notices, outcomes), as_of=as_of, extracted_on=as_of
    )
    table = pileups(frame, as_of=as_of).set_index("officer_id")
    assert table.loc["A"].to_dict() == {
        "notices": 5,
        "cases": 4,
        "open_now": 2,
        "peak_open": 3,
        "arrived_while_open": 3,
        "most_before_decided": 2,
    }
    assert table.loc["B"].to_dict() == {
        "notices": 2,
        "cases": 2,
        "open_now": 0,
        "peak_open": 1,
        "arrived_while_open": 0,
        "most_before_decided": 0,
    }
    assert table.index.tolist() == ["A", "B"]  # most piled up first
    assert pileup_list(table.reset_index())["officer_id"].tolist() == ["A"]  # peak_open 3


# --- outcomes ----------------------------------------------------------------------------------
def test_finding_shares_and_repeat_officers() -> None:
    officers = [{"officer_id": o, "joined_on": "2010-01-01"} for o in "ABCDE"]
    officers.append({"officer_id": "F", "joined_on": "2010-01-01", "left_on": "2015-01-01"})
    plan = {"A": 6, "B": 3, "C": 1}  # D and E serve with no notice; F left before any notice
    notices, outcomes = [], []
    for officer, n in plan.items():
        for i in range(n):
            nid = f"{officer}{i}"
            notices.append(
                {"notice_id": nid, "officer_id": officer, "received_on": f"2020-0{i + 1}-01",
                 "source": "internal" if officer == "B" else "public"}
            )  # fmt: skip
            outcomes.append({"notice_id": nid, "decided_on": "2020-12-01",
                             "finding": "no_case_to_answer", "sanction": "none"})  # fmt: skip
    outcomes[0] |= {"finding": "proven", "sanction": "dismissal"}  # A's first
    outcomes[6] |= {"finding": "proven", "sanction": "reflective_practice"}  # B's first
    outcomes[7] |= {"finding": "case_to_answer_not_proven"}  # B's second
    outcomes[9] |= {"finding": "withdrawn"}  # C's
    data = make_force(officers, notices, outcomes)
    as_of = _day("2021-01-01")
    frame = allegations_as_of(data, as_of=as_of, extracted_on=as_of)
    shares = finding_shares(frame, "source").set_index("group")
    assert shares.loc["internal"].to_dict() == pytest.approx(
        {"decided": 3, "withdrawn": 0, "no_case_to_answer": 1 / 3, "case_to_answer": 2 / 3,
         "proven": 1 / 3}
    )  # fmt: skip
    assert shares.loc["public"]["no_case_to_answer"] == pytest.approx(5 / 7)
    repeat = repeat_officer_outcomes(frame, data.officers, as_of=as_of).set_index("group")
    assert repeat["officers"].to_dict() == {
        "1 notice": 1,
        "2 or more notices": 2,
        "3–5 notices": 1,
        "6 or more notices": 1,
        "whole force": 5,  # F left before the first notice
    }
    # B's proven notice ended in reflective practice: proven, not sanctioned.
    assert repeat.loc["2 or more notices", "proven"] == 2
    assert repeat.loc["2 or more notices", "sanctioned"] == 1
    assert repeat.loc["2 or more notices", "dismissed_share"] == 0.5
    assert repeat.loc["whole force", "dismissed_share"] == pytest.approx(1 / 5)


# --- disproportionality ------------------------------------------------------------------------
def _disparity_force() -> ForceData:
    """40 White and 40 Black officers and 5 Asian, serving 2020–2021. Public complaints: one per
    White officer (half proven), two per Black officer (4 of 80 proven), one per Asian officer.
    Internal: one per White officer and two per Black officer, half of each proven."""
    officers, notices, outcomes = [], [], []
    groups = [("W", "White", 40, 1, 20), ("B", "Black", 40, 2, 4), ("A", "Asian", 5, 1, 0)]
    for prefix, ethnicity, size, per_officer, public_proven in groups:
        proven_left = {"public": public_proven, "internal": size * per_officer // 2}
        for i in range(size):
            officer = f"{prefix}{i:02d}"
            officers.append({"officer_id": officer, "joined_on": "2010-01-01",
                             "ethnicity": ethnicity})  # fmt: skip
            for source in ("public", "internal"):
                if ethnicity == "Asian" and source == "internal":
                    continue
                for k in range(per_officer):
                    nid = f"{officer}-{source}-{k}"
                    notices.append({"notice_id": nid, "officer_id": officer,
                                    "received_on": "2020-01-01", "source": source})  # fmt: skip
                    proven = proven_left[source] > 0
                    proven_left[source] -= proven
                    finding = "proven" if proven else "no_case_to_answer"
                    outcomes.append(
                        {"notice_id": nid, "decided_on": "2020-06-01", "finding": finding}
                    )
    return make_force(officers, notices, outcomes)


@pytest.fixture(scope="module")
def disparity() -> pd.DataFrame:
    data = _disparity_force()
    as_of = _day("2022-01-01")
    frame = allegations_as_of(data, as_of=as_of, extracted_on=as_of)
    rows = officer_years(data, frame, as_of=as_of, age_band_edges=FAST.age_band_edges)
    return disproportionality(rows, config=FAST, seed=3)


def test_officer_years_split_service_by_calendar_year() -> None:
    officers = [{"officer_id": "A", "joined_on": "2019-07-01", "left_on": "2021-03-31",
                 "birth_year": 1985}]  # fmt: skip
    notices = [{"notice_id": "N1", "officer_id": "A", "received_on": "2019-01-01"}]
    data = make_force(officers, notices)
    as_of = _day("2021-01-01")
    frame = allegations_as_of(data, as_of=as_of, extracted_on=as_of)
    rows = officer_years(data, frame, as_of=as_of, age_band_edges=(25, 35, 45, 55))
    assert rows["year"].tolist() == [2019, 2020]
    assert rows["years"].tolist() == pytest.approx([184 / 365.25, 366 / 365.25])
    assert rows["age_band"].tolist() == ["25–34", "35–44"]  # 34 in 2019, 35 in 2020
    # The notice predates the officer's service: counted, in the 2019 row.
    assert rows["allegations:public complaints"].tolist() == [1, 0]


def test_disparity_ratios_have_intervals_and_small_groups_are_suppressed(
    disparity: pd.DataFrame,
) -> None:
    cell = disparity.set_index(["family", "attribute", "group", "metric"])
    black = cell.loc[("public complaints", "ethnicity", "Black", "allegations_per_officer_year")]
    assert black["ratio"] == pytest.approx(2.0)
    # Every Black officer has two, every White officer one: no uncertainty at all.
    assert (black["ratio_ci_low"], black["ratio_ci_high"]) == pytest.approx((2.0, 2.0))
    assert black["verdict"] == "outside band" and black["officers"] == 40
    assert black["numerator"] == 80 and black["denominator"] == pytest.approx(40 * 731 / 365.25)
    proven = cell.loc[("public complaints", "ethnicity", "Black", "proven_rate")]
    assert proven["value"] == pytest.approx(4 / 80) and proven["ratio"] == pytest.approx(0.1)
    assert proven["ratio_ci_low"] <= 0.1 <= proven["ratio_ci_high"] < 1
    white = cell.loc[("public complaints", "ethnicity", "White", "proven_rate")]
    assert white["verdict"] == "reference" and white["ratio"] == 1.0
    # Five Asian officers: every number blanked, counts included.
    asian = disparity.loc[disparity["group"] == "Asian"]
    assert (asian["verdict"] == "suppressed (n < 20)").all()
    numbers = ["value", "ci_low", "ratio", "ratio_ci_low", "numerator", "denominator", "officers"]
    assert asian[numbers].isna().all().all()
    # Every other non-reference ratio has an interval.
    shown = disparity.loc[disparity["verdict"].ne("reference") & disparity["ratio"].notna()]
    assert shown[["ratio_ci_low", "ratio_ci_high"]].notna().all().all()


def test_findings_say_where_more_allegations_go_with_a_lower_proven_rate(
    disparity: pd.DataFrame,
) -> None:
    sentences = disparity_findings(disparity, config=FAST)
    public = [s for s in sentences if s.startswith("Public complaints: Black")]
    internal = [s for s in sentences if s.startswith("Internal and conduct matters: Black")]
    assert len(public) == 1 and "proven less often" in public[0]
    assert "without merit" in public[0]
    assert len(internal) == 1 and "proven about as often" in internal[0]
    assert "no clear sign that the disparity in allegations goes with a lower" in internal[0]
    assert not any("Asian" in s for s in sentences)  # suppressed


def test_a_small_reference_group_blanks_every_ratio_of_its_attribute() -> None:
    data = _disparity_force()
    as_of = _day("2022-01-01")
    frame = allegations_as_of(data, as_of=as_of, extracted_on=as_of)
    rows = officer_years(data, frame, as_of=as_of, age_band_edges=FAST.age_band_edges)
    config = FairnessConfig(bootstrap_samples=50, reference_groups={"ethnicity": "Asian"})
    table = disproportionality(rows, config=config, seed=3)
    ethnicity = table.loc[table["attribute"] == "ethnicity"]
    assert ethnicity["ratio"].isna().all()
    black = ethnicity.loc[ethnicity["group"] == "Black"]
    assert black["value"].notna().all()  # its own rate is not small


# --- as of a date: nothing after it changes anything --------------------------------------------
def test_events_on_or_after_the_date_change_nothing() -> None:
    data = _disparity_force()
    as_of = _day("2021-01-01")
    later_notices = pd.DataFrame(
        {
            "notice_id": ["late1", "late2"],
            "case_id": ["late1", "late2"],
            "officer_id": ["W00", "B00"],
            "received_on": pd.to_datetime(["2021-01-01", "2021-06-01"]),
            "incident_on": pd.NaT,
            "category": "other",
            "category_raw": "other",
            "source": "public",
            "severity": pd.NA,
        }
    )
    # W00's first notice is decided on the as-of date in the second force: unknown then.
    outcomes = data.outcomes.copy()
    outcomes.loc[outcomes["notice_id"] == "W00-public-0", "decided_on"] = pd.Timestamp(as_of)
    base = ForceData(data.officers, data.notices, outcomes.iloc[0:0].copy())
    base_outcomes = outcomes.loc[outcomes["notice_id"] != "W00-public-0"]
    base = ForceData(data.officers, data.notices, base_outcomes)
    more = ForceData(
        data.officers,
        pd.concat([data.notices, later_notices], ignore_index=True),
        outcomes,
    )
    first, second = (
        oversight(force, as_of=as_of, extracted_on=_day("2022-01-01"), config=FAST, seed=5)
        for force in (base, more)
    )
    for name in ("durations", "trend", "backlog", "pileups", "findings", "repeat_outcomes",
                 "disparity"):  # fmt: skip
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name), obj=name)
    assert first.disparity_sentences == second.disparity_sentences


# --- the report ----------------------------------------------------------------------------------
def test_report_escapes_data_names_officers_by_pseudonym_and_loads_nothing() -> None:
    data = _disparity_force()
    hostile = "<script>alert(1)</script>"
    officers = data.officers.assign(
        ethnicity=data.officers["ethnicity"].replace({"Black": hostile})
    )
    data = ForceData(officers, data.notices, data.outcomes)
    as_of = _day("2022-01-01")
    result = oversight(data, as_of=as_of, extracted_on=as_of, config=FAST, seed=5)
    listed = pileup_list(result.pileups).assign(officer_id="P-0123456789abcdef")
    html = render_oversight_report(
        result=result,
        pileup_list=listed,
        config=FAST,
        provenance={"config": "<b>cfg</b>"},
    )
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>cfg</b>" not in html
    assert "http://" not in html and "https://" not in html
    for reference in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert reference.startswith("#"), reference
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert html.count("OFFICIAL-SENSITIVE") >= 3  # title, header, footer
    assert 'id="duration-curve-title"' in html and 'id="backlog-title"' in html
    assert html.count('id="disparity-') >= 6  # two ratio charts per source family
    for officer in data.officers["officer_id"]:
        assert f">{officer}<" not in html
    again = render_oversight_report(
        result=oversight(data, as_of=as_of, extracted_on=as_of, config=FAST, seed=5),
        pileup_list=listed,
        config=FAST,
        provenance={"config": "<b>cfg</b>"},
    )
    assert again == html  # same inputs and seed: the same bytes


def test_synthetic_report_without_bias_finds_no_disparity_sentence_for_ethnicity() -> None:
    """Guards the sentences against firing on noise: with equal treatment by construction
    (every group one notice per officer, proven alike) no sentence is written."""
    officers, notices, outcomes = [], [], []
    for prefix, ethnicity in (("W", "White"), ("B", "Black")):
        for i in range(30):
            officer = f"{prefix}{i}"
            officers.append({"officer_id": officer, "joined_on": "2010-01-01",
                             "ethnicity": ethnicity})  # fmt: skip
            notices.append({"notice_id": officer, "officer_id": officer,
                            "received_on": "2020-01-01"})  # fmt: skip
            outcomes.append({"notice_id": officer, "decided_on": "2020-02-01",
                             "finding": "proven" if i % 2 else "withdrawn"})  # fmt: skip
    data = make_force(officers, notices, outcomes)
    as_of = _day("2021-01-01")
    result = oversight(data, as_of=as_of, extracted_on=as_of, config=FAST, seed=5)
    assert result.disparity_sentences == []
    ratios = result.disparity.loc[
        (result.disparity["group"] == "Black")
        & (result.disparity["metric"] == "allegations_per_officer_year")
    ].set_index("family")["ratio"]
    assert np.allclose(ratios[["all sources", "public complaints"]].to_numpy(dtype=float), 1.0)
    # No internal allegation at all: a ratio to a rate of 0 is not defined (NaN, never inf).
    assert math.isnan(ratios["internal and conduct matters"])


def test_findings_distinguish_lower_higher_and_unclear_proven_rates() -> None:
    def row(group: str, metric: str, ratio: float, low: float, high: float, verdict: str):
        return {"family": "public complaints", "attribute": "ethnicity", "group": group,
                "metric": metric, "ratio": ratio, "ratio_ci_low": low, "ratio_ci_high": high,
                "verdict": verdict}  # fmt: skip

    rate, proven = "allegations_per_officer_year", "proven_rate"
    table = pd.DataFrame(
        [
            row("White", rate, 1, 1, 1, "reference"),
            row("White", proven, 1, 1, 1, "reference"),
            row("Lower", rate, 2, 1.8, 2.2, "outside band"),
            row("Lower", proven, 0.5, 0.4, 0.6, "outside band"),
            row("Higher", rate, 1.7, 1.6, 1.8, "outside band"),
            row("Higher", proven, 1.3, 1.2, 1.4, "outside band"),
            row("Unclear", rate, 1.5, 1.3, 1.7, "outside band"),
            row("Unclear", proven, 0.8, 0.6, 1.01, "insufficient data"),
            row("Within", rate, 1.1, 0.9, 1.3, "within band"),
            row("Within", proven, 0.5, 0.4, 0.6, "outside band"),
            row("Fewer", rate, 0.5, 0.4, 0.6, "outside band"),
            row("Fewer", proven, 1, 0.8, 1.2, "within band"),
        ]
    )
    sentences = disparity_findings(table, config=FAST)
    assert [s.split(" officers face")[0] for s in sentences] == [
        "Public complaints: Lower",
        "Public complaints: Higher",
        "Public complaints: Unclear",
        "Public complaints: Fewer",
    ]
    lower, higher, unclear, fewer = sentences
    assert lower.endswith("a sign that some of the extra allegations are without merit.")
    assert "proven more often (1.30×" in higher
    assert higher.endswith("does not go with a lower proven rate.")
    assert "which includes 1): no clear sign" in unclear
    assert fewer.endswith("fewer allegations.") and "0.50×" in fewer
