# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The messages professionals exchange by secure e-mail (MSSanté, Direct):
a text and an IHE_XDM.ZIP, signed and, when the recipient's certificate is
known, encrypted; the read receipts (RFC 8098 message disposition
notifications) they ask for.  No ORM and no network here: bytes in, bytes
out, MailError with a reason otherwise.

What is received is read as hostile: the MIME must parse, be signed by a
trusted signer whose certificate names the sender's address, and hold one
IHE_XDM.ZIP.  The routing headers travel unprotected: the sender is
believed because the signer's certificate says it.
"""
import email
import email.errors
import email.policy
import email.utils
import re
from dataclasses import dataclass
from email.header import Header, decode_header, make_header
from email.message import EmailMessage
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from cryptography import x509
from cryptography.x509.oid import NameOID

from . import smime

PACKAGE = 'IHE_XDM.ZIP'
ZIP_TYPES = {'application/zip', 'application/x-zip-compressed',
    'application/octet-stream'}
# The largest message read at all
MAX_MESSAGE = 60 * 1024 * 1024
# The subject an encrypted message shows outside, its own being inside (as
# the IETF's header protection for S/MIME writes it)
PROTECTED = '[...]'
MESSAGE_ID = re.compile(r'<[^<>\s@]+@[^<>\s@]+>')
# An address a clinic can send to: one @, a dotted domain, nothing that
# would split or fold a header
ADDRESS = re.compile(
    r'[^@\s<>(),;:"\[\]\\]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+')


class MailError(Exception):
    """A message is refused: reason names the message the user reads"""

    def __init__(self, reason, **params):
        super().__init__(reason, params)
        self.reason = reason
        self.params = params


@dataclass
class Received:
    "A message as it was read: who sent what, as signed"
    message_id: str
    sender: str
    subject: str
    text: str
    package: bytes
    signer: object
    encrypted: bool
    receipt_to: str = None


def message_id(unique, domain):
    "A Message-ID from a unique value of the sender's and its domain"
    return '<%s@%s>' % (re.sub(r'[^A-Za-z0-9.$-]', '-', unique), domain)


def compose(text, package):
    "The content entity: the text and the IHE_XDM.ZIP, as it is signed"
    entity = EmailMessage(policy=email.policy.SMTP)
    entity.set_content(text)
    entity.add_attachment(package, maintype='application', subtype='zip',
        filename=PACKAGE)
    for part in entity.walk():
        del part['MIME-Version']
    return entity.as_bytes()


def seal(entity, sender, recipients, subject, message_id_, date,
        certificate, key, recipient_certificates=(), receipt_to=None):
    """The message to send: the entity signed, encrypted for the
    recipients' certificates when all of them are known, and the headers
    that route it.  Encrypted, the subject (which often names the patient)
    travels inside, signed, and the routing headers say only PROTECTED
    (the protected headers of RFC 8551, section 3.1)"""
    encrypted = bool(recipient_certificates)
    if encrypted:
        entity = _header('Subject', subject) + entity
        subject = PROTECTED
    body = smime.sign(entity, certificate, key)
    if encrypted:
        body = smime.encrypt(body, list(recipient_certificates))
    # SMTP carries lines ended by CRLF (RFC 5321), which is also the form
    # the signature covers
    body = smime.crlf(body)
    # The routing headers before the S/MIME body as it was made: parsing
    # and writing it again could change the bytes the signature covers
    headers = [
        ('From', sender),
        ('To', ', '.join(recipients)),
        ('Subject', subject),
        ('Date', email.utils.format_datetime(date)),
        ('Message-ID', message_id_),
        ]
    if receipt_to:
        headers.append(('Disposition-Notification-To', receipt_to))
    return b''.join(_header(name, value) for name, value in headers) + body


def _header(name, value):
    # A line break in a value (a subject from a document's title) would
    # start a header of its own: none survives
    value = ' '.join(str(value).split())
    return email.policy.SMTP.header_factory(name, value).fold(
        policy=email.policy.SMTP).encode('ascii')


def signer_addresses(certificate):
    "The e-mail addresses a certificate names, in lower case"
    addresses = set()
    try:
        names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
        addresses.update(a.lower() for a in names.get_values_for_type(
                x509.RFC822Name))
    except x509.ExtensionNotFound:
        pass
    addresses.update(a.value.lower() for a in (
            certificate.subject.get_attributes_for_oid(
                NameOID.EMAIL_ADDRESS)))
    return addresses


def _decoded(value):
    "A header's text, its encoded words decoded"
    try:
        return str(make_header(decode_header(str(value))))
    except (ValueError, LookupError, email.errors.HeaderParseError):
        return str(value)


def _parse(data):
    try:
        message = email.message_from_bytes(
            data, policy=email.policy.compat32)
    except Exception:
        raise MailError('malformed')
    if message.defects or not message.get_content_type():
        raise MailError('malformed')
    return message


def open_message(data, certificate, key, trusted, at=None):
    """The Received message in data (bytes as they came), decrypted with
    the clinic's certificate and key, its signature verified against
    trusted; or MailError"""
    if len(data) > MAX_MESSAGE:
        raise MailError('too_large', limit=MAX_MESSAGE)
    outer = _parse(data)
    sender = email.utils.parseaddr(outer.get('From', ''))[1]
    identifier = (outer.get('Message-ID') or '').strip()
    if not sender or not MESSAGE_ID.fullmatch(identifier):
        raise MailError('malformed')
    encrypted = smime.is_encrypted(outer)
    signed = data
    try:
        if encrypted:
            signed = smime.decrypt(data, certificate, key)
            if _parse(signed).get_content_type() != 'multipart/signed':
                raise MailError('unsigned')
        elif outer.get_content_type() != 'multipart/signed':
            raise MailError('unsigned')
        entity, signer = smime.verify(signed, trusted, at=at)
    except smime.SmimeError as error:
        raise MailError(error.reason, **error.params)
    if sender.lower() not in signer_addresses(signer):
        raise MailError('sender_mismatch', sender=sender[:200])
    content = _parse(entity)
    text, packages = '', []
    for part in content.walk():
        if part.is_multipart():
            continue
        name = (part.get_filename() or '').strip()
        if name.upper() == PACKAGE:
            if part.get_content_type() not in ZIP_TYPES:
                raise MailError('no_package')
            packages.append(part.get_payload(decode=True) or b'')
        elif (part.get_content_type() == 'text/plain' and not text
                and part.get_content_disposition() != 'attachment'):
            charset = part.get_content_charset() or 'utf-8'
            try:
                text = (part.get_payload(decode=True) or b'').decode(
                    charset, 'replace')
            except LookupError:
                text = (part.get_payload(decode=True) or b'').decode(
                    'utf-8', 'replace')
    if len(packages) != 1:
        raise MailError('no_package')
    receipt_to = email.utils.parseaddr(
        outer.get('Disposition-Notification-To', ''))[1] or None
    return Received(
        message_id=identifier, sender=sender,
        subject=_decoded(
            (content if encrypted and content.get('Subject') else outer).get(
                'Subject', ''))[:500], text=text,
        package=packages[0], signer=signer, encrypted=encrypted,
        receipt_to=receipt_to)


def receipt(received, reporter, final_recipient, message_id_, date,
        disposition='displayed'):
    """An RFC 8098 disposition notification for a received message: it
    was displayed (read) by final_recipient; reporter names the software"""
    report = MIMEMultipart(
        'report', report_type='disposition-notification')
    report['From'] = final_recipient
    report['To'] = received.receipt_to
    # The receipt travels in clear: the subject an encrypted message kept
    # inside stays there, the message is named by its Message-ID
    subject = ' '.join(received.subject.split())
    if received.encrypted or not subject:
        subject = received.message_id
    report['Subject'] = Header('%s: %s' % (
            'Read' if disposition == 'displayed' else 'Received', subject),
        'utf-8').encode()
    report['Date'] = email.utils.format_datetime(date)
    report['Message-ID'] = message_id_
    report.attach(MIMEText(
            'The message %s was %s.\r\n' % (subject,
                'displayed' if disposition == 'displayed'
                else 'processed'),
            'plain', 'utf-8'))
    notification = MIMEBase('message', 'disposition-notification')
    notification.set_payload(
        ('Reporting-UA: %s\r\nFinal-Recipient: rfc822;%s\r\n'
            'Original-Message-ID: %s\r\n'
            'Disposition: manual-action/MDN-sent-manually; %s\r\n') % (
            reporter, final_recipient, received.message_id, disposition))
    report.attach(notification)
    return report.as_bytes(policy=email.policy.compat32.clone(
            linesep='\r\n'))


def read_receipt(data):
    """(original Message-ID, disposition) of a disposition notification,
    or None when data is not one"""
    message = _parse(data)
    if (message.get_content_type() != 'multipart/report'
            or message.get_param('report-type') != (
                'disposition-notification')):
        return None
    for part in message.walk():
        if part.get_content_type() != 'message/disposition-notification':
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            fields = {}
            for block in payload:
                fields.update({k.lower(): v for k, v in block.items()})
        else:
            fields = {k.lower(): v for k, v in email.message_from_string(
                    payload or '').items()}
        original = (fields.get('original-message-id') or '').strip()
        disposition = (fields.get('disposition') or '').rsplit(';', 1)[-1]
        disposition = disposition.strip().split('/')[0].lower()
        if MESSAGE_ID.fullmatch(original) and disposition:
            return original, disposition
    return None
