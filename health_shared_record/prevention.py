# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Prevention reminders: the engine that turns each patient's facts into key
dates, the worklist and its dismissals, and the hooks that recompute a
patient when her facts change.  The rules are in prevention_rule.py, what
reaches the patient (e-mails, calendar) in prevention_notice.py."""
import datetime as dt
import io
from collections import defaultdict

from sql import Literal
from sql.aggregate import Max
from sql.conditionals import Coalesce
from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from . import schedule
from .common import clinic_today
from .exceptions import PreventionError
from .guard import Guarded, patient_in
from .prevention_rule import Matcher
from .selection import Selection

OPEN_STATES = {schedule.UPCOMING, schedule.DUE, schedule.OVERDUE}
STATES = [
    ('upcoming', "Upcoming"),
    ('due', "Due"),
    ('overdue', "Overdue"),
    ('done', "Done"),
    ('dismissed', "Dismissed"),
    ]
DISMISSAL_REASONS = [
    ('refusal', "Refused by the patient"),
    ('contraindication', "Contraindication"),
    ('done_elsewhere', "Done elsewhere"),
    ]
NULL = '\\N'  # in COPY's text format
# The reference dates a clinic may ask about: its patients' lifetimes, and
# far enough from the calendar's end for the horizon
REFERENCE_MIN, REFERENCE_MAX = dt.date(1900, 1, 1), dt.date(2200, 12, 31)


def to_date(value):
    "A date from what the database returns for a date or timestamp column"
    if value is None or type(value) is dt.date:
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])


def reference_date():
    """The day reminders are computed for: the context's prevention_date
    (a date, or its ISO text as a script may send it), or the clinic's
    today, whoever makes the change that recomputes"""
    date = Transaction().context.get('prevention_date')
    if not date:
        return clinic_today()
    try:
        date = to_date(date)
    except (TypeError, ValueError):
        date = None
    if date is None or not (REFERENCE_MIN <= date <= REFERENCE_MAX):
        raise PreventionError(gettext(
                'health_shared_record.msg_prevention_date_invalid'))
    return date


class Reminder(Guarded, ModelSQL, ModelView):
    "Prevention Reminder"
    __name__ = 'gnuhealth.prevention.reminder'

    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True, readonly=True,
        ondelete='CASCADE')
    rule = fields.Many2One(
        'gnuhealth.prevention.rule', "Rule", required=True, readonly=True,
        ondelete='CASCADE')
    category = fields.Function(fields.Selection(
            'get_categories', "Category"), 'get_category',
        searcher='search_category')
    due_date = fields.Date("Due Date", required=True, readonly=True)
    state = Selection(STATES, "State", required=True, readonly=True)
    due = fields.Function(fields.Char(
            "Due",
            help="When to act: now for a reminder due or overdue, else "
            "its due date."),
        'get_due')
    overdue_since = fields.Function(fields.Date(
            "Overdue Since",
            help="The due date of a reminder that is overdue."),
        'get_overdue_since')
    rule_name = fields.Function(
        fields.Char("Prevention"), 'get_rule_name')
    patient_age = fields.Function(
        fields.Char("Age"), 'get_patient_age')
    last_done = fields.Function(fields.Date(
            "Last Done",
            help="When the patient last had it, as the reminders say."),
        'get_last_done')
    done_date = fields.Date(
        "Done On", readonly=True,
        help="When the vaccination, procedure or document that satisfies "
        "the reminder took place (or was done elsewhere).")
    dismissal_reason = Selection(
        [(None, '')] + DISMISSAL_REASONS, "Dismissal Reason", readonly=True)
    dismissal_note = fields.Char("Dismissal Note", readonly=True)
    dismissed_by = fields.Many2One('res.user', "Dismissed By", readonly=True)
    primary_care_doctor = fields.Function(fields.Many2One(
            'gnuhealth.healthprofessional', "Treating Physician"),
        'get_patient_field', searcher='search_patient_field')
    institution = fields.Function(fields.Many2One(
            'gnuhealth.institution', "Institution",
            help="The treating physician's institution."),
        'get_patient_field', searcher='search_patient_field')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('key_unique', Unique(t, t.patient, t.rule, t.due_date),
                'health_shared_record.msg_prevention_reminder_unique'),
            ]
        cls._order = [('due_date', 'ASC'), ('id', 'ASC')]
        cls._buttons.update({
                'dismiss': {
                    'invisible': Eval('state').in_(['done', 'dismissed']),
                    'depends': ['state'],
                    },
                'reopen': {
                    'invisible': Eval('state') != 'dismissed',
                    'depends': ['state'],
                    },
                })
        # The worklist filters on state and date across all patients
        cls._sql_indexes.add(Index(
                t, (t.state, Index.Equality()), (t.due_date, Index.Range())))

    @classmethod
    def get_categories(cls):
        Rule = Pool().get('gnuhealth.prevention.rule')
        return Rule.fields_get(['category'])['category']['selection']

    def get_category(self, name):
        return self.rule.category

    @classmethod
    def search_category(cls, name, clause):
        return [('rule.category',) + tuple(clause[1:])]

    @classmethod
    def get_due(cls, reminders, name):
        Lang = Pool().get('ir.lang')
        lang = Lang.get()
        today = reference_date()
        now = gettext('health_shared_record.msg_prevention_due_now')
        due = {}
        for reminder in reminders:
            if reminder.state in {'done', 'dismissed'}:
                due[reminder.id] = ''
            elif (reminder.state == 'overdue'
                    or reminder.due_date <= today):
                due[reminder.id] = now
            else:
                due[reminder.id] = lang.strftime(reminder.due_date)
        return due

    def calendar_date(self):
        """The day a calendar shows the reminder on: when it was done, its
        due date when it is still to come, and else the day the reminders
        are computed for (today), or the next working day, never a day long
        past"""
        if self.state == 'done' and self.done_date:
            return self.done_date
        today = reference_date()
        if self.due_date > today:
            return self.due_date
        if today.weekday() >= 5:
            # Saturday or Sunday: Monday
            return today + dt.timedelta(days=7 - today.weekday())
        return today

    def get_overdue_since(self, name):
        return self.due_date if self.state == 'overdue' else None

    def get_rule_name(self, name):
        return self.rule.name

    def get_patient_age(self, name):
        return self.patient.age

    @classmethod
    def get_last_done(cls, reminders, name):
        "The latest done date of the same rule for the same patient"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        keys = {(r.patient.id, r.rule.id) for r in reminders}
        last = {}
        for sub_patients in grouped_slice(list({p for p, _ in keys})):
            cursor.execute(*table.select(
                    table.patient, table.rule, Max(table.done_date),
                    where=reduce_ids(table.patient, sub_patients)
                    & (table.state == 'done'),
                    group_by=[table.patient, table.rule]))
            for patient, rule, done in cursor:
                last[patient, rule] = to_date(done)
        return {
            r.id: last.get((r.patient.id, r.rule.id)) for r in reminders}

    def get_patient_field(self, name):
        doctor = self.patient.primary_care_doctor
        if name == 'primary_care_doctor':
            return doctor.id if doctor else None
        return doctor.institution.id if doctor and doctor.institution else None

    @classmethod
    def search_patient_field(cls, name, clause):
        path = 'patient.primary_care_doctor'
        if name == 'institution':
            path += '.institution'
        nested = clause[0][len(name):]
        return [(path + nested,) + tuple(clause[1:])]

    @classmethod
    def guard_where(cls, table, actor):
        """Prevention comes from GNU Health's own record: its doctors,
        nurses and administrators see every patient's, a patient their
        own"""
        return Literal(
            actor.root or actor.clinician or actor.admin) | patient_in(
            table.patient, actor)

    # The engine

    @classmethod
    def horizon(cls):
        Configuration = Pool().get('gnuhealth.shared_record.configuration')
        days = Configuration(1).prevention_horizon
        return dt.timedelta(days=365 if days is None else days)

    @classmethod
    def compute_all(cls):
        "Recompute every patient's reminders (the nightly cron)"
        Patient = Pool().get('gnuhealth.patient')
        patient = Patient.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*patient.select(patient.id, order_by=patient.id))
        return cls.compute([i for i, in cursor])

    @classmethod
    def compute(cls, patient_ids, chunk=2000):
        """Bring the reminders of the patients in line with their facts on
        the reference date; return how many reminders changed"""
        pool = Pool()
        Rule = pool.get('gnuhealth.prevention.rule')
        patient_ids = sorted({int(p) for p in patient_ids})
        with without_check_access():
            rules = Rule.search([])
        matcher = Matcher(rules)
        reference, horizon = reference_date(), cls.horizon()
        changed = 0
        for sub in grouped_slice(patient_ids, chunk):
            changed += cls._compute_chunk(
                list(sub), matcher, reference, horizon)
        if changed:
            # Raw SQL bypassed the ORM: records read before are stale
            Transaction().counter += 1
        return changed

    @classmethod
    def _compute_chunk(cls, patient_ids, matcher, reference, horizon):
        facts = cls._load_facts(patient_ids, matcher, reference)
        existing = cls._load_existing(patient_ids)
        active = {r.id for r in matcher.rules}
        inserts, updates, deletes = [], defaultdict(list), []
        for patient_id in patient_ids:
            patient = facts.get(patient_id)
            wanted = {}
            if patient is not None:
                for rule in matcher.specs:
                    for key in schedule.key_dates(
                            rule, patient, reference, horizon):
                        wanted[key.rule, key.due_date] = key
            for key_, (id_, state, done_date) in existing.get(
                    patient_id, {}).items():
                key = wanted.pop(key_, None)
                if state == 'dismissed':
                    continue
                if key is None:
                    # Done reminders stay in the history of a patient the
                    # engine cannot compute, or of a deactivated rule
                    if state != 'done' or (
                            patient is not None and key_[0] in active):
                        deletes.append(id_)
                elif (key.state, key.done_date) != (state, done_date):
                    updates[key.state, key.done_date].append(id_)
            for key in wanted.values():
                inserts.append((
                        patient_id, key.rule, key.due_date, key.state,
                        key.done_date))
        cls._write_changes(inserts, updates, deletes)
        return len(inserts) + sum(map(len, updates.values())) + len(deletes)

    @classmethod
    def _load_facts(cls, patient_ids, matcher, reference):
        """Return {patient id: schedule.Patient} of those who can have some,
        with their events on the reference date"""
        pool = Pool()
        Patient = pool.get('gnuhealth.patient')
        Party = pool.get('party.party')
        Disease = pool.get('gnuhealth.patient.disease')
        Pathology = pool.get('gnuhealth.pathology')
        patient, party = Patient.__table__(), Party.__table__()
        cursor = Transaction().connection.cursor()

        facts = {}
        cursor.execute(*patient.join(
                party, condition=patient.party == party.id).select(
                patient.id, party.dob, patient.biological_sex, party.gender,
                where=reduce_ids(patient.id, patient_ids)
                & (party.dob != None)  # noqa: E711
                & (Coalesce(party.deceased, Literal(False))
                    == Literal(False))))
        for patient_id, dob, biological_sex, gender in cursor:
            facts[patient_id] = schedule.Patient(
                dob=to_date(dob), sex=patient_sex(biological_sex, gender))
        ids = list(facts)
        if not ids:
            return facts
        if matcher.at_risk_rules:
            disease, pathology = Disease.__table__(), Pathology.__table__()
            cursor.execute(*disease.join(
                    pathology, condition=disease.pathology == pathology.id
                    ).select(
                    disease.patient, pathology.code,
                    where=reduce_ids(disease.patient, ids)
                    & (Coalesce(disease.is_active, Literal(True))
                        == Literal(True))))
            at_risk = defaultdict(set)
            for patient_id, code_ in cursor:
                at_risk[patient_id].update(matcher.condition(code_))
            for patient_id, rules in at_risk.items():
                facts[patient_id].at_risk = frozenset(rules)

        for patient_id, by_rule in cls._own_events(ids, matcher).items():
            facts[patient_id].events = {
                rule: sorted(dates) for rule, dates in by_rule.items()}
        return facts

    @classmethod
    def _own_events(cls, ids, matcher):
        """The events of the clinic's own record: vaccinations, procedures,
        published documents, and what a clinician dismissed as done
        elsewhere, {patient id: {rule id: [date]}}"""
        pool = Pool()
        Vaccination = pool.get('gnuhealth.vaccination')
        Procedure = pool.get('gnuhealth.patient.procedure')
        ProcedureCode = pool.get('gnuhealth.procedure')
        Document = pool.get('gnuhealth.shared_record.document')
        cursor = Transaction().connection.cursor()
        events = defaultdict(lambda: defaultdict(list))

        vaccination = Vaccination.__table__()
        cursor.execute(*vaccination.select(
                vaccination.patient, vaccination.vaccine, vaccination.date,
                vaccination.dose,
                where=reduce_ids(vaccination.patient, ids)
                & (vaccination.date != None)))  # noqa: E711
        for patient_id, vaccine, date, dose in cursor:
            for rule in matcher.vaccine(vaccine, dose):
                events[patient_id][rule].append(to_date(date))

        procedure, code = Procedure.__table__(), ProcedureCode.__table__()
        cursor.execute(*procedure.join(
                code, condition=procedure.procedure == code.id).select(
                procedure.patient, code.name, procedure.pdate,
                where=reduce_ids(procedure.patient, ids)
                & (procedure.pdate != None)))  # noqa: E711
        for patient_id, code_, date in cursor:
            for rule in matcher.procedure(code_):
                events[patient_id][rule].append(to_date(date))

        if matcher.document_rules:
            document = Document.__table__()
            cursor.execute(*document.select(
                    document.patient, document.document_type,
                    document.effective_date,
                    where=reduce_ids(document.patient, ids)
                    & (document.state == 'published')
                    & reduce_ids(
                        document.document_type, list(matcher.document_rules))))
            for patient_id, type_, date in cursor:
                for rule in matcher.document_rules[type_]:
                    events[patient_id][rule].append(to_date(date))

        reminder = cls.__table__()
        cursor.execute(*reminder.select(
                reminder.patient, reminder.rule, reminder.done_date,
                where=reduce_ids(reminder.patient, ids)
                & (reminder.dismissal_reason == 'done_elsewhere')))
        for patient_id, rule, date in cursor:
            events[patient_id][rule].append(to_date(date))
        return events

    @classmethod
    def _load_existing(cls, patient_ids):
        reminder = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*reminder.select(
                reminder.id, reminder.patient, reminder.rule,
                reminder.due_date, reminder.state, reminder.done_date,
                where=reduce_ids(reminder.patient, patient_ids)))
        existing = defaultdict(dict)
        for id_, patient_id, rule, due_date, state, done_date in cursor:
            existing[patient_id][rule, to_date(due_date)] = (
                id_, state, to_date(done_date))
        return existing

    @classmethod
    def _write_changes(cls, inserts, updates, deletes):
        reminder = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        notice = Pool().get('gnuhealth.prevention.notice').__table__()
        for sub in grouped_slice(deletes):
            sub = list(sub)
            # The notice stays, so that the patient is not told twice
            cursor.execute(*notice.update(
                    [notice.reminder], [None],
                    where=reduce_ids(notice.reminder, sub)))
            cursor.execute(*reminder.delete(
                    where=reduce_ids(reminder.id, sub)))
        for (state, done_date), ids in updates.items():
            for sub in grouped_slice(ids):
                cursor.execute(*reminder.update(
                        [reminder.state, reminder.done_date,
                            reminder.write_uid, reminder.write_date],
                        [state, done_date, transaction.user,
                            CurrentTimestamp()],
                        where=reduce_ids(reminder.id, list(sub))))
        if not inserts:
            return
        try:
            cls._insert(inserts)
        except backend.DatabaseIntegrityError as error:
            # Another transaction recomputed the same patient (a nurse's
            # vaccination during the nightly run) and inserted the same
            # reminders since this one started: trytond runs the request
            # again, which then sees them
            raise backend.DatabaseOperationalError(str(error)) from error

    @classmethod
    def _insert(cls, inserts):
        reminder = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        columns = [
            reminder.patient, reminder.rule, reminder.due_date,
            reminder.state, reminder.done_date, reminder.create_uid,
            reminder.create_date]
        now = dt.datetime.now()
        if backend.name == 'postgresql':
            # COPY writes a first full run several times faster than INSERT
            data = io.StringIO(''.join(
                    f'{p}\t{r}\t{d}\t{s}\t{e or NULL}\t'
                    f'{transaction.user}\t{now}\n'
                    for p, r, d, s, e in inserts))
            cursor.copy_expert('COPY "%s" (%s) FROM STDIN' % (
                    cls._table, ', '.join('"%s"' % c.name for c in columns)),
                data)
            return
        rows = [list(row) + [transaction.user, now] for row in inserts]
        # Keep each statement under SQLite's parameter limit
        size = max(transaction.database.IN_MAX // len(columns), 1)
        for sub in grouped_slice(rows, size):
            cursor.execute(*reminder.insert(columns, list(sub)))

    # What clinicians and patients do

    @classmethod
    @ModelView.button_action(
        'health_shared_record.wizard_prevention_dismiss')
    def dismiss(cls, reminders):
        pass

    @classmethod
    @ModelView.button
    def reopen(cls, reminders):
        with without_check_access():
            cls.write(reminders, {
                    'state': 'upcoming',
                    'dismissal_reason': None,
                    'dismissal_note': None,
                    'dismissed_by': None,
                    'done_date': None,
                    })
        cls.compute([r.patient.id for r in reminders])

    @classmethod
    def record_dismissal(cls, reminders, reason, note=None, done_date=None):
        "Dismiss the reminders: staff for any reason, patients refuse"
        Patient = Pool().get('gnuhealth.patient')
        user = Transaction().user
        Patient.check_privacy_actor(list({r.patient for r in reminders}))
        for reminder in reminders:
            if reminder.patient.is_user(user) and reason != 'refusal':
                raise PreventionError(gettext(
                        'health_shared_record.msg_prevention_patient_refuses'))
            if reason == 'done_elsewhere' and not done_date:
                raise PreventionError(gettext(
                        'health_shared_record.msg_prevention_done_date'))
        with without_check_access():
            cls.write(reminders, {
                    'state': 'dismissed',
                    'dismissal_reason': reason,
                    'dismissal_note': note,
                    'dismissed_by': user,
                    'done_date': done_date,
                    })
        cls.compute([r.patient.id for r in reminders])


def patient_sex(biological_sex, gender):
    "The sex prevention rules compare with: biological, else the party's"
    if biological_sex in {'f', 'm'}:
        return biological_sex
    if gender in {'f', 'm'}:
        return gender
    return None


class DismissStart(ModelView):
    "Dismiss Prevention Reminder"
    __name__ = 'gnuhealth.prevention.dismiss.start'

    reason = Selection(DISMISSAL_REASONS, "Reason", required=True)
    done_date = fields.Date(
        "Done On", states={
            'invisible': Eval('reason') != 'done_elsewhere',
            'required': Eval('reason') == 'done_elsewhere',
            })
    note = fields.Char("Note")


class Dismiss(Wizard):
    "Dismiss Prevention Reminder"
    __name__ = 'gnuhealth.prevention.dismiss'

    start = StateView(
        'gnuhealth.prevention.dismiss.start',
        'health_shared_record.prevention_dismiss_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Dismiss", 'dismiss', 'tryton-ok', default=True),
            ])
    dismiss = StateTransition()

    def default_start(self, fields):
        user = Transaction().user
        if all(r.patient.is_user(user) for r in self.records):
            return {'reason': 'refusal'}
        return {}

    def transition_dismiss(self):
        Reminder = Pool().get('gnuhealth.prevention.reminder')
        Reminder.record_dismissal(
            self.records, self.start.reason, note=self.start.note,
            done_date=self.start.done_date)
        return 'end'


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.extend([
                ('gnuhealth.prevention.reminder|compute_all',
                    "Compute Prevention Reminders"),
                ('gnuhealth.prevention.reminder|send_reminders',
                    "Send Prevention Reminders"),
                ])


class Patient(metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'

    prevention_reminders = fields.One2Many(
        'gnuhealth.prevention.reminder', 'patient', "Prevention",
        readonly=True,
        order=[('due_date', 'ASC'), ('id', 'ASC')],
        help="Done and upcoming key dates of vaccinations, screenings and "
        "check-ups.")
    prevention_reminder_opt_out = fields.Boolean(
        "No Prevention E-mails",
        help="The patient does not want prevention reminders by e-mail.")
    prevention_note = fields.Function(
        fields.Char("Prevention Note"), 'get_prevention_note')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'compute_prevention': {},
                })

    def get_prevention_note(self, name):
        "Why some or all reminders cannot be computed"
        if not self.party.dob:
            return gettext('health_shared_record.msg_prevention_no_dob')
        if patient_sex(self.biological_sex, self.party.gender) is None:
            return gettext('health_shared_record.msg_prevention_no_sex')

    @classmethod
    @ModelView.button
    def compute_prevention(cls, patients):
        Pool().get('gnuhealth.prevention.reminder').compute(patients)

    @classmethod
    def write(cls, *args):
        super().write(*args)
        actions = iter(args)
        patients = []
        for records, values in zip(actions, actions):
            if 'biological_sex' in values:
                patients.extend(records)
        recompute(patients)


def recompute(patients):
    "Recompute the reminders of the patients after a change of their facts"
    if patients:
        Pool().get('gnuhealth.prevention.reminder').compute(
            [p.id for p in patients])


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    @classmethod
    def write(cls, *args):
        Patient = Pool().get('gnuhealth.patient')
        super().write(*args)
        actions = iter(args)
        parties = []
        for records, values in zip(actions, actions):
            if {'dob', 'gender', 'deceased'} & values.keys():
                parties.extend(records)
        if parties:
            recompute(Patient.search([
                        ('party', 'in', [p.id for p in parties]),
                        ]))


class PatientEventMixin:
    "Recompute the patient's reminders when one of its events changes"
    __slots__ = ()

    @classmethod
    def create(cls, vlist):
        records = super().create(vlist)
        recompute({r.patient for r in records if r.patient})
        return records

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        before = {r.patient for records, _ in zip(actions, actions)
            for r in records if r.patient}
        super().write(*args)
        actions = iter(args)
        after = {r.patient for records, _ in zip(actions, actions)
            for r in records if r.patient}
        recompute(before | after)

    @classmethod
    def delete(cls, records):
        patients = {r.patient for r in records if r.patient}
        super().delete(records)
        recompute(patients)


class Vaccination(PatientEventMixin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.vaccination'


class PatientProcedure(PatientEventMixin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient.procedure'


class PatientDisease(PatientEventMixin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient.disease'


class Document(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.document'

    @classmethod
    def publish(cls, documents):
        super().publish(documents)
        cls.recompute_prevention(documents)

    @classmethod
    def withdraw(cls, documents):
        super().withdraw(documents)
        cls.recompute_prevention(documents)

    @classmethod
    def recompute_prevention(cls, documents):
        "Recompute the patients whose documents count for their reminders"
        recompute(cls.prevention_patients(documents))

    @classmethod
    def prevention_patients(cls, documents):
        "The patients of the documents of a type a rule names (screenings)"
        Rule = Pool().get('gnuhealth.prevention.rule')
        codes = {d.document_type.code for d in documents if d.document_type}
        if not codes:
            return set()
        with without_check_access():
            rules = Rule.search([('document_type_codes', '!=', None)])
        used = {c for r in rules for c in r._codes('document_type_codes')}
        return {
            d.patient for d in documents
            if d.document_type and d.document_type.code in used}
