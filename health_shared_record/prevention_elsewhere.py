# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Prevention done elsewhere: the immunizations that other clinics' current
documents state count as events for the reminders, taken as they are stated
(no reconciliation with the clinic's own record), and the reminder tells
where it was done."""
import bisect
from collections import defaultdict

from sql import Literal, Null
from sql.conditionals import Coalesce

from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access

from . import cvx
from .prevention import to_date
from .prevention_rule import Matcher

# The statuses of an act that did not take place, or not yet
NOT_GIVEN = ['cancelled', 'aborted', 'nullified', 'held']


def external_immunizations(births, matcher, reference=None):
    """The immunizations that other clinics' published documents state as
    given to the patients of births ({patient id: date of birth}), each
    with the rules it counts for: yield (patient id, rule id, date,
    document id).  Negated, planned, undated and not given statements count
    for nothing, nor one dated after the reference date (a statement of the
    future is no evidence) or before the patient's birth.  Nor does a
    document the patient masked or one very restricted: every clinician
    and the patient see the reminders, and its date would tell what the
    document keeps from them."""
    pool = Pool()
    Entry = pool.get('gnuhealth.shared_record.entry')
    Document = pool.get('gnuhealth.shared_record.document')
    entry, document = Entry.__table__(), Document.__table__()
    cursor = Transaction().connection.cursor()
    false = Literal(False)
    where = ((entry.kind == 'immunization')
        & (document.source == 'repository')
        & (document.state == 'published')
        & (Coalesce(document.masked, false) == false)
        & (Coalesce(document.confidentiality, '') != 'V')
        & (Coalesce(entry.negated, false) == false)
        & (Coalesce(entry.planned, false) == false)
        & ~Coalesce(entry.status, '').in_(NOT_GIVEN)
        & (entry.start_date != Null))
    if reference is not None:
        where &= entry.start_date <= reference
    query = entry.join(document, condition=entry.document == document.id)
    for sub in grouped_slice(list(births)):
        cursor.execute(*query.select(
                entry.patient, entry.atc, entry.code, entry.code_system,
                entry.start_date, entry.dose_number, entry.document,
                where=where & reduce_ids(entry.patient, list(sub))))
        for patient_id, atc, code, system, date, dose, document_id in cursor:
            date = to_date(date)
            if date < births[patient_id]:
                continue
            atc = cvx.vaccine_atc(atc, code, system)
            if not atc:
                continue
            for rule in matcher.external(atc, dose):
                yield patient_id, rule, date, document_id


def births(patient_ids):
    "{patient id: date of birth} of the patients whose birth is known"
    pool = Pool()
    Patient = pool.get('gnuhealth.patient')
    Party = pool.get('party.party')
    patient, party = Patient.__table__(), Party.__table__()
    cursor = Transaction().connection.cursor()
    result = {}
    for sub in grouped_slice(list(patient_ids)):
        cursor.execute(*patient.join(
                party, condition=patient.party == party.id).select(
                patient.id, party.dob,
                where=reduce_ids(patient.id, list(sub))
                & (party.dob != Null)))
        result.update((i, to_date(d)) for i, d in cursor)
    return result


class Reminder(metaclass=PoolMeta):
    __name__ = 'gnuhealth.prevention.reminder'

    done_source = fields.Function(fields.Char(
            "Done Elsewhere",
            help="Where the patient had it, as another clinic's document "
            "states: the institution, the document and the date."),
        'get_done_elsewhere')
    done_document = fields.Function(fields.Many2One(
            'gnuhealth.shared_record.document', "Source Document",
            help="The other clinic's document that states it was done."),
        'get_done_elsewhere')

    @classmethod
    def _load_facts(cls, patient_ids, matcher, reference):
        facts = super()._load_facts(patient_ids, matcher, reference)
        stated = defaultdict(lambda: defaultdict(list))
        for patient_id, rule, date, _ in external_immunizations(
                {i: f.dob for i, f in facts.items()}, matcher, reference):
            stated[patient_id][rule].append(date)
        for patient_id, by_rule in stated.items():
            events = facts[patient_id].events
            for rule, dates in by_rule.items():
                events[rule] = sorted(events.get(rule, []) + dates)
        return facts

    @classmethod
    def get_done_elsewhere(cls, reminders, names):
        """The other clinic's document a done reminder's date comes from,
        unless the clinic's own record has it on that day or later (until
        the next time it was done): the own record then speaks for it.
        Only the documents the user may read are named."""
        pool = Pool()
        Rule = pool.get('gnuhealth.prevention.rule')
        Document = pool.get('gnuhealth.shared_record.document')
        Lang = pool.get('ir.lang')
        result = {n: dict.fromkeys(map(int, reminders)) for n in names}
        done = [r for r in reminders if r.state == 'done' and r.done_date]
        if not done:
            return result
        patient_ids = sorted({r.patient.id for r in done})
        with without_check_access():
            matcher = Matcher(Rule.search([]))
            stated = {}
            for patient_id, rule, date, document_id in (
                    external_immunizations(births(patient_ids), matcher)):
                key = patient_id, rule, date
                # The first document that stated it
                stated[key] = min(stated.get(key, document_id), document_id)
            sources = {}
            for reminder in done:
                key = reminder.patient.id, reminder.rule.id, reminder.done_date
                if key in stated:
                    sources[reminder] = stated[key]
            if not sources:
                return result
            own = cls._own_events(
                sorted({r.patient.id for r in sources}), matcher)
            next_done = cls._done_dates({r.patient.id for r in sources})
        for reminder in list(sources):
            dates = sorted(own.get(reminder.patient.id, {}).get(
                    reminder.rule.id, []))
            later = next_done(reminder)
            i = bisect.bisect_left(dates, reminder.done_date)
            if i < len(dates) and (later is None or dates[i] < later):
                del sources[reminder]
        # The user's own search and read: a document they may not read
        # stays unnamed; only the two fields shown are read
        readable = {d['id']: d for d in Document.read(
                list(map(int, Document.search([
                                ('id', 'in', list(set(sources.values()))),
                                ], order=[]))),
                ['title', 'source_institution'])}
        lang = Lang.get()
        for reminder, document_id in sources.items():
            document = readable.get(document_id)
            if document is None:
                continue
            if 'done_document' in names:
                result['done_document'][reminder.id] = document_id
            if 'done_source' in names:
                result['done_source'][reminder.id] = ', '.join(filter(None, [
                            document['source_institution'], document['title'],
                            lang.strftime(reminder.done_date)]))
        return result

    @classmethod
    def _done_dates(cls, patient_ids):
        """A function that gives, of a done reminder, the date its rule was
        next done for the patient, None when never since"""
        reminder = cls.__table__()
        cursor = Transaction().connection.cursor()
        dates = defaultdict(set)
        for sub in grouped_slice(list(patient_ids)):
            cursor.execute(*reminder.select(
                    reminder.patient, reminder.rule, reminder.done_date,
                    where=reduce_ids(reminder.patient, list(sub))
                    & (reminder.state == 'done')
                    & (reminder.done_date != None)))  # noqa: E711
            for patient_id, rule, date in cursor:
                dates[patient_id, rule].add(to_date(date))
        dates = {key: sorted(values) for key, values in dates.items()}

        def next_done(reminder):
            done = dates.get((reminder.patient.id, reminder.rule.id), [])
            i = bisect.bisect_right(done, reminder.done_date)
            return done[i] if i < len(done) else None
        return next_done


class Document(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.document'

    @classmethod
    def _set_masked(cls, documents, masked, action, at_request=False):
        "A masked document of another clinic no longer counts, and back"
        super()._set_masked(documents, masked, action, at_request=at_request)
        cls.recompute_prevention(cls.versions(documents))

    @classmethod
    def prevention_patients(cls, documents):
        """And the patients of other clinics' documents that state
        immunizations: fetched or received, superseded or withdrawn at
        their source, they change what was done"""
        Entry = Pool().get('gnuhealth.shared_record.entry')
        patients = super().prevention_patients(documents)
        external = [d.id for d in documents if d.source == 'repository']
        if not external:
            return patients
        entry = Entry.__table__()
        cursor = Transaction().connection.cursor()
        with_immunizations = set()
        for sub in grouped_slice(external):
            cursor.execute(*entry.select(
                    entry.document,
                    where=reduce_ids(entry.document, list(sub))
                    & (entry.kind == 'immunization'),
                    group_by=[entry.document]))
            with_immunizations.update(i for i, in cursor)
        return patients | {
            d.patient for d in documents if d.id in with_immunizations}
