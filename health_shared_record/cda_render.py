# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""A CDA document as a person reads it: one self-contained HTML page with
the letterhead of the institution that keeps it, who wrote it and for
whom, its sections, and a footer with its version, as a doctor would sign
it.  Whatever the document says is text: no markup from it survives."""
import datetime as dt
import html

from lxml import etree

from .cda import CONFIDENTIALITY_NAMES, _q, parse

# Identifier systems a reader knows by name
IDENTIFIER_NAMES = {
    '1.2.250.1.71.4.2.1': 'RPPS',
    '1.2.250.1.213.1.4.8': 'INS-NIR',
    '1.2.250.1.213.1.4.9': 'INS-NIA',
    '1.2.250.1.213.1.4.10': 'INS-NIR',
    '1.2.250.1.213.1.4.11': 'INS-NIA',
    '2.16.840.1.113883.4.6': 'NPI',
    '2.16.840.1.113883.4.1': 'SSN',
    }

# The files from outside a page shows: none can run a script
BITMAPS = {'image/png', 'image/jpeg', 'image/gif'}

STYLE = (
    'body{font-family:sans-serif;margin:2em;max-width:60em;color:#222}'
    'header.letterhead{border-bottom:2px solid #555;margin-bottom:1em;'
    'padding-bottom:.5em}'
    'header.letterhead .institution{font-size:1.3em;font-weight:bold}'
    'table{border-collapse:collapse;margin:.5em 0}'
    'td,th{border:1px solid #999;padding:.2em .5em;text-align:left;'
    'vertical-align:top}'
    'table.header td,table.header th{border:none}'
    'h2{border-bottom:1px solid #999}'
    'footer{margin-top:2em;border-top:1px solid #999;font-size:.85em;'
    'color:#555}'
    '@media print{footer{position:fixed;bottom:0;width:100%}'
    'body{margin:1cm 1cm 2cm}}')

# The labels a page needs, by the name render_html's labels give them
LABELS = [
    'patient', 'birth_date', 'author', 'custodian', 'date', 'type',
    'confidentiality', 'identifier', 'female', 'male', 'age', 'footer',
    'telephone', 'attested_by', 'requested_by', 'confidentiality_N',
    'confidentiality_R', 'confidentiality_V']


def confidentiality(code, labels):
    "The confidentiality of code in the reader's words"
    return labels.get(f'confidentiality_{code}') or CONFIDENTIALITY_NAMES.get(
        code, '')


def narrative_html(element):
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
        if not isinstance(child.tag, str):
            # A comment or a processing instruction says nothing
            if child.tail:
                parts.append(html.escape(child.tail))
            continue
        name = etree.QName(child).localname
        tag = tags.get(name, 'span')
        if tag == 'br':
            parts.append('<br/>')
        elif name == 'caption':
            # A paragraph's heading, on a line of its own
            parts.append(f'<b>{narrative_html(child)}</b><br/>')
        else:
            parts.append(f'<{tag}>{narrative_html(child)}</{tag}>')
        if child.tail:
            parts.append(html.escape(child.tail))
    return ''.join(parts)


def written_time(value):
    """Return a TS as the date or naive datetime it writes, in the
    zone it is written in, or None"""
    digits = value[:14]
    if len(digits) >= 12 and digits[:12].isdigit():
        try:
            return dt.datetime(
                int(digits[0:4]), int(digits[4:6]), int(digits[6:8]),
                int(digits[8:10]), int(digits[10:12]))
        except ValueError:
            return None
    if len(value) >= 8 and value[:8].isdigit():
        try:
            return dt.date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
        except ValueError:
            return None
    return None


class Formats:
    """How the reader's language writes dates: strftime patterns, such
    as trytond's ir.lang date format; ISO when none is given"""

    def __init__(self, date='%Y-%m-%d', time='%H:%M'):
        self.date_pattern = date
        self.time_pattern = time

    def date(self, value):
        return value.strftime(self.date_pattern)

    def ts(self, value):
        "A TS as the language writes it; the raw value if it is not one"
        moment = written_time(value)
        if moment is None:
            return value
        if isinstance(moment, dt.datetime):
            return moment.strftime(
                f'{self.date_pattern} {self.time_pattern}')
        return self.date(moment)


def _age(birth, on):
    return on.year - birth.year - (
        (on.month, on.day) < (birth.month, birth.day))


def render_html(content, labels, formats=None):
    """Return a readable, self-contained HTML page of a CDA document.

    labels maps the fixed words of the page (LABELS) to the reader's
    language; formats writes its dates."""
    formats = formats or Formats()
    root = parse(content).getroot()
    escape = html.escape

    def find(path):
        return root.find(_q(path))

    def find_text(path):
        return ' '.join((root.findtext(_q(path)) or '').split())

    def find_attr(path, attribute):
        element = find(path)
        return element.get(attribute, '') if element is not None else ''

    def name(element):
        if element is None:
            return ''
        parts = [
            ' '.join((e.text or '').split()) for e in element
            if isinstance(e.tag, str)
            and etree.QName(e).localname in {'prefix', 'given', 'family'}]
        return ' '.join(filter(None, parts)) or ' '.join(
            ''.join(element.itertext()).split())

    def identifiers(element):
        found = []
        for identifier in element.iterfind(_q('id')):
            extension = identifier.get('extension')
            if not extension:
                continue
            system = IDENTIFIER_NAMES.get(identifier.get('root', ''))
            found.append(f'{system} {extension}' if system else extension)
        return ', '.join(found)

    def code_name(element):
        if element is None:
            return ''
        return element.get('displayName') or ' '.join(
            (element.findtext(_q('originalText')) or '').split())

    title = find_text('title')
    parts = [
        '<!DOCTYPE html><html><head><meta charset="utf-8"/>',
        f'<title>{escape(title)}</title><style>{STYLE}</style></head><body>',
        ]
    parts.append(_letterhead(root, labels, escape))
    parts.append(f'<h1>{escape(title)}</h1><table class="header">')

    role = find('recordTarget/patientRole')
    patient = [name(find('recordTarget/patientRole/patient/name'))]
    sex = find_attr(
        'recordTarget/patientRole/patient/administrativeGenderCode', 'code')
    if sex in {'F', 'M'}:
        patient.append(labels['female' if sex == 'F' else 'male'])
    birth = written_time(find_attr(
            'recordTarget/patientRole/patient/birthTime', 'value'))
    written = written_time(find_attr('effectiveTime', 'value'))
    if birth is not None:
        born = f'{labels["birth_date"]} {formats.date(birth)}'
        if written is not None:
            on = (written.date() if isinstance(written, dt.datetime)
                else written)
            born += ' (' + labels['age'] % {'age': _age(birth, on)} + ')'
        patient.append(born)
    if role is not None and identifiers(role):
        patient.append(f'{labels["identifier"]} {identifiers(role)}')
    rows = [(labels['patient'], ', '.join(filter(None, patient)))]

    author = find('author/assignedAuthor')
    if author is not None:
        person = name(author.find(_q('assignedPerson/name')))
        described = [person, code_name(author.find(_q('code')))]
        if person and identifiers(author):
            described.append(identifiers(author))
        organization = name(author.find(_q('representedOrganization/name')))
        custodian = find_text(
            'custodian/assignedCustodian/representedCustodianOrganization/'
            'name')
        if organization and organization != custodian:
            described.append(organization)
        rows.append((labels['author'], ', '.join(filter(None, described))))
    attester = find('legalAuthenticator/assignedEntity')
    if attester is not None:
        attester_name = name(attester.find(_q('assignedPerson/name')))
        if attester_name and (author is None or attester_name != name(
                    author.find(_q('assignedPerson/name')))):
            rows.append((labels['attested_by'], ', '.join(filter(None, [
                                attester_name, identifiers(attester)]))))
    referrer = find('participant[@typeCode="REF"]/associatedEntity')
    if referrer is not None:
        rows.append((labels['requested_by'], ', '.join(filter(None, [
                            name(referrer.find(_q('associatedPerson/name'))),
                            identifiers(referrer)]))))
    rows.extend([
        (labels['date'], formats.ts(
                find_attr('documentationOf/serviceEvent/effectiveTime/low',
                    'value')
                or find_attr('documentationOf/serviceEvent/effectiveTime',
                    'value')
                or find_attr('effectiveTime', 'value'))),
        (labels['type'], code_name(find('code'))),
        (labels['confidentiality'], confidentiality(
                find_attr('confidentialityCode', 'code'), labels)),
        ])
    for label, value in rows:
        if value:
            parts.append(
                f'<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>')
    parts.append('</table>')
    for section in root.iterfind(_q(
                'component/structuredBody/component/section')):
        parts.append(_section(section, escape))
    non_xml = find('component/nonXMLBody/text')
    if non_xml is not None:
        # Only what cannot run a script is embedded: a PDF, a bitmap
        media_type = non_xml.get('mediaType', '')
        data = escape(''.join((non_xml.text or '').split()))
        source = f'data:{media_type};base64,{data}'
        if media_type in BITMAPS:
            parts.append(f'<img style="max-width:100%" src="{source}"/>')
        elif media_type == 'application/pdf':
            parts.append(
                f'<embed type="application/pdf" src="{source}" '
                'style="width:100%;height:80vh"/>')
    footer = labels['footer'] % {
        'version': find_attr('versionNumber', 'value') or '1',
        'date': formats.ts(find_attr('effectiveTime', 'value')),
        }
    parts.append(
        f'<footer><span class="version">{escape(footer)}</span> · '
        f'{escape(labels["identifier"])} '
        f'<span class="identifier">{escape(find_attr("id", "root"))}'
        f'{escape(find_attr("id", "extension"))}</span></footer>')
    parts.append('</body></html>')
    return ''.join(parts).encode('utf-8')


def _letterhead(root, labels, escape):
    "The institution that keeps the document: name, address, telephone"
    organization = root.find(_q(
            'custodian/assignedCustodian/representedCustodianOrganization'))
    if organization is None:
        return ''
    lines = [
        '<header class="letterhead"><div class="institution">'
        + escape(' '.join(
                (organization.findtext(_q('name')) or '').split()))
        + '</div>']
    address = organization.find(_q('addr'))
    if address is not None:
        pieces = {}
        for element in address:
            if isinstance(element.tag, str):
                pieces.setdefault(etree.QName(element).localname, []).append(
                    ' '.join((element.text or '').split()))
        street = ', '.join(pieces.get('streetAddressLine', []))
        town = ' '.join(filter(None, [
                    ' '.join(pieces.get('postalCode', [])),
                    ' '.join(pieces.get('city', []))]))
        text = ', '.join(filter(None, [
                    street, town, ' '.join(pieces.get('country', []))]))
        if not text:
            text = ' '.join(''.join(address.itertext()).split())
        if text:
            lines.append(f'<div class="address">{escape(text)}</div>')
    for telecom in organization.iterfind(_q('telecom')):
        value = telecom.get('value', '')
        if value.startswith('tel:'):
            lines.append(
                f'<div class="telephone">{escape(labels["telephone"])} '
                f'{escape(value[4:])}</div>')
        elif value.startswith('mailto:'):
            lines.append(f'<div class="mail">{escape(value[7:])}</div>')
    lines.append(
        f'<div class="custodian">{escape(labels["custodian"])}</div>')
    lines.append('</header>')
    return ''.join(lines)


def _section(section, escape):
    parts = [
        '<h2>' + escape(' '.join(
                (section.findtext(_q('title')) or '').split())) + '</h2>']
    narrative = section.find(_q('text'))
    if narrative is not None:
        parts.append(f'<div>{narrative_html(narrative)}</div>')
    for component in section.iterfind(_q('component/section')):
        parts.append(_section(component, escape).replace('<h2>', '<h3>', 1)
            .replace('</h2>', '</h3>', 1))
    return ''.join(parts)
