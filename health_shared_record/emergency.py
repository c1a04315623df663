# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Emergency access: a professional who must see a patient's masked
documents now says why, for a limited time, and the patient is told."""
import datetime as dt

from sql import Literal

from trytond.i18n import gettext
from trytond.model import Index, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .common import (
    REASON_LIMIT, StorableText, clinic_timezone, current_professional,
    has_words, send_email)
from .exceptions import EmergencyAccessError
from .guard import (
    actor, check_values, from_client, patient_in, write_denied)
from .trail import AppendOnly


class EmergencyAccess(StorableText, AppendOnly, ModelView):
    "Shared Record Emergency Access"
    __name__ = 'gnuhealth.shared_record.emergency_access'

    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True, ondelete='RESTRICT',
        states={'readonly': Eval('id', -1) >= 0})
    professional = fields.Many2One(
        'gnuhealth.healthprofessional', "Professional", readonly=True,
        required=True, ondelete='RESTRICT',
        help="The professional who declared the emergency.")
    reason = fields.Text(
        "Reason", required=True, states={'readonly': Eval('id', -1) >= 0},
        help="Why the patient's masked documents must be seen now.")
    expires = fields.DateTime("Expires", readonly=True, required=True)
    valid = fields.Function(
        fields.Boolean("Valid"), 'get_valid', searcher='search_valid')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls.__rpc__['create'].fresh_session = False
        cls._sql_indexes.update(cls.history_indexes())

    @classmethod
    def history_indexes(cls):
        "The privacy officer's list, newest first"
        table = cls.__table__()
        return {Index(
                table, (table.create_date, Index.Range()),
                (table.id, Index.Range()))}

    def get_valid(self, name):
        return self.expires > dt.datetime.now()

    @classmethod
    def search_valid(cls, name, clause):
        _, operator, value = clause
        now = dt.datetime.now()
        if (operator == '=') == bool(value):
            return [('expires', '>', now)]
        return [('expires', '<=', now)]

    @classmethod
    def guard_where(cls, table, actor):
        """The professional's own; the patient's; every one for officers,
        who review them"""
        return (Literal(actor.root or actor.officer)
            | (table.professional == actor.professional)
            | patient_in(table.patient, actor))

    @classmethod
    def guard_check_create(cls, vlist, actor):
        "Doctors and nurses declare one, with the patient and the reason"
        if not actor.clinician:
            raise write_denied(cls)
        for values in vlist:
            check_values(cls, values, {'patient', 'reason'})

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Patient = pool.get('gnuhealth.patient')
        Configuration = pool.get('gnuhealth.shared_record.configuration')
        hours = Configuration(1).emergency_access_hours
        if from_client():
            cls.guard_check_create(vlist, actor())
        professional = current_professional()
        vlist = [v.copy() for v in vlist]
        for values in vlist:
            reason = values.get('reason') or ''
            if not has_words(reason):
                raise EmergencyAccessError(gettext(
                        'health_shared_record.msg_emergency_reason_required'))
            if len(reason) > REASON_LIMIT:
                raise EmergencyAccessError(gettext(
                        'health_shared_record.msg_text_too_long',
                        field=cls.__names__('reason')['field'],
                        limit=REASON_LIMIT))
            patient = Patient(values['patient'])
            Patient.check_shared_record_actor([patient])
            if patient.shared_record_emergency_opposition:
                raise EmergencyAccessError(gettext(
                        'health_shared_record.msg_emergency_refused',
                        patient=patient.rec_name))
            values['professional'] = professional.id
            values['expires'] = dt.datetime.now() + dt.timedelta(hours=hours)
        # Checked above: the server sets the professional and the end
        with without_check_access():
            accesses = super().create(vlist)
        cls.notify_patients(accesses)
        return accesses

    @classmethod
    def notify_patients(cls, accesses):
        "Tell each patient, by email when an address is known"
        for access in accesses:
            email = access.patient.party.email
            if not email:
                continue
            language = access.patient.party.lang
            with Transaction().set_context(
                    language=language.code if language else None):
                subject = gettext(
                    'health_shared_record.msg_emergency_email_subject')
                body = gettext(
                    'health_shared_record.msg_emergency_email_body',
                    patient=access.patient.party.full_name,
                    professional=access.professional.rec_name,
                    reason=access.reason,
                    expires=access.expires.strftime('%Y-%m-%d %H:%M'))
            send_email(email, subject, body)


class Patient(metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'

    shared_record_emergency_banner = fields.Function(
        fields.Char(
            "Emergency Access",
            help="Says when you see this patient's record under an "
            "emergency access you declared, and until when.",
            states={'invisible': ~Eval('shared_record_emergency_banner')}),
        'get_shared_record_emergency_banner')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'declare_emergency_access': {},
                })

    @classmethod
    def get_shared_record_emergency_banner(cls, patients, name):
        pool = Pool()
        EmergencyAccess = pool.get('gnuhealth.shared_record.emergency_access')
        Lang = pool.get('ir.lang')
        professional = actor().professional
        banners = dict.fromkeys(map(int, patients))
        if professional < 0:
            return banners
        lang = Lang.get()
        zone = clinic_timezone()
        for sub_ids in grouped_slice(list(banners)):
            for access in EmergencyAccess.search([
                        ('patient', 'in', sub_ids),
                        ('professional', '=', professional),
                        ('valid', '=', True),
                        ], order=[('expires', 'ASC')]):
                if access.patient.shared_record_emergency_opposition:
                    continue
                expires = access.expires.replace(tzinfo=dt.timezone.utc)
                if zone:
                    expires = expires.astimezone(zone)
                banners[access.patient.id] = gettext(
                    'health_shared_record.msg_emergency_banner',
                    expires=lang.strftime(
                        expires, lang.date + ' %H:%M'))
        return banners

    @classmethod
    @ModelView.button_action(
        'health_shared_record.wizard_declare_emergency_access')
    def declare_emergency_access(cls, patients):
        pass


class DeclareStart(ModelView):
    "Declare Emergency Access"
    __name__ = 'gnuhealth.shared_record.emergency_access.declare.start'

    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", readonly=True, required=True)
    reason = fields.Text(
        "Reason", required=True,
        help="Why the patient's masked documents must be seen now. The "
        "patient is told, with this reason.")


class Declare(Wizard):
    "Declare Emergency Access"
    __name__ = 'gnuhealth.shared_record.emergency_access.declare'

    start = StateView(
        'gnuhealth.shared_record.emergency_access.declare.start',
        'health_shared_record.emergency_access_declare_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Declare", 'declare', 'tryton-ok', default=True),
            ])
    declare = StateTransition()

    def default_start(self, fields):
        return {'patient': self.record.id if self.record else None}

    def transition_declare(self):
        EmergencyAccess = Pool().get(
            'gnuhealth.shared_record.emergency_access')
        values = {'patient': self.record.id, 'reason': self.start.reason}
        # The same checks as a client's creation, whoever calls
        EmergencyAccess.guard_check_create([values], actor())
        EmergencyAccess.create([values])
        return 'end'

    def end(self):
        return 'reload'
