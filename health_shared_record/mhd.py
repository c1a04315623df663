# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""IHE MHD on FHIR R4: the messages and the HTTP calls to a document
repository.  No ORM here: exchange.py gives plain values and records the
outcome.

Every write is idempotent, so that a retry after a lost answer changes
nothing: the Binary goes to an id derived from the document's unique id,
the DocumentReference is a conditional update on its master identifier (it
creates it the first time), the Patient and the SubmissionSet conditional
creates on their identifiers.

What comes back from the repository is read as hostile: every field is
checked, the content's declared size is checked before it is downloaded and
its real size while it is, and its size and hash must match the
DocumentReference.
"""
import base64
import binascii
import datetime as dt
import hashlib
import json
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
MASK = 'MASK'
# HL7 v3 confidentiality codes beyond N, R and V read as normal
CONFIDENTIALITY_CODES = {'N', 'R', 'V'}
GENDERS = {'m': 'male', 'f': 'female', 'nb': 'other', 'other': 'other'}
# A search follows at most this many pages of results
MAX_PAGES = 50
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


class ContentError(Exception):
    """A document the repository gave is refused: reason names the message
    the user reads, params fill it"""

    def __init__(self, reason, **params):
        super().__init__(reason, params)
        self.reason = reason
        self.params = params


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

    def find_references(self, system, value, count=100):
        """ITI-67: the DocumentReferences of the patient with that
        identifier, every status, page after page"""
        params = {
            'patient.identifier': f'{system}|{value}',
            '_count': str(count),
            }
        bundle = self.search('DocumentReference', params)
        resources, seen, offset = [], set(), 0
        for page in range(MAX_PAGES):
            if not isinstance(bundle, dict) or bundle.get(
                    'resourceType') != 'Bundle':
                raise RepositoryError(
                    'the search answer is not a Bundle', retryable=False)
            entries = [
                e for e in bundle.get('entry') or [] if isinstance(e, dict)]
            new = 0
            for entry in entries:
                resource = entry.get('resource')
                if not isinstance(resource, dict) or resource.get(
                        'resourceType') != 'DocumentReference':
                    continue
                key = resource.get('id') or id(resource)
                if key not in seen:
                    seen.add(key)
                    resources.append(resource)
                    new += 1
            offset += len(entries)
            following = [
                link.get('url') for link in bundle.get('link') or []
                if isinstance(link, dict) and link.get('relation') == 'next']
            total = bundle.get('total')
            if following and following[0]:
                try:
                    bundle = self._call('GET', following[0])
                except ContentError:
                    raise RepositoryError(
                        f'the next page is outside the repository: '
                        f'{following[0][:200]}', retryable=False)
            elif new and (len(entries) >= count or (
                        isinstance(total, int) and offset < total)):
                # A server that gives no links may still page by offset
                bundle = self.search(
                    'DocumentReference', dict(params, _offset=str(offset)))
            else:
                break
        return resources

    def retrieve(self, url, max_size):
        """ITI-68: the bytes of the document at url (a Binary), reading at
        most what a document of max_size bytes needs"""
        # base64 makes 4 bytes of 3; the JSON around them is small
        limit = max_size * 4 // 3 + 64 * 1024
        response = self._request('GET', url, stream=True)
        with response:
            self._check_status(response)
            declared = response.headers.get('Content-Length')
            if declared and declared.isdigit() and int(declared) > limit:
                raise ContentError('too_large', size=int(declared))
            chunks, size = [], 0
            try:
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise ContentError('too_large', size=size)
                    chunks.append(chunk)
            except requests.exceptions.RequestException as error:
                raise RepositoryError(
                    f'{type(error).__name__}: {error}', retryable=True)
            body = b''.join(chunks)
            media_type = response.headers.get('Content-Type', '')
        if 'json' not in media_type:
            return body
        try:
            binary = json.loads(body)
            if binary.get('resourceType') != 'Binary':
                raise ValueError
            return base64.b64decode(binary.get('data') or '', validate=True)
        except (ValueError, AttributeError, TypeError, binascii.Error):
            raise ContentError('not_binary')

    def _url(self, path):
        """The address of path on the repository; an absolute URL elsewhere
        is refused, as it would get the repository's credentials"""
        base = self.url.rstrip('/') + '/'
        if '://' not in path:
            return base + path
        if not path.startswith(base):
            raise ContentError('foreign_url', url=path[:200])
        return path

    def _request(self, method, path, **kwargs):
        try:
            with self.session() as session:
                return session.request(
                    method, self._url(path), timeout=self.timeout, **kwargs)
        except requests.exceptions.SSLError as error:
            # A wrong certificate will not fix itself
            raise RepositoryError(f'TLS: {error}', retryable=False)
        except requests.exceptions.RequestException as error:
            raise RepositoryError(
                f'{type(error).__name__}: {error}', retryable=True)

    @staticmethod
    def _check_status(response):
        if response.status_code >= 500 or response.status_code in {
                408, 429}:
            raise RepositoryError(
                f'HTTP {response.status_code}: {outcome_text(response)}',
                retryable=True)
        if response.status_code >= 400:
            raise RepositoryError(
                f'HTTP {response.status_code}: {outcome_text(response)}',
                retryable=False)

    def _call(self, method, path, **kwargs):
        response = self._request(method, path, **kwargs)
        self._check_status(response)
        try:
            return response.json()
        except (ValueError, requests.exceptions.RequestException):
            # Sent, perhaps stored, but the answer is garbled or cut: sending
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
    if not isinstance(body, dict) or body.get(
            'resourceType') != 'OperationOutcome':
        return str(body)[:500]
    parts = []
    for issue in body.get('issue', []):
        text = issue.get('diagnostics') or (
            issue.get('details') or {}).get('text') or issue.get('code')
        where = ', '.join(issue.get('expression') or [])
        parts.append(f'{text} ({where})' if where else text)
    return '; '.join(parts)


@dataclass
class Patient:
    """The subject of the documents; the repository finds the patient by
    the first identifier (system, value), which other clinics share"""
    identifiers: list
    given: str = ''
    family: str = ''
    gender: str = None
    birth_date: dt.date = None

    @property
    def system(self):
        return self.identifiers[0][0]

    @property
    def value(self):
        return self.identifiers[0][1]


@dataclass
class Document:
    "What a DocumentReference says of a shared document"
    unique_id: str
    state: str
    type_code: str
    type_name: str
    title: str
    patient: Patient
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
    return {'system': system_uri(system), 'value': value} if system else {
        'value': value}


def system_uri(system):
    "An identifier system as FHIR wants it: a URI"
    if system and not system.startswith(('urn:', 'http')):
        return f'urn:oid:{system}'
    return system


def patient_full_url(patient):
    return urn_uuid('Patient', system_uri(patient.system), patient.value)


def patient_resource(patient):
    resource = {
        'resourceType': 'Patient',
        'identifier': [
            _identifier(system, value) for system, value in patient.identifiers
            if value],
        }
    name = {}
    if patient.family:
        name['family'] = patient.family
    if patient.given:
        name['given'] = [patient.given]
    if name:
        resource['name'] = [name]
    if patient.gender:
        resource['gender'] = GENDERS.get(patient.gender, 'unknown')
    if patient.birth_date:
        resource['birthDate'] = patient.birth_date.isoformat()
    return resource


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
        'subject': {
            'reference': patient_full_url(document.patient),
            'identifier': _identifier(
                document.patient.system, document.patient.value),
            },
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
    List, each patient (created unless the repository knows them), then each
    Binary and DocumentReference (a replaced version is sent on its own,
    with its new status)"""
    entries, items, patients = [], [], set()
    for document in documents:
        patient = document.patient
        full_url = patient_full_url(patient)
        if full_url not in patients:
            patients.add(full_url)
            system = system_uri(patient.system)
            entries.append(_entry(
                    patient_resource(patient), 'POST', 'Patient', full_url,
                    condition=f'identifier={system}|{patient.value}'))
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
                'subject': {
                    'reference': patient_full_url(first.patient),
                    'identifier': _identifier(
                        first.patient.system, first.patient.value),
                    },
                'date': _instant(dt.datetime.now(dt.timezone.utc)),
                'source': {'identifier': _identifier(None, source_id)},
                'entry': items,
                }, 'POST', 'List',
            urn_uuid('List', submission),
            condition=f'identifier={RFC3986}|{submission}'))
    return {'resourceType': 'Bundle', 'type': 'transaction', 'entry': entries}


# Where a DocumentReference's status leaves a document
STATES = {status: state for state, status in STATUS.items()}


@dataclass
class Reference:
    "What a repository's DocumentReference says, checked"
    unique_id: str
    state: str
    type_code: str
    type_name: str
    title: str
    date: dt.datetime
    url: str
    size: int
    sha1: bytes
    mime_type: str
    author_name: str = ''
    custodian_name: str = ''
    confidentiality: str = 'N'
    masked: bool = False
    replaces: list = field(default_factory=list)


def _unique_id(identifier):
    "The unique id of a document from its RFC 3986 identifier"
    value = identifier.get('value') if isinstance(identifier, dict) else None
    if not isinstance(value, str) or not value:
        return None
    if value.startswith('urn:oid:'):
        return value[len('urn:oid:'):]
    return value


def _codes(concept):
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get('coding') or [] if isinstance(c, dict)]


def _parse_instant(value):
    "A FHIR instant, date or dateTime as a naive UTC datetime, else None"
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 10:
            return dt.datetime.fromisoformat(value)
        instant = dt.datetime.fromisoformat(value.replace('Z', '+00:00'))
    except ValueError:
        return None
    if instant.tzinfo:
        instant = instant.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return instant


def read_reference(resource):
    """Check a DocumentReference and return what it says; raise ContentError
    when a field the document needs is missing or wrong"""
    unique_id = _unique_id(resource.get('masterIdentifier'))
    if not unique_id or len(unique_id) > 256:
        raise ContentError('no_identifier')
    state = STATES.get(resource.get('status'))
    if not state:
        raise ContentError(
            'bad_reference', field='status', document=unique_id)
    loinc = [c for c in _codes(resource.get('type'))
        if c.get('system') == LOINC and isinstance(c.get('code'), str)]
    if not loinc:
        raise ContentError('bad_reference', field='type', document=unique_id)
    contents = resource.get('content')
    attachment = (
        contents[0].get('attachment')
        if isinstance(contents, list) and contents
        and isinstance(contents[0], dict) else None)
    if not isinstance(attachment, dict) or not isinstance(
            attachment.get('url'), str):
        raise ContentError(
            'bad_reference', field='content.attachment.url',
            document=unique_id)
    size = attachment.get('size')
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ContentError(
            'bad_reference', field='content.attachment.size',
            document=unique_id)
    try:
        sha1 = base64.b64decode(attachment.get('hash') or '', validate=True)
    except (binascii.Error, ValueError, TypeError):
        sha1 = b''
    if len(sha1) != hashlib.sha1().digest_size:
        raise ContentError(
            'bad_reference', field='content.attachment.hash',
            document=unique_id)
    date = (_parse_instant(resource.get('date'))
        or _parse_instant(attachment.get('creation')))
    labels = {c.get('code')
        for label in resource.get('securityLabel') or []
        for c in _codes(label)}
    confidentiality = [
        c for c in ('V', 'R', 'N') if c in labels & CONFIDENTIALITY_CODES]
    authors = [
        a.get('display') for a in resource.get('author') or []
        if isinstance(a, dict) and isinstance(a.get('display'), str)]
    custodian = resource.get('custodian')
    replaces = [
        _unique_id((r.get('target') or {}).get('identifier'))
        for r in resource.get('relatesTo') or []
        if isinstance(r, dict) and r.get('code') == 'replaces'
        and isinstance(r.get('target'), dict)]
    return Reference(
        unique_id=unique_id,
        state=state,
        type_code=loinc[0]['code'],
        type_name=str(loinc[0].get('display') or loinc[0]['code']),
        title=str(attachment.get('title') or resource.get('description')
            or loinc[0].get('display') or loinc[0]['code'])[:256],
        date=date,
        url=attachment['url'],
        size=size,
        sha1=sha1,
        mime_type=str(attachment.get('contentType') or ''),
        author_name=', '.join(authors)[:256],
        custodian_name=str(custodian.get('display') or '')[:256]
        if isinstance(custodian, dict) else '',
        confidentiality=confidentiality[0] if confidentiality else 'N',
        masked=MASK in labels,
        replaces=[r for r in replaces if r])


def check_content(reference, content):
    "Refuse content whose size or SHA-1 is not what the reference says"
    if len(content) != reference.size:
        raise ContentError(
            'size_mismatch', size=len(content), declared=reference.size)
    if hashlib.sha1(content).digest() != reference.sha1:
        raise ContentError('hash_mismatch')
