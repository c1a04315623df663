# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The data read from the documents of other clinics: problems, allergies,
medications and immunizations, shown beside the patient's own records."""
from sql import Literal
from sql.operators import Exists

from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta

from .guard import Guarded

KINDS = [
    ('problem', "Problem"),
    ('allergy', "Allergy"),
    ('medication', "Medication"),
    ('immunization', "Immunization"),
    ]


class Entry(Guarded, ModelSQL, ModelView):
    "Shared Record Entry"
    __name__ = 'gnuhealth.shared_record.entry'

    document = fields.Many2One(
        'gnuhealth.shared_record.document', "Document", required=True,
        readonly=True, ondelete='CASCADE')
    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True, readonly=True,
        ondelete='CASCADE')
    kind = fields.Selection(KINDS, "Kind", required=True, readonly=True)
    kind_string = kind.translated('kind')
    name = fields.Char("Name", required=True, readonly=True)
    code = fields.Char("Code", readonly=True)
    code_system = fields.Char("Code System", readonly=True)
    start_date = fields.Date("Start", readonly=True)
    end_date = fields.Date("End", readonly=True)
    status = fields.Char("Status", readonly=True)
    dose_number = fields.Integer("Dose", readonly=True)
    lot = fields.Char("Lot", readonly=True)
    source_institution = fields.Function(
        fields.Char("Source Institution"), 'get_document_field')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('kind', 'ASC'),
            ('start_date', 'DESC NULLS LAST'),
            ('id', 'DESC'),
            ]

    @classmethod
    def guard_where(cls, table, actor):
        "Who may not see the document may not see what it says"
        Document = Pool().get('gnuhealth.shared_record.document')
        document = Document.__table__()
        return Exists(document.select(Literal(1), where=(
                    (document.id == table.document)
                    & Document.guard_where(document, actor))))

    @classmethod
    def get_document_field(cls, entries, name):
        return {e.id: getattr(e.document, name) for e in entries}


class Patient(metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'

    shared_record_entries = fields.One2Many(
        'gnuhealth.shared_record.entry', 'patient', "From Other Clinics",
        readonly=True, filter=[('document.state', '=', 'published')],
        help="The problems, allergies, medications and immunizations in "
        "the current documents that other clinics published.")
