# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""From the prevention worklist to the patient: the recall, by e-mail or by
a printed letter, and the appointment booked for it."""
import html
from collections import defaultdict

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, PYSONEncoder
from trytond.report import Report
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import (
    Button, StateAction, StateReport, StateTransition, StateView, Wizard)

from .common import clinic_today, current_professional, send_email
from .exceptions import PreventionError
from .guard import GuardedReport, actor
from .prevention import OPEN_STATES
from .prevention_notice import patient_language
from .selection import Selection

RECALL_METHODS = [
    (None, ''),
    ('email', "E-mail"),
    ('letter', "Letter"),
    ]
# The appointments of GNU Health still to take place
OPEN_APPOINTMENT_STATES = {'free', 'confirmed', 'checked_in'}
CLOSED = ['done', 'dismissed']

LETTER_STYLE = (
    'body{font-family:serif;color:#222;margin:0}'
    'section.letter{max-width:42em;margin:2em auto;'
    'page-break-after:always}'
    'header.letterhead{border-bottom:2px solid #555;margin-bottom:2em;'
    'padding-bottom:.5em}'
    'header.letterhead .institution{font-size:1.3em;font-weight:bold}'
    '.recipient{margin:0 0 2em 55%}'
    '.date{text-align:right}'
    'li{margin-bottom:.6em}'
    '.signature{margin-top:3em}'
    '@media print{section.letter{margin:1.5cm}}')


class Reminder(metaclass=PoolMeta):
    __name__ = 'gnuhealth.prevention.reminder'

    recall_date = fields.Date(
        "Recalled On", readonly=True,
        help="The last day the clinic recalled the patient for it.")
    recall_method = Selection(
        RECALL_METHODS, "Recall Method", readonly=True)
    recalled_by = fields.Many2One('res.user', "Recalled By", readonly=True)
    recall = fields.Function(fields.Char(
            "Recall", help="When and how the patient was recalled."),
        'get_recall')
    appointment = fields.Many2One(
        'gnuhealth.appointment', "Appointment", readonly=True,
        ondelete='SET NULL',
        help="The appointment booked for it from the worklist.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'recall_patients': {
                    'invisible': Eval('state').in_(CLOSED),
                    'depends': ['state'],
                    },
                'book_appointment': {
                    'invisible': Eval('state').in_(CLOSED),
                    'depends': ['state'],
                    },
                })

    @classmethod
    def get_recall(cls, reminders, name):
        "Recalled on the day, by e-mail or letter, for the worklist"
        lang = Pool().get('ir.lang').get()
        methods = dict(cls.fields_get(
                ['recall_method'])['recall_method']['selection'])
        return {
            r.id: gettext(
                'health_shared_record.msg_prevention_recalled_on',
                date=lang.strftime(r.recall_date),
                method=methods.get(r.recall_method, ''))
            if r.recall_date else None
            for r in reminders}

    @classmethod
    @ModelView.button_action(
        'health_shared_record.wizard_prevention_recall')
    def recall_patients(cls, reminders):
        cls.check_recall_actor(reminders)

    @classmethod
    @ModelView.button_action('health_shared_record.wizard_prevention_book')
    def book_appointment(cls, reminders):
        cls.check_recall_actor(reminders)

    @classmethod
    def check_recall_actor(cls, reminders):
        """Only doctors and nurses recall patients and book for them, and
        not the patients who blocked them"""
        Patient = Pool().get('gnuhealth.patient')
        who = actor()
        if not (who.root or who.clinician):
            raise PreventionError(gettext(
                    'health_shared_record.msg_prevention_recall_clinicians'))
        Patient.check_shared_record_actor(list({r.patient for r in reminders}))

    @classmethod
    def plan_recall(cls, reminders):
        """({patient: reminders} to e-mail, {patient: reminders} to write
        to): the open reminders of the living patients not recalled today,
        by e-mail when they have an address and accept prevention e-mails"""
        today = clinic_today()
        open_ = [
            r for r in reminders
            if r.state in OPEN_STATES and not r.patient.party.deceased]
        with Transaction().set_user(0):
            recalled_today = {r.patient.id for r in cls.search([
                        ('patient', 'in', list({r.patient.id for r in open_})),
                        ('recall_date', '=', today),
                        ])}
        by_patient = defaultdict(list)
        for reminder in open_:
            if reminder.patient.id not in recalled_today:
                by_patient[reminder.patient].append(reminder)
        emails, letters = {}, {}
        for patient, patient_reminders in by_patient.items():
            if (patient.party.email
                    and not patient.prevention_reminder_opt_out):
                emails[patient] = patient_reminders
            else:
                letters[patient] = patient_reminders
        return emails, letters

    @classmethod
    def recall_patients_now(cls, reminders):
        """Recall the patients of the reminders, each once a day: e-mail
        those who can be, record the recall, and return the reminders whose
        patients are to get a letter"""
        cls.check_recall_actor(reminders)
        emails, letters = cls.plan_recall(reminders)
        if not (emails or letters):
            raise PreventionError(gettext(
                    'health_shared_record.msg_prevention_recall_nothing'))
        for patient, patient_reminders in emails.items():
            with Transaction().set_context(
                    language=patient_language(patient)):
                lines = cls.reminder_lines(patient_reminders)
                subject = gettext(
                    'health_shared_record.msg_prevention_recall_subject')
                body = gettext(
                    'health_shared_record.msg_prevention_recall_body',
                    patient=patient.party.name,
                    reminders='\n\n'.join(lines))
            send_email(patient.party.email, subject, body)
        recall = {
            'recall_date': clinic_today(),
            'recalled_by': Transaction().user,
            }
        args = []
        for method, by_patient in [('email', emails), ('letter', letters)]:
            recalled = [r for rs in by_patient.values() for r in rs]
            if recalled:
                args.extend([recalled, dict(recall, recall_method=method)])
        with without_check_access():
            cls.write(*args)
        return [r for rs in letters.values() for r in rs]

    @classmethod
    def book_appointments(cls, reminders):
        """Book one GNU Health appointment a patient with the current
        health professional, for the reminders' preventions; return them"""
        Appointment = Pool().get('gnuhealth.appointment')
        cls.check_recall_actor(reminders)
        by_patient = defaultdict(list)
        for reminder in reminders:
            if reminder.state not in OPEN_STATES:
                raise PreventionError(gettext(
                        'health_shared_record.msg_prevention_book_closed',
                        prevention=reminder.rule.rec_name,
                        patient=reminder.patient.rec_name))
            appointment = reminder.appointment
            if (appointment
                    and appointment.state in OPEN_APPOINTMENT_STATES):
                raise PreventionError(gettext(
                        'health_shared_record.msg_prevention_already_booked',
                        prevention=reminder.rule.rec_name,
                        patient=reminder.patient.rec_name,
                        appointment=appointment.rec_name))
            by_patient[reminder.patient].append(reminder)
        professional = current_professional()
        # As the client would fill in a new appointment: GNU Health's own
        # defaults (confirmed, now, the clinic's institution)
        defaults = Appointment.default_get(
            list(Appointment._fields), with_rec_name=False)
        vlist = []
        for patient, patient_reminders in by_patient.items():
            values = dict(defaults)
            values.update({
                    'patient': patient.id,
                    'healthprof': professional.id,
                    'state': defaults.get('state') or 'confirmed',
                    'comments': '\n'.join(
                        r.rule.rec_name for r in patient_reminders),
                    })
            if professional.institution:
                values['institution'] = professional.institution.id
            vlist.append(values)
        # With the user's own rights on appointments, as GNU Health gives
        appointments = Appointment.create(vlist)
        args = []
        for appointment, patient_reminders in zip(
                appointments, by_patient.values()):
            args.extend([patient_reminders, {'appointment': appointment.id}])
        with without_check_access():
            cls.write(*args)
        return appointments


class ClinicianWizard:
    """A wizard of the worklist's clinicians, refused to the others in the
    module's words: trytond 7.0 cannot format its own refusal
    (ir.msg_access_wizard_error) and fails with a KeyError"""
    __slots__ = ()

    @classmethod
    def check_access(cls):
        pool = Pool()
        ActionWizard = pool.get('ir.action.wizard')
        User = pool.get('res.user')
        transaction = Transaction()
        if transaction.user:
            groups = ActionWizard.get_groups(
                cls.__name__, action_id=transaction.context.get('action_id'))
            if groups and not groups & set(User.get_groups()):
                raise PreventionError(gettext(
                        'health_shared_record'
                        '.msg_prevention_recall_clinicians'))
        super().check_access()


class RecallStart(ModelView):
    "Recall Patients"
    __name__ = 'gnuhealth.prevention.recall.start'

    emails = fields.Integer("By E-mail", readonly=True)
    letters = fields.Integer("By Letter", readonly=True)
    skipped = fields.Integer(
        "Left Out", readonly=True,
        help="Reminders done or dismissed, and patients already recalled "
        "today.")


class Recall(ClinicianWizard, Wizard):
    "Recall Patients"
    __name__ = 'gnuhealth.prevention.recall'

    start = StateView(
        'gnuhealth.prevention.recall.start',
        'health_shared_record.prevention_recall_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Recall", 'recall', 'tryton-ok', default=True),
            ])
    recall = StateTransition()
    letter = StateReport('gnuhealth.prevention.recall_letter')

    def default_start(self, fields):
        Reminder = Pool().get('gnuhealth.prevention.reminder')
        Reminder.check_recall_actor(self.records)
        emails, letters = Reminder.plan_recall(self.records)
        count = sum(map(len, emails.values())) + sum(
            map(len, letters.values()))
        return {
            'emails': len(emails),
            'letters': len(letters),
            'skipped': len(self.records) - count,
            }

    def transition_recall(self):
        Reminder = Pool().get('gnuhealth.prevention.reminder')
        self.letter_ids = [
            r.id for r in Reminder.recall_patients_now(self.records)]
        return 'letter' if self.letter_ids else 'end'

    def do_letter(self, action):
        ids = getattr(self, 'letter_ids', None) or []
        return action, {
            'model': 'gnuhealth.prevention.reminder',
            'id': ids[0] if ids else None,
            'ids': ids,
            }

    def transition_letter(self):
        return 'end'


class Book(ClinicianWizard, Wizard):
    "Book Prevention Appointment"
    __name__ = 'gnuhealth.prevention.book'
    start_state = 'open_'

    open_ = StateAction('health.action_gnuhealth_appointment_view')

    def do_open_(self, action):
        Reminder = Pool().get('gnuhealth.prevention.reminder')
        appointments = Reminder.book_appointments(self.records)
        ids = [a.id for a in appointments]
        action['pyson_domain'] = PYSONEncoder().encode([('id', 'in', ids)])
        if len(ids) == 1:
            action['res_id'] = ids[0]
            action['views'].sort(key=lambda v: v[1] != 'form')
        return action, {}

    def transition_open_(self):
        return 'end'


class RecallLetter(GuardedReport, Report):
    "Prevention recall letter"
    __name__ = 'gnuhealth.prevention.recall_letter'

    @classmethod
    def _execute(cls, records, header, data, action):
        Reminder = Pool().get('gnuhealth.prevention.reminder')
        reminders = Reminder.browse([r.id for r in records])
        Reminder.check_recall_actor(reminders)
        by_patient = defaultdict(list)
        for reminder in reminders:
            by_patient[reminder.patient].append(reminder)
        signer = cls.signer()
        pages = []
        for patient, patient_reminders in by_patient.items():
            with Transaction().set_context(
                    language=patient_language(patient)):
                pages.append(cls.letter(patient, patient_reminders, signer))
        title = html.escape(gettext(
                'health_shared_record.msg_prevention_letter_title'))
        return 'html', (
            '<!DOCTYPE html><html><head><meta charset="utf-8">'
            f'<title>{title}</title><style>{LETTER_STYLE}</style></head>'
            '<body>' + ''.join(pages) + '</body></html>').encode('utf-8')

    @classmethod
    def signer(cls):
        "The health professional who prints, if the user is one"
        Professional = Pool().get('gnuhealth.healthprofessional')
        who = actor()
        if who.professional >= 0:
            return Professional(who.professional)

    @classmethod
    def letter(cls, patient, reminders, signer):
        "One page: the clinic, the patient, the preventions due, the signer"
        Lang = Pool().get('ir.lang')
        Reminder = Pool().get('gnuhealth.prevention.reminder')
        lang = Lang.get()
        doctor = patient.primary_care_doctor
        institution = (
            doctor.institution if doctor and doctor.institution
            else signer.institution if signer else None)
        parts = ['<section class="letter">']
        if institution:
            parts.append(
                '<header class="letterhead"><div class="institution">'
                f'{escape(institution.rec_name)}</div>')
            parts.extend(
                f'<div class="address">{escape(line)}</div>'
                for line in address_lines(institution.party))
            if institution.party.phone:
                parts.append(
                    f'<div class="telephone">'
                    f'{escape(institution.party.phone)}</div>')
            parts.append('</header>')
        parts.append(
            '<div class="recipient">' + '<br>'.join(map(escape, [
                            patient.party.rec_name]
                        + address_lines(patient.party))) + '</div>')
        parts.append(
            f'<p class="date">{escape(lang.strftime(clinic_today()))}</p>')
        parts.append('<p>' + escape(gettext(
                    'health_shared_record.msg_prevention_letter_greeting',
                    patient=patient.party.name)) + '</p>')
        parts.append('<p>' + escape(gettext(
                    'health_shared_record.msg_prevention_letter_intro'))
            + '</p><ul>')
        for line in Reminder.reminder_lines(reminders):
            parts.append('<li>' + '<br>'.join(
                    escape(t) for t in line.strip().splitlines()) + '</li>')
        parts.append('</ul><p>' + escape(gettext(
                    'health_shared_record.msg_prevention_letter_closing'))
            + '</p>')
        if signer:
            parts.append(
                f'<p class="signature">{escape(signer.rec_name)}</p>')
        parts.append('</section>')
        return ''.join(parts)


def escape(text):
    return html.escape(' '.join(str(text or '').split()))


def address_lines(party):
    "The lines of a party's first address, as an envelope shows them"
    if not party.addresses:
        return []
    address = party.addresses[0]
    lines = [
        line for line in (address.street or '').splitlines() if line.strip()]
    town = ' '.join(filter(None, [address.postal_code, address.city]))
    if town:
        lines.append(town)
    return lines
