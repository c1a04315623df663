# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Prepare Patient Summary: the summary drafts itself from the consolidated
view; the clinician picks what it states, sees what changed since the
previous published summary, and publishes.

What another clinic states goes into the summary through GNU Health's own
record: ticking it accepts it there, with its provenance, as the
reconciliation does, so that what the clinic publishes is what its record
says.  An item of the record left out is left out of this summary only."""
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from . import cda_reader, consolidation
from .consolidation import Source, Statement
from .exceptions import ReconciliationError
from .guard import denied
from .overview import (
    KINDS, check_patient, conflict_in_red, conflict_text, patient_lines,
    sources_text)
from .patient import EXCLUDE, SUMMARY_TYPE_CODE
from .reconciliation import as_seen
from .reconciliation_wizard import proposed, record_values
from .selection import Selection

CHANGES = [
    ('added', "Added"),
    ('changed', "Changed"),
    ('removed', "Removed"),
    ]


def in_summary(line):
    """Whether a summary states the line: the current problems, allergies
    and medications, and the immunizations given"""
    if line.kind not in consolidation.RECONCILED_KINDS:
        return False
    statement = line.newest
    if not statement.counts or statement.negated:
        return False
    return line.kind == 'immunization' or not statement.ended


def summary_statements(document):
    "What a published summary states, read back from its CDA"
    Document = Pool().get('gnuhealth.shared_record.document')
    with Transaction().set_user(0):
        content = Document.read([document.id], ['content'])[0]['content']
    try:
        read = cda_reader.read_content(bytes(content or b''))
    except cda_reader.ContentError:
        return []
    return [
        Statement(
            kind=e.kind, name=e.name, code=e.code, system=e.system,
            atc=e.atc, start=e.start, end=e.end, status=e.status,
            negated=e.negated, planned=e.planned, dose=e.dose_number,
            source=Source(own=True))
        for e in read.entries]


class PrepareLine(ModelView):
    "Prepare Patient Summary Line"
    __name__ = 'gnuhealth.shared_record.summary.prepare.line'

    include = fields.Boolean(
        "Include", help="State it in the summary. An item from another "
        "clinic is then accepted into GNU Health's record.")
    kind = Selection(KINDS, "Kind", readonly=True)
    name = fields.Char("Name", readonly=True)
    start_date = fields.Date("Start", readonly=True)
    in_record = fields.Boolean("In GNU Health", readonly=True)
    sources = fields.Char("Sources", readonly=True)
    conflict = fields.Char("Conflict", readonly=True)
    # The records of GNU Health it comes from, or its key when none
    ref = fields.Char("Reference", readonly=True)

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [conflict_in_red()]


class PrepareChange(ModelView):
    "Prepare Patient Summary Change"
    __name__ = 'gnuhealth.shared_record.summary.prepare.change'

    change = Selection(CHANGES, "Change", readonly=True)
    kind = Selection(KINDS, "Kind", readonly=True)
    name = fields.Char("Name", readonly=True)
    before = fields.Char("Before", readonly=True)
    after = fields.Char("After", readonly=True)

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('change') == 'removed', 'warning',
                    If(Eval('change') == 'added', 'success', '')),
                ['change']),
            ]


class PrepareStart(ModelView):
    "Prepare Patient Summary"
    __name__ = 'gnuhealth.shared_record.summary.prepare.start'

    patient = fields.Many2One('gnuhealth.patient', "Patient", readonly=True)
    previous = fields.Many2One(
        'gnuhealth.shared_record.document', "Previous Summary", readonly=True)
    lines = fields.One2Many(
        'gnuhealth.shared_record.summary.prepare.line', None, "Items")


class PrepareReview(ModelView):
    "Prepare Patient Summary"
    __name__ = 'gnuhealth.shared_record.summary.prepare.review'

    previous = fields.Many2One(
        'gnuhealth.shared_record.document', "Previous Summary", readonly=True)
    changes = fields.One2Many(
        'gnuhealth.shared_record.summary.prepare.change', None,
        "Changes Since the Previous Summary", readonly=True)
    unchanged = fields.Boolean(
        "Unchanged", readonly=True,
        states={'invisible': ~Eval('unchanged')})


class Prepare(Wizard):
    "Prepare Patient Summary"
    __name__ = 'gnuhealth.shared_record.summary.prepare'

    start = StateView(
        'gnuhealth.shared_record.summary.prepare.start',
        'health_shared_record.summary_prepare_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Review Changes", 'review', 'tryton-forward',
                default=True),
            ])
    review = StateView(
        'gnuhealth.shared_record.summary.prepare.review',
        'health_shared_record.summary_prepare_review_view_form', [
            Button("Back", 'start', 'tryton-back'),
            Button("Publish", 'publish', 'tryton-ok', default=True),
            ])
    publish = StateTransition()

    def _lines(self):
        """The lines a summary may state: what the record has, and what
        another clinic states that was not rejected"""
        Reconciliation = Pool().get('gnuhealth.shared_record.reconciliation')
        patient = check_patient(self.record, doctors=True)
        rejected = Reconciliation.rejected_keys(patient)
        return patient, [line for line in patient_lines(patient)
            if in_summary(line)
            and (line.own or (line.kind, line.key) not in rejected)]

    def default_start(self, fields):
        if getattr(self.start, 'lines', None):
            # Back from the review: as the clinician left it
            return {
                'patient': self.start.patient.id,
                'previous': (
                    self.start.previous.id if self.start.previous else None),
                'lines': [line._default_values for line in self.start.lines],
                }
        patient, lines = self._lines()
        return {
            'patient': patient.id,
            'previous': previous_summary(patient),
            'lines': [{
                    'include': bool(line.own),
                    'kind': line.kind,
                    'name': line.newest.name,
                    'start_date': line.newest.start,
                    'in_record': bool(line.own),
                    'sources': sources_text(line),
                    'conflict': conflict_text(line),
                    'ref': ref_of(line),
                    } for line in lines],
            }

    def chosen(self):
        "The lines to state, by reference, as the clinician left them"
        return {line.ref for line in self.start.lines if line.include}

    def default_review(self, fields):
        patient, lines = self._lines()
        chosen = self.chosen()
        after = [line.newest for line in lines if ref_of(line) in chosen]
        previous = previous_summary(patient)
        before = summary_statements(
            Pool().get('gnuhealth.shared_record.document')(previous)
            ) if previous else []
        changes = consolidation.changes(before, after)
        return {
            'previous': previous,
            'changes': [{
                    'change': c.change, 'kind': c.kind, 'name': c.name,
                    'before': told(c.before), 'after': told(c.after),
                    } for c in changes],
            'unchanged': bool(previous) and not changes,
            }

    def transition_publish(self):
        pool = Pool()
        Document = pool.get('gnuhealth.shared_record.document')
        Reconciliation = pool.get('gnuhealth.shared_record.reconciliation')
        patient, lines = self._lines()
        chosen = self.chosen()
        to_accept = [
            line for line in lines
            if not line.own and ref_of(line) in chosen]
        if to_accept:
            Reconciliation.refresh([patient])
            items = {
                (i.kind, i.key): i for i in Reconciliation.search([
                        ('patient', '=', patient.id),
                        ('state', '=', 'pending'),
                        ])}
            for line in to_accept:
                item = items.get((line.kind, line.key))
                if item is None:
                    raise ReconciliationError(gettext(
                            'health_shared_record.msg_summary_reconcile_first',
                            item=line.newest.name))
                item = as_seen(item)
                start = proposed(item)
                if not (start.pathology or start.medicament):
                    raise ReconciliationError(gettext(
                            'health_shared_record.msg_summary_reconcile_first',
                            item=item.name))
                Reconciliation.record_acceptance(
                    item, record_values(item, start))
        excluded = [
            record for line in lines if line.own
            and ref_of(line) not in chosen
            for record in ref_of(line).split(';')]
        with Transaction().set_context({EXCLUDE: excluded}):
            try:
                Document.publish_records([patient])
            except AccessError:
                # trytond's words name the record the user may not see
                raise denied() from None
        return 'end'


def told(statement):
    """What a summary states of an item, in the user's words: its status,
    since and until when, its dose"""
    pool = Pool()
    Lang = pool.get('ir.lang')
    Entry = pool.get('gnuhealth.shared_record.entry')
    if statement is None:
        return ''
    lang = Lang.get()
    statuses = dict(Entry.fields_get(['status'])['status']['selection'])
    parts = []
    if statement.negated:
        parts.append(gettext('health_shared_record.msg_summary_absent'))
    if statement.status:
        parts.append(statuses.get(statement.status, statement.status))
    if statement.start:
        parts.append(gettext('health_shared_record.msg_summary_since',
                date=lang.strftime(statement.start)))
    if statement.end:
        parts.append(gettext('health_shared_record.msg_summary_until',
                date=lang.strftime(statement.end)))
    if statement.dose:
        parts.append(gettext('health_shared_record.msg_summary_dose',
                dose=statement.dose))
    if statement.value:
        parts.append(' '.join(filter(None, [statement.value, statement.unit])))
    return ', '.join(parts)


def ref_of(line):
    "The records of GNU Health of the line, or the line's key"
    own = [s.source.record for s in line.own]
    return ';'.join(own) if own else f'{line.kind}:{line.key}'


def previous_summary(patient):
    "The id of the patient summary published last, that the user may read"
    Document = Pool().get('gnuhealth.shared_record.document')
    documents = Document.search([
            ('patient', '=', patient.id),
            ('document_type.code', '=', SUMMARY_TYPE_CODE),
            ('state', '=', 'published'),
            ('source', '=', 'local'),
            ], order=[('published_date', 'DESC'), ('id', 'DESC')], limit=1)
    return documents[0].id if documents else None


class Patient(metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'prepare_shared_record_summary': {},
                })

    @classmethod
    @ModelView.button_action('health_shared_record.wizard_summary_prepare')
    def prepare_shared_record_summary(cls, patients):
        pass
