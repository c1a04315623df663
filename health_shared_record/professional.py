# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
from trytond.pool import PoolMeta

from . import cda


class HealthProfessional(metaclass=PoolMeta):
    __name__ = 'gnuhealth.healthprofessional'

    def shared_record_person(self, configuration):
        "Return the professional as the author of a CDA document"
        party = self.party
        identifiers = []
        if self.code:
            identifiers.append(cda.Identifier(
                    configuration.professional_system, self.code))
        elif party.ref:
            identifiers.append(cda.Identifier(
                    configuration.patient_system, party.ref))
        specialty = (
            self.main_specialty.specialty if self.main_specialty else None)
        return cda.Person(
            identifiers=identifiers,
            given=party.name or '',
            family=party.lastname or '',
            role=cda.Code(
                specialty.code, f'{configuration.base_oid}.5',
                specialty.name) if specialty and specialty.code else None)
