# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
import datetime as dt

from dateutil.relativedelta import relativedelta

from trytond.pool import PoolMeta

from . import cda
from .common import field_label, join, label, selection_label

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


class DosageMixin:
    """What a medication of the patient and a prescription line share: a
    medicament given at a dose, a frequency and for a duration"""
    __slots__ = ()

    def shared_record_administration(self, mood, status):
        start = self.start_treatment
        return cda.Administration(
            product=self.medicament.rec_name,
            product_code=self.medicament.shared_record_code(),
            mood=mood,
            status=status,
            start=start,
            end=self.end_treatment or self.shared_record_end(start),
            period=self.shared_record_period(),
            dose=(cda.Quantity(
                    self.dose, self.dose_unit.code if self.dose_unit else '1')
                if self.dose else None),
            route=(cda.Code(self.route.code, ROUTE_SYSTEM, self.route.name)
                if self.route else None))

    def shared_record_period(self):
        unit = PERIOD_UNITS.get(self.frequency_unit)
        if self.frequency and unit and not self.frequency_prn:
            return cda.Quantity(self.frequency, unit)

    def shared_record_end(self, start):
        unit = DURATION_UNITS.get(self.duration_period)
        if start and self.duration and unit:
            return start + relativedelta(**{unit: self.duration})

    def shared_record_row(self):
        dose = join(
            self.dose if self.dose else None,
            self.dose_unit.name if self.dose_unit else None)
        if self.common_dosage:
            frequency = self.common_dosage.rec_name
        elif self.frequency_prn or self.frequency_unit == 'wr':
            frequency = label('when_required')
        else:
            frequency = join(
                self.frequency, selection_label(self, 'frequency_unit'))
        duration = join(
            self.duration, selection_label(self, 'duration_period'))
        return [
            self.medicament.rec_name,
            dose,
            frequency,
            duration,
            self.route.name if self.route else '',
            self.start_treatment.date() if isinstance(
                self.start_treatment, dt.datetime) else (
                self.start_treatment or ''),
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
