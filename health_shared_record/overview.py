# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The consolidated view of a patient: problems, allergies, medications,
immunizations and results from GNU Health's own record and from every
document the user may read, one line for each thing, with its sources and
what they disagree on."""
import datetime as dt

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateView, Wizard

from . import consolidation
from .common import clinic_today, local_date
from .consolidation import Source, Statement
from .entry import KINDS as ENTRY_KINDS, STATUSES
from .exceptions import ReconciliationError
from .guard import actor, denied
from .selection import Selection

# What the overview holds: what documents state, vital signs aside
KINDS = [k for k in ENTRY_KINDS if k[0] in consolidation.KINDS]


def _day(value):
    if isinstance(value, dt.datetime):
        return local_date(value)
    return value


def _name(record):
    return record.rec_name if record else ''


def own_statements(patient):
    """What GNU Health's own record states of patient, as a published
    patient summary would: conditions and allergies, medications and the
    vaccinations given (signed).  A record accepted from another clinic's
    statement is that statement, whatever code the clinician chose"""
    pool = Pool()
    Evaluation = pool.get('gnuhealth.patient.evaluation')
    Reconciliation = pool.get('gnuhealth.shared_record.reconciliation')
    statements = []
    for disease in patient.diseases:
        onset = disease.shared_record_onset()
        statements.append(Statement(
                kind='allergy' if disease.is_allergy else 'problem',
                name=disease.pathology.name,
                code=disease.pathology.code, system='ICD-10',
                start=onset, end=disease.healed_date,
                status='active' if disease.is_active else 'resolved',
                source=Source(
                    own=True, record=str(disease),
                    institution=_name(disease.institution),
                    date=onset)))
    for evaluation in Evaluation.shared_record_summary_problems(
            patient, {d.pathology.id for d in patient.diseases}):
        start = local_date(evaluation.evaluation_start)
        statements.append(Statement(
                kind='problem', name=evaluation.diagnosis.name,
                code=evaluation.diagnosis.code, system='ICD-10',
                start=start, status='active',
                source=Source(
                    own=True, record=str(evaluation),
                    institution=_name(evaluation.institution), date=start)))
    for medication in patient.medications:
        medicament = medication.medicament
        start = _day(medication.start_treatment)
        statements.append(Statement(
                kind='medication', name=medicament.rec_name,
                atc=medicament.atc_code,
                start=start, end=_day(medication.end_treatment),
                status='active' if medication.is_active else 'completed',
                source=Source(
                    own=True, record=str(medication),
                    institution=_name(medication.institution), date=start)))
    for vaccination in patient.vaccinations:
        if not vaccination.is_done_for_shared_record():
            continue
        date = _day(vaccination.date)
        statements.append(Statement(
                kind='immunization', name=vaccination.vaccine.rec_name,
                atc=vaccination.vaccine.atc_code, start=date,
                dose=vaccination.dose, status='completed',
                source=Source(
                    own=True, record=str(vaccination),
                    institution=_name(vaccination.institution), date=date)))
    aliases = Reconciliation.accepted_keys(patient)
    for statement in statements:
        statement.alias = aliases.get(statement.source.record)
    return statements


# What the statements need of an entry, read for all at once
ENTRY_FIELDS = [
    'document', 'kind', 'name', 'code', 'code_system', 'atc', 'start_date',
    'end_date', 'status', 'negated', 'planned', 'dose_number', 'value',
    'unit']
DOCUMENT_FIELDS = ['source_institution', 'title', 'effective_date']


def entry_statement(entry, document):
    "What an entry read from a document states, with its source"
    return Statement(
        kind=entry['kind'], name=entry['name'], code=entry['code'],
        system=entry['code_system'], atc=entry['atc'],
        start=entry['start_date'], end=entry['end_date'],
        status=entry['status'], negated=bool(entry['negated']),
        planned=bool(entry['planned']), dose=entry['dose_number'],
        value=entry['value'], unit=entry['unit'],
        source=Source(
            own=False, institution=document['source_institution'] or '',
            document=document['id'], title=document['title'],
            date=_day(document['effective_date']), entry=entry['id'],
            time=document['effective_date']))


def document_statements(patient):
    """What the current documents of patient that the user may read state
    (those of other clinics: this clinic's say what its record says)"""
    pool = Pool()
    Entry = pool.get('gnuhealth.shared_record.entry')
    Document = pool.get('gnuhealth.shared_record.document')
    # The guard decides in the search; what is read is read as the
    # server, in two reads, without the relations' checks of each record
    ids = Entry.search([
            ('patient', '=', patient.id),
            ('document.state', '=', 'published'),
            ('kind', 'in', list(consolidation.KINDS)),
            ], order=[('id', 'ASC')])
    with Transaction().set_user(0), without_check_access():
        entries = Entry.read(ids, ENTRY_FIELDS)
        documents = {d['id']: d for d in Document.read(
                list({e['document'] for e in entries}), DOCUMENT_FIELDS)}
    return [entry_statement(e, documents[e['document']]) for e in entries]


def patient_lines(patient):
    "The consolidated lines of patient, from every source the user may read"
    return consolidation.consolidate(
        own_statements(patient) + document_statements(patient),
        birth_date=patient.party.dob, today=clinic_today())


def conflict_text(line):
    return '; '.join(
        gettext(f'health_shared_record.msg_conflict_{code}')
        for code in consolidation.CONFLICTS if code in line.conflicts)


def sources_text(line):
    "Where the line comes from: this record, then each document, newest first"
    here = gettext('health_shared_record.msg_source_here')
    texts = []
    for statement in line.statements:
        source = statement.source
        if source.own:
            text = here
        else:
            text = ', '.join(filter(None, [
                        source.institution, source.title,
                        source.date.isoformat() if source.date else '']))
        if text not in texts:
            texts.append(text)
    return '; '.join(texts)


def line_values(line):
    "The values of an overview line"
    newest = line.newest
    return {
        'kind': line.kind,
        'name': newest.name,
        'code': newest.code or newest.atc or line.first.code,
        'code_system': (
            newest.system if newest.code else 'ATC' if newest.atc else None),
        'start_date': newest.start,
        'end_date': newest.end,
        'status': newest.status,
        'value': ' '.join(filter(None, [newest.value, newest.unit])) or None,
        'negated': any(s.negated for s in line.statements)
        and all(s.negated for s in line.statements),
        'in_record': bool(line.own),
        'sources': sources_text(line),
        'source_count': len(line.statements),
        'conflict': conflict_text(line),
        }


class OverviewLine(ModelView):
    "Patient Overview Line"
    __name__ = 'gnuhealth.shared_record.overview.line'

    kind = Selection(KINDS, "Kind", readonly=True)
    name = fields.Char("Name", readonly=True)
    code = fields.Char("Code", readonly=True)
    code_system = fields.Char("Code System", readonly=True)
    start_date = fields.Date("Start", readonly=True)
    end_date = fields.Date("End", readonly=True)
    status = Selection(STATUSES, "Status", readonly=True)
    value = fields.Char("Value", readonly=True)
    negated = fields.Boolean("Stated Absent", readonly=True)
    in_record = fields.Boolean(
        "In GNU Health", readonly=True,
        help="GNU Health's own record states it.")
    sources = fields.Char("Sources", readonly=True)
    source_count = fields.Integer("Statements", readonly=True)
    conflict = fields.Char("Conflict", readonly=True,
        help="What the sources disagree on.")

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [conflict_in_red()]


def conflict_in_red():
    "The rows of a list whose conflict is not empty show in red"
    return ('/tree', 'visual', If(Bool(Eval('conflict')), 'danger', ''),
        ['conflict'])


class OverviewStart(ModelView):
    "Patient Overview"
    __name__ = 'gnuhealth.shared_record.overview.start'

    patient = fields.Many2One('gnuhealth.patient', "Patient", readonly=True)
    lines = fields.One2Many(
        'gnuhealth.shared_record.overview.line', None, "Lines",
        readonly=True)
    conflicts = fields.Integer("Conflicts", readonly=True)


class Overview(Wizard):
    "Patient Overview"
    __name__ = 'gnuhealth.shared_record.overview'

    start = StateView(
        'gnuhealth.shared_record.overview.start',
        'health_shared_record.overview_start_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_start(self, fields):
        patient = check_patient(self.record)
        lines = [line_values(line) for line in patient_lines(patient)]
        return {
            'patient': patient.id,
            'lines': lines,
            'conflicts': sum(bool(line['conflict']) for line in lines),
            }


def check_patient(record, doctors=False):
    """The patient a wizard runs on, for a clinician of the clinic (a
    doctor when doctors) whom the patient did not block: the consolidated
    record is the clinic's working view"""
    pool = Pool()
    Blocked = pool.get('gnuhealth.shared_record.blocked_professional')
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    if record is None or record.__name__ != 'gnuhealth.patient':
        raise ReconciliationError(gettext(
                'health_shared_record.msg_reconcile_no_patient'))
    who = actor()
    if who.root:
        return record
    if not who.clinician or (doctors and ModelData.get_id(
                'health', 'group_health_doctor') not in User.get_groups()):
        raise ReconciliationError(gettext(
                'health_shared_record.msg_summary_doctors_only'
                if doctors else
                'health_shared_record.msg_reconcile_clinicians_only'))
    with Transaction().set_user(0):
        if Blocked.search([
                    ('patient', '=', record.id),
                    ('professional', '=', who.professional),
                    ], limit=1):
            raise denied()
    return record


class Patient(metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'shared_record_overview': {},
                })

    @classmethod
    @ModelView.button_action('health_shared_record.wizard_overview')
    def shared_record_overview(cls, patients):
        pass

