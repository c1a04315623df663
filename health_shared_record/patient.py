# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
import datetime as dt

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from . import cda, relation
from .common import SharedRecordOrigin, label
from .exceptions import PublishError

SUMMARY_TYPE_CODE = '60591-5'
# The records of GNU Health that the summary being prepared leaves out
EXCLUDE = 'shared_record_summary_exclude'


def excluded(records):
    "The records, but those the summary being prepared leaves out"
    left_out = set(Transaction().context.get(EXCLUDE) or ())
    return [r for r in records if str(r) not in left_out]


class Patient(SharedRecordOrigin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'
    shared_record_type_code = SUMMARY_TYPE_CODE
    shared_record_versioned_fields = ('title', 'institution')

    shared_documents = relation.One2Many(
        'gnuhealth.shared_record.document', 'patient', "Shared Documents",
        readonly=True,
        help="Every document of the patient's shared record, "
        "all versions included.")
    shared_record_current = relation.One2Many(
        'gnuhealth.shared_record.document', 'patient', "Shared Record",
        readonly=True,
        filter=[('state', '!=', 'superseded')],
        order=[
            ('document_type.sequence', 'ASC NULLS LAST'),
            ('effective_date', 'DESC'),
            ('id', 'DESC'),
            ],
        help="The patient's documents by type, newest first; "
        "replaced versions are under \"All Versions\".")
    shared_record_summary = fields.Function(fields.Many2One(
            'gnuhealth.shared_record.document', "Patient Summary",
            help="The latest published patient summary."),
        'get_shared_record_summary')

    shared_record_summary_reading = relation.One2Many(
        'gnuhealth.shared_record.document', 'patient', "Summary to Read",
        readonly=True,
        filter=[
            ('document_type.code', '=', SUMMARY_TYPE_CODE),
            ('state', '=', 'published'),
            ],
        order=[('published_date', 'DESC'), ('id', 'DESC')],
        help="The latest patient summary, to read in place; reading it "
        "is in the access history.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'add_shared_record_file': {},
                })

    @classmethod
    def get_shared_record_summary(cls, patients, name):
        Document = Pool().get('gnuhealth.shared_record.document')
        summaries = dict.fromkeys(map(int, patients))
        for sub_ids in grouped_slice(list(map(int, patients))):
            for document in Document.search([
                        ('patient', 'in', sub_ids),
                        ('document_type.code', '=', SUMMARY_TYPE_CODE),
                        ('state', '=', 'published'),
                        ], order=[('published_date', 'ASC'), ('id', 'ASC')]):
                summaries[document.patient.id] = document.id
        return summaries

    @classmethod
    @ModelView.button_action('health_shared_record.wizard_add_file')
    def add_shared_record_file(cls, patients):
        pass

    @classmethod
    def check_shared_record_identity(cls, patients):
        "Refuse to publish for patients whose identity a document needs"
        for patient in cls.browse(patients):
            party = patient.party
            missing = [
                party.__names__(name)['field']
                for name in ['ref', 'name', 'lastname', 'dob', 'gender']
                if not getattr(party, name)]
            if missing:
                raise PublishError(gettext(
                        'health_shared_record.msg_patient_identity_missing',
                        patient=patient.rec_name,
                        fields=', '.join(missing)))

    def shared_record_person(self, configuration):
        "Return the patient as the record target of a CDA document"
        party = self.party
        identifiers = [cda.Identifier(configuration.patient_system, party.ref)]
        if configuration.national_identifier_type:
            for alternative in party.alternative_ids:
                if (alternative.alternative_id_type
                        == configuration.national_identifier_type):
                    identifiers.append(cda.Identifier(
                            configuration.national_identifier_system,
                            alternative.code))
                    break
        return cda.Person(
            identifiers=identifiers,
            given=party.name or '',
            family=party.lastname or '',
            sex=self.biological_sex or party.gender,
            birth_date=party.dob)

    def get_shared_record_values(self, document_type):
        values = super().get_shared_record_values(document_type)
        values.update({
                'patient': self,
                'effective_date': dt.datetime.now(),
                })
        return values

    def get_shared_record_sections(self):
        pool = Pool()
        Disease = pool.get('gnuhealth.patient.disease')
        Medication = pool.get('gnuhealth.patient.medication')
        Vaccination = pool.get('gnuhealth.vaccination')
        Evaluation = pool.get('gnuhealth.patient.evaluation')
        problems = excluded([
                d for d in self.diseases if d.is_active and not d.is_allergy])
        found = excluded(Evaluation.shared_record_summary_problems(
                self, {d.pathology.id for d in self.diseases}))
        allergies = excluded([
                d for d in self.diseases if d.is_allergy and d.is_active])
        medications = excluded([m for m in self.medications if m.is_active])
        vaccinations = sorted(excluded(
                [v for v in self.vaccinations
                    if v.is_done_for_shared_record()]),
            key=lambda v: v.date or dt.datetime.min)

        def table(Model, records, more_rows=()):
            rows = [r.shared_record_row() for r in records] + list(more_rows)
            if not rows:
                return [cda.Paragraph(label('no_information'))]
            return [cda.Table(Model.shared_record_headers(), rows)]

        return [
            cda.Section(
                cda.section_code('11450-4'), label('active_problems'),
                table(Disease, problems,
                    [e.shared_record_summary_row() for e in found]),
                [d.shared_record_problem() for d in problems]
                + [e.shared_record_summary_problem() for e in found]),
            cda.Section(
                cda.section_code('48765-2'), label('allergies'),
                table(Disease, allergies),
                [d.shared_record_allergy() for d in allergies]),
            cda.Section(
                cda.section_code('10160-0'), label('current_medications'),
                table(Medication, medications),
                [m.shared_record_administration('EVN', 'active')
                    for m in medications]),
            Vaccination.shared_record_section(vaccinations),
            ]
