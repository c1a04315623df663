# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The patient's control of the shared record: masking, documents kept from
the patient, blocked professionals and oppositions (the trails are in
trail.py, emergency access in emergency.py).

Who sees a document is decided by record rules (privacy.xml), so that the
server enforces it in SQL for every path: search, read, count, export,
reports, relations.  The rules compare the records with the user; this
module gives them the user and the searchers they need."""
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.rpc import RPC
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access
from trytond.pyson import PYSONEncoder
from trytond.wizard import (
    Button, StateAction, StateTransition, StateView, Wizard)

from .common import clinic_today, current_professional
from .exceptions import PrivacyError, PublishError

# The models whose record rules compare records with the current user
USER_RULE_MODELS = {
    'gnuhealth.shared_record.document',
    'gnuhealth.shared_record.access_log',
    'gnuhealth.shared_record.emergency_access',
    'gnuhealth.shared_record.consent',
    'gnuhealth.patient',
    'gnuhealth.prevention.reminder',
    'gnuhealth.prevention.notice',
    }

STAFF_GROUPS = [
    ('health', 'group_health_doctor'),
    ('health', 'group_health_nursing'),
    ('health', 'group_health_frontdesk'),
    ]


def user_groups():
    return set(Pool().get('res.user').get_groups())


def group_ids(xml_ids):
    ModelData = Pool().get('ir.model.data')
    return {ModelData.get_id(module, name) for module, name in xml_ids}


def is_staff():
    "Whether the current user may record choices at a patient's request"
    return bool(user_groups() & group_ids(STAFF_GROUPS))


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _get_context(cls, model_name):
        context = super()._get_context(model_name)
        if model_name in USER_RULE_MODELS:
            user = Transaction().user
            context['user_id'] = user
            # The rules compare the documents with the user's professional
            # directly, which spares each search two joins to find it
            Professional = Pool().get('gnuhealth.healthprofessional')
            with Transaction().set_user(0):
                professionals = Professional.search([
                        ('party.internal_user', '=', user),
                        ], limit=1)
            context['professional_id'] = (
                professionals[0].id if professionals else -1)
        return context

    @classmethod
    def _get_cache_key(cls, model_name):
        key = super()._get_cache_key(model_name)
        if model_name in USER_RULE_MODELS:
            key = (*key, Transaction().user)
        return key


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
    access_logs = fields.One2Many(
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

    def access_mode(self, user, professional):
        "On which ground the policy lets user see the document"
        patient = self.patient
        if patient.is_user(user):
            return 'patient'
        if professional:
            if self.author == professional:
                return 'author'
            if patient.primary_care_doctor == professional:
                return 'treating'
            if ((self.masked or self.confidentiality == 'V')
                    and patient.has_emergency_access(professional)):
                return 'emergency'
        return 'normal'

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
        "Whether a read opens or downloads the content of the documents"
        context = Transaction().context
        for name in ['content', 'attachment']:
            if name in fields_names:
                if context.get(f'{cls.__name__}.{name}') == 'size':
                    return 'open'
                return 'download'

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
        AccessLog = Pool().get('gnuhealth.shared_record.access_log')
        with Transaction().set_user(0):
            documents = cls.browse(list(map(int, documents)))
        AccessLog.record(documents, action)

    @classmethod
    def check_privacy_actor(cls, documents):
        """Only the patient, or staff recording the patient's choice at
        their request, masks or unmasks a document"""
        user = Transaction().user
        if user == 0:
            return
        at_request = Transaction().context.get('shared_record_patient_request')
        for document in documents:
            if document.patient.is_user(user):
                continue
            if at_request and is_staff():
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
    def _set_masked(cls, documents, masked, action):
        """Apply the patient's choice to every version of the documents,
        including one published while they chose"""
        Consent = Pool().get('gnuhealth.shared_record.consent')
        cls.check_privacy_actor(documents)
        # No lock: a choice and a new version made at once both write the
        # version it replaces, and so do two choices; PostgreSQL refuses the
        # second writer, whose request trytond runs again, seeing the first
        with without_check_access():
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
        with Transaction().set_context(shared_record_patient_request=True):
            cls._set_masked(documents, True, 'mask')

    @classmethod
    @ModelView.button
    def unmask_for_patient(cls, documents):
        "Staff record the patient's choice to unmask, at the patient's request"
        with Transaction().set_context(shared_record_patient_request=True):
            cls._set_masked(documents, False, 'unmask')

    @classmethod
    @ModelView.button
    def release_to_patient(cls, documents):
        "The author releases documents once explained to the patient"
        pool = Pool()
        Consent = pool.get('gnuhealth.shared_record.consent')
        professional = current_professional()
        for document in documents:
            if document.author != professional:
                raise PrivacyError(gettext(
                        'health_shared_record.msg_release_not_author',
                        document=document.rec_name))
        cls.write(documents, {'hidden_from_patient': False})
        for document in documents:
            Consent.record(document.patient, 'release', document=document)



class BlockedProfessional(ModelSQL):
    "Shared Record Blocked Professional"
    __name__ = 'gnuhealth.shared_record.blocked_professional'

    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True, ondelete='CASCADE')
    professional = fields.Many2One(
        'gnuhealth.healthprofessional', "Professional", required=True,
        ondelete='CASCADE')


class Patient(metaclass=PoolMeta):
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
    shared_record_emergency_accesses = fields.One2Many(
        'gnuhealth.shared_record.emergency_access', 'patient',
        "Emergency Accesses", readonly=True)
    shared_record_access_logs = fields.One2Many(
        'gnuhealth.shared_record.access_log', 'patient', "Access History",
        readonly=True)
    shared_record_consents = fields.One2Many(
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
        return bool(user and self.party.internal_user
            and self.party.internal_user.id == user)

    def has_emergency_access(self, professional):
        EmergencyAccess = Pool().get(
            'gnuhealth.shared_record.emergency_access')
        if self.shared_record_emergency_opposition:
            return False
        return bool(EmergencyAccess.search([
                    ('patient', '=', self.id),
                    ('professional', '=', professional.id),
                    ('valid', '=', True),
                    ], limit=1))

    @classmethod
    def write(cls, *args):
        "Keep a trail of every change of the patient's privacy choices"
        Consent = Pool().get('gnuhealth.shared_record.consent')
        actions = iter(args)
        before = {}
        for patients, values in zip(actions, actions):
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
    def check_privacy_actor(cls, patients):
        "Only the patient, or staff at the patient's request, chooses"
        user = Transaction().user
        if user == 0 or is_staff():
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
