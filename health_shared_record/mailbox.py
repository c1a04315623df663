# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Where secure messages go out and come in: the clinic's relay, and the
mailboxes (the clinic's own, or a professional's) with the key and the
certificate that sign what they send and open what they receive.

The settings name files on the server, never the keys themselves: a key
in the database would travel in every backup and every export."""
import datetime as dt

from sql import Literal

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import mail_transport, secure_mail, smime, xdm
from .exceptions import MessagingError
from .guard import Guarded, check_values
from .selection import Selection

SECURITIES = [
    ('tls', "TLS"),
    ('starttls', "STARTTLS"),
    ('none', "None (tests only)"),
    ]


def _read_file(path, reason):
    try:
        with open(path, 'rb') as file:
            return file.read()
    except (OSError, TypeError):
        raise MessagingError(gettext(
                f'health_shared_record.msg_messaging_{reason}',
                path=path or ''))


class Configuration(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.configuration'

    relay_host = fields.Char(
        "Relay Host",
        help="The SMTP server of the secure messaging operator that sends "
        "the clinic's messages; empty to deliver only inside the clinic.")
    relay_port = fields.Integer(
        "Relay Port", domain=['OR',
            ('relay_port', '=', None),
            [('relay_port', '>', 0), ('relay_port', '<', 65536)],
            ])
    relay_security = Selection(SECURITIES, "Relay Security", required=True)
    relay_username = fields.Char("Relay Username")
    relay_password = fields.Char("Relay Password", strip=False)
    relay_certificate = fields.Char(
        "Relay Client Certificate",
        help="Path, on the server, of the client certificate (PEM) the "
        "relay asks for instead of a password.")
    relay_private_key = fields.Char(
        "Relay Client Key",
        help="Path, on the server, of its private key (PEM).")
    messaging_ca_file = fields.Char(
        "Servers' Authority",
        help="Path, on the server, of the certificate authorities (PEM) "
        "that the relay's and the mailboxes' TLS certificates are checked "
        "against; empty for the system's.")
    messaging_trusted_file = fields.Char(
        "Trusted Signers",
        help="Path, on the server, of the certificate authorities (PEM) "
        "whose certificates the clinic believes when a message is signed "
        "(the operator's, such as the ANS's for MSSanté).")
    messaging_max_size = fields.Integer(
        "Largest Message (MB)", required=True,
        domain=[('messaging_max_size', '>', 0)],
        help="A received message or document larger than this waits in "
        "the Inbox, refused.")

    @classmethod
    def default_relay_security(cls):
        return 'starttls'

    @classmethod
    def default_messaging_max_size(cls):
        return 20

    def relay(self):
        "The connection to the relay, None when there is none"
        if not self.relay_host:
            return None
        return mail_transport.Relay(
            host=self.relay_host,
            port=self.relay_port or (
                465 if self.relay_security == 'tls' else 587),
            security=self.relay_security or 'starttls',
            username=self.relay_username,
            password=self.relay_password,
            certificate=self.relay_certificate,
            private_key=self.relay_private_key,
            ca_file=self.messaging_ca_file,
            verify=self.relay_security != 'none')

    def trusted_signers(self):
        if not self.messaging_trusted_file:
            return []
        data = _read_file(self.messaging_trusted_file, 'trusted_file')
        certificates = []
        for block in data.split(b'-----END CERTIFICATE-----'):
            if b'-----BEGIN CERTIFICATE-----' in block:
                certificates.append(smime.load_certificate(
                        block + b'-----END CERTIFICATE-----\n'))
        return certificates

    @property
    def package_limits(self):
        size = (self.messaging_max_size or 20) << 20
        return xdm.Limits(file_size=size, total_size=5 * size)

    @property
    def messaging_max_bytes(self):
        return (self.messaging_max_size or 20) << 20


class Mailbox(Guarded, ModelSQL, ModelView):
    "Secure Mailbox"
    __name__ = 'gnuhealth.shared_record.mailbox'

    name = fields.Char("Name", required=True)
    address = fields.Char(
        "Secure Address", required=True,
        help="The address the mailbox receives at and sends from; the "
        "signing certificate must name it.")
    professional = fields.Many2One(
        'gnuhealth.healthprofessional', "Professional", ondelete='RESTRICT',
        help="Whose personal mailbox it is; empty for the clinic's own "
        "(organisational) mailbox.")
    active = fields.Boolean("Active")
    imap_host = fields.Char(
        "IMAP Host", help="Empty for a mailbox that only sends.")
    imap_port = fields.Integer(
        "IMAP Port", domain=['OR',
            ('imap_port', '=', None),
            [('imap_port', '>', 0), ('imap_port', '<', 65536)],
            ])
    imap_security = Selection(
        [s for s in SECURITIES if s[0] != 'none'], "IMAP Security",
        required=True)
    imap_username = fields.Char("IMAP Username")
    imap_password = fields.Char(
        "IMAP Password", strip=False,
        help="Empty to log in with the client certificate below.")
    imap_folder = fields.Char("Folder", required=True)
    imap_certificate = fields.Char(
        "IMAP Client Certificate",
        help="Path, on the server, of the client certificate (PEM).")
    imap_private_key = fields.Char(
        "IMAP Client Key", help="Path, on the server, of its key (PEM).")
    certificate_file = fields.Char(
        "Signing Certificate", required=True,
        help="Path, on the server, of the mailbox's S/MIME certificate "
        "(PEM), which signs what it sends and which senders encrypt for.")
    private_key_file = fields.Char(
        "Signing Key", required=True,
        help="Path, on the server, of its private key (PEM).")
    last_fetch = fields.DateTime("Last Read", readonly=True)
    last_error = fields.Text("Last Error", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        table = cls.__table__()
        cls._sql_constraints = [
            ('address_unique', Unique(table, table.address),
                'health_shared_record.msg_mailbox_address_unique'),
            ]
        cls._buttons.update({
                'fetch': {'invisible': ~Eval('imap_host')},
                })

    @staticmethod
    def default_active():
        return True

    @staticmethod
    def default_imap_security():
        return 'tls'

    @staticmethod
    def default_imap_folder():
        return 'INBOX'

    @classmethod
    def guard_where(cls, table, actor):
        "The administrators, who set them up: they hold passwords"
        return Literal(actor.root or actor.admin)

    @classmethod
    def guard_check_create(cls, vlist, actor):
        if not actor.admin:
            super().guard_check_create(vlist, actor)
        for values in vlist:
            check_values(cls, values, cls.settings())

    @classmethod
    def guard_check_write(cls, records, values, actor):
        if not actor.admin:
            super().guard_check_write(records, values, actor)
        check_values(cls, values, cls.settings())

    @classmethod
    def guard_check_delete(cls, records, actor):
        if not actor.admin:
            super().guard_check_delete(records, actor)

    @classmethod
    def settings(cls):
        "What an administrator sets; the rest is the server's"
        return set(cls._fields) - {
            'last_fetch', 'last_error', 'id', 'create_uid', 'create_date',
            'write_uid', 'write_date', 'rec_name', 'readable'}

    @classmethod
    def validate_fields(cls, mailboxes, field_names):
        super().validate_fields(mailboxes, field_names)
        for mailbox in mailboxes:
            if not secure_mail.ADDRESS.fullmatch(mailbox.address or ''):
                raise MessagingError(gettext(
                        'health_shared_record.msg_messaging_bad_address',
                        address=mailbox.address or ''))

    @classmethod
    def sender_of(cls, professional):
        """The mailbox a professional sends from: their own, else the
        clinic's"""
        with Transaction().set_user(0):
            own = cls.search([
                    ('professional', '=', professional.id),
                    ], limit=1) if professional else []
            return own[0] if own else next(iter(cls.search([
                            ('professional', '=', None),
                            ], order=[('id', 'ASC')], limit=1)), None)

    def identity(self):
        "(certificate, key) that sign and decrypt for the mailbox"
        return (
            smime.load_certificate(
                _read_file(self.certificate_file, 'certificate_file')),
            smime.load_key(
                _read_file(self.private_key_file, 'private_key_file')))

    def connection(self, configuration):
        return mail_transport.Mailbox(
            host=self.imap_host,
            port=self.imap_port or 993,
            username=self.imap_username or self.address,
            password=self.imap_password,
            security=self.imap_security or 'tls',
            folder=self.imap_folder or 'INBOX',
            certificate=self.imap_certificate,
            private_key=self.imap_private_key,
            ca_file=configuration.messaging_ca_file)

    @classmethod
    @ModelView.button
    def fetch(cls, mailboxes):
        "Read the mailboxes now (the cron does it every few minutes)"
        cls.__queue__.read_mail(mailboxes)

    @classmethod
    def fetch_all(cls):
        "Cron: read every active mailbox that has an IMAP server"
        with Transaction().set_user(0):
            cls.read_mail(cls.search([('imap_host', '!=', None)]))

    @classmethod
    def read_mail(cls, mailboxes):
        """Store what arrived in each mailbox as received messages, once
        each, then mark it read on the server: a message is never lost
        (what is stored before a failure is read again and known by its
        Message-ID) and never stored twice"""
        pool = Pool()
        Message = pool.get('gnuhealth.shared_record.message')
        configuration = pool.get('gnuhealth.shared_record.configuration')(1)
        transaction = Transaction()
        with transaction.set_user(0):
            received = []
            for mailbox in cls.browse(mailboxes):
                if not mailbox.active or not mailbox.imap_host:
                    continue
                error = None
                try:
                    with mailbox.connection(configuration) as connection:
                        messages = connection.unseen(
                            max_size=configuration.messaging_max_bytes)
                        received.extend(Message.receive(mailbox,
                                [d for _, d, whole in messages if whole],
                                [d for _, d, whole in messages if not whole]))
                        uids = [uid for uid, _, _ in messages]
                    # Marked read once the transaction that holds them
                    # commits: a failure before leaves them unread
                    transaction.join(_MarkSeen(
                            mailbox.connection(configuration), uids))
                except mail_transport.TransportError as failure:
                    error = gettext(
                        f'health_shared_record.msg_messaging_{failure.reason}',
                        **failure.params)
                cls.write([mailbox], {
                        'last_fetch': dt.datetime.now(),
                        'last_error': error,
                        })
            if received:
                Message.__queue__.process(received)
        return received


class _MarkSeen:
    "A data manager that marks messages read on the server after commit"

    def __init__(self, connection, uids):
        self.connection = connection
        self.uids = uids

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def abort(self, transaction):
        pass

    def tpc_begin(self, transaction):
        pass

    def commit(self, transaction):
        pass

    def tpc_vote(self, transaction):
        pass

    def tpc_finish(self, transaction):
        # The transaction keeps its data managers over its commits (the
        # cron commits, then the transaction's end commits again): once
        uids, self.uids = self.uids, []
        if not uids:
            return
        try:
            with self.connection as connection:
                connection.mark_seen(uids)
        except mail_transport.TransportError:
            # Read again next time, and known by their Message-ID
            pass

    def tpc_abort(self, transaction):
        pass
