# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Exchange with an external document repository (IHE MHD), through
Tryton's task queue: sending shared documents with retries that lose
nothing, and fetching what other clinics published for a patient."""
import datetime as dt
import hashlib
from itertools import groupby

from sql import Literal

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

from . import cda_reader, fetch_plan, mhd
from .common import TITLE_LIMIT, clinic_today
from .guard import Guarded
from .exceptions import (
    ConfigurationError, DocumentTypeError, ExchangeError, PublishError,
    WithdrawError)
from .selection import Selection

EXCHANGE_STATES = [
    ('none', "Not Exchanged"),
    ('pending', "Pending"),
    ('sent', "Sent"),
    ('failed', "Failed"),
    ]
SOURCES = [
    ('local', "This Clinic"),
    ('repository', "Other Clinic"),
    ]
FETCH_STATES = [
    ('pending', "Pending"),
    ('done', "Done"),
    ('failed', "Failed"),
    ]
# What the repository must learn again when it changes
EXCHANGED_FIELDS = {'state', 'masked', 'confidentiality'}
CODED_FIELDS = [
    'mhd_class_code', 'mhd_format_code', 'mhd_facility_type',
    'mhd_practice_setting']
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
    repository_auth = Selection([
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
    fetch_max_size = fields.Integer(
        "Largest Fetched Document (MB)",
        domain=['OR',
            ('fetch_max_size', '=', None),
            ('fetch_max_size', '>', 0),
            ],
        help="Documents of other clinics larger than this are refused "
        "without being downloaded.")

    mhd_class_code = fields.Char(
        "Class Code",
        help="The class of the documents (DocumentReference.category) as "
        "system|code|display; empty for "
        + '|'.join(mhd.Metadata.class_code) + ".")
    mhd_format_code = fields.Char(
        "Format Code",
        help="The format of the documents (content.format) as "
        "system|code|display; empty for "
        + '|'.join(mhd.Metadata.format_code) + ".")
    mhd_facility_type = fields.Char(
        "Facility Type",
        help="The kind of institution (context.facilityType) as "
        "system|code|display; empty for "
        + '|'.join(mhd.Metadata.facility_type) + ".")
    mhd_practice_setting = fields.Char(
        "Practice Setting",
        help="The clinical specialty (context.practiceSetting) as "
        "system|code|display; empty for "
        + '|'.join(mhd.Metadata.practice_setting) + ".")

    @classmethod
    def default_repository_auth(cls):
        return 'none'

    @classmethod
    def default_repository_timeout(cls):
        return 30

    @classmethod
    def default_repository_verify_tls(cls):
        return True

    @classmethod
    def default_fetch_max_size(cls):
        return 20

    def check_oids(self):
        super().check_oids()
        for name in CODED_FIELDS:
            value = getattr(self, name)
            if value and not mhd.parse_coding(value):
                raise ConfigurationError(gettext(
                        'health_shared_record.msg_invalid_coding',
                        value=value,
                        field=self.__names__(name)['field']))

    @property
    def mhd_metadata(self):
        "The Comprehensive metadata of what the clinic publishes"
        values = {
            name[len('mhd_'):]: mhd.parse_coding(getattr(self, name))
            for name in CODED_FIELDS if getattr(self, name)}
        return mhd.Metadata(source_id=self.base_oid, **values)

    @property
    def fetch_max_bytes(self):
        return (self.fetch_max_size or self.default_fetch_max_size()) << 20

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

    exchange_state = Selection(
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
    source = Selection(
        SOURCES, "Source", readonly=True, required=True,
        help="Whether this clinic published the document or it was fetched "
        "from the repository, where another clinic published it.")
    source_institution = fields.Char(
        "Source Institution", readonly=True,
        states={'invisible': Eval('source') != 'repository'},
        help="The institution that published the document.")
    entries = fields.One2Many(
        'gnuhealth.shared_record.entry', 'document', "Data", readonly=True,
        states={'invisible': Eval('source') != 'repository'},
        help="The problems, allergies, medications and immunizations "
        "read from the document.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'send_to_repository': {
                    'invisible': Eval('exchange_state') != 'failed',
                    'depends': ['exchange_state'],
                    },
                })
        # Only the clinic that published a document withdraws it
        withdraw = cls._buttons['withdraw']
        withdraw['invisible'] |= Eval('source') == 'repository'
        withdraw['depends'] = withdraw.get('depends', []) + ['source']
        # A fetched document is kept by another institution
        cls.institution.states['required'] &= Eval('source') == 'local'
        cls.institution.depends.add('source')

    @classmethod
    def default_exchange_state(cls):
        return 'none'

    @classmethod
    def default_exchange_attempts(cls):
        return 0

    @classmethod
    def default_source(cls):
        return 'local'

    @classmethod
    def copy(cls, documents, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('exchange_state', 'none')
        for name in [
                'exchange_message', 'exchange_next', 'exchange_date']:
            default.setdefault(name, None)
        default.setdefault('exchange_attempts', 0)
        default.setdefault('source', 'local')
        default.setdefault('source_institution', None)
        default.setdefault('entries', None)
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
    def withdraw(cls, documents):
        for document in documents:
            if document.source == 'repository':
                raise WithdrawError(gettext(
                        'health_shared_record.msg_withdraw_fetched',
                        document=document.rec_name,
                        institution=document.source_institution or ''))
        super().withdraw(documents)

    @classmethod
    def check_replaceable(cls, documents):
        for document in documents:
            if document.replaces and document.replaces.source == 'repository':
                raise PublishError(gettext(
                        'health_shared_record.msg_replace_fetched',
                        document=document.replaces.rec_name,
                        institution=(
                            document.replaces.source_institution or '')))
        super().check_replaceable(documents)

    @classmethod
    def queue_exchange(cls, documents):
        """Mark the documents pending and queue their sending; the cron
        re-drives what a stopped worker or repository left behind"""
        Configuration = Pool().get('gnuhealth.shared_record.configuration')
        documents = [d for d in documents if d.source == 'local']
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
            if d.exchange_state in {'pending', 'failed'}
            and d.state != 'draft' and d.source == 'local']
        # A version superseded here travels with the version that replaces
        # it, in one transaction
        successors = cls.search([
                ('replaces', 'in', [
                        d.id for d in documents if d.state == 'superseded']),
                ('exchange_state', 'in', ['pending', 'failed']),
                ('state', '!=', 'draft'),
                ('source', '=', 'local'),
                ], order=[])
        carried = {s.replaces for s in successors}
        units = {d for d in documents if d not in carried} | set(successors)
        units = sorted(units, key=lambda d: (d.patient.id, d.id))
        metadata = configuration.mhd_metadata
        # Some hundreds at a time: each message is read before the first
        # write, which empties the record cache (reading after it would
        # load the records again), and memory stays bounded
        for chunk in grouped_slice(units, max(batch, 200)):
            chunk = list(chunk)
            # A submission set is about one patient
            groups = []
            for _, patient_documents in groupby(chunk, lambda d: d.patient):
                patient_documents = list(patient_documents)
                groups.extend(
                    patient_documents[i:i + batch]
                    for i in range(0, len(patient_documents), batch))
            messages = [
                [(d, d.mhd_document(configuration)) for d in group]
                + [(d.replaces, d.replaces.mhd_document(configuration))
                    for d in group if d.replaces
                    and d.replaces.source == 'local']
                for group in groups]
            for group, message in zip(groups, messages):
                try:
                    cls._send(connection, metadata, message)
                except mhd.RepositoryError as error:
                    cls._record_failure(group, error)
                else:
                    sent = [d for d, _ in message if d.exchange_state in {
                            'pending', 'failed'} or d in group]
                    super().write(sent, {
                            'exchange_state': 'sent',
                            'exchange_message': None,
                            'exchange_next': None,
                            'exchange_date': dt.datetime.now(),
                            })

    @staticmethod
    def _send(connection, metadata, message):
        """Send the documents of the message (with the versions they
        replace): an ITI-65 bundle creates those the repository does not
        hold, a patch updates the others"""
        documents = dict(message)
        unsure = [
            d.unique_id for d, m in message if not d.exchange_date
            and (m.state != 'published' or m.masked)]
        held = connection.held(unsure)
        for document, value in message:
            value.held = bool(document.exchange_date) or (
                document.unique_id in held)
        replaced = {d.replaces for d in documents if d.replaces}
        new = [
            v for d, v in message if not v.held and d not in replaced]
        superseded = [
            documents[d].unique_id for d in replaced if d in documents
            and documents[d].held]
        new += [documents[d] for d in replaced
            if d in documents and not documents[d].held]
        updates = [
            v for d, v in message if v.held and d not in replaced]
        if new:
            connection.transaction(
                mhd.provide_bundle(new, metadata, superseded=superseded))
        if updates:
            connection.transaction(mhd.update_bundle(updates))

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
        if self.origin or self.source != 'local':
            author = (
                self.author.shared_record_person(configuration).identifiers
                if self.author else [])
            author_name = self.author_name or ''
        else:
            # An external file is its writer's, not the uploader's
            author = []
            author_name = self.source_author or self.source_organization or ''
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
            patient=self.patient.mhd_patient(configuration),
            date=self.published_date or self.effective_date,
            author_name=author_name,
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
            replaces=[self.replaces.unique_id] if self.replaces else [],
            care_date=self.effective_date)

    @classmethod
    def from_repository(
            cls, reference, content, patient, mhd_patient, held):
        """Store a document another clinic published, with the data its
        CDA holds; raise ContentError and store nothing when refused"""
        read = cda_reader.read_content(content)
        wanted = {
            (mhd.system_uri(system).removeprefix('urn:oid:'), value)
            for system, value in mhd_patient.identifiers}
        if not wanted & read.patient_ids:
            raise mhd.ContentError('patient_mismatch')
        return cls.store_external(reference, content, read, patient, held)

    @classmethod
    def external_type(cls, reference):
        """The document type of a document from outside, made when the
        code is new; ContentError, and nothing made, when it is not one"""
        DocumentType = Pool().get('gnuhealth.shared_record.document.type')
        with Transaction().set_context(active_test=False):
            types = DocumentType.search(
                [('code', '=', reference.type_code)], limit=1)
        if types:
            return types[0]
        document_type = DocumentType(
            code=reference.type_code, name=reference.type_name)
        try:
            # Checked before it is saved: a refusal leaves nothing
            document_type.check_code()
        except DocumentTypeError:
            raise mhd.ContentError(
                'unknown_type', code=reference.type_code)
        document_type.save()
        return document_type

    @classmethod
    def store_external(cls, reference, content, read, patient, held):
        """Store a document from another clinic (fetched or received), as
        reference and its CDA (read) describe it"""
        Entry = Pool().get('gnuhealth.shared_record.entry')
        document_type = cls.external_type(reference)
        replaced = [
            held[u] for u in reference.replaces
            if u in held and held[u].source == 'repository'
            and held[u].state == 'published'
            and held[u].patient == patient]
        previous = replaced[0] if replaced else None
        date = reference.date or read.effective_time or dt.datetime.now()
        effective = read.effective_time
        if not isinstance(effective, dt.datetime):
            effective = date
        document, = cls.create([{
                    'patient': patient.id,
                    'document_type': document_type.id,
                    'title': (reference.title or read.title)[:TITLE_LIMIT],
                    'effective_date': effective,
                    'published_date': date,
                    'state': 'published',
                    'source': 'repository',
                    # Kept by the institution that published it
                    'institution': None,
                    'source_institution': (
                        reference.custodian_name or read.custodian),
                    'author_name': reference.author_name,
                    'confidentiality': reference.confidentiality,
                    'masked': reference.masked,
                    'unique_id': reference.unique_id,
                    'set_id': (
                        previous.set_id if previous else reference.unique_id),
                    'version': (
                        previous.version + 1 if previous else read.version),
                    'replaces': previous.id if previous else None,
                    'content': content,
                    'sha256': hashlib.sha256(content).hexdigest(),
                    'size': len(content),
                    'entries': [('create', [
                                Entry.values(e) | {'patient': patient.id}
                                for e in read.entries])],
                    }])
        if previous:
            cls.supersede([previous])
        return document

    @classmethod
    def follow_source(cls, document, reference):
        """Keep a fetched document as its source left it: replaced,
        withdrawn, masked by the patient"""
        if document.state == 'published' and reference.state == 'withdrawn':
            cls.write([document], {
                    'state': 'withdrawn',
                    'withdrawal_reason': gettext(
                        'health_shared_record.msg_fetch_withdrawn_at_source'),
                    'withdrawal_date': dt.datetime.now(),
                    })
        elif (document.state == 'published'
                and reference.state == 'superseded'):
            cls.supersede([document])
        # The patient's choices are theirs: a mask made at the source
        # applies here, an unmask there does not lift one made here
        if reference.masked and not document.masked:
            cls.write([document], {'masked': True})


class Patient(metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'

    shared_record_fetches = fields.One2Many(
        'gnuhealth.shared_record.fetch', 'patient', "Fetches", readonly=True,
        order=[('create_date', 'DESC'), ('id', 'DESC')],
        help="Each time the documents of other clinics were fetched.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'fetch_shared_record': {},
                })

    def mhd_patient(self, configuration):
        """The patient as the repository knows them: by the national
        identifier first, which other clinics share, else the local one"""
        person = self.shared_record_person(configuration)
        identifiers = [
            (i.root, i.extension) for i in person.identifiers if i.extension]
        return mhd.Patient(
            identifiers=identifiers[1:] + identifiers[:1],
            given=person.given,
            family=person.family,
            gender=self.party.gender,
            birth_date=person.birth_date)

    @classmethod
    @ModelView.button
    def fetch_shared_record(cls, patients):
        """Fetch the documents that other clinics published for the
        patients (what changed since the last fetch)"""
        cls.queue_shared_record_fetch(patients)

    @classmethod
    def queue_shared_record_fetch(cls, patients, full=False):
        "Queue a fetch for each patient, as it calls the repository"
        pool = Pool()
        Configuration = pool.get('gnuhealth.shared_record.configuration')
        Fetch = pool.get('gnuhealth.shared_record.fetch')
        if not Configuration(1).repository_url:
            raise ExchangeError(gettext(
                    'health_shared_record.msg_fetch_no_repository'))
        cls.check_shared_record_actor(patients)
        for patient in patients:
            if patient.shared_record_opposition:
                raise ExchangeError(gettext(
                        'health_shared_record.msg_fetch_opposition',
                        patient=patient.rec_name))
        with without_check_access():
            fetches = Fetch.create([
                    {'patient': p.id, 'full': full} for p in patients])
        Fetch.__queue__.run(fetches)


class Fetch(Guarded, ModelSQL, ModelView):
    "Shared Record Fetch"
    __name__ = 'gnuhealth.shared_record.fetch'

    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True, readonly=True,
        ondelete='CASCADE')
    state = Selection(
        FETCH_STATES, "State", required=True, readonly=True)
    found = fields.Integer(
        "Found", readonly=True,
        help="The current documents the repository gave for the patient: "
        "those changed since the last fetch, or all in the period fetched "
        "(older versions and withdrawn documents aside).")
    imported = fields.Integer(
        "Imported", readonly=True,
        help="The documents of other clinics added to the shared record.")
    present = fields.Integer(
        "Already Here", readonly=True,
        help="The current documents that were already in this database.")
    refused = fields.Integer(
        "Refused", readonly=True,
        help="The documents refused: the message says why.")
    message = fields.Text("Message", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_state(cls):
        return 'pending'

    @classmethod
    def guard_where(cls, table, actor):
        "Doctors and nurses, for the patients who did not block them"
        Block = Pool().get('gnuhealth.shared_record.blocked_professional')
        if actor.root:
            return Literal(True)
        if not actor.clinician:
            return Literal(False)
        return ~Block.blocks(table.patient, actor.professional)

    @classmethod
    def run(cls, fetches):
        """Fetch each patient's documents and record what came of it (a
        task); the button checked who asked, the fetch sees and keeps
        every document the repository holds"""
        with Transaction().set_user(0):
            cls._run(fetches)

    @classmethod
    def _run(cls, fetches):
        Configuration = Pool().get('gnuhealth.shared_record.configuration')
        configuration = Configuration(1)
        connection = configuration.repository()
        for fetch in cls.browse(fetches):
            if fetch.state != 'pending':
                continue
            fetch.repository_url = configuration.repository_url
            if connection is None:
                fetch.state = 'failed'
                fetch.message = gettext(
                    'health_shared_record.msg_fetch_no_repository')
            else:
                try:
                    fetch.fetch(connection, configuration)
                except mhd.RepositoryError as error:
                    fetch.state = 'failed'
                    fetch.message = error.message
            fetch.save()

    def fetch(self, connection, configuration):
        """ITI-67 then ITI-68: find the patient's documents (fetch_plan says
        which), import the new, follow those held here"""
        pool = Pool()
        Document = pool.get('gnuhealth.shared_record.document')
        Patient = pool.get('gnuhealth.patient')
        # Two fetches for the same patient at once: the second waits and
        # finds what the first imported
        Patient.lock([self.patient])
        patient = self.patient.mhd_patient(configuration)
        window = None if self.full else fetch_plan.look_back(clinic_today())
        resources, mark = self.find(connection, patient, window)
        references, messages = [], []
        for resource in resources:
            try:
                references.append(mhd.read_reference(resource))
            except mhd.ContentError as error:
                messages.append(self.refusal(error, configuration))
        held = {}
        # With the versions they replace: a repository need not show, among
        # what changed, the older version it superseded
        unique_ids = {r.unique_id for r in references}.union(
            *(r.replaces for r in references))
        for sub_ids in grouped_slice(sorted(unique_ids)):
            for document in Document.search([
                        ('unique_id', 'in', list(sub_ids)),
                        ], order=[]):
                held[document.unique_id] = document
        unreadable = len(resources) - len(references)
        references = [
            r for r in references
            if r.unique_id in held or fetch_plan.wanted(r, window)]
        new, followed = [], []
        for reference in references:
            document = held.get(reference.unique_id)
            if document:
                if document.source == 'repository':
                    followed.append((document, reference))
            elif reference.state == 'published':
                new.append(reference)
        imported, unreached = [], False
        # Older first, so that a new version finds the one it replaces
        for reference in sorted(
                new, key=lambda r: (r.date or dt.datetime.min, r.unique_id)):
            if reference.unique_id in held:
                continue  # listed twice by the repository
            try:
                document = self.import_reference(
                    connection, configuration, reference, patient, held)
            except (mhd.ContentError, cda_reader.ContentError) as error:
                messages.append(self.refusal(
                        error, configuration, reference.unique_id))
            except mhd.RepositoryError as error:
                unreached = True
                messages.append(gettext(
                        'health_shared_record.msg_fetch_document',
                        document=reference.unique_id,
                        reason=error.message))
            else:
                held[document.unique_id] = document
                imported.append(document)
        # After the imports, which supersede the versions they replace
        for document, reference in followed:
            Document.follow_source(document, reference)
        Document.recompute_prevention(
            imported + [document for document, _ in followed])
        current = [r for r in references if r.state == 'published']
        self.state = 'done'
        if unreached:
            # Asked for again by the next fetch, which asks from the mark;
            # a refused document is not: its content will not change
            messages.append(gettext(
                    'health_shared_record.msg_fetch_mark_kept'))
        else:
            self.mark = mark
        self.found = unreadable + len(current)
        self.imported = len(imported)
        self.present = len(current) - len(new)
        self.refused = unreadable + len(new) - len(imported)
        self.message = '\n'.join(messages) or None

    def import_reference(
            self, connection, configuration, reference, patient, held):
        "Retrieve the document of a reference, check it and store it"
        Document = Pool().get('gnuhealth.shared_record.document')
        limit = configuration.fetch_max_bytes
        if reference.size > limit:
            # Refused before a byte of it is downloaded
            raise mhd.ContentError('too_large', size=reference.size)
        content = connection.retrieve(
            reference.url, limit, reference.mime_type)
        if len(content) > limit:
            raise mhd.ContentError('too_large', size=len(content))
        mhd.check_content(reference, content)
        return Document.from_repository(
            reference, content, self.patient, patient, held)

    @staticmethod
    def refusal(error, configuration, unique_id=None):
        "The message that says why a document was refused"
        if isinstance(error, cda_reader.ContentError):
            reason = gettext(
                'health_shared_record.msg_fetch_not_cda', error=str(error))
        else:
            params = dict(error.params)
            params.setdefault('document', unique_id or '')
            params['limit'] = configuration.fetch_max_bytes >> 20
            reason = gettext(
                f'health_shared_record.msg_fetch_{error.reason}', **params)
        return gettext(
            'health_shared_record.msg_fetch_document',
            document=unique_id or '?', reason=reason)


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('gnuhealth.shared_record.document|resend_pending',
                "Send Pending Shared Documents"))
