# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
import datetime as dt

from trytond.pool import PoolMeta

from . import cda
from .common import field_label, local_date, selection_label

PROBLEM = cda.Code('55607006', cda.SNOMED, 'Problem')
PRELIMINARY_DIAGNOSIS = cda.Code(
    '148006', cda.SNOMED, 'Preliminary diagnosis')
ALLERGY_KINDS = {
    'da': cda.Code('416098002', cda.SNOMED, 'Allergy to drug'),
    'fa': cda.Code('414285001', cda.SNOMED, 'Allergy to food'),
    }
ADVERSE_REACTION = cda.Code(
    '420134006', cda.SNOMED, 'Propensity to adverse reaction')


def pathology_code(pathology):
    "The ICD-10 coded value of a GNU Health condition"
    return cda.Code(pathology.code, cda.ICD10, pathology.name)


def problem(pathology, time=None, code=PROBLEM, status='completed'):
    return cda.Observation(
        code, pathology_code(pathology), time=time, status=status)


class PatientDisease(metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient.disease'

    def shared_record_onset(self):
        """The day the condition began, when recorded.

        GNU Health fills the diagnosis date in with the day the record is
        made: for an allergy, which began long before anyone wrote it down,
        that day is no onset, and the onset is then not known. GNU Health
        takes that day from the server's clock (date.today()), which near
        midnight may not be the clinic's day yet: either day is the day of
        writing."""
        if self.is_allergy and self.create_date:
            server_day = self.create_date.replace(
                tzinfo=dt.timezone.utc).astimezone().date()
            if self.diagnosed_date in {
                    local_date(self.create_date), server_day}:
                return None
        return self.diagnosed_date

    def shared_record_time(self):
        return cda.Interval(self.shared_record_onset(), self.healed_date)

    def shared_record_problem(self):
        return problem(
            self.pathology, self.shared_record_time(),
            status='active' if self.is_active else 'completed')

    def shared_record_allergy(self):
        return problem(
            self.pathology, self.shared_record_time(),
            code=ALLERGY_KINDS.get(self.allergy_type, ADVERSE_REACTION),
            status='active' if self.is_active else 'completed')

    def shared_record_row(self):
        return [
            self.pathology.code,
            self.pathology.name,
            self.shared_record_onset() or '',
            selection_label(self, 'status'),
            self.short_comment or '',
            ]

    @classmethod
    def shared_record_headers(cls):
        return [
            field_label(cls, 'pcs_code'),
            field_label(cls, 'pathology'),
            field_label(cls, 'diagnosed_date'),
            field_label(cls, 'status'),
            field_label(cls, 'short_comment'),
            ]
