# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What arrives by secure messaging: each message kept as it came, once,
then verified, decrypted, its IHE XDM package read as hostile, and its
documents filed into the one patient they name, as documents from another
clinic; anything else waits in the Inbox, with its reason, for a person to
file or reject.  And the read receipts, both ways."""
import datetime as dt
import email
import email.utils
import hashlib
import logging
import uuid

from sql import Literal, Null
from sql.operators import Exists

from trytond import backend
from trytond.bus import notify
from trytond.i18n import gettext
from trytond.model import ModelView
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from . import cda_reader, mail_transport, mhd, secure_mail, smime, xdm
from .alert import as_server
from .common import REASON_LIMIT, TITLE_LIMIT, folded
from .exceptions import MessagingError
from .guard import actor
from .messaging import (
    DISPOSITIONS, PROGRESS, READER, SUBJECT_LIMIT, XML_TYPES, refusal)

logger = logging.getLogger(__name__)
# What a received message can be refused for, each with its message
REFUSED = (
    secure_mail.MailError, xdm.PackageError, cda_reader.ContentError,
    mhd.ContentError, MessagingError, smime.SmimeError)


def handler():
    "The professional who files or rejects by hand, None for the server"
    professional = actor().professional
    return professional if professional and professional > 0 else None


class Message(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.message'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'file_message': {
                    'invisible': Eval('state') != 'inbox',
                    'depends': ['state'],
                    },
                'reject_message': {
                    'invisible': Eval('state') != 'inbox',
                    'depends': ['state'],
                    },
                })

    # Receiving

    @classmethod
    def receive(cls, mailbox, raws, oversized=()):
        """Keep each message that arrived in the mailbox, once (by its
        Message-ID, or its bytes when it has none); return the new.  Those
        of oversized (their headers only: the mailbox keeps them whole)
        wait To File, too large."""
        configuration = Pool().get(
            'gnuhealth.shared_record.configuration')(1)
        vlist = {}
        for raw in list(raws) + list(oversized):
            identifier = cls.raw_message_id(raw)
            key = 'in:%s:%s' % (mailbox.id, identifier or (
                    'sha256:' + hashlib.sha256(raw).hexdigest()))
            vlist.setdefault(key, {
                    'direction': 'in',
                    'state': 'received',
                    'channel': 'mail',
                    'mailbox': mailbox.id,
                    'recipient': (mailbox.professional.id
                        if mailbox.professional else None),
                    'address': mailbox.address,
                    'message_id': identifier,
                    'key': key,
                    'raw': raw,
                    })
            if any(raw is o for o in oversized):
                vlist[key].update({
                        'state': 'inbox',
                        'reason': gettext(
                            'health_shared_record.msg_messaging_too_large',
                            limit=configuration.messaging_max_size),
                        })
        with as_server():
            known = set()
            for sub_keys in grouped_slice(list(vlist)):
                known.update(m.key for m in cls.search(
                        [('key', 'in', list(sub_keys))]))
            created = cls.create(
                [v for k, v in vlist.items() if k not in known])
            cls.notify_recipients([m for m in created if m.state == 'inbox'])
            return created

    @staticmethod
    def raw_message_id(raw):
        head = raw[:64 * 1024].split(b'\r\n\r\n', 1)[0].split(b'\n\n', 1)[0]
        for line in head.decode('latin-1').replace('\r\n ', ' ').replace(
                '\n ', ' ').splitlines():
            name, _, value = line.partition(':')
            if name.strip().lower() == 'message-id':
                value = value.strip()
                if secure_mail.MESSAGE_ID.fullmatch(value):
                    return value
        return None

    @classmethod
    def process(cls, messages):
        """Open what arrived (a task): a receipt updates the message it is
        about; a message is verified, decrypted, its package read, and
        filed into the patient's record when it names one patient only;
        anything else waits in the Inbox, with the reason"""
        configuration = Pool().get(
            'gnuhealth.shared_record.configuration')(1)
        with as_server():
            # One record at a time: records browsed together read again
            # the fields of all of them after each one's writes
            for message_id in list(map(int, messages)):
                message, = cls.browse([message_id])
                if message.state != 'received':
                    continue
                try:
                    message.open(configuration)
                except REFUSED as error:
                    cls.write([message], {
                            'state': 'inbox',
                            'reason': refusal(error)[:REASON_LIMIT],
                            })
                    cls.notify_recipients([message])
                except backend.DatabaseOperationalError:
                    raise
                except Exception:
                    # What no check foresaw must not stop the mailbox: the
                    # message waits To File, the error is in the log
                    logger.exception(
                        'message %s could not be read', message.id)
                    cls.write([message], {
                            'state': 'inbox',
                            'reason': gettext('health_shared_record'
                                '.msg_messaging_unexpected'),
                            })
                    cls.notify_recipients([message])

    def open(self, configuration):
        cls = self.__class__
        raw = self.raw
        if len(raw) > configuration.messaging_max_bytes:
            raise secure_mail.MailError(
                'too_large', limit=configuration.messaging_max_size)
        try:
            disposition = secure_mail.read_receipt(raw)
        except secure_mail.MailError:
            disposition = None
        if disposition:
            cls.take_receipt(self, *disposition)
            return
        certificate, key = self.mailbox.identity()
        received = secure_mail.open_message(
            raw, certificate, key, configuration.trusted_signers(),
            at=dt.datetime.now(dt.timezone.utc))
        Professional = Pool().get('gnuhealth.healthprofessional')
        known = Professional.search([
                ('secure_email', '=', received.sender.lower()),
                ], limit=1)
        # A receipt goes to the sender the signature proved, never to an
        # address the message's unsigned headers name
        receipt_to = (received.receipt_to or '').strip().lower()
        if receipt_to != received.sender.lower():
            receipt_to = None
        cls.write([self], {
                'sender_address': received.sender,
                'sender': known[0].id if known else None,
                'subject': received.subject[:SUBJECT_LIMIT],
                'text': received.text[:REASON_LIMIT * 10] or None,
                'signed': True,
                'encrypted': received.encrypted,
                'receipt_requested': bool(receipt_to),
                'receipt_to': receipt_to,
                })
        documents = self.read_documents(received, configuration)
        patients = self.match_patients(documents, configuration)
        if len(patients) == 1:
            self.file_into(patients[0], documents)
        else:
            cls.write([self], {
                    'state': 'inbox',
                    'reason': gettext(
                        'health_shared_record.msg_messaging_no_patient'
                        if not patients else
                        'health_shared_record.msg_messaging_several_'
                        'patients'),
                    })
            cls.notify_recipients([self])

    @staticmethod
    def read_documents(received, configuration):
        "[(xdm.Entry, cda_reader.Content)] of the package's CDA documents"
        package = xdm.read(received.package, configuration.package_limits)
        documents = []
        for entry in package.entries:
            if (entry.mime_type not in XML_TYPES
                    and not entry.path.upper().endswith('.XML')):
                raise MessagingError(gettext(
                        'health_shared_record.msg_messaging_not_cda',
                        error=entry.path))
            if len(entry.content) > configuration.messaging_max_bytes:
                raise secure_mail.MailError(
                    'too_large', limit=configuration.messaging_max_size)
            documents.append((entry, cda_reader.read_content(entry.content)))
        return documents

    @staticmethod
    def match_patients(documents, configuration):
        """The patients the documents are about: by the national
        identifier first, then by birth date and name"""
        pool = Pool()
        Patient = pool.get('gnuhealth.patient')
        found = set()
        for entry, read in documents:
            identifiers = set(read.patient_ids) | {
                (system, value) for system, value in entry.patient_ids}
            national = configuration.national_identifier_system
            codes = [value for system, value in identifiers
                if value and system == national]
            locals_ = [value for system, value in identifiers
                if value and system == configuration.patient_system]
            matches = []
            if codes and configuration.national_identifier_type:
                matches = Patient.search([
                        ('party.alternative_ids.alternative_id_type', '=',
                            configuration.national_identifier_type),
                        ('party.alternative_ids.code', 'in', codes),
                        ])
            if not matches and locals_:
                matches = Patient.search([('party.ref', 'in', locals_)])
            family = folded(read.patient_family)
            given = folded(read.patient_given).split(' ')[0]
            if not matches and read.patient_birth and family and given:
                # The same names (their case and accents aside), compared
                # here: a pattern would take a % in a name for anything
                matches = [p for p in Patient.search([
                            ('party.dob', '=', read.patient_birth),
                            ])
                    if folded(p.party.lastname) == family
                    and folded(p.party.name).split(' ')[0] == given]
            if len(matches) != 1:
                return matches if len(matches) > 1 else []
            found.add(matches[0])
        return sorted(found, key=lambda p: p.id)

    def file_into(self, patient, documents=None):
        """File the message's documents into the patient's record: a
        document already here (fetched, or sent before) is the same"""
        pool = Pool()
        Document = pool.get('gnuhealth.shared_record.document')
        configuration = pool.get('gnuhealth.shared_record.configuration')(1)
        cls = self.__class__
        if patient.shared_record_opposition:
            raise MessagingError(gettext(
                    'health_shared_record.msg_messaging_opposition'))
        if documents is None:
            certificate, key = self.mailbox.identity()
            received = secure_mail.open_message(
                self.raw, certificate, key, configuration.trusted_signers(),
                at=dt.datetime.now(dt.timezone.utc))
            documents = self.read_documents(received, configuration)
        held = {}
        unique_ids = [e.unique_id for e, _ in documents]
        for sub_ids in grouped_slice(unique_ids):
            for document in Document.search(
                    [('unique_id', 'in', list(sub_ids))], order=[]):
                held[document.unique_id] = document
        # Everything checked before anything is stored: a refusal leaves
        # no document behind
        filed, new = [], []
        for entry, read in documents:
            document = held.get(entry.unique_id)
            if document is not None:
                if document.patient != patient:
                    raise MessagingError(gettext(
                            'health_shared_record.msg_messaging_other_'
                            'patient'))
                filed.append(document)
            else:
                reference = Document.message_reference(entry, read, self)
                Document.external_type(reference)
                new.append((reference, entry, read))
        for reference, entry, read in new:
            if reference.unique_id in held:
                document = held[reference.unique_id]
            else:
                document = Document.store_external(
                    reference, entry.content, read, patient, held)
                held[document.unique_id] = document
            filed.append(document)
        cls.write([self], {
                'state': 'filed',
                'patient': patient.id,
                'documents': [('add', [d.id for d in filed])],
                'reason': None,
                })
        Document.recompute_prevention(filed)
        cls.notify_recipients([self])
        if self.receipt_to:
            cls.__queue__.send_receipts([self], 'processed')

    @classmethod
    def file_messages(cls, messages, patient):
        "File messages of the Inbox into the patient's record (a person)"
        cls.check_sender(messages)
        Patient = Pool().get('gnuhealth.patient')
        Patient.check_shared_record_actor([patient])
        who = handler()
        with as_server():
            for message in cls.browse([m.id for m in messages]):
                if message.state != 'inbox' or message.direction != 'in':
                    continue
                try:
                    message.file_into(patient)
                except REFUSED as error:
                    raise MessagingError(refusal(error))
                cls.write([message], {'handled_by': who})

    @classmethod
    def reject(cls, messages, reason):
        "Reject messages of the Inbox, with the reason (a person)"
        reason = (reason or '').strip()
        if not reason:
            raise MessagingError(gettext(
                    'health_shared_record.msg_messaging_reason_required'))
        cls.check_sender(messages)
        who = handler()
        with as_server():
            waiting = [m for m in cls.browse([m.id for m in messages])
                if m.state == 'inbox']
            cls.write(waiting, {
                    'state': 'rejected',
                    'reason': reason[:REASON_LIMIT],
                    'handled_by': who,
                    })

    @classmethod
    @ModelView.button_action(
        'health_shared_record.wizard_message_file')
    def file_message(cls, messages):
        pass

    @classmethod
    @ModelView.button_action(
        'health_shared_record.wizard_message_reject')
    def reject_message(cls, messages):
        pass

    @classmethod
    def notify_recipients(cls, messages):
        """Tell the professional a message arrived for, through the
        client's pop-up, when the database has a bus"""
        transaction = Transaction()
        if not transaction.database.has_channel():
            return
        for message in messages:
            professional = message.recipient or (
                message.patient.primary_care_doctor if message.patient
                else None)
            user = professional.party.internal_user if professional else None
            if not user:
                continue
            with transaction.set_context(language=(
                        user.language.code if user.language
                        else transaction.language)):
                title = gettext(
                    'health_shared_record.msg_messaging_popup_filed'
                    if message.state == 'filed' else
                    'health_shared_record.msg_messaging_popup_inbox')
            notify(title, body=message.subject or '', user=user.id)

    # Receipts

    @classmethod
    def take_receipt(cls, receipt, original, disposition):
        "A read receipt arrived: the message it is about moves on"
        state = DISPOSITIONS.get(disposition)
        sent = cls.search([
                ('direction', '=', 'out'),
                ('message_id', '=', original),
                ('channel', '=', 'mail'),
                ], limit=1)
        values = {'state': 'receipt'}
        if sent and state:
            message, = sent
            address = cls.raw_sender(receipt.raw)
            if address == (message.address or '').lower():
                values['related'] = message.id
                cls.advance([message], state)
        cls.write([receipt], values)

    @staticmethod
    def raw_sender(raw):
        try:
            parsed = email.message_from_bytes(raw[:64 * 1024])
        except Exception:
            return None
        return email.utils.parseaddr(parsed.get('From', ''))[1].lower()

    @classmethod
    def advance(cls, messages, state):
        "Move sent messages on to delivered or read, never back"
        now = dt.datetime.now()
        for message in messages:
            if (message.state not in PROGRESS
                    or PROGRESS.index(message.state)
                    >= PROGRESS.index(state)):
                continue
            values = {'state': state}
            values['delivered_date'] = message.delivered_date or now
            if state == 'read':
                values['read_date'] = now
            cls.write([message], values)

    @classmethod
    def documents_opened(cls, document_ids):
        """Someone opened documents: the messages that brought them to
        that person (or to the clinic's mailbox) and asked for a receipt
        get one, once.  The sender reading her own letter again, or a
        colleague it was not sent to, is not the recipient reading it."""
        pool = Pool()
        relation = pool.get(
            'gnuhealth.shared_record.message-document').__table__()
        table = cls.__table__()
        if not Transaction().user:
            return
        me = actor().professional
        reader = (table.recipient == Null)
        if me > 0:
            reader |= (table.recipient == me)
        cursor = Transaction().connection.cursor()
        ids = []
        for sub_ids in grouped_slice(list(document_ids)):
            cursor.execute(*table.select(table.id, where=(
                        (table.direction == 'in')
                        & (table.state == 'filed')
                        & reader
                        & (table.receipt_requested == Literal(True))
                        & ((table.receipt_sent == Null)
                            | (table.receipt_sent != 'displayed'))
                        & Exists(relation.select(Literal(1), where=(
                                    (relation.message == table.id)
                                    & relation.document.in_(
                                        list(sub_ids))))))))
            ids.extend(i for i, in cursor)
        if not ids:
            return
        with as_server():
            messages = cls.browse(ids)
            inside = [m for m in messages if m.channel == 'internal']
            for message in inside:
                if message.related:
                    cls.advance([message.related], 'read')
            cls.write(inside, {'receipt_sent': 'displayed'})
            outside = [m for m in messages if m.channel == 'mail']
            if outside:
                cls.__queue__.send_receipts(outside, 'displayed')

    @classmethod
    def send_receipts(cls, messages, disposition):
        """Send the senders their receipts (a task): processed once filed,
        displayed once read"""
        configuration = Pool().get(
            'gnuhealth.shared_record.configuration')(1)
        relay = configuration.relay()
        if relay is None:
            return
        with as_server():
            for message in cls.browse(messages):
                if (not message.receipt_to or message.receipt_sent == (
                            'displayed') or message.receipt_sent
                        == disposition):
                    continue
                received = secure_mail.Received(
                    message_id=message.message_id,
                    sender=message.sender_address,
                    subject=message.subject or '', text='', package=b'',
                    signer=None, encrypted=message.encrypted,
                    receipt_to=message.receipt_to)
                domain = message.address.rsplit('@', 1)[-1]
                data = secure_mail.receipt(
                    received, READER, message.address,
                    secure_mail.message_id(uuid.uuid4().hex, domain),
                    dt.datetime.now().astimezone(), disposition)
                try:
                    relay.submit(
                        message.address, [message.receipt_to], data)
                except mail_transport.TransportError:
                    # A receipt is a courtesy: the next opening sends it
                    continue
                cls.write([message], {'receipt_sent': disposition})


class Document(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.document'

    @classmethod
    def log_access(cls, documents, action):
        super().log_access(documents, action)
        if action in {'open', 'download', 'print'}:
            Message = Pool().get('gnuhealth.shared_record.message')
            Message.documents_opened([int(d) for d in documents])

    @staticmethod
    def message_reference(entry, read, message):
        """What a colleague's package says of a document, as a repository
        would: the document is stored as one from another clinic (read as
        data, one document whichever way it came)"""
        return mhd.Reference(
            unique_id=entry.unique_id, state='published',
            type_code=entry.type_code or '34133-9',
            type_name=(entry.type_name or entry.title or read.title
                or entry.type_code or '')[:TITLE_LIMIT],
            title=(entry.title or read.title or '')[:TITLE_LIMIT],
            date=entry.creation, url=None, size=len(entry.content),
            sha1=None, mime_type=entry.mime_type,
            author_name=(entry.author or '').strip('^ ')[:TITLE_LIMIT],
            custodian_name=read.custodian or message.sender_address or '',
            # The sender's patient masked it, or it is restricted: so here
            confidentiality=entry.confidentiality, masked=entry.masked)
