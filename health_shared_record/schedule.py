# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The key dates of prevention rules, as plain date arithmetic.

No ORM here: the engine in prevention.py loads rules and events in bulk and
asks this module, patient by patient, which reminders should exist.  The
semantics are those of the prevention calendar:

* a one-off rule is due at the start of its age window and done by the first
  event from that date until the window closes;
* a recurring rule is due at the start of its window, then `interval` after
  each event (the first event may have its own, shorter interval, as for
  two cervical cytologies one year apart); every event within the first
  interval before the window counts, so a screening just before the window
  moves the next date;
* a yearly campaign is due at the campaign's start; an event counts for the
  season that ends after it (a jab before the official start counts).

Ages and intervals clamp at the end of the month (29 February + 1 year is
28 February), as PostgreSQL's interval arithmetic does.
"""
import bisect
import datetime as dt
import functools
from dataclasses import dataclass, field

ONCE, RECURRING, CAMPAIGN = 'once', 'recurring', 'campaign'
UPCOMING, DUE, OVERDUE, DONE = 'upcoming', 'due', 'overdue', 'done'
# Ages and intervals longer than a life are typing mistakes that would take
# the engine's dates out of the calendar: rules are refused beyond them
MAX_YEARS = 150
UNITS_A_YEAR = {'years': 1, 'months': 12, 'weeks': 52, 'days': 365}


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_in_month(year, month):
    # calendar.monthrange also computes a weekday: the engine calls this
    # millions of times
    if month == 2 and year % 4 == 0 and (year % 100 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month - 1]


def add_months(date, months):
    """date plus months, clamped to the last day of the month and to the
    calendar: events come from other clinics with any date, 9999-12-31
    included"""
    month = date.month - 1 + months
    year = date.year + month // 12
    if year < dt.MINYEAR:
        return dt.date.min
    if year > dt.MAXYEAR:
        return dt.date.max
    month = month % 12 + 1
    day = date.day
    if day > 28:
        day = min(day, days_in_month(year, month))
    return dt.date(year, month, day)


def add_age(dob, age, unit):
    "The day a person born on dob reaches age (in unit)"
    if unit == 'years':
        return add_months(dob, 12 * age)
    if unit == 'months':
        return add_months(dob, age)
    if unit == 'weeks':
        return dob + dt.timedelta(weeks=age)
    return dob + dt.timedelta(days=age)


@dataclass(frozen=True)
class Rule:
    "What the engine needs of a gnuhealth.prevention.rule"
    id: int
    kind: str
    min_age: int
    max_age: int = None
    age_unit: str = 'years'
    sex: str = None
    risk_min_age: int = None
    risk_only: bool = False
    interval_months: int = None
    first_interval_months: int = None
    campaign_start: tuple = None  # (month, day)
    campaign_end: tuple = None
    grace_days: int = 0


@dataclass
class Patient:
    "What the engine needs of a patient"
    dob: dt.date
    sex: str = None
    at_risk: frozenset = frozenset()  # ids of the rules whose risk applies
    events: dict = field(default_factory=dict)  # rule id: sorted dates


@dataclass(frozen=True)
class KeyDate:
    rule: int
    due_date: dt.date
    state: str
    done_date: dt.date = None


def state_of(due_date, grace_days, reference):
    if reference < due_date:
        return UPCOMING
    if (reference - due_date).days > grace_days:
        return OVERDUE
    return DUE


def window(rule, patient):
    "The first and the end (excluded) day of the rule for the patient"
    if rule.id in patient.at_risk and rule.risk_min_age is not None:
        start_age = min(rule.risk_min_age, rule.min_age)
    elif rule.risk_only:
        return None
    else:
        start_age = rule.min_age
    start = add_age(patient.dob, start_age, rule.age_unit)
    end = (add_age(patient.dob, rule.max_age, rule.age_unit)
        if rule.max_age is not None else None)
    return start, end


def key_dates(rule, patient, reference, horizon):
    """The reminders that rule gives the patient on the reference date:
    done ones from the events, and the next one when it falls before
    reference + horizon inside the window"""
    if rule.sex and rule.sex != patient.sex:
        return []
    events = patient.events.get(rule.id, ())
    if not events and rule.age_unit == 'years':
        # Most rules are years away for most patients: say so before any
        # date arithmetic
        years = (reference - patient.dob).days / 365.25
        if rule.max_age is not None and years > rule.max_age + 1:
            return []
        if (min(rule.min_age, rule.risk_min_age or rule.min_age) - years
                > horizon.days / 365.25 + 1):
            return []
    bounds = window(rule, patient)
    if bounds is None:
        return []
    start, end = bounds
    limit = reference + horizon
    if start > limit and not events:
        return []
    if rule.kind == ONCE:
        return _once(rule, start, end, events, reference, limit)
    if rule.kind == RECURRING:
        return _recurring(rule, start, end, events, reference, limit)
    return _campaign(rule, start, end, events, reference, limit)


def _open(rule, due_date, end, reference, limit):
    if due_date > limit or (end is not None and reference >= end):
        return []
    if end is not None and due_date >= end:
        return []
    return [KeyDate(
            rule.id, due_date, state_of(due_date, rule.grace_days, reference))]


def _once(rule, start, end, events, reference, limit):
    i = bisect.bisect_left(events, start)
    if i < len(events) and (end is None or events[i] < end):
        return [KeyDate(rule.id, start, DONE, events[i])]
    return _open(rule, start, end, reference, limit)


def _recurring(rule, start, end, events, reference, limit):
    result = []
    interval = rule.first_interval_months or rule.interval_months
    # An event counts if the interval after it ends inside the window; the
    # first interval is never longer than the others, so the due dates grow
    first = add_months(start, -interval)
    due_date = start
    # Two records of the same day are one event
    for event in sorted(set(events[bisect.bisect_right(events, first):])):
        if end is not None and event >= end:
            break
        result.append(KeyDate(rule.id, due_date, DONE, event))
        due_date = max(start, add_months(event, interval))
        interval = rule.interval_months
    return result + _open(rule, due_date, end, reference, limit)


def season(rule, year):
    "The first and last day of the campaign that starts in year"
    return _season(rule.campaign_start, rule.campaign_end, year)


@functools.lru_cache(maxsize=1024)
def _season(campaign_start, campaign_end, year):
    start = _day(year, campaign_start)
    end_year = year if campaign_end >= campaign_start else year + 1
    return start, _day(end_year, campaign_end)


def _day(year, month_day):
    month, day = month_day
    # The seasons around an event of year 1 or 9999
    year = min(max(year, dt.MINYEAR), dt.MAXYEAR)
    return dt.date(year, month, min(day, days_in_month(year, month)))


def season_of(rule, date):
    "The year of the campaign an event on date counts for"
    year = date.year
    if date > season(rule, year - 1)[1]:
        return year if date <= season(rule, year)[1] else year + 1
    return year - 1


def _campaign(rule, start, end, events, reference, limit):
    result = []
    done = set()
    for event in events:
        year = season_of(rule, event)
        first, last = season(rule, year)
        if year in done or last < start or (end is not None and first >= end):
            continue
        done.add(year)
        result.append(KeyDate(rule.id, max(first, start), DONE, event))
    year = season_of(rule, max(reference, start))
    while year in done:
        year += 1
    return result + _open(
        rule, max(season(rule, year)[0], start), end, reference, limit)


def code_ranges(text):
    """Parse a list of codes, prefixes and ranges ("E10-E14, I50 N18") into
    (low, high) prefix pairs; return None when a token is not a code"""
    ranges = []
    for token in text.replace(',', ' ').replace(';', ' ').split():
        low, _, high = token.upper().partition('-')
        low, high = normal_code(low), normal_code(high or low)
        if not low or not high or len(low) != len(high) or low > high:
            return None
        ranges.append((low, high))
    return ranges


def normal_code(code):
    "A code without its dot, in capitals: E11.9 and e119 compare equal"
    code = (code or '').replace('.', '').strip().upper()
    return code if code.isalnum() else ''


def code_matches(code, ranges):
    "Whether code falls in one of the ranges (prefixes match what they start)"
    code = normal_code(code)
    return any(low <= code[:len(low)] <= high for low, high in ranges)
