# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Sending shared documents to an external repository (IHE MHD), through
Tryton's task queue, with retries that lose nothing."""
import datetime as dt

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

from . import mhd
from .exceptions import ExchangeError

EXCHANGE_STATES = [
    ('none', "Not Exchanged"),
    ('pending', "Pending"),
    ('sent', "Sent"),
    ('failed', "Failed"),
    ]
# What the repository must learn again when it changes
EXCHANGED_FIELDS = {'state', 'masked', 'confidentiality'}
# Retries wait 1, 2, 4 … minutes, at most 6 hours
MAX_DELAY = dt.timedelta(hours=6)


def retry_delay(attempts):
    return min(dt.timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_DELAY)


class Configuration(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.configuration'

    repository_url = fields.Char(
        "Repository URL",
        help="The FHIR R4 base URL of the document repository (IHE MHD); "
        "empty to keep the shared record in this database only.")
    repository_auth = fields.Selection([
            ('none', "None"),
            ('basic', "Basic"),
            ('bearer', "Bearer Token"),
            ('certificate', "Client Certificate"),
            ], "Authentication", required=True)
    repository_username = fields.Char(
        "Username", states={'invisible': Eval('repository_auth') != 'basic'})
    repository_password = fields.Char(
        "Password", strip=False,
        states={'invisible': Eval('repository_auth') != 'basic'})
    repository_token = fields.Char(
        "Token", strip=False,
        states={'invisible': Eval('repository_auth') != 'bearer'})
    repository_certificate = fields.Char(
        "Certificate File",
        states={'invisible': Eval('repository_auth') != 'certificate'},
        help="Path, on the server, of the client certificate (PEM).")
    repository_private_key = fields.Char(
        "Private Key File",
        states={'invisible': Eval('repository_auth') != 'certificate'},
        help="Path, on the server, of its private key (PEM), unless the "
        "certificate file holds it.")
    repository_timeout = fields.Integer(
        "Timeout (seconds)", required=True,
        domain=[('repository_timeout', '>', 0)])
    repository_verify_tls = fields.Boolean(
        "Verify TLS",
        help="Check the repository's certificate; turn off only to test.")

    @classmethod
    def default_repository_auth(cls):
        return 'none'

    @classmethod
    def default_repository_timeout(cls):
        return 30

    @classmethod
    def default_repository_verify_tls(cls):
        return True

    def repository(self):
        "The connection to the repository, None when there is none"
        if not self.repository_url:
            return None
        return mhd.Connection(
            url=self.repository_url,
            auth=self.repository_auth or 'none',
            username=self.repository_username,
            password=self.repository_password,
            token=self.repository_token,
            certificate=self.repository_certificate,
            private_key=self.repository_private_key,
            timeout=self.repository_timeout or 30,
            verify=self.repository_verify_tls is not False)


class Document(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.document'

    exchange_state = fields.Selection(
        EXCHANGE_STATES, "Exchange", readonly=True, required=True,
        help="Where the document stands with the external repository.")
    exchange_message = fields.Text(
        "Repository Answer", readonly=True,
        states={'invisible': ~Eval('exchange_message')},
        help="Why the repository refused the document, or why the last "
        "attempt did not reach it.")
    exchange_attempts = fields.Integer("Attempts", readonly=True)
    exchange_next = fields.DateTime(
        "Next Attempt", readonly=True,
        states={'invisible': Eval('exchange_state') != 'pending'})
    exchange_date = fields.DateTime(
        "Sent On", readonly=True,
        states={'invisible': Eval('exchange_state') != 'sent'})

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'send_to_repository': {
                    'invisible': Eval('exchange_state') != 'failed',
                    'depends': ['exchange_state'],
                    },
                })

    @classmethod
    def default_exchange_state(cls):
        return 'none'

    @classmethod
    def default_exchange_attempts(cls):
        return 0

    @classmethod
    def copy(cls, documents, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('exchange_state', 'none')
        for name in [
                'exchange_message', 'exchange_next', 'exchange_date']:
            default.setdefault(name, None)
        default.setdefault('exchange_attempts', 0)
        return super().copy(documents, default=default)

    @classmethod
    def frozen_exempt_fields(cls):
        return super().frozen_exempt_fields() | {
            'exchange_state', 'exchange_message', 'exchange_attempts',
            'exchange_next', 'exchange_date'}

    @classmethod
    def write(cls, *args):
        super().write(*args)
        actions = iter(args)
        changed = []
        for documents, values in zip(actions, actions):
            if EXCHANGED_FIELDS & values.keys():
                changed.extend(d for d in documents if d.state != 'draft')
        cls.queue_exchange(changed)

    @classmethod
    def queue_exchange(cls, documents):
        """Mark the documents pending and queue their sending; the cron
        re-drives what a stopped worker or repository left behind"""
        Configuration = Pool().get('gnuhealth.shared_record.configuration')
        if not documents or not Configuration(1).repository_url:
            return
        super().write(list(documents), {
                'exchange_state': 'pending',
                'exchange_message': None,
                'exchange_attempts': 0,
                'exchange_next': dt.datetime.now(),
                })
        cls.__queue__.send_to_repository(list(documents))

    @classmethod
    @ModelView.button
    def send_to_repository(cls, documents, batch=1):
        """Send the pending documents (and, by the button, the failed ones),
        batch documents in a transaction Bundle"""
        pool = Pool()
        Configuration = pool.get('gnuhealth.shared_record.configuration')
        configuration = Configuration(1)
        connection = configuration.repository()
        if connection is None:
            return
        documents = [
            d for d in cls.browse(documents)
            if d.exchange_state in {'pending', 'failed'} and d.state != 'draft']
        for i in range(0, len(documents), batch):
            group = documents[i:i + batch]
            bundle = mhd.provide_bundle(
                [d.mhd_document(configuration) for d in group],
                configuration.base_oid)
            try:
                connection.transaction(bundle)
            except mhd.RepositoryError as error:
                cls._record_failure(group, error)
            else:
                super().write(group, {
                        'exchange_state': 'sent',
                        'exchange_message': None,
                        'exchange_next': None,
                        'exchange_date': dt.datetime.now(),
                        })

    @classmethod
    def _record_failure(cls, documents, error):
        for document in documents:
            attempts = (document.exchange_attempts or 0) + 1
            values = {
                'exchange_message': error.message,
                'exchange_attempts': attempts,
                }
            if error.retryable:
                values.update({
                        'exchange_state': 'pending',
                        'exchange_next': (
                            dt.datetime.now() + retry_delay(attempts)),
                        })
            else:
                values.update({
                        'exchange_state': 'failed',
                        'exchange_next': None,
                        })
            super().write([document], values)

    @classmethod
    def resend_pending(cls):
        "Send what is due for another attempt (the cron)"
        documents = cls.search([
                ('exchange_state', '=', 'pending'),
                ('exchange_next', '<=', dt.datetime.now()),
                ], order=[('exchange_next', 'ASC'), ('id', 'ASC')])
        cls.send_to_repository(documents)

    def mhd_document(self, configuration):
        "The document as mhd.py sends it"
        patient = self.patient.shared_record_person(configuration)
        author = (
            self.author.shared_record_person(configuration).identifiers
            if self.author else [])
        if not self.content:
            raise ExchangeError(gettext(
                    'health_shared_record.msg_exchange_no_content',
                    document=self.rec_name))
        return mhd.Document(
            unique_id=self.unique_id,
            state=self.state,
            type_code=self.document_type.code,
            type_name=self.document_type.name,
            title=self.title,
            patient_system=patient.identifiers[0].root,
            patient_id=patient.identifiers[0].extension,
            date=self.published_date or self.effective_date,
            author_name=self.author_name or '',
            author_system=author[0].root if author else None,
            author_id=author[0].extension if author else None,
            custodian_system=configuration.institution_system,
            custodian_id=self.institution.code if self.institution else None,
            custodian_name=(
                self.institution.rec_name if self.institution else None),
            confidentiality=self.confidentiality,
            masked=bool(self.masked),
            language=configuration.language_code,
            content=self.content,
            replaces=[self.replaces.unique_id] if self.replaces else [])


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('gnuhealth.shared_record.document|resend_pending',
                "Send Pending Shared Documents"))
