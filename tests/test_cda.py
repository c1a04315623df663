# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The CDA builder and reader on their own, without a database"""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from lxml import etree

from health_shared_record import cda, cda_reader, cda_render
from health_shared_record.document import loinc_check_digit

from fuzz import documents
from helpers import require_cda_schema

LABELS = dict.fromkeys(cda_render.LABELS, 'label') | {
    'age': '%(age)s years', 'footer': 'Version %(version)s, %(date)s'}
NASTY = [
    '<script>alert("x")</script> & </ClinicalDocument>',
    'null\x00 bell\x07 escape\x1b vertical\x0b form\x0c',
    '\u202eright-to-left override \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627',
    'surrogate-free astral \U0001f489\U0001f9ec and \ufffe\uffff',
    ']]> <![CDATA[ x ]]>',
    'x' * 10240,
    ]


def header(name='Ana', title='Consult note', replaces=None):
    return cda.Header(
        unique_id='urn:uuid:0b0a3f6e-7d7c-4c41-9a51-6c5f1d2f9a10',
        set_id='urn:uuid:0b0a3f6e-7d7c-4c41-9a51-6c5f1d2f9a10',
        version=1,
        type_code=cda.Code('11488-4', cda.LOINC, 'Consult note'),
        title=title,
        effective_time=dt.datetime(2026, 11, 2, 9, 30),
        confidentiality='N',
        language='fr-FR',
        realm='FR',
        patient=cda.Person(
            [cda.Identifier('1.2.250.1.999.2', 'PUID-1'),
                cda.Identifier('1.2.250.1.213.1.4.8', '280017512345678')],
            given=name, family=name, sex='f',
            birth_date=dt.date(1980, 2, 29)),
        author=cda.Person(
            [cda.Identifier('1.2.250.1.71.4.2.1', '10101010101')],
            given='Claire', family='Martin'),
        author_time=dt.datetime(2026, 11, 2, 10, 0,
            tzinfo=dt.timezone(dt.timedelta(hours=1))),
        custodian=cda.Organization(
            cda.Identifier('1.2.250.1.999.4', 'CLINIC-1'), name),
        replaces=replaces)


def every_section(note):
    return [
        cda.Section(cda.section_code('29299-5'), note,
            [cda.Paragraph(note + '\nsecond line')]),
        cda.Section(cda.section_code('8716-3'), 'Vital signs',
            [cda.Table(['sign', note], [[note, 120]])],
            [cda.Observation(
                    cda.Code('8480-6', cda.LOINC, 'Systolic'),
                    cda.Quantity(120, 'mm[Hg]'), dt.datetime(2026, 1, 1)),
                cda.Observation(
                    cda.Code('8310-5', cda.LOINC, 'Temperature'),
                    cda.Quantity(36.8, 'Cel'))]),
        cda.Section(cda.section_code('11450-4'), 'Problems', [],
            [cda.Observation(
                    cda.Code('55607006', cda.SNOMED, 'Problem'),
                    cda.Code('E11', cda.ICD10, note), dt.date(2020, 1, 1),
                    'active')]),
        cda.Section(cda.section_code('11369-6'), 'Immunizations', [],
            [cda.Administration(
                    note, cda.Code('J07CA02', cda.ATC, note),
                    start=dt.datetime(2026, 10, 3),
                    route=cda.Code('IM', cda.ROUTE_OF_ADMINISTRATION),
                    lot=note, dose_number=2)]),
        cda.Section(cda.section_code('10160-0'), 'Medications', [],
            [cda.Administration(
                    note, mood='INT', status='active',
                    start=dt.date(2026, 1, 1), end=dt.date(2026, 4, 1),
                    period=cda.Quantity(12, 'h'),
                    dose=cda.Quantity(850, 'mg'))]),
        ]


def dated_sections(note):
    "Allergies with their onset, a medication for a duration"
    return [
        cda.Section(cda.section_code('48765-2'), 'Allergies', [],
            [cda.Observation(
                    cda.Code('414285001', cda.SNOMED, 'Allergy to food'),
                    cda.Code('Z91.010', cda.ICD10, note),
                    cda.Interval(None), 'active'),
                cda.Observation(
                    cda.Code('416098002', cda.SNOMED, 'Allergy to drug'),
                    cda.Code('Z88.0', cda.ICD10, note),
                    cda.Interval(dt.date(1990, 1, 1), dt.date(2000, 1, 1)))]),
        cda.Section(cda.section_code('10160-0'), 'Medications', [],
            [cda.Administration(
                    note, mood='INT', status='active',
                    duration=cda.Quantity(7, 'd'),
                    period=cda.Quantity(8, 'h'), institution_specified=True,
                    dose=cda.Quantity(1000, '1'), text=note)]),
        ]


def test_every_kind_of_entry_is_schema_valid():
    schema = require_cda_schema()
    value = header(replaces='1.2.250.1.999.7.1.1')
    value.service_time = dt.datetime(2026, 11, 1, 8, 0)
    value.legal_authenticator = value.author
    value.timezone = ZoneInfo('Europe/Paris')
    content = cda.build(
        value, every_section('note') + dated_sections('note'))
    assert cda.schema_errors(content, schema) == []


def test_non_xml_body_is_schema_valid():
    schema = require_cda_schema()
    content = cda.build(
        header(), attachment=cda.Attachment(b'%PDF-1.4', 'application/pdf'))
    assert cda.schema_errors(content, schema) == []


def test_schema_rejects_a_broken_document():
    schema = require_cda_schema()
    root = cda.build_tree(header(), every_section('note'))
    root.remove(root.find('{urn:hl7-org:v3}custodian'))
    assert cda.schema_errors(cda.serialize(root), schema)


@settings(max_examples=40, deadline=None)
@given(text=st.text())
@example(text=NASTY[0])
@example(text=NASTY[1])
@example(text=NASTY[2])
@example(text=NASTY[3])
@example(text=NASTY[4])
@example(text=NASTY[5])
def test_any_text_gives_valid_xml(text):
    """Whatever people type in names, notes and titles, the document stays
    well-formed and schema-valid, and the text survives where XML allows"""
    content = cda.build(
        header(name=text, title=text),
        every_section(text) + dated_sections(text))
    root = cda.parse(content).getroot()
    expected = cda.text(text)
    assert root.findtext('{urn:hl7-org:v3}title') == expected
    schema = require_cda_schema()
    assert cda.schema_errors(content, schema) == []
    page = cda_render.render_html(content, LABELS)
    etree.fromstring(page, parser=etree.HTMLParser())
    assert b'<script>' not in page


def test_render_html_shows_header_and_narrative():
    content = cda.build(header(name='Ana <b>'), every_section('fatigue & thirst'))
    page = cda_render.render_html(content, LABELS).decode('utf-8')
    assert '<h1>Consult note</h1>' in page
    assert 'Ana &lt;b&gt;' in page
    assert 'fatigue &amp; thirst<br/>second line' in page
    assert '<td>120</td>' in page


def test_the_rendering_is_a_document_a_doctor_would_sign():
    """A letterhead with the institution's address and telephone, the
    author with role and identifier, the patient with sex, birth date,
    age and identifier, a footer with the version; dates as the reader's
    language writes them"""
    value = header()
    value.custodian.telecom = 'tel:+33123456789'
    value.custodian.address = cda.Address(
        '12 rue des Lilas', '75011', 'Paris', 'France')
    value.author.role = cda.Code('GP', '1.2.250.1.999.5', 'General practice')
    value.version = 3
    value.service_time = dt.datetime(2026, 10, 30, 14, 5)
    # The colleague who published attests what the doctor wrote
    value.legal_authenticator = cda.Person(
        [cda.Identifier('1.2.250.1.71.4.2.1', '20202020202')],
        given='Hugo', family='Lefebvre')
    # Who asked for it, such as a laboratory test's requester
    value.referrer = cda.Person(
        [cda.Identifier('1.2.250.1.71.4.2.1', '30303030303')],
        given='Marc', family='Petit')
    plan = cda.Section(cda.section_code('18776-5'), 'Plan', [
            cda.Paragraph('Fasting glucose in a week', 'Notes')])
    content = cda.build(value, every_section('thirst') + [plan])
    assert cda.schema_errors(content, require_cda_schema()) == []
    labels = {name: name for name in cda_render.LABELS} | {
        'age': '%(age)s ans', 'footer': 'Version %(version)s du %(date)s',
        'female': 'femme'}
    page = cda_render.render_html(
        content, labels, cda_render.Formats('%d/%m/%Y')).decode()
    tree = etree.fromstring(page, parser=etree.HTMLParser())
    letterhead = ' '.join(tree.xpath('//header')[0].itertext())
    assert 'Ana' in letterhead
    assert '12 rue des Lilas, 75011 Paris, France' in letterhead
    assert 'telephone +33123456789' in letterhead
    rows = {
        row.findtext('th'): row.findtext('td')
        for row in tree.xpath('//table[@class="header"]/tr')}
    assert rows['patient'] == (
        'Ana Ana, femme, birth_date 29/02/1980 (46 ans), '
        'identifier PUID-1, INS-NIR 280017512345678')
    assert rows['author'] == (
        'Claire Martin, General practice, RPPS 10101010101')
    assert rows['date'] == '30/10/2026 14:05'
    assert rows['attested_by'] == 'Hugo Lefebvre, RPPS 20202020202'
    assert rows['requested_by'] == 'Marc Petit, RPPS 30303030303'
    # The confidentiality in the reader's words, not the code's
    assert rows['confidentiality'] == 'confidentiality_N'
    footer = ' '.join(tree.xpath('//footer')[0].itertext())
    assert 'Version 3 du 02/11/2026 09:30' in footer
    # A paragraph's caption is its heading, not a "Label:" in the text
    assert '<b>Notes</b><br/>Fasting glucose in a week' in page
    # Nothing of the CDA's raw codes in what a reader reads
    assert 'mm[Hg]' not in page and 'Cel' not in ' '.join(tree.itertext())


@pytest.mark.parametrize('payload', [
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM '
        b'"file:///etc/passwd">]><ClinicalDocument>&x;</ClinicalDocument>',
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b'<ClinicalDocument>&c;</ClinicalDocument>',
        ])
def test_parse_refuses_document_type_declarations(payload):
    with pytest.raises(etree.XMLSyntaxError):
        cda.parse(payload)


@pytest.mark.parametrize('code, valid', [
        ('11488-4', True), ('60591-5', True), ('87273-9', True),
        ('57833-6', True), ('11488-5', False), ('34133-9', True)])
def test_loinc_check_digit(code, valid):
    number, check = code.split('-')
    assert (loinc_check_digit(number) == int(check)) is valid


def test_timestamps():
    assert cda.timestamp(dt.date(2026, 2, 3)) == '20260203'
    assert cda.timestamp(dt.datetime(2026, 2, 3, 4, 5, 6)) == (
        '20260203040506+0000')
    assert cda.instance_identifier('urn:uuid:abcdef01-0000-4000-8000-'
        '000000000000') == 'ABCDEF01-0000-4000-8000-000000000000'
    assert cda.instance_identifier('1.2.3') == '1.2.3'


def test_read_content_gives_back_what_build_wrote():
    note = 'Asthme <sévère> & co'
    read = cda_reader.read_content(cda.build(header(), every_section(note)))
    assert read.version == 1
    assert ('1.2.250.1.213.1.4.8', '280017512345678') in read.patient_ids
    assert read.custodian == 'Ana'
    assert read.effective_time == dt.datetime(2026, 11, 2, 9, 30)
    assert [(e.kind, e.name, e.code, e.system, e.start, e.end, e.status,
            e.dose_number, e.lot, e.value, e.unit, e.planned)
        for e in read.entries] == [
        ('vital_sign', 'Systolic', '8480-6', 'LOINC', dt.date(2026, 1, 1),
            None, 'completed', None, None, '120', 'mm[Hg]', False),
        ('vital_sign', 'Temperature', '8310-5', 'LOINC', None, None,
            'completed', None, None, '36.8', 'Cel', False),
        # A French document: ICD-10 is the CIM-10
        ('problem', note, 'E11', 'CIM-10', dt.date(2020, 1, 1), None,
            'active', None, None, None, None, False),
        ('immunization', note, 'J07CA02', 'ATC', dt.date(2026, 10, 3), None,
            'completed', 2, note, None, None, False),
        # Prescribed (INT), not stated as taken
        ('medication', note, None, None, dt.date(2026, 1, 1),
            dt.date(2026, 4, 1), 'active', None, None, None, None, True),
        ]
    assert not any(e.negated for e in read.entries)


def test_read_content_reads_consolidated_cda_concerns():
    "C-CDA wraps each problem in a concern act; times carry a zone"
    content = documents.CONCERNS
    read = cda_reader.read_content(content)
    assert read.effective_time == dt.datetime(2026, 11, 3, 1, 30)
    assert read.entries[0].start_precision == 'year'
    assert read.entries[0].end_precision == 'day'
    assert [(e.kind, e.name, e.code, e.system, e.start, e.end,
            e.dose_number) for e in read.entries] == [
        # Since 2019: kept as a year, not dropped
        ('problem', 'Hypertension', '38341003', 'SNOMED CT',
            dt.date(2019, 1, 1), dt.date(2021, 3, 4), None),
        ('immunization', 'Influenza', '140', 'CVX', None, None, 3),
        ]


@pytest.mark.parametrize('content, message', [
        (b'<?xml version="1.0"?>\n<!-- x -->\n<!DOCTYPE c [<!ENTITY a "b">]>'
            b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>',
            'document type declarations are not accepted'),
        (b'<html/>', 'not a ClinicalDocument'),
        (b'%PDF-1.4', 'Start tag expected'),
        (b'<a>' * 300 + b'</a>' * 300, 'Excessive depth'),
        ])
def test_read_content_refuses_what_it_cannot_read_safely(content, message):
    with pytest.raises(cda_reader.ContentError, match=message):
        cda_reader.read_content(content)


def test_read_content_caps_the_entries():
    section = cda.Section(
        cda.section_code('11450-4'), 'Problems', [],
        [cda.Observation(
                cda.Code('55607006', cda.SNOMED, 'Problem'),
                cda.Code('E11', cda.ICD10, 'Diabetes'))] * 11)
    content = cda.build(header(), [section])
    assert len(cda_reader.read_content(content, max_entries=11).entries) == 11
    with pytest.raises(cda_reader.ContentError, match='more than 10 entries'):
        cda_reader.read_content(content, max_entries=10)


NEGATIONS = b'''<ClinicalDocument xmlns="urn:hl7-org:v3"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><component>
<structuredBody>
<component><section><code code="48765-2" codeSystem="2.16.840.1.113883.6.1"/>
<entry><act classCode="ACT" moodCode="EVN"><statusCode code="active"/>
<entryRelationship typeCode="SUBJ"><observation negationInd="true">
<code code="ASSERTION" codeSystem="2.16.840.1.113883.5.4"/>
<value xsi:type="CD" code="419199007" codeSystem="2.16.840.1.113883.6.96"
 displayName="Allergy to substance"/>
<participant typeCode="CSM"><participantRole><playingEntity>
<code nullFlavor="NA"/></playingEntity></participantRole></participant>
</observation></entryRelationship></act></entry>
<entry><act classCode="ACT" moodCode="EVN"><statusCode code="active"/>
<entryRelationship typeCode="SUBJ"><observation negationInd="true">
<code code="ASSERTION" codeSystem="2.16.840.1.113883.5.4"/>
<value xsi:type="CD" code="419199007" codeSystem="2.16.840.1.113883.6.96"
 displayName="Allergy to substance"/>
<participant typeCode="CSM"><participantRole><playingEntity>
<code code="256349002" displayName="Peanut" codeSystem="2.16.840.1.113883.6.96"/>
</playingEntity></participantRole></participant>
</observation></entryRelationship></act></entry>
</section></component>
<component><section><code code="11450-4" codeSystem="2.16.840.1.113883.6.1"/>
<entry><act classCode="ACT" moodCode="EVN"><statusCode code="completed"/>
<entryRelationship typeCode="SUBJ"><observation negationInd="true">
<code code="55607006" codeSystem="2.16.840.1.113883.6.96"/>
<effectiveTime><low value="201103"/></effectiveTime>
<value xsi:type="CD" code="44054006" displayName="Diabetes mellitus type 2"
 codeSystem="2.16.840.1.113883.6.96"/>
<entryRelationship typeCode="REFR"><observation>
<code code="33999-4" codeSystem="2.16.840.1.113883.6.1"/>
<value xsi:type="CD" code="55561003" codeSystem="2.16.840.1.113883.6.96"/>
</observation></entryRelationship>
</observation></entryRelationship></act></entry>
</section></component>
<component><section><code code="11369-6" codeSystem="2.16.840.1.113883.6.1"/>
<entry><substanceAdministration moodCode="EVN" negationInd="true">
<statusCode code="completed"/><effectiveTime value="20251004"/>
<consumable><manufacturedProduct><manufacturedMaterial>
<code code="141" codeSystem="2.16.840.1.113883.12.292"
 displayName="Influenza, seasonal, injectable"/>
</manufacturedMaterial></manufacturedProduct></consumable>
<entryRelationship typeCode="RSON"><observation>
<templateId root="2.16.840.1.113883.10.20.22.4.53"/>
<code code="PATOBJ" displayName="patient objection"
 codeSystem="2.16.840.1.113883.5.8"/></observation></entryRelationship>
</substanceAdministration></entry>
</section></component>
</structuredBody></component></ClinicalDocument>'''


def test_read_content_never_inverts_a_negation():
    "No known allergy, not allergic to peanuts, no diabetes, flu shot refused"
    read = cda_reader.read_content(NEGATIONS)
    assert [(e.kind, e.name, e.negated, e.status, e.reason, e.start,
            e.start_precision) for e in read.entries] == [
        ('allergy', 'Allergy to substance', True, 'active', None, None,
            None),
        ('allergy', 'Peanut', True, 'active', None, None, None),
        # The status observation speaks over the concern's completed
        ('problem', 'Diabetes mellitus type 2', True, 'active', None,
            dt.date(2011, 3, 1), 'month'),
        ('immunization', 'Influenza, seasonal, injectable', True,
            'completed', 'patient objection', dt.date(2025, 10, 4), 'day'),
        ]


def header_of(content):
    return cda.parse(content).getroot()


def xpath(root, path):
    return root.xpath(path, namespaces={'cda': cda.NS})


def medication(**values):
    section = cda.Section(cda.section_code('10160-0'), 'Medications', [],
        [cda.Administration('Amoxicillin 1 g', mood='INT', **values)])
    content = cda.build(header(), [section])
    assert cda.schema_errors(content, require_cda_schema()) == []
    administration, = xpath(
        header_of(content), '//cda:substanceAdministration')
    return administration


def test_a_dose_without_a_known_unit_is_told_in_text_only():
    "Unit 1 is units of the product: 1000 tablets of Amoxicillin 1 g"
    administration = medication(dose=cda.Quantity(1000, '1'))
    assert xpath(administration, 'cda:doseQuantity') == []
    assert xpath(administration, 'cda:text/text()') == ['1000 1']
    administration = medication(
        dose=cda.Quantity(2, 'tablet'), text='2 tablets')
    assert xpath(administration, 'cda:doseQuantity') == []
    assert xpath(administration, 'cda:text/text()') == ['2 tablets']
    administration = medication(dose=cda.Quantity(1, 'g'))
    assert xpath(administration, 'cda:doseQuantity/@value'
        ' | cda:doseQuantity/@unit') == ['1', 'g']


def test_a_duration_without_an_end_carries_its_number():
    administration = medication(duration=cda.Quantity(7, 'd'))
    assert xpath(administration, 'cda:effectiveTime/cda:width/@value'
        ' | cda:effectiveTime/cda:width/@unit') == ['7', 'd']
    administration = medication(
        start=dt.date(2026, 1, 1), duration=cda.Quantity(7, 'd'))
    assert xpath(administration, 'cda:effectiveTime/cda:low/@value'
        ' | cda:effectiveTime/cda:width/@value') == ['20260101', '7']


@pytest.mark.parametrize('institution_specified, expected', [
        (False, 'false'), (True, 'true')])
def test_intervals_say_whether_they_are_exact(
        institution_specified, expected):
    "Every 8 hours is exact; 3 times a day follows the ward's schedule"
    administration = medication(
        period=cda.Quantity(8, 'h'),
        institution_specified=institution_specified)
    period, = xpath(administration, 'cda:effectiveTime[cda:period]')
    assert period.get('institutionSpecified') == expected


def test_times_are_written_in_the_clinic_zone():
    "trytond's naive UTC times are written in the zone, with its offset"
    paris = ZoneInfo('Europe/Paris')
    value = header()
    value.timezone = paris
    value.author_time = dt.datetime(2026, 11, 2, 9, 30)
    value.legal_authenticator = value.author
    value.service_time = dt.datetime(2026, 7, 1, 22, 30)
    section = cda.Section(cda.section_code('8716-3'), 'Vital signs', [],
        [cda.Observation(cda.Code('8310-5', cda.LOINC, 'Temperature'),
                cda.Quantity(36.8, 'Cel'), dt.datetime(2026, 11, 2, 9, 0))])
    content = cda.build(value, [section])
    assert cda.schema_errors(content, require_cda_schema()) == []
    root = header_of(content)
    assert xpath(root, '/cda:ClinicalDocument/cda:effectiveTime/@value'
        ' | cda:author/cda:time/@value'
        ' | cda:legalAuthenticator/cda:time/@value'
        ' | cda:documentationOf//cda:low/@value'
        ' | //cda:observation/cda:effectiveTime/@value') == [
        '20261102103000+0100', '20261102103000+0100', '20261102103000+0100',
        '20260702003000+0200', '20261102100000+0100']
    assert 'Date</th><td>2026-07-02 00:30' in cda_render.render_html(
        content, LABELS | {'date': 'Date'}).decode()


def test_the_care_date_is_the_service_event():
    value = header()
    value.service_time = cda.Interval(
        dt.datetime(2026, 10, 30, 8, 0), dt.datetime(2026, 10, 30, 8, 30))
    root = header_of(cda.build(value, every_section('note')))
    assert xpath(root, 'cda:effectiveTime/@value') == ['20261102093000+0000']
    assert xpath(root, 'cda:documentationOf/cda:serviceEvent/'
        'cda:effectiveTime/*/@value') == [
        '20261030080000+0000', '20261030083000+0000']


def test_an_uploaded_letter_names_its_author_and_its_enterer():
    schema = require_cda_schema()
    value = header()
    uploader = value.author
    value.author = cda.Person([], full_name='Dr J. Dupont, cardiologue')
    value.author_time = None
    value.author_organization = cda.Organization(None, 'CHU de Nantes')
    value.data_enterer = uploader
    content = cda.build(
        value, attachment=cda.Attachment(b'%PDF-1.4', 'application/pdf'))
    assert cda.schema_errors(content, schema) == []
    root = header_of(content)
    assert xpath(root, 'cda:author/cda:time/@nullFlavor') == ['UNK']
    assert xpath(root, 'cda:author//cda:assignedPerson/cda:name/text()'
        ' | cda:author//cda:representedOrganization/cda:name/text()') == [
        'Dr J. Dupont, cardiologue', 'CHU de Nantes']
    assert xpath(root, 'cda:dataEnterer//cda:family/text()') == ['Martin']


def test_an_unknown_author_is_said_unknown():
    schema = require_cda_schema()
    value = header()
    value.author = None
    content = cda.build(
        value, attachment=cda.Attachment(b'%PDF-1.4', 'application/pdf'))
    assert cda.schema_errors(content, schema) == []
    author, = xpath(header_of(content), 'cda:author')
    assert author.get('nullFlavor') == 'UNK'
    assert xpath(author, './/cda:assignedPerson') == []
    assert xpath(author, 'cda:assignedAuthor/cda:id/@nullFlavor') == ['UNK']
    value.author_organization = cda.Organization(None, 'CHU de Nantes')
    author, = xpath(header_of(cda.build(value, [])), 'cda:author')
    assert author.get('nullFlavor') is None
    assert xpath(author, './/cda:name/text()') == ['CHU de Nantes']


def test_a_problem_has_its_onset_and_end():
    section = cda.Section(cda.section_code('48765-2'), 'Allergies', [],
        [cda.Observation(cda.Code('416098002', cda.SNOMED, 'Allergy to drug'),
                cda.Code('Z88.0', cda.ICD10, 'Penicillin'),
                cda.Interval(dt.date(1990, 5, 1)), 'active'),
            cda.Observation(cda.Code('416098002', cda.SNOMED, 'Allergy'),
                cda.Code('Z88.1', cda.ICD10, 'Other'), cda.Interval())])
    root = header_of(cda.build(header(), [section]))
    first, second = xpath(root, '//cda:observation/cda:effectiveTime')
    assert xpath(first, 'cda:low/@value') == ['19900501']
    assert xpath(first, 'cda:high') == []
    assert xpath(second, 'cda:low/@nullFlavor') == ['UNK']


@pytest.mark.parametrize('unit, display', [
        ('Cel', '°C'), ('mm[Hg]', 'mmHg'), ('/min', '/min'), ('kg', 'kg'),
        ('cm', 'cm'), ('%', '%'), ('kg/m2', 'kg/m²')])
def test_units_as_people_read_them(unit, display):
    assert cda.unit_display(unit) == display


@pytest.mark.parametrize('media_type, shown', [
        ('application/pdf', '<embed type="application/pdf"'),
        ('image/png', '<img '),
        ('text/html', None),
        ('image/svg+xml', None),
        ])
def test_the_rendering_embeds_only_files_that_run_no_script(
        media_type, shown):
    content = cda.build(header(), attachment=cda.Attachment(
            b'<svg onload="alert(1)"><script>alert(1)</script></svg>',
            media_type))
    page = cda_render.render_html(content, LABELS).decode()
    if shown:
        assert shown in page
    else:
        assert 'data:' not in page and '<embed' not in page
