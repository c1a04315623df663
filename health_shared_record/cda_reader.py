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
    ATC, DOSE_NUMBER, ICD10, LOINC, NS, SNOMED, XSI, _DOCTYPE, _NO_DOCTYPE,
    _SAFE_PARSING, _q)


# Reading the documents other clinics publish: the sections whose entries
# become data in the patient's shared record, and what they hold
ENTRY_SECTIONS = {
    '11450-4': 'problem',
    # History of past illness
    '11348-0': 'problem',
    '48765-2': 'allergy',
    '10160-0': 'medication',
    # French e-prescription (CI-SIS eP-MED)
    '57828-6': 'medication',
    # Hospital discharge medications, C-CDA and CI-SIS
    '10183-2': 'medication',
    '75311-1': 'medication',
    '11369-6': 'immunization',
    '30954-2': 'result',
    '8716-3': 'vital_sign',
    }
KINDS = ['problem', 'allergy', 'medication', 'immunization', 'result',
    'vital_sign']
CODE_SYSTEMS = {
    ICD10: 'ICD-10',
    '2.16.840.1.113883.6.90': 'ICD-10-CM',
    SNOMED: 'SNOMED CT',
    ATC: 'ATC',
    LOINC: 'LOINC',
    '2.16.840.1.113883.12.292': 'CVX',
    '2.16.840.1.113883.6.88': 'RxNorm',
    '2.16.840.1.113883.6.69': 'NDC',
    '2.16.840.1.113883.4.9': 'UNII',
    '2.16.840.1.113883.3.26.1.1': 'NCI',
    '2.16.840.1.113883.6.347': 'CIM-11',
    # French code systems (ANS terminology server)
    '1.2.250.1.213.2.3.1': 'CIS',
    '1.2.250.1.213.2.3.2': 'CIP',
    '1.2.250.1.213.2.3.5': 'ANSM',
    '1.2.250.1.213.2.49': 'ORPHA',
    '1.2.250.1.213.2.9': 'DRC',
    '1.2.250.1.213.2.19': 'CISP-2',
    '2.16.840.1.113883.6.139': 'CISP-2',
    '1.2.250.1.213.2.59': 'MV',
    }
# ICD-10 is CIM-10 in French documents: the French modification
FRENCH_SYSTEMS = {ICD10: 'CIM-10'}
# A document may carry at most this many entries
MAX_ENTRIES = 5000
# and this many elements and attributes, twice what as many entries of
# every kind take with their narrative: libxml2 spends some 120 bytes on
# an element, 230 on an attribute, and 20 MB of empty elements took 600 MB
MAX_NODES = 50 * MAX_ENTRIES

# Problem, allergy and condition statuses: SNOMED CT's problem status
# values and FHIR's clinical statuses, which CI-SIS documents carry
_STATUS_VALUES = {
    '55561003': 'active', '73425007': 'inactive', '413322009': 'resolved',
    'active': 'active', 'recurrence': 'active', 'relapse': 'active',
    'inactive': 'inactive', 'remission': 'inactive', 'resolved': 'resolved',
    }
# What a concern act's status says of the concern
_CONCERN_STATUS = {
    'active': 'active', 'completed': 'resolved', 'suspended': 'inactive',
    'aborted': 'inactive',
    }
ACT_STATUSES = ['normal', 'active', 'completed', 'aborted', 'suspended',
    'cancelled', 'held', 'new', 'nullified', 'obsolete']
STATUS_CODE = '33999-4'
SEVERITY_CODES = {'SEV', '246112005'}
COMMENT_CODE = '48767-8'
INSTRUCTIONS_CODE = '76662-6'
REFUSAL_REASON_TEMPLATE = '2.16.840.1.113883.10.20.22.4.53'
STATUS_TEMPLATES = {
    # C-CDA Problem Status, Allergy Status; CCD and IHE PCC status
    '2.16.840.1.113883.10.20.22.4.6', '2.16.840.1.113883.10.20.22.4.28',
    '2.16.840.1.113883.10.20.1.50', '2.16.840.1.113883.10.20.1.39',
    '1.3.6.1.4.1.19376.1.5.3.1.4.1.1',
    }
SEVERITY_TEMPLATES = {
    '2.16.840.1.113883.10.20.22.4.8', '2.16.840.1.113883.10.20.1.55',
    '1.3.6.1.4.1.19376.1.5.3.1.4.1',
    }
REACTION_TEMPLATES = {
    '2.16.840.1.113883.10.20.22.4.9', '2.16.840.1.113883.10.20.1.54',
    }
# The verification status of a condition (CI-SIS "Certitude")
VERIFICATION_CODE = '66455-7'
PLANNED_MOODS = {'INT', 'RQO', 'PRMS', 'PRP', 'ARQ', 'APT'}
PRECISIONS = {4: 'year', 6: 'month', 8: 'day'}
PHARM = 'urn:ihe:pharm:medication'


@dataclass
class Entry:
    """What one entry of a received document states: a problem, allergy,
    medication, immunization, result or vital sign"""
    kind: str
    name: str
    code: Optional[str] = None
    system: Optional[str] = None
    start: Optional[dt.date] = None
    end: Optional[dt.date] = None
    status: Optional[str] = None
    dose_number: Optional[int] = None
    lot: Optional[str] = None
    # The statement is negated: no known allergy, vaccine not given
    negated: bool = False
    # Intended (a prescription, a planned vaccine), not taken nor given
    planned: bool = False
    start_precision: Optional[str] = None
    end_precision: Optional[str] = None
    severity: Optional[str] = None
    reaction: Optional[str] = None
    reason: Optional[str] = None
    comment: Optional[str] = None
    value: Optional[str] = None
    unit: Optional[str] = None
    interpretation: Optional[str] = None
    reference_range: Optional[str] = None
    atc: Optional[str] = None


@dataclass
class Content:
    "What a received CDA document says of itself"
    title: str
    effective_time: Optional[dt.datetime]
    version: int
    patient_ids: set
    custodian: str
    entries: list
    # Who the document is about, as it names them: to find the patient
    # when no identifier is known here
    patient_given: str = ''
    patient_family: str = ''
    patient_birth: Optional[dt.date] = None


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


def read_date(value):
    """The date of an HL7 TS as its writer wrote it (in the writer's own
    time, not moved to UTC) and its precision: year, month or day"""
    digits = re.match(r'\d*', value or '').group()
    precision = PRECISIONS.get(min(len(digits), 8))
    if not precision:
        return None, None
    try:
        return dt.date(int(digits[0:4]), int(digits[4:6] or 1),
            int(digits[6:8] or 1)), precision
    except ValueError:
        return None, None


def _clean(value):
    return ' '.join((value or '').split()) or None


def _text(element):
    "The text of a narrative element, a line break read as a space"
    parts = [element.text or '']
    for child in element:
        if isinstance(child.tag, str):
            if etree.QName(child).localname == 'br':
                parts.append(' ')
            parts.append(_text(child))
        parts.append(child.tail or '')
    return ''.join(parts)


class _Reader:
    "The state of reading one document: its narrative's ids, its language"

    def __init__(self, root):
        self.french = (
            (_code_of(root, 'languageCode') or '').lower().startswith('fr')
            or _code_of(root, 'realmCode') == 'FR')
        self._ids = None
        self._root = root

    def referenced(self, element):
        """The text of an element, or of the narrative it references"""
        if element is None:
            return None
        reference = element.find(_q('reference'))
        if reference is not None:
            target = (reference.get('value') or '').removeprefix('#')
            if self._ids is None:
                self._ids = {}
                for node in self._root.iter(f'{{{NS}}}*'):
                    if node.get('ID'):
                        self._ids.setdefault(node.get('ID'), node)
            node = self._ids.get(target) if target else None
            if node is not None:
                return _clean(_text(node))
        return _clean(_text(element))

    def system(self, oid):
        if self.french and oid in FRENCH_SYSTEMS:
            return FRENCH_SYSTEMS[oid]
        return CODE_SYSTEMS.get(oid, oid)

    def coded(self, element):
        "name, code, system of a CD element (its originalText when uncoded)"
        if element is None:
            return None, None, None
        code, system = element.get('code'), element.get('codeSystem')
        # What the writer wrote first, then the translations' names
        name = (_clean(element.get('displayName'))
            or self.referenced(element.find(_q('originalText'))))
        if not code and element.get('nullFlavor') == 'OTH':
            # Coded in another system: the translation's
            for translation in element.iterfind(_q('translation')):
                if translation.get('code'):
                    code = translation.get('code')
                    system = translation.get('codeSystem')
                    name = name or _clean(translation.get('displayName'))
                    break
        if not name:
            for translation in element.iterfind(_q('translation')):
                name = _clean(translation.get('displayName'))
                if name:
                    break
        return (name or code, code, self.system(system) if code else None)

    def atc(self, *elements):
        "The ATC code among the elements and their translations"
        for element in elements:
            if element is None:
                continue
            if element.get('codeSystem') == ATC:
                return None
            for translation in element.iterfind(_q('translation')):
                if translation.get('codeSystem') == ATC:
                    return translation.get('code')
        return None

    def value(self, element):
        "What a result's value says, as text, and its unit"
        if element is None:
            return None, None
        kind = (element.get(f'{{{XSI}}}type') or '').split(':')[-1]
        if kind == 'PQ' and element.get('value') is None:
            # A unit outside UCUM: the quantity is in the translation
            translation = element.find(_q('translation'))
            if translation is not None and translation.get('value'):
                return translation.get('value'), (
                    translation.get('code') or self.referenced(
                        translation.find(_q('originalText'))))
        if element.get('nullFlavor'):
            return None, None
        if kind in {'PQ', 'INT', 'REAL', 'BL', 'MO'}:
            return element.get('value'), element.get('unit')
        if kind == 'IVL_PQ':
            low, high = [
                bound if bound is not None and bound.get('value') is not None
                else None for bound in [
                    element.find(_q('low')), element.find(_q('high'))]]
            if low is not None and high is not None and _is_zero(low):
                # From nothing up to a limit: a result under the limit
                low = None
            if low is not None and high is not None:
                return (f'{low.get("value")}-{high.get("value")}',
                    low.get('unit') or high.get('unit'))
            bound = low if low is not None else high
            if bound is None:
                return None, None
            sign = '>' if bound is low else '<'
            if bound.get('inclusive') != 'false':
                sign += '='
            return sign + bound.get('value'), bound.get('unit')
        if kind in {'CD', 'CE', 'CO', 'CV'}:
            return self.coded(element)[0], None
        return self.referenced(element), None

    def reference_range(self, observation):
        ranges = []
        for element in observation.iterfind(_q(
                    'referenceRange/observationRange')):
            value, unit = self.value(element.find(_q('value')))
            text = (f'{value} {unit}' if value and unit and unit != '1'
                else value) or self.referenced(element.find(_q('text')))
            if text:
                ranges.append(text)
        return '; '.join(ranges) or None


def _is_zero(bound):
    try:
        return float(bound.get('value')) == 0
    except ValueError:
        return False


def _templates(element):
    return {t.get('root') for t in element.iterfind(_q('templateId'))}


def _code_of(element, tag='code'):
    "The code attribute of the element's child (code, statusCode, value)"
    child = element.find(_q(tag))
    return child.get('code') if child is not None else None


def _act_status(element):
    "The act's own status, when it is one of HL7's act statuses"
    status = _code_of(element, 'statusCode')
    return status if status in ACT_STATUSES else None


def _negated(element):
    return element.get('negationInd') == 'true'


def _times(entry, element):
    "The entry's start and end from the element's effectiveTime"
    for time in element.iterfind(_q('effectiveTime')):
        kind = (time.get(f'{{{XSI}}}type') or '').split(':')[-1]
        if kind in {'PIVL_TS', 'EIVL_TS', 'SXPR_TS', 'PPD_TS'}:
            # A frequency, not when
            continue
        if time.get('value'):
            entry.start, entry.start_precision = read_date(time.get('value'))
        low, high = time.find(_q('low')), time.find(_q('high'))
        if low is not None and not entry.start:
            entry.start, entry.start_precision = read_date(low.get('value'))
        if high is not None:
            entry.end, entry.end_precision = read_date(high.get('value'))
        if entry.start or entry.end:
            break


def _status_value(observation):
    return _STATUS_VALUES.get(_code_of(observation, 'value'))


def _related(element, tag='observation'):
    for relationship in element.iterfind(_q('entryRelationship')):
        for child in relationship.iterfind(_q(tag)):
            yield relationship.get('typeCode'), child


def _is_attribute(related):
    "A status or severity observation: an attribute, not a condition"
    templates, code = _templates(related), _code_of(related)
    return bool(code == STATUS_CODE or templates & STATUS_TEMPLATES
        or code in SEVERITY_CODES or templates & SEVERITY_TEMPLATES)


def _severity(reader, related):
    if (_code_of(related) in SEVERITY_CODES
            or _templates(related) & SEVERITY_TEMPLATES):
        return reader.coded(related.find(_q('value')))[0]


def _condition_entry(reader, kind, observation, concern_status=None,
        concern_severity=None):
    """A problem or an allergy: the observation with its status, severity,
    reactions and comments, which are attributes of it, not entries"""
    entry = Entry(kind, '', negated=_negated(observation))
    allergen = observation.find(_q(
            'participant[@typeCode="CSM"]/participantRole/playingEntity'))
    value = observation.find(_q('value'))
    if kind == 'allergy' and allergen is not None:
        code = allergen.find(_q('code'))
        entry.name, entry.code, entry.system = reader.coded(code)
        if not entry.name:
            entry.name = _clean(allergen.findtext(_q('name')))
        entry.atc = reader.atc(code)
    if not entry.name and value is not None and value.get('code'):
        entry.name, entry.code, entry.system = reader.coded(value)
        entry.atc = reader.atc(value)
    code = observation.find(_q('code'))
    if (not entry.name and kind == 'allergy' and code is not None
            and code.get('code') not in {None, 'ASSERTION'}):
        # CI-SIS codes the kind of allergy (food, drug) in the code
        entry.name, entry.code, entry.system = reader.coded(code)
    if not entry.name:
        entry.name, entry.code, entry.system = reader.coded(value)
    if not entry.name:
        entry.name = (reader.value(value)[0]
            or reader.referenced(observation.find(_q('text'))))
    _times(entry, observation)
    severities, reactions, reaction_severities = [], [], []
    status = None
    for type_code, related in _related(observation):
        templates, code = _templates(related), _code_of(related)
        if code == STATUS_CODE or templates & STATUS_TEMPLATES:
            status = _status_value(related) or status
        elif severity := _severity(reader, related):
            severities.append(severity)
        elif code == VERIFICATION_CODE:
            verification = _code_of(related, 'value')
            if verification == 'refuted':
                entry.negated = True
            elif verification == 'entered-in-error':
                return None
        elif _negated(related):
            # A reaction that did not happen is no reaction
            continue
        elif type_code == 'MFST' or templates & REACTION_TEMPLATES:
            reaction = (reader.coded(related.find(_q('value')))[0]
                or reader.referenced(related.find(_q('text'))))
            if reaction:
                reactions.append(reaction)
            reaction_severities += [
                _severity(reader, inner) for _, inner in _related(related)]
    entry.status = status or concern_status
    own = _code_of(observation, 'statusCode')
    if not entry.status and own and own != 'completed':
        entry.status = _CONCERN_STATUS.get(own, None)
    if not entry.status and entry.end:
        entry.status = 'resolved'
    # The condition's own severity, else its concern's, else its reactions'
    severities = (list(filter(None, severities))
        or list(filter(None, [concern_severity])) or reaction_severities)
    entry.severity = '; '.join(
        dict.fromkeys(filter(None, severities))) or None
    entry.reaction = '; '.join(reactions) or None
    entry.comment = _comments(reader, observation)
    return entry


def _comments(reader, element):
    "The text of the comment acts of an entry"
    comments = [reader.referenced(act.find(_q('text')))
        for _, act in _related(element, 'act')
        if _code_of(act) == COMMENT_CODE]
    return '; '.join(filter(None, comments)) or None


def _administration_entry(reader, kind, administration):
    """A medication or an immunization, taken, given or planned, or not
    given (negated) with its reason"""
    entry = Entry(kind, '', negated=_negated(administration),
        planned=administration.get('moodCode') in PLANNED_MOODS)
    material = administration.find(_q(
            'consumable/manufacturedProduct/manufacturedMaterial'))
    if material is not None:
        code = material.find(_q('code'))
        name, entry.code, entry.system = reader.coded(code)
        entry.name = _clean(material.findtext(_q('name'))) or name
        generic = material.find(
            f'{{{PHARM}}}asSpecializedKind/{{{PHARM}}}generalizedMedicineClass'
            f'/{{{PHARM}}}code[@codeSystem="{ATC}"]')
        entry.atc = reader.atc(code) or (
            generic.get('code') if generic is not None
            and entry.system != 'ATC' else None)
        lot = material.find(_q('lotNumberText'))
        if lot is not None and not lot.get('nullFlavor'):
            entry.lot = _clean(lot.text)
    if not entry.name:
        # An uncoded medicament: its free-text instructions say it best
        for _, instructions in _related(
                administration, 'substanceAdministration'):
            if _code_of(instructions) == INSTRUCTIONS_CODE:
                entry.name = reader.referenced(
                    instructions.find(_q('text')))
    if not entry.name:
        entry.name = reader.referenced(administration.find(_q('text')))
    _times(entry, administration)
    entry.status = _act_status(administration)
    # A medication's repeatNumber counts its dispensings, not doses
    repeat = administration.find(_q('repeatNumber'))
    values = [repeat.get('value')] if (
        repeat is not None and kind == 'immunization') else []
    reasons, reactions = [], []
    for type_code, observation in _related(administration):
        if _negated(observation):
            continue
        if _code_of(observation) == DOSE_NUMBER.code:
            value = observation.find(_q('value'))
            if value is not None:
                values.append(value.get('value'))
        elif REFUSAL_REASON_TEMPLATE in _templates(observation):
            reasons.append(reader.coded(observation.find(_q('code')))[0])
        elif type_code == 'RSON' and entry.negated:
            reasons.append(reader.coded(observation.find(_q('value')))[0]
                or reader.coded(observation.find(_q('code')))[0])
        elif (type_code in {'CAUS', 'MFST'}
                or _templates(observation) & REACTION_TEMPLATES):
            reactions.append(reader.coded(observation.find(_q('value')))[0])
    for value in values:
        # isdigit() is also true of digits int() refuses, such as ²
        if value and value.isdecimal() and len(value) < 4:
            entry.dose_number = int(value)
            break
    entry.reason = '; '.join(filter(None, reasons)) or None
    entry.reaction = '; '.join(filter(None, reactions)) or None
    entry.comment = _comments(reader, administration)
    return entry


def _result_entry(reader, kind, observation, organizer=None):
    "A result or a vital sign, with its value, range and interpretation"
    entry = Entry(kind, '', negated=_negated(observation))
    code = observation.find(_q('code'))
    entry.name, entry.code, entry.system = reader.coded(code)
    entry.value, entry.unit = reader.value(observation.find(_q('value')))
    _times(entry, observation)
    if observation.find(_q('effectiveTime')) is None and organizer is not None:
        # The battery's time is its components' unless they say theirs
        _times(entry, organizer)
    entry.status = _act_status(observation)
    interpretation = observation.find(_q('interpretationCode'))
    if interpretation is not None:
        entry.interpretation = interpretation.get('code')
    entry.reference_range = reader.reference_range(observation)
    entry.comment = _comments(reader, observation)
    return entry


def _section_entries(reader, kind, act, add):
    "The entries one section entry holds, by kind"
    tag = etree.QName(act).localname
    if act.get('nullFlavor'):
        # No information, not an entry
        return
    if kind in {'problem', 'allergy'}:
        if tag == 'observation':
            add(_condition_entry(reader, kind, act))
        elif tag == 'act':
            # A concern: each observation it wraps is a problem or an
            # allergy, whose status is the concern's unless it says its own
            status = _CONCERN_STATUS.get(_code_of(act, 'statusCode'))
            # Two passes, none kept: an act may wrap any number of them
            severity = None
            for _, observation in _related(act):
                if _is_attribute(observation):
                    status = _status_value(observation) or status
                    severity = _severity(reader, observation) or severity
            for type_code, observation in _related(act):
                if type_code in {None, 'SUBJ'} and not _is_attribute(
                        observation):
                    add(_condition_entry(
                            reader, kind, observation, status, severity))
    elif kind in {'medication', 'immunization'}:
        if tag == 'substanceAdministration':
            add(_administration_entry(reader, kind, act))
        elif tag in {'act', 'organizer'}:
            # A discharge medication act wraps its medication activities
            for _, administration in _related(act, 'substanceAdministration'):
                add(_administration_entry(reader, kind, administration))
            for administration in act.iterfind(_q(
                        'component/substanceAdministration')):
                add(_administration_entry(reader, kind, administration))
    else:
        if tag == 'observation':
            add(_result_entry(reader, kind, act))
        elif tag == 'organizer':
            for component in act.iterfind(_q('component')):
                for child in component:
                    if not isinstance(child.tag, str):
                        continue
                    if etree.QName(child).localname == 'observation':
                        add(_result_entry(reader, kind, child, act))
                    elif etree.QName(child).localname == 'organizer':
                        _section_entries(reader, kind, child, add)


def _sections(element, inherited=None):
    "The sections of the body, each with the kind it gives its entries"
    for section in element.iterfind(_q('component/section')):
        code = section.find(_q('code'))
        kind = ENTRY_SECTIONS.get(
            code.get('code') if code is not None else None) or inherited
        yield section, kind
        yield from _sections(section, kind)


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
    person = root.find(_q('recordTarget/patientRole/patient'))
    given = family = ''
    birth = None
    if person is not None:
        name = person.find(_q('name'))
        if name is not None:
            given = ' '.join(
                (g.text or '').strip() for g in name.iterfind(_q('given')))
            family = ' '.join(
                (f.text or '').strip() for f in name.iterfind(_q('family')))
        birth_time = person.find(_q('birthTime'))
        birth = read_ts(
            birth_time.get('value') if birth_time is not None else None)
        if isinstance(birth, dt.datetime):
            birth = birth.date()
    version = root.find(_q('versionNumber'))
    version = version.get('value') if version is not None else None
    # The care date is the service event's; the document's own time is
    # when it was made, the care date of older producers
    effective = root.find(_q(
            'documentationOf/serviceEvent/effectiveTime/low'))
    if effective is None or not effective.get('value'):
        effective = root.find(_q('documentationOf/serviceEvent/effectiveTime'))
    if effective is None or not effective.get('value'):
        effective = root.find(_q('effectiveTime'))
    entries = []

    def add(entry):
        # Counted one by one: an act may wrap any number of observations
        entries.append(entry)
        if len(entries) > max_entries:
            raise ContentError(f'more than {max_entries} entries')

    reader = _Reader(root)
    body = root.find(_q('component/structuredBody'))
    for section, kind in _sections(body) if body is not None else []:
        if not kind:
            continue
        for entry in section.iterfind(_q('entry')):
            for act in entry:
                if isinstance(act.tag, str) and not entry.get('nullFlavor'):
                    _section_entries(reader, kind, act, add)
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
        entries=[e for e in entries if e and e.name],
        patient_given=given[:200], patient_family=family[:200],
        patient_birth=birth)
