# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
from dateutil.relativedelta import relativedelta

from trytond.pool import PoolMeta

from . import cda
from .common import field_label, join, label, local_date, selection_label

# HL7 Version 2 table 0162, whose codes GNU Health's drug routes use
ROUTE_SYSTEM = '2.16.840.1.113883.12.162'
PERIOD_UNITS = {
    'seconds': 's', 'minutes': 'min', 'hours': 'h', 'days': 'd',
    'weeks': 'wk',
    }
DURATION_UNITS = {
    'minutes': 'minutes', 'hours': 'hours', 'days': 'days',
    'months': 'months', 'years': 'years',
    }
# In UCUM, for a duration whose start is not known
DURATION_UCUM = {
    'minutes': 'min', 'hours': 'h', 'days': 'd', 'months': 'mo',
    'years': 'a',
    }
# GNU Health's common frequencies by their SNOMED CT code: the period and
# whether the ward's schedule gives the times ("3 times per day") or the
# interval is exact ("every 8 hours")
COMMON_FREQUENCIES = {
    '229797004': (1, 'd', True),
    '307472001': (1, 'd', True),
    '396147000': (1, 'd', True),
    '396142006': (1, 'd', True),
    '229799001': (12, 'h', True),
    '229798009': (8, 'h', True),
    '396145008': (8, 'h', True),
    '396146009': (8, 'h', True),
    '307439001': (6, 'h', True),
    '225750008': (2, 'h', False),
    '225756002': (4, 'h', False),
    '307468000': (6, 'h', False),
    '307469008': (8, 'h', False),
    '307470009': (12, 'h', False),
    '225760004': (2, 'd', False),
    '225769003': (1, 'wk', False),
    '20050000': (2, 'wk', False),
    '307476003': (28, 'd', False),
    '307475004': (1, 'mo', False),
    }


class DosageMixin:
    """What a medication of the patient and a prescription line share: a
    medicament given at a dose, a frequency and for a duration"""
    __slots__ = ()

    def shared_record_administration(self, mood, status):
        start = self.start_treatment
        end = self.end_treatment or self.shared_record_end(start)
        period, institution_specified = self.shared_record_period()
        dose = self.shared_record_dose()
        return cda.Administration(
            product=self.medicament.rec_name,
            product_code=self.medicament.shared_record_code(),
            mood=mood,
            status=status,
            start=start,
            end=end,
            duration=None if end else self.shared_record_duration(),
            period=period,
            institution_specified=institution_specified,
            dose=dose,
            # A dose in a unit that is not UCUM, or in none, is no
            # quantity: it is told as written
            text=(self.shared_record_dose_text()
                if dose is None or dose.unit not in cda.DOSE_UNITS
                else None),
            route=(cda.Code(self.route.code, ROUTE_SYSTEM, self.route.name)
                if self.route else None))

    def shared_record_dose(self):
        if self.dose and self.dose_unit:
            return cda.Quantity(self.dose, self.dose_unit.code)

    def shared_record_dose_text(self):
        if self.dose:
            return join(
                f'{self.dose:g}',
                self.dose_unit.name if self.dose_unit else None)

    def shared_record_period(self):
        "Return the period between doses and whether the ward times them"
        if self.frequency_prn:
            return None, False
        if self.common_dosage:
            frequency = COMMON_FREQUENCIES.get(self.common_dosage.code)
            if frequency:
                value, unit, institution_specified = frequency
                return cda.Quantity(value, unit), institution_specified
        unit = PERIOD_UNITS.get(self.frequency_unit)
        if self.frequency and unit:
            # GNU Health's frequency is the time between doses
            return cda.Quantity(self.frequency, unit), False
        return None, False

    def shared_record_duration(self):
        unit = DURATION_UCUM.get(self.duration_period)
        if self.duration and unit:
            return cda.Quantity(self.duration, unit)

    def shared_record_end(self, start):
        unit = DURATION_UNITS.get(self.duration_period)
        if start and self.duration and unit:
            return start + relativedelta(**{unit: self.duration})

    def shared_record_row(self):
        dose = self.shared_record_dose_text() or ''
        if self.common_dosage:
            frequency = self.common_dosage.rec_name
        elif self.frequency_prn or self.frequency_unit == 'wr':
            frequency = label('when_required')
        else:
            frequency = join(
                self.frequency, selection_label(self, 'frequency_unit'))
        if self.duration or self.duration_period == 'indefinite':
            duration = join(
                self.duration, selection_label(self, 'duration_period'))
        else:
            duration = ''
        return [
            self.medicament.rec_name,
            dose,
            frequency,
            duration,
            self.route.name if self.route else '',
            local_date(self.start_treatment) or '',
            ]

    @classmethod
    def shared_record_headers(cls):
        return [
            field_label(cls, 'medicament'),
            field_label(cls, 'dose'),
            field_label(cls, 'frequency'),
            field_label(cls, 'duration'),
            field_label(cls, 'route'),
            field_label(cls, 'start_treatment'),
            ]


class PatientMedication(DosageMixin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient.medication'
