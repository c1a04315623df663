# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What the CDA reader is fuzzed with, and what it must do with it.

Seed documents come from cda.build; structure-aware mutations bend them the
way a careless or hostile clinic would (elements dropped, copied, moved,
nested deep, renamed; attributes and texts replaced by odd values; prologs,
encodings and bytes tampered with).  Whatever comes out, read() checks the
reader's promise: a Content that keeps its types, or a ContentError.

The choices come from a chooser: hypothesis' draws in tests/test_fuzz.py,
a seeded random generator (Dice) in the atheris harness cda_reader.py.
"""
import copy
import datetime as dt
import random

from lxml import etree

from health_shared_record import cda, cda_reader, cda_render

V3 = '{urn:hl7-org:v3}'
XSI = 'http://www.w3.org/2001/XMLSchema-instance'
LABELS = dict.fromkeys(cda_render.LABELS, 'label') | {
    'age': '%(age)s years', 'footer': 'Version %(version)s, %(date)s'}

# What HL7 timestamps, integers and codes look like when they go wrong
ODD_VALUES = [
    '', ' ', '20261340', '2026-02-30', '20260230', '20260229', '2026',
    '202611', '20261102', '2026110209', '20261102093',
    '20261102093000+9999', '20261102093000-9999', '00010101000000+0100',
    '000101010000+9999', '00010101', '99991231235959-9999',
    '999912312359-0001', '99991231', '00000000',
    '99999999999999999999', '20261102093000.123+0100', '20261102093000+01',
    '20261102T093000', '-20261102', '\u00b2\u00b9\u2070\u2076',
    '\u0662\u0660\u0662\u0666\u0661\u0661\u0660\u0662', '\uff12\uff10',
    '\u00b2', '\u00b3', '\u0663', '\uff13', '-1', '0', '3', '999', '1000',
    '9' * 40, '1e3', '1_0', ' 2', '+2', '0x10', 'NaN', '\u2028',
    '11450-4', '48765-2', '10160-0', '11369-6', '30973-2', '8716-3',
    cda.ICD10, cda.SNOMED, cda.ATC, cda.LOINC, 'E11', 'J07BB', 'UNK',
    '<&>"\'', ']]>', '\ufffd', 'x' * 300,
    ]
# Elements a reader expects, put where it does and where it does not; a
# ? is replaced by an odd value
SNIPPETS = [
    '<repeatNumber value="?"/>',
    '<effectiveTime value="?"/>',
    '<effectiveTime><low value="?"/><high value="?"/></effectiveTime>',
    '<entryRelationship typeCode="SUBJ"><observation classCode="OBS" '
    'moodCode="EVN"><code code="30973-2" codeSystem="2.16.840.1.113883.6.1"'
    '/><value xsi:type="INT" value="?"/></observation></entryRelationship>',
    '<versionNumber value="?"/>',
    '<value xsi:type="CD" code="?" codeSystem="?" displayName="?"/>',
    '<value xsi:type="ST">?</value>',
    '<code code="?" codeSystem="?"><originalText>?</originalText></code>',
    '<statusCode code="?"/>',
    '<id root="?" extension="?"/>',
    '<title>?</title>',
    '<entry><act><entryRelationship><observation><value code="?" '
    'displayName="?"/></observation></entryRelationship></act></entry>',
    '<entry><substanceAdministration><consumable><manufacturedProduct>'
    '<manufacturedMaterial><name>?</name><lotNumberText>?</lotNumberText>'
    '</manufacturedMaterial></manufacturedProduct></consumable>'
    '</substanceAdministration></entry>',
    '<component><section><code code="?"/><entry><observation><value '
    'code="?" displayName="?"/></observation></entry></section></component>',
    '<section xmlns=""><code code="11450-4"/>?</section>',
    '<other:section xmlns:other="urn:other"><code code="?"/></other:section>',
    ]
TAGS = [
    'ClinicalDocument', 'component', 'structuredBody', 'section', 'entry',
    'act', 'observation', 'substanceAdministration', 'entryRelationship',
    'consumable', 'manufacturedProduct', 'manufacturedMaterial', 'code',
    'value', 'effectiveTime', 'low', 'high', 'repeatNumber', 'title',
    'text', 'paragraph', 'table', 'tr', 'td', 'br', 'nonXMLBody',
    ]
ATTRIBUTES = [
    'value', 'code', 'codeSystem', 'displayName', 'root', 'extension',
    'nullFlavor', 'mediaType', f'{{{XSI}}}type', 'moodCode', 'classCode']
COUNTS = [1, 2, 3, 40]
DEPTHS = [2, 30, 300]
# Beyond this many elements, copies stop multiplying: the cases that need
# huge documents are built on purpose in test_fuzz.py
MAX_GROWTH = 20000
PROLOGS = [
    b'\xef\xbb\xbf', b' \n\t', b'<!-- a comment -->\n' * 3, b'<?pi x?>',
    b'<!---->' * 40, b' ' * 4096, b'<!DOCTYPE ClinicalDocument>',
    b'<!-- x --><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    b'<?pi x?><!DOCTYPE d [<!ENTITY a SYSTEM "file:///etc/passwd">]>',
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
    b'<?xml version="1.1"?>', b'<?xml version="1.0" encoding="bogus"?>',
    ]
ENCODINGS = ['UTF-16', 'UTF-16LE', 'UTF-32', 'ISO-8859-1', 'ASCII', 'bogus']


class Dice:
    "Choices from a seeded random generator, for the atheris harness"

    def __init__(self, seed):
        self.random = random.Random(seed)

    def integer(self, low, high):
        return self.random.randint(low, high)

    def pick(self, values):
        return self.random.choice(values)

    def text(self):
        if self.random.random() < 0.7:
            return self.random.choice(ODD_VALUES)
        return ''.join(
            chr(self.random.choice([
                        self.random.randint(0x20, 0x7e),
                        self.random.randint(0, 0x10ffff)]))
            for _ in range(self.random.randint(0, 12)))

    def binary(self):
        return self.random.randbytes(self.random.randint(1, 16))


def _header(replaces=None):
    return cda.Header(
        unique_id='urn:uuid:0b0a3f6e-7d7c-4c41-9a51-6c5f1d2f9a10',
        set_id='urn:uuid:0b0a3f6e-7d7c-4c41-9a51-6c5f1d2f9a10',
        version=2,
        type_code=cda.Code('11488-4', cda.LOINC, 'Consult note'),
        title='Consult note', effective_time=dt.datetime(2026, 11, 2, 9, 30),
        confidentiality='N', language='fr-FR', realm='FR',
        patient=cda.Person(
            [cda.Identifier('1.2.250.1.213.1.4.8', '280017512345678')],
            given='Ana', family='Lopez', sex='f',
            birth_date=dt.date(1980, 2, 29)),
        author=cda.Person(
            [cda.Identifier('1.2.250.1.71.4.2.1', '10101010101')],
            given='Claire', family='Martin'),
        author_time=dt.datetime(
            2026, 11, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        custodian=cda.Organization(
            cda.Identifier('1.2.250.1.999.4', 'CLINIC-1'), 'Clinic'),
        replaces=replaces)


def _sections(copies=1):
    problem = cda.Observation(
        cda.Code('55607006', cda.SNOMED, 'Problem'),
        cda.Code('E11', cda.ICD10, 'Diabetes'), dt.date(2020, 1, 1), 'active')
    allergy = cda.Observation(
        cda.Code('420134006', cda.SNOMED, 'Allergy'), 'Penicillin')
    vaccine = cda.Administration(
        'Influenza vaccine', cda.Code('J07BB02', cda.ATC, 'Influenza'),
        start=dt.datetime(2025, 10, 20),
        route=cda.Code('IM', cda.ROUTE_OF_ADMINISTRATION), lot='L-42',
        dose_number=1)
    medication = cda.Administration(
        'Metformin', cda.Code('A10BA02', cda.ATC, 'Metformin'), mood='INT',
        status='active', start=dt.date(2026, 1, 1), end=dt.date(2026, 4, 1),
        period=cda.Quantity(12, 'h'), dose=cda.Quantity(850, 'mg'))
    return [
        cda.Section(cda.section_code('29299-5'), 'Reason for visit',
            [cda.Paragraph('Fatigue\nand thirst')]),
        cda.Section(cda.section_code('8716-3'), 'Vital signs',
            [cda.Table(['sign', 'value'], [['Systolic', 120]])],
            [cda.Observation(
                    cda.Code('8480-6', cda.LOINC, 'Systolic'),
                    cda.Quantity(120, 'mm[Hg]'), dt.datetime(2026, 1, 1))]),
        cda.Section(
            cda.section_code('11450-4'), 'Problems', [], [problem] * copies),
        cda.Section(
            cda.section_code('48765-2'), 'Allergies', [], [allergy] * copies),
        cda.Section(
            cda.section_code('11369-6'), 'Immunizations', [],
            [vaccine] * copies),
        cda.Section(
            cda.section_code('10160-0'), 'Medications', [],
            [medication] * copies),
        ]


# A consolidated CDA (C-CDA) document: concerns wrap their observations in
# acts, the dose number is a repeatNumber and times carry a zone
CONCERNS = (
    '<ClinicalDocument xmlns="urn:hl7-org:v3" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    '<recordTarget><patientRole><id root="1.2.250.1.213.1.4.8" '
    'extension="280017512345678"/></patientRole></recordTarget>'
    '<title>Summary</title><versionNumber value="3"/>'
    '<effectiveTime value="20261102233000-0200"/>'
    '<component><structuredBody><component><section>'
    '<code code="11450-4" codeSystem="2.16.840.1.113883.6.1"/>'
    '<entry><act classCode="ACT" moodCode="EVN">'
    '<entryRelationship typeCode="SUBJ"><observation>'
    '<effectiveTime><low value="2019"/><high value="20210304"/>'
    '</effectiveTime>'
    '<value xsi:type="CD" code="38341003" '
    'codeSystem="2.16.840.1.113883.6.96" displayName="Hypertension"/>'
    '</observation></entryRelationship></act></entry>'
    '</section></component><component><section>'
    '<code code="11369-6" codeSystem="2.16.840.1.113883.6.1"/>'
    '<entry><substanceAdministration><repeatNumber value="3"/>'
    '<consumable><manufacturedProduct><manufacturedMaterial>'
    '<code code="140" codeSystem="2.16.840.1.113883.12.292">'
    '<originalText>Influenza</originalText></code>'
    '</manufacturedMaterial></manufacturedProduct></consumable>'
    '</substanceAdministration></entry>'
    '</section></component></structuredBody></component>'
    '</ClinicalDocument>').encode()


def seeds():
    "Documents of every shape the reader accepts"
    return [
        cda.build(_header(), _sections()),
        cda.build(_header(replaces='1.2.250.1.999.7.1.1'), _sections(5)),
        cda.build(_header(), attachment=cda.Attachment(
                b'%PDF-1.4', 'application/pdf')),
        CONCERNS,
        ]


def _elements(root):
    return list(root.iter(etree.Element))


def _drop(root, choose):
    element = choose.pick(_elements(root))
    if element is not root:
        element.getparent().remove(element)


def _duplicate(root, choose):
    element = choose.pick(_elements(root))
    count = choose.pick(COUNTS)
    if element is root or len(_elements(root)) * count > MAX_GROWTH:
        return
    parent = element.getparent()
    index = parent.index(element)
    for _ in range(count):
        parent.insert(index, copy.deepcopy(element))


def _move(root, choose):
    elements = _elements(root)
    element, target = choose.pick(elements), choose.pick(elements)
    if element is root or target is element or any(
            a is element for a in target.iterancestors()):
        return
    target.insert(choose.integer(0, len(target)), element)


def _reorder(root, choose):
    parent = choose.pick(_elements(root))
    children = list(parent)
    if len(children) > 1:
        turn = choose.integer(1, len(children) - 1)
        parent[:] = children[turn:] + children[:turn][::-1]


def _set_attribute(root, choose):
    element = choose.pick(_elements(root))
    element.set(choose.pick(ATTRIBUTES), cda.text(choose.text()))


def _replace_value(root, choose):
    "Replace a value the document has, where the reader will look for it"
    valued = [e for e in _elements(root) if e.attrib]
    if valued:
        element = choose.pick(valued)
        element.set(
            choose.pick(sorted(element.attrib)), cda.text(choose.text()))


def _set_text(root, choose):
    element = choose.pick(_elements(root))
    element.text = cda.text(choose.text())


def _insert(root, choose):
    snippet = etree.fromstring(
        f'<w xmlns="urn:hl7-org:v3" xmlns:xsi="{XSI}">'
        f'{choose.pick(SNIPPETS)}</w>')[0]
    for element in snippet.iter(etree.Element):
        if element.text == '?':
            element.text = cda.text(choose.text())
        for name, value in element.attrib.items():
            if value == '?':
                element.set(name, cda.text(choose.text()))
    target = choose.pick(_elements(root))
    target.insert(choose.integer(0, len(target)), snippet)


def _nest(root, choose):
    element = choose.pick(_elements(root))
    if element is root:
        return
    outer = inner = etree.Element(V3 + choose.pick(TAGS))
    for _ in range(choose.pick(DEPTHS) - 1):
        inner = etree.SubElement(inner, V3 + choose.pick(TAGS))
    element.addprevious(outer)
    inner.append(element)


def _rename(root, choose):
    element = choose.pick(_elements(root))
    element.tag = choose.pick([V3, '', '{urn:other}']) + choose.pick(TAGS)


TREE_MUTATIONS = [
    _drop, _duplicate, _move, _reorder, _set_attribute, _replace_value,
    _replace_value, _set_text, _insert, _nest, _rename]


def _intact(data, choose):
    return data


def _prolog(data, choose):
    return choose.pick(PROLOGS) + data


def _truncate(data, choose):
    return data[:choose.integer(0, len(data))]


def _splice(data, choose):
    at = choose.integer(0, len(data))
    return data[:at] + choose.binary() + data[at:]


def _encode(data, choose):
    "Declare another encoding, and use it or not"
    encoding = choose.pick(ENCODINGS)
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>'
    text = data.decode('utf-8', 'replace')
    if choose.pick([True, False]) and encoding != 'bogus':
        return (declaration + text).encode(encoding, 'replace')
    return declaration.encode() + data


BYTE_MUTATIONS = [
    _intact, _intact, _intact, _prolog, _truncate, _splice, _encode]


def mutate(document, choose, rounds=4):
    """Bend a document with up to rounds tree mutations then one byte
    mutation; raise etree.XMLSyntaxError when document is not XML"""
    root = etree.fromstring(document, parser=cda.safe_parser())
    for _ in range(choose.integer(0, rounds)):
        choose.pick(TREE_MUTATIONS)(root, choose)
    data = etree.tostring(root, encoding='UTF-8')
    if choose.pick([True, False]):
        data = b'<?xml version="1.0" encoding="UTF-8"?>\n' + data
    return choose.pick(BYTE_MUTATIONS)(data, choose)


def read(data):
    """Read data as a document received from another clinic: return its
    Content, or None when the reader refused it with a ContentError.  Any
    other exception, or a Content that breaks the reader's promises, is a
    bug (an AssertionError here)."""
    try:
        content = cda_reader.read_content(data)
    except cda_reader.ContentError as error:
        assert str(error), 'a refusal must say why'
        return None
    assert isinstance(content.title, str)
    assert isinstance(content.custodian, str)
    assert type(content.version) is int and content.version >= 0
    assert content.effective_time is None or isinstance(
        content.effective_time, dt.date)
    assert all(
        isinstance(root, (str, type(None))) for root, _ in content.patient_ids)
    assert len(content.entries) <= cda_reader.MAX_ENTRIES
    for entry in content.entries:
        assert entry.kind in cda_reader.ENTRY_SECTIONS.values()
        assert entry.name and isinstance(entry.name, str)
        for date in [entry.start, entry.end]:
            assert date is None or type(date) is dt.date, date
        assert entry.dose_number is None or 0 <= entry.dose_number < 1000
    # What the reader accepts is stored and shown to the doctor
    page = cda_render.render_html(data, LABELS)
    etree.fromstring(page, parser=etree.HTMLParser())
    return content
