# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""IHE MHD on FHIR R4: the messages and the HTTP calls to a document
repository.  No ORM here: exchange.py gives plain values and records the
outcome.

The clinic claims IHE MHD 4.2.3, Comprehensive metadata: the Provide
Document Bundle (ITI-65) creates the DocumentReferences with POST, and a new
version supersedes the one it replaces in the same transaction, by the
profile's UpdateDocumentRefs PATCH.  The later changes of a DocumentReference
the repository holds (a withdrawal, a mask) have no place in ITI-65: they go
as a FHIRPath Patch by its master identifier, as the French PDSm guide
(3.1.1, "Mise à jour de documents") does: a withdrawal is status superseded
with its isDeleted extension, never entered-in-error, which MHD does not
allow.

Every write is idempotent, so that a retry after a lost answer changes
nothing: the Binary goes to an id derived from the document's unique id,
the DocumentReference, the Patient and the SubmissionSet are conditional
creates on their identifiers, and a patch sets values (it removes what it
adds before adding it).

What comes back from the repository is read as hostile: every field is
checked, the content's declared size is checked before it is downloaded and
its real size while it is, and its size and hash must match the
DocumentReference.
"""
import base64
import binascii
import datetime as dt
import email.utils
import hashlib
import json
import re
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
IHE_MHD = 'https://profiles.ihe.net/ITI/MHD/StructureDefinition/'
COMPREHENSIVE_BUNDLE = IHE_MHD + 'IHE.MHD.Comprehensive.ProvideBundle'
COMPREHENSIVE_SUBMISSION_SET = IHE_MHD + 'IHE.MHD.Comprehensive.SubmissionSet'
COMPREHENSIVE_REFERENCE = IHE_MHD + 'IHE.MHD.Comprehensive.DocumentReference'
SOURCE_ID = IHE_MHD + 'ihe-sourceId'
DESIGNATION_TYPE = IHE_MHD + 'ihe-designationType'
IS_DELETED = (
    'https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/'
    'pdsm-ext-is-deleted')
FHIR_JSON = 'application/fhir+json'
# A media type as RFC 6838 names them, for the Accept header of ITI-68
MEDIA_TYPE = re.compile(r'[A-Za-z0-9][\w!#$&^.+-]{0,126}/[\w!#$&^.+-]{1,127}')
MASK = 'MASK'
# HL7 v3 confidentiality codes beyond N, R and V read as normal
CONFIDENTIALITY_CODES = {'N', 'R', 'V'}
GENDERS = {'m': 'male', 'f': 'female', 'nb': 'other', 'other': 'other'}
# A search follows at most this many pages of results
MAX_PAGES = 50
# DocumentReference.status for each state of a shared document; a
# withdrawn one also carries the isDeleted extension
STATUS = {
    'published': 'current',
    'superseded': 'superseded',
    'withdrawn': 'superseded',
    }
# What ITI-67 asks for: entered-in-error is how producers that do not follow
# MHD withdraw a document
FIND_STATUSES = 'current,superseded,entered-in-error'


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


class Found(list):
    """The resources a search found; server_time is the repository's clock
    (naive UTC) when it answered, None when it did not tell"""
    server_time = None


def http_date(value):
    "An HTTP Date header as a naive UTC datetime, None when it is not one"
    try:
        instant = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if instant.tzinfo:
        instant = instant.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return instant


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
        """POST the transaction Bundle; return the transaction-response,
        whose every entry must have succeeded (a server that runs it as a
        batch answers 200 with the refusals inside)"""
        answer = self._call('POST', '', json=bundle)
        entries = answer.get('entry') if isinstance(answer, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            response = entry.get('response') if isinstance(
                entry, dict) else None
            if not isinstance(response, dict):
                continue
            status = str(response.get('status') or '').split(' ')[0]
            if status.isdigit() and int(status) >= 400:
                outcome = response.get('outcome')
                raise RepositoryError(
                    f'HTTP {status}: {outcome_body_text(outcome)}',
                    retryable=int(status) >= 500 or int(status) in {
                        408, 429})
        return answer

    def held(self, unique_ids):
        """The unique ids, of those given, whose DocumentReference the
        repository holds"""
        if not unique_ids:
            return set()
        values = ','.join(
            f'{RFC3986}|{identifier_value(u)}' for u in unique_ids)
        bundle = self.search('DocumentReference', {
                'identifier': values, '_count': str(len(unique_ids) * 2)})
        found = set()
        for entry in (bundle.get('entry') or []) if isinstance(
                bundle, dict) else []:
            resource = entry.get('resource') if isinstance(
                entry, dict) else None
            if isinstance(resource, dict):
                found.add(_unique_id(resource.get('masterIdentifier')))
        return found & set(unique_ids)

    def search(self, resource_type, params):
        return self._call('GET', resource_type, params=params)

    def find_references(self, system, value, count=100, criteria=None):
        """ITI-67: the DocumentReferences of the patient with that
        identifier, every status, that meet criteria (more search
        parameters), page after page; with the repository's clock"""
        params = {
            'patient.identifier': f'{system}|{value}',
            'status': FIND_STATUSES,
            '_count': str(count),
            **(criteria or {}),
            }
        response = self._request('GET', 'DocumentReference', params=params)
        bundle = self._answer(response)
        resources, seen, offset = Found(), set(), 0
        resources.server_time = http_date(response.headers.get('Date'))
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

    def retrieve(self, url, max_size, media_type=None):
        """ITI-68: the bytes of the document at url (a Binary), in its own
        media type (or as a FHIR Binary), reading at most what a document
        of max_size bytes needs"""
        # base64 makes 4 bytes of 3; the JSON around them is small
        limit = max_size * 4 // 3 + 64 * 1024
        accept = FHIR_JSON
        if media_type and MEDIA_TYPE.fullmatch(media_type):
            accept = f'{media_type}, {FHIR_JSON};q=0.5'
        response = self._request(
            'GET', url, stream=True, headers={'Accept': accept})
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
        return self._answer(self._request(method, path, **kwargs))

    def _answer(self, response):
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
    return outcome_body_text(body)


def outcome_body_text(body):
    if not isinstance(body, dict) or body.get(
            'resourceType') != 'OperationOutcome':
        return str(body)[:500]
    parts = []
    for issue in body.get('issue') or []:
        if not isinstance(issue, dict):
            continue
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
    # The care the document is about (context.period)
    care_date: dt.datetime = None
    # The repository already holds its DocumentReference
    held: bool = False


# IHE's format code for a document whose media type says all
MIME_TYPE_SUFFICIENT = (
    'http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode',
    'urn:ihe:iti:xds:2017:mimeTypeSufficient', 'mimeType Sufficient')


@dataclass
class Metadata:
    """The clinic's Comprehensive metadata: its source OID and the
    (system, code, display) codings of its value sets"""
    source_id: str
    class_code: tuple = (
        'http://hl7.org/fhir/us/core/CodeSystem/'
        'us-core-documentreference-category', 'clinical-note',
        'Clinical Note')
    format_code: tuple = MIME_TYPE_SUFFICIENT
    facility_type: tuple = (
        'http://snomed.info/sct', '35971002', 'Ambulatory care site')
    practice_setting: tuple = (
        'http://snomed.info/sct', '394802001', 'General medicine')


def parse_coding(text):
    """The (system, code, display) of a coding written system|code|display
    (display optional), None when it is not one: the system a URI or an
    OID, the code without spaces"""
    parts = [p.strip() for p in (text or '').split('|')]
    if len(parts) == 2:
        parts.append('')
    if len(parts) != 3:
        return None
    system, code, display = parts
    if not code or ' ' in code or not (
            re.fullmatch(r'[a-z][a-z0-9+.-]*:\S+', system)
            or re.fullmatch(r'[0-2](\.(0|[1-9][0-9]*))+', system)):
        return None
    return system, code, display


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


def _coding(coding):
    system, code, display = coding
    value = {'system': system_uri(system), 'code': code}
    if display:
        value['display'] = display
    return {'coding': [value]}


def _security(document):
    security = [{'coding': [{
                    'system': CONFIDENTIALITY,
                    'code': document.confidentiality}]}]
    if document.masked:
        # The patient masked it: repositories must not show it to others
        security.append({'coding': [{'system': OBLIGATION, 'code': MASK}]})
    return security


def _author(document):
    "The author as a Practitioner, contained as Comprehensive asks"
    author = {'resourceType': 'Practitioner', 'id': 'author'}
    if document.author_id:
        author['identifier'] = [_identifier(
                document.author_system, document.author_id)]
    if document.author_name:
        author['name'] = [{'text': document.author_name}]
    return author


def _source_patient(patient):
    "The patient as this clinic knows them (context.sourcePatientInfo)"
    return dict(patient_resource(patient), id='patient')


def document_reference(document, metadata):
    binary_id = resource_id('Binary', document.unique_id)
    reference = {
        'resourceType': 'DocumentReference',
        'meta': {'profile': [COMPREHENSIVE_REFERENCE]},
        'contained': [_author(document), _source_patient(document.patient)],
        'masterIdentifier': {
            'use': 'usual',
            'system': RFC3986,
            'value': identifier_value(document.unique_id),
            },
        'identifier': [{
                'use': 'official',
                'system': RFC3986,
                'value': urn_uuid('DocumentReference', document.unique_id),
                }],
        'status': STATUS[document.state],
        'type': {'coding': [{
                    'system': LOINC, 'code': document.type_code,
                    'display': document.type_name}]},
        'category': [_coding(metadata.class_code)],
        'subject': {
            'reference': patient_full_url(document.patient),
            'identifier': _identifier(
                document.patient.system, document.patient.value),
            },
        'date': _instant(document.date),
        'author': [{
                'reference': '#author',
                'display': document.author_name or None}],
        'securityLabel': _security(document),
        'content': [{
                'attachment': {
                    'contentType': document.mime_type,
                    'language': document.language or 'en',
                    'url': f'Binary/{binary_id}',
                    'size': len(document.content),
                    'hash': base64.b64encode(
                        hashlib.sha1(document.content).digest()).decode(),
                    'title': document.title,
                    'creation': _instant(document.date),
                    },
                'format': _coding(metadata.format_code)['coding'][0],
                }],
        'context': {
            'period': {'start': _instant(document.care_date or document.date)},
            'facilityType': _coding(metadata.facility_type),
            'practiceSetting': _coding(metadata.practice_setting),
            'sourcePatientInfo': {'reference': '#patient'},
            },
        }
    if not reference['author'][0]['display']:
        del reference['author'][0]['display']
    reference['extension'] = [{
            'url': IS_DELETED, 'valueBoolean': document.state == 'withdrawn'}]
    if document.custodian_id or document.custodian_name:
        reference['custodian'] = {'display': document.custodian_name}
        if document.custodian_id:
            reference['custodian']['identifier'] = _identifier(
                document.custodian_system, document.custodian_id)
    if document.replaces:
        reference['relatesTo'] = [{
                'code': 'replaces',
                'target': {'identifier': {
                        'use': 'usual',
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


def _by_identifier(unique_id):
    return (
        f'DocumentReference?identifier={RFC3986}|'
        f'{identifier_value(unique_id)}')


def _operation(kind, path, **parts):
    operation = [
        {'name': 'type', 'valueCode': kind},
        {'name': 'path', 'valueString': path}]
    for name, value in parts.items():
        operation.append(dict(value, name=name))
    return {'name': 'operation', 'part': operation}


def supersede_patch(unique_id):
    "The profile's UpdateDocumentRefs entry: the replaced version superseded"
    return {
        'fullUrl': urn_uuid('Supersede', unique_id),
        'resource': {'resourceType': 'Parameters', 'parameter': [
                _operation(
                    'replace', 'DocumentReference.status',
                    value={'valueCode': 'superseded'})]},
        'request': {'method': 'PATCH', 'url': _by_identifier(unique_id)},
        }


def update_patch(document):
    """The patch that brings a DocumentReference the repository holds to
    the document's status, deletion and labels (PDSm's metadata update).
    A JSON Patch, which PDSm allows besides FHIRPath Patch: its "add" of a
    member sets it, so that it applies twice with the same result, where
    FHIRPath Patch can only add an extension a second time"""
    operations = [
        {'op': 'add', 'path': '/status', 'value': STATUS[document.state]},
        {'op': 'add', 'path': '/securityLabel', 'value': _security(document)},
        {'op': 'add', 'path': '/extension', 'value': [{
                    'url': IS_DELETED,
                    'valueBoolean': document.state == 'withdrawn'}]},
        ]
    return {
        'fullUrl': urn_uuid(
            'Update', document.unique_id, document.state,
            str(document.masked)),
        'resource': {
            'resourceType': 'Binary',
            'contentType': 'application/json-patch+json',
            'data': base64.b64encode(
                json.dumps(operations).encode()).decode(),
            },
        'request': {
            'method': 'PATCH', 'url': _by_identifier(document.unique_id)},
        }


def update_bundle(documents):
    """The metadata updates of DocumentReferences the repository holds, in
    one transaction (not ITI-65, which has no place for them)"""
    return {'resourceType': 'Bundle', 'type': 'transaction',
        'entry': [update_patch(d) for d in documents]}


def submission_ids(documents):
    """The SubmissionSet's uniqueId (an OID) and entryUUID: a new submission
    for each change, the same one for each retry"""
    entry_uuid = uuid.UUID(urn_uuid('SubmissionSet', *[
                f'{d.unique_id} {d.state} {d.masked}' for d in documents])[9:])
    return f'urn:oid:2.25.{entry_uuid.int}', entry_uuid.urn


def provide_bundle(documents, metadata, superseded=()):
    """The ITI-65 Provide Document Bundle (Comprehensive) of the documents
    the repository does not hold: a SubmissionSet List, each patient
    (created unless the repository knows them), each version they replace
    superseded (superseded: their unique ids), then each Binary and
    DocumentReference"""
    entries, items, patients = [], [], set()
    for unique_id in superseded:
        entries.append(supersede_patch(unique_id))
    for document in documents:
        patient = document.patient
        full_url = patient_full_url(patient)
        if full_url not in patients:
            patients.add(full_url)
            system = system_uri(patient.system)
            entries.insert(0, _entry(
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
                document_reference(document, metadata), 'POST',
                'DocumentReference', full_url,
                condition=f'identifier={RFC3986}|{master}'))
        items.append({'item': {'reference': full_url}})
    first = documents[0]
    unique_id, entry_uuid = submission_ids(documents)
    author = _author(first)
    entries.insert(0, _entry({
                'resourceType': 'List',
                'meta': {'profile': [COMPREHENSIVE_SUBMISSION_SET]},
                'contained': [author],
                'extension': [{
                        'url': SOURCE_ID,
                        'valueIdentifier': {
                            'system': RFC3986,
                            'value': identifier_value(metadata.source_id)},
                        }, {
                        'url': DESIGNATION_TYPE,
                        'valueCodeableConcept': {'coding': [{
                                    'system': LOINC,
                                    'code': first.type_code,
                                    'display': first.type_name}]},
                        }],
                'identifier': [{
                        'use': 'usual', 'system': RFC3986,
                        'value': unique_id,
                        }, {
                        'use': 'official', 'system': RFC3986,
                        'value': entry_uuid,
                        }],
                'status': 'current',
                'mode': 'working',
                'code': {'coding': [{
                            'system': SUBMISSION_SET,
                            'code': 'submissionset'}]},
                'subject': {
                    'reference': patient_full_url(first.patient),
                    'identifier': _identifier(
                        first.patient.system, first.patient.value),
                    },
                'date': _instant(dt.datetime.now(dt.timezone.utc)),
                'source': {'reference': '#author'},
                'entry': items,
                }, 'POST', 'List', entry_uuid,
            condition=f'identifier={RFC3986}|{unique_id}'))
    return {
        'resourceType': 'Bundle',
        'meta': {'profile': [COMPREHENSIVE_BUNDLE]},
        'type': 'transaction',
        'entry': entries,
        }


# Where a DocumentReference's status leaves a document
STATES = {
    'current': 'published',
    'superseded': 'superseded',
    # Not MHD, but what some producers send for a withdrawal
    'entered-in-error': 'withdrawn',
    }


def _deleted(resource):
    "Whether the DocumentReference carries PDSm's isDeleted at true"
    return any(
        isinstance(e, dict) and e.get('url') == IS_DELETED
        and e.get('valueBoolean') is True
        for e in resource.get('extension') or [])


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
    if state == 'superseded' and _deleted(resource):
        state = 'withdrawn'
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
