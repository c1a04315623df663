# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Fuzzing the two doors through which data from outside comes in.

The CDA reader reads the documents other clinics publish: whatever the
bytes, it reads them or refuses them with a ContentError, never hangs and
keeps its memory in bounds.  The prevention rule importer takes the rows an
administrator imports: each row becomes a valid rule or is refused with a
UserError, and no rule it accepts can make the date engine fail, for any
patient.

Hypothesis draws the inputs here (tests/fuzz/documents.py and rules.py say
how); test_coverage_guided_fuzzing runs the atheris harnesses of
tests/fuzz/ for a few seconds each (their docstrings say how to run them
for longer).
"""
import contextlib
import datetime as dt
import json
import pathlib
import re
import signal
import subprocess
import sys
import tracemalloc

import pytest
from hypothesis import (
    HealthCheck, event, example, given, note, settings)
from hypothesis import strategies as st
from lxml import etree

from trytond import backend
from trytond.exceptions import UserError
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    CONTEXT, DB_NAME, USER, activate_module)
from trytond.transaction import Transaction

from health_shared_record import cda_reader, schedule
from health_shared_record.prevention_rule import Matcher

from fuzz import documents, footprint, rules

FUZZ = pathlib.Path(__file__).parent / 'fuzz'
MiB = 1 << 20


class Hang(Exception):
    pass


@contextlib.contextmanager
def no_hang(seconds):
    "Fail what runs longer than seconds instead of waiting for it"
    def stop(signum, frame):
        raise Hang(f'still running after {seconds} s')
    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Draws:
    "The choices of documents.mutate, drawn by hypothesis"

    def __init__(self, draw):
        self.draw = draw

    def integer(self, low, high):
        return self.draw(st.integers(low, high))

    def pick(self, values):
        return self.draw(st.sampled_from(values))

    def text(self):
        return self.draw(st.one_of(
                st.sampled_from(documents.ODD_VALUES), st.text(max_size=20)))

    def binary(self):
        return self.draw(st.binary(min_size=1, max_size=16))


SEEDS = documents.seeds()


@st.composite
def cda_inputs(draw):
    seed = draw(st.sampled_from(SEEDS))
    return documents.mutate(seed, Draws(draw))


# The CDA reader

# Each failed before the fixes in cda.py: OverflowError, ValueError from
# int() on digits Python does not count as decimal, and a regular
# expression that took exponential or quadratic time on a prolog
REGRESSIONS = [
    b'<ClinicalDocument xmlns="urn:hl7-org:v3">'
    b'<effectiveTime value="00010101000000+9999"/></ClinicalDocument>',
    b'<ClinicalDocument xmlns="urn:hl7-org:v3">'
    b'<effectiveTime value="99991231235959-9999"/></ClinicalDocument>',
    b'<ClinicalDocument xmlns="urn:hl7-org:v3">'
    b'<versionNumber value="\xc2\xb2"/></ClinicalDocument>',
    documents.CONCERNS.replace(
        b'<repeatNumber value="3"/>', b'<repeatNumber value="\xc2\xb3"/>'),
    b'<!---->' * 40 + b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>',
    b' ' * 100000 + b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>',
    ]


@settings(max_examples=300, deadline=dt.timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow])
@given(data=cda_inputs())
@example(data=REGRESSIONS[0])
@example(data=REGRESSIONS[1])
@example(data=REGRESSIONS[2])
@example(data=REGRESSIONS[3])
@example(data=REGRESSIONS[4])
@example(data=REGRESSIONS[5])
def test_cda_reader_reads_or_refuses(data):
    "Bent documents are read, keeping the reader's promises, or refused"
    note(repr(data[:2000]))
    with no_hang(20):
        content = documents.read(data)
    event('refused' if content is None else
        'read with entries' if content.entries else 'read, no entry')


@settings(max_examples=100, deadline=dt.timedelta(seconds=5))
@given(data=st.binary(max_size=2000))
def test_cda_reader_refuses_any_bytes(data):
    with no_hang(20):
        assert documents.read(data) is None


def test_mutations_keep_documents_readable():
    """The seeds are read, and mutations are not all refusals: the fuzzing
    reaches the reading of entries"""
    assert all(documents.read(seed) is not None for seed in SEEDS)
    assert all(documents.read(seed).entries for seed in SEEDS[:2])
    dice = documents.Dice(7)
    read = [documents.read(documents.mutate(seed, dice))
        for seed in SEEDS * 25]
    assert sum(content is not None and bool(content.entries)
        for content in read) > len(read) // 4


@pytest.mark.parametrize('case', list(footprint.CASES))
def test_cda_reader_footprint(case):
    """Pathological documents are read or refused in bounded time and
    memory: Python's peak within 4 MiB and twice the size, the process'
    (libxml2 included) within 64 MiB and four times the size.  Refusing
    documents of more than MAX_NODES elements and attributes keeps
    empty_elements and too_many_attributes within them"""
    run = subprocess.run(
        [sys.executable, str(FUZZ / 'footprint.py'), case],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    print(result)
    assert result['seconds'] < 15, result
    assert result['python_peak'] < 4 * MiB + 2 * result['size'], result
    assert result['rss_growth'] < 64 * MiB + 4 * result['size'], result


def test_cda_reader_stops_at_the_entry_cap_inside_an_act():
    """An act wrapping thousands of observations is refused at the cap,
    before as many entries are made (it was refused after)"""
    content = footprint.DOCUMENT % footprint.SECTION % (
        b'11450-4',
        b'<entry><act>' + footprint.OBSERVATION * 20000 + b'</act></entry>')
    tracemalloc.start()
    try:
        with pytest.raises(cda_reader.ContentError, match='more than 10 entries'):
            cda_reader.read_content(content, max_entries=10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MiB


# The prevention rule importer

@st.composite
def sensible_rows(draw):
    "Rows an administrator means: mostly valid rules"
    def integer(low, high):
        return str(draw(st.integers(low, high)))

    def maybe(value):
        return draw(st.sampled_from(['', value]))

    def codes(values):
        return ', '.join(draw(st.lists(
                    st.sampled_from(values), min_size=1, max_size=3)))

    min_age = draw(st.integers(0, 160))
    interval = draw(st.integers(1, 2000))
    conditions = maybe(codes(['E10-E14', 'J40-J47', 'I50', 'N18', 'C50']))
    return {
        'code': draw(st.sampled_from(['R-1', 'R-2', 'R-3'])),
        'name': 'Rule',
        'category': draw(st.sampled_from(rules.SELECTIONS['category'])),
        'kind': draw(st.sampled_from(rules.SELECTIONS['kind'])),
        'sex': draw(st.sampled_from(['', 'f', 'm'])),
        'age_unit': draw(st.sampled_from(rules.SELECTIONS['age_unit'])),
        'min_age': str(min_age),
        'max_age': maybe(integer(min_age + 1, min_age + 100)),
        'risk_min_age': maybe(integer(0, min_age)),
        'interval_months': str(interval),
        'first_interval_months': maybe(integer(1, interval)),
        'campaign_start_month': integer(1, 12),
        'campaign_start_day': integer(1, 31),
        'campaign_end_month': integer(1, 12),
        'campaign_end_day': integer(1, 31),
        'grace_days': integer(0, 400),
        'dose_number': maybe(integer(1, 5)),
        'risk_only': maybe('True') if conditions else '',
        'risk_conditions': conditions,
        'vaccine_codes': maybe(codes(['J07BB', 'J07CA02', 'J07AL', 'J07'])),
        'procedure_codes': maybe(codes(['ABC1', 'X', 'Z123'])),
        'document_type_codes': draw(st.sampled_from(
                ['', ''] + sorted(rules.KNOWN_DOCUMENT_TYPES))),
        'reminder_text': maybe('Time for it'),
        }


@st.composite
def rule_rows(draw, fits=lambda text: True):
    """Sensible rows with a few columns replaced by the odd values
    rules.VALUES lists, or by any text"""
    row = draw(sensible_rows())
    for column in draw(st.lists(
                st.sampled_from(rules.COLUMNS), max_size=3, unique=True)):
        row[column] = draw(st.one_of(
                st.sampled_from(rules.choices(column)),
                st.text(max_size=12)).filter(fits))
    return row


references = st.dates(dt.date(1950, 1, 1), dt.date(2150, 12, 31))
horizons = st.integers(0, 3650).map(lambda d: dt.timedelta(days=d))


@st.composite
def patients(draw, reference, rule_id=1):
    """Patients GNU Health accepts (born up to 200 years before the
    reference) with events on any day, as documents from other clinics
    may say"""
    dob = reference - dt.timedelta(
        days=draw(st.integers(0, rules.MAX_AGE_DAYS)))
    events = draw(st.lists(st.one_of(
                st.dates(), st.sampled_from(rules.CALENDAR_ENDS),
                st.integers(-400, rules.MAX_AGE_DAYS).map(
                    lambda d: dob + dt.timedelta(days=d))),
            max_size=6))
    return rules.patient(
        dob, draw(st.sampled_from([None, 'f', 'm'])), draw(st.booleans()),
        events, rule_id)


@st.composite
def engine_cases(draw):
    reference = draw(references)
    return reference, draw(horizons), draw(st.lists(
            patients(reference), min_size=1, max_size=3))


# Accepted, and broke add_months with events at the ends of the calendar
EDGE_ROW = dict(
    dict.fromkeys(rules.COLUMNS, ''), code='R', name='R',
    category='vaccination', kind='recurring', age_unit='years', min_age='0',
    interval_months='12', grace_days='0', vaccine_codes='J07')
EDGE_CASE = (dt.date(2026, 1, 1), dt.timedelta(365), [rules.patient(
            dt.date(1990, 1, 1), 'f', False, [dt.date.min, dt.date.max])])


@settings(max_examples=400, deadline=dt.timedelta(seconds=2))
@given(row=rule_rows(), case=engine_cases())
@example(row=EDGE_ROW, case=EDGE_CASE)
@example(row=dict(EDGE_ROW, kind='campaign', campaign_start_month='10',
        campaign_start_day='15', campaign_end_month='1',
        campaign_end_day='31'), case=EDGE_CASE)
def test_accepted_rules_never_break_the_engine(row, case):
    """Any row the model's checks accept gives a rule that the engine
    computes for any patient, on any reference date"""
    rule = rules.accepts(row)
    event('refused' if rule is None else 'accepted')
    if rule is None:
        return
    reference, horizon, patients_ = case
    with no_hang(10):
        for patient in patients_:
            rules.engine(rule.spec, patient, reference, horizon)
        for code in ['E11.9', 'J45', 'I50', '', 'Z']:
            schedule.code_matches(code, rule.condition_ranges)


def shipped_rows():
    "The rows of the rules the module ships, as an import would read them"
    tree = etree.parse(str(rules.MODULE / 'data' / 'prevention_rules.xml'))
    for record in tree.iterfind(
            ".//record[@model='gnuhealth.prevention.rule']"):
        row = dict.fromkeys(rules.COLUMNS, '')
        row['age_unit'] = 'years'
        for field in record.iterfind('field'):
            row[field.get('name')] = field.get('eval') or field.text
        yield row


def test_row_model_follows_the_rules_checks():
    "Row accepts the rules the module ships, and refuses what check_rule does"
    for row in shipped_rows():
        assert rules.accepts(row) is not None, row
    row = next(shipped_rows())
    for column, value in [
            ('min_age', '-1'), ('min_age', 'x'), ('kind', 'weekly'),
            ('vaccine_codes', 'A10BA02'), ('max_age', row['min_age']),
            ('code', ' '), ('max_age', '151'), ('kind', 'campaign')]:
        assert rules.accepts(dict(row, **{column: value})) is None, column


def fits_database(text):
    "Whether an integer column's text fits the database's integers"
    try:
        value = int(text)
    except ValueError:
        return True
    # Tryton leaves it to the database to refuse an integer out of its
    # range (PostgreSQL's integer, SQLite's 64 bits), with its own error
    bits = 32 if backend.name == 'postgresql' else 64
    return -(1 << (bits - 1)) <= value < 1 << (bits - 1)


@pytest.fixture(scope='module')
def database():
    activate_module('health_shared_record')


@settings(max_examples=100, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(rule_rows(fits_database), min_size=1, max_size=3),
    data=st.data())
def test_rule_import_creates_valid_rules_or_refuses(database, rows, data):
    """Rule.import_data, as Tryton's client calls it, creates rules or
    refuses the rows with a UserError; the rules it creates are ones the
    engine computes, and ones the database-less Row accepts too"""
    with Transaction().start(DB_NAME, USER, context=CONTEXT) as transaction:
        try:
            with no_hang(60):
                imported(rows, data)
        finally:
            transaction.rollback()


def imported(rows, data):
    Rule = Pool().get('gnuhealth.prevention.rule')
    try:
        count = Rule.import_data(
            rules.COLUMNS, [[row[c] for c in rules.COLUMNS] for row in rows])
    except UserError as error:
        event(f'refused: {type(error).__name__}')
        assert error.message
        return
    event('imported')
    assert count == len(rows)
    created = Rule.search([], order=[('id', 'DESC')], limit=count)
    for row in rows:
        assert rules.accepts(row) is not None, row
    matcher = Matcher(created)
    for code in ['E11.9', 'J45', 'I50', '']:
        matcher.condition(code)
        matcher.procedure(code)
    reference = data.draw(references)
    horizon = data.draw(horizons)
    for rule in created:
        patient = data.draw(patients(reference, rule.id))
        rules.engine(rule.spec, patient, reference, horizon)


# Coverage-guided fuzzing

ARTIFACTS = ('crash-', 'timeout-', 'oom-', 'leak-', 'slow-unit-')
STATS = re.compile(r'^stat::(\w+):\s*(\d+)', re.MULTILINE)
COVERAGE = re.compile(r'cov: (\d+) ft: (\d+)')


@pytest.mark.parametrize('harness, seconds', [
        ('cda_reader', 15), ('rule_importer', 8)])
def test_coverage_guided_fuzzing(harness, seconds, tmp_path):
    """The atheris harness runs for seconds on a corpus of seeds without a
    crash, a timeout or an out-of-memory"""
    corpus = tmp_path / 'corpus'
    corpus.mkdir()
    artifacts = tmp_path / 'artifacts'
    artifacts.mkdir()
    run = subprocess.run([
            sys.executable, str(FUZZ / f'{harness}.py'), str(corpus),
            f'-max_total_time={seconds}', '-rss_limit_mb=1024',
            '-timeout=10', '-max_len=65536', '-print_final_stats=1',
            f'-artifact_prefix={artifacts}/'],
        capture_output=True, text=True, timeout=seconds + 120)
    output = run.stdout + run.stderr
    found = sorted(
        p for p in artifacts.iterdir() if p.name.startswith(ARTIFACTS))
    inputs = '\n'.join(
        f'{p.name}: {p.read_bytes()[:2000]!r}' for p in found)
    assert not found and run.returncode == 0, (
        f'{output[-6000:]}\n{inputs}')
    stats = dict(STATS.findall(output))
    coverage = COVERAGE.findall(output)
    print(f'{harness}: {stats.get("number_of_executed_units")} runs, '
        f'{stats.get("average_exec_per_sec")}/s, '
        f'cov {coverage[-1] if coverage else "?"}, '
        f'corpus {len(list(corpus.iterdir()))} inputs')
    assert int(stats['number_of_executed_units']) > 100
