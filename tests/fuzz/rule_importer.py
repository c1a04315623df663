#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Coverage-guided fuzzing of the prevention rule importer with atheris.

Each input is read as an imported row (each column one of the values
rules.VALUES lists, an integer or any text) and patients (a date of birth
up to 200 years before the reference date, events on any day).  The row
goes through the model's own checks, Rule.check_rule, without a database
(rules.Row): libFuzzer wants thousands of inputs a second and an import
into Tryton costs a transaction, so tests/test_fuzz.py imports rows into
a real database with hypothesis instead.  Every accepted rule then goes
through the date engine, schedule.key_dates, for each patient: neither
may fail.

tests/test_fuzz.py runs it for a few seconds.  For a longer run:

    mkdir -p var/fuzz/rules
    .venv/bin/python tests/fuzz/rule_importer.py var/fuzz/rules \\
        -max_total_time=3600 -rss_limit_mb=1024 -timeout=10

A crash leaves its input in crash-*; run the harness on that file alone to
replay it.
"""
import datetime as dt
import sys

import atheris

with atheris.instrument_imports(include=['health_shared_record']):
    from health_shared_record import prevention_rule, schedule  # noqa: F401

import rules  # noqa: E402

FIRST_REFERENCE = dt.date(1950, 1, 1)


def column(provider, name):
    "One of the usual values of the column, an integer or any text"
    usual = rules.choices(name)
    pick = provider.ConsumeIntInRange(0, len(usual) + 1)
    if pick < len(usual):
        return usual[pick]
    if pick == len(usual):
        return str(provider.ConsumeIntInRange(-(1 << 40), 1 << 40))
    return provider.ConsumeUnicodeNoSurrogates(
        provider.ConsumeIntInRange(0, 16))


def day(provider, dob):
    "A day of the patient's life, an end of the calendar or any day"
    pick = provider.ConsumeIntInRange(0, 3)
    if pick == 0:
        return provider.PickValueInList(rules.CALENDAR_ENDS)
    if pick == 1:
        return dt.date.fromordinal(
            provider.ConsumeIntInRange(rules.FIRST_DAY, rules.LAST_DAY))
    return dob + dt.timedelta(
        days=provider.ConsumeIntInRange(-400, rules.MAX_AGE_DAYS))


def test_one_input(data):
    provider = atheris.FuzzedDataProvider(data)
    row = {name: column(provider, name) for name in rules.COLUMNS}
    rule = rules.accepts(row)
    if rule is None:
        return
    spec = rule.spec
    reference = FIRST_REFERENCE + dt.timedelta(
        days=provider.ConsumeIntInRange(0, 200 * 365))
    horizon = dt.timedelta(days=provider.ConsumeIntInRange(0, 3650))
    for _ in range(provider.ConsumeIntInRange(1, 3)):
        dob = reference - dt.timedelta(
            days=provider.ConsumeIntInRange(0, rules.MAX_AGE_DAYS))
        events = [
            day(provider, dob)
            for _ in range(provider.ConsumeIntInRange(0, 6))]
        patient = rules.patient(
            dob, provider.PickValueInList([None, 'f', 'm']),
            provider.ConsumeBool(), events)
        rules.engine(spec, patient, reference, horizon)
    schedule.code_matches(
        provider.ConsumeUnicodeNoSurrogates(8), rule.condition_ranges)


def main():
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == '__main__':
    main()
