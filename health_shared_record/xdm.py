# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""IHE XDM packages (ITI-32, Distribute Document Set on Media), as documents
go by secure e-mail: a ZIP with README.TXT and INDEX.HTM at its root for a
reader without software, and IHE_XDM/SUBSET01/ holding METADATA.XML (the XDS
metadata of the submission set and of each document, an ebRIM 3.0
SubmitObjectsRequest) and the documents, with a readable copy of each when
there is one.  No ORM here: messaging gives plain values (mhd.Document,
mhd.Metadata) and records the outcome.

What comes in is read as hostile: the archive's entries are checked before
anything is extracted (no absolute path, no "..", a bounded number, size
and compression ratio), each file is read no further than its limit, the
metadata is parsed without entities or network, and each document's size
and hash must match its metadata.
"""
import datetime as dt
import hashlib
import html
import io
import posixpath
import re
import zipfile
from dataclasses import dataclass, field

from lxml import etree

from . import mhd

RIM = 'urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0'
LCM = 'urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0'
NS = {'rim': RIM, 'lcm': LCM}
SUBSET = 'IHE_XDM/SUBSET01/'
METADATA = SUBSET + 'METADATA.XML'
# The XDS metadata's identifiers (IHE ITI TF-3, 4.2.5)
DOCUMENT_ENTRY = 'urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1'
SUBMISSION_SET = 'urn:uuid:a54d6aa5-d40d-43f9-88c1-b6de8d2d2d3c'
ENTRY_CLASS = 'urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a'
ENTRY_CONFIDENTIALITY = 'urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f'
ENTRY_FORMAT = 'urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d'
ENTRY_FACILITY = 'urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1'
ENTRY_PRACTICE = 'urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead'
ENTRY_TYPE = 'urn:uuid:f0306f51-975f-434e-a61c-c59651d33983'
ENTRY_AUTHOR = 'urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d'
ENTRY_PATIENT = 'urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427'
ENTRY_UNIQUE = 'urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab'
SET_AUTHOR = 'urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d'
SET_CONTENT_TYPE = 'urn:uuid:aa543740-bdda-424e-8c96-df4873be8500'
SET_PATIENT = 'urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446'
SET_SOURCE = 'urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832'
SET_UNIQUE = 'urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8'
CLASSIFICATION_NODE = (
    'urn:oasis:names:tc:ebxml-regrep:classificationScheme:'
    'ClassificationNode')
HAS_MEMBER = 'urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember'
APPROVED = 'urn:oasis:names:tc:ebxml-regrep:StatusType:Approved'
MEDIA_EXTENSIONS = {
    'text/xml': 'XML', 'application/xml': 'XML',
    'application/pdf': 'PDF', 'text/plain': 'TXT',
    }
# XDS writes a patient id as value^^^&system&ISO
PATIENT_ID = re.compile(r'([^\^]+)\^\^\^&([0-9.]+)&ISO')


@dataclass
class Limits:
    "What a received package may hold at most"
    entries: int = 64
    file_size: int = 20 * 1024 * 1024
    total_size: int = 100 * 1024 * 1024
    ratio: int = 200


@dataclass
class Entry:
    "A document of a received package, with what its metadata says"
    unique_id: str
    path: str
    mime_type: str
    content: bytes
    patient_ids: list = field(default_factory=list)
    type_code: str = None
    type_name: str = None
    title: str = None
    author: str = None
    creation: dt.datetime = None
    confidentiality: str = 'N'
    masked: bool = False


@dataclass
class Package:
    "What a received package holds"
    submission_id: str
    source_id: str
    entries: list
    renderings: dict = field(default_factory=dict)


class PackageError(Exception):
    """A received package is refused: reason names the message the user
    reads, params fill it"""

    def __init__(self, reason, **params):
        super().__init__(reason, params)
        self.reason = reason
        self.params = params


def _xds_time(value):
    "An XDS DTM, in UTC to the second"
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.strftime('%Y%m%d%H%M%S')


def _patient_id(patient):
    return '%s^^^&%s&ISO' % (patient.value, patient.system)


def _oid(unique_id):
    "The OID of a document or submission id, as XDS writes it"
    if unique_id.startswith('urn:oid:'):
        return unique_id[len('urn:oid:'):]
    return unique_id


def file_name(index, document):
    "The document's file in the subset: DOC0001.XML, DOC0002.PDF..."
    extension = MEDIA_EXTENSIONS.get(document.mime_type, 'BIN')
    return 'DOC%04d.%s' % (index, extension)


def _slot(parent, name, *values):
    slot = etree.SubElement(parent, '{%s}Slot' % RIM, name=name)
    value_list = etree.SubElement(slot, '{%s}ValueList' % RIM)
    for value in values:
        etree.SubElement(value_list, '{%s}Value' % RIM).text = value
    return slot


def _name(parent, text, tag='Name'):
    element = etree.SubElement(parent, '{%s}%s' % (RIM, tag))
    if text:
        etree.SubElement(
            element, '{%s}LocalizedString' % RIM, value=text)
    return element


def _classification(parent, scheme, object_id, coding, index):
    system, code, display = coding
    classification = etree.SubElement(
        parent, '{%s}Classification' % RIM,
        id='%s-c%d' % (object_id, index), classificationScheme=scheme,
        classifiedObject=object_id, nodeRepresentation=code,
        objectType='urn:oasis:names:tc:ebxml-regrep:ObjectType:'
        'RegistryObject:Classification')
    _slot(classification, 'codingScheme', _oid_of_system(system))
    _name(classification, display or code)
    return classification


def _oid_of_system(system):
    "A coding system as XDS names it: an OID when it is one"
    if system.startswith('urn:oid:'):
        return system[len('urn:oid:'):]
    if system == mhd.LOINC:
        return '2.16.840.1.113883.6.1'
    if system == 'http://snomed.info/sct':
        return '2.16.840.1.113883.6.96'
    return system


def _external(parent, scheme, object_id, value, name, index):
    identifier = etree.SubElement(
        parent, '{%s}ExternalIdentifier' % RIM,
        id='%s-e%d' % (object_id, index), registryObject=object_id,
        identificationScheme=scheme, value=value,
        objectType='urn:oasis:names:tc:ebxml-regrep:ObjectType:'
        'RegistryObject:ExternalIdentifier')
    _name(identifier, name)


def metadata_xml(documents, metadata, submission_id, author, recipients,
        when):
    """METADATA.XML for the documents (mhd.Document, in their order in the
    subset), sent by author (a name) to recipients (e-mail addresses) at
    when, under submission_id (an OID)"""
    request = etree.Element('{%s}SubmitObjectsRequest' % LCM, nsmap=NS)
    objects = etree.SubElement(request, '{%s}RegistryObjectList' % RIM)
    patient = documents[0].patient
    members = []
    for index, document in enumerate(documents, 1):
        object_id = 'Document%02d' % index
        members.append(object_id)
        entry = etree.SubElement(
            objects, '{%s}ExtrinsicObject' % RIM, id=object_id,
            mimeType=document.mime_type, objectType=DOCUMENT_ENTRY,
            status=APPROVED)
        _slot(entry, 'creationTime', _xds_time(document.date))
        _slot(entry, 'hash', hashlib.sha1(document.content).hexdigest())
        _slot(entry, 'languageCode', document.language or 'en')
        _slot(entry, 'serviceStartTime',
            _xds_time(document.care_date or document.date))
        _slot(entry, 'size', str(len(document.content)))
        _slot(entry, 'sourcePatientId', _patient_id(patient))
        _slot(entry, 'sourcePatientInfo', *filter(None, [
                    'PID-3|%s' % _patient_id(patient),
                    'PID-5|%s^%s^^^' % (patient.family, patient.given),
                    'PID-7|%s' % patient.birth_date.strftime('%Y%m%d')
                    if patient.birth_date else None,
                    'PID-8|%s' % {'f': 'F', 'm': 'M'}.get(
                        patient.gender, 'U'),
                    ]))
        _slot(entry, 'URI', file_name(index, document))
        _name(entry, document.title)
        _name(entry, None, 'Description')
        author_classification = etree.SubElement(
            entry, '{%s}Classification' % RIM, id='%s-author' % object_id,
            classificationScheme=ENTRY_AUTHOR, classifiedObject=object_id,
            nodeRepresentation='')
        _slot(author_classification, 'authorPerson',
            '%s^%s' % (document.author_id or '', document.author_name or ''))
        if document.custodian_name:
            _slot(author_classification, 'authorInstitution',
                '%s^^^^^^^^^%s' % (
                    document.custodian_name, document.custodian_id or ''))
        _classification(entry, ENTRY_CLASS, object_id,
            metadata.class_code, 1)
        _classification(entry, ENTRY_CONFIDENTIALITY, object_id, (
                '2.16.840.1.113883.5.25', document.confidentiality, ''), 2)
        if document.masked:
            # The patient masked it: a second code, as in the MHD
            # metadata, so that the receiving clinic keeps it masked
            _classification(entry, ENTRY_CONFIDENTIALITY, object_id, (
                    mhd.OBLIGATION, mhd.MASK, ''), 12)
        _classification(entry, ENTRY_FORMAT, object_id,
            metadata.format_code, 3)
        _classification(entry, ENTRY_FACILITY, object_id,
            metadata.facility_type, 4)
        _classification(entry, ENTRY_PRACTICE, object_id,
            metadata.practice_setting, 5)
        _classification(entry, ENTRY_TYPE, object_id, (
                mhd.LOINC, document.type_code, document.type_name), 6)
        _external(entry, ENTRY_PATIENT, object_id, _patient_id(patient),
            'XDSDocumentEntry.patientId', 1)
        _external(entry, ENTRY_UNIQUE, object_id, _oid(document.unique_id),
            'XDSDocumentEntry.uniqueId', 2)
    package = etree.SubElement(
        objects, '{%s}RegistryPackage' % RIM, id='SubmissionSet01',
        objectType='urn:oasis:names:tc:ebxml-regrep:ObjectType:'
        'RegistryObject:RegistryPackage')
    _slot(package, 'submissionTime', _xds_time(when))
    _slot(package, 'intendedRecipient', *[
            '|^^^^^^^^^^^%s' % address for address in recipients])
    set_author = etree.SubElement(
        package, '{%s}Classification' % RIM, id='SubmissionSet01-author',
        classificationScheme=SET_AUTHOR, classifiedObject='SubmissionSet01',
        nodeRepresentation='')
    _slot(set_author, 'authorPerson', '^%s' % (author or ''))
    _classification(package, SET_CONTENT_TYPE, 'SubmissionSet01',
        metadata.practice_setting, 1)
    _external(package, SET_PATIENT, 'SubmissionSet01', _patient_id(patient),
        'XDSSubmissionSet.patientId', 1)
    _external(package, SET_SOURCE, 'SubmissionSet01', metadata.source_id,
        'XDSSubmissionSet.sourceId', 2)
    _external(package, SET_UNIQUE, 'SubmissionSet01', _oid(submission_id),
        'XDSSubmissionSet.uniqueId', 3)
    etree.SubElement(
        objects, '{%s}Classification' % RIM, id='SubmissionSet01-class',
        classifiedObject='SubmissionSet01',
        classificationNode=SUBMISSION_SET)
    for index, member in enumerate(members, 1):
        association = etree.SubElement(
            objects, '{%s}Association' % RIM,
            id='Association%02d' % index, associationType=HAS_MEMBER,
            sourceObject='SubmissionSet01', targetObject=member)
        _slot(association, 'SubmissionSetStatus', 'Original')
    return etree.tostring(
        request, xml_declaration=True, encoding='UTF-8', pretty_print=True)


def index_htm(documents, title, renderings):
    "INDEX.HTM: the documents, each linked to its file and readable copy"
    rows = []
    for index, document in enumerate(documents, 1):
        name = file_name(index, document)
        links = ['<a href="%s%s">%s</a>' % (SUBSET, name, html.escape(name))]
        if document.unique_id in renderings and not name.endswith('.PDF'):
            pdf = name.rsplit('.', 1)[0] + '.PDF'
            links.append('<a href="%s%s">%s</a>' % (
                    SUBSET, pdf, html.escape(pdf)))
        rows.append('<li>%s (%s)</li>' % (
                html.escape(document.title), ', '.join(links)))
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        '<title>%s</title></head><body><h1>%s</h1><ul>%s</ul>'
        '</body></html>\n' % (
            html.escape(title), html.escape(title), ''.join(rows))
        ).encode('utf-8')


def package(documents, metadata, submission_id, author, recipients, when,
        readme, title, renderings=None):
    """The IHE_XDM.ZIP of the documents (mhd.Document), with a PDF copy of
    each document whose unique id renderings maps to one; readme is
    README.TXT's text (who sends, with what software)"""
    renderings = renderings or {}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
        archive.writestr('README.TXT', readme.encode('utf-8'))
        archive.writestr(
            'INDEX.HTM', index_htm(documents, title, renderings))
        archive.writestr(METADATA, metadata_xml(
                documents, metadata, submission_id, author, recipients,
                when))
        for index, document in enumerate(documents, 1):
            name = file_name(index, document)
            archive.writestr(SUBSET + name, document.content)
            if (document.unique_id in renderings
                    and not name.endswith('.PDF')):
                archive.writestr(
                    SUBSET + name.rsplit('.', 1)[0] + '.PDF',
                    renderings[document.unique_id])
    return buffer.getvalue()


# Reading

def _safe_name(name):
    "The entry's path if it stays inside the package, else None"
    if not name or '\\' in name or '\x00' in name:
        return None
    if name.startswith('/') or re.match(r'[A-Za-z]:', name):
        return None
    parts = name.split('/')
    if any(p in {'..', '.'} for p in parts):
        return None
    normal = posixpath.normpath(name)
    if normal != name.rstrip('/') or normal.startswith('..'):
        return None
    return name


def _members(archive, limits):
    """The package's files by their names in upper case, every entry
    checked before any is read"""
    infos = archive.infolist()
    if len(infos) > limits.entries:
        raise PackageError('too_many_entries', limit=limits.entries)
    total = 0
    files = {}
    for info in infos:
        name = _safe_name(info.filename)
        if name is None:
            raise PackageError('unsafe_path', path=info.filename[:200])
        if info.is_dir():
            continue
        if info.file_size > limits.file_size:
            raise PackageError('file_too_large', path=name,
                limit=limits.file_size)
        if info.compress_size and (
                info.file_size / info.compress_size > limits.ratio):
            raise PackageError('compression_ratio', path=name)
        total += info.file_size
        if total > limits.total_size:
            raise PackageError('package_too_large', limit=limits.total_size)
        # Found by name whatever its case, as on the media XDM is for
        if name.upper() in files:
            raise PackageError('duplicate_path', path=name)
        files[name.upper()] = info
    return files


def _read(archive, info, limits):
    "The file's bytes, read no further than its limit, whatever it claims"
    with archive.open(info) as stream:
        data = stream.read(limits.file_size + 1)
    if len(data) > limits.file_size:
        raise PackageError('file_too_large', path=info.filename,
            limit=limits.file_size)
    return data


def _slot_values(element, name):
    return [v.text or '' for v in element.xpath(
            'rim:Slot[@name=$name]/rim:ValueList/rim:Value',
            namespaces=NS, name=name)]


def _external_value(element, scheme):
    values = element.xpath(
        'rim:ExternalIdentifier[@identificationScheme=$scheme]/@value',
        namespaces=NS, scheme=scheme)
    return values[0] if values else None


def _parse_time(text):
    try:
        return dt.datetime.strptime(
            (text or '')[:14].ljust(14, '0'), '%Y%m%d%H%M%S')
    except ValueError:
        return None


def read(data, limits=None):
    "The Package in data (an IHE_XDM.ZIP's bytes), or PackageError"
    limits = limits or Limits()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise PackageError('not_a_package')
    with archive:
        by_upper = _members(archive, limits)
        info = by_upper.get(METADATA)
        if info is None:
            raise PackageError('no_metadata')
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False,
            huge_tree=False)
        try:
            root = etree.fromstring(_read(archive, info, limits), parser)
        except etree.XMLSyntaxError as error:
            raise PackageError('bad_metadata', error=str(error)[:200])
        if root.getroottree().docinfo.doctype:
            # XDS metadata has no DTD: one is an attack (entities)
            raise PackageError('bad_metadata', error='a DOCTYPE')
        submission = root.xpath(
            '//rim:RegistryPackage', namespaces=NS)
        if len(submission) != 1:
            raise PackageError('bad_metadata',
                error='%d submission sets' % len(submission))
        submission = submission[0]
        entries, renderings = [], {}
        for extrinsic in root.xpath(
                '//rim:ExtrinsicObject[@objectType=$type]',
                namespaces=NS, type=DOCUMENT_ENTRY):
            entries.append(_entry(archive, by_upper, extrinsic, limits))
        if not entries:
            raise PackageError('no_document')
        listed = {SUBSET + e.path.upper() for e in entries}
        for entry in entries:
            pdf = (SUBSET + entry.path.rsplit('.', 1)[0] + '.PDF').upper()
            if pdf in by_upper and pdf not in listed:
                renderings[entry.unique_id] = _read(
                    archive, by_upper[pdf], limits)
        return Package(
            submission_id=_external_value(submission, SET_UNIQUE),
            source_id=_external_value(submission, SET_SOURCE),
            entries=entries, renderings=renderings)


def _entry(archive, by_upper, extrinsic, limits):
    unique_id = _external_value(extrinsic, ENTRY_UNIQUE)
    uri = (_slot_values(extrinsic, 'URI') or [''])[0].strip()
    if not unique_id or not uri:
        raise PackageError('bad_metadata',
            error='a document without unique id or URI')
    path = _safe_name(uri)
    if path is None or '/' in path:
        raise PackageError('unsafe_path', path=uri[:200])
    info = by_upper.get((SUBSET + path).upper())
    if info is None:
        raise PackageError('missing_document', path=path)
    content = _read(archive, info, limits)
    size = (_slot_values(extrinsic, 'size') or [None])[0]
    digest = (_slot_values(extrinsic, 'hash') or [None])[0]
    if size is not None and size.strip() != str(len(content)):
        raise PackageError('document_mismatch', path=path)
    if digest is not None and digest.strip().lower() != hashlib.sha1(
            content).hexdigest():
        raise PackageError('document_mismatch', path=path)
    patient_ids = []
    for value in [_external_value(extrinsic, ENTRY_PATIENT)] + _slot_values(
            extrinsic, 'sourcePatientId'):
        match = PATIENT_ID.fullmatch((value or '').strip())
        if match and (match.group(2), match.group(1)) not in patient_ids:
            patient_ids.append((match.group(2), match.group(1)))
    types = extrinsic.xpath(
        'rim:Classification[@classificationScheme=$scheme]'
        '/@nodeRepresentation', namespaces=NS, scheme=ENTRY_TYPE)
    type_names = extrinsic.xpath(
        'rim:Classification[@classificationScheme=$scheme]'
        '/rim:Name/rim:LocalizedString/@value', namespaces=NS,
        scheme=ENTRY_TYPE)
    titles = extrinsic.xpath(
        'rim:Name/rim:LocalizedString/@value', namespaces=NS)
    authors = extrinsic.xpath(
        'rim:Classification[@classificationScheme=$scheme]/rim:Slot'
        '[@name="authorPerson"]/rim:ValueList/rim:Value/text()',
        namespaces=NS, scheme=ENTRY_AUTHOR)
    confidentiality = set(extrinsic.xpath(
            'rim:Classification[@classificationScheme=$scheme]'
            '/@nodeRepresentation', namespaces=NS,
            scheme=ENTRY_CONFIDENTIALITY))
    return Entry(
        unique_id=unique_id, path=path,
        mime_type=extrinsic.get('mimeType') or 'application/octet-stream',
        content=content, patient_ids=patient_ids,
        type_code=types[0] if types else None,
        type_name=type_names[0] if type_names else None,
        title=titles[0] if titles else None,
        author=authors[0] if authors else None,
        creation=_parse_time(
            (_slot_values(extrinsic, 'creationTime') or [''])[0]),
        # The strictest the metadata says
        confidentiality=next(
            (c for c in ('V', 'R') if c in confidentiality), 'N'),
        masked=mhd.MASK in confidentiality)
