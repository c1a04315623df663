# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The data read from the documents of other clinics: problems, allergies,
medications, immunizations, results and vital signs, shown beside the
patient's own records with what each statement means: negated, planned,
with its status, its date's precision, its severity and reactions."""
from sql import Literal
from sql.operators import Exists

from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta

from .guard import Guarded
from .selection import Selection

KINDS = [
    ('problem', "Problem"),
    ('allergy', "Allergy"),
    ('medication', "Medication"),
    ('immunization', "Immunization"),
    ('result', "Result"),
    ('vital_sign', "Vital Sign"),
    ]
STATUSES = [
    (None, ""),
    ('active', "Active"),
    ('inactive', "Inactive"),
    ('resolved', "Resolved"),
    ('completed', "Completed"),
    ('aborted', "Stopped"),
    ('suspended', "Suspended"),
    ('cancelled', "Cancelled"),
    ('held', "On Hold"),
    ('new', "New"),
    ('normal', "Normal"),
    ('nullified', "Nullified"),
    ('obsolete', "Obsolete"),
    ]
PRECISIONS = [
    (None, ""),
    ('year', "Year"),
    ('month', "Month"),
    ('day', "Day"),
    ]
# What the reader stores, field by field, with the size it keeps
STORED = {
    'kind': None, 'name': 512, 'code': 64, 'system': 64, 'status': None,
    'start': None, 'end': None, 'start_precision': None,
    'end_precision': None, 'dose_number': None, 'lot': 64,
    'negated': None, 'planned': None, 'severity': 128, 'reaction': 512,
    'reason': 256, 'comment': 2000, 'value': 256, 'unit': 64,
    'interpretation': 16, 'reference_range': 256, 'atc': 16,
    }
FIELDS = {'system': 'code_system', 'start': 'start_date', 'end': 'end_date'}


class Entry(Guarded, ModelSQL, ModelView):
    "Shared Record Entry"
    __name__ = 'gnuhealth.shared_record.entry'

    document = fields.Many2One(
        'gnuhealth.shared_record.document', "Document", required=True,
        readonly=True, ondelete='CASCADE')
    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True, readonly=True,
        ondelete='CASCADE')
    kind = Selection(KINDS, "Kind", required=True, readonly=True)
    kind_string = kind.translated('kind')
    name = fields.Char("Name", required=True, readonly=True)
    code = fields.Char("Code", readonly=True)
    code_system = fields.Char("Code System", readonly=True)
    atc = fields.Char("ATC Code", readonly=True,
        help="The ATC class the document gives the medicament.")
    negated = fields.Boolean("Stated Absent", readonly=True,
        help="The document states the opposite: no known allergy, "
        "no such problem, vaccine or medicament not given.")
    planned = fields.Boolean("Planned", readonly=True,
        help="Prescribed or planned, not stated as taken or given.")
    start_date = fields.Date("Start Date", readonly=True)
    start_precision = Selection(
        PRECISIONS, "Start Precision", readonly=True)
    end_date = fields.Date("End Date", readonly=True)
    end_precision = Selection(
        PRECISIONS, "End Precision", readonly=True)
    start = fields.Function(fields.Char("Start"), 'get_when')
    end = fields.Function(fields.Char("End"), 'get_when')
    status = Selection(STATUSES, "Status", readonly=True)
    status_string = status.translated('status')
    severity = fields.Char("Severity", readonly=True)
    reaction = fields.Char("Reaction", readonly=True)
    reason = fields.Char("Reason", readonly=True,
        help="Why it was not given or not taken.")
    comment = fields.Text("Comment", readonly=True)
    value = fields.Char("Value", readonly=True)
    unit = fields.Char("Unit", readonly=True)
    interpretation = fields.Char("Interpretation", readonly=True,
        help="N normal, L low, H high, LL and HH critical, A abnormal.")
    reference_range = fields.Char("Reference Range", readonly=True)
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
    def values(cls, read):
        """The values of the entry the reader read, cut to what is kept"""
        values = {}
        for name, size in STORED.items():
            value = getattr(read, name)
            if size and value:
                value = value[:size]
            values[FIELDS.get(name, name)] = value
        return values

    @classmethod
    def get_when(cls, entries, name):
        "A date as precise as the document wrote it: 2019, 2019-03"
        lengths = {'year': 4, 'month': 7}
        result = {}
        for entry in entries:
            date = getattr(entry, f'{name}_date')
            precision = getattr(entry, f'{name}_precision')
            result[entry.id] = (
                date.isoformat()[:lengths.get(precision, 10)]
                if date else None)
        return result

    @classmethod
    def get_document_field(cls, entries, name):
        return {e.id: getattr(e.document, name) for e in entries}


class Patient(metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'

    shared_record_entries = fields.One2Many(
        'gnuhealth.shared_record.entry', 'patient', "From Other Clinics",
        readonly=True, filter=[('document.state', '=', 'published')],
        help="The problems, allergies, medications, immunizations, results "
        "and vital signs in the current documents that other clinics "
        "published, with what each states: absent, planned, its status.")
