# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
from trytond.i18n import gettext
from trytond.pool import PoolMeta
from trytond.pyson import Eval

from . import cda
from .common import SharedRecordOrigin, field_label, label, local_date
from .condition import PRELIMINARY_DIAGNOSIS, problem
from .exceptions import PublishError

# Evaluation field, LOINC code and name, UCUM unit
VITAL_SIGNS = [
    ('systolic', '8480-6', 'Systolic blood pressure', 'mm[Hg]'),
    ('diastolic', '8462-4', 'Diastolic blood pressure', 'mm[Hg]'),
    ('bpm', '8867-4', 'Heart rate', '/min'),
    ('respiratory_rate', '9279-1', 'Respiratory rate', '/min'),
    ('temperature', '8310-5', 'Body temperature', 'Cel'),
    ('osat', '59408-5',
        'Oxygen saturation in Arterial blood by Pulse oximetry', '%'),
    ('weight', '29463-7', 'Body weight', 'kg'),
    ('height', '8302-2', 'Body height', 'cm'),
    ('bmi', '39156-5', 'Body mass index (BMI) [Ratio]', 'kg/m2'),
    ('glycemia', '2339-0', 'Glucose [Mass/volume] in Blood', 'mg/dL'),
    ]
NARRATIVE_FIELDS = [
    'chief_complaint', 'notes_complaint', 'present_illness',
    'evaluation_summary', 'info_diagnosis', 'directions', 'notes']
PUBLISHABLE_STATES = {'done', 'signed'}


class PatientEvaluation(SharedRecordOrigin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient.evaluation'
    shared_record_type_code = '11488-4'

    @classmethod
    def publish_shared_record_states(cls):
        return {
            'invisible': ~Eval('state').in_(list(PUBLISHABLE_STATES)),
            'depends': ['state'],
            }

    @classmethod
    def check_shared_record(cls, evaluations):
        for evaluation in evaluations:
            if evaluation.state not in PUBLISHABLE_STATES:
                raise PublishError(gettext(
                        'health_shared_record.msg_evaluation_not_done',
                        evaluation=evaluation.rec_name))
            if evaluation.is_empty_for_shared_record():
                raise PublishError(gettext(
                        'health_shared_record.msg_evaluation_empty',
                        evaluation=evaluation.rec_name))

    def is_empty_for_shared_record(self):
        return not (
            any((getattr(self, f) or '').strip() for f in NARRATIVE_FIELDS)
            or self.diagnosis
            or self.secondary_conditions
            or self.diagnostic_hypothesis
            or any(getattr(self, f) for f, *_ in VITAL_SIGNS))

    def get_shared_record_author(self):
        return self.signed_by or self.healthprof

    def get_shared_record_values(self, document_type):
        values = super().get_shared_record_values(document_type)
        values.update({
                'patient': self.patient,
                'effective_date': self.evaluation_start,
                'institution': self.institution,
                })
        if self.chief_complaint:
            values['title'] = '%s: %s' % (
                values['title'], self.chief_complaint)
        return values

    def get_shared_record_sections(self):
        sections = [self._reason_for_visit_section()]
        for section in [
                self._vital_signs_section(),
                self._problem_section(),
                self._assessment_section(),
                self._plan_section()]:
            if section:
                sections.append(section)
        return sections

    def _paragraphs(self, names):
        """The paragraphs of the texts of names, each under the caption a
        reader expects (None for the text that the section's title says)"""
        return [
            cda.Paragraph(
                getattr(self, n), label(caption) if caption else None)
            for n, caption in names if (getattr(self, n) or '').strip()]

    def _reason_for_visit_section(self):
        return cda.Section(
            cda.section_code('29299-5'), label('reason_for_visit'),
            self._paragraphs([
                    ('chief_complaint', None),
                    ('notes_complaint', 'complaint_details'),
                    ('present_illness', 'present_illness')]))

    def _vital_signs_section(self):
        rows, entries = [], []
        for name, code, display, unit in VITAL_SIGNS:
            value = getattr(self, name)
            if value:
                rows.append([
                        field_label(self, name), value,
                        cda.unit_display(unit)])
                entries.append(cda.Observation(
                        cda.Code(code, cda.LOINC, display),
                        cda.Quantity(value, unit), self.evaluation_start))
        if rows:
            return cda.Section(
                cda.section_code('8716-3'), label('vital_signs'),
                [cda.Table([
                            label('vital_sign'), label('value'),
                            label('unit')], rows)],
                entries)

    def _problem_section(self):
        rows, entries = [], []
        time = self.evaluation_start
        if self.diagnosis:
            rows.append([
                    field_label(self, 'diagnosis'), self.diagnosis.code,
                    self.diagnosis.name])
            entries.append(problem(self.diagnosis, time, status='active'))
        for condition in self.secondary_conditions:
            rows.append([
                    field_label(self, 'secondary_conditions'),
                    condition.pathology.code, condition.pathology.name])
            entries.append(problem(condition.pathology, time))
        for hypothesis in self.diagnostic_hypothesis:
            rows.append([
                    field_label(self, 'diagnostic_hypothesis'),
                    hypothesis.pathology.code, hypothesis.pathology.name])
            entries.append(problem(
                    hypothesis.pathology, time, code=PRELIMINARY_DIAGNOSIS,
                    status='active'))
        if rows:
            return cda.Section(
                cda.section_code('11450-4'), label('problems'),
                [cda.Table(
                        [label('role'), label('code'), label('condition')],
                        rows)],
                entries)

    @classmethod
    def shared_record_summary_problems(cls, patient, recorded):
        """The main diagnoses of patient's finished consultations that
        GNU Health's list of conditions (recorded, the pathologies it
        has, active or healed) leaves out: a main condition found at a
        consultation is an active problem unless recorded otherwise.
        Return the evaluation that found each last, the oldest first"""
        found = {}
        for evaluation in cls.search([
                    ('patient', '=', patient.id),
                    ('state', 'in', list(PUBLISHABLE_STATES)),
                    ('diagnosis', '!=', None),
                    ('diagnosis', 'not in', list(recorded)),
                    ], order=[('evaluation_start', 'ASC'), ('id', 'ASC')]):
            found[evaluation.diagnosis] = evaluation
        return sorted(found.values(), key=lambda e: e.evaluation_start)

    def shared_record_summary_row(self):
        "The summary's problem row of the evaluation's main diagnosis"
        return [
            self.diagnosis.code,
            self.diagnosis.name,
            local_date(self.evaluation_start),
            '',
            label('found_at_consultation'),
            ]

    def shared_record_summary_problem(self):
        return problem(
            self.diagnosis, cda.Interval(local_date(self.evaluation_start)),
            status='active')

    def _assessment_section(self):
        paragraphs = self._paragraphs([
                ('evaluation_summary', None),
                ('info_diagnosis', 'about_diagnosis'),
                ('notes', 'notes')])
        if paragraphs:
            return cda.Section(
                cda.section_code('51848-0'), label('assessment'), paragraphs)

    def _plan_section(self):
        paragraphs = self._paragraphs([('directions', None)])
        if paragraphs:
            return cda.Section(
                cda.section_code('18776-5'), label('plan_of_care'),
                paragraphs)
