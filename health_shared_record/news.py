# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What is new for me: the documents other clinics sent (fetched or
received by message) that the user has not opened since they arrived, nor
marked seen with the patient's record.

Drawing a patient's form records nothing (the client reads the fields it
shows, sizes of documents included, without opening them).  So a document
stops being new when the user opens, downloads or prints it (the access
history says so), or marks the patient's record seen."""
import datetime as dt
from collections import Counter

from sql import Literal
from sql.operators import Exists

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from .guard import Guarded


class Seen(Guarded, ModelSQL):
    "Shared Record Seen"
    __name__ = 'gnuhealth.shared_record.seen'

    user = fields.Many2One(
        'res.user', "User", required=True, readonly=True, ondelete='CASCADE')
    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True, readonly=True,
        ondelete='CASCADE')
    # To the microsecond, as the documents' creation dates it is compared to
    seen_on = fields.Timestamp("Seen On", required=True, readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('user_patient_unique', Unique(t, t.user, t.patient),
                'health_shared_record.msg_seen_unique'),
            ]
        cls._sql_indexes.add(Index(
                t, (t.user, Index.Equality()), (t.patient, Index.Equality())))

    @classmethod
    def guard_where(cls, table, actor):
        "Each user's own marks"
        return Literal(actor.root) | (table.user == actor.user)

    @classmethod
    def mark(cls, patients):
        "The current user has seen what the patients' records hold, now"
        user = Transaction().user
        ids = sorted({int(p) for p in patients})
        now = dt.datetime.now()
        with Transaction().set_user(0):
            existing = cls.search([
                    ('user', '=', user), ('patient', 'in', ids)])
            if existing:
                cls.write(existing, {'seen_on': now})
            known = {s.patient.id for s in existing}
            cls.create([
                    {'user': user, 'patient': i, 'seen_on': now}
                    for i in ids if i not in known])


class AccessLog(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.access_log'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # Whether a user opened a document, asked for each document that
        # arrived: an index, not a scan of the whole history
        t = cls.__table__()
        cls._sql_indexes.add(Index(
                t, (t.user, Index.Equality()), (t.document, Index.Equality()),
                where=t.action.in_(['open', 'download', 'print'])))


def new_for(document, user):
    """SQL: the document, of another clinic, is new for user: not opened by
    them, and arrived after they last marked the patient's record seen"""
    pool = Pool()
    AccessLog = pool.get('gnuhealth.shared_record.access_log')
    Seen = pool.get('gnuhealth.shared_record.seen')
    log, seen = AccessLog.__table__(), Seen.__table__()
    return ((document.source == 'repository')
        & (document.state == 'published')
        & ~Exists(log.select(Literal(1), where=(log.document == document.id)
                & (log.user == user)
                & log.action.in_(['open', 'download', 'print'])))
        & ~Exists(seen.select(Literal(1), where=(seen.user == user)
                & (seen.patient == document.patient)
                & (seen.seen_on >= document.create_date))))


class Document(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.document'

    new_for_me = fields.Function(
        fields.Boolean(
            "New for Me",
            help="From another clinic, and not opened by you since it "
            "arrived."),
        'get_new_for_me', searcher='search_new_for_me')

    @classmethod
    def get_new_for_me(cls, documents, name):
        table = cls.__table__()
        user = Transaction().user
        cursor = Transaction().connection.cursor()
        new = set()
        for sub in grouped_slice(list(map(int, documents))):
            cursor.execute(*table.select(table.id,
                    where=reduce_ids(table.id, sub) & new_for(table, user)))
            new.update(i for i, in cursor)
        return {d.id: d.id in new for d in documents}

    @classmethod
    def search_new_for_me(cls, name, clause):
        table = cls.__table__()
        _, operator, value = clause
        positive = (operator == '=') == bool(value)
        query = table.select(
            table.id, where=new_for(table, Transaction().user))
        return [('id', 'in' if positive else 'not in', query)]


class Patient(metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'

    shared_record_new = fields.Function(
        fields.Integer(
            "New for Me",
            help="Documents from other clinics you have not opened since "
            "they arrived."),
        'get_shared_record_news')
    shared_record_news = fields.Function(
        fields.Char(
            "New from Other Clinics",
            states={'invisible': ~Eval('shared_record_news')}),
        'get_shared_record_news')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'mark_shared_record_seen': {
                    'invisible': ~Eval('shared_record_news'),
                    'depends': ['shared_record_news'],
                    },
                })

    @classmethod
    def get_shared_record_news(cls, patients, names):
        "How many new documents each patient has, by type, as the user sees"
        Document = Pool().get('gnuhealth.shared_record.document')
        counts = {p.id: Counter() for p in patients}
        for sub in grouped_slice(list(counts)):
            for document in Document.search([
                        ('patient', 'in', list(sub)),
                        ('new_for_me', '=', True),
                        ], order=[]):
                counts[document.patient.id][
                    document.document_type.rec_name] += 1
        result = {name: {} for name in names}
        for patient_id, by_type in counts.items():
            total = sum(by_type.values())
            if 'shared_record_new' in result:
                result['shared_record_new'][patient_id] = total
            if 'shared_record_news' in result:
                result['shared_record_news'][patient_id] = gettext(
                    'health_shared_record.msg_news',
                    count=total,
                    types=', '.join(
                        f'{n} {t}' for t, n in sorted(by_type.items()))
                    ) if total else ''
        return result

    @classmethod
    @ModelView.button
    def mark_shared_record_seen(cls, patients):
        Pool().get('gnuhealth.shared_record.seen').mark(patients)
