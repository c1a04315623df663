# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Reading the CDA documents other clinics publish, safely, into plain data.

Nothing here touches the ORM: the fetch stores what read_content returns.
"""
import datetime as dt
import re
from dataclasses import dataclass
from typing import Optional

from lxml import etree

from .cda import (
    ATC, DOSE_NUMBER, ICD10, LOINC, NS, SNOMED, _DOCTYPE, _NO_DOCTYPE,
    _SAFE_PARSING, _q)


# Reading the documents other clinics publish: the sections whose entries
# become data in the patient's shared record, and what they hold
ENTRY_SECTIONS = {
    '11450-4': 'problem',
    '48765-2': 'allergy',
    '10160-0': 'medication',
    '11369-6': 'immunization',
    }
CODE_SYSTEMS = {
    ICD10: 'ICD-10',
    SNOMED: 'SNOMED CT',
    ATC: 'ATC',
    LOINC: 'LOINC',
    '2.16.840.1.113883.12.292': 'CVX',
    }
# A document may carry at most this many entries
MAX_ENTRIES = 5000
# and this many elements and attributes, twice what as many entries of
# every kind take with their narrative: libxml2 spends some 120 bytes on
# an element, 230 on an attribute, and 20 MB of empty elements took 600 MB
MAX_NODES = 50 * MAX_ENTRIES


@dataclass
class Entry:
    "A problem, allergy, medication or immunization read from a document"
    kind: str
    name: str
    code: Optional[str] = None
    system: Optional[str] = None
    start: Optional[dt.date] = None
    end: Optional[dt.date] = None
    status: Optional[str] = None
    dose_number: Optional[int] = None
    lot: Optional[str] = None


@dataclass
class Content:
    "What a received CDA document says of itself"
    title: str
    effective_time: Optional[dt.datetime]
    version: int
    patient_ids: set
    custodian: str
    entries: list


class ContentError(ValueError):
    "The bytes are not a CDA document this module accepts"


def read_ts(value):
    "The datetime (UTC, naive) or date of an HL7 TS, None if unreadable"
    if not value or len(value) < 8 or not value[:8].isdigit():
        return None
    try:
        if len(value) < 12:
            return dt.date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
        digits = value[:14].ljust(14, '0')
        moment = dt.datetime(
            int(digits[0:4]), int(digits[4:6]), int(digits[6:8]),
            int(digits[8:10]), int(digits[10:12]), int(digits[12:14]))
        zone = re.search(r'([+-])(\d{2})(\d{2})$', value[12:])
        if zone:
            offset = dt.timedelta(
                hours=int(zone.group(2)), minutes=int(zone.group(3)))
            moment -= offset if zone.group(1) == '+' else -offset
        return moment
    except (ValueError, OverflowError):
        # OverflowError: a zone that moves the time out of years 1-9999
        return None


def _date(value):
    moment = read_ts(value)
    return moment.date() if isinstance(moment, dt.datetime) else moment


def _coded(element):
    "name, code, system of a CD element (its originalText when uncoded)"
    if element is None:
        return None, None, None
    code = element.get('code')
    system = element.get('codeSystem')
    name = (element.get('displayName')
        or (element.findtext(_q('originalText')) or '').strip() or code)
    return name, code, CODE_SYSTEMS.get(system, system) if code else None


def _times(element):
    "start and end dates of an act's effectiveTime"
    start = end = None
    for time in element.iterfind(_q('effectiveTime')):
        if time.get('value'):
            start = start or _date(time.get('value'))
        low, high = time.find(_q('low')), time.find(_q('high'))
        if low is not None:
            start = start or _date(low.get('value'))
        if high is not None:
            end = end or _date(high.get('value'))
    return start, end


def _observation_entry(kind, observation):
    value = None
    for candidate in observation.iterfind(_q('value')):
        value = candidate
        break
    name, code, system = _coded(value)
    if not name:
        name = (value.text or '').strip() if value is not None else ''
    if not name:
        name, code, system = _coded(observation.find(_q('code')))
    start, end = _times(observation)
    status = observation.find(_q('statusCode'))
    return Entry(
        kind, name or '', code, system, start, end,
        status.get('code') if status is not None else None)


def _administration_entry(kind, administration):
    material = administration.find(_q(
            'consumable/manufacturedProduct/manufacturedMaterial'))
    name = code = system = lot = None
    if material is not None:
        name, code, system = _coded(material.find(_q('code')))
        name = (material.findtext(_q('name')) or '').strip() or name
        lot = (material.findtext(_q('lotNumberText')) or '').strip() or None
    start, end = _times(administration)
    status = administration.find(_q('statusCode'))
    dose_number = None
    repeat = administration.find(_q('repeatNumber'))
    values = [repeat.get('value')] if repeat is not None else []
    for observation in administration.iterfind(_q(
                'entryRelationship/observation')):
        code_element = observation.find(_q('code'))
        value = observation.find(_q('value'))
        if (code_element is not None and value is not None
                and code_element.get('code') == DOSE_NUMBER.code):
            values.append(value.get('value'))
    for value in values:
        # isdigit() is also true of digits int() refuses, such as ²
        if value and value.isdecimal() and len(value) < 4:
            dose_number = int(value)
            break
    return Entry(
        kind, name or '', code, system, start, end,
        status.get('code') if status is not None else None, dose_number,
        lot)


def _parse_counted(content, max_nodes):
    """Parse CDA bytes safely, refusing a document of more than max_nodes
    elements and attributes before its whole tree is built"""
    parser = etree.XMLPullParser(events=('start',), **_SAFE_PARSING)
    count = 0
    for start in range(0, len(content), 1 << 16):
        parser.feed(content[start:start + (1 << 16)])
        for _, element in parser.read_events():
            count += 1 + len(element.attrib)
        if count > max_nodes:
            raise ContentError(
                f'more than {max_nodes} elements and attributes')
    root = parser.close()
    if root.getroottree().docinfo.doctype:
        raise ContentError(_NO_DOCTYPE)
    return root


def read_content(content, max_entries=MAX_ENTRIES, max_nodes=MAX_NODES):
    """Read a received CDA document safely: no DTD, no entity, no network,
    libxml2's depth and size limits, at most max_entries entries and
    max_nodes elements and attributes"""
    if _DOCTYPE.match(content):
        # Refused before the parser sees a single entity
        raise ContentError(_NO_DOCTYPE)
    try:
        root = _parse_counted(content, max_nodes)
    except etree.XMLSyntaxError as error:
        raise ContentError(error.msg or str(error)) from None
    except ValueError as error:
        raise ContentError(str(error)) from None
    if root.tag != f'{{{NS}}}ClinicalDocument':
        raise ContentError('not a ClinicalDocument')
    patient_ids = {
        (element.get('root'), element.get('extension'))
        for element in root.iterfind(_q('recordTarget/patientRole/id'))}
    version = root.find(_q('versionNumber'))
    version = version.get('value') if version is not None else None
    effective = root.find(_q('effectiveTime'))
    entries = []

    def add(entry):
        # Counted one by one: an act may wrap any number of observations
        entries.append(entry)
        if len(entries) > max_entries:
            raise ContentError(f'more than {max_entries} entries')

    for section in root.iter(f'{{{NS}}}section'):
        code = section.find(_q('code'))
        kind = ENTRY_SECTIONS.get(
            code.get('code') if code is not None else None)
        if not kind:
            continue
        for entry in section.iterfind(_q('entry')):
            for act in entry:
                tag = etree.QName(act).localname
                if tag == 'substanceAdministration':
                    add(_administration_entry(kind, act))
                elif tag == 'observation':
                    add(_observation_entry(kind, act))
                elif tag == 'act':
                    # C-CDA wraps each concern's observations in an act
                    for observation in act.iterfind(_q(
                                'entryRelationship/observation')):
                        add(_observation_entry(kind, observation))
    return Content(
        title=(root.findtext(_q('title')) or '').strip(),
        effective_time=read_ts(
            effective.get('value') if effective is not None else None),
        version=int(version) if version and version.isdecimal()
        and len(version) < 6 else 1,
        patient_ids=patient_ids,
        custodian=(root.findtext(_q(
                    'custodian/assignedCustodian/'
                    'representedCustodianOrganization/name')) or '').strip(),
        entries=[e for e in entries if e.name])
