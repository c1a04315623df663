# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
from trytond.i18n import gettext
from trytond.pool import PoolMeta
from trytond.pyson import Eval

from . import cda
from .common import (
    SharedRecordOrigin, field_label, label, local_date, selection_label)
from .exceptions import PublishError

# GNU Health's routes of vaccine administration in HL7 RouteOfAdministration
ROUTES = {
    'im': cda.Code('IM', cda.ROUTE_OF_ADMINISTRATION,
        'Injection, intramuscular'),
    'sc': cda.Code('SQ', cda.ROUTE_OF_ADMINISTRATION,
        'Injection, subcutaneous'),
    'id': cda.Code('IDINJ', cda.ROUTE_OF_ADMINISTRATION,
        'Injection, intradermal'),
    'nas': cda.Code('NASINSTIL', cda.ROUTE_OF_ADMINISTRATION,
        'Instillation, nasal'),
    'po': cda.Code('PO', cda.ROUTE_OF_ADMINISTRATION, 'Swallow, oral'),
    }


class Vaccination(SharedRecordOrigin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.vaccination'
    shared_record_type_code = '87273-9'

    @classmethod
    def publish_shared_record_states(cls):
        return {
            'invisible': Eval('state') == 'in_progress',
            'depends': ['state'],
            }

    @classmethod
    def check_shared_record(cls, vaccinations):
        "A vaccination is published once the nurse has signed it, done"
        for vaccination in vaccinations:
            if not vaccination.is_done_for_shared_record():
                raise PublishError(gettext(
                        'health_shared_record.msg_vaccination_not_done',
                        vaccine=vaccination.vaccine.rec_name,
                        date=local_date(vaccination.date)))

    def is_done_for_shared_record(self):
        "Signed done, or recorded before GNU Health had the state"
        return self.state != 'in_progress'

    def get_shared_record_author(self):
        return self.signed_by or self.healthprof

    def get_shared_record_values(self, document_type):
        values = super().get_shared_record_values(document_type)
        values.update({
                'patient': self.patient,
                'effective_date': self.date,
                'institution': self.institution,
                'title': '%s: %s' % (values['title'], self.vaccine.rec_name),
                })
        return values

    def shared_record_administration(self):
        return cda.Administration(
            product=self.vaccine.rec_name,
            product_code=self.vaccine.shared_record_code(),
            start=self.date,
            route=ROUTES.get(self.admin_route),
            lot=self.vaccine_lot,
            dose_number=self.dose)

    def shared_record_row(self):
        return [
            self.vaccine.rec_name,
            local_date(self.date) or '',
            self.dose or '',
            self.vaccine_lot or '',
            selection_label(self, 'admin_route'),
            ]

    @classmethod
    def shared_record_headers(cls):
        return [
            field_label(cls, 'vaccine'),
            field_label(cls, 'date'),
            field_label(cls, 'dose'),
            field_label(cls, 'vaccine_lot'),
            field_label(cls, 'admin_route'),
            ]

    @classmethod
    def shared_record_section(cls, vaccinations):
        "The History of immunization section of the vaccinations"
        return cda.Section(
            cda.section_code('11369-6'), label('immunizations'),
            [cda.Table(
                    cls.shared_record_headers(),
                    [v.shared_record_row() for v in vaccinations])]
            if vaccinations else [cda.Paragraph(label('no_information'))],
            [v.shared_record_administration() for v in vaccinations])

    def get_shared_record_sections(self):
        return [self.shared_record_section([self])]
