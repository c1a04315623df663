# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
import datetime as dt
import uuid

from sql.aggregate import Count

from trytond.i18n import gettext
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval, Id
from trytond.transaction import Transaction

from . import cda
from .common import StorableText, clinic_company
from .exceptions import ConfigurationError
from .selection import Selection


def alternative_id_types():
    Identification = Pool().get('gnuhealth.person_alternative_identification')
    return Identification.fields_get(
        ['alternative_id_type'])['alternative_id_type']['selection']


class Configuration(StorableText, ModelSingleton, ModelSQL, ModelView):
    "Shared Record Configuration"
    __name__ = 'gnuhealth.shared_record.configuration'

    oid_root = fields.Char(
        "OID Root",
        help="The OID that a registration authority gave to the clinic. "
        "Document identifiers are made under it; without it they are "
        "random UUIDs.")
    instance_uuid = fields.Char("Instance UUID", readonly=True)
    document_sequence = fields.Many2One(
        'ir.sequence', "Document Sequence",
        domain=[
            ('sequence_type', '=', Id(
                    'health_shared_record', 'sequence_type_document')),
            ],
        help="Numbers the documents under the OID root; numbers are "
        "never given twice. Empty for the module's own sequence.")
    patient_identifier_system = fields.Char(
        "Patient Identifier System",
        help="OID of the clinic's patient identifiers (the PUID); "
        "made under the OID root when empty.")
    national_identifier_type = Selection(
        'get_alternative_id_types', "National Identifier Type",
        help="Which of the patient's other identifiers is the national one.")
    national_identifier_system = fields.Char(
        "National Identifier System",
        states={
            'required': Eval('national_identifier_type', None) != None,  # noqa: E711,E501
            },
        help="OID of the national identifier, "
        "e.g. 1.2.250.1.213.1.4.8 for the French INS-NIR.")
    professional_identifier_system = fields.Char(
        "Professional Identifier System",
        help="OID of the professionals' license numbers, "
        "e.g. 1.2.250.1.71.4.2.1 for the French RPPS.")
    language = fields.Many2One(
        'ir.lang', "Document Language",
        domain=[('translatable', '=', True)],
        help="The language of the narratives and titles of the documents "
        "published, whoever publishes them; empty for the clinic's language "
        "(that of its company's party), else the database's default "
        "language.")
    realm = fields.Char(
        "Realm", required=True, size=3,
        help="The HL7 realm of the documents, e.g. FR, or UV for universal.")
    emergency_access_hours = fields.Integer(
        "Emergency Access (hours)", required=True,
        domain=[('emergency_access_hours', '>', 0)],
        help="How long an emergency access lasts.")
    max_file_size = fields.Integer(
        "Maximum File Size (MiB)", required=True,
        domain=[('max_file_size', '>', 0)],
        help="The largest external file that can be added to a record.")

    prevention_horizon = fields.Integer(
        "Prevention Horizon (days)",
        domain=['OR',
            ('prevention_horizon', '=', None),
            [('prevention_horizon', '>=', 0),
                # Ten years: further ahead, dates leave the calendar
                ('prevention_horizon', '<=', 3650)],
            ],
        help="How far ahead upcoming prevention key dates are shown; "
        "365 when empty, at most 3650.")

    @classmethod
    def __register__(cls, module):
        super().__register__(module)
        # The instance UUID is chosen once, when the module is activated,
        # and never again: identifiers made under it must stay stable.
        # (A singleton cannot be created from XML data: its creation locks
        # the table, which only an RPC call can retry.)
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(Count(table.id)))
        if not cursor.fetchone()[0]:
            cursor.execute(*table.insert([
                        table.create_uid, table.create_date,
                        table.instance_uuid, table.realm,
                        table.max_file_size, table.emergency_access_hours,
                        ], [[
                            0, dt.datetime.now(), str(uuid.uuid4()),
                            cls.default_realm(), cls.default_max_file_size(),
                            cls.default_emergency_access_hours(),
                            ]]))

    @classmethod
    def default_realm(cls):
        return 'UV'

    @classmethod
    def default_emergency_access_hours(cls):
        return 4

    @classmethod
    def default_max_file_size(cls):
        return 20

    @classmethod
    def get_alternative_id_types(cls):
        return alternative_id_types()

    @classmethod
    def validate(cls, configurations):
        super().validate(configurations)
        for configuration in configurations:
            configuration.check_oids()

    def check_oids(self):
        for name in [
                'oid_root', 'patient_identifier_system',
                'national_identifier_system',
                'professional_identifier_system']:
            value = getattr(self, name)
            if value and not cda.is_oid(value):
                raise ConfigurationError(gettext(
                        'health_shared_record.msg_invalid_oid',
                        value=value,
                        field=self.__names__(name)['field']))

    @property
    def base_oid(self):
        "The OID under which the clinic's identifier systems are made"
        if self.oid_root:
            return self.oid_root
        return '2.25.%d' % uuid.UUID(self.instance_uuid).int

    @property
    def patient_system(self):
        return self.patient_identifier_system or f'{self.base_oid}.2'

    @property
    def professional_system(self):
        return self.professional_identifier_system or f'{self.base_oid}.3'

    @property
    def institution_system(self):
        return f'{self.base_oid}.4'

    def new_unique_id(self):
        "Return a document identifier that was never given before"
        pool = Pool()
        Sequence = pool.get('ir.sequence')
        ModelData = pool.get('ir.model.data')
        if self.oid_root:
            sequence = self.document_sequence or Sequence(ModelData.get_id(
                    'health_shared_record', 'sequence_document'))
            return f'{self.oid_root}.1.{sequence.get()}'
        return uuid.uuid4().urn

    @property
    def document_language(self):
        """The Tryton language in which documents are written: the one
        configured, else the clinic's (its company's party), else the
        database's, whoever publishes"""
        if self.language:
            return self.language.code
        company = clinic_company()
        if company is not None and company.party.lang:
            return company.party.lang.code
        return Pool().get('ir.configuration').get_language()

    @property
    def language_code(self):
        "The BCP 47 tag of the document language"
        return self.document_language.replace('_', '-')
