# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
import base64
import datetime as dt
import hashlib
import re
from collections import defaultdict

from lxml import etree
from sql import Null
from sql.conditionals import Case, Coalesce
from sql.operators import Concat

from trytond.config import config as trytond_config
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, Workflow, fields,
    sequence_ordered)
from trytond.pool import Pool
from trytond.modules.health.core import get_institution
from trytond.pyson import Bool, Eval
from trytond.report import Report
from trytond.rpc import RPC
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from . import cda, cda_render, versioning
from .common import (
    EARLIEST_CARE, REASON_LIMIT, TITLE_LIMIT, StorableText,
    check_plausible_date, clinic_timezone, current_professional, has_words,
    local_date,
    selection_label)
from .guard import (
    Guarded, GuardedReport, actor, check_values, write_denied)
from .exceptions import (
    DocumentFrozenError, DocumentTypeError, FileError, PublishError,
    PublishWarning, WithdrawError)
from .selection import Selection

LOINC_CODE = re.compile(r'^(\d{1,7})-(\d)$')

STATES = [
    ('draft', "Draft"),
    ('published', "Published"),
    ('superseded', "Superseded"),
    ('withdrawn', "Withdrawn"),
    ]
CONFIDENTIALITY = [
    ('N', "Normal"),
    ('R', "Restricted"),
    ('V', "Very restricted"),
    ]
# The signatures of the files a clinic may add, by declared media type
FILE_TYPES = [
    (None, ''),
    ('application/pdf', "PDF"),
    ('image/jpeg', "JPEG image"),
    ('image/png', "PNG image"),
    ]
FILE_SIGNATURES = {
    'application/pdf': (b'%PDF-',),
    'image/jpeg': (b'\xff\xd8\xff',),
    'image/png': (b'\x89PNG\r\n\x1a\n',),
    }
FILE_EXTENSIONS = {
    'pdf': 'application/pdf',
    'jpg': 'image/jpeg',
    'jpeg': 'image/jpeg',
    'png': 'image/png',
    }

DRAFT = Eval('state') != 'draft'


def loinc_check_digit(number):
    "Return the Mod 10 check digit of a LOINC code's number part"
    total = 0
    for position, digit in enumerate(reversed(number)):
        value = int(digit)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def cda_schema_path():
    """The CDA.xsd against which documents are validated before they are
    stored, from the trytond configuration; the schema is HL7's and is not
    shipped with the module"""
    return trytond_config.get('health_shared_record', 'cda_schema')


class DocumentType(
        StorableText, DeactivableMixin, sequence_ordered(), ModelSQL,
        ModelView):
    "Shared Document Type"
    __name__ = 'gnuhealth.shared_record.document.type'

    code = fields.Char(
        "LOINC Code", required=True,
        help="The LOINC code of the document type, e.g. 11488-4.")
    name = fields.Char("Name", required=True, translate=True)
    publishing_groups = fields.Many2Many(
        'gnuhealth.shared_record.document.type-res.group', 'type', 'group',
        "Publishing Groups",
        help="The groups whose members may publish documents of this type; "
        "empty for every user who may publish documents.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        table = cls.__table__()
        cls._sql_constraints = [
            ('code_unique', Unique(table, table.code),
                'health_shared_record.msg_document_type_code_unique'),
            ]
        cls._order.insert(1, ('name', 'ASC'))

    @classmethod
    def get_rec_name(cls, types, name):
        """One read of the names of the types shown, however many rows of a
        list show each (trytond asks for a type once per row)"""
        ids = list({t.id for t in types})
        with without_check_access():
            names = {r['id']: r['name'] for r in cls.read(ids, ['name'])}
        return {t.id: names[t.id] for t in types}

    @classmethod
    def search_rec_name(cls, name, clause):
        if clause[1].startswith('!') or clause[1].startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('name',) + tuple(clause[1:]),
            ('code',) + tuple(clause[1:]),
            ]

    @classmethod
    def validate(cls, types):
        super().validate(types)
        for type_ in types:
            type_.check_code()

    def check_code(self):
        match = LOINC_CODE.match(self.code or '')
        if (not match
                or loinc_check_digit(match.group(1)) != int(match.group(2))):
            raise DocumentTypeError(gettext(
                    'health_shared_record.msg_document_type_invalid_code',
                    code=self.code))

    @classmethod
    def from_code(cls, code):
        "Return the active document type of a LOINC code"
        types = cls.search([('code', '=', code)], limit=1)
        if not types:
            raise PublishError(gettext(
                    'health_shared_record.msg_document_type_missing',
                    code=code))
        return types[0]

    def may_publish(self):
        "Tell whether the current user may publish documents of this type"
        if not self.publishing_groups or Transaction().user == 0:
            return True
        User = Pool().get('res.user')
        user_groups = set(User.get_groups())
        return any(g.id in user_groups for g in self.publishing_groups)


class DocumentTypeGroup(ModelSQL):
    "Shared Document Type - Group"
    __name__ = 'gnuhealth.shared_record.document.type-res.group'

    type = fields.Many2One(
        'gnuhealth.shared_record.document.type', "Type",
        required=True, ondelete='CASCADE')
    group = fields.Many2One(
        'res.group', "Group", required=True, ondelete='CASCADE')


class Document(StorableText, Guarded, Workflow, ModelSQL, ModelView):
    "Shared Document"
    __name__ = 'gnuhealth.shared_record.document'
    _rec_name = 'title'

    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True, ondelete='RESTRICT',
        states={'readonly': DRAFT | Bool(Eval('origin'))})
    document_type = fields.Many2One(
        'gnuhealth.shared_record.document.type', "Type", required=True,
        ondelete='RESTRICT',
        states={'readonly': DRAFT | Bool(Eval('origin'))})
    title = fields.Char("Title", required=True, states={'readonly': DRAFT})
    effective_date = fields.DateTime(
        "Date", required=True, states={'readonly': DRAFT},
        help="When the care the document tells of took place.")
    author = fields.Many2One(
        'gnuhealth.healthprofessional', "Author", readonly=True,
        ondelete='RESTRICT',
        help="The health professional who did the act the document tells "
        "of (the nurse who vaccinated, the doctor who examined); for a "
        "summary or a file from outside, who published it.")
    author_name = fields.Char(
        "Author Name", readonly=True,
        help="The author's name as the published document gives it.")
    publisher = fields.Many2One(
        'gnuhealth.healthprofessional', "Published By", readonly=True,
        ondelete='RESTRICT',
        help="The health professional who published the document and "
        "attests it (its legal authenticator).")
    institution = fields.Many2One(
        'gnuhealth.institution', "Institution", ondelete='RESTRICT',
        states={
            'readonly': DRAFT,
            'required': Eval('state') != 'draft',
            },
        help="The institution that keeps the document (its custodian).")
    state = Selection(STATES, "State", readonly=True, required=True)
    state_string = state.translated('state')
    confidentiality = Selection(
        CONFIDENTIALITY, "Confidentiality", required=True,
        states={'readonly': DRAFT},
        help="Very restricted documents are seen only by their author and "
        "the patient's treating physician.")
    unique_id = fields.Char(
        "Unique Identifier", readonly=True,
        help="Identifies this version of the document everywhere.")
    set_id = fields.Char(
        "Set Identifier", readonly=True,
        help="The identifier shared by all the versions of the document.")
    version = fields.Integer("Version", readonly=True)
    content = fields.Binary(
        "Content", readonly=True, filename='content_filename',
        help="The HL7 CDA R2 XML document.")
    content_filename = fields.Function(
        fields.Char("Content File Name"), 'get_content_filename')
    sha256 = fields.Char("SHA-256", readonly=True)
    size = fields.Integer("Size", readonly=True)
    origin = fields.Reference(
        "Origin", selection='get_origins', readonly=True,
        help="The GNU Health record the document was made from.")
    replaces = fields.Many2One(
        'gnuhealth.shared_record.document', "Replaces", readonly=True,
        ondelete='RESTRICT',
        help="The version this document replaces: of the same patient and "
        "type, checked when publishing.")
    replaced_by = fields.Function(fields.Many2One(
            'gnuhealth.shared_record.document', "Replaced By"),
        'get_replaced_by')
    published_date = fields.DateTime("Published", readonly=True)
    changes = fields.Text(
        "What Changed", readonly=True,
        help="What this version changes in the version it replaces.")
    file = fields.Binary(
        "File", filename='file_name',
        states={
            'readonly': DRAFT,
            'invisible': Bool(Eval('origin')) | DRAFT,
            },
        help="A file from outside, such as a scanned paper report, "
        "wrapped in the document when it is published.")
    file_name = fields.Char(
        "File Name",
        states={
            'readonly': DRAFT,
            'invisible': Bool(Eval('origin')) | DRAFT,
            })
    file_type = Selection(
        FILE_TYPES, "File Type",
        states={
            'readonly': DRAFT,
            'invisible': Bool(Eval('origin')),
            'required': Bool(Eval('file')),
            })
    source_author = fields.Char(
        "Written By",
        states={
            'readonly': DRAFT,
            'invisible': Bool(Eval('origin')),
            },
        help="Who wrote the external file, such as the colleague who "
        "signed the letter; empty when it is not known. Whoever adds "
        "the file is named as its enterer, not as its author.")
    source_organization = fields.Char(
        "From Institution",
        states={
            'readonly': DRAFT,
            'invisible': Bool(Eval('origin')),
            },
        help="The institution the external file comes from, when known.")
    attachment = fields.Function(fields.Binary(
            "Attached File", filename='file_name',
            states={
                'invisible': ~Eval('file_type') | ~DRAFT,
                }),
        'get_attachment')
    rendering = fields.Function(fields.Binary(
            "Document", filename='rendering_name',
            states={'invisible': ~Eval('content')},
            help="The document as it reads: its sections, or the file from "
            "outside it wraps. Reading it is in the access history."),
        'get_rendering')
    rendering_name = fields.Function(
        fields.Char("Rendering File Name"), 'get_rendering_name')
    withdrawal_reason = fields.Text(
        "Withdrawal Reason",
        states={
            'readonly': Eval('state') != 'published',
            'invisible': Eval('state') == 'draft',
            })
    withdrawn_by = fields.Many2One(
        'res.user', "Withdrawn By", readonly=True,
        states={'invisible': Eval('state') != 'withdrawn'})
    withdrawal_date = fields.DateTime(
        "Withdrawn", readonly=True,
        states={'invisible': Eval('state') != 'withdrawn'})

    @classmethod
    def __setup__(cls):
        super().__setup__()
        table = cls.__table__()
        cls._sql_constraints += [
            ('unique_id_unique', Unique(table, table.unique_id),
                'health_shared_record.msg_document_unique_id_unique'),
            ]
        cls._order = [
            ('effective_date', 'DESC NULLS FIRST'),
            ('id', 'DESC'),
            ]
        cls._transitions |= {
            ('draft', 'published'),
            ('published', 'superseded'),
            ('published', 'withdrawn'),
            }
        cls._buttons.update({
                'publish': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                'withdraw': {
                    'invisible': Eval('state') != 'published',
                    'readonly': ~Eval('withdrawal_reason'),
                    'depends': ['state', 'withdrawal_reason'],
                    },
                })

    @classmethod
    def __register__(cls, module):
        pool = Pool()
        Professional = pool.get('gnuhealth.healthprofessional')
        Party = pool.get('party.party')
        table_h = cls.__table_handler__(module)
        fill_author_name = not table_h.column_exist('author_name')
        fill_publisher = not table_h.column_exist('publisher')

        super().__register__(module)

        # Migration from 0.2.0, whose author was whoever published
        if fill_publisher:
            table = cls.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update(
                    [table.publisher], [table.author],
                    where=table.author != Null))

        # Migration from 0.1.0, which published documents without the
        # author's name that the lists show and the repository receives:
        # the name their content gives, the given and family names of the
        # author's party, written as GNU Health writes names
        if fill_author_name:
            table = cls.__table__()
            professional = Professional.__table__()
            party = Party.__table__()
            name = Case(
                (Coalesce(party.lastname, '') != '',
                    Concat(Concat(party.lastname, ', '), party.name)),
                else_=party.name)
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update(
                    [table.author_name],
                    [professional.join(
                            party, condition=professional.party == party.id
                            ).select(
                            name, where=professional.id == table.author)],
                    where=table.author != Null))

    @classmethod
    def __post_setup__(cls):
        super().__post_setup__()
        cls._frozen_exempt = cls.frozen_exempt_fields()

    @classmethod
    def frozen_exempt_fields(cls):
        """The fields that may still change once a document is published:
        its life cycle, never its content or clinical metadata"""
        return {
            'state', 'withdrawal_reason', 'withdrawn_by', 'withdrawal_date'}

    @staticmethod
    def default_state():
        return 'draft'

    @staticmethod
    def default_confidentiality():
        return 'N'

    @staticmethod
    def default_effective_date():
        return dt.datetime.now()

    @staticmethod
    def default_institution():
        return get_institution()

    @classmethod
    def get_origins(cls):
        Model = Pool().get('ir.model')
        models = cls._origin_models()
        return [(None, '')] + [
            (m, Model.get_name(m)) for m in models]

    @classmethod
    def _origin_models(cls):
        return [
            'gnuhealth.patient',
            'gnuhealth.patient.evaluation',
            'gnuhealth.prescription.order',
            'gnuhealth.vaccination',
            ]

    def get_content_filename(self, name):
        return (self.title or 'document') + '.xml'

    @classmethod
    def get_replaced_by(cls, documents, name):
        replaced_by = dict.fromkeys(map(int, documents))
        for sub_ids in grouped_slice(map(int, documents)):
            for newer in cls.search([
                        ('replaces', 'in', sub_ids),
                        ], order=[]):
                replaced_by[newer.replaces.id] = newer.id
        return replaced_by

    @classmethod
    def get_attachment(cls, documents, name):
        return cls._binary_values(documents, name, lambda d: (
                d.attached_data()
                if d.state != 'draft' and d.file_type else None))

    @classmethod
    def get_rendering(cls, documents, name):
        return cls._binary_values(documents, name, lambda d: (
                d.rendered() if d.content else None))

    @classmethod
    def _binary_values(cls, documents, name, value):
        """The binary values of a function field, or their sizes when the
        client asks for sizes (as it does to draw a form)"""
        size = Transaction().context.get(f'{cls.__name__}.{name}') == 'size'
        values = {}
        # The content itself, even when the same read asks for its size
        with Transaction().set_context({
                    f'{cls.__name__}.content': None,
                    f'{cls.__name__}.file': None}):
            for document in cls.browse(list(map(int, documents))):
                data = value(document)
                values[document.id] = len(data) if size and data else data
        return values

    def rendered(self):
        """The document as its reader sees it: the file it wraps when the
        client can show it (a PDF, an image), else its HTML rendering"""
        if self.file_type:
            data = self.attached_data()
            if data:
                return data
        return self.render_html()

    def get_rendering_name(self, name):
        if not self.content:
            return None
        extension = {
            'application/pdf': 'pdf',
            'image/jpeg': 'jpg',
            'image/png': 'png',
            }.get(self.file_type, 'html')
        return f'{self.title or "document"}.{extension}'

    def attached_data(self):
        "Return the file wrapped in the nonXMLBody of the content"
        root = cda.parse(self.content).getroot()
        body = root.find(
            '{%(ns)s}component/{%(ns)s}nonXMLBody/{%(ns)s}text'
            % {'ns': cda.NS})
        if body is None:
            return None
        return base64.b64decode(body.text or '')

    @fields.depends('file_name', 'file_type')
    def on_change_file_name(self):
        if self.file_name and '.' in self.file_name:
            extension = self.file_name.rsplit('.', 1)[1].lower()
            self.file_type = FILE_EXTENSIONS.get(extension, self.file_type)

    @classmethod
    def validate(cls, documents):
        super().validate(documents)
        for document in documents:
            document.check_file()
            document.check_input()

    @classmethod
    def text_limits(cls):
        "Refuse what no clinician means: a novel for a title"
        return {
            **super().text_limits(),
            'title': TITLE_LIMIT, 'file_name': TITLE_LIMIT,
            'source_author': TITLE_LIMIT, 'source_organization': TITLE_LIMIT,
            'withdrawal_reason': REASON_LIMIT,
            }

    def check_input(self):
        "Refuse what no clinician means: year 1"
        if self.state == 'draft':
            check_plausible_date(
                self, 'effective_date', EARLIEST_CARE,
                dt.datetime.now() + dt.timedelta(days=1))

    def check_file(self):
        "Refuse a file that is too large or is not what it claims to be"
        if not self.file:
            return
        Configuration = Pool().get('gnuhealth.shared_record.configuration')
        limit = Configuration(1).max_file_size
        if len(self.file) > limit * 1024 * 1024:
            raise FileError(gettext(
                    'health_shared_record.msg_file_too_large',
                    name=self.file_name or '', limit=limit))
        signatures = FILE_SIGNATURES.get(self.file_type, ())
        if not any(self.file.startswith(s) for s in signatures):
            raise FileError(gettext(
                    'health_shared_record.msg_file_type_mismatch',
                    name=self.file_name or '',
                    type=selection_label(self, 'file_type')))

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        for documents, values in zip(actions, actions):
            frozen = set(values) - cls._frozen_exempt
            if frozen:
                for document in documents:
                    if document.state != 'draft':
                        raise DocumentFrozenError(gettext(
                                'health_shared_record.msg_document_frozen',
                                document=document.rec_name,
                                fields=', '.join(sorted(
                                        cls.__names__(f)['field']
                                        for f in frozen))))
        super().write(*args)

    @classmethod
    def delete(cls, documents):
        for document in documents:
            if document.state != 'draft':
                raise DocumentFrozenError(gettext(
                        'health_shared_record.msg_document_delete_published',
                        document=document.rec_name))
        super().delete(documents)

    @classmethod
    def copy(cls, documents, default=None):
        "A copy is a new draft: of the document's life, it keeps nothing"
        default = default.copy() if default is not None else {}
        for name in [
                'unique_id', 'set_id', 'version', 'content', 'sha256',
                'size', 'replaces', 'published_date', 'author', 'author_name',
                'publisher', 'changes', 'withdrawal_reason', 'withdrawn_by',
                'withdrawal_date',
                'origin']:
            default.setdefault(name, None)
        for name, field in cls._fields.items():
            if field._type in {'one2many', 'many2many'}:
                default.setdefault(name, None)
        default.setdefault('state', 'draft')
        return super().copy(documents, default=default)

    # What a client may do, the workflow aside

    @classmethod
    def guard_draft_fields(cls):
        "The fields a client fills in a draft of its own"
        return {
            'patient', 'document_type', 'title', 'effective_date',
            'institution', 'confidentiality', 'file', 'file_name',
            'file_type', 'source_author', 'source_organization', 'replaces'}

    @classmethod
    def guard_check_create(cls, vlist, actor):
        Patient = Pool().get('gnuhealth.patient')
        if not actor.clinician:
            raise write_denied(cls)
        for values in vlist:
            cls.guard_check_draft_values(values)
        Patient.check_shared_record_actor(Patient.browse(
                {v['patient'] for v in vlist if v.get('patient')}))

    @classmethod
    def guard_check_draft_values(cls, values):
        check_values(cls, values, cls.guard_draft_fields())
        # A new version of a document one sees, checked when published
        if values.get('replaces'):
            cls.guard_check_readable([values['replaces']])

    @classmethod
    def guard_check_write(cls, records, values, actor):
        Patient = Pool().get('gnuhealth.patient')
        if all(cls.guard_own_draft(r, actor) for r in records):
            cls.guard_check_draft_values(values)
            patients = {r.patient for r in records}
            if values.get('patient'):
                patients.add(Patient(values['patient']))
            Patient.check_shared_record_actor(list(patients))
        elif not (values.keys() <= {'withdrawal_reason'} and all(
                    r.state == 'published' and r.may_withdraw(actor)
                    for r in records)):
            raise write_denied(cls)

    @classmethod
    def guard_check_delete(cls, records, actor):
        if not all(cls.guard_own_draft(r, actor) for r in records):
            raise write_denied(cls)

    @classmethod
    def guard_check_copy(cls, records, actor):
        if not actor.clinician:
            raise write_denied(cls)

    @staticmethod
    def guard_own_draft(document, actor):
        return document.state == 'draft' and (
            document.create_uid and document.create_uid.id == actor.user)

    def may_withdraw(self, actor):
        """Whether actor may withdraw the document: its author or its
        publisher, or an officer"""
        return actor.root or actor.officer or self.is_by(actor.professional)

    def is_by(self, professional):
        "Whether professional (an id) wrote or published the document"
        return professional is not None and professional in {
            p.id for p in (self.author, self.publisher) if p is not None}

    @classmethod
    @ModelView.button
    @Workflow.transition('published')
    def publish(cls, documents):
        """Sign, number and freeze the documents, and supersede the versions
        they replace"""
        if not documents:
            return
        pool = Pool()
        Configuration = pool.get('gnuhealth.shared_record.configuration')
        configuration = Configuration(1)
        publisher = current_professional()
        cls.check_publishable(documents)
        replaced = [d.replaces for d in documents if d.replaces]
        # No lock: two publications replacing the same version both write
        # it (supersede); the database refuses the second writer, whose
        # request trytond runs again, and the check then sees the version
        # replaced.  A lock would also wait for every reader whose access
        # is being logged
        cls.check_replaceable(documents)
        now = dt.datetime.now()
        for document in documents:
            # The author of the act, when publishing a record; else the
            # publisher, who writes a summary or adds a file
            if document.author is None:
                document.author = publisher
            document.author_name = document.author.rec_name
            document.publisher = publisher
            document.published_date = now
            document.unique_id = configuration.new_unique_id()
            if document.replaces:
                document.set_id = document.replaces.set_id
                document.version = document.replaces.version + 1
            else:
                document.set_id = document.unique_id
                document.version = 1
        for document, content in zip(
                documents, cls.build_contents(documents, configuration)):
            document.set_content(content)
            document.file = None
        cls.save(documents)
        if replaced:
            cls.supersede(replaced)

    @classmethod
    def check_publishable(cls, documents):
        Patient = Pool().get('gnuhealth.patient')
        Patient.check_shared_record_actor(list({d.patient for d in documents}))
        for document_type in {d.document_type for d in documents}:
            if not document_type.may_publish():
                raise PublishError(gettext(
                        'health_shared_record.msg_publish_type_forbidden',
                        type=document_type.rec_name))
        for document in documents:
            if not document.institution:
                raise PublishError(gettext(
                        'health_shared_record.msg_no_institution',
                        document=document.rec_name))
            if not document.origin and not document.file:
                raise PublishError(gettext(
                        'health_shared_record.msg_nothing_to_publish',
                        document=document.rec_name))
        Patient = Pool().get('gnuhealth.patient')
        Patient.check_shared_record_identity(
            list({d.patient for d in documents}))

    @classmethod
    def check_replaceable(cls, documents):
        """Refuse a second new version of the same document: two clinicians
        replacing it at once make one version and one clear error"""
        replaced = cls.browse([d.replaces.id for d in documents if d.replaces])
        # A version one may not see is not one's to replace
        if set(map(int, replaced)) - cls.guard_readable_ids(replaced):
            raise PublishError(gettext(
                    'health_shared_record.msg_document_replace_hidden'))
        seen = set()
        for document in replaced:
            if document.state != 'published' or document in seen:
                raise PublishError(gettext(
                        'health_shared_record.msg_document_already_replaced',
                        document=document.rec_name))
            seen.add(document)
        for document in documents:
            if document.replaces and (
                    document.replaces.patient != document.patient
                    or document.replaces.document_type
                    != document.document_type):
                raise PublishError(gettext(
                        'health_shared_record.msg_document_replace_mismatch',
                        document=document.rec_name,
                        replaced=document.replaces.rec_name))

    def set_content(self, content):
        self.content = content
        self.sha256 = hashlib.sha256(content).hexdigest()
        self.size = len(content)

    @classmethod
    def build_contents(cls, documents, configuration):
        """Return the CDA XML of each document, validated against the schema
        when one is configured"""
        # The narratives are written in the document language, whoever
        # publishes: the origins are read again in that language, in one
        # list per model so that each field is read for all at once.
        # Times are told in the clinic's zone, looked up once.
        with cls.document_context(configuration):
            origins = cls.browse_origins(documents)
            # The institutions and authors of a batch repeat: each is
            # read once (its address, telephone and specialty)
            known = {}
            contents = [
                d.build_content(configuration, origins.get(d.origin), known)
                for d in documents]
        schema = cda_schema_path()
        if schema:
            for document, content in zip(documents, contents):
                errors = cda.schema_errors(content, schema)
                if errors:
                    raise PublishError(gettext(
                            'health_shared_record.msg_cda_invalid',
                            document=document.rec_name,
                            errors='\n'.join(errors[:10])))
        return contents

    @classmethod
    def browse_origins(cls, documents):
        "Return the origins of the documents by origin, in one list a model"
        pool = Pool()
        ids = defaultdict(list)
        for document in documents:
            if document.origin:
                ids[document.origin.__name__].append(document.origin.id)
        origins = {}
        for name, record_ids in ids.items():
            for record in pool.get(name).browse(record_ids):
                origins[record] = record
        return origins

    def build_content(self, configuration, origin=None, known=None):
        """Return the CDA XML of the document made from origin or its file;
        known keeps the parties already read, for the next documents"""
        header = self.cda_header(configuration, known)
        if origin:
            return cda.build(header, origin.get_shared_record_sections())
        return cda.build(header, attachment=cda.Attachment(
                self.file, self.file_type))

    def custodian_organization(self, configuration):
        "The institution that keeps the document, with its letterhead"
        party = self.institution.party
        address = party.addresses[0] if party.addresses else None
        return cda.Organization(
            cda.Identifier(
                configuration.institution_system, self.institution.code),
            self.institution.rec_name,
            telecom=(
                'tel:' + party.phone.replace(' ', '')
                if getattr(party, 'phone', None) else None),
            address=cda.Address(
                street=', '.join(
                    filter(None, (address.street or '').splitlines())),
                postal_code=address.postal_code or '',
                city=address.city or '',
                country=address.country.name if address.country else '',
                ) if address else None)

    def cda_header(self, configuration, known=None):
        known = {} if known is None else known
        key = ('institution', self.institution.id)
        if key not in known:
            known[key] = self.custodian_organization(configuration)
        custodian = known[key]

        def person(professional):
            key = ('professional', professional.id)
            if key not in known:
                known[key] = professional.shared_record_person(configuration)
            return known[key]
        key = ('type', self.document_type.id)
        if key not in known:
            # Named in the language the document is written in (the
            # context), not in that of the publisher, who read the type
            known[key] = self.document_type.__class__(
                self.document_type.id).name
        type_name = known[key]
        publisher = person(self.publisher)
        signer, referrer = publisher, None
        if self.origin:
            # Who did the act wrote it; who published it attests it,
            # unless the record was signed by someone else (a laboratory
            # test's validating biologist)
            author, author_time = person(self.author), self.published_date
            author_organization = None
            signed_by = self.origin.get_shared_record_signer()
            if signed_by is not None:
                signer = person(signed_by)
            requested_by = self.origin.get_shared_record_referrer()
            if requested_by is not None:
                referrer = person(requested_by)
        else:
            # An external file is the work of whoever wrote it, known or
            # not; the professional who adds it only enters it
            author = (cda.Person([], full_name=self.source_author)
                if self.source_author else None)
            author_time = None
            author_organization = (
                cda.Organization(None, self.source_organization)
                if self.source_organization else None)
        return cda.Header(
            unique_id=self.unique_id,
            set_id=self.set_id,
            version=self.version,
            type_code=cda.Code(self.document_type.code, cda.LOINC, type_name),
            title=self.title,
            effective_time=self.published_date,
            service_time=self.effective_date,
            timezone=clinic_timezone(),
            confidentiality=self.confidentiality,
            language=configuration.language_code,
            realm=configuration.realm,
            patient=self.patient.shared_record_person(configuration),
            author=author,
            author_time=author_time,
            author_organization=author_organization,
            data_enterer=None if self.origin else publisher,
            legal_authenticator=signer if self.origin else None,
            referrer=referrer,
            custodian=custodian,
            replaces=self.replaces.unique_id if self.replaces else None)

    @classmethod
    @Workflow.transition('superseded')
    def supersede(cls, documents):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('withdrawn')
    def withdraw(cls, documents):
        "Withdraw published documents; each must say why"
        who = actor()
        for document in documents:
            if not document.may_withdraw(who):
                raise WithdrawError(gettext(
                        'health_shared_record.msg_withdraw_not_author',
                        document=document.rec_name))
            if not has_words(document.withdrawal_reason):
                raise WithdrawError(gettext(
                        'health_shared_record.msg_withdrawal_reason_required',
                        document=document.rec_name))
        cls.write(documents, {
                'withdrawn_by': Transaction().user,
                'withdrawal_date': dt.datetime.now(),
                })

    @classmethod
    def publish_records(cls, records):
        """Publish a document made from each GNU Health record, as a new
        version of the one already published from it, if any"""
        if not records:
            return []
        pool = Pool()
        DocumentType = pool.get('gnuhealth.shared_record.document.type')
        Configuration = pool.get('gnuhealth.shared_record.configuration')
        Origin = records[0].__class__
        Origin.check_shared_record(records)
        document_type = DocumentType.from_code(Origin.shared_record_type_code)
        origins = [str(r) for r in records]
        current = {}
        # The current versions, whoever may see them: one the user may not
        # see is refused by the check of what it replaces, not published
        # beside it as a document of its own
        with Transaction().set_user(0):
            for sub_origins in grouped_slice(origins):
                for document in cls.search([
                            ('origin', 'in', sub_origins),
                            ('state', '=', 'published'),
                            ], order=[]):
                    current[str(document.origin)] = document.id
        current = {o: cls(i) for o, i in current.items()}
        configuration = Configuration(1)
        # Titles and bodies in the clinic's language, whoever publishes
        with cls.document_context(configuration):
            zone = clinic_timezone()
            localized = Origin.browse(records)
            values_list = [
                r.get_shared_record_values(DocumentType(document_type.id))
                for r in localized]
            # A record published before makes a new version only when
            # what it says changed
            new_bodies = {
                r: cda.body(r.get_shared_record_sections(), zone)
                for r in localized if str(r) in current}
        old_bodies = versioning.bodies(list(current.values()))
        to_publish, unchanged = [], []
        for record, localized_record, values in zip(
                records, localized, values_list):
            previous = current.get(str(record))
            if previous:
                values['changes'] = versioning.changes(
                    previous, old_bodies[previous],
                    new_bodies[localized_record], values,
                    Origin.shared_record_versioned_fields)
                if not values['changes']:
                    unchanged.append(previous)
                    continue
            if not values.get('institution'):
                values['institution'] = cls.default_institution()
            document = cls(**values)
            document.origin = record
            document.replaces = previous
            if previous:
                document.confidentiality = previous.confidentiality
            to_publish.append(document)
        if unchanged:
            cls.check_unchanged(unchanged, to_publish)
        cls.save(to_publish)
        cls.publish(to_publish)
        return to_publish

    @classmethod
    def document_context(cls, configuration):
        """The context documents are written in: the clinic's language and
        time zone, whoever publishes"""
        zone = clinic_timezone()
        return Transaction().set_context(
            language=configuration.document_language,
            shared_record_timezone=zone.key if zone else '')

    @classmethod
    def check_unchanged(cls, unchanged, to_publish):
        """Say that the records of the unchanged versions get no new one:
        an error when nothing else is published, else a warning to go on;
        nothing when the server publishes on its own (a laboratory test
        validated again, unchanged), as it has nobody to tell"""
        transaction = Transaction()
        if transaction.user == 0 and transaction.context.get(
                'shared_record_publisher'):
            return
        pool = Pool()
        Lang = pool.get('ir.lang')
        Warning = pool.get('res.user.warning')
        document = unchanged[0]
        values = {
            'document': document.rec_name,
            'version': document.version,
            'date': Lang.get().strftime(local_date(document.published_date)),
            'count': len(unchanged),
            }
        if not to_publish:
            raise PublishError(gettext(
                    'health_shared_record.msg_publish_unchanged'
                    if len(unchanged) == 1 else
                    'health_shared_record.msg_publish_none_changed',
                    **values))
        key = 'shared_record_unchanged.%s' % hashlib.sha256(','.join(
                sorted(str(d.id) for d in unchanged)).encode()).hexdigest()
        if Warning.check(key):
            raise PublishWarning(key, gettext(
                    'health_shared_record.msg_publish_some_unchanged',
                    **values))

    def render_html(self):
        "Return a readable HTML rendering of the published content"
        Lang = Pool().get('ir.lang')
        lang = Lang.get()
        labels = {
            name: gettext(f'health_shared_record.msg_label_{name}')
            for name in cda_render.LABELS}
        return cda_render.render_html(
            self.content, labels, cda_render.Formats(lang.date))


class DocumentReport(GuardedReport, Report):
    "Readable rendering of a shared document"
    __name__ = 'gnuhealth.shared_record.document.rendering'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # Printing a document is logged: the call writes
        cls.__rpc__['execute'] = RPC(readonly=False)

    @classmethod
    def _execute(cls, records, header, data, action):
        Document = Pool().get('gnuhealth.shared_record.document')
        ids = [r.id for r in records]
        Document.guard_check_readable(ids)
        documents = [d for d in Document.browse(ids) if d.content]
        if not documents:
            raise PublishError(gettext(
                    'health_shared_record.msg_nothing_to_render'))
        Document.log_access(documents, 'print')
        return 'html', cls.render_documents(documents)

    @classmethod
    def render_documents(cls, documents):
        if len(documents) == 1:
            return documents[0].render_html()
        # One page a document, so that printing several keeps them apart
        bodies = []
        for document in documents:
            page = etree.fromstring(
                document.render_html(), parser=etree.HTMLParser())
            body = page.find('body')
            body.tag = 'section'
            body.set('style', 'page-break-after:always')
            bodies.append(etree.tostring(body, encoding='unicode'))
        head = etree.fromstring(
            documents[0].render_html(), parser=etree.HTMLParser()).find('head')
        return (
            '<!DOCTYPE html><html>' + etree.tostring(head, encoding='unicode')
            + '<body>' + ''.join(bodies) + '</body></html>').encode('utf-8')


class AddFileStart(ModelView):
    "Add External File"
    __name__ = 'gnuhealth.shared_record.add_file.start'

    patient = fields.Many2One('gnuhealth.patient', "Patient", required=True)
    document_type = fields.Many2One(
        'gnuhealth.shared_record.document.type', "Type", required=True)
    title = fields.Char("Title", required=True)
    effective_date = fields.DateTime("Date", required=True)
    confidentiality = Selection(
        CONFIDENTIALITY, "Confidentiality", required=True)
    file = fields.Binary("File", required=True, filename='file_name')
    file_name = fields.Char("File Name")
    file_type = Selection(
        FILE_TYPES, "File Type", required=True,
        help="What the file is; it is checked against the file's content.")
    source_author = fields.Char(
        "Written By",
        help="Who wrote the file, such as the colleague who signed the "
        "letter; empty when it is not known.")
    source_organization = fields.Char(
        "From Institution",
        help="The institution the file comes from, when known.")

    @fields.depends('file_name', 'file_type')
    def on_change_file_name(self):
        Document = Pool().get('gnuhealth.shared_record.document')
        Document.on_change_file_name(self)


class AddFile(Wizard):
    "Add External File"
    __name__ = 'gnuhealth.shared_record.add_file'

    start = StateView(
        'gnuhealth.shared_record.add_file.start',
        'health_shared_record.add_file_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Publish", 'publish', 'tryton-ok', default=True),
            ])
    publish = StateTransition()

    def default_start(self, fields):
        Document = Pool().get('gnuhealth.shared_record.document')
        defaults = {
            'confidentiality': Document.default_confidentiality(),
            'effective_date': Document.default_effective_date(),
            }
        if self.model and self.model.__name__ == 'gnuhealth.patient':
            defaults['patient'] = self.record.id
        return defaults

    def transition_publish(self):
        Document = Pool().get('gnuhealth.shared_record.document')
        document = Document(
            patient=self.start.patient,
            document_type=self.start.document_type,
            title=self.start.title,
            effective_date=self.start.effective_date,
            confidentiality=self.start.confidentiality,
            file=self.start.file,
            file_name=self.start.file_name,
            file_type=self.start.file_type,
            source_author=self.start.source_author,
            source_organization=self.start.source_organization)
        document.save()
        Document.publish([document])
        return 'end'
