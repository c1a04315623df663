# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The date arithmetic of prevention rules, without a database"""
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from health_shared_record import schedule

dates = st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))
horizons = st.integers(0, 800).map(lambda d: dt.timedelta(days=d))


@st.composite
def rules(draw):
    kind = draw(st.sampled_from(
            [schedule.ONCE, schedule.RECURRING, schedule.CAMPAIGN]))
    min_age = draw(st.integers(0, 90))
    max_age = draw(st.one_of(st.none(), st.integers(min_age + 1, 110)))
    start = draw(st.tuples(st.integers(1, 12), st.integers(1, 28)))
    end = draw(st.tuples(st.integers(1, 12), st.integers(1, 28)))
    interval = draw(st.integers(1, 120))
    return schedule.Rule(
        id=1, kind=kind, min_age=min_age, max_age=max_age,
        sex=draw(st.sampled_from([None, 'f', 'm'])),
        risk_min_age=draw(st.integers(0, min_age)),
        risk_only=draw(st.booleans()),
        interval_months=interval,
        first_interval_months=draw(
            st.one_of(st.none(), st.integers(1, interval))),
        campaign_start=start, campaign_end=end,
        grace_days=draw(st.integers(0, 400)))


@st.composite
def patients(draw):
    return schedule.Patient(
        dob=draw(dates), sex=draw(st.sampled_from([None, 'f', 'm'])),
        at_risk=draw(st.sampled_from([frozenset(), frozenset({1})])),
        events={1: sorted(draw(st.lists(dates, max_size=8)))})


def test_age_clamps_at_month_end():
    "29 February plus a year is 28 February, as in PostgreSQL"
    assert schedule.add_age(dt.date(2000, 2, 29), 1, 'years') == dt.date(
        2001, 2, 28)
    assert schedule.add_months(dt.date(2025, 1, 31), 1) == dt.date(
        2025, 2, 28)
    assert schedule.add_months(dt.date(2025, 3, 31), -1) == dt.date(
        2025, 2, 28)
    assert schedule.add_age(dt.date(2026, 8, 1), 2, 'months') == dt.date(
        2026, 10, 1)


@given(dates, st.integers(-1200, 1200))
def test_add_months_keeps_the_day_when_it_can(date, months):
    result = schedule.add_months(date, months)
    assert (result.year * 12 + result.month) - (
        date.year * 12 + date.month) == months
    assert result.day == date.day or result.day < date.day and (
        result + dt.timedelta(days=1)).day == 1


@settings(max_examples=300)
@given(rules(), patients(), dates, horizons)
def test_key_dates_follow_the_rule(rule, patient, reference, horizon):
    keys = schedule.key_dates(rule, patient, reference, horizon)
    if rule.sex and rule.sex != patient.sex:
        assert keys == []
        return
    bounds = schedule.window(rule, patient)
    if bounds is None:
        assert keys == [] and rule.risk_only
        return
    start, end = bounds
    open_keys = [k for k in keys if k.state != schedule.DONE]
    # At most one key date ahead, inside the window and the horizon
    assert len(open_keys) <= 1
    for key in open_keys:
        assert start <= key.due_date <= reference + horizon
        assert end is None or (key.due_date < end and reference < end)
        assert key.state == schedule.state_of(
            key.due_date, rule.grace_days, reference)
        assert key.done_date is None
    for key in keys:
        assert key.due_date >= start
        if key.state == schedule.DONE:
            assert key.done_date in patient.events[1]
    # One reminder per key date
    assert len({k.due_date for k in keys}) == len(keys)


@settings(max_examples=200)
@given(rules(), patients(), dates, horizons)
def test_an_event_on_the_due_date_makes_it_done(
        rule, patient, reference, horizon):
    "Doing what is due turns the open key date into a done one"
    keys = schedule.key_dates(rule, patient, reference, horizon)
    open_keys = [k for k in keys if k.state != schedule.DONE]
    if not open_keys:
        return
    due = open_keys[0].due_date
    patient.events = {1: sorted(patient.events[1] + [due])}
    after = schedule.key_dates(rule, patient, reference, horizon)
    assert any(
        k.state == schedule.DONE and k.done_date == due for k in after)


def test_condition_codes():
    ranges = schedule.code_ranges('E10-E14, J40-J47; I50 n18')
    assert [schedule.code_matches(c, ranges) for c in [
            'E11.9', 'E119', 'e14', 'E15', 'I50.1', 'I51', 'N18.3', 'J4']] == [
        True, True, True, False, True, False, True, False]
    assert schedule.code_ranges('E14-E10') is None
    assert schedule.code_ranges('E1$') is None
    assert schedule.code_ranges('E10-E1') is None
    assert schedule.code_ranges('') == []


@given(st.text(max_size=40))
def test_condition_codes_never_crash(text):
    ranges = schedule.code_ranges(text)
    assert ranges is None or all(low <= high for low, high in ranges)
