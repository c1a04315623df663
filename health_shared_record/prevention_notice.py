# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What reaches the patient of the reminders: the e-mails, with a notice
each so that none goes twice, and the iCalendar of the key dates."""
import datetime as dt
from collections import defaultdict

import icalendar

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.report import Report
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .common import send_email
from .guard import Guarded, GuardedReport


def patient_language(patient):
    "The language a patient is written to: the party's, else the documents'"
    Configuration = Pool().get('gnuhealth.shared_record.configuration')
    if patient.party.lang:
        return patient.party.lang.code
    return Configuration(1).document_language


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


class Reminder(metaclass=PoolMeta):
    __name__ = 'gnuhealth.prevention.reminder'

    notified = fields.Function(fields.Boolean(
            "Notified", help="The patient was sent this reminder."),
        'get_notified', searcher='search_notified')

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
