# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Accepting an item from another clinic into GNU Health's record, with
what GNU Health needs to know of it (its condition, medicament, vaccine),
and rejecting one with a reason."""
import datetime as dt
import types

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .common import clinic_today
from .consolidation import code_key
from .exceptions import ReconciliationError
from .guard import actor
from .overview import KINDS
from .reconciliation import as_seen, check_clinician
from .selection import Selection

ALLERGY_TYPES = [
    (None, ''),
    ('da', "Drug Allergy"),
    ('fa', "Food Allergy"),
    ('ma', "Misc Allergy"),
    ('mc', "Misc Contraindication"),
    ]
CONDITION = {'problem', 'allergy'}


def _dotted(code):
    "An ICD-10 code as GNU Health writes it, with its dot"
    code = code.replace('.', '').upper()
    return code[:3] + '.' + code[3:] if len(code) > 3 else code


class AcceptStart(ModelView):
    "Accept into GNU Health's Record"
    __name__ = 'gnuhealth.shared_record.reconciliation.accept.start'

    item = fields.Many2One(
        'gnuhealth.shared_record.reconciliation', "Item", readonly=True)
    kind = Selection(KINDS, "Kind", readonly=True)
    stated = fields.Char("Stated As", readonly=True)
    sources = fields.Char("Sources", readonly=True)
    conflict = fields.Char(
        "Conflict", readonly=True, states={'invisible': ~Eval('conflict')})
    pathology = fields.Many2One(
        'gnuhealth.pathology', "Condition",
        states={
            'invisible': ~Eval('kind').in_(['problem', 'allergy']),
            'required': Eval('kind').in_(['problem', 'allergy']),
            },
        help="The condition of GNU Health's list the document states.")
    allergy_type = fields.Selection(
        ALLERGY_TYPES, "Allergy Type",
        states={'invisible': Eval('kind') != 'allergy'})
    medicament = fields.Many2One(
        'gnuhealth.medicament', "Medicament",
        domain=[If(Eval('kind') == 'immunization',
                ('is_vaccine', '=', True), ())],
        states={
            'invisible': ~Eval('kind').in_(['medication', 'immunization']),
            'required': Eval('kind').in_(['medication', 'immunization']),
            })
    start_date = fields.Date(
        "Date", states={'required': Eval('kind') == 'immunization'},
        help="The onset, the start of the treatment, the day the vaccine "
        "was given.")
    end_date = fields.Date(
        "End", states={'invisible': Eval('kind') == 'immunization'})
    active = fields.Boolean(
        "Active", states={'invisible': Eval('kind') == 'immunization'})
    dose = fields.Integer(
        "Dose", states={
            'invisible': Eval('kind') != 'immunization',
            'required': Eval('kind') == 'immunization',
            })
    institution = fields.Many2One(
        'gnuhealth.institution', "Institution",
        help="Where it was diagnosed, prescribed or given, when GNU Health "
        "knows the institution.")
    note = fields.Char("Note")


class Accept(Wizard):
    "Accept into GNU Health's Record"
    __name__ = 'gnuhealth.shared_record.reconciliation.accept'

    start = StateView(
        'gnuhealth.shared_record.reconciliation.accept.start',
        'health_shared_record.reconciliation_accept_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Accept", 'accept', 'tryton-ok', default=True),
            ])
    accept = StateTransition()

    def _item(self):
        item = self.record
        if item is None or item.__name__ != (
                'gnuhealth.shared_record.reconciliation'):
            raise ReconciliationError(gettext(
                    'health_shared_record.msg_reconcile_no_item'))
        check_clinician()
        if item.state != 'pending':
            raise ReconciliationError(gettext(
                    'health_shared_record.msg_reconcile_decided',
                    item=item.name))
        return item

    def default_start(self, fields):
        item = as_seen(self._item())
        values = {
            'item': item.id,
            'kind': item.kind,
            'stated': ' '.join(filter(None, [
                        item.name, item.code_system, item.code])),
            'sources': item.sources,
            'conflict': item.conflict,
            }
        for name, value in vars(proposed(item)).items():
            values[name] = getattr(value, 'id', value)
        return values

    def transition_accept(self):
        item = as_seen(self._item())
        Reconciliation = Pool().get('gnuhealth.shared_record.reconciliation')
        Reconciliation.record_acceptance(item, record_values(item, self.start))
        return 'end'


def proposed(item):
    """What the record of GNU Health made from item would hold, as far as
    GNU Health knows the item's codes and institution"""
    values = types.SimpleNamespace(
        pathology=None, allergy_type=None, medicament=None,
        start_date=item.start_date, end_date=item.end_date,
        active=item.kind != 'immunization' and not item.end_date
        and item.status not in {'resolved', 'inactive', 'completed'},
        dose=item.dose_number, institution=None,
        note=gettext(
            'health_shared_record.msg_reconcile_note',
            sources=item.sources)[:256])
    values.__dict__.update(known_targets(item))
    return values


def known_targets(item):
    "What GNU Health already knows of the item's code and institution"
    pool = Pool()
    Pathology = pool.get('gnuhealth.pathology')
    Medicament = pool.get('gnuhealth.medicament')
    Institution = pool.get('gnuhealth.institution')
    Vaccination = pool.get('gnuhealth.vaccination')
    values = {}
    key = code_key(item.code_system, item.code) or ''
    if item.kind in CONDITION and key.startswith('ICD-10|'):
        code = key.split('|', 1)[1]
        pathologies = Pathology.search([
                ('code', 'in', [code, _dotted(code)])], limit=1)
        if pathologies:
            values['pathology'] = pathologies[0]
    if item.kind in {'medication', 'immunization'} and item.atc:
        domain = [('atc_code', '=', item.atc.upper())]
        if item.kind == 'immunization':
            domain.append(('is_vaccine', '=', True))
        medicaments = Medicament.search(domain, limit=1)
        if medicaments:
            values['medicament'] = medicaments[0]
            if item.kind == 'immunization':
                given = Vaccination.search([
                        ('patient', '=', item.patient.id),
                        ('vaccine', '=', medicaments[0].id),
                        ])
                taken = {v.dose for v in given}
                if not item.dose_number or item.dose_number in taken:
                    values['dose'] = max(taken | {0}) + 1
    if item.source_institution:
        institutions = Institution.search([
                ('party.name', '=', item.source_institution)], limit=2)
        if len(institutions) == 1:
            values['institution'] = institutions[0]
    return values


def record_values(item, start):
    """The values of the record of GNU Health the item becomes, as start
    (the accept wizard's form) completes it"""
    start = types.SimpleNamespace(**{
            name: getattr(start, name, None) for name in [
                'pathology', 'allergy_type', 'medicament', 'start_date',
                'end_date', 'active', 'dose', 'institution', 'note']})
    patient = item.patient
    date = start.start_date
    today = clinic_today()
    dob = patient.party.dob
    for day in filter(None, [date, start.end_date]):
        if day > today:
            raise ReconciliationError(gettext(
                    'health_shared_record.msg_reconcile_date_future',
                    item=item.name, date=day))
        if dob and day < dob:
            raise ReconciliationError(gettext(
                    'health_shared_record.msg_reconcile_date_before_birth',
                    item=item.name, date=day, birth=dob))
    if date and start.end_date and start.end_date < date:
        raise ReconciliationError(gettext(
                'health_shared_record.msg_reconcile_end_before_start',
                item=item.name))
    professional = actor().professional
    professional = professional if professional > 0 else None
    institution = start.institution.id if start.institution else None
    note = (start.note or '').strip() or None
    if item.kind in CONDITION:
        if not start.pathology:
            raise ReconciliationError(gettext(
                    'health_shared_record.msg_reconcile_code_unknown',
                    item=item.name))
        return {
            'patient': patient.id,
            'pathology': start.pathology.id,
            'is_allergy': item.kind == 'allergy',
            'allergy_type': (
                start.allergy_type if item.kind == 'allergy' else None),
            'diagnosed_date': date,
            'healed_date': start.end_date,
            'is_active': bool(start.active),
            'short_comment': note,
            'institution': institution,
            'healthprof': professional,
            }
    if not start.medicament:
        raise ReconciliationError(gettext(
                'health_shared_record.msg_reconcile_code_unknown',
                item=item.name))
    if item.kind == 'medication':
        return {
            'patient': patient.id,
            'medicament': start.medicament.id,
            'start_treatment': _datetime(date),
            'end_treatment': _datetime(start.end_date),
            'is_active': bool(start.active),
            'notes': note,
            'institution': institution,
            'healthprof': professional,
            }
    if not start.medicament.is_vaccine:
        raise ReconciliationError(gettext(
                'health_shared_record.msg_reconcile_not_vaccine',
                item=item.name, medicament=start.medicament.rec_name))
    if not date:
        raise ReconciliationError(gettext(
                'health_shared_record.msg_reconcile_date_required',
                item=item.name))
    check_dose(item, start.medicament, start.dose)
    return {
        'patient': patient.id,
        'vaccine': start.medicament.id,
        'date': _datetime(date),
        'dose': start.dose,
        'institution': institution,
        'observations': note,
        # Given elsewhere: as done as it will ever be
        'state': 'done',
        }


def check_dose(item, vaccine, dose):
    "GNU Health keeps one dose number of a vaccine per patient"
    Vaccination = Pool().get('gnuhealth.vaccination')
    if not dose or dose < 1:
        raise ReconciliationError(gettext(
                'health_shared_record.msg_reconcile_dose_required',
                item=item.name))
    given = Vaccination.search([
            ('patient', '=', item.patient.id),
            ('vaccine', '=', vaccine.id),
            ('dose', '=', dose),
            ], limit=1)
    if given:
        raise ReconciliationError(gettext(
                'health_shared_record.msg_reconcile_dose_taken',
                item=item.name, dose=dose,
                vaccine=vaccine.rec_name))


def _datetime(date):
    "A day as GNU Health's datetime fields keep it: noon, so no zone moves it"
    if date is None:
        return None
    return dt.datetime.combine(date, dt.time(12))


class RejectStart(ModelView):
    "Reject an Item from Another Clinic"
    __name__ = 'gnuhealth.shared_record.reconciliation.reject.start'

    reason = fields.Char(
        "Reason", required=True,
        help="Why GNU Health's record does not take it: kept in the log.")


class Reject(Wizard):
    "Reject an Item from Another Clinic"
    __name__ = 'gnuhealth.shared_record.reconciliation.reject'

    start = StateView(
        'gnuhealth.shared_record.reconciliation.reject.start',
        'health_shared_record.reconciliation_reject_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Reject", 'reject', 'tryton-ok', default=True),
            ])
    reject = StateTransition()

    def transition_reject(self):
        Reconciliation = Pool().get('gnuhealth.shared_record.reconciliation')
        items = [
            r for r in self.records
            if r.__name__ == 'gnuhealth.shared_record.reconciliation']
        if not items:
            raise ReconciliationError(gettext(
                    'health_shared_record.msg_reconcile_no_item'))
        Reconciliation.record_rejection(items, self.start.reason)
        return 'end'
