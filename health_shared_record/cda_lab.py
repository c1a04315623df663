# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Laboratory results in HL7 CDA: a battery of analytes (the test), each
result with its value, unit, reference range and interpretation.

Like cda.py, nothing here touches the ORM.  The interpretation is computed
here, from the numbers only: a result the numbers cannot place (no value,
no limits, limits in the wrong order) gets no interpretation rather than a
wrong one."""
import datetime as dt
from dataclasses import dataclass, field
from typing import Optional, Union

from . import cda

INTERPRETATION = '2.16.840.1.113883.5.83'
INTERPRETATIONS = {
    'N': 'Normal',
    'L': 'Low',
    'H': 'High',
    'LL': 'Critically low',
    'HH': 'Critically high',
    'A': 'Abnormal',
    }
# The interpretations that call for a clinician's attention, and those
# that call for it at once
ABNORMAL = {'L', 'H', 'LL', 'HH', 'A'}
CRITICAL = {'LL', 'HH'}


def ordered(low, high):
    "Whether the limits low and high, either unknown, are in order"
    return low is None or high is None or low <= high


def interpret(value, low=None, high=None, critical_low=None,
        critical_high=None, flagged=False):
    """The HL7 interpretation (N, L, H, LL, HH, A) of a numeric value from
    its reference limits and critical limits, both closed ("3.5-5.5"
    includes 5.5).  The numbers decide when they can; else A when the
    laboratory flagged the result (GNU Health's warning, which it also
    computes from the limits, with open bounds); None when nothing can be
    said, as with limits in the wrong order"""
    if value is not None and ordered(critical_low, critical_high):
        if critical_low is not None and value <= critical_low:
            return 'LL'
        if critical_high is not None and value >= critical_high:
            return 'HH'
    numbers = value is not None and ordered(low, high) and (
        low is not None or high is not None)
    if numbers:
        if low is not None and value < low:
            return 'L'
        if high is not None and value > high:
            return 'H'
    if numbers:
        return 'N'
    if flagged and ordered(low, high):
        return 'A'
    return None


def _named_code(out, code, name):
    "The code of what was measured with its name as the laboratory wrote it"
    if code is None:
        # Not coded here: a receiver reads the name, and no code says
        # something else
        out.append('<code nullFlavor="OTH">')
    else:
        cda._code(out, 'code', code)
        out.append('>')
    out.append(f'<originalText>{cda._t(name)}</originalText></code>')


@dataclass
class Result:
    "The result of one analyte"
    # LOINC; None when the analyte has no code
    code: Optional[cda.Code]
    name: str
    # A number with its UCUM unit, a coded value or text
    value: Union[cda.Quantity, cda.Code, str, None] = None
    low: Optional[cda.Quantity] = None
    high: Optional[cda.Quantity] = None
    # The range as the laboratory wrote it, when not in numbers
    range_text: Optional[str] = None
    interpretation: Optional[str] = None
    time: Optional[dt.datetime] = None
    method: Optional[str] = None
    comment: Optional[str] = None
    status: str = 'completed'

    def write(self, out, zone=None):
        out.append('<observation classCode="OBS" moodCode="EVN">')
        _named_code(out, self.code, self.name)
        if self.comment:
            out.append(f'<text>{cda._t(self.comment)}</text>')
        out.append(f'<statusCode code="{self.status}"/>')
        out.append(cda._time(self.time, zone))
        value = self.value
        if isinstance(value, cda.Quantity):
            cda._quantity(out, 'value', value, xsi_type='PQ')
        elif isinstance(value, cda.Code):
            cda._empty_code(out, 'value', value, xsi_type='CD')
        elif value not in (None, ''):
            out.append(f'<value xsi:type="ST">{cda._t(value)}</value>')
        if self.interpretation:
            cda._empty_code(out, 'interpretationCode', cda.Code(
                    self.interpretation, INTERPRETATION,
                    INTERPRETATIONS[self.interpretation]))
        if self.method:
            out.append('<methodCode nullFlavor="OTH"><originalText>'
                f'{cda._t(self.method)}</originalText></methodCode>')
        if self.low is not None or self.high is not None or self.range_text:
            out.append('<referenceRange typeCode="REFV"><observationRange>')
            if self.range_text:
                out.append(f'<text>{cda._t(self.range_text)}</text>')
            if self.low is not None or self.high is not None:
                out.append('<value xsi:type="IVL_PQ">')
                for tag, limit in [('low', self.low), ('high', self.high)]:
                    if limit is not None:
                        cda._quantity(out, tag, limit)
                out.append('</value>')
            cda._empty_code(out, 'interpretationCode', cda.Code(
                    'N', INTERPRETATION, INTERPRETATIONS['N']))
            out.append('</observationRange></referenceRange>')
        out.append('</observation>')


@dataclass
class Battery:
    "A laboratory test: its analytes, on one specimen collected once"
    code: Optional[cda.Code]
    name: str
    results: list = field(default_factory=list)
    # When the specimen was collected; None when unknown
    time: Optional[dt.datetime] = None
    specimen: Optional[str] = None
    status: str = 'completed'

    def write_entry(self, out, zone=None):
        out.append('<organizer classCode="BATTERY" moodCode="EVN">')
        _named_code(out, self.code, self.name)
        out.append(f'<statusCode code="{self.status}"/>')
        out.append(cda._time(self.time, zone))
        if self.specimen:
            out.append('<specimen typeCode="SPC"><specimenRole>'
                '<specimenPlayingEntity><code nullFlavor="OTH">'
                f'<originalText>{cda._t(self.specimen)}</originalText>'
                '</code></specimenPlayingEntity></specimenRole></specimen>')
        for result in self.results:
            out.append('<component>')
            result.write(out, zone)
            out.append('</component>')
        out.append('</organizer>')
