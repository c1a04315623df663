# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Reconciliation: what other clinics' documents state that GNU Health's
own record lacks or contradicts, for a clinician to accept into the record
(with its provenance), reject with a reason, or find already there.

The items are made by the server from the documents (refresh); a client
changes them only through the buttons and wizards, which check who acts,
and every decision is in an append-only log.  A rejected item comes back
when a newer document states it again."""
import datetime as dt

from sql import Literal
from sql.operators import Exists

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from . import consolidation
from .common import REASON_LIMIT
from .entry import STATUSES
from .exceptions import ReconciliationError
from .guard import Guarded, actor, denied, from_client
from .overview import (
    DOCUMENT_FIELDS, ENTRY_FIELDS, KINDS, conflict_in_red, conflict_text,
    document_statements, entry_statement, own_statements, sources_text)
from .selection import Selection
from .trail import AppendOnly

STATES = [
    ('pending', "To Review"),
    ('accepted', "Accepted"),
    ('rejected', "Rejected"),
    ('present', "Already There"),
    ]
DECISIONS = STATES + [('stated_again', "Stated Again")]
# The fields of an item made from what its documents state
DISPLAYED = ['name', 'code', 'code_system', 'atc', 'start_date', 'end_date',
    'status', 'dose_number', 'in_record', 'conflict', 'sources',
    'source_institution', 'last_stated']
TARGETS = {
    'problem': 'gnuhealth.patient.disease',
    'allergy': 'gnuhealth.patient.disease',
    'medication': 'gnuhealth.patient.medication',
    'immunization': 'gnuhealth.vaccination',
    }


def as_server():
    return Transaction().set_user(0)


def check_clinician():
    who = actor()
    if not (who.root or who.clinician):
        raise ReconciliationError(gettext(
                'health_shared_record.msg_reconcile_clinicians_only'))


class Reconciliation(Guarded, ModelSQL, ModelView):
    "Shared Record Reconciliation"
    __name__ = 'gnuhealth.shared_record.reconciliation'

    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True, readonly=True,
        ondelete='CASCADE')
    kind = Selection(KINDS, "Kind", required=True, readonly=True)
    key = fields.Char("Key", required=True, readonly=True,
        help="What the item is about, by its code.")
    name = fields.Char("Name", required=True, readonly=True)
    code = fields.Char("Code", readonly=True)
    code_system = fields.Char("Code System", readonly=True)
    atc = fields.Char("ATC Code", readonly=True)
    start_date = fields.Date("Start", readonly=True)
    end_date = fields.Date("End", readonly=True)
    status = Selection(STATUSES, "Status", readonly=True)
    dose_number = fields.Integer("Dose", readonly=True)
    in_record = fields.Boolean(
        "In GNU Health", readonly=True,
        help="GNU Health's own record states it, and a document contradicts "
        "it.")
    conflict = fields.Char("Conflict", readonly=True)
    sources = fields.Char("Sources", readonly=True)
    source_institution = fields.Char("Source Institution", readonly=True)
    last_stated = fields.DateTime(
        "Last Stated", readonly=True,
        help="When the newest document that states it was written.")
    state = Selection(STATES, "State", required=True, readonly=True)
    reason = fields.Char("Reason", readonly=True)
    decided_by = fields.Many2One('res.user', "Decided By", readonly=True)
    decided_on = fields.DateTime("Decided On", readonly=True)
    decided_stated = fields.DateTime("Stated When Decided", readonly=True)
    record = fields.Reference(
        "Record", selection='get_targets', readonly=True,
        help="The record of GNU Health the item was accepted into.")
    entries = fields.Many2Many(
        'gnuhealth.shared_record.reconciliation-entry', 'reconciliation',
        'entry', "Statements", readonly=True)
    decisions = fields.One2Many(
        'gnuhealth.shared_record.reconciliation.decision', 'reconciliation',
        "Decisions", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('key_unique', Unique(t, t.patient, t.kind, t.key),
                'health_shared_record.msg_reconcile_unique'),
            ]
        cls._sql_indexes.add(Index(
                t, (t.patient, Index.Equality()), (t.state, Index.Equality())))
        cls._order = [('kind', 'ASC'), ('last_stated', 'DESC'), ('id', 'DESC')]
        pending = Eval('state') == 'pending'
        cls._buttons.update({
                'accept': {'invisible': ~pending, 'depends': ['state']},
                'reject': {'invisible': ~pending, 'depends': ['state']},
                'mark_present': {'invisible': ~pending, 'depends': ['state']},
                'reopen': {
                    'invisible': Eval('state').in_(['pending', 'accepted']),
                    'depends': ['state'],
                    },
                })

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [conflict_in_red()]

    @classmethod
    def default_state(cls):
        return 'pending'

    @classmethod
    def accepted_keys(cls, patient):
        "{record: key} of the records of patient accepted from an item"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.record, table.key,
                where=(table.patient == patient.id)
                & (table.state == 'accepted')
                & (table.record != None)))  # noqa: E711
        return dict(cursor)

    @classmethod
    def rejected_keys(cls, patient):
        "The (kind, key) of the items of patient rejected"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.kind, table.key,
                where=(table.patient == patient.id)
                & (table.state == 'rejected')))
        return set(cursor)

    @classmethod
    def get_targets(cls):
        Model = Pool().get('ir.model')
        names = sorted(set(TARGETS.values()))
        return [(None, '')] + [
            (m.model, m.name) for m in Model.search([('model', 'in', names)])]

    @classmethod
    def guard_where(cls, table, actor):
        """Clinicians see the items stated by a document they may read;
        nobody else but the server"""
        if actor.root:
            return Literal(True)
        if not actor.clinician:
            return Literal(False)
        pool = Pool()
        Relation = pool.get('gnuhealth.shared_record.reconciliation-entry')
        Entry = pool.get('gnuhealth.shared_record.entry')
        relation, entry = Relation.__table__(), Entry.__table__()
        return Exists(relation.join(
                entry, condition=relation.entry == entry.id).select(
                Literal(1), where=(relation.reconciliation == table.id)
                & Entry.guard_where(entry, actor)))

    # What the reader sees of an item

    @classmethod
    def read(cls, ids, fields_names):
        rows = super().read(ids, fields_names)
        if from_client() and set(fields_names) & set(DISPLAYED):
            cls._read_as_seen(rows, fields_names)
        return rows

    @classmethod
    def export_data(cls, records, fields_names, header=False):
        "trytond exports what the items hold: only those seen whole"
        if from_client() and cls._hidden_entries([r.id for r in records]):
            raise denied()
        return super().export_data(records, fields_names, header=header)

    @classmethod
    def _hidden_entries(cls, ids):
        """{item id: ids of its entries the user may read} of the items
        stated also by a document the user may not read"""
        pool = Pool()
        Relation = pool.get('gnuhealth.shared_record.reconciliation-entry')
        Entry = pool.get('gnuhealth.shared_record.entry')
        relation = Relation.__table__()
        cursor = Transaction().connection.cursor()
        pairs = []
        for sub in grouped_slice(ids):
            cursor.execute(*relation.select(
                    relation.reconciliation, relation.entry,
                    where=reduce_ids(relation.reconciliation, sub)))
            pairs.extend(cursor)
        readable = Entry.guard_readable_ids({e for _, e in pairs})
        hidden = {i for i, e in pairs if e not in readable}
        return {
            i: [e for j, e in pairs if j == i and e in readable]
            for i in hidden}

    @classmethod
    def _read_as_seen(cls, rows, fields_names):
        """An item stated by documents some of which the reader may not
        read (masked, very restricted, a blocked professional) says what
        those the reader may read state, and names only them"""
        hidden = cls._hidden_entries([r['id'] for r in rows])
        if not hidden:
            return
        pool = Pool()
        Entry = pool.get('gnuhealth.shared_record.entry')
        Document = pool.get('gnuhealth.shared_record.document')
        with as_server():
            for row in rows:
                if row['id'] not in hidden:
                    continue
                item = cls(row['id'])
                entries = Entry.read(hidden[row['id']], ENTRY_FIELDS)
                documents = {d['id']: d for d in Document.read(
                        list({e['document'] for e in entries}),
                        DOCUMENT_FIELDS)}
                statements = [
                    s for s in own_statements(item.patient)
                    if s.kind == item.kind and s.key == item.key] + [
                    entry_statement(e, documents[e['document']])
                    for e in entries]
                lines = [
                    line for line in consolidation.consolidate(statements)
                    if line.key == item.key and line.external]
                values = (
                    cls.line_values(lines[0]) if lines else dict.fromkeys(
                        DISPLAYED))
                if not lines:
                    values['name'] = '-'
                for name in fields_names:
                    if name in DISPLAYED:
                        row[name] = values[name]

    # Made by the server from the documents

    @classmethod
    def refresh(cls, patients):
        """Bring the items of the patients in line with what their current
        documents state; return the number of items to review"""
        pool = Pool()
        Patient = pool.get('gnuhealth.patient')
        to_review = 0
        with as_server():
            for patient in Patient.browse(list(map(int, patients))):
                to_review += cls._refresh(patient)
        return to_review

    @classmethod
    def _refresh(cls, patient):
        lines = consolidation.consolidate(
            own_statements(patient) + document_statements(patient),
            birth_date=patient.party.dob)
        wanted = {}
        for line in lines:
            if line.kind not in consolidation.RECONCILED_KINDS:
                continue
            if not line.external:
                continue
            if line.missing_here or (line.own and line.conflicts):
                wanted[line.kind, line.key] = line
        existing = {
            (i.kind, i.key): i for i in cls.search([
                    ('patient', '=', patient.id)])}
        to_create, to_write, to_delete, again = [], [], [], []
        pending = 0
        for key, line in wanted.items():
            values = cls.line_values(line)
            item = existing.pop(key, None)
            if item is None:
                to_create.append(dict(
                        values, patient=patient.id, kind=line.kind,
                        key=line.key, state='pending'))
                pending += 1
                continue
            if (item.state == 'rejected' and line.last_stated
                    and (item.decided_stated is None
                        or line.last_stated > item.decided_stated)):
                values['state'] = 'pending'
                again.append(item)
            changed = {
                name: value for name, value in values.items()
                if name != 'entries' and getattr(item, name) != value}
            old, new = {e.id for e in item.entries}, set(values['entries'])
            if old != new:
                changed['entries'] = [
                    ('remove', sorted(old - new)), ('add', sorted(new - old))]
            if changed:
                to_write.extend(([item], changed))
            pending += values.get('state', item.state) == 'pending'
        for item in existing.values():
            if item.state == 'pending':
                to_delete.append(item)
        if to_create:
            for values in to_create:
                values['entries'] = [('add', values['entries'])]
            cls.create(to_create)
        if to_write:
            cls.write(*to_write)
        cls.delete(to_delete)
        if again:
            Decision = Pool().get(
                'gnuhealth.shared_record.reconciliation.decision')
            Decision.log(again, 'stated_again')
        return pending

    @staticmethod
    def line_values(line):
        "The values of the item of line: what its newest document says"
        latest = max(line.external, key=lambda s: (
                s.source.time or dt.datetime.min, s.source.entry or 0))
        return {
            'name': latest.name[:512],
            'code': latest.code,
            'code_system': latest.system,
            'atc': latest.atc or (
                latest.code if latest.system == 'ATC' else None),
            'start_date': latest.start,
            'end_date': latest.end,
            'status': latest.status,
            'dose_number': latest.dose,
            'in_record': bool(line.own),
            'conflict': conflict_text(line)[:512] or None,
            'sources': sources_text(line)[:1024],
            'source_institution': (latest.source.institution or '')[:256],
            'last_stated': line.last_stated,
            'entries': [s.source.entry for s in line.external],
            }

    # The decisions, which clinicians take

    @classmethod
    def _decide(cls, items, state, record=None, **values):
        "Lock the items, check they are still to review, and decide them"
        check_clinician()
        user = Transaction().user
        with as_server():
            items = cls.locked_pending(items)
            now = dt.datetime.now()
            if record is not None:
                values['record'] = str(record)
            args = []
            for item in items:
                # Comes back only with a document newer than it had
                args.extend(([item], dict(
                            values, state=state, decided_by=user,
                            decided_on=now,
                            decided_stated=item.last_stated)))
            cls.write(*args)
            Decision = Pool().get(
                'gnuhealth.shared_record.reconciliation.decision')
            Decision.log(
                items, state, user=user, record=record,
                reason=values.get('reason'))
        return items

    @classmethod
    def locked_pending(cls, items):
        """The items, locked against a decision taken at the same time
        (by another clinician, or twice), still to review"""
        table = cls.__table__()
        ids = [i.id for i in items]
        cls.lock(ids)
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(
                table.id, table.state, where=table.id.in_(ids or [-1])))
        states = dict(cursor)
        items = cls.browse(ids)
        for item in items:
            if states.get(item.id) != 'pending':
                raise ReconciliationError(gettext(
                        'health_shared_record.msg_reconcile_decided',
                        item=item.name))
        return items

    @classmethod
    @ModelView.button_action(
        'health_shared_record.wizard_reconciliation_accept')
    def accept(cls, items):
        pass

    @classmethod
    @ModelView.button_action(
        'health_shared_record.wizard_reconciliation_reject')
    def reject(cls, items):
        pass

    @classmethod
    @ModelView.button
    def mark_present(cls, items):
        cls._decide(items, 'present')

    @classmethod
    @ModelView.button
    def reopen(cls, items):
        """A rejection or an "already there" taken by mistake: to review
        again.  An accepted item made a record of GNU Health, which is
        corrected there: accepting it again would make it twice"""
        check_clinician()
        user = Transaction().user
        with as_server():
            table = cls.__table__()
            ids = [i.id for i in items]
            cls.lock(ids)
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.select(
                    table.id, table.state, where=table.id.in_(ids or [-1])))
            items = cls.browse(ids)
            states = dict(cursor)
            for item in items:
                if states.get(item.id) not in {'rejected', 'present'}:
                    raise ReconciliationError(gettext(
                            'health_shared_record.msg_reconcile_not_reopened',
                            item=item.name))
            cls.write(items, {
                    'state': 'pending', 'decided_by': None,
                    'decided_on': None, 'reason': None})
            Pool().get(
                'gnuhealth.shared_record.reconciliation.decision').log(
                items, 'pending', user=user)

    @classmethod
    def record_rejection(cls, items, reason):
        reason = (reason or '').strip()
        if not reason:
            raise ReconciliationError(gettext(
                    'health_shared_record.msg_reconcile_reason_required'))
        cls._decide(items, 'rejected', reason=reason[:REASON_LIMIT])

    @classmethod
    def record_acceptance(cls, item, values):
        """Create the record of GNU Health that values describe for item,
        once, and keep it as the item's"""
        check_clinician()
        Target = Pool().get(TARGETS[item.kind])
        with as_server():
            item, = cls.locked_pending([item])
        check_duplicate(item, values)
        # As the clinician, with GNU Health's rights and checks: a wizard's
        # transition runs without the access checks a client's call has
        with Transaction().set_context(_check_access=True):
            record, = Target.create([values])
        cls._decide([item], 'accepted', record=record)
        return record

    @classmethod
    def provenance(cls, records):
        """{record: text} of where each record of GNU Health accepted from
        another clinic came from, as its acceptance logged it, for the
        items the user may see"""
        pool = Pool()
        Lang = pool.get('ir.lang')
        Decision = pool.get('gnuhealth.shared_record.reconciliation.decision')
        lang = Lang.get()
        result = {}
        for sub in grouped_slice([str(r) for r in records]):
            for decision in Decision.search([
                        ('record', 'in', list(sub)),
                        ('decision', '=', 'accepted'),
                        ], order=[('id', 'ASC')]):
                item = decision.reconciliation
                result[decision.record] = gettext(
                    'health_shared_record.msg_reconcile_provenance',
                    sources=item.sources,
                    user=decision.user.rec_name if decision.user else '',
                    date=lang.strftime(decision.create_date.date()))
        return result


class Seen:
    "An item as the user sees it: its documents' words, those they may read"
    __slots__ = ('_item', '_values')

    def __init__(self, item, values):
        self._item, self._values = item, values

    def __getattr__(self, name):
        if name in self._values:
            return self._values[name]
        return getattr(self._item, name)


def as_seen(item):
    """item as the acting user sees it (a wizard reads it as the server,
    without the read that tells them only what they may read)"""
    row = {'id': item.id}
    row.update((name, getattr(item, name)) for name in DISPLAYED)
    item.__class__._read_as_seen([row], DISPLAYED)
    return Seen(item, row)


def check_duplicate(item, values):
    """Refuse a second record of the same thing: what the item states
    (the record of GNU Health has it under its code), or what the
    clinician chose (the same condition, the same medicament or ATC class
    under treatment, the same vaccine on the same day)"""
    pool = Pool()
    patient = item.patient
    for statement in own_statements(patient):
        if statement.kind == item.kind and statement.key == item.key:
            raise ReconciliationError(gettext(
                    'health_shared_record.msg_reconcile_already_there',
                    item=item.name, record=statement.name))
    Target = pool.get(TARGETS[item.kind])
    if item.kind in {'problem', 'allergy'}:
        domain = [('pathology', '=', values.get('pathology'))]
    elif item.kind == 'medication':
        Medicament = pool.get('gnuhealth.medicament')
        medicament = Medicament(values['medicament'])
        same_class = [('medicament', '=', medicament.id)]
        if medicament.atc_code:
            same_class = ['OR', same_class[0],
                ('medicament.atc_code', '=', medicament.atc_code)]
        domain = [('is_active', '=', True), same_class]
    else:
        date = values['date']
        domain = [
            ('vaccine', '=', values.get('vaccine')),
            ('date', '>=', date.replace(hour=0, minute=0, second=0)),
            ('date', '<=', date.replace(hour=23, minute=59, second=59)),
            ]
    with as_server():
        same = Target.search(
            [('patient', '=', patient.id)] + domain, limit=1)
    if same:
        raise ReconciliationError(gettext(
                'health_shared_record.msg_reconcile_already_there',
                item=item.name, record=same[0].rec_name))


class ReconciliationEntry(Guarded, ModelSQL):
    "Shared Record Reconciliation - Entry"
    __name__ = 'gnuhealth.shared_record.reconciliation-entry'

    reconciliation = fields.Many2One(
        'gnuhealth.shared_record.reconciliation', "Reconciliation",
        required=True, ondelete='CASCADE')
    entry = fields.Many2One(
        'gnuhealth.shared_record.entry', "Entry", required=True,
        ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.reconciliation, Index.Equality())))

    @classmethod
    def guard_where(cls, table, actor):
        Entry = Pool().get('gnuhealth.shared_record.entry')
        entry = Entry.__table__()
        return Literal(actor.root) | (Literal(actor.clinician) & Exists(
                entry.select(Literal(1), where=(entry.id == table.entry)
                    & Entry.guard_where(entry, actor))))


class Decision(AppendOnly, ModelView):
    "Shared Record Reconciliation Decision"
    __name__ = 'gnuhealth.shared_record.reconciliation.decision'

    reconciliation = fields.Many2One(
        'gnuhealth.shared_record.reconciliation', "Item", required=True,
        readonly=True, ondelete='RESTRICT')
    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True, readonly=True,
        ondelete='RESTRICT')
    decision = Selection(DECISIONS, "Decision", required=True, readonly=True)
    reason = fields.Char("Reason", readonly=True)
    user = fields.Many2One('res.user', "User", readonly=True)
    record = fields.Char("Record", readonly=True,
        help="The record of GNU Health the item was accepted into.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def guard_where(cls, table, actor):
        Reconciliation = Pool().get('gnuhealth.shared_record.reconciliation')
        item = Reconciliation.__table__()
        return Exists(item.select(Literal(1), where=(
                    item.id == table.reconciliation)
                & Reconciliation.guard_where(item, actor)))

    @classmethod
    def log(cls, items, decision, user=None, record=None, reason=None):
        with as_server():
            cls.create([{
                        'reconciliation': i.id,
                        'patient': i.patient.id,
                        'decision': decision,
                        'reason': reason,
                        'user': user,
                        'record': str(record) if record else None,
                        } for i in items])


class RecordProvenance:
    "The provenance of a record of GNU Health accepted from a document"
    __slots__ = ()
    shared_record_provenance = fields.Function(
        fields.Char(
            "From Another Clinic",
            help="The documents of other clinics this record was accepted "
            "from, by whom and when."),
        'get_shared_record_provenance')

    @classmethod
    def get_shared_record_provenance(cls, records, name):
        Reconciliation = Pool().get('gnuhealth.shared_record.reconciliation')
        provenance = Reconciliation.provenance(records)
        return {r.id: provenance.get(str(r)) for r in records}


class PatientDisease(RecordProvenance, metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient.disease'


class PatientMedication(RecordProvenance, metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient.medication'


class Vaccination(RecordProvenance, metaclass=PoolMeta):
    __name__ = 'gnuhealth.vaccination'


class Patient(metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'

    shared_record_to_reconcile = fields.Function(
        fields.Integer(
            "To Reconcile",
            help="What other clinics' documents state that GNU Health's "
            "record lacks or contradicts, to review."),
        'get_shared_record_to_reconcile')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'reconcile_shared_record': {},
                })

    @classmethod
    def get_shared_record_to_reconcile(cls, patients, name):
        Reconciliation = Pool().get('gnuhealth.shared_record.reconciliation')
        result = dict.fromkeys(map(int, patients), 0)
        if not (actor().root or actor().clinician):
            return result
        for sub in grouped_slice(list(result)):
            for item in Reconciliation.search([
                        ('patient', 'in', list(sub)),
                        ('state', '=', 'pending'),
                        ]):
                result[item.patient.id] += 1
        return result

    @classmethod
    @ModelView.button_action(
        'health_shared_record.act_reconciliation_patient')
    def reconcile_shared_record(cls, patients):
        check_clinician()
        Pool().get('gnuhealth.shared_record.reconciliation').refresh(patients)


# A fetch brings many documents: it refreshes its patient's items once
LATER = '_shared_record_reconcile_later'


class Document(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.document'

    @classmethod
    def store_external(cls, reference, content, read, patient, held):
        "What a document from another clinic states is to reconcile at once"
        document = super().store_external(
            reference, content, read, patient, held)
        if not Transaction().context.get(LATER):
            Pool().get('gnuhealth.shared_record.reconciliation').refresh(
                [patient])
        return document


class Fetch(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.fetch'

    def fetch(self, connection, configuration):
        "The items of the patient, once what the fetch brought is stored"
        with Transaction().set_context({LATER: True}):
            result = super().fetch(connection, configuration)
        Pool().get('gnuhealth.shared_record.reconciliation').refresh(
            [self.patient])
        return result
