# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The trails of the shared record: every access to a document and every
privacy choice, which nobody changes once written."""
from sql import Literal
from sql.functions import CurrentTimestamp

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from .exceptions import AccessTrailError
from .guard import Guarded, actor, patient_in
from .selection import Selection

ACCESS_MODES = [
    ('normal', "Normal"),
    ('author', "Author"),
    ('treating', "Treating physician"),
    ('emergency', "Emergency"),
    ('patient', "Patient"),
    ]
ACCESS_ACTIONS = [
    ('open', "Opened"),
    ('download', "Downloaded"),
    ('print', "Printed"),
    ('export', "Exported"),
    ('send', "Sent to a colleague"),
    ]
CONSENT_ACTIONS = [
    ('mask', "Document masked"),
    ('unmask', "Document unmasked"),
    ('release', "Document released to the patient"),
    ('block', "Professional blocked"),
    ('unblock', "Professional unblocked"),
    ('opposition', "Shared record refused"),
    ('opposition_lifted', "Shared record accepted again"),
    ('emergency_opposition', "Emergency access refused"),
    ('emergency_opposition_lifted', "Emergency access accepted again"),
    ]


class AppendOnly(Guarded, ModelSQL):
    """A trail that nobody, administrators included, changes, deletes or
    copies once written, and that only the server writes"""
    __slots__ = ()

    @classmethod
    def write(cls, *args):
        raise AccessTrailError(gettext(
                'health_shared_record.msg_trail_read_only',
                trail=cls.__names__()['model']))

    @classmethod
    def delete(cls, records):
        raise AccessTrailError(gettext(
                'health_shared_record.msg_trail_read_only',
                trail=cls.__names__()['model']))

    @classmethod
    def copy(cls, records, default=None):
        raise AccessTrailError(gettext(
                'health_shared_record.msg_trail_read_only',
                trail=cls.__names__()['model']))


class AccessLog(AppendOnly, ModelView):
    "Shared Record Access"
    __name__ = 'gnuhealth.shared_record.access_log'

    document = fields.Many2One(
        'gnuhealth.shared_record.document', "Document", readonly=True,
        required=True, ondelete='RESTRICT')
    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", readonly=True, required=True,
        ondelete='RESTRICT')
    user = fields.Many2One(
        'res.user', "User", readonly=True, required=True,
        ondelete='RESTRICT')
    professional = fields.Many2One(
        'gnuhealth.healthprofessional', "Professional", readonly=True,
        ondelete='RESTRICT')
    mode = Selection(ACCESS_MODES, "Mode", readonly=True, required=True)
    action = Selection(
        ACCESS_ACTIONS, "Action", readonly=True, required=True)
    recipient = fields.Char(
        "Sent To", readonly=True,
        help="Whom the document was sent to, by secure messaging.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls._sql_indexes.update(cls.history_indexes())

    @classmethod
    def history_indexes(cls):
        """The indexes that keep the lists' first page, newest first, fast at
        millions of lines (PostgreSQL reads a B-tree backwards): a patient's
        history, everyone's, and the accesses made under emergency, which
        the privacy officer reviews"""
        table = cls.__table__()
        newest = [
            (table.create_date, Index.Range()), (table.id, Index.Range())]
        return {
            Index(table, (table.patient, Index.Range()), *newest),
            Index(table, *newest),
            Index(table, *newest, where=table.mode == 'emergency'),
            }

    @classmethod
    def guard_where(cls, table, actor):
        "The patient reads who accessed their record; officers, everything"
        return Literal(actor.root or actor.officer) | patient_in(
            table.patient, actor)

    @classmethod
    def record(cls, documents, action, recipient=None):
        """Log that the current user accessed the documents (records or
        ids); the mode says on which ground the policy let them see it.

        The lines are the server's own, with nothing a client gives: one
        statement makes them from the documents' rows (the mode as
        Document.access_mode_sql says), without loading the documents and
        patients, large records, nor the ORM's checks and reading back,
        which together cost as much as the read they log"""
        pool = Pool()
        Document = pool.get('gnuhealth.shared_record.document')
        Patient = pool.get('gnuhealth.patient')
        user = Transaction().user
        if user == 0 or not documents:
            return
        who = actor()
        table = cls.__table__()
        document = Document.__table__()
        patient = Patient.__table__()
        professional = who.professional if who.professional >= 0 else None
        cursor = Transaction().connection.cursor()
        for sub_ids in grouped_slice(list(map(int, documents))):
            cursor.execute(*table.insert([
                        table.document, table.patient, table.user,
                        table.professional, table.mode, table.action,
                        table.recipient, table.create_uid, table.create_date],
                    document.join(patient,
                        condition=patient.id == document.patient).select(
                        document.id, document.patient, Literal(user),
                        Literal(professional),
                        Document.access_mode_sql(document, patient, who),
                        Literal(action), Literal(recipient), Literal(0),
                        CurrentTimestamp(),
                        where=reduce_ids(document.id, sub_ids))))


class Consent(AppendOnly, ModelView):
    "Shared Record Privacy Choice"
    __name__ = 'gnuhealth.shared_record.consent'

    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", readonly=True, required=True,
        ondelete='RESTRICT')
    action = Selection(
        CONSENT_ACTIONS, "Choice", readonly=True, required=True)
    document = fields.Many2One(
        'gnuhealth.shared_record.document', "Document", readonly=True,
        ondelete='RESTRICT')
    professional = fields.Many2One(
        'gnuhealth.healthprofessional', "Professional", readonly=True,
        ondelete='RESTRICT')
    user = fields.Many2One(
        'res.user', "Recorded By", readonly=True, required=True,
        ondelete='RESTRICT')
    by_patient = fields.Boolean(
        "By the Patient", readonly=True,
        help="Made by the patient; otherwise recorded by staff at the "
        "patient's request.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def guard_where(cls, table, actor):
        """The patient's own choices; officers, every choice; staff, who
        record them at the patient's request, those of the patients who
        did not block them"""
        Block = Pool().get('gnuhealth.shared_record.blocked_professional')
        where = Literal(actor.root or actor.officer) | patient_in(
            table.patient, actor)
        if actor.staff:
            where |= ~Block.blocks(table.patient, actor.professional)
        return where

    @classmethod
    def record(cls, patient, action, document=None, professional=None):
        user = Transaction().user
        with Transaction().set_user(0):
            cls.create([{
                        'patient': patient.id,
                        'action': action,
                        'document': document.id if document else None,
                        'professional': (
                            professional.id if professional else None),
                        'user': user,
                        'by_patient': patient.is_user(user),
                        }])
