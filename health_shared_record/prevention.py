# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Prevention reminders: rules kept as data, the engine that turns each
patient's facts into key dates, the worklist, e-mails and the calendar."""
import datetime as dt
import io
import re
from collections import defaultdict

import icalendar
from sql import Literal
from sql.aggregate import Max
from sql.conditionals import Coalesce
from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, fields)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.report import Report
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from . import schedule
from .common import StorableText, clinic_today, send_email
from .exceptions import PreventionError, PreventionRuleError
from .guard import Guarded, GuardedReport, patient_in
from .medicament import ATC_CODE
from .selection import Selection

OPEN_STATES = {schedule.UPCOMING, schedule.DUE, schedule.OVERDUE}
STATES = [
    ('upcoming', "Upcoming"),
    ('due', "Due"),
    ('overdue', "Overdue"),
    ('done', "Done"),
    ('dismissed', "Dismissed"),
    ]
DISMISSAL_REASONS = [
    ('refusal', "Refused by the patient"),
    ('contraindication', "Contraindication"),
    ('done_elsewhere', "Done elsewhere"),
    ]
AGE_UNITS = [
    ('years', "Years"),
    ('months', "Months"),
    ('weeks', "Weeks"),
    ('days', "Days"),
    ]
# The campaign's days matter only for yearly campaigns
CAMPAIGN_STATES = {
    'invisible': Eval('kind') != 'campaign',
    'required': Eval('kind') == 'campaign',
    }
NULL = '\\N'  # in COPY's text format
# Vaccines are the J07 group of the WHO ATC classification
VACCINE_ATC = re.compile(r'^J07')
PROCEDURE_CODE = re.compile(r'^[0-9A-Z]{1,7}$')
# The reference dates a clinic may ask about: its patients' lifetimes, and
# far enough from the calendar's end for the horizon
REFERENCE_MIN, REFERENCE_MAX = dt.date(1900, 1, 1), dt.date(2200, 12, 31)


def to_date(value):
    "A date from what the database returns for a date or timestamp column"
    if value is None or type(value) is dt.date:
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])


def reference_date():
    """The day reminders are computed for: the context's prevention_date
    (a date, or its ISO text as a script may send it), or the clinic's
    today, whoever makes the change that recomputes"""
    date = Transaction().context.get('prevention_date')
    if not date:
        return clinic_today()
    try:
        date = to_date(date)
    except (TypeError, ValueError):
        date = None
    if date is None or not (REFERENCE_MIN <= date <= REFERENCE_MAX):
        raise PreventionError(gettext(
                'health_shared_record.msg_prevention_date_invalid'))
    return date


class Rule(StorableText, DeactivableMixin, ModelSQL, ModelView):
    "Prevention Rule"
    __name__ = 'gnuhealth.prevention.rule'

    code = fields.Char(
        "Code", required=True,
        help="A stable code, e.g. FR-DTP-45; reminders and imports use it.")
    name = fields.Char("Name", required=True, translate=True)
    category = Selection([
            ('vaccination', "Vaccination"),
            ('screening', "Screening"),
            ('checkup', "Check-up"),
            ], "Category", required=True)
    kind = Selection([
            ('once', "Once in the age window"),
            ('recurring', "Recurring"),
            ('campaign', "Yearly campaign"),
            ], "Timing", required=True,
        help="Once: due when the window opens. Recurring: due when the "
        "window opens, then an interval after each event. Campaign: due "
        "each year when the campaign starts.")
    sex = Selection([
            (None, "Everyone"),
            ('f', "Women"),
            ('m', "Men"),
            ], "Sex", help="Compared with the patient's biological sex.")
    age_unit = Selection(AGE_UNITS, "Age Unit", required=True)
    min_age = fields.Integer(
        "From Age", required=True,
        help="The rule applies from the day the patient reaches this age.")
    max_age = fields.Integer(
        "Until Age",
        help="The rule stops the day the patient reaches this age "
        "(e.g. 75 for \"50 to 74\"); empty for no end.")
    risk_conditions = fields.Char(
        "Risk Conditions",
        help="ICD-10 codes, prefixes or ranges that make the rule apply "
        "earlier, e.g. \"E10-E14, J40-J47, I50, N18\".")
    risk_min_age = fields.Integer(
        "From Age at Risk",
        states={'invisible': ~Eval('risk_conditions')},
        help="With one of the risk conditions, the rule applies from "
        "this age.")
    risk_only = fields.Boolean(
        "Only at Risk",
        states={'invisible': ~Eval('risk_conditions')},
        help="The rule applies only to patients with a risk condition.")
    interval_months = fields.Integer(
        "Interval (months)",
        states={
            'invisible': Eval('kind') != 'recurring',
            'required': Eval('kind') == 'recurring',
            })
    first_interval_months = fields.Integer(
        "First Interval (months)",
        states={'invisible': Eval('kind') != 'recurring'},
        help="The interval after the first event, when it differs, e.g. "
        "12 for two cytologies one year apart, then every 36 months.")
    campaign_start_month = fields.Integer(
        "Campaign Start Month", states=CAMPAIGN_STATES)
    campaign_start_day = fields.Integer(
        "Campaign Start Day", states=CAMPAIGN_STATES)
    campaign_end_month = fields.Integer(
        "Campaign End Month", states=CAMPAIGN_STATES)
    campaign_end_day = fields.Integer(
        "Campaign End Day", states=CAMPAIGN_STATES)
    grace_days = fields.Integer(
        "Grace Period (days)", required=True,
        help="A reminder turns overdue this many days after its due date.")
    vaccines = fields.Many2Many(
        'gnuhealth.prevention.rule-gnuhealth.medicament', 'rule',
        'medicament', "Vaccines",
        domain=[('is_vaccine', '=', True)],
        help="Vaccinations with one of these vaccines satisfy the rule.")
    vaccine_codes = fields.Char(
        "Vaccine ATC Codes",
        help="ATC codes or prefixes of the vaccines that satisfy the rule, "
        "e.g. \"J07AJ52 J07CA02\" or \"J07BB\".")
    dose_number = fields.Integer(
        "Dose Number",
        help="Only vaccinations recorded with this dose number count.")
    procedure_codes = fields.Char(
        "Procedure Codes",
        help="Codes or prefixes of the GNU Health procedures that satisfy "
        "the rule.")
    document_type_codes = fields.Char(
        "Document Type Codes",
        help="LOINC codes of the shared document types whose published "
        "documents satisfy the rule, e.g. 24606-6 for a screening "
        "mammography report.")
    reminder_text = fields.Text(
        "Reminder Text", translate=True,
        help="What the patient reads in the reminder e-mail.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('code_unique', Unique(t, t.code),
                'health_shared_record.msg_prevention_rule_code_unique'),
            ]
        cls._order = [('code', 'ASC')]

    @classmethod
    def default_age_unit(cls):
        return 'years'

    @classmethod
    def default_kind(cls):
        return 'once'

    @classmethod
    def default_category(cls):
        return 'vaccination'

    @classmethod
    def default_grace_days(cls):
        return 90

    @classmethod
    def default_min_age(cls):
        return 0

    def get_rec_name(self, name):
        return f'{self.code} {self.name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, *_ = clause
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('code',) + tuple(clause[1:]),
            ('name',) + tuple(clause[1:]),
            ]

    @classmethod
    def validate(cls, rules):
        super().validate(rules)
        for rule in rules:
            rule.check_rule()

    def _error(self, message, **kwargs):
        raise PreventionRuleError(gettext(
                'health_shared_record.' + message, rule=self.code, **kwargs))

    def check_rule(self):
        if self.min_age < 0:
            self._error('msg_prevention_negative_age')
        if self.max_age is not None:
            if self.max_age < self.min_age:
                self._error('msg_prevention_inverted_window')
            if self.max_age == self.min_age:
                self._error('msg_prevention_empty_window')
        if self.risk_min_age is not None and self.risk_min_age < 0:
            self._error('msg_prevention_negative_age')
        most = schedule.MAX_YEARS * schedule.UNITS_A_YEAR[self.age_unit]
        if any(age is not None and age > most
                for age in [self.min_age, self.max_age, self.risk_min_age]):
            self._error(
                'msg_prevention_age_too_high', years=schedule.MAX_YEARS)
        if self.risk_conditions and schedule.code_ranges(
                self.risk_conditions) is None:
            self._error(
                'msg_prevention_invalid_conditions',
                conditions=self.risk_conditions)
        if self.risk_only and not self.risk_conditions:
            self._error('msg_prevention_risk_only_without_conditions')
        if self.grace_days < 0:
            self._error('msg_prevention_negative_grace')
        if self.kind == 'recurring':
            if ((self.interval_months or 0) <= 0
                    or (self.first_interval_months or 0) < 0):
                self._error('msg_prevention_interval_positive')
            if (self.first_interval_months or 0) > self.interval_months:
                self._error('msg_prevention_first_interval_longer')
            if self.interval_months > 12 * schedule.MAX_YEARS:
                self._error(
                    'msg_prevention_interval_too_long',
                    years=schedule.MAX_YEARS)
        if self.kind == 'campaign':
            for month, day in [
                    (self.campaign_start_month, self.campaign_start_day),
                    (self.campaign_end_month, self.campaign_end_day)]:
                try:
                    dt.date(2001, month or 0, day or 0)
                except (ValueError, OverflowError):
                    # OverflowError: beyond a C int (SQLite stores 64 bits)
                    self._error(
                        'msg_prevention_invalid_campaign_day',
                        month=month, day=day)
        for code in (self.vaccine_codes or '').replace(',', ' ').split():
            if not ATC_CODE.match(code) or not VACCINE_ATC.match(code):
                self._error('msg_prevention_unknown_vaccine_code', code=code)
        for code in (self.procedure_codes or '').replace(',', ' ').split():
            if not PROCEDURE_CODE.match(code):
                self._error('msg_prevention_invalid_procedure_code', code=code)
        types = self.document_type_codes_ids
        if types is None:
            self._error(
                'msg_prevention_unknown_document_type',
                codes=self.document_type_codes)
        if not (self.vaccines or self.vaccine_codes or self.procedure_codes
                or types):
            self._error('msg_prevention_nothing_satisfies')

    @property
    def spec(self):
        "The rule as the scheduler sees it"
        campaign = self.kind == 'campaign'
        return schedule.Rule(
            id=self.id, kind=self.kind, min_age=self.min_age,
            max_age=self.max_age, age_unit=self.age_unit, sex=self.sex,
            risk_min_age=(
                self.risk_min_age if self.risk_min_age is not None
                else self.min_age),
            risk_only=bool(self.risk_only),
            interval_months=self.interval_months,
            first_interval_months=self.first_interval_months,
            campaign_start=(
                (self.campaign_start_month, self.campaign_start_day)
                if campaign else None),
            campaign_end=(
                (self.campaign_end_month, self.campaign_end_day)
                if campaign else None),
            grace_days=self.grace_days)

    @property
    def condition_ranges(self):
        return schedule.code_ranges(self.risk_conditions or '') or []

    def _codes(self, name):
        return tuple(
            c.upper() for c in (getattr(self, name) or '').replace(
                ',', ' ').split())

    @property
    def vaccine_code_prefixes(self):
        return self._codes('vaccine_codes')

    @property
    def procedure_code_prefixes(self):
        return self._codes('procedure_codes')

    @property
    def document_type_codes_ids(self):
        "The ids of the document types named, None if one is unknown"
        DocumentType = Pool().get('gnuhealth.shared_record.document.type')
        codes = set(self._codes('document_type_codes'))
        if not codes:
            return []
        with without_check_access():
            types = DocumentType.search([('code', 'in', list(codes))])
        if len(types) != len(codes):
            return None
        return [t.id for t in types]


class RuleMedicament(ModelSQL):
    "Prevention Rule - Vaccine"
    __name__ = 'gnuhealth.prevention.rule-gnuhealth.medicament'

    rule = fields.Many2One(
        'gnuhealth.prevention.rule', "Rule", required=True,
        ondelete='CASCADE')
    medicament = fields.Many2One(
        'gnuhealth.medicament', "Vaccine", required=True, ondelete='CASCADE')


class Matcher:
    "Which rules an event or a condition counts for, memoised by code"

    def __init__(self, rules):
        pool = Pool()
        Medicament = pool.get('gnuhealth.medicament')
        self.rules = rules
        self.specs = [r.spec for r in rules]
        self.at_risk_rules = [r for r in rules if r.risk_conditions]
        self.document_rules = defaultdict(list)
        for rule in rules:
            for document_type in rule.document_type_codes_ids or []:
                self.document_rules[document_type].append(rule.id)
        medicament = Medicament.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*medicament.select(
                medicament.id, medicament.atc_code,
                where=medicament.is_vaccine == Literal(True)))
        self.vaccine_atc = dict(cursor)
        self._vaccines = {}
        self._procedures = {}
        self._conditions = {}

    def vaccine(self, vaccine_id, dose):
        "The rules a vaccination with vaccine_id and dose counts for"
        rules = self._vaccines.get(vaccine_id)
        if rules is None:
            atc = (self.vaccine_atc.get(vaccine_id) or '').upper()
            rules = self._vaccines[vaccine_id] = [
                (r.id, r.dose_number) for r in self.rules
                if vaccine_id in {v.id for v in r.vaccines}
                or (atc and atc.startswith(r.vaccine_code_prefixes or '\0'))]
        return [
            rule for rule, dose_number in rules
            if dose_number is None or dose_number == dose]

    def procedure(self, code):
        rules = self._procedures.get(code)
        if rules is None:
            code_ = (code or '').upper()
            rules = self._procedures[code] = [
                r.id for r in self.rules
                if code_ and code_.startswith(
                    r.procedure_code_prefixes or '\0')]
        return rules

    def condition(self, code):
        rules = self._conditions.get(code)
        if rules is None:
            rules = self._conditions[code] = frozenset(
                r.id for r in self.at_risk_rules
                if schedule.code_matches(code, r.condition_ranges))
        return rules


class Reminder(Guarded, ModelSQL, ModelView):
    "Prevention Reminder"
    __name__ = 'gnuhealth.prevention.reminder'

    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True, readonly=True,
        ondelete='CASCADE')
    rule = fields.Many2One(
        'gnuhealth.prevention.rule', "Rule", required=True, readonly=True,
        ondelete='CASCADE')
    category = fields.Function(fields.Selection(
            'get_categories', "Category"), 'get_category',
        searcher='search_category')
    due_date = fields.Date("Due Date", required=True, readonly=True)
    state = Selection(STATES, "State", required=True, readonly=True)
    due = fields.Function(fields.Char(
            "Due",
            help="When to act: now for a reminder due or overdue, else "
            "its due date."),
        'get_due')
    overdue_since = fields.Function(fields.Date(
            "Overdue Since",
            help="The due date of a reminder that is overdue."),
        'get_overdue_since')
    rule_name = fields.Function(
        fields.Char("Prevention"), 'get_rule_name')
    patient_age = fields.Function(
        fields.Char("Age"), 'get_patient_age')
    last_done = fields.Function(fields.Date(
            "Last Done",
            help="When the patient last had it, as the reminders say."),
        'get_last_done')
    done_date = fields.Date(
        "Done On", readonly=True,
        help="When the vaccination, procedure or document that satisfies "
        "the reminder took place (or was done elsewhere).")
    dismissal_reason = Selection(
        [(None, '')] + DISMISSAL_REASONS, "Dismissal Reason", readonly=True)
    dismissal_note = fields.Char("Dismissal Note", readonly=True)
    dismissed_by = fields.Many2One('res.user', "Dismissed By", readonly=True)
    primary_care_doctor = fields.Function(fields.Many2One(
            'gnuhealth.healthprofessional', "Treating Physician"),
        'get_patient_field', searcher='search_patient_field')
    institution = fields.Function(fields.Many2One(
            'gnuhealth.institution', "Institution",
            help="The treating physician's institution."),
        'get_patient_field', searcher='search_patient_field')
    notified = fields.Function(fields.Boolean(
            "Notified", help="The patient was sent this reminder."),
        'get_notified', searcher='search_notified')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('key_unique', Unique(t, t.patient, t.rule, t.due_date),
                'health_shared_record.msg_prevention_reminder_unique'),
            ]
        cls._order = [('due_date', 'ASC'), ('id', 'ASC')]
        cls._buttons.update({
                'dismiss': {
                    'invisible': Eval('state').in_(['done', 'dismissed']),
                    'depends': ['state'],
                    },
                'reopen': {
                    'invisible': Eval('state') != 'dismissed',
                    'depends': ['state'],
                    },
                })
        # The worklist filters on state and date across all patients
        cls._sql_indexes.add(Index(
                t, (t.state, Index.Equality()), (t.due_date, Index.Range())))

    @classmethod
    def get_categories(cls):
        Rule = Pool().get('gnuhealth.prevention.rule')
        return Rule.fields_get(['category'])['category']['selection']

    def get_category(self, name):
        return self.rule.category

    @classmethod
    def search_category(cls, name, clause):
        return [('rule.category',) + tuple(clause[1:])]

    @classmethod
    def get_due(cls, reminders, name):
        Lang = Pool().get('ir.lang')
        lang = Lang.get()
        today = reference_date()
        now = gettext('health_shared_record.msg_prevention_due_now')
        due = {}
        for reminder in reminders:
            if reminder.state in {'done', 'dismissed'}:
                due[reminder.id] = ''
            elif (reminder.state == 'overdue'
                    or reminder.due_date <= today):
                due[reminder.id] = now
            else:
                due[reminder.id] = lang.strftime(reminder.due_date)
        return due

    def calendar_date(self):
        """The day a calendar shows the reminder on: when it was done, its
        due date when it is still to come, and else the day the reminders
        are computed for (today), or the next working day, never a day long
        past"""
        if self.state == 'done' and self.done_date:
            return self.done_date
        today = reference_date()
        if self.due_date > today:
            return self.due_date
        if today.weekday() >= 5:
            # Saturday or Sunday: Monday
            return today + dt.timedelta(days=7 - today.weekday())
        return today

    def get_overdue_since(self, name):
        return self.due_date if self.state == 'overdue' else None

    def get_rule_name(self, name):
        return self.rule.name

    def get_patient_age(self, name):
        return self.patient.age

    @classmethod
    def get_last_done(cls, reminders, name):
        "The latest done date of the same rule for the same patient"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        keys = {(r.patient.id, r.rule.id) for r in reminders}
        last = {}
        for sub_patients in grouped_slice(list({p for p, _ in keys})):
            cursor.execute(*table.select(
                    table.patient, table.rule, Max(table.done_date),
                    where=reduce_ids(table.patient, sub_patients)
                    & (table.state == 'done'),
                    group_by=[table.patient, table.rule]))
            for patient, rule, done in cursor:
                last[patient, rule] = to_date(done)
        return {
            r.id: last.get((r.patient.id, r.rule.id)) for r in reminders}

    def get_patient_field(self, name):
        doctor = self.patient.primary_care_doctor
        if name == 'primary_care_doctor':
            return doctor.id if doctor else None
        return doctor.institution.id if doctor and doctor.institution else None

    @classmethod
    def search_patient_field(cls, name, clause):
        path = 'patient.primary_care_doctor'
        if name == 'institution':
            path += '.institution'
        nested = clause[0][len(name):]
        return [(path + nested,) + tuple(clause[1:])]

    @classmethod
    def get_notified(cls, reminders, name):
        Notice = Pool().get('gnuhealth.prevention.notice')
        result = dict.fromkeys(map(int, reminders), False)
        for sub in grouped_slice(reminders):
            for notice in Notice.search([('reminder', 'in', list(sub))]):
                result[notice.reminder.id] = True
        return result

    @classmethod
    def search_notified(cls, name, clause):
        Notice = Pool().get('gnuhealth.prevention.notice')
        notice = Notice.__table__()
        _, operator, value = clause
        query = notice.select(
            notice.reminder, where=notice.reminder != None)  # noqa: E711
        positive = (operator == '=') == bool(value)
        return [('id', 'in' if positive else 'not in', query)]

    @classmethod
    def guard_where(cls, table, actor):
        """Prevention comes from GNU Health's own record: its doctors,
        nurses and administrators see every patient's, a patient their
        own"""
        return Literal(
            actor.root or actor.clinician or actor.admin) | patient_in(
            table.patient, actor)

    # The engine

    @classmethod
    def horizon(cls):
        Configuration = Pool().get('gnuhealth.shared_record.configuration')
        days = Configuration(1).prevention_horizon
        return dt.timedelta(days=365 if days is None else days)

    @classmethod
    def compute_all(cls):
        "Recompute every patient's reminders (the nightly cron)"
        Patient = Pool().get('gnuhealth.patient')
        patient = Patient.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*patient.select(patient.id, order_by=patient.id))
        return cls.compute([i for i, in cursor])

    @classmethod
    def compute(cls, patient_ids, chunk=2000):
        """Bring the reminders of the patients in line with their facts on
        the reference date; return how many reminders changed"""
        pool = Pool()
        Rule = pool.get('gnuhealth.prevention.rule')
        patient_ids = sorted({int(p) for p in patient_ids})
        with without_check_access():
            rules = Rule.search([])
        matcher = Matcher(rules)
        reference, horizon = reference_date(), cls.horizon()
        changed = 0
        for sub in grouped_slice(patient_ids, chunk):
            changed += cls._compute_chunk(
                list(sub), matcher, reference, horizon)
        if changed:
            # Raw SQL bypassed the ORM: records read before are stale
            Transaction().counter += 1
        return changed

    @classmethod
    def _compute_chunk(cls, patient_ids, matcher, reference, horizon):
        facts = cls._load_facts(patient_ids, matcher)
        existing = cls._load_existing(patient_ids)
        active = {r.id for r in matcher.rules}
        inserts, updates, deletes = [], defaultdict(list), []
        for patient_id in patient_ids:
            patient = facts.get(patient_id)
            wanted = {}
            if patient is not None:
                for rule in matcher.specs:
                    for key in schedule.key_dates(
                            rule, patient, reference, horizon):
                        wanted[key.rule, key.due_date] = key
            for key_, (id_, state, done_date) in existing.get(
                    patient_id, {}).items():
                key = wanted.pop(key_, None)
                if state == 'dismissed':
                    continue
                if key is None:
                    # Done reminders stay in the history of a patient the
                    # engine cannot compute, or of a deactivated rule
                    if state != 'done' or (
                            patient is not None and key_[0] in active):
                        deletes.append(id_)
                elif (key.state, key.done_date) != (state, done_date):
                    updates[key.state, key.done_date].append(id_)
            for key in wanted.values():
                inserts.append((
                        patient_id, key.rule, key.due_date, key.state,
                        key.done_date))
        cls._write_changes(inserts, updates, deletes)
        return len(inserts) + sum(map(len, updates.values())) + len(deletes)

    @classmethod
    def _load_facts(cls, patient_ids, matcher):
        "Return {patient id: schedule.Patient} of those who can have some"
        pool = Pool()
        Patient = pool.get('gnuhealth.patient')
        Party = pool.get('party.party')
        Vaccination = pool.get('gnuhealth.vaccination')
        Procedure = pool.get('gnuhealth.patient.procedure')
        ProcedureCode = pool.get('gnuhealth.procedure')
        Disease = pool.get('gnuhealth.patient.disease')
        Pathology = pool.get('gnuhealth.pathology')
        Document = pool.get('gnuhealth.shared_record.document')
        patient, party = Patient.__table__(), Party.__table__()
        cursor = Transaction().connection.cursor()

        facts = {}
        cursor.execute(*patient.join(
                party, condition=patient.party == party.id).select(
                patient.id, party.dob, patient.biological_sex, party.gender,
                where=reduce_ids(patient.id, patient_ids)
                & (party.dob != None)  # noqa: E711
                & (Coalesce(party.deceased, Literal(False))
                    == Literal(False))))
        for patient_id, dob, biological_sex, gender in cursor:
            facts[patient_id] = schedule.Patient(
                dob=to_date(dob), sex=patient_sex(biological_sex, gender))
        ids = list(facts)
        if not ids:
            return facts
        events = defaultdict(lambda: defaultdict(list))

        vaccination = Vaccination.__table__()
        cursor.execute(*vaccination.select(
                vaccination.patient, vaccination.vaccine, vaccination.date,
                vaccination.dose,
                where=reduce_ids(vaccination.patient, ids)
                & (vaccination.date != None)))  # noqa: E711
        for patient_id, vaccine, date, dose in cursor:
            for rule in matcher.vaccine(vaccine, dose):
                events[patient_id][rule].append(to_date(date))

        procedure, code = Procedure.__table__(), ProcedureCode.__table__()
        cursor.execute(*procedure.join(
                code, condition=procedure.procedure == code.id).select(
                procedure.patient, code.name, procedure.pdate,
                where=reduce_ids(procedure.patient, ids)
                & (procedure.pdate != None)))  # noqa: E711
        for patient_id, code_, date in cursor:
            for rule in matcher.procedure(code_):
                events[patient_id][rule].append(to_date(date))

        if matcher.document_rules:
            document = Document.__table__()
            cursor.execute(*document.select(
                    document.patient, document.document_type,
                    document.effective_date,
                    where=reduce_ids(document.patient, ids)
                    & (document.state == 'published')
                    & reduce_ids(
                        document.document_type, list(matcher.document_rules))))
            for patient_id, type_, date in cursor:
                for rule in matcher.document_rules[type_]:
                    events[patient_id][rule].append(to_date(date))

        reminder = cls.__table__()
        cursor.execute(*reminder.select(
                reminder.patient, reminder.rule, reminder.done_date,
                where=reduce_ids(reminder.patient, ids)
                & (reminder.dismissal_reason == 'done_elsewhere')))
        for patient_id, rule, date in cursor:
            events[patient_id][rule].append(to_date(date))

        if matcher.at_risk_rules:
            disease, pathology = Disease.__table__(), Pathology.__table__()
            cursor.execute(*disease.join(
                    pathology, condition=disease.pathology == pathology.id
                    ).select(
                    disease.patient, pathology.code,
                    where=reduce_ids(disease.patient, ids)
                    & (Coalesce(disease.is_active, Literal(True))
                        == Literal(True))))
            at_risk = defaultdict(set)
            for patient_id, code_ in cursor:
                at_risk[patient_id].update(matcher.condition(code_))
            for patient_id, rules in at_risk.items():
                facts[patient_id].at_risk = frozenset(rules)

        for patient_id, by_rule in events.items():
            facts[patient_id].events = {
                rule: sorted(dates) for rule, dates in by_rule.items()}
        return facts

    @classmethod
    def _load_existing(cls, patient_ids):
        reminder = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*reminder.select(
                reminder.id, reminder.patient, reminder.rule,
                reminder.due_date, reminder.state, reminder.done_date,
                where=reduce_ids(reminder.patient, patient_ids)))
        existing = defaultdict(dict)
        for id_, patient_id, rule, due_date, state, done_date in cursor:
            existing[patient_id][rule, to_date(due_date)] = (
                id_, state, to_date(done_date))
        return existing

    @classmethod
    def _write_changes(cls, inserts, updates, deletes):
        reminder = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        notice = Pool().get('gnuhealth.prevention.notice').__table__()
        for sub in grouped_slice(deletes):
            sub = list(sub)
            # The notice stays, so that the patient is not told twice
            cursor.execute(*notice.update(
                    [notice.reminder], [None],
                    where=reduce_ids(notice.reminder, sub)))
            cursor.execute(*reminder.delete(
                    where=reduce_ids(reminder.id, sub)))
        for (state, done_date), ids in updates.items():
            for sub in grouped_slice(ids):
                cursor.execute(*reminder.update(
                        [reminder.state, reminder.done_date,
                            reminder.write_uid, reminder.write_date],
                        [state, done_date, transaction.user,
                            CurrentTimestamp()],
                        where=reduce_ids(reminder.id, list(sub))))
        if not inserts:
            return
        try:
            cls._insert(inserts)
        except backend.DatabaseIntegrityError as error:
            # Another transaction recomputed the same patient (a nurse's
            # vaccination during the nightly run) and inserted the same
            # reminders since this one started: trytond runs the request
            # again, which then sees them
            raise backend.DatabaseOperationalError(str(error)) from error

    @classmethod
    def _insert(cls, inserts):
        reminder = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        columns = [
            reminder.patient, reminder.rule, reminder.due_date,
            reminder.state, reminder.done_date, reminder.create_uid,
            reminder.create_date]
        now = dt.datetime.now()
        if backend.name == 'postgresql':
            # COPY writes a first full run several times faster than INSERT
            data = io.StringIO(''.join(
                    f'{p}\t{r}\t{d}\t{s}\t{e or NULL}\t'
                    f'{transaction.user}\t{now}\n'
                    for p, r, d, s, e in inserts))
            cursor.copy_expert('COPY "%s" (%s) FROM STDIN' % (
                    cls._table, ', '.join('"%s"' % c.name for c in columns)),
                data)
            return
        rows = [list(row) + [transaction.user, now] for row in inserts]
        # Keep each statement under SQLite's parameter limit
        size = max(transaction.database.IN_MAX // len(columns), 1)
        for sub in grouped_slice(rows, size):
            cursor.execute(*reminder.insert(columns, list(sub)))

    # What clinicians and patients do

    @classmethod
    @ModelView.button_action(
        'health_shared_record.wizard_prevention_dismiss')
    def dismiss(cls, reminders):
        pass

    @classmethod
    @ModelView.button
    def reopen(cls, reminders):
        with without_check_access():
            cls.write(reminders, {
                    'state': 'upcoming',
                    'dismissal_reason': None,
                    'dismissal_note': None,
                    'dismissed_by': None,
                    'done_date': None,
                    })
        cls.compute([r.patient.id for r in reminders])

    @classmethod
    def record_dismissal(cls, reminders, reason, note=None, done_date=None):
        "Dismiss the reminders: staff for any reason, patients refuse"
        Patient = Pool().get('gnuhealth.patient')
        user = Transaction().user
        Patient.check_privacy_actor(list({r.patient for r in reminders}))
        for reminder in reminders:
            if reminder.patient.is_user(user) and reason != 'refusal':
                raise PreventionError(gettext(
                        'health_shared_record.msg_prevention_patient_refuses'))
            if reason == 'done_elsewhere' and not done_date:
                raise PreventionError(gettext(
                        'health_shared_record.msg_prevention_done_date'))
        with without_check_access():
            cls.write(reminders, {
                    'state': 'dismissed',
                    'dismissal_reason': reason,
                    'dismissal_note': note,
                    'dismissed_by': user,
                    'done_date': done_date,
                    })
        cls.compute([r.patient.id for r in reminders])

    # Reminders to patients

    @classmethod
    def send_reminders(cls):
        """E-mail each patient the reminders that became due; a notice per
        reminder, unique in the database, makes sure none goes twice"""
        Notice = Pool().get('gnuhealth.prevention.notice')
        reminders = cls.search([
                ('state', 'in', ['due', 'overdue']),
                ('notified', '=', False),
                ('patient.prevention_reminder_opt_out', '=', False),
                ('patient.party.deceased', '=', False),
                ], order=[('patient', 'ASC'), ('due_date', 'ASC')])
        by_patient = defaultdict(list)
        for reminder in reminders:
            if reminder.patient.party.email:
                by_patient[reminder.patient].append(reminder)
        for patient, patient_reminders in by_patient.items():
            Notice.create([{
                        'reminder': r.id,
                        'patient': patient.id,
                        'rule': r.rule.id,
                        'due_date': r.due_date,
                        'email': patient.party.email,
                        } for r in patient_reminders])
            with Transaction().set_context(
                    language=patient_language(patient)):
                lines = cls.reminder_lines(patient_reminders)
                subject = gettext(
                    'health_shared_record.msg_prevention_email_subject',
                    count=len(lines))
                body = gettext(
                    'health_shared_record.msg_prevention_email_body',
                    patient=patient.party.name, reminders='\n\n'.join(lines))
            send_email(patient.party.email, subject, body)
        return sum(map(len, by_patient.values()))

    @classmethod
    def reminder_lines(cls, reminders):
        """What a patient reads of each reminder, in the context's language:
        the prevention, since when, and the rule's text"""
        lang = Pool().get('ir.lang').get()
        return [gettext(
                'health_shared_record.msg_prevention_email_line',
                name=r.rule.name, date=lang.strftime(r.due_date),
                text=r.rule.reminder_text or '')
            # Read again, for the rules' texts in that language
            for r in cls.browse(reminders)]


def patient_language(patient):
    "The language a patient is written to: the party's, else the documents'"
    Configuration = Pool().get('gnuhealth.shared_record.configuration')
    if patient.party.lang:
        return patient.party.lang.code
    return Configuration(1).document_language


def patient_sex(biological_sex, gender):
    "The sex prevention rules compare with: biological, else the party's"
    if biological_sex in {'f', 'm'}:
        return biological_sex
    if gender in {'f', 'm'}:
        return gender
    return None


class Notice(Guarded, ModelSQL, ModelView):
    "Prevention Reminder Notice"
    __name__ = 'gnuhealth.prevention.notice'

    reminder = fields.Many2One(
        'gnuhealth.prevention.reminder', "Reminder", readonly=True,
        ondelete='SET NULL')
    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True, readonly=True,
        ondelete='CASCADE')
    rule = fields.Many2One(
        'gnuhealth.prevention.rule', "Rule", required=True, readonly=True,
        ondelete='CASCADE')
    due_date = fields.Date("Due Date", required=True, readonly=True)
    email = fields.Char("E-mail", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # The database itself refuses a second notice for a reminder, even
        # from two crons running at once
        cls._sql_constraints = [
            ('key_unique', Unique(t, t.patient, t.rule, t.due_date),
                'health_shared_record.msg_prevention_notice_unique'),
            ]
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def guard_where(cls, table, actor):
        Reminder = Pool().get('gnuhealth.prevention.reminder')
        return Reminder.guard_where(table, actor)


class DismissStart(ModelView):
    "Dismiss Prevention Reminder"
    __name__ = 'gnuhealth.prevention.dismiss.start'

    reason = Selection(DISMISSAL_REASONS, "Reason", required=True)
    done_date = fields.Date(
        "Done On", states={
            'invisible': Eval('reason') != 'done_elsewhere',
            'required': Eval('reason') == 'done_elsewhere',
            })
    note = fields.Char("Note")


class Dismiss(Wizard):
    "Dismiss Prevention Reminder"
    __name__ = 'gnuhealth.prevention.dismiss'

    start = StateView(
        'gnuhealth.prevention.dismiss.start',
        'health_shared_record.prevention_dismiss_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Dismiss", 'dismiss', 'tryton-ok', default=True),
            ])
    dismiss = StateTransition()

    def default_start(self, fields):
        user = Transaction().user
        if all(r.patient.is_user(user) for r in self.records):
            return {'reason': 'refusal'}
        return {}

    def transition_dismiss(self):
        Reminder = Pool().get('gnuhealth.prevention.reminder')
        Reminder.record_dismissal(
            self.records, self.start.reason, note=self.start.note,
            done_date=self.start.done_date)
        return 'end'


class CalendarReport(GuardedReport, Report):
    "Prevention calendar (iCalendar)"
    __name__ = 'gnuhealth.prevention.calendar'

    @classmethod
    def _execute(cls, records, header, data, action):
        Reminder = Pool().get('gnuhealth.prevention.reminder')
        Configuration = Pool().get('gnuhealth.shared_record.configuration')
        instance = Configuration(1).instance_uuid
        calendar = icalendar.Calendar()
        calendar.add('prodid', '-//GNU Health//health_shared_record//EN')
        calendar.add('version', '2.0')
        calendar.add('calscale', 'GREGORIAN')
        calendar.add('x-wr-calname', gettext(
                'health_shared_record.msg_prevention_calendar_name'))
        reminders = Reminder.search([
                ('patient', 'in', [r.id for r in records]),
                ('state', '!=', 'dismissed'),
                ])
        states = dict(Reminder.fields_get(['state'])['state']['selection'])
        for reminder in reminders:
            event = icalendar.Event()
            # Stable across recomputations: the reminder's own key
            event.add('uid', '%s-%s-%s@%s' % (
                    reminder.patient.id, reminder.rule.code,
                    reminder.due_date.isoformat(), instance))
            event.add('dtstamp', dt.datetime.now(dt.timezone.utc))
            event.add('dtstart', reminder.calendar_date())
            event.add('summary', '%s (%s)' % (
                    reminder.rule.name, states[reminder.state]))
            if reminder.rule.reminder_text:
                event.add('description', reminder.rule.reminder_text)
            event.add('categories', [reminder.rule.code])
            event.add('transp', 'TRANSPARENT')
            calendar.add_component(event)
        return 'ics', calendar.to_ical()


class ImmunizationSchedule(metaclass=PoolMeta):
    __name__ = 'gnuhealth.immunization_schedule'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'create_prevention_rules': {},
                })

    @classmethod
    @ModelView.button
    def create_prevention_rules(cls, schedules):
        """One vaccination rule a dose: due at the dose's age, done by a
        vaccination with the same vaccine and dose number; rules for risk
        groups are created inactive, to be given their conditions"""
        Rule = Pool().get('gnuhealth.prevention.rule')
        existing = {r.code for r in Rule.search([
                    ('active', 'in', [True, False]),
                    ])}
        to_create = []
        for schedule_ in schedules:
            for line in schedule_.vaccines:
                doses = sorted(line.doses, key=lambda d: d.dose_number)
                for dose in doses:
                    code = '%s-%s-%s' % (
                        schedule_.sched,
                        line.vaccine.atc_code or 'M%d' % line.vaccine.id,
                        dose.dose_number)
                    if code in existing:
                        continue
                    existing.add(code)
                    to_create.append({
                            'code': code,
                            'name': gettext(
                                'health_shared_record'
                                '.msg_prevention_schedule_rule_name',
                                vaccine=line.vaccine.rec_name,
                                dose=dose.dose_number),
                            'category': 'vaccination',
                            'kind': 'once',
                            'age_unit': dose.age_unit or 'years',
                            'min_age': dose.age_dose,
                            'dose_number': dose.dose_number,
                            'vaccines': [('add', [line.vaccine.id])],
                            'active': line.scope != 'highrisk',
                            })
        Rule.create(to_create)


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.extend([
                ('gnuhealth.prevention.reminder|compute_all',
                    "Compute Prevention Reminders"),
                ('gnuhealth.prevention.reminder|send_reminders',
                    "Send Prevention Reminders"),
                ])


class Patient(metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'

    prevention_reminders = fields.One2Many(
        'gnuhealth.prevention.reminder', 'patient', "Prevention",
        readonly=True,
        order=[('due_date', 'ASC'), ('id', 'ASC')],
        help="Done and upcoming key dates of vaccinations, screenings and "
        "check-ups.")
    prevention_reminder_opt_out = fields.Boolean(
        "No Prevention E-mails",
        help="The patient does not want prevention reminders by e-mail.")
    prevention_note = fields.Function(
        fields.Char("Prevention Note"), 'get_prevention_note')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'compute_prevention': {},
                })

    def get_prevention_note(self, name):
        "Why some or all reminders cannot be computed"
        if not self.party.dob:
            return gettext('health_shared_record.msg_prevention_no_dob')
        if patient_sex(self.biological_sex, self.party.gender) is None:
            return gettext('health_shared_record.msg_prevention_no_sex')

    @classmethod
    @ModelView.button
    def compute_prevention(cls, patients):
        Pool().get('gnuhealth.prevention.reminder').compute(patients)

    @classmethod
    def write(cls, *args):
        super().write(*args)
        actions = iter(args)
        patients = []
        for records, values in zip(actions, actions):
            if 'biological_sex' in values:
                patients.extend(records)
        recompute(patients)


def recompute(patients):
    "Recompute the reminders of the patients after a change of their facts"
    if patients:
        Pool().get('gnuhealth.prevention.reminder').compute(
            [p.id for p in patients])


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    @classmethod
    def write(cls, *args):
        Patient = Pool().get('gnuhealth.patient')
        super().write(*args)
        actions = iter(args)
        parties = []
        for records, values in zip(actions, actions):
            if {'dob', 'gender', 'deceased'} & values.keys():
                parties.extend(records)
        if parties:
            recompute(Patient.search([
                        ('party', 'in', [p.id for p in parties]),
                        ]))


class PatientEventMixin:
    "Recompute the patient's reminders when one of its events changes"
    __slots__ = ()

    @classmethod
    def create(cls, vlist):
        records = super().create(vlist)
        recompute({r.patient for r in records if r.patient})
        return records

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        before = {r.patient for records, _ in zip(actions, actions)
            for r in records if r.patient}
        super().write(*args)
        actions = iter(args)
        after = {r.patient for records, _ in zip(actions, actions)
            for r in records if r.patient}
        recompute(before | after)

    @classmethod
    def delete(cls, records):
        patients = {r.patient for r in records if r.patient}
        super().delete(records)
        recompute(patients)


class Vaccination(PatientEventMixin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.vaccination'


class PatientProcedure(PatientEventMixin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient.procedure'


class PatientDisease(PatientEventMixin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient.disease'


class Document(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.document'

    @classmethod
    def publish(cls, documents):
        super().publish(documents)
        cls.recompute_prevention(documents)

    @classmethod
    def withdraw(cls, documents):
        super().withdraw(documents)
        cls.recompute_prevention(documents)

    @classmethod
    def recompute_prevention(cls, documents):
        "A screening report satisfies a rule: recompute its patient"
        Rule = Pool().get('gnuhealth.prevention.rule')
        codes = {d.document_type.code for d in documents if d.document_type}
        if not codes:
            return
        with without_check_access():
            rules = Rule.search([('document_type_codes', '!=', None)])
        used = {c for r in rules for c in r._codes('document_type_codes')}
        recompute({
                d.patient for d in documents
                if d.document_type and d.document_type.code in used})
