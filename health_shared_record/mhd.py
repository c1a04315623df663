# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""IHE MHD on FHIR R4: the messages and the HTTP calls to a document
repository.  No ORM here: exchange.py gives plain values and records the
outcome.

Every write is idempotent, so that a retry after a lost answer changes
nothing: the Binary goes to an id derived from the document's unique id,
the DocumentReference is a conditional update on its master identifier (it
creates it the first time), the SubmissionSet a conditional create on its
identifier.
"""
import base64
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field

import requests

LOINC = 'http://loinc.org'
RFC3986 = 'urn:ietf:rfc:3986'
CONFIDENTIALITY = (
    'http://terminology.hl7.org/CodeSystem/v3-Confidentiality')
OBLIGATION = 'http://terminology.hl7.org/CodeSystem/v3-ObligationCode'
SUBMISSION_SET = (
    'https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes')
FHIR_JSON = 'application/fhir+json'
# DocumentReference.status for each state of a shared document
STATUS = {
    'published': 'current',
    'superseded': 'superseded',
    'withdrawn': 'entered-in-error',
    }


class RepositoryError(Exception):
    "The repository did not take the message; retryable says if it may later"

    def __init__(self, message, retryable):
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@dataclass
class Connection:
    url: str
    auth: str = 'none'
    username: str = None
    password: str = None
    token: str = None
    certificate: str = None
    private_key: str = None
    timeout: float = 30
    verify: bool = True

    def session(self):
        session = requests.Session()
        session.headers.update({
                'Accept': FHIR_JSON, 'Content-Type': FHIR_JSON})
        if self.auth == 'basic':
            session.auth = (self.username or '', self.password or '')
        elif self.auth == 'bearer':
            session.headers['Authorization'] = f'Bearer {self.token}'
        elif self.auth == 'certificate':
            session.cert = (
                (self.certificate, self.private_key) if self.private_key
                else self.certificate)
        session.verify = self.verify
        return session

    def transaction(self, bundle):
        "POST the transaction Bundle; return the transaction-response"
        return self._call('POST', '', json=bundle)

    def search(self, resource_type, params):
        return self._call('GET', resource_type, params=params)

    def _call(self, method, path, **kwargs):
        url = self.url.rstrip('/') + ('/' + path if path else '/')
        try:
            with self.session() as session:
                response = session.request(
                    method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.SSLError as error:
            # A wrong certificate will not fix itself
            raise RepositoryError(f'TLS: {error}', retryable=False)
        except requests.exceptions.RequestException as error:
            raise RepositoryError(
                f'{type(error).__name__}: {error}', retryable=True)
        if response.status_code >= 500 or response.status_code in {
                408, 429}:
            raise RepositoryError(
                f'HTTP {response.status_code}: {outcome_text(response)}',
                retryable=True)
        if response.status_code >= 400:
            raise RepositoryError(
                f'HTTP {response.status_code}: {outcome_text(response)}',
                retryable=False)
        try:
            return response.json()
        except ValueError:
            # Sent, perhaps stored, but the answer is garbled: sending
            # again is safe, as every write is idempotent
            raise RepositoryError(
                f'HTTP {response.status_code}: the answer is not JSON',
                retryable=True)


def outcome_text(response):
    "The diagnostics of an OperationOutcome, or the start of the body"
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if body.get('resourceType') != 'OperationOutcome':
        return str(body)[:500]
    parts = []
    for issue in body.get('issue', []):
        text = issue.get('diagnostics') or (
            issue.get('details') or {}).get('text') or issue.get('code')
        where = ', '.join(issue.get('expression') or [])
        parts.append(f'{text} ({where})' if where else text)
    return '; '.join(parts)


@dataclass
class Document:
    "What a DocumentReference says of a shared document"
    unique_id: str
    state: str
    type_code: str
    type_name: str
    title: str
    patient_system: str
    patient_id: str
    date: dt.datetime
    author_name: str
    author_system: str = None
    author_id: str = None
    custodian_system: str = None
    custodian_id: str = None
    custodian_name: str = None
    confidentiality: str = 'N'
    masked: bool = False
    language: str = None
    mime_type: str = 'text/xml'
    content: bytes = b''
    replaces: list = field(default_factory=list)


def identifier_value(unique_id):
    "A document id as an RFC 3986 URI, as MHD wants its masterIdentifier"
    if unique_id.startswith('urn:'):
        return unique_id
    return f'urn:oid:{unique_id}'


def resource_id(*parts):
    "A stable FHIR id for what the parts name"
    return hashlib.sha256('|'.join(parts).encode('utf-8')).hexdigest()[:64]


def urn_uuid(*parts):
    "A stable urn:uuid for what the parts name"
    return uuid.UUID(resource_id(*parts)[:32]).urn


def _identifier(system, value):
    if not value:
        return None
    if system and not system.startswith(('urn:', 'http')):
        system = f'urn:oid:{system}'
    return {'system': system, 'value': value} if system else {
        'value': value}


def document_reference(document):
    binary_id = resource_id('Binary', document.unique_id)
    security = [{'coding': [{
                    'system': CONFIDENTIALITY,
                    'code': document.confidentiality}]}]
    if document.masked:
        # The patient masked it: repositories must not show it to others
        security.append({'coding': [{'system': OBLIGATION, 'code': 'MASK'}]})
    reference = {
        'resourceType': 'DocumentReference',
        'masterIdentifier': {
            'system': RFC3986,
            'value': identifier_value(document.unique_id),
            },
        'status': STATUS[document.state],
        'type': {'coding': [{
                    'system': LOINC, 'code': document.type_code,
                    'display': document.type_name}]},
        'category': [{'coding': [{
                        'system': LOINC, 'code': document.type_code,
                        'display': document.type_name}]}],
        'subject': {'identifier': _identifier(
                document.patient_system, document.patient_id)},
        'date': _instant(document.date),
        'author': [{
                'identifier': _identifier(
                    document.author_system, document.author_id),
                'display': document.author_name,
                } if document.author_id else {
                'display': document.author_name}],
        'securityLabel': security,
        'content': [{'attachment': {
                    'contentType': document.mime_type,
                    'url': f'Binary/{binary_id}',
                    'size': len(document.content),
                    'hash': base64.b64encode(
                        hashlib.sha1(document.content).digest()).decode(),
                    'title': document.title,
                    'creation': _instant(document.date),
                    }}],
        }
    if document.language:
        reference['content'][0]['attachment']['language'] = document.language
    if document.custodian_id or document.custodian_name:
        reference['custodian'] = {'display': document.custodian_name}
        if document.custodian_id:
            reference['custodian']['identifier'] = _identifier(
                document.custodian_system, document.custodian_id)
    if document.replaces:
        reference['relatesTo'] = [{
                'code': 'replaces',
                'target': {'identifier': {
                        'system': RFC3986,
                        'value': identifier_value(unique_id)}},
                } for unique_id in document.replaces]
    return reference


def _instant(value):
    if value.tzinfo is None:
        # Tryton stores UTC without a zone
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.isoformat()


def _entry(resource, method, url, full_url, condition=None):
    request = {'method': method, 'url': url}
    if condition:
        request['ifNoneExist'] = condition
    return {'fullUrl': full_url, 'resource': resource, 'request': request}


def provide_bundle(documents, source_id):
    """The ITI-65 Provide Document Bundle for the documents: a SubmissionSet
    List, then each Binary and DocumentReference (a replaced version is
    sent on its own, with its new status)"""
    entries, items = [], []
    for document in documents:
        binary_id = resource_id('Binary', document.unique_id)
        entries.append(_entry({
                    'resourceType': 'Binary', 'id': binary_id,
                    'contentType': document.mime_type,
                    'data': base64.b64encode(document.content).decode(),
                    }, 'PUT', f'Binary/{binary_id}',
                urn_uuid('Binary', document.unique_id)))
        full_url = urn_uuid('DocumentReference', document.unique_id)
        master = identifier_value(document.unique_id)
        entries.append(_entry(
                document_reference(document), 'PUT',
                f'DocumentReference?identifier={RFC3986}|{master}',
                full_url))
        items.append({'item': {'reference': full_url}})
    first = documents[0]
    # A new submission for each change, the same one for each retry
    submission = urn_uuid('SubmissionSet', *[
            f'{d.unique_id} {d.state} {d.masked}' for d in documents])
    entries.insert(0, _entry({
                'resourceType': 'List',
                'status': 'current',
                'mode': 'working',
                'code': {'coding': [{
                            'system': SUBMISSION_SET,
                            'code': 'submissionset'}]},
                'identifier': [{
                        'use': 'usual', 'system': RFC3986,
                        'value': submission}],
                'subject': {'identifier': _identifier(
                        first.patient_system, first.patient_id)},
                'date': _instant(dt.datetime.now(dt.timezone.utc)),
                'source': {'identifier': _identifier(None, source_id)},
                'entry': items,
                }, 'POST', 'List',
            urn_uuid('List', submission),
            condition=f'identifier={RFC3986}|{submission}'))
    return {'resourceType': 'Bundle', 'type': 'transaction', 'entry': entries}
