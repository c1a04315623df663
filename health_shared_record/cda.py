# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Building, validating and reading HL7 CDA Release 2 documents.

Nothing here touches the ORM: the models turn their records into the plain
data classes below, and this module turns those into CDA XML and back.
"""
import base64
import datetime as dt
import html
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional, Union

from lxml import etree

NS = 'urn:hl7-org:v3'
XSI = 'http://www.w3.org/2001/XMLSchema-instance'
NSMAP = {None: NS, 'xsi': XSI}
XSI_TYPE = '{%s}type' % XSI
_Q = '{%s}' % NS

LOINC = '2.16.840.1.113883.6.1'
ICD10 = '2.16.840.1.113883.6.3'
SNOMED = '2.16.840.1.113883.6.96'
ATC = '2.16.840.1.113883.6.73'
CONFIDENTIALITY = '2.16.840.1.113883.5.25'
ADMINISTRATIVE_GENDER = '2.16.840.1.113883.5.1'
ROUTE_OF_ADMINISTRATION = '2.16.840.1.113883.5.112'
CDA_TYPE_ID = ('2.16.840.1.113883.1.3', 'POCD_HD000040')
# Our own template, so that a receiver can tell which rules produced the
# document; an OID derived from a fixed UUID (ITU-T X.667), as nobody
# registered one for GNU Health.
TEMPLATE_ID = '2.25.281479134473452919473367151398418710871'

CONFIDENTIALITY_NAMES = {
    'N': 'normal', 'R': 'restricted', 'V': 'very restricted'}
SEX_CODES = {'m': 'M', 'f': 'F'}

# Characters XML 1.0 forbids, replaced so that any text a user typed still
# gives a well-formed document.
_XML_FORBIDDEN = re.compile(
    '[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')
OID = re.compile(r'^[0-2](\.(0|[1-9][0-9]*))+$')
UUID = re.compile(
    r'^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-'
    r'[0-9A-Fa-f]{12}$')


def text(value):
    "Return value as a string that XML 1.0 accepts"
    if value is None:
        return ''
    return _XML_FORBIDDEN.sub('\ufffd', str(value))


def is_oid(value):
    return bool(value and OID.match(value))


def instance_identifier(unique_id):
    "Return the CDA II root of a document unique id (OID or UUID URN)"
    if unique_id.startswith('urn:uuid:'):
        return unique_id[len('urn:uuid:'):].upper()
    if unique_id.startswith('urn:oid:'):
        return unique_id[len('urn:oid:'):]
    return unique_id


def timestamp(value):
    "Return the HL7 TS of a date or an aware or naive (UTC) datetime"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.strftime('%Y%m%d%H%M%S%z')
    return value.strftime('%Y%m%d')


@dataclass
class Code:
    code: str
    system: str
    display: Optional[str] = None


@dataclass
class Quantity:
    value: float
    unit: str = '1'


@dataclass
class Identifier:
    root: str
    extension: Optional[str] = None


@dataclass
class Person:
    identifiers: list
    given: str = ''
    family: str = ''
    sex: Optional[str] = None
    birth_date: Optional[dt.date] = None


@dataclass
class Organization:
    identifier: Identifier
    name: str


@dataclass
class Header:
    unique_id: str
    set_id: str
    version: int
    type_code: Code
    title: str
    effective_time: dt.datetime
    confidentiality: str
    language: str
    realm: str
    patient: Person
    author: Person
    author_time: dt.datetime
    custodian: Organization
    replaces: Optional[str] = None


@dataclass
class Table:
    headers: list
    rows: list


@dataclass
class Paragraph:
    text: str


@dataclass
class Observation:
    "A coded or measured observation: a problem, an allergy, a vital sign"
    code: Code
    value: Union[Code, Quantity, int, str, None] = None
    time: Optional[Union[dt.date, dt.datetime]] = None
    status: str = 'completed'


@dataclass
class Administration:
    """A substance administration: an immunization given (EVN) or a
    medication prescribed or taken (INT / EVN)"""
    product: str
    product_code: Optional[Code] = None
    mood: str = 'EVN'
    start: Optional[Union[dt.date, dt.datetime]] = None
    end: Optional[Union[dt.date, dt.datetime]] = None
    period: Optional[Quantity] = None
    dose: Optional[Quantity] = None
    route: Optional[Code] = None
    lot: Optional[str] = None
    dose_number: Optional[int] = None
    status: str = 'completed'


@dataclass
class Section:
    code: Code
    title: str
    narrative: list = field(default_factory=list)
    entries: list = field(default_factory=list)


@dataclass
class Attachment:
    "A file wrapped in a nonXMLBody"
    data: bytes
    media_type: str


_SECTION_TITLES = {
    '11450-4': 'Problem list',
    '48765-2': 'Allergies and adverse reactions',
    '10160-0': 'History of medication use',
    '11369-6': 'History of immunization',
    '30954-2': 'Relevant diagnostic tests/laboratory data',
    '8716-3': 'Vital signs',
    '29299-5': 'Reason for visit',
    '51848-0': 'Assessment',
    '18776-5': 'Plan of care',
    }


def section_code(code):
    return Code(code, LOINC, _SECTION_TITLES[code])


DOSE_NUMBER = Code('30973-2', LOINC, 'Dose number in series')


def _sub(parent, tag, attrib=None):
    return etree.SubElement(parent, _Q + tag, attrib or {})


def _code(parent, tag, code, xsi_type=None):
    attrib = {}
    if xsi_type:
        attrib[XSI_TYPE] = xsi_type
    attrib['code'] = text(code.code)
    attrib['codeSystem'] = code.system
    if code.display:
        attrib['displayName'] = text(code.display)
    return _sub(parent, tag, attrib)


def _identifier(parent, identifier, tag='id'):
    attrib = {'root': identifier.root}
    if identifier.extension:
        attrib['extension'] = text(identifier.extension)
    return _sub(parent, tag, attrib)


def _name(parent, person):
    name = _sub(parent, 'name')
    if person.given:
        _sub(name, 'given').text = text(person.given)
    if person.family:
        _sub(name, 'family').text = text(person.family)
    return name


def _person_ids(parent, person):
    if person.identifiers:
        for identifier in person.identifiers:
            _identifier(parent, identifier)
    else:
        _sub(parent, 'id', {'nullFlavor': 'UNK'})


def _quantity(parent, tag, quantity, xsi_type=None):
    attrib = {}
    if xsi_type:
        attrib[XSI_TYPE] = xsi_type
    attrib['value'] = _number(quantity.value)
    attrib['unit'] = text(quantity.unit or '1')
    return _sub(parent, tag, attrib)


def _number(value):
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _narrative(parent, blocks):
    narrative = _sub(parent, 'text')
    for block in blocks:
        if isinstance(block, Paragraph):
            paragraph = _sub(narrative, 'paragraph')
            lines = text(block.text).splitlines() or ['']
            paragraph.text = lines[0]
            for line in lines[1:]:
                _sub(paragraph, 'br').tail = line
        elif isinstance(block, Table):
            table = _sub(narrative, 'table', {'border': '1'})
            head = _sub(_sub(table, 'thead'), 'tr')
            for header in block.headers:
                _sub(head, 'th').text = text(header)
            body = _sub(table, 'tbody')
            for row in block.rows:
                tr = _sub(body, 'tr')
                for cell in row:
                    _sub(tr, 'td').text = text(cell)
    return narrative


def _observation(entry, observation):
    element = _sub(entry, 'observation', {
            'classCode': 'OBS', 'moodCode': 'EVN'})
    _code(element, 'code', observation.code)
    _sub(element, 'statusCode', {'code': observation.status})
    if observation.time:
        _sub(element, 'effectiveTime', {
                'value': timestamp(observation.time)})
    value = observation.value
    if isinstance(value, Code):
        _code(element, 'value', value, xsi_type='CD')
    elif isinstance(value, Quantity):
        _quantity(element, 'value', value, xsi_type='PQ')
    elif isinstance(value, int):
        _sub(element, 'value', {XSI_TYPE: 'INT', 'value': str(value)})
    elif value:
        _sub(element, 'value', {XSI_TYPE: 'ST'}).text = text(value)
    return element


def _administration(entry, administration):
    element = _sub(entry, 'substanceAdministration', {
            'classCode': 'SBADM', 'moodCode': administration.mood})
    _sub(element, 'statusCode', {'code': administration.status})
    if administration.start or administration.end:
        if administration.end:
            period = _sub(element, 'effectiveTime', {XSI_TYPE: 'IVL_TS'})
            if administration.start:
                _sub(period, 'low', {
                        'value': timestamp(administration.start)})
            _sub(period, 'high', {'value': timestamp(administration.end)})
        else:
            _sub(element, 'effectiveTime', {
                    'value': timestamp(administration.start)})
    if administration.period:
        frequency = _sub(element, 'effectiveTime', {
                XSI_TYPE: 'PIVL_TS', 'institutionSpecified': 'true',
                'operator': 'A'})
        _quantity(frequency, 'period', administration.period)
    if administration.route:
        _code(element, 'routeCode', administration.route)
    if administration.dose:
        _quantity(element, 'doseQuantity', administration.dose)
    material = _sub(_sub(_sub(element, 'consumable'), 'manufacturedProduct'),
        'manufacturedMaterial')
    if administration.product_code:
        code = _code(material, 'code', administration.product_code)
        _sub(code, 'originalText').text = text(administration.product)
    else:
        _sub(_sub(material, 'code', {'nullFlavor': 'OTH'}),
            'originalText').text = text(administration.product)
    _sub(material, 'name').text = text(administration.product)
    if administration.lot:
        _sub(material, 'lotNumberText').text = text(administration.lot)
    if administration.dose_number:
        _observation(
            _sub(element, 'entryRelationship', {'typeCode': 'SUBJ'}),
            Observation(DOSE_NUMBER, administration.dose_number))
    return element


def _section(body, section):
    element = _sub(_sub(body, 'component'), 'section')
    _code(element, 'code', section.code)
    _sub(element, 'title').text = text(section.title)
    _narrative(element, section.narrative)
    for item in section.entries:
        entry = _sub(element, 'entry')
        if isinstance(item, Observation):
            _observation(entry, item)
        else:
            _administration(entry, item)
    return element


def build_tree(header, sections=None, attachment=None):
    "Return the ClinicalDocument element of the header and the body"
    root = etree.Element(_Q + 'ClinicalDocument', nsmap=NSMAP)
    _sub(root, 'realmCode', {'code': header.realm})
    _sub(root, 'typeId', {
            'root': CDA_TYPE_ID[0], 'extension': CDA_TYPE_ID[1]})
    _sub(root, 'templateId', {'root': TEMPLATE_ID})
    _sub(root, 'id', {'root': instance_identifier(header.unique_id)})
    _code(root, 'code', header.type_code)
    _sub(root, 'title').text = text(header.title)
    _sub(root, 'effectiveTime', {
            'value': timestamp(header.effective_time)})
    _sub(root, 'confidentialityCode', {
            'code': header.confidentiality, 'codeSystem': CONFIDENTIALITY,
            'displayName': CONFIDENTIALITY_NAMES[header.confidentiality]})
    _sub(root, 'languageCode', {'code': header.language})
    _sub(root, 'setId', {'root': instance_identifier(header.set_id)})
    _sub(root, 'versionNumber', {'value': str(header.version)})

    role = _sub(_sub(root, 'recordTarget'), 'patientRole')
    _person_ids(role, header.patient)
    patient = _sub(role, 'patient')
    _name(patient, header.patient)
    _sub(patient, 'administrativeGenderCode', {
            'code': SEX_CODES.get(header.patient.sex, 'UN'),
            'codeSystem': ADMINISTRATIVE_GENDER})
    if header.patient.birth_date:
        _sub(patient, 'birthTime', {
                'value': timestamp(header.patient.birth_date)})

    author = _sub(root, 'author')
    _sub(author, 'time', {'value': timestamp(header.author_time)})
    assigned = _sub(author, 'assignedAuthor')
    _person_ids(assigned, header.author)
    _name(_sub(assigned, 'assignedPerson'), header.author)
    _organization(
        _sub(assigned, 'representedOrganization'), header.custodian)

    custodian = _sub(_sub(_sub(root, 'custodian'), 'assignedCustodian'),
        'representedCustodianOrganization')
    _organization(custodian, header.custodian)

    if header.replaces:
        parent = _sub(_sub(root, 'relatedDocument', {'typeCode': 'RPLC'}),
            'parentDocument')
        _sub(parent, 'id', {'root': instance_identifier(header.replaces)})

    component = _sub(root, 'component')
    if attachment is not None:
        body = _sub(_sub(component, 'nonXMLBody'), 'text', {
                'mediaType': attachment.media_type,
                'representation': 'B64'})
        body.text = base64.b64encode(attachment.data).decode('ascii')
    else:
        body = _sub(component, 'structuredBody')
        for section in sections or []:
            _section(body, section)
    return root


def _organization(parent, organization):
    _identifier(parent, organization.identifier)
    _sub(parent, 'name').text = text(organization.name)


def serialize(tree):
    return etree.tostring(tree, xml_declaration=True, encoding='UTF-8')


def build(header, sections=None, attachment=None):
    "Return the CDA XML bytes of the header and the body"
    return serialize(build_tree(header, sections, attachment))


@lru_cache(maxsize=4)
def schema(path):
    "Return the XMLSchema of CDA.xsd at path, parsed once per process"
    return etree.XMLSchema(etree.parse(path, parser=safe_parser()))


def schema_errors(content, path):
    "Return the list of schema violations of content against CDA.xsd"
    xml_schema = schema(path)
    document = parse(content)
    if xml_schema.validate(document):
        return []
    return [f'line {e.line}: {e.message}' for e in xml_schema.error_log]


def safe_parser(max_size=None):
    """Return a parser that loads no DTD, expands no entity and reaches no
    network, so that a hostile document cannot make it read a file, call a
    server or explode in memory"""
    return etree.XMLParser(
        resolve_entities=False, load_dtd=False, no_network=True,
        dtd_validation=False, huge_tree=False, remove_comments=True,
        remove_pis=True, collect_ids=False)


def parse(content):
    "Parse CDA bytes safely; raise etree.XMLSyntaxError when malformed"
    root = etree.fromstring(content, parser=safe_parser())
    if root.getroottree().docinfo.doctype:
        raise etree.XMLSyntaxError(
            'document type declarations are not accepted', None, 0, 0)
    return root.getroottree()


def _q(path):
    return '/'.join('{%s}%s' % (NS, p) if p and p[0].isalpha() else p
        for p in path.split('/'))


def _narrative_html(element):
    "Turn a CDA NarrativeBlock into HTML, keeping only known markup"
    tags = {
        'paragraph': 'p', 'table': 'table', 'thead': 'thead',
        'tbody': 'tbody', 'tr': 'tr', 'th': 'th', 'td': 'td', 'br': 'br',
        'list': 'ul', 'item': 'li', 'content': 'span', 'caption': 'b',
        }
    parts = []
    if element.text:
        parts.append(html.escape(element.text))
    for child in element:
        name = etree.QName(child).localname
        tag = tags.get(name, 'span')
        if tag == 'br':
            parts.append('<br/>')
        else:
            parts.append(f'<{tag}>{_narrative_html(child)}</{tag}>')
        if child.tail:
            parts.append(html.escape(child.tail))
    return ''.join(parts)


def render_html(content, labels):
    """Return a readable, self-contained HTML page of a CDA document.

    labels maps the few fixed words of the page to the reader's language.
    """
    root = parse(content).getroot()

    def find_text(path):
        return root.findtext(_q(path)) or ''

    def find_attr(path, attribute):
        element = root.find(_q(path))
        return element.get(attribute, '') if element is not None else ''

    def name(path):
        element = root.find(_q(path))
        if element is None:
            return ''
        return ' '.join(filter(None, (
                    element.findtext(_q('given')),
                    element.findtext(_q('family')))))

    escape = html.escape
    rows = [
        (labels['patient'], name(
                'recordTarget/patientRole/patient/name')),
        (labels['birth_date'], _display_ts(find_attr(
                    'recordTarget/patientRole/patient/birthTime', 'value'))),
        (labels['author'], name('author/assignedAuthor/assignedPerson/name')),
        (labels['custodian'], find_text(
                'custodian/assignedCustodian/'
                'representedCustodianOrganization/name')),
        (labels['date'], _display_ts(find_attr('effectiveTime', 'value'))),
        (labels['type'], find_attr('code', 'displayName')),
        (labels['confidentiality'], CONFIDENTIALITY_NAMES.get(
                find_attr('confidentialityCode', 'code'), '')),
        (labels['version'], find_attr('versionNumber', 'value')),
        (labels['identifier'], find_attr('id', 'root')),
        ]
    title = find_text('title')
    parts = [
        '<!DOCTYPE html><html><head><meta charset="utf-8"/>',
        f'<title>{escape(title)}</title>',
        '<style>body{font-family:sans-serif;margin:2em;max-width:60em}'
        'table{border-collapse:collapse;margin:.5em 0}'
        'td,th{border:1px solid #999;padding:.2em .5em;text-align:left}'
        'table.header td,table.header th{border:none}'
        'h2{border-bottom:1px solid #999}</style></head><body>',
        f'<h1>{escape(title)}</h1><table class="header">',
        ]
    for label, value in rows:
        parts.append(
            f'<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>')
    parts.append('</table>')
    for section in root.iterfind(_q(
                'component/structuredBody/component/section')):
        parts.append(f'<h2>{escape(section.findtext(_q("title")) or "")}</h2>')
        narrative = section.find(_q('text'))
        if narrative is not None:
            parts.append(f'<div>{_narrative_html(narrative)}</div>')
    non_xml = root.find(_q('component/nonXMLBody/text'))
    if non_xml is not None:
        media_type = non_xml.get('mediaType', '')
        data = escape((non_xml.text or '').strip())
        source = f'data:{escape(media_type)};base64,{data}'
        if media_type.startswith('image/'):
            parts.append(f'<img style="max-width:100%" src="{source}"/>')
        else:
            parts.append(
                f'<embed type="{escape(media_type)}" src="{source}" '
                'style="width:100%;height:80vh"/>')
    parts.append('</body></html>')
    return ''.join(parts).encode('utf-8')


def _display_ts(value):
    if len(value) >= 8 and value[:8].isdigit():
        return f'{value[0:4]}-{value[4:6]}-{value[6:8]}'
    return value
