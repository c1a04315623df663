# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Prevention rules, kept as data: their checks, what the scheduler sees of
them, which rules an event counts for, and GNU Health's immunization
schedules turned into rules."""
import datetime as dt
import re
from collections import defaultdict

from sql import Literal

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

from . import schedule
from .common import StorableText
from .exceptions import PreventionRuleError
from .medicament import ATC_CODE
from .selection import Selection

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
# Vaccines are the J07 group of the WHO ATC classification
VACCINE_ATC = re.compile(r'^J07')
PROCEDURE_CODE = re.compile(r'^[0-9A-Z]{1,7}$')


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
        self._external = {}
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

    def external(self, atc, dose):
        """The rules an immunization another clinic stated, of ATC class
        atc, counts for: the rule's ATC prefixes, or a vaccine of the rule
        whose ATC code is atc's or a broader class of it"""
        rules = self._external.get(atc)
        if rules is None:
            rules = self._external[atc] = [
                (r.id, r.dose_number) for r in self.rules
                if atc and (
                    atc.startswith(r.vaccine_code_prefixes or '\0')
                    or atc.startswith(tuple(
                            self.vaccine_atc[v.id].upper()
                            for v in r.vaccines
                            if self.vaccine_atc.get(v.id)) or '\0'))]
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
