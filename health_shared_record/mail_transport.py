# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The network side of secure messaging, and nothing else: submitting a
sealed message to the clinic's relay (SMTP) and reading a mailbox (IMAP).
No ORM here; the task queue calls it (messaging.py), and every fault is a
TransportError that says whether trying again later may succeed."""
import imaplib
import re
import smtplib
import ssl
from dataclasses import dataclass

SECURITIES = ('tls', 'starttls', 'none')
# What an IMAP FETCH answers for one message, with its UID
_UID = re.compile(rb'UID (\d+)')
_SIZE = re.compile(rb'RFC822\.SIZE (\d+)')


class TransportError(Exception):
    """The relay or the mailbox could not be used: reason names the
    message the user reads; retryable when the fault may pass"""

    def __init__(self, reason, retryable=False, **params):
        super().__init__(reason, params)
        self.reason = reason
        self.retryable = retryable
        self.params = params


def _context(verify, ca_file, certificate, private_key):
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if certificate:
        context.load_cert_chain(certificate, private_key or None)
    return context


def _detail(error):
    text = str(error) or type(error).__name__
    return text[:300]


@dataclass
class Relay:
    "The clinic's outgoing relay (the MSSanté or Direct operator's SMTP)"
    host: str
    port: int
    security: str = 'starttls'
    username: str = None
    password: str = None
    certificate: str = None
    private_key: str = None
    ca_file: str = None
    verify: bool = True
    timeout: int = 30

    def submit(self, sender, recipients, data):
        """Hand the message (bytes, as sealed) to the relay; return when
        it accepted it for every recipient"""
        try:
            context = _context(
                self.verify, self.ca_file, self.certificate,
                self.private_key) if self.security != 'none' else None
        except (OSError, ssl.SSLError) as error:
            raise TransportError('relay_certificate', error=_detail(error))
        try:
            if self.security == 'tls':
                client = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout,
                    context=context)
            else:
                client = smtplib.SMTP(
                    self.host, self.port, timeout=self.timeout)
            with client:
                if self.security == 'starttls':
                    client.starttls(context=context)
                if self.username:
                    client.login(self.username, self.password or '')
                refused = client.sendmail(sender, recipients, data)
        except smtplib.SMTPAuthenticationError as error:
            raise TransportError('relay_login', error=_detail(error))
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            raise TransportError(
                'relay_refused', retryable=all(400 <= c < 500 for c in codes),
                error=_answer(error.recipients))
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            raise TransportError(
                'relay_refused', retryable=400 <= error.smtp_code < 500,
                error=_text(error.smtp_code, error.smtp_error))
        except smtplib.SMTPNotSupportedError as error:
            raise TransportError('relay_tls', error=_detail(error))
        except ssl.SSLError as error:
            raise TransportError('relay_tls', error=_detail(error))
        except (OSError, smtplib.SMTPException) as error:
            # Down, unreachable, cut or too slow: it may answer later
            raise TransportError(
                'relay_unreachable', retryable=True, error=_detail(error))
        if refused:
            codes = [code for code, _ in refused.values()]
            raise TransportError(
                'relay_refused', retryable=all(400 <= c < 500 for c in codes),
                error=_answer(refused))


def _text(code, message):
    if isinstance(message, bytes):
        message = message.decode('utf-8', 'replace')
    return f'{code} {message}'[:300]


def _answer(recipients):
    return '; '.join(
        f'{address}: {_text(code, message)}'
        for address, (code, message) in recipients.items())[:300]


@dataclass
class Mailbox:
    "A mailbox read over IMAP, with TLS"
    host: str
    port: int
    username: str
    password: str = None
    security: str = 'tls'
    folder: str = 'INBOX'
    certificate: str = None
    private_key: str = None
    ca_file: str = None
    verify: bool = True
    timeout: int = 30

    def __enter__(self):
        try:
            context = _context(
                self.verify, self.ca_file, self.certificate,
                self.private_key)
        except (OSError, ssl.SSLError) as error:
            raise TransportError(
                'mailbox_certificate', error=_detail(error))
        try:
            if self.security == 'tls':
                self._client = imaplib.IMAP4_SSL(
                    self.host, self.port, ssl_context=context,
                    timeout=self.timeout)
            else:
                self._client = imaplib.IMAP4(
                    self.host, self.port, timeout=self.timeout)
                self._client.starttls(ssl_context=context)
        except ssl.SSLError as error:
            raise TransportError('mailbox_tls', error=_detail(error))
        except (OSError, imaplib.IMAP4.error) as error:
            raise TransportError(
                'mailbox_unreachable', retryable=True, error=_detail(error))
        try:
            if self.password is not None and self.password != '':
                self._client.login(self.username, self.password)
            else:
                # The client certificate says who logs in
                self._client.authenticate('EXTERNAL', lambda _: b'')
            status, _ = self._client.select(_quoted(self.folder))
            if status != 'OK':
                raise TransportError('mailbox_folder', folder=self.folder)
        except imaplib.IMAP4.error as error:
            self._close()
            raise TransportError('mailbox_login', error=_detail(error))
        except (OSError, imaplib.IMAP4.abort) as error:
            self._close()
            raise TransportError(
                'mailbox_unreachable', retryable=True, error=_detail(error))
        except TransportError:
            self._close()
            raise
        return self

    def __exit__(self, *exc):
        self._close()

    def _close(self):
        client = getattr(self, '_client', None)
        self._client = None
        if client is None:
            return
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            pass

    def unseen(self, limit=500, max_size=None, budget=64 * 1024 * 1024):
        """[(uid, bytes, whole)] of the messages not marked seen, oldest
        first, at most limit and, but for the first, budget bytes in all;
        a message over max_size bytes comes as its header only (whole is
        False), never into memory.  Reading them does not mark them."""
        try:
            status, data = self._client.uid('SEARCH', None, 'UNSEEN')
            uids = (data[0] or b'').split()[:limit] if status == 'OK' else []
            messages = []
            total = 0
            for uid in uids:
                status, data = self._client.uid(
                    'FETCH', uid, '(UID RFC822.SIZE)')
                size = _size(data)
                whole = not (max_size and size > max_size)
                if whole and messages and total + size > budget:
                    break  # the rest at the next reading
                status, data = self._client.uid('FETCH', uid,
                    '(UID BODY.PEEK[])' if whole
                    else '(UID BODY.PEEK[HEADER])')
                for item in data:
                    if isinstance(item, tuple) and _UID.search(item[0]):
                        messages.append((int(uid), item[1], whole))
                        total += len(item[1])
            return messages
        except (OSError, imaplib.IMAP4.error, imaplib.IMAP4.abort) as error:
            raise TransportError(
                'mailbox_unreachable', retryable=True, error=_detail(error))

    def mark_seen(self, uids):
        "Mark the messages read once they are safely stored"
        if not uids:
            return
        try:
            self._client.uid(
                'STORE', ','.join(map(str, uids)), '+FLAGS', r'(\Seen)')
        except (OSError, imaplib.IMAP4.error, imaplib.IMAP4.abort) as error:
            raise TransportError(
                'mailbox_unreachable', retryable=True, error=_detail(error))


def _size(data):
    "RFC822.SIZE of a FETCH response, 0 when the server gave none"
    for item in data or []:
        line = item[0] if isinstance(item, tuple) else item
        match = _SIZE.search(line or b'')
        if match:
            return int(match.group(1))
    return 0


def _quoted(folder):
    return '"%s"' % (folder or 'INBOX').replace('\\', '\\\\').replace(
        '"', '\\"')

