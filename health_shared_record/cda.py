# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Building, validating and reading HL7 CDA Release 2 documents.

Nothing here touches the ORM: the models turn their records into the plain
data classes below, and this module turns those into CDA XML and back.
"""
import base64
import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional, Union

from lxml import etree

NS = 'urn:hl7-org:v3'
XSI = 'http://www.w3.org/2001/XMLSchema-instance'

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


def timestamp(value, zone=None):
    """Return the HL7 TS of a date or an aware or naive (UTC) datetime,
    written in zone when given"""
    # Cut out of isoformat: strftime costs more than the rest of an entry
    if not isinstance(value, dt.datetime):
        iso = value.isoformat()
        return iso[0:4] + iso[5:7] + iso[8:10]
    if zone is not None:
        value = local_time(value, zone)
    iso = value.isoformat(timespec='seconds')
    zone = iso[19] + iso[20:22] + iso[23:25] if len(iso) > 19 else '+0000'
    return (iso[0:4] + iso[5:7] + iso[8:10] + iso[11:13] + iso[14:16]
        + iso[17:19] + zone)


def local_time(value, zone):
    "Return the datetime value (naive is UTC) as an aware one in zone"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(zone)


# UCUM codes and how people read them, in narratives; the coded entries
# keep UCUM, which receivers compute with
UNIT_DISPLAY = {
    'Cel': '°C', '[degF]': '°F', 'mm[Hg]': 'mmHg', 'kg/m2': 'kg/m²',
    'ug': 'µg', 'um': 'µm', '[iU]': 'IU', '[IU]': 'IU', '{beats}/min': '/min',
    }
# The UCUM codes of GNU Health's dose units and of the doses clinics
# usually write: a dose in another unit (a tablet, a puff, "unit") is not
# a quantity a receiver can compute with, and stays in the text
DOSE_UNITS = {
    'g', 'mg', 'ug', 'ng', 'kg', 'L', 'mL', 'uL', 'mmol', 'umol', 'mol',
    '[iU]', '[IU]', 'U', 'meq', '[drp]', 'mg/kg', 'ug/kg', 'mL/h', 'mg/h',
    }


def unit_display(unit):
    "Return a UCUM unit as people read it"
    return UNIT_DISPLAY.get(unit, unit)


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
    # A name as written, when it is not known in parts (a colleague's
    # letter is signed "Dr J. Dupont, cardiologue")
    full_name: str = ''
    # What the professional is, such as the specialty
    role: Optional[Code] = None


@dataclass
class Address:
    street: str = ''
    postal_code: str = ''
    city: str = ''
    country: str = ''


@dataclass
class Organization:
    identifier: Optional[Identifier]
    name: str
    # Its telephone (a tel: URL) and address, for a letterhead
    telecom: Optional[str] = None
    address: Optional[Address] = None


@dataclass
class Interval:
    "A period whose ends may be unknown, such as a problem's onset and end"
    low: Optional[Union[dt.date, dt.datetime]] = None
    high: Optional[Union[dt.date, dt.datetime]] = None


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
    # None when the document does not say who wrote it
    author: Optional[Person]
    # None when unknown
    author_time: Optional[dt.datetime]
    custodian: Organization
    replaces: Optional[str] = None
    # The author's organization when it is not the custodian
    author_organization: Optional[Organization] = None
    # Who typed or uploaded what the author wrote
    data_enterer: Optional[Person] = None
    # Who signs the document, when
    legal_authenticator: Optional[Person] = None
    # Who asked for the care the document tells of (a test's requester)
    referrer: Optional[Person] = None
    # When the care the document tells of took place
    service_time: Optional[Union[dt.datetime, Interval]] = None
    # The zone the times are written in; naive datetimes are UTC
    timezone: Optional[dt.tzinfo] = None


@dataclass
class Table:
    headers: list
    rows: list


@dataclass
class Paragraph:
    text: str
    # A heading of the paragraph, in the document's language
    caption: Optional[str] = None


@dataclass
class Observation:
    "A coded or measured observation: a problem, an allergy, a vital sign"
    code: Code
    value: Union[Code, Quantity, int, str, None] = None
    time: Optional[Union[dt.date, dt.datetime, Interval]] = None
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
    # How long it lasts, when its end is not known
    duration: Optional[Quantity] = None
    period: Optional[Quantity] = None
    # Whether the period is the institution's schedule ("3 times a day",
    # at the times the ward gives doses) or exact ("every 8 hours")
    institution_specified: bool = False
    # A dose in UCUM units; any other dose is told in text
    dose: Optional[Quantity] = None
    text: Optional[str] = None
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


# The document is written as text, not as a tree of lxml elements: making
# one Python object per element costs twenty times what serializing the
# tree does.  Every value goes through _t (text) or _a (attribute), which
# drop what XML 1.0 forbids and escape what it reserves.

_TEXT_SPECIAL = re.compile(
    '[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')
_ATTRIBUTE_SPECIAL = re.compile(
    '[&<>"\r\n\t\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')


def _escaper(special, entities):
    """Return a function that escapes a value with entities, keeping aside
    the short strings it escaped: they repeat from one document to the next
    (labels, codes, names of conditions and medicaments, dates)"""
    escaped_strings = {}

    def escape(value):
        if value.__class__ is not str:
            value = '' if value is None else str(value)
        escaped = escaped_strings.get(value)
        if escaped is None:
            escaped = value
            if special.search(value) is not None:
                escaped = text(value)
                for character, entity in entities:
                    escaped = escaped.replace(character, entity)
            if len(value) <= 64 and len(escaped_strings) < 1 << 16:
                escaped_strings[value] = escaped
        return escaped
    return escape


_TEXT_ENTITIES = [('&', '&amp;'), ('<', '&lt;'), ('>', '&gt;'), ('\r', '&#13;')]
# Escape value for element content
_t = _escaper(_TEXT_SPECIAL, _TEXT_ENTITIES)
# Escape value for a double-quoted attribute
_a = _escaper(_ATTRIBUTE_SPECIAL, _TEXT_ENTITIES + [
        ('"', '&quot;'), ('\n', '&#10;'), ('\t', '&#9;')])


def _code(out, tag, code, xsi_type=None):
    "Append the opening of a coded element, left open for its content"
    out.append(_code_start(tag, code.code, code.system, code.display, xsi_type))


@lru_cache(maxsize=4096)
def _code_start(tag, code, system, display, xsi_type):
    # Codes come from a small vocabulary (LOINC, ICD-10, ATC, ...) and
    # repeat across documents: each is escaped once
    type_ = f' xsi:type="{xsi_type}"' if xsi_type else ''
    display = f' displayName="{_a(display)}"' if display else ''
    return f'<{tag}{type_} code="{_a(code)}" codeSystem="{_a(system)}"{display}'


def _empty_code(out, tag, code, xsi_type=None):
    out.append(_code_start(
            tag, code.code, code.system, code.display, xsi_type) + '/>')


def _identifier(out, identifier, tag='id'):
    out.append(f'<{tag} root="{_a(identifier.root)}"')
    if identifier.extension:
        out.append(f' extension="{_a(identifier.extension)}"')
    out.append('/>')


def _name(out, person):
    if not (person.given or person.family):
        out.append(f'<name>{_t(person.full_name)}</name>')
        return
    out.append('<name>')
    if person.given:
        out.append(f'<given>{_t(person.given)}</given>')
    if person.family:
        out.append(f'<family>{_t(person.family)}</family>')
    out.append('</name>')


def _person_ids(out, person):
    if person.identifiers:
        for identifier in person.identifiers:
            _identifier(out, identifier)
    else:
        out.append('<id nullFlavor="UNK"/>')


def _quantity(out, tag, quantity, xsi_type=None):
    type_ = f' xsi:type="{xsi_type}"' if xsi_type else ''
    out.append(f'<{tag}{type_} value="{_number(quantity.value)}" '
        f'unit="{_a(quantity.unit or "1")}"/>')


def _number(value):
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _narrative(out, blocks):
    out.append('<text>')
    for block in blocks:
        if isinstance(block, Paragraph):
            out.append('<paragraph>')
            if block.caption:
                out.append(f'<caption>{_t(block.caption)}</caption>')
            out.append('<br/>'.join(
                    _t(line) for line in text(block.text).splitlines()))
            out.append('</paragraph>')
        elif isinstance(block, Table):
            out.append(_table_head(tuple(block.headers)))
            for row in block.rows:
                out.append('<tr><td>')
                out.append('</td><td>'.join(map(_t, row)))
                out.append('</td></tr>')
            out.append('</tbody></table>')
    out.append('</text>')


@lru_cache(maxsize=1024)
def _table_head(headers):
    return ('<table border="1"><thead><tr><th>'
        + '</th><th>'.join(map(_t, headers))
        + '</th></tr></thead><tbody>')


def _time(value, zone, tag='effectiveTime'):
    "Return the element of a point in time or an interval"
    if isinstance(value, Interval):
        return (f'<{tag}>{_time(value.low, zone, "low")}'
            f'{_time(value.high, zone, "high") if value.high else ""}'
            f'</{tag}>')
    if value is None:
        return f'<{tag} nullFlavor="UNK"/>'
    return f'<{tag} value="{timestamp(value, zone)}"/>'


def _observation(out, observation, zone=None):
    out.append('<observation classCode="OBS" moodCode="EVN">')
    _empty_code(out, 'code', observation.code)
    out.append(f'<statusCode code="{observation.status}"/>')
    if observation.time:
        out.append(_time(observation.time, zone))
    value = observation.value
    if isinstance(value, Code):
        _empty_code(out, 'value', value, xsi_type='CD')
    elif isinstance(value, Quantity):
        _quantity(out, 'value', value, xsi_type='PQ')
    elif isinstance(value, int):
        out.append(f'<value xsi:type="INT" value="{value:d}"/>')
    elif value:
        out.append(f'<value xsi:type="ST">{_t(value)}</value>')
    out.append('</observation>')


def _administration(out, administration, zone=None):
    out.append('<substanceAdministration classCode="SBADM" '
        f'moodCode="{administration.mood}">')
    dose = administration.dose
    coded_dose = dose is not None and dose.unit in DOSE_UNITS
    text_ = administration.text
    if dose is not None and not coded_dose and not text_:
        text_ = f'{_number(dose.value)} {dose.unit}'
    if text_:
        out.append(f'<text>{_t(text_)}</text>')
    out.append(f'<statusCode code="{administration.status}"/>')
    start, end = administration.start, administration.end
    if end or administration.duration:
        out.append('<effectiveTime xsi:type="IVL_TS">')
        if start:
            out.append(f'<low value="{timestamp(start, zone)}"/>')
        if end:
            out.append(f'<high value="{timestamp(end, zone)}"/>')
        else:
            _quantity(out, 'width', administration.duration)
        out.append('</effectiveTime>')
    elif start:
        out.append(f'<effectiveTime value="{timestamp(start, zone)}"/>')
    if administration.period:
        specified = str(administration.institution_specified).lower()
        out.append('<effectiveTime xsi:type="PIVL_TS" '
            f'institutionSpecified="{specified}" operator="A">')
        _quantity(out, 'period', administration.period)
        out.append('</effectiveTime>')
    if administration.route:
        _empty_code(out, 'routeCode', administration.route)
    if coded_dose:
        _quantity(out, 'doseQuantity', dose)
    out.append('<consumable><manufacturedProduct><manufacturedMaterial>')
    product = _t(administration.product)
    if administration.product_code:
        _code(out, 'code', administration.product_code)
        out.append(f'><originalText>{product}</originalText></code>')
    else:
        out.append(f'<code nullFlavor="OTH"><originalText>{product}'
            '</originalText></code>')
    out.append(f'<name>{product}</name>')
    if administration.lot:
        out.append(f'<lotNumberText>{_t(administration.lot)}'
            '</lotNumberText>')
    out.append('</manufacturedMaterial></manufacturedProduct></consumable>')
    if administration.dose_number:
        out.append('<entryRelationship typeCode="SUBJ">')
        _observation(out, Observation(
                DOSE_NUMBER, int(administration.dose_number)))
        out.append('</entryRelationship>')
    out.append('</substanceAdministration>')


def _section(out, section, zone=None):
    code = section.code
    out.append(_section_start(code.code, code.system, code.display,
            section.title))
    _narrative(out, section.narrative)
    for item in section.entries:
        out.append('<entry>')
        if isinstance(item, Observation):
            _observation(out, item, zone)
        elif isinstance(item, Administration):
            _administration(out, item, zone)
        else:
            # An entry that writes itself, such as a laboratory battery
            item.write_entry(out, zone)
        out.append('</entry>')
    out.append('</section></component>')


@lru_cache(maxsize=256)
def _section_start(code, system, display, title):
    return ('<component><section>'
        + _code_start('code', code, system, display, None)
        + f'/><title>{_t(title)}</title>')


def _organization(out, organization, contact=False):
    if organization.identifier:
        _identifier(out, organization.identifier)
    out.append(f'<name>{_t(organization.name)}</name>')
    if contact and organization.telecom:
        out.append(f'<telecom value="{_a(organization.telecom)}"/>')
    address = organization.address if contact else None
    if address:
        out.append('<addr>')
        for tag, value in [
                ('streetAddressLine', address.street),
                ('postalCode', address.postal_code),
                ('city', address.city),
                ('country', address.country),
                ]:
            if value:
                out.append(f'<{tag}>{_t(value)}</{tag}>')
        out.append('</addr>')


def _author(out, header, zone):
    author = header.author
    organization = header.author_organization or header.custodian
    # Nobody is named for a letter whose author is not known: the
    # organization it came from is, when known
    unknown = author is None and header.author_organization is None
    out.append('<author nullFlavor="UNK">' if unknown else '<author>')
    out.append(_time(header.author_time, zone, 'time'))
    out.append('<assignedAuthor>')
    if author is not None:
        _person_ids(out, author)
        if author.role is not None:
            _empty_code(out, 'code', author.role)
        out.append('<assignedPerson>')
        _name(out, author)
        out.append('</assignedPerson>')
    else:
        out.append('<id nullFlavor="UNK"/>')
    if not unknown:
        out.append('<representedOrganization>')
        _organization(out, organization)
        out.append('</representedOrganization>')
    out.append('</assignedAuthor></author>')


def _assigned_entity(out, person, organization=None):
    out.append('<assignedEntity>')
    _person_ids(out, person)
    out.append('<assignedPerson>')
    _name(out, person)
    out.append('</assignedPerson>')
    if organization is not None:
        out.append('<representedOrganization>')
        _organization(out, organization)
        out.append('</representedOrganization>')
    out.append('</assignedEntity>')


def body(sections, zone=None):
    """Return the structured body of the sections, as build writes it: two
    versions whose bodies are equal say the same"""
    out = ['<component><structuredBody>']
    for section in sections or []:
        _section(out, section, zone)
    out.append('</structuredBody></component>')
    return ''.join(out)


def build(header, sections=None, attachment=None):
    "Return the CDA XML bytes of the header and the body"
    patient = header.patient
    zone = header.timezone
    out = [
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        f'<ClinicalDocument xmlns="{NS}" xmlns:xsi="{XSI}">'
        f'<realmCode code="{_a(header.realm)}"/>'
        f'<typeId root="{CDA_TYPE_ID[0]}" extension="{CDA_TYPE_ID[1]}"/>'
        f'<templateId root="{TEMPLATE_ID}"/>'
        f'<id root="{_a(instance_identifier(header.unique_id))}"/>',
        ]
    _empty_code(out, 'code', header.type_code)
    out.append(
        f'<title>{_t(header.title)}</title>'
        f'<effectiveTime value="{timestamp(header.effective_time, zone)}"/>'
        f'<confidentialityCode code="{header.confidentiality}" '
        f'codeSystem="{CONFIDENTIALITY}" '
        f'displayName="{CONFIDENTIALITY_NAMES[header.confidentiality]}"/>'
        f'<languageCode code="{_a(header.language)}"/>'
        f'<setId root="{_a(instance_identifier(header.set_id))}"/>'
        f'<versionNumber value="{header.version:d}"/>'
        '<recordTarget><patientRole>')
    _person_ids(out, patient)
    out.append('<patient>')
    _name(out, patient)
    out.append(
        f'<administrativeGenderCode code="{SEX_CODES.get(patient.sex, "UN")}"'
        f' codeSystem="{ADMINISTRATIVE_GENDER}"/>')
    if patient.birth_date:
        out.append(f'<birthTime value="{timestamp(patient.birth_date)}"/>')
    out.append('</patient></patientRole></recordTarget>')
    _author(out, header, zone)
    if header.data_enterer is not None:
        out.append('<dataEnterer>')
        out.append(_time(header.effective_time, zone, 'time'))
        _assigned_entity(out, header.data_enterer, header.custodian)
        out.append('</dataEnterer>')
    out.append(
        '<custodian><assignedCustodian><representedCustodianOrganization>')
    _organization(out, header.custodian, contact=True)
    out.append(
        '</representedCustodianOrganization></assignedCustodian>'
        '</custodian>')
    if header.legal_authenticator is not None:
        out.append('<legalAuthenticator>')
        out.append(_time(header.effective_time, zone, 'time'))
        out.append('<signatureCode code="S"/>')
        _assigned_entity(out, header.legal_authenticator)
        out.append('</legalAuthenticator>')
    if header.referrer is not None:
        out.append('<participant typeCode="REF">'
            '<associatedEntity classCode="PROV">')
        _person_ids(out, header.referrer)
        out.append('<associatedPerson>')
        _name(out, header.referrer)
        out.append('</associatedPerson></associatedEntity></participant>')
    if header.service_time is not None:
        service_time = header.service_time
        if not isinstance(service_time, Interval):
            service_time = Interval(service_time)
        out.append('<documentationOf><serviceEvent>')
        out.append(_time(service_time, zone))
        out.append('</serviceEvent></documentationOf>')
    if header.replaces:
        out.append(
            '<relatedDocument typeCode="RPLC"><parentDocument>'
            f'<id root="{_a(instance_identifier(header.replaces))}"/>'
            '</parentDocument></relatedDocument>')
    if attachment is not None:
        data = base64.b64encode(attachment.data).decode('ascii')
        out.append(
            f'<component><nonXMLBody><text '
            f'mediaType="{_a(attachment.media_type)}" representation="B64">'
            f'{data}</text></nonXMLBody></component>')
    else:
        out.append(body(sections, zone))
    out.append('</ClinicalDocument>')
    return ''.join(out).encode('utf-8')


def build_tree(header, sections=None, attachment=None):
    "Return the ClinicalDocument element of the header and the body"
    return parse(build(header, sections, attachment)).getroot()


def serialize(tree):
    return etree.tostring(tree, xml_declaration=True, encoding='UTF-8')


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


_NO_DOCTYPE = 'document type declarations are not accepted'
# A DOCTYPE in the prolog, after the XML declaration and comments.  The
# quantifiers are possessive, the prolog read one way only: left to
# backtrack, comments and blanks split in exponentially many ways, and a
# prolog of 40 empty comments took hours to pass, one of 40 kB of blanks
# half a minute.
_DOCTYPE = re.compile(
    rb'^(?:\xef\xbb\xbf)?\s*+(?:<\?xml[^>]*\?>)?+\s*+(?:<!--.*?-->\s*+)*+'
    rb'<!DOCTYPE',
    re.DOTALL)
_SAFE_PARSING = dict(
    resolve_entities=False, load_dtd=False, no_network=True,
    dtd_validation=False, huge_tree=False, remove_comments=True,
    remove_pis=True, collect_ids=False)


def safe_parser(max_size=None):
    """Return a parser that loads no DTD, expands no entity and reaches no
    network, so that a hostile document cannot make it read a file, call a
    server or explode in memory"""
    return etree.XMLParser(**_SAFE_PARSING)


def parse(content):
    "Parse CDA bytes safely; raise etree.XMLSyntaxError when malformed"
    root = etree.fromstring(content, parser=safe_parser())
    if root.getroottree().docinfo.doctype:
        raise etree.XMLSyntaxError(_NO_DOCTYPE, None, 0, 0)
    return root.getroottree()


def _q(path):
    "An ElementTree path in the CDA namespace"
    return '/'.join('{%s}%s' % (NS, p) if p and p[0].isalpha() else p
        for p in path.split('/'))
