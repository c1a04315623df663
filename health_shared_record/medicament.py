# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
import re

from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import PoolMeta

from . import cda
from .exceptions import MedicamentError

# Any level of the WHO ATC classification, from A to A10BA02
ATC_CODE = re.compile(r'^[A-Z](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?$')


class Medicament(metaclass=PoolMeta):
    __name__ = 'gnuhealth.medicament'

    atc_code = fields.Char(
        "ATC Code",
        help="The WHO Anatomical Therapeutic Chemical code, e.g. J07BB02; "
        "it codes the medicament in shared documents and lets prevention "
        "rules recognise vaccines.")

    @classmethod
    def validate(cls, medicaments):
        super().validate(medicaments)
        for medicament in medicaments:
            medicament.check_atc_code()

    def check_atc_code(self):
        if self.atc_code and not ATC_CODE.match(self.atc_code):
            raise MedicamentError(gettext(
                    'health_shared_record.msg_invalid_atc_code',
                    code=self.atc_code, medicament=self.rec_name))

    def shared_record_code(self):
        "The coded product of a CDA entry, when the ATC code is known"
        if self.atc_code:
            return cda.Code(self.atc_code, cda.ATC, self.rec_name)
