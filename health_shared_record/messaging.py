# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Secure messaging between professionals: documents of the shared record
sent to a colleague (inside the clinic, or by secure e-mail in an IHE XDM
package, signed and encrypted), and what colleagues send filed into the
right patient's record, or kept in the Inbox for a person to file.

A message is seen by the professionals it concerns: its sender and its
recipient, and, once it is about a patient, the clinicians of that
patient (the conversation), unless the patient blocked them.  What the
client may change of a message is nothing: the wizards and the queue do
it, after checking who acts and what the patient chose.  Receiving is
inbox.py's."""
import datetime as dt
import logging
import uuid

from sql import Literal, Null
from sql.operators import Exists

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If

from . import cda_reader, mail_transport, secure_mail, smime, xdm
from .alert import as_server
from .common import REASON_LIMIT, current_professional
from .exceptions import MessagingError
from .exchange import retry_delay
from .guard import Guarded, actor
from .pdf_render import html_to_pdf
from .selection import Selection

DIRECTIONS = [
    ('out', "Sent"),
    ('in', "Received"),
    ]
STATES = [
    ('pending', "Sending"),
    ('sent', "Sent"),
    ('delivered', "Delivered"),
    ('read', "Read"),
    ('failed', "Failed"),
    ('received', "Arrived"),
    ('inbox', "To File"),
    ('filed', "Filed"),
    ('rejected', "Rejected"),
    ('receipt', "Receipt"),
    ]
CHANNELS = [
    ('internal', "Inside the clinic"),
    ('mail', "Secure e-mail"),
    ]
# What a read receipt says, and what the sender then sees
DISPOSITIONS = {'processed': 'delivered', 'displayed': 'read'}
PROGRESS = ['pending', 'sent', 'delivered', 'read']
SUBJECT_LIMIT = 500
XML_TYPES = {'text/xml', 'application/xml', 'application/hl7-v3+xml'}
READER = 'GNU Health shared record'
# A relay that stays down this many attempts (some 20 hours, with
# exchange.retry_delay) fails the message, said so on it
MAX_ATTEMPTS = 12

logger = logging.getLogger(__name__)
# Reasons whose message name the sending side already uses
RENAMED = {
    'bad_certificate': 'bad_certificate_smime',
    'no_document': 'no_document_in_package',
    }


def refusal(error):
    "The message, for the Inbox, that says why what arrived was refused"
    if isinstance(error, cda_reader.ContentError):
        return gettext(
            'health_shared_record.msg_messaging_not_cda', error=str(error))
    if isinstance(error, MessagingError):
        return error.message
    reason = RENAMED.get(error.reason, error.reason)
    return gettext(
        f'health_shared_record.msg_messaging_{reason}', **error.params)


class HealthProfessional(metaclass=PoolMeta):
    __name__ = 'gnuhealth.healthprofessional'

    secure_email = fields.Char(
        "Secure E-mail",
        help="The professional's secure messaging address (MSSanté, "
        "Direct), where colleagues send documents.")
    secure_certificate = fields.Text(
        "Encryption Certificate",
        help="The professional's S/MIME certificate (PEM): documents sent "
        "to them are encrypted for it.")

    @classmethod
    def create(cls, vlist):
        return super().create([cls._lower_address(v) for v in vlist])

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        args = []
        for records, values in zip(actions, actions):
            args.extend((records, cls._lower_address(values)))
        super().write(*args)

    @staticmethod
    def _lower_address(values):
        "Addresses are compared in lower case: they are kept so"
        if values.get('secure_email'):
            values = {**values,
                'secure_email': values['secure_email'].strip().lower()}
        return values

    @classmethod
    def validate_fields(cls, professionals, field_names):
        super().validate_fields(professionals, field_names)
        for professional in professionals:
            address = professional.secure_email
            if address and not secure_mail.ADDRESS.fullmatch(address):
                raise MessagingError(gettext(
                        'health_shared_record.msg_messaging_bad_address',
                        address=address))
            if professional.secure_certificate:
                try:
                    smime.load_certificate(
                        professional.secure_certificate.encode())
                except smime.SmimeError:
                    raise MessagingError(gettext(
                            'health_shared_record.msg_messaging_bad_'
                            'certificate',
                            professional=professional.rec_name))

    @property
    def in_clinic(self):
        "Whether the professional works in this database (logs in here)"
        return bool(self.party.internal_user)


class Message(Guarded, ModelSQL, ModelView):
    "Secure Message"
    __name__ = 'gnuhealth.shared_record.message'
    _rec_name = 'subject'

    direction = Selection(DIRECTIONS, "Direction", required=True,
        readonly=True)
    state = Selection(STATES, "State", required=True, readonly=True)
    state_string = state.translated('state')
    channel = Selection(CHANNELS, "Channel", required=True, readonly=True)
    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", readonly=True, ondelete='RESTRICT')
    documents = fields.Many2Many(
        'gnuhealth.shared_record.message-document', 'message', 'document',
        "Documents", readonly=True)
    subject = fields.Char("Subject", readonly=True)
    text = fields.Text("Text", readonly=True)
    sender = fields.Many2One(
        'gnuhealth.healthprofessional', "From", readonly=True,
        ondelete='RESTRICT')
    sender_address = fields.Char("From Address", readonly=True)
    recipient = fields.Many2One(
        'gnuhealth.healthprofessional', "To", readonly=True,
        ondelete='RESTRICT')
    address = fields.Char(
        "To Address", readonly=True,
        help="The secure address the message went to, or arrived at.")
    mailbox = fields.Many2One(
        'gnuhealth.shared_record.mailbox', "Mailbox", readonly=True,
        ondelete='RESTRICT')
    message_id = fields.Char("Message-ID", readonly=True)
    key = fields.Char("Key", required=True, readonly=True)
    related = fields.Many2One(
        'gnuhealth.shared_record.message', "Related Message", readonly=True,
        ondelete='SET NULL',
        help="For a message delivered inside the clinic, its other side.")
    signed = fields.Boolean("Signed", readonly=True)
    encrypted = fields.Boolean("Encrypted", readonly=True)
    receipt_requested = fields.Boolean(
        "Receipt Asked", readonly=True,
        help="The sender asked to be told when the documents are read.")
    receipt_to = fields.Char("Receipt To", readonly=True)
    receipt_sent = Selection([
            (None, ""),
            ('processed', "Delivered"),
            ('displayed', "Read"),
            ], "Receipt Sent", readonly=True)
    reason = fields.Text(
        "Reason", readonly=True,
        states={'invisible': ~Eval('reason')},
        help="Why the message failed, waits, or was rejected.")
    handled_by = fields.Many2One(
        'gnuhealth.healthprofessional', "Filed or Rejected By",
        readonly=True, ondelete='RESTRICT',
        states={'invisible': ~Eval('handled_by')},
        help="Who filed the message into the record, or rejected it, by "
        "hand.")
    attempts = fields.Integer("Attempts", readonly=True)
    next_attempt = fields.DateTime("Next Attempt", readonly=True)
    sent_date = fields.DateTime("Sent On", readonly=True)
    delivered_date = fields.DateTime("Delivered On", readonly=True)
    read_date = fields.DateTime("Read On", readonly=True)
    raw = fields.Binary(
        "Message", readonly=True,
        help="The message as it was sent or as it arrived, kept whole.")
    date = fields.Function(fields.DateTime("Date"), 'get_date')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        table = cls.__table__()
        cls._sql_constraints = [
            ('key_unique', Unique(table, table.key),
                'health_shared_record.msg_message_unique'),
            ]
        cls._sql_indexes.update({
                Index(table, (table.patient, Index.Range()),
                    (table.create_date, Index.Range())),
                Index(table, (table.state, Index.Equality()),
                    (table.direction, Index.Equality())),
                Index(table, (table.message_id, Index.Equality())),
                Index(table, (table.recipient, Index.Range())),
                })
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls._buttons.update({
                'retry': {
                    'invisible': (Eval('state') != 'failed')
                    | (Eval('direction') != 'out'),
                    'depends': ['state', 'direction'],
                    },
                })

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('state').in_(['failed', 'inbox']),
                    'danger', '')),
            ]

    @staticmethod
    def default_attempts():
        return 0

    def get_date(self, name):
        return self.create_date

    @staticmethod
    def order_date(tables):
        table, _ = tables[None]
        return [table.create_date]

    @classmethod
    def guard_where(cls, table, actor):
        """Doctors and nurses: those they sent or were sent, those about a
        patient (the conversation) and those waiting for the clinic,
        unless the patient blocked them"""
        pool = Pool()
        Blocked = pool.get('gnuhealth.shared_record.blocked_professional')
        Document = pool.get('gnuhealth.shared_record.document')
        if actor.root:
            return Literal(True)
        if not actor.clinician or actor.professional < 0:
            return Literal(False)
        me = actor.professional
        relation = pool.get(
            'gnuhealth.shared_record.message-document').__table__()
        document = Document.__table__()
        # About a patient, for whom may read one of its documents (her
        # opposition, masking and confidentiality hold as for the
        # documents themselves)
        readable = Exists(relation.join(
                document, condition=document.id == relation.document
                ).select(Literal(1), where=(
                    (relation.message == table.id)
                    & Document.guard_where(document, actor))))
        concerns = ((table.sender == me) | (table.recipient == me)
            | ((table.patient != Null) & readable)
            # The clinic's mailbox, before it is filed into a record
            | ((table.recipient == Null) & (table.direction == 'in')
                & (table.patient == Null)))
        return (concerns & (table.state != 'receipt')
            & ~Blocked.blocks(table.patient, me))

    # Sending

    @classmethod
    def send_documents(cls, documents, professionals, addresses, subject,
            text, receipt=True, confirmed=False):
        """Send the documents (of one patient) to each professional and
        each address, one message each, as the current user; return the
        messages, queued"""
        pool = Pool()
        Document = pool.get('gnuhealth.shared_record.document')
        Professional = pool.get('gnuhealth.healthprofessional')
        Blocked = pool.get('gnuhealth.shared_record.blocked_professional')
        Mailbox = pool.get('gnuhealth.shared_record.mailbox')
        AccessLog = pool.get('gnuhealth.shared_record.access_log')
        configuration = pool.get('gnuhealth.shared_record.configuration')(1)
        who = actor()
        if not who.root and (not who.clinician or who.professional < 0):
            raise MessagingError(gettext(
                    'health_shared_record.msg_messaging_not_clinician'))
        sender = current_professional()
        ids = [d.id for d in documents]
        if not ids:
            raise MessagingError(gettext(
                    'health_shared_record.msg_messaging_no_document'))
        Document.guard_check_readable(ids)
        subject = (subject or '').strip()
        if not subject:
            raise MessagingError(gettext(
                    'health_shared_record.msg_messaging_no_subject'))
        with as_server():
            documents = Document.browse(ids)
            patients = {d.patient for d in documents}
            if len(patients) != 1:
                raise MessagingError(gettext(
                        'health_shared_record.msg_messaging_one_patient'))
            patient, = patients
            for document in documents:
                if document.state != 'published':
                    raise MessagingError(gettext(
                            'health_shared_record.msg_messaging_not_'
                            'published', document=document.rec_name))
                if not confirmed and (
                        document.masked or document.confidentiality == 'V'):
                    raise MessagingError(gettext(
                            'health_shared_record.msg_messaging_masked',
                            document=document.rec_name))
            recipients = []
            for professional in Professional.browse(
                    [p.id for p in professionals]):
                if professional.in_clinic:
                    recipients.append((professional, None))
                elif professional.secure_email:
                    recipients.append(
                        (professional, professional.secure_email.lower()))
                else:
                    raise MessagingError(gettext(
                            'health_shared_record.msg_messaging_no_address',
                            professional=professional.rec_name))
            for address in addresses:
                address = address.strip().lower()
                if not secure_mail.ADDRESS.fullmatch(address):
                    raise MessagingError(gettext(
                            'health_shared_record.msg_messaging_bad_address',
                            address=address[:200]))
                known = Professional.search([
                        ('secure_email', '=', address),
                        ], limit=1)
                recipients.append((known[0] if known else None, address))
            recipients = list(dict.fromkeys(recipients))
            if not recipients:
                raise MessagingError(gettext(
                        'health_shared_record.msg_messaging_no_recipient'))
            blocked = Blocked.pairs({patient.id})
            for professional, _ in recipients:
                if professional and (patient.id, professional.id) in blocked:
                    raise MessagingError(gettext(
                            'health_shared_record.msg_messaging_blocked',
                            professional=professional.rec_name))
            mailbox = None
            if any(address for _, address in recipients):
                mailbox = Mailbox.sender_of(sender)
                if not configuration.relay_host or not mailbox:
                    raise MessagingError(gettext(
                            'health_shared_record.msg_messaging_no_relay'))
            now = dt.datetime.now()
            vlist = []
            for professional, address in recipients:
                unique = uuid.uuid4().hex
                message_id = secure_mail.message_id(unique, (
                        mailbox.address if mailbox and address
                        else 'clinic.invalid').rsplit('@', 1)[-1])
                vlist.append({
                        'direction': 'out',
                        'state': 'pending',
                        'channel': 'mail' if address else 'internal',
                        'patient': patient.id,
                        'documents': [('add', ids)],
                        'subject': subject[:SUBJECT_LIMIT],
                        'text': (text or '')[:REASON_LIMIT * 10] or None,
                        'sender': sender.id if sender else None,
                        'sender_address': (
                            mailbox.address if mailbox and address
                            else None),
                        'recipient': professional.id if professional
                        else None,
                        'address': address,
                        'mailbox': mailbox.id if mailbox and address
                        else None,
                        'message_id': message_id,
                        'key': 'out:' + message_id,
                        'receipt_requested': bool(receipt),
                        'next_attempt': now,
                        })
            messages = cls.create(vlist)
        # In the patient's access history: who sent what to whom
        for message in messages:
            AccessLog.record(ids, 'send', recipient=message.recipient_label)
        cls.queue_sending(messages)
        return messages

    @classmethod
    def queue_sending(cls, messages):
        """A task per message: one that fails, or whose transaction is
        retried, never sends another twice nor holds it back"""
        for message in messages:
            cls.__queue__.send_pending([message])

    @property
    def recipient_label(self):
        return ' '.join(filter(None, [
                    self.recipient.rec_name if self.recipient else None,
                    '<%s>' % self.address if self.address else None]))

    @classmethod
    def send_pending(cls, messages):
        """Deliver the pending messages (a task): inside the clinic at
        once, by secure e-mail through the relay, each once"""
        pool = Pool()
        configuration = pool.get('gnuhealth.shared_record.configuration')(1)
        with as_server():
            messages = [m for m in cls.browse(messages)
                if m.direction == 'out' and m.state == 'pending']
            if not messages:
                return
            cls.lock(messages)
            messages = [m for m in cls.browse([m.id for m in messages])
                if m.state == 'pending']
            relay = configuration.relay()
            Blocked = pool.get(
                'gnuhealth.shared_record.blocked_professional')
            blocked = Blocked.pairs({m.patient.id for m in messages})
            for message in messages:
                # The patient's choice when it leaves, not only when it
                # was written: a colleague blocked since gets nothing
                if message.recipient and (message.patient.id,
                        message.recipient.id) in blocked:
                    cls.write([message], {
                            'state': 'failed', 'next_attempt': None,
                            'reason': gettext(
                                'health_shared_record.msg_messaging_blocked',
                                professional=message.recipient.rec_name),
                            })
                elif message.channel == 'internal':
                    cls.deliver_inside([message])
                else:
                    message.send_mail(relay, configuration)

    @classmethod
    def deliver_inside(cls, messages):
        "A colleague of the clinic receives the message in their Inbox"
        now = dt.datetime.now()
        received = cls.create([{
                    'direction': 'in',
                    'state': 'filed',
                    'channel': 'internal',
                    'patient': m.patient.id,
                    'documents': [('add', [d.id for d in m.documents])],
                    'subject': m.subject,
                    'text': m.text,
                    'sender': m.sender.id if m.sender else None,
                    'recipient': m.recipient.id,
                    'message_id': m.message_id,
                    'key': 'internal:' + m.message_id,
                    'related': m.id,
                    'receipt_requested': m.receipt_requested,
                    } for m in messages])
        for message, other in zip(messages, received):
            cls.write([message], {
                    'state': 'delivered',
                    'related': other.id,
                    'sent_date': now,
                    'delivered_date': now,
                    })
        cls.notify_recipients(received)

    def send_mail(self, relay, configuration):
        """Seal the message once (a retry sends the same bytes, with the
        same Message-ID) and hand it to the relay"""
        values = {}
        try:
            if relay is None:
                raise MessagingError(gettext(
                        'health_shared_record.msg_messaging_no_relay'))
            if not self.raw:
                values['raw'] = self.seal(configuration)
                values['signed'] = True
                values['encrypted'] = bool(
                    self.recipient and self.recipient.secure_certificate)
            relay.submit(self.sender_address, [self.address],
                values.get('raw') or self.raw)
        except mail_transport.TransportError as error:
            attempts = (self.attempts or 0) + 1
            values.update({
                    'reason': refusal(error),
                    'attempts': attempts,
                    })
            if error.retryable and attempts < MAX_ATTEMPTS:
                values['next_attempt'] = (
                    dt.datetime.now() + retry_delay(attempts))
            else:
                values.update({'state': 'failed', 'next_attempt': None})
        except (MessagingError, smime.SmimeError) as error:
            values.update({
                    'state': 'failed', 'next_attempt': None,
                    'reason': refusal(error),
                    'attempts': (self.attempts or 0) + 1,
                    })
        except backend.DatabaseOperationalError:
            raise
        except Exception:
            # Failed, said so, the error in the log: never pending for
            # ever, nor holding back the messages after it
            logger.exception('message %s could not be sent', self.id)
            values.update({
                    'state': 'failed', 'next_attempt': None,
                    'reason': gettext(
                        'health_shared_record.msg_messaging_unexpected_send'),
                    'attempts': (self.attempts or 0) + 1,
                    })
        else:
            values.update({
                    'state': 'sent', 'sent_date': dt.datetime.now(),
                    'next_attempt': None, 'reason': None,
                    'attempts': (self.attempts or 0) + 1,
                    })
        self.write([self], values)

    def seal(self, configuration):
        "The message as it travels: signed, encrypted when it can be"
        documents = [
            d.mhd_document(configuration) for d in self.documents]
        renderings = {}
        for document, value in zip(self.documents, documents):
            if value.mime_type in XML_TYPES:
                renderings[value.unique_id] = html_to_pdf(
                    document.render_html(), title=document.rec_name)
        sender = self.sender
        author = sender.rec_name if sender else self.sender_address
        when = dt.datetime.now()
        package = xdm.package(
            documents, configuration.mhd_metadata,
            '%s.%s' % (configuration.base_oid, uuid.uuid4().int),
            author, [self.address], when,
            gettext('health_shared_record.msg_messaging_readme',
                sender=author, software=READER),
            self.subject, renderings)
        entity = secure_mail.compose(self.text or '', package)
        certificate, key = self.mailbox.identity()
        recipients = []
        if self.recipient and self.recipient.secure_certificate:
            recipients = [smime.load_certificate(
                    self.recipient.secure_certificate.encode())]
        return secure_mail.seal(
            entity, self.sender_address, [self.address], self.subject,
            self.message_id, when.astimezone(), certificate, key,
            recipients,
            receipt_to=self.sender_address if self.receipt_requested
            else None)

    @classmethod
    def resend_pending(cls):
        "Cron: send what is due for another attempt"
        with as_server():
            cls.queue_sending(cls.search([
                        ('direction', '=', 'out'),
                        ('state', '=', 'pending'),
                        ('next_attempt', '<=', dt.datetime.now()),
                        ], order=[('next_attempt', 'ASC'), ('id', 'ASC')]))

    @classmethod
    @ModelView.button
    def retry(cls, messages):
        "Try a failed message again, after the settings were fixed"
        cls.check_sender(messages)
        who = actor()
        with as_server():
            if not who.root and any(
                    m.sender is None or m.sender.id != who.professional
                    for m in cls.browse([m.id for m in messages])):
                raise MessagingError(gettext(
                        'health_shared_record.msg_messaging_not_yours'))
            failed = [m for m in cls.browse([m.id for m in messages])
                if m.state == 'failed' and m.direction == 'out']
            cls.write(failed, {
                    'state': 'pending', 'next_attempt': dt.datetime.now(),
                    'raw': None, 'reason': None,
                    })
        cls.queue_sending(failed)

    @classmethod
    def check_sender(cls, messages):
        who = actor()
        if who.root:
            return
        if len(cls.guard_readable_ids([m.id for m in messages])) != len(
                messages):
            raise MessagingError(gettext(
                    'health_shared_record.msg_messaging_not_yours'))


class MessageDocument(Guarded, ModelSQL):
    "Secure Message - Document"
    __name__ = 'gnuhealth.shared_record.message-document'

    message = fields.Many2One(
        'gnuhealth.shared_record.message', "Message", required=True,
        ondelete='CASCADE')
    document = fields.Many2One(
        'gnuhealth.shared_record.document', "Document", required=True,
        ondelete='RESTRICT')

    @classmethod
    def guard_where(cls, table, actor):
        "Who sees the message, for the documents they may see"
        pool = Pool()
        Message = pool.get('gnuhealth.shared_record.message')
        Document = pool.get('gnuhealth.shared_record.document')
        message = Message.__table__()
        document = Document.__table__()
        return Exists(message.select(Literal(1), where=(
                    (message.id == table.message)
                    & Message.guard_where(message, actor)))) & Exists(
            document.select(Literal(1), where=(
                    (document.id == table.document)
                    & Document.guard_where(document, actor))))


class Patient(metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'

    shared_record_messages = fields.One2Many(
        'gnuhealth.shared_record.message', 'patient', "Messages",
        readonly=True, help="The messages sent and received about the "
        "patient, newest first.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'send_shared_record_message': {},
                })

    @classmethod
    @ModelView.button_action('health_shared_record.wizard_message_send')
    def send_shared_record_message(cls, patients):
        pass


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.extend([
                ('gnuhealth.shared_record.message|resend_pending',
                    "Send Pending Secure Messages"),
                ('gnuhealth.shared_record.mailbox|fetch_all',
                    "Read Secure Mailboxes"),
                ])
