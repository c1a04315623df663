# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The patient's control of the shared record: masking, documents kept from
the patient, blocked professionals and oppositions (the trails are in
trail.py, emergency access in emergency.py).

Who sees a document is the document's guard_where, which guard.py applies
to every path a client can take."""
import datetime as dt

from sql import Literal, Null
from sql.conditionals import Case, Coalesce
from sql.operators import Exists

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.rpc import RPC
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access
from trytond.pyson import PYSONEncoder
from trytond.wizard import (
    Button, StateAction, StateTransition, StateView, Wizard)

from . import relation
from .common import check_plausible_date, clinic_today, current_professional
from .exceptions import PrivacyError, PublishError
from .guard import (
    Guarded, GuardedRead, actor, check_values, from_client, patient_in)


# A result is explained within months, not decades
RELEASE_HORIZON_DAYS = 3 * 365


def is_true(column):
    "column is true: NULL, as in rows made before the column, is false"
    return Coalesce(column, Literal(False)) == Literal(True)


class Document(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.document'

    masked = fields.Boolean(
        "Masked", readonly=True,
        help="Masked by the patient: only its author, the treating "
        "physician and a professional under emergency access see it.")
    hidden_from_patient = fields.Boolean(
        "Hidden from Patient",
        states={'readonly': Eval('state') != 'draft'},
        help="Kept from the patient until its author has explained it "
        "in person and releases it, or until the release date.")
    patient_release_date = fields.Date(
        "Release Date",
        states={
            'invisible': ~Eval('hidden_from_patient'),
            'readonly': Eval('state') != 'draft',
            },
        help="The day the patient sees the document, if no one releases "
        "it earlier.")
    hidden_now = fields.Function(
        fields.Boolean("Hidden from Patient Now"), 'get_hidden_now',
        searcher='search_hidden_now')
    markers = fields.Function(
        fields.Char(
            "Markers",
            help="What restricts the document: masked by the patient, kept "
            "from the patient, very restricted, or seen under an emergency "
            "access."),
        'get_markers')
    access_logs = relation.One2Many(
        'gnuhealth.shared_record.access_log', 'document', "Access History",
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'mask': {
                    'invisible': Eval('masked', False) | (
                        Eval('state') != 'published'),
                    'depends': ['masked', 'state'],
                    },
                'unmask': {
                    'invisible': ~Eval('masked', False),
                    'depends': ['masked'],
                    },
                'release_to_patient': {
                    'invisible': ~Eval('hidden_now', False),
                    'depends': ['hidden_now'],
                    },
                'mask_for_patient': {
                    'invisible': Eval('masked', False) | (
                        Eval('state') != 'published'),
                    'depends': ['masked', 'state'],
                    },
                'unmask_for_patient': {
                    'invisible': ~Eval('masked', False),
                    'depends': ['masked'],
                    },
                })
        # Opening, downloading and exporting a document are logged: those
        # calls write
        cls.__rpc__.update({
                'read': RPC(readonly=False),
                'search_read': RPC(readonly=False),
                'export_data_domain': RPC(readonly=False),
                'export_data': RPC(
                    instantiate=0, unique=False, readonly=False),
                })

    @classmethod
    def frozen_exempt_fields(cls):
        return super().frozen_exempt_fields() | {
            'masked', 'hidden_from_patient', 'patient_release_date'}

    @classmethod
    def guard_draft_fields(cls):
        return super().guard_draft_fields() | {
            'hidden_from_patient', 'patient_release_date'}

    @classmethod
    def copy(cls, documents, default=None):
        "The patient's mask is on a document, not on a copy made of it"
        default = default.copy() if default is not None else {}
        default.setdefault('masked', False)
        default.setdefault('patient_release_date', None)
        return super().copy(documents, default=default)

    def check_input(self):
        super().check_input()
        if self.state == 'draft' and self.hidden_from_patient:
            today = clinic_today()
            check_plausible_date(
                self, 'patient_release_date', today,
                today + dt.timedelta(days=RELEASE_HORIZON_DAYS))

    @classmethod
    def guard_where(cls, table, actor):
        """Who sees a document (doc/privacy.md): the patient, once it is
        published and not kept from them; doctors and nurses as the
        patient's choices allow; its creator, while it is a draft"""
        if actor.root:
            return Literal(True)
        where = Literal(False)
        if actor.patients:
            today = clinic_today()
            hidden = is_true(table.hidden_from_patient) & (
                (table.patient_release_date == Null)
                | (table.patient_release_date > today))
            where |= (
                patient_in(table.patient, actor)
                & table.state.in_(['published', 'superseded'])
                & ~hidden)
        if actor.clinician:
            where |= (
                ((table.state == 'draft')
                    & (table.create_uid == actor.user))
                | ((table.state != 'draft')
                    & cls._guard_clinician_where(table, actor)))
        return where

    @classmethod
    def _guard_clinician_where(cls, table, actor):
        pool = Pool()
        Patient = pool.get('gnuhealth.patient')
        Block = pool.get('gnuhealth.shared_record.blocked_professional')
        patient = Patient.__table__()
        block = Block.__table__()
        professional = actor.professional
        # Who wrote or published a document sees it
        author = (table.author == professional) | (
            table.publisher == professional)
        emergency = cls._emergency_where(patient, professional)
        restricted = is_true(table.masked) | (table.confidentiality == 'V')
        return (
            Exists(patient.select(Literal(1), where=(
                        (patient.id == table.patient)
                        & ~is_true(patient.shared_record_opposition)
                        & (~restricted | author
                            | (patient.primary_care_doctor == professional)
                            | emergency))))
            & ~Exists(block.select(Literal(1), where=(
                        (block.patient == table.patient)
                        & (block.professional == professional))))
            & ((table.state != 'withdrawn') | author))

    @classmethod
    def _emergency_where(cls, patient, professional):
        "The patient (a row of patient) is under professional's emergency"
        Access = Pool().get('gnuhealth.shared_record.emergency_access')
        access = Access.__table__()
        return ~is_true(patient.shared_record_emergency_opposition) & (
            Exists(access.select(Literal(1), where=(
                        (access.patient == patient.id)
                        & (access.professional == professional)
                        & (access.expires > dt.datetime.now())))))

    @classmethod
    def access_mode_sql(cls, table, patient, actor):
        """On which ground the policy lets actor see a document (a row of
        table, with its patient's row): patient, author, treating,
        emergency or normal"""
        whens = []
        if actor.patients:
            whens.append((patient_in(table.patient, actor), 'patient'))
        professional = actor.professional
        if professional >= 0:
            whens += [
                ((table.author == professional)
                    | (table.publisher == professional), 'author'),
                (patient.primary_care_doctor == professional, 'treating'),
                ((is_true(table.masked) | (table.confidentiality == 'V'))
                    & cls._emergency_where(patient, professional),
                    'emergency'),
                ]
        if not whens:
            return Literal('normal')
        return Case(*whens, else_=Literal('normal'))

    @classmethod
    def access_modes(cls, documents, actor):
        "The access mode of actor to each document, by id"
        Patient = Pool().get('gnuhealth.patient')
        table = cls.__table__()
        patient = Patient.__table__()
        cursor = Transaction().connection.cursor()
        modes = {}
        for sub_ids in grouped_slice(list(map(int, documents))):
            cursor.execute(*table.join(
                    patient, condition=patient.id == table.patient).select(
                    table.id, cls.access_mode_sql(table, patient, actor),
                    where=reduce_ids(table.id, sub_ids)))
            modes.update(cursor)
        return modes

    @staticmethod
    def default_masked():
        return False

    @staticmethod
    def default_hidden_from_patient():
        return False

    @classmethod
    def get_hidden_now(cls, documents, name):
        today = clinic_today()
        return {d.id: bool(d.hidden_from_patient and (
                    not d.patient_release_date
                    or d.patient_release_date > today))
            for d in documents}

    @classmethod
    def search_hidden_now(cls, name, clause):
        _, operator, value = clause
        today = clinic_today()
        hidden = [
            ('hidden_from_patient', '=', True),
            ['OR',
                ('patient_release_date', '=', None),
                ('patient_release_date', '>', today),
                ]]
        if (operator == '=') == bool(value):
            return hidden
        return ['OR',
            ('hidden_from_patient', '=', False),
            ('patient_release_date', '<=', today),
            ]

    @classmethod
    def get_markers(cls, documents, name):
        """The restrictions on each document, as the user who reads it is
        concerned: the emergency marker for whom it lets see it"""
        words = {
            key: gettext(f'health_shared_record.msg_marker_{key}')
            for key in ['masked', 'hidden', 'restricted', 'emergency']}
        hidden = cls.get_hidden_now(documents, 'hidden_now')
        modes = cls.access_modes(documents, actor())
        markers = {}
        for document in documents:
            found = []
            if document.masked:
                found.append(words['masked'])
            if hidden[document.id]:
                found.append(words['hidden'])
            if document.confidentiality == 'V':
                found.append(words['restricted'])
            if modes.get(document.id) == 'emergency':
                found.append(words['emergency'])
            markers[document.id] = ', '.join(found)
        return markers

    @classmethod
    def publish(cls, documents):
        # The patient's mask covers the document, whatever its version
        for document in documents:
            if document.replaces and document.replaces.masked:
                document.masked = True
        super().publish(documents)

    @classmethod
    def check_publishable(cls, documents):
        super().check_publishable(documents)
        for document in documents:
            if document.patient.shared_record_opposition:
                raise PublishError(gettext(
                        'health_shared_record.msg_publish_opposition',
                        patient=document.patient.rec_name))

    @classmethod
    def read(cls, ids, fields_names):
        result = super().read(ids, fields_names)
        if Transaction().check_access:
            action = cls._read_action(fields_names)
            if action:
                cls.log_access(ids, action)
        return result

    @classmethod
    def _read_action(cls, fields_names):
        """Whether a read downloads the content of the documents or opens
        it in the client; reading sizes, as a client drawing a form does,
        shows nothing of it"""
        context = Transaction().context
        for name, action in [
                ('content', 'download'),
                ('attachment', 'download'),
                ('rendering', 'open'),
                ]:
            if (name in fields_names
                    and context.get(f'{cls.__name__}.{name}') != 'size'):
                return action

    @classmethod
    def export_data(cls, records, fields_names, header=False):
        if Transaction().check_access:
            # trytond exports the records it is given: the policy is
            # checked first, as a read would
            cls.read([r.id for r in records], ['id'])
        result = super().export_data(records, fields_names, header=header)
        if Transaction().check_access:
            cls.log_access(records, 'export')
        return result

    @classmethod
    def log_access(cls, documents, action):
        "documents: records or ids"
        AccessLog = Pool().get('gnuhealth.shared_record.access_log')
        AccessLog.record(documents, action)

    @classmethod
    def check_privacy_actor(cls, documents, at_request=False):
        """Only the patient, or staff recording the patient's choice at
        their request, masks or unmasks a document"""
        Patient = Pool().get('gnuhealth.patient')
        user = Transaction().user
        if user == 0:
            return
        for document in documents:
            if document.patient.is_user(user):
                continue
            if at_request and actor().staff:
                Patient.check_shared_record_actor([document.patient])
                continue
            raise PrivacyError(gettext(
                    'health_shared_record.msg_privacy_not_patient',
                    document=document.rec_name))

    @classmethod
    @ModelView.button
    def mask(cls, documents):
        cls._set_masked(documents, True, 'mask')

    @classmethod
    @ModelView.button
    def unmask(cls, documents):
        cls._set_masked(documents, False, 'unmask')

    @classmethod
    def _set_masked(cls, documents, masked, action, at_request=False):
        """Apply the patient's choice to every version of the documents,
        including one published while they chose"""
        Consent = Pool().get('gnuhealth.shared_record.consent')
        cls.check_privacy_actor(documents, at_request=at_request)
        # No lock: a choice and a new version made at once both write the
        # version it replaces, and so do two choices; PostgreSQL refuses the
        # second writer, whose request trytond runs again, seeing the first.
        # Every version, those the one who chooses may not see included
        with without_check_access(), Transaction().set_user(0):
            versions = cls.versions(documents)
            changed = [d for d in versions if d.masked != masked]
            cls.write(changed, {'masked': masked})
        changed_sets = {d.set_id or d.id for d in changed}
        for document in documents:
            key = document.set_id or document.id
            if key in changed_sets:
                changed_sets.remove(key)
                Consent.record(document.patient, action, document=document)

    @classmethod
    def versions(cls, documents):
        "The documents and every other version of them, by id"
        set_ids = list({d.set_id for d in documents if d.set_id})
        versions = set(documents)
        for sub_ids in grouped_slice(set_ids):
            versions.update(cls.search([('set_id', 'in', list(sub_ids))]))
        return sorted(versions, key=lambda d: d.id)

    @classmethod
    @ModelView.button
    def mask_for_patient(cls, documents):
        "Staff record the patient's choice to mask, at the patient's request"
        cls._set_masked(documents, True, 'mask', at_request=True)

    @classmethod
    @ModelView.button
    def unmask_for_patient(cls, documents):
        "Staff record the patient's choice to unmask, at the patient's request"
        cls._set_masked(documents, False, 'unmask', at_request=True)

    @classmethod
    @ModelView.button
    def release_to_patient(cls, documents):
        "The author releases documents once explained to the patient"
        pool = Pool()
        Consent = pool.get('gnuhealth.shared_record.consent')
        professional = current_professional()
        for document in documents:
            if not document.is_by(professional.id):
                raise PrivacyError(gettext(
                        'health_shared_record.msg_release_not_author',
                        document=document.rec_name))
        cls.write(documents, {'hidden_from_patient': False})
        for document in documents:
            Consent.record(document.patient, 'release', document=document)



class BlockedProfessional(Guarded, ModelSQL):
    "Shared Record Blocked Professional"
    __name__ = 'gnuhealth.shared_record.blocked_professional'

    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True, ondelete='CASCADE')
    professional = fields.Many2One(
        'gnuhealth.healthprofessional', "Professional", required=True,
        ondelete='CASCADE')

    @classmethod
    def pairs(cls, patient_ids):
        "The (patient id, professional id) blocks of the patients, as root"
        pairs = set()
        with Transaction().set_user(0):
            for sub_ids in grouped_slice(list(patient_ids)):
                pairs.update((b.patient.id, b.professional.id)
                    for b in cls.search([('patient', 'in', list(sub_ids))]))
        return pairs

    @classmethod
    def blocks(cls, patient, professional):
        """SQL: the patient (a column) blocked the professional (a column
        or an id), for the guards of the models that hold patients' data"""
        block = cls.__table__()
        return Exists(block.select(Literal(1), where=(
                    (block.patient == patient)
                    & (block.professional == professional))))

    @classmethod
    def guard_where(cls, table, actor):
        "The patient's own blocks, and staff, who record them at request"
        return Literal(actor.root or actor.staff) | patient_in(
            table.patient, actor)


class Patient(GuardedRead, metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'

    shared_record_blocked_professionals = fields.Many2Many(
        'gnuhealth.shared_record.blocked_professional', 'patient',
        'professional', "Blocked Professionals",
        help="Professionals who see nothing of the patient's shared record.")
    # The same choices as rows, for the record rules: a Many2Many's "not
    # where" becomes a correlated subquery that PostgreSQL estimates so
    # high that it compiles the whole listing query
    shared_record_blocks = fields.One2Many(
        'gnuhealth.shared_record.blocked_professional', 'patient',
        "Blocks", readonly=True)
    shared_record_opposition = fields.Boolean(
        "Refuses the Shared Record",
        help="No professional sees the patient's shared documents and "
        "nothing more is published; GNU Health's own record is untouched.")
    shared_record_emergency_opposition = fields.Boolean(
        "Refuses Emergency Access",
        help="No professional may declare an emergency to see the "
        "patient's masked documents.")
    shared_record_emergency_accesses = relation.One2Many(
        'gnuhealth.shared_record.emergency_access', 'patient',
        "Emergency Accesses", readonly=True)
    shared_record_access_logs = relation.One2Many(
        'gnuhealth.shared_record.access_log', 'patient', "Access History",
        readonly=True)
    shared_record_consents = relation.One2Many(
        'gnuhealth.shared_record.consent', 'patient', "Privacy Choices",
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'refuse_shared_record': {
                    'invisible': Eval('shared_record_opposition', False),
                    'depends': ['shared_record_opposition'],
                    },
                'accept_shared_record': {
                    'invisible': ~Eval('shared_record_opposition', False),
                    'depends': ['shared_record_opposition'],
                    },
                'refuse_emergency_access': {
                    'invisible': Eval(
                        'shared_record_emergency_opposition', False),
                    'depends': ['shared_record_emergency_opposition'],
                    },
                'accept_emergency_access': {
                    'invisible': ~Eval(
                        'shared_record_emergency_opposition', False),
                    'depends': ['shared_record_emergency_opposition'],
                    },
                'block_professionals': {},
                })

    @staticmethod
    def default_shared_record_opposition():
        return False

    @staticmethod
    def default_shared_record_emergency_opposition():
        return False

    def is_user(self, user):
        "Whether user is this patient logged in"
        if user and user == Transaction().user:
            # Known without reading the party, a large record
            return self.id in actor().patients
        return bool(user and self.party.internal_user
            and self.party.internal_user.id == user)

    @classmethod
    def guard_where(cls, table, actor):
        "A patient's login sees its own patient file; others, as GNU Health"
        if actor.only_patient:
            return patient_in(table.id, actor)
        return Literal(True)

    @classmethod
    def create(cls, vlist):
        if from_client():
            for values in vlist:
                check_values(cls, {
                        k: v for k, v in values.items()
                        if k in PRIVACY_FIELDS}, set())
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        "Keep a trail of every change of the patient's privacy choices"
        Consent = Pool().get('gnuhealth.shared_record.consent')
        actions = iter(args)
        before = {}
        for patients, values in zip(actions, actions):
            if from_client() and PRIVACY_FIELDS & set(values):
                # The patient's choices are made with the buttons, which
                # check who chooses
                check_values(cls, {
                        k: True for k in PRIVACY_FIELDS & set(values)}, set())
            if PRIVACY_FIELDS & set(values):
                for patient in patients:
                    before[patient.id] = patient.privacy_choices()
        super().write(*args)
        for patient in cls.browse(list(before)):
            old, new = before[patient.id], patient.privacy_choices()
            for name, on, off in [
                    ('shared_record_opposition', 'opposition',
                        'opposition_lifted'),
                    ('shared_record_emergency_opposition',
                        'emergency_opposition',
                        'emergency_opposition_lifted')]:
                if old[name] != new[name]:
                    Consent.record(patient, on if new[name] else off)
            blocked = new['blocked'] - old['blocked']
            unblocked = old['blocked'] - new['blocked']
            Professional = Pool().get('gnuhealth.healthprofessional')
            for professional in Professional.browse(sorted(blocked)):
                Consent.record(patient, 'block', professional=professional)
            for professional in Professional.browse(sorted(unblocked)):
                Consent.record(patient, 'unblock', professional=professional)

    def privacy_choices(self):
        return {
            'shared_record_opposition': bool(self.shared_record_opposition),
            'shared_record_emergency_opposition': bool(
                self.shared_record_emergency_opposition),
            'blocked': {
                p.id for p in self.shared_record_blocked_professionals},
            }

    @classmethod
    def check_shared_record_actor(cls, patients):
        "Refuse a professional whom a patient blocked any act on the record"
        Block = Pool().get('gnuhealth.shared_record.blocked_professional')
        who = actor()
        if who.root or who.professional < 0 or not patients:
            return
        with Transaction().set_user(0):
            blocks = Block.search([
                    ('patient', 'in', [p.id for p in patients]),
                    ('professional', '=', who.professional),
                    ], limit=1)
        if blocks:
            raise PrivacyError(gettext(
                    'health_shared_record.msg_guard_blocked',
                    patient=blocks[0].patient.rec_name))

    @classmethod
    def check_privacy_actor(cls, patients):
        "Only the patient, or staff at the patient's request, chooses"
        user = Transaction().user
        if user == 0:
            return
        if actor().staff:
            cls.check_shared_record_actor(patients)
            return
        for patient in patients:
            if not patient.is_user(user):
                raise PrivacyError(gettext(
                        'health_shared_record.msg_privacy_other_patient',
                        patient=patient.rec_name))

    @classmethod
    def _set_choice(cls, patients, name, value):
        cls.check_privacy_actor(patients)
        cls.write(patients, {name: value})

    @classmethod
    @ModelView.button
    def refuse_shared_record(cls, patients):
        cls._set_choice(patients, 'shared_record_opposition', True)

    @classmethod
    @ModelView.button
    def accept_shared_record(cls, patients):
        cls._set_choice(patients, 'shared_record_opposition', False)

    @classmethod
    @ModelView.button
    def refuse_emergency_access(cls, patients):
        cls._set_choice(patients, 'shared_record_emergency_opposition', True)

    @classmethod
    @ModelView.button
    def accept_emergency_access(cls, patients):
        cls._set_choice(
            patients, 'shared_record_emergency_opposition', False)

    @classmethod
    @ModelView.button_action('health_shared_record.wizard_block')
    def block_professionals(cls, patients):
        cls.check_privacy_actor(patients)


class Party(GuardedRead, metaclass=PoolMeta):
    __name__ = 'party.party'

    @classmethod
    def guard_where(cls, table, actor):
        """A patient's login sees its own party, and the names of the
        professionals and institutions that care for them"""
        if not actor.only_patient:
            return Literal(True)
        company = Pool().get('company.company').__table__()
        return ((table.internal_user == actor.user)
            | is_true(table.is_healthprof)
            | is_true(table.is_institution)
            | Exists(company.select(
                    Literal(1), where=company.party == table.id)))


class PartyRecordMixin(GuardedRead):
    """What GNU Health and Tryton keep about a party (addresses, names,
    identifiers): a patient's login sees it for the parties it sees"""
    __slots__ = ()

    @classmethod
    def guard_where(cls, table, actor):
        if not actor.only_patient:
            return Literal(True)
        Party = Pool().get('party.party')
        party = Party.__table__()
        return Exists(party.select(Literal(1), where=(
                    (party.id == table.party)
                    & Party.guard_where(party, actor))))


class Address(PartyRecordMixin, metaclass=PoolMeta):
    __name__ = 'party.address'


class PersonName(PartyRecordMixin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.person_name'


class AlternativeIdentification(PartyRecordMixin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.person_alternative_identification'


PRIVACY_FIELDS = {
    'shared_record_opposition', 'shared_record_emergency_opposition',
    'shared_record_blocked_professionals'}


class BlockStart(ModelView):
    "Block Professionals"
    __name__ = 'gnuhealth.shared_record.block.start'

    professionals = fields.Many2Many(
        'gnuhealth.healthprofessional', None, None, "Blocked Professionals",
        help="The professionals who see nothing of the shared record.")


class Block(Wizard):
    "Block Professionals"
    __name__ = 'gnuhealth.shared_record.block'

    start = StateView(
        'gnuhealth.shared_record.block.start',
        'health_shared_record.block_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Save", 'save', 'tryton-ok', default=True),
            ])
    save = StateTransition()

    def default_start(self, fields):
        return {
            'professionals': [
                p.id for p in self.record.shared_record_blocked_professionals],
            }

    def transition_save(self):
        Patient = Pool().get('gnuhealth.patient')
        Patient.check_privacy_actor([self.record])
        with without_check_access():
            Patient.write([self.record], {
                    'shared_record_blocked_professionals': [
                        ('add', [p.id for p in self.start.professionals]),
                        ('remove', [
                                p.id for p in
                                self.record.shared_record_blocked_professionals
                                if p not in self.start.professionals]),
                        ],
                    })
        return 'end'


class OpenOwn(Wizard):
    "Open My Shared Record"
    __name__ = 'gnuhealth.shared_record.open_own'

    start = StateAction('health_shared_record.act_patient_own')

    def do_start(self, action):
        Patient = Pool().get('gnuhealth.patient')
        user = Transaction().user
        patients = Patient.search([
                ('party.internal_user', '=', user),
                ])
        if not patients:
            raise PrivacyError(gettext(
                    'health_shared_record.msg_no_own_patient'))
        # A form-first window without a record would open a new patient
        action['res_id'] = [p.id for p in patients]
        action['pyson_domain'] = PYSONEncoder().encode(
            [('id', 'in', [p.id for p in patients])])
        return action, {}
