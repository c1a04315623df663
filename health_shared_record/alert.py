# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Alerts on abnormal results, until someone acts: a result outside its
limits (validated in the clinic's laboratory, or read from another
clinic's laboratory report) tells the professionals the clinic chose,
escalates when critical and left unacknowledged, and keeps every step in
an append-only trail.

An alert is seen by whom it was sent to, as long as they may see its
result: a professional the patient blocked sees none, and an alert on a
document the recipient may not read (masked by the patient since) is
hidden with it."""
import datetime as dt
from contextlib import contextmanager
from itertools import chain

from sql import Literal, Null
from sql.operators import Exists

from trytond.bus import notify
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

from .common import REASON_LIMIT, clinic_today, send_email
from .exceptions import AlertError
from .guard import Guarded, actor
from .selection import Selection
from .trail import AppendOnly

PRIORITIES = [
    ('abnormal', "Abnormal"),
    ('critical', "Critical"),
    ]
STATES = [
    ('open', "Open"),
    ('acknowledged', "Acknowledged"),
    ]
ACTIONS = [
    (None, ""),
    ('patient_called', "Patient called"),
    ('test_repeated', "Test repeated"),
    ('appointment_booked', "Appointment booked"),
    ('treatment_changed', "Treatment changed"),
    ('no_action', "Seen, no action needed"),
    ('other', "Other"),
    ]
STEPS = [
    ('raised', "Raised"),
    ('delivered', "Delivered"),
    ('seen', "Seen"),
    ('acknowledged', "Acknowledged"),
    ('escalated', "Escalated"),
    ('released', "Released to the patient"),
    ]
CHANNELS = [
    (None, ""),
    ('list', "Alerts list"),
    ('bus', "Client pop-up"),
    ('email', "E-mail"),
    ]
# HL7 interpretation codes (ObservationInterpretation)
CRITICAL = {'LL', 'HH', 'AA'}
ABNORMAL = CRITICAL | {'L', 'H', 'A', '<', '>'}
ANALYTE_LIMIT = 256
LAB_REPORT = '11502-2'


def priority_of(interpretation):
    "critical, abnormal, or None for an interpretation code"
    code = (interpretation or '').strip().upper()
    if code in CRITICAL:
        return 'critical'
    if code in ABNORMAL:
        return 'abnormal'
    return None


def flag_word(interpretation):
    "The word for an interpretation code, in the context's language"
    code = (interpretation or '').lower()
    if not code:
        return None
    return gettext(
        f'health_shared_record.msg_cda_lab_flag_{code}'
        if code in {'l', 'h', 'll', 'hh', 'a', 'n'}
        else 'health_shared_record.msg_alert_flag_other',
        code=interpretation)


@contextmanager
def as_server():
    """Run as the server (root, no access checks) on behalf of the user
    who acts, whom the trail still names"""
    transaction = Transaction()
    user = transaction.context.get(
        'shared_record_acting_user', transaction.user)
    with without_check_access(), transaction.set_user(0), \
            transaction.set_context(shared_record_acting_user=user):
        yield


def now():
    """The time alerts are raised and escalated at: the context's, for the
    server's own calls (the tests' controlled clock), else the clock"""
    transaction = Transaction()
    if transaction.user == 0 and transaction.context.get(
            'shared_record_alert_now'):
        return transaction.context['shared_record_alert_now']
    return dt.datetime.now()


class Configuration(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.configuration'

    alert_requester = fields.Boolean(
        "Alert the Requester",
        help="An abnormal result alerts the professional who asked for "
        "the test.")
    alert_treating = fields.Boolean(
        "Alert the Treating Physician",
        help="An abnormal result alerts the patient's treating physician "
        "(GNU Health's primary care doctor).")
    alert_email = fields.Boolean(
        "Alerts by E-mail",
        help="Also tell the recipients of an alert by e-mail (the e-mail "
        "says that a result awaits them, never the patient nor the "
        "result).")
    alert_escalation_delay = fields.TimeDelta(
        "Escalation Delay",
        help="A critical alert still unacknowledged after this delay goes "
        "to the recipient's delegate, or to the on-call group, and again "
        "after each further delay.")
    alert_escalation_group = fields.Many2One(
        'res.group', "On-Call Group",
        help="The professionals whose users are in this group receive "
        "the critical alerts that nobody acknowledged.")
    alert_keep_from_patient = fields.Boolean(
        "Keep Abnormal Results from the Patient",
        help="A laboratory report with an abnormal result is kept from "
        "the patient until a recipient acknowledges the alert, or until "
        "the release delay has passed.")
    alert_release_days = fields.Integer(
        "Release after (days)",
        states={'invisible': ~Eval('alert_keep_from_patient')},
        help="The patient sees a kept result after this many days, if "
        "nobody acknowledged it earlier.")

    @staticmethod
    def default_alert_requester():
        return True

    @staticmethod
    def default_alert_treating():
        return True

    @staticmethod
    def default_alert_escalation_delay():
        return dt.timedelta(hours=1)

    @staticmethod
    def default_alert_release_days():
        return 7

    @classmethod
    def validate(cls, records):
        super().validate(records)
        for record in records:
            delay = record.alert_escalation_delay
            if delay is not None and delay < dt.timedelta(minutes=1):
                raise AlertError(gettext(
                        'health_shared_record.msg_alert_delay'))
            if (record.alert_release_days or 0) < 0:
                raise AlertError(gettext(
                        'health_shared_record.msg_alert_release_days'))


class HealthProfessional(metaclass=PoolMeta):
    __name__ = 'gnuhealth.healthprofessional'

    shared_record_alert_delegate = fields.Many2One(
        'gnuhealth.healthprofessional', "Alert Delegate",
        domain=[('id', '!=', Eval('id', -1))],
        help="Who receives this professional's critical alerts that stay "
        "unacknowledged (a colleague covering for them).")


class Alert(Guarded, ModelSQL, ModelView):
    "Shared Record Alert"
    __name__ = 'gnuhealth.shared_record.alert'

    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True, readonly=True,
        ondelete='RESTRICT')
    recipient = fields.Many2One(
        'gnuhealth.healthprofessional', "Recipient", required=True,
        readonly=True, ondelete='RESTRICT',
        help="The professional the alert was raised for.")
    priority = Selection(PRIORITIES, "Priority", required=True, readonly=True)
    priority_string = priority.translated('priority')
    state = Selection(STATES, "State", required=True, readonly=True)
    state_string = state.translated('state')
    origin = fields.Reference(
        "Result Of", selection='get_origins', readonly=True,
        help="The laboratory test the result is from, in this clinic.")
    document = fields.Many2One(
        'gnuhealth.shared_record.document', "Report", readonly=True,
        ondelete='RESTRICT',
        help="The laboratory report in the shared record.")
    source = Selection([
            ('laboratory', "This clinic's laboratory"),
            ('repository', "Another clinic"),
            ], "Source", required=True, readonly=True)
    analyte = fields.Char("Analyte", required=True, readonly=True)
    value = fields.Char("Result", readonly=True)
    reference_range = fields.Char("Reference Range", readonly=True)
    interpretation = fields.Char(
        "Interpretation", readonly=True,
        help="L low, H high, LL and HH critical, A abnormal.")
    interpretation_string = fields.Function(
        fields.Char("Flag"), 'get_interpretation_string')
    key = fields.Char("Key", required=True, readonly=True)
    escalation_level = fields.Integer("Escalations", readonly=True)
    # Stored to the second: a format would be a precision trytond checks
    escalate_at = fields.DateTime("Escalates At", readonly=True)
    acknowledged_by = fields.Many2One(
        'gnuhealth.healthprofessional', "Acknowledged By", readonly=True,
        ondelete='RESTRICT')
    acknowledged_date = fields.DateTime("Acknowledged On", readonly=True)
    action = Selection(ACTIONS, "Action", readonly=True,
        help="What was done about the result.")
    action_note = fields.Text("Note", readonly=True)
    raised = fields.Function(
        fields.DateTime("Raised", format='%H:%M'), 'get_raised')
    steps = fields.One2Many(
        'gnuhealth.shared_record.alert.step', 'alert', "Trail",
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        table = cls.__table__()
        cls._sql_constraints = [
            ('key_unique', Unique(table, table.key),
                'health_shared_record.msg_alert_unique'),
            ]
        cls._sql_indexes.update({
                Index(table, (table.recipient, Index.Range()),
                    (table.state, Index.Equality())),
                Index(table, (table.escalate_at, Index.Range()),
                    where=table.state == 'open'),
                Index(table, (table.origin, Index.Equality())),
                Index(table, (table.document, Index.Range())),
                })
        # Unacknowledged first, critical on top, newest first
        cls._order = [
            ('state', 'DESC'),
            ('priority', 'DESC'),
            ('create_date', 'DESC'),
            ('id', 'DESC'),
            ]
        cls._buttons.update({
                'acknowledge': {
                    'invisible': Eval('state') != 'open',
                    'depends': ['state'],
                    },
                'open_result': {},
                })

    @classmethod
    def view_attributes(cls):
        # Acknowledged alerts greyed, open critical ones in red
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('state') != 'open', 'muted',
                    If(Eval('priority') == 'critical', 'danger', ''))),
            ]

    @classmethod
    def get_origins(cls):
        "The laboratory's tests, when GNU Health's laboratory is installed"
        pool = Pool()
        Model = pool.get('ir.model')
        Document = pool.get('gnuhealth.shared_record.document')
        return [(None, '')] + [(m, Model.get_name(m))
            for m in Document._origin_models() if m == 'gnuhealth.lab']

    @staticmethod
    def default_state():
        return 'open'

    @staticmethod
    def default_escalation_level():
        return 0

    def get_raised(self, name):
        return self.create_date

    @staticmethod
    def order_raised(tables):
        table, _ = tables[None]
        return [table.create_date]

    def get_rec_name(self, name):
        return ' '.join(filter(None, [
                    self.analyte, self.value, self.interpretation_string]))

    @classmethod
    def get_interpretation_string(cls, alerts, name):
        words = {}
        result = {}
        for alert in alerts:
            code = alert.interpretation or ''
            if code and code not in words:
                words[code] = flag_word(code)
            result[alert.id] = words.get(code)
        return result

    @classmethod
    def guard_where(cls, table, actor):
        """Those the alert was sent or escalated to, unless the patient
        blocked them, and while they may read its report"""
        if actor.root:
            return Literal(True)
        if not actor.clinician or actor.professional < 0:
            return Literal(False)
        pool = Pool()
        Step = pool.get('gnuhealth.shared_record.alert.step')
        Blocked = pool.get('gnuhealth.shared_record.blocked_professional')
        Document = pool.get('gnuhealth.shared_record.document')
        step = Step.__table__()
        document = Document.__table__()
        professional = actor.professional
        sent = (table.recipient == professional) | Exists(step.select(
                Literal(1), where=(step.alert == table.id)
                & (step.step == 'escalated')
                & (step.professional == professional)))
        not_blocked = ~Blocked.blocks(table.patient, professional)
        readable = (table.document == Null) | Exists(document.select(
                Literal(1), where=(document.id == table.document)
                & Document.guard_where(document, actor)))
        return sent & not_blocked & readable

    # Raising

    @classmethod
    def raise_alerts(cls, results):
        """Raise an alert for each abnormal result and each of its
        recipients, once: results are dicts with patient, recipients,
        key, analyte, value, reference_range, interpretation, source,
        origin and document.  Return the alerts raised."""
        pool = Pool()
        Blocked = pool.get('gnuhealth.shared_record.blocked_professional')
        Step = pool.get('gnuhealth.shared_record.alert.step')
        configuration = pool.get('gnuhealth.shared_record.configuration')(1)
        results = [r for r in results if priority_of(r['interpretation'])]
        if not results:
            return []
        with as_server():
            blocked = Blocked.pairs({r['patient'].id for r in results})
            vlist = []
            for result in results:
                for recipient in dict.fromkeys(
                        filter(None, result['recipients'])):
                    if (result['patient'].id, recipient.id) in blocked:
                        continue
                    priority = priority_of(result['interpretation'])
                    vlist.append({
                            'patient': result['patient'].id,
                            'recipient': recipient.id,
                            'priority': priority,
                            'source': result['source'],
                            'origin': (str(result['origin'])
                                if result.get('origin') else None),
                            'document': (result['document'].id
                                if result.get('document') else None),
                            'analyte': result['analyte'][:ANALYTE_LIMIT],
                            'value': (result['value'] or '')[:ANALYTE_LIMIT],
                            'reference_range': (
                                result['reference_range'] or '')[
                                :ANALYTE_LIMIT] or None,
                            'interpretation': result['interpretation'],
                            'key': '%s:%s' % (result['key'], recipient.id),
                            'escalate_at': cls.next_escalation(
                                configuration, priority, now()),
                            })
            existing = set()
            keys = [v['key'] for v in vlist]
            for sub_keys in grouped_slice(keys):
                existing.update(a.key for a in cls.search(
                        [('key', 'in', list(sub_keys))]))
            vlist = [v for v in dict(
                    (v['key'], v) for v in vlist).values()
                if v['key'] not in existing]
            if not vlist:
                return []
            alerts = cls.create(vlist)
            Step.record([(a, 'raised', None, a.recipient) for a in alerts])
            cls.deliver([(a, a.recipient) for a in alerts], configuration)
        return alerts

    @classmethod
    def next_escalation(cls, configuration, priority, at):
        delay = configuration.alert_escalation_delay
        if priority != 'critical' or not delay:
            return None
        return at + delay

    @classmethod
    def deliver(cls, pairs, configuration=None):
        """Tell each (alert, professional): the list at commit, the client
        through trytond's bus when the database has one, and an e-mail
        when the clinic wants it"""
        pool = Pool()
        Step = pool.get('gnuhealth.shared_record.alert.step')
        if configuration is None:
            configuration = pool.get(
                'gnuhealth.shared_record.configuration')(1)
        transaction = Transaction()
        bus = transaction.database.has_channel()
        steps = []
        for alert, professional in pairs:
            steps.append((alert, 'delivered', 'list', professional))
            user = professional.party.internal_user
            if bus and user:
                with transaction.set_context(
                        language=user.language.code if user.language
                        else transaction.language):
                    title, body = alert.notification()
                notify(title, body=body, priority=(
                        2 if alert.priority == 'critical' else 1),
                    user=user.id)
                steps.append((alert, 'delivered', 'bus', professional))
            email = professional.party.email
            if configuration.alert_email and email:
                with transaction.set_context(
                        language=user.language.code if user and user.language
                        else transaction.language):
                    send_email(email, *alert.email_message())
                steps.append((alert, 'delivered', 'email', professional))
        Step.record(steps)

    def notification(self):
        "The pop-up's title and body, for the recipient's eyes"
        return (gettext(
                f'health_shared_record.msg_alert_popup_{self.priority}',
                patient=self.patient.rec_name),
            ' '.join(filter(None, [
                        self.analyte, self.value,
                        '(%s)' % self.reference_range
                        if self.reference_range else None,
                        # In the language of the context (the recipient's),
                        # not the one the record was read in
                        flag_word(self.interpretation)])))

    def email_message(self):
        """Subject and text of the e-mail, which names neither the patient
        nor the result: e-mail is not a secure channel"""
        return (gettext(
                f'health_shared_record.msg_alert_email_subject_{self.priority}'),
            gettext('health_shared_record.msg_alert_email_body'))

    # Acknowledging

    @classmethod
    @ModelView.button_action(
        'health_shared_record.wizard_alert_acknowledge')
    def acknowledge(cls, alerts):
        pass

    @classmethod
    def check_recipient(cls, alerts):
        "Only those the alerts were sent to act on them"
        who = actor()
        if who.root:
            return
        readable = cls.guard_readable_ids([a.id for a in alerts])
        if who.professional < 0 or len(readable) != len(alerts):
            raise AlertError(gettext(
                    'health_shared_record.msg_alert_not_recipient'))

    @classmethod
    def set_acknowledged(cls, alerts, action, note, professional):
        "Record what was done, and release what was kept from the patient"
        pool = Pool()
        Step = pool.get('gnuhealth.shared_record.alert.step')
        cls.check_recipient(alerts)
        if action not in {a for a, _ in ACTIONS if a}:
            raise AlertError(gettext(
                    'health_shared_record.msg_alert_action_required'))
        if action == 'other' and not (note or '').strip():
            raise AlertError(gettext(
                    'health_shared_record.msg_alert_note_required'))
        with as_server():
            alerts = cls.browse([a.id for a in alerts])
            # Two clinicians at once: the second sees it done and leaves it
            cls.lock(alerts)
            alerts = [a for a in cls.browse([a.id for a in alerts])
                if a.state == 'open']
            if not alerts:
                return []
            cls.write(alerts, {
                    'state': 'acknowledged',
                    'acknowledged_by': professional.id,
                    'acknowledged_date': now(),
                    'action': action,
                    'action_note': (note or '').strip()[:REASON_LIMIT] or None,
                    'escalate_at': None,
                    })
            Step.record([
                    (a, 'acknowledged', None, professional) for a in alerts])
            cls.release([a for a in alerts if a.document])
        return alerts

    @classmethod
    def release(cls, alerts):
        """Release the reports the alerts kept from the patient, and tell
        the patient"""
        pool = Pool()
        Document = pool.get('gnuhealth.shared_record.document')
        Consent = pool.get('gnuhealth.shared_record.consent')
        documents = {}
        for alert in alerts:
            document = alert.document
            if document.hidden_from_patient and document.source == 'local':
                documents.setdefault(document, []).append(alert)
        if not documents:
            return
        Document.write(list(documents), {'hidden_from_patient': False})
        for document in documents:
            Consent.record(document.patient, 'release', document=document)
        cls.tell_patients(documents)

    @classmethod
    def tell_patients(cls, documents):
        """E-mail each patient that a result was released, once a
        document: {document: its alerts}"""
        Step = Pool().get('gnuhealth.shared_record.alert.step')
        steps = []
        for document, alerts in documents.items():
            email = document.patient.party.email
            if email:
                send_email(email, gettext(
                        'health_shared_record.msg_alert_released_subject'),
                    gettext('health_shared_record.msg_alert_released_body'))
            steps.extend((a, 'released', 'email' if email else None, None)
                for a in alerts)
        Step.record(steps)

    @classmethod
    def release_due(cls):
        """Cron: tell the patients whose kept reports reached their
        release date today"""
        pool = Pool()
        Step = pool.get('gnuhealth.shared_record.alert.step')
        Document = pool.get('gnuhealth.shared_record.document')
        step = Step.__table__()
        with as_server():
            told = step.select(step.alert, where=step.step == 'released')
            alerts = cls.search([
                    ('document.hidden_from_patient', '=', True),
                    ('document.patient_release_date', '<=', clinic_today()),
                    ('id', 'not in', told),
                    ])
            documents = {}
            for alert in alerts:
                documents.setdefault(alert.document, []).append(alert)
            if documents:
                cls.tell_patients(documents)
            return Document.browse([d.id for d in documents])

    # Escalating

    @classmethod
    def escalate(cls):
        "Cron: escalate the critical alerts left unacknowledged"
        return cls.escalate_due(now())

    @classmethod
    def escalate_due(cls, at):
        """Send each critical alert unacknowledged at `at` past its delay
        to the recipient's delegate, else to the on-call group; to the
        same again when nobody is left; and set the next delay"""
        pool = Pool()
        Step = pool.get('gnuhealth.shared_record.alert.step')
        Blocked = pool.get('gnuhealth.shared_record.blocked_professional')
        configuration = pool.get('gnuhealth.shared_record.configuration')(1)
        with as_server():
            alerts = cls.search([
                    ('state', '=', 'open'),
                    ('escalate_at', '<=', at),
                    ], order=[('escalate_at', 'ASC'), ('id', 'ASC')])
            if not alerts:
                return []
            cls.lock(alerts)
            on_call = cls.on_call(configuration)
            sent = {}
            for step in Step.search([
                        ('alert', 'in', [a.id for a in alerts]),
                        ('step', 'in', ['raised', 'escalated']),
                        ]):
                if step.professional:
                    sent.setdefault(step.alert.id, set()).add(
                        step.professional.id)
            blocked = Blocked.pairs({a.patient.id for a in alerts})
            steps, pairs = [], []
            for alert in alerts:
                told = sent.get(alert.id, set()) | {alert.recipient.id}
                new = [p for p in cls.escalation_targets(alert, on_call)
                    if p.id not in told
                    and (alert.patient.id, p.id) not in blocked]
                if not new:
                    # Everyone was told and nobody acted: tell them again
                    new = [p for p in cls.browse_professionals(told)
                        if (alert.patient.id, p.id) not in blocked]
                steps.extend((alert, 'escalated', None, p) for p in new)
                pairs.extend((alert, p) for p in new)
            writes = {}
            for alert in alerts:
                writes.setdefault((alert.escalation_level + 1,
                        cls.next_escalation(
                            configuration, alert.priority, at)),
                    []).append(alert)
            cls.write(*chain.from_iterable(
                    (records, {'escalation_level': level,
                            'escalate_at': escalate_at})
                    for (level, escalate_at), records in writes.items()))
            Step.record(steps)
            cls.deliver(pairs, configuration)
        return alerts

    @classmethod
    def escalation_targets(cls, alert, on_call):
        """Whom the alert goes to next: the recipient's delegate first,
        the on-call group after"""
        delegate = alert.recipient.shared_record_alert_delegate
        if delegate and not alert.escalation_level:
            return [delegate]
        return on_call

    @classmethod
    def on_call(cls, configuration):
        "The professionals whose users are in the on-call group"
        Professional = Pool().get('gnuhealth.healthprofessional')
        group = configuration.alert_escalation_group
        if not group:
            return []
        users = [u.id for u in group.users]
        if not users:
            return []
        return Professional.search([
                ('party.internal_user', 'in', users),
                ], order=[('id', 'ASC')])

    @classmethod
    def browse_professionals(cls, ids):
        Professional = Pool().get('gnuhealth.healthprofessional')
        return Professional.browse(sorted(ids))

    @classmethod
    @ModelView.button_action(
        'health_shared_record.wizard_alert_open_result')
    def open_result(cls, alerts):
        pass

    # Reports

    @classmethod
    def link_documents(cls, documents):
        """The alerts of the laboratory tests now published point to their
        report's current version"""
        by_origin = {str(d.origin): d for d in documents if d.origin}
        if not by_origin:
            return
        with as_server():
            to_write = []
            for sub_origins in grouped_slice(list(by_origin)):
                for alert in cls.search(
                        [('origin', 'in', list(sub_origins))]):
                    document = by_origin[str(alert.origin)]
                    if alert.document != document:
                        to_write.extend(([alert], {'document': document.id}))
            if to_write:
                cls.write(*to_write)

    @classmethod
    def raise_for_fetched(cls, documents):
        """Alert the treating physician of abnormal results in the
        laboratory reports fetched from other clinics"""
        configuration = Pool().get(
            'gnuhealth.shared_record.configuration')(1)
        if not configuration.alert_treating:
            return []
        results = []
        for document in documents:
            if (document.source != 'repository'
                    or document.document_type.code != LAB_REPORT
                    or document.state != 'published'):
                continue
            doctor = document.patient.primary_care_doctor
            if not doctor:
                continue
            for entry in document.entries:
                if entry.kind != 'result' or entry.negated:
                    continue
                results.append({
                        'patient': document.patient,
                        'recipients': [doctor],
                        # One alert a result, whatever the version
                        'key': 'repository:%s:%s' % (
                            document.set_id or document.unique_id,
                            entry.code or entry.name),
                        'analyte': entry.name,
                        'value': ' '.join(filter(None, [
                                    entry.value, entry.unit])),
                        'reference_range': entry.reference_range,
                        'interpretation': entry.interpretation,
                        'source': 'repository',
                        'document': document,
                        })
        return cls.raise_alerts(results)


class Step(AppendOnly, ModelView):
    "Shared Record Alert Step"
    __name__ = 'gnuhealth.shared_record.alert.step'

    alert = fields.Many2One(
        'gnuhealth.shared_record.alert', "Alert", required=True,
        readonly=True, ondelete='RESTRICT')
    step = Selection(STEPS, "Step", required=True, readonly=True)
    step_string = step.translated('step')
    channel = Selection(CHANNELS, "Channel", readonly=True)
    channel_string = channel.translated('channel')
    professional = fields.Many2One(
        'gnuhealth.healthprofessional', "Professional", readonly=True,
        ondelete='RESTRICT',
        help="Whom the step concerns: the one told, or who acted.")
    user = fields.Many2One('res.user', "User", readonly=True)
    date = fields.Function(
        fields.DateTime("Date", format='%H:%M'), 'get_date')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        table = cls.__table__()
        cls._order = [('create_date', 'ASC'), ('id', 'ASC')]
        cls._sql_indexes.add(Index(
                table, (table.alert, Index.Range()),
                (table.step, Index.Equality())))

    def get_date(self, name):
        return self.create_date

    @classmethod
    def guard_where(cls, table, actor):
        "Who sees the alert sees its trail"
        Alert = Pool().get('gnuhealth.shared_record.alert')
        alert = Alert.__table__()
        return Exists(alert.select(Literal(1), where=(
                    (alert.id == table.alert)
                    & Alert.guard_where(alert, actor))))

    @classmethod
    def record(cls, steps):
        "Write (alert, step, channel, professional) lines, as the server"
        if not steps:
            return []
        transaction = Transaction()
        user = transaction.context.get(
            'shared_record_acting_user', transaction.user)
        with as_server():
            return cls.create([{
                        'alert': alert.id,
                        'step': step,
                        'channel': channel,
                        'professional': professional.id if professional
                        else None,
                        'user': user or None,
                        } for alert, step, channel, professional in steps])


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.extend([
                ('gnuhealth.shared_record.alert|escalate',
                    "Escalate Unacknowledged Critical Alerts"),
                ('gnuhealth.shared_record.alert|release_due',
                    "Tell Patients of Released Results"),
                ])


class Document(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.document'

    @classmethod
    def store_external(cls, *args, **kwargs):
        "Fetched or received, a laboratory report from outside alerts"
        Alert = Pool().get('gnuhealth.shared_record.alert')
        document = super().store_external(*args, **kwargs)
        Alert.raise_for_fetched([document])
        return document
