# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
from trytond.i18n import gettext
from trytond.pool import PoolMeta
from trytond.pyson import Eval

from . import cda
from .common import SharedRecordOrigin, field_label, label
from .exceptions import PublishError
from .medication import DosageMixin


class PrescriptionOrder(SharedRecordOrigin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.prescription.order'
    shared_record_type_code = '57833-6'

    @classmethod
    def publish_shared_record_states(cls):
        return {
            'invisible': Eval('state') == 'draft',
            'depends': ['state'],
            }

    @classmethod
    def check_shared_record(cls, prescriptions):
        for prescription in prescriptions:
            if prescription.state == 'draft':
                raise PublishError(gettext(
                        'health_shared_record.msg_prescription_draft',
                        prescription=prescription.rec_name))
            if not prescription.prescription_line:
                raise PublishError(gettext(
                        'health_shared_record.msg_prescription_empty',
                        prescription=prescription.rec_name))

    def get_shared_record_author(self):
        return self.healthprof

    def get_shared_record_values(self, document_type):
        values = super().get_shared_record_values(document_type)
        values.update({
                'patient': self.patient,
                'effective_date': self.prescription_date,
                'institution': (
                    self.healthprof.institution if self.healthprof else None),
                })
        if self.prescription_id:
            values['title'] = '%s %s' % (
                values['title'], self.prescription_id)
        return values

    def get_shared_record_sections(self):
        Line = self.__class__.prescription_line.get_target()
        lines = self.prescription_line
        narrative = [cda.Table(
                Line.shared_record_headers() + [
                    field_label(Line, 'quantity'),
                    field_label(Line, 'short_comment')],
                [line.shared_record_row() + [
                        line.quantity or '', line.short_comment or '']
                    for line in lines])]
        if self.notes:
            narrative.append(cda.Paragraph(self.notes, label('notes')))
        return [cda.Section(
                cda.section_code('10160-0'), label('prescribed_medications'),
                narrative,
                [line.shared_record_administration('INT', 'active')
                    for line in lines])]


class PrescriptionLine(DosageMixin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.prescription.line'
