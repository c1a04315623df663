# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What the prevention rule importer is fuzzed with, and what the engine
must do with the rules it accepts.

A row is what Tryton's CSV import hands Rule.import_data: one string a
column.  tests/test_fuzz.py imports rows into a database; without one
(hypothesis' many examples, the atheris harness rule_importer.py), Row
runs the model's own checks, Rule.check_rule and Rule.spec, on the values
the import converted, and engine() runs every accepted rule through
schedule.key_dates.
"""
import datetime as dt
import pathlib
import types

from lxml import etree

from health_shared_record import prevention_rule, schedule

MODULE = pathlib.Path(prevention_rule.__file__).parent
INTEGERS = [
    'min_age', 'max_age', 'risk_min_age', 'interval_months',
    'first_interval_months', 'campaign_start_month', 'campaign_start_day',
    'campaign_end_month', 'campaign_end_day', 'grace_days', 'dose_number']
SELECTIONS = {
    'category': ['vaccination', 'screening', 'checkup'],
    'kind': ['once', 'recurring', 'campaign'],
    'sex': [None, 'f', 'm'],
    'age_unit': [u for u, _ in prevention_rule.AGE_UNITS],
    }
CODE_LISTS = [
    'risk_conditions', 'vaccine_codes', 'procedure_codes',
    'document_type_codes']
TEXTS = ['code', 'name', 'reminder_text']
COLUMNS = (
    TEXTS[:2] + list(SELECTIONS) + INTEGERS + ['risk_only'] + CODE_LISTS
    + TEXTS[2:])
REQUIRED = {'code', 'name', 'category', 'kind', 'age_unit', 'min_age',
    'grace_days'}
# What an administrator types, or mistypes, in each kind of column
VALUES = {
    'integer': [
        '', '0', '1', '2', '12', '18', '29', '31', '50', '65', '75', '150',
        '151', '1800', '1801', '7800', '7900', '54750', '60000', '-1', '-12',
        '2147483647', '-2147483648', '9223372036854775807',
        '\uff11\uff12', '1_0', ' 3', '3 ', '3.5', '1e3', 'abc', '\u00b2',
        ],
    'boolean': ['', 'True', 'false', '1', '0', 'yes', '2'],
    'code_list': [
        '', 'E10-E14, J40-J47', 'E10-E14,J40-J47;I50 n18', 'I50', 'E14-E10',
        'E1$', 'E10-E1', '-', 'E10-', '-E10', 'J07BB', 'J07AJ52 J07CA02',
        'J07', 'J07CA, J07BB02', 'A10BA02', 'j07bb', 'X', '24606-6',
        '11488-4 60591-5', '99999-9', 'ABC1234', 'ABCDEFGH', '\u0660\u0661',
        'E10\u2013E14', 'E11.9', '..', 'Z00-Z99', '0-9',
        ],
    'text': ['', 'R-1', 'R-2', 'FR-FLU', 'Rule', ' ', 'x' * 200],
    }
KNOWN_DOCUMENT_TYPES = frozenset(
    code.text for code in etree.parse(str(
            MODULE / 'data' / 'document_types.xml')).iterfind(
        ".//record[@model='gnuhealth.shared_record.document.type']"
        "/field[@name='code']"))
STATES = {schedule.UPCOMING, schedule.DUE, schedule.OVERDUE, schedule.DONE}


def kind_of(column):
    if column in INTEGERS:
        return 'integer'
    if column in SELECTIONS:
        return 'selection'
    if column == 'risk_only':
        return 'boolean'
    if column in CODE_LISTS:
        return 'code_list'
    return 'text'


# A row the model accepts: a fuzzer's first input, that it bends
DEFAULT_ROW = dict(
    dict.fromkeys(COLUMNS, ''), code='R-1', name='Rule',
    category='vaccination', kind='once', age_unit='years', min_age='0',
    interval_months='12', campaign_start_month='10', campaign_start_day='15',
    campaign_end_month='1', campaign_end_day='31', grace_days='90',
    vaccine_codes='J07BB')


def choices(column):
    "The usual values of column, as strings, DEFAULT_ROW's first"
    if column in SELECTIONS:
        values = [v or '' for v in SELECTIONS[column]] + ['Once', 'x']
    else:
        values = VALUES[kind_of(column)]
    return [DEFAULT_ROW[column]] + values


class Refused(Exception):
    "What Tryton's import turns into a UserError"


class Row(types.SimpleNamespace):
    """A prevention rule as the model sees it, without a database: its
    checks and its spec are the model's own"""
    id = 1
    vaccines = ()
    check_rule = prevention_rule.Rule.check_rule
    spec = prevention_rule.Rule.spec
    condition_ranges = prevention_rule.Rule.condition_ranges
    _codes = prevention_rule.Rule._codes
    vaccine_code_prefixes = prevention_rule.Rule.vaccine_code_prefixes
    procedure_code_prefixes = prevention_rule.Rule.procedure_code_prefixes

    def _error(self, message, **kwargs):
        raise Refused(message)

    @property
    def document_type_codes_ids(self):
        codes = set(self._codes('document_type_codes'))
        if not codes <= KNOWN_DOCUMENT_TYPES:
            return None
        return list(range(len(codes)))


def convert(row):
    """The Row of a dict of strings, converted as Tryton's import does;
    raise Refused where Tryton refuses before the model's checks"""
    values = {}
    for column, text in row.items():
        kind = kind_of(column)
        if kind == 'integer':
            try:
                value = int(text) if text else None
            except ValueError:
                raise Refused(f'{column}: not an integer')
        elif kind == 'boolean':
            if text.lower() in {'true', 'false', ''}:
                value = text.lower() == 'true'
            else:
                try:
                    value = bool(int(text))
                except ValueError:
                    raise Refused(f'{column}: not a boolean')
        elif kind == 'selection':
            value = text or None
            if value not in SELECTIONS[column]:
                raise Refused(f'{column}: not in the selection')
        else:
            value = text.strip() or None
        if column in REQUIRED and value is None:
            raise Refused(f'{column} is required')
        values[column] = value
    kind = values.get('kind')
    if kind == 'recurring' and values.get('interval_months') is None:
        raise Refused('interval_months is required')
    if kind == 'campaign' and None in [
            values.get(c) for c in INTEGERS if c.startswith('campaign_')]:
        raise Refused('the campaign days are required')
    return Row(**{column: values.get(column) for column in COLUMNS})


def accepts(row):
    "The Row of row when the model accepts it, None when it refuses it"
    try:
        rule = convert(row)
        rule.check_rule()
    except Refused:
        return None
    return rule


def engine(spec, patient, reference, horizon):
    """Run the engine on an accepted rule; check the key dates it gives
    keep their promises"""
    keys = schedule.key_dates(spec, patient, reference, horizon)
    assert all(k.state in STATES for k in keys), keys
    open_keys = [k for k in keys if k.state != schedule.DONE]
    assert len(open_keys) <= 1, keys
    for key in open_keys:
        assert key.due_date <= reference + horizon
        assert key.state == schedule.state_of(
            key.due_date, spec.grace_days, reference)
    events = set(patient.events.get(spec.id, ()))
    for key in keys:
        if key.state == schedule.DONE:
            assert key.done_date in events
    return keys


def patient(dob, sex, at_risk, events, rule_id=1):
    "A schedule.Patient whose events count for the rule"
    return schedule.Patient(
        dob=dob, sex=sex, at_risk=frozenset([rule_id] if at_risk else []),
        events={rule_id: sorted(events)})


# Dates of birth GNU Health accepts: up to 200 years before the reference
MAX_AGE_DAYS = 200 * 366
FIRST_DAY, LAST_DAY = dt.date.min.toordinal(), dt.date.max.toordinal()
# Where date arithmetic leaves the calendar
CALENDAR_ENDS = [
    dt.date.min, dt.date(1, 12, 31), dt.date(9999, 1, 1), dt.date.max]
