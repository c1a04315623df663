# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The access guard: who may see and change the shared record, decided in
one place for every path a client can take.

trytond 7.0 applies record rules to a model's own searches and reads only:
not inside the relation sub-domains of another model's search, not to the
records export_data reaches through relations (it evaluates the rules in
Python, where most domains count as true), not to what server code reads
through instances; and it enforces neither readonly nor states.  So:

* a protected model inherits Guarded.  Its policy is SQL on its own table
  (guard_where); the `readable` field carries it, and ir.rule adds it to
  every search of the model made as a user other than root, at any depth
  (relation sub-domains, one2many reads, wizards, buttons), and to export's
  Python evaluation through the field's getter.  Server code that must see
  beyond the user says so with Transaction().set_user(0);
* a client's read of records it may not see is refused with a message that
  names nothing, and a relation to a record it may not see reads as empty;
* a client creates, writes, deletes and copies protected records only as
  each model allows (deny by default); the workflow's buttons and wizards
  change the rest, after checking who acts."""
import weakref
from dataclasses import dataclass

from sql import Literal, Null
from sql.conditionals import Case
from sql.operators import Exists, Like

from trytond.cache import Cache
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

CLINICIAN_GROUPS = [
    ('health', 'group_health_doctor'),
    ('health', 'group_health_nursing'),
    ]
FRONTDESK_GROUPS = [('health', 'group_health_frontdesk')]
OFFICER_GROUPS = [
    ('health_shared_record', 'group_shared_record_privacy_officer')]
ADMIN_GROUPS = [('res', 'group_admin'), ('health', 'group_health_admin')]
PATIENT_GROUPS = [('health_shared_record', 'group_shared_record_patient')]


@dataclass(frozen=True)
class Actor:
    "Who makes the call, as the policies need it"

    def __deepcopy__(self, memo):
        # Frozen: the cache gives it without copying it
        return self
    user: int
    # The health professional whose party logs in as the user, or -1
    professional: int = -1
    # The patients whose party logs in as the user
    patients: frozenset = frozenset()
    clinician: bool = False
    frontdesk: bool = False
    officer: bool = False
    admin: bool = False
    patient_login: bool = False

    @property
    def root(self):
        return self.user == 0

    @property
    def staff(self):
        return self.clinician or self.frontdesk

    @property
    def only_patient(self):
        "A patient's login, with none of the clinic's roles"
        return self.patient_login and not (
            self.staff or self.officer or self.admin)


_ACTORS = weakref.WeakKeyDictionary()
# Between requests, by user and groups (trytond's own cache of a user's
# groups follows their changes); cleared, in every server, when a login,
# a professional or a patient changes (ActorParty and the others below)
_actors = Cache('health_shared_record.actor', context=False)


def actor():
    "The Actor of the current user, computed once a transaction and change"
    transaction = Transaction()
    user = transaction.user
    if user == 0:
        return Actor(0)
    known = _ACTORS.setdefault(transaction, {})
    key = (user, transaction.counter)
    if key not in known:
        known.clear()
        known[key] = _cached_actor(user)
    return known[key]


def _cached_actor(user):
    User = Pool().get('res.user')
    groups = frozenset(User.get_groups())
    key = (user, tuple(sorted(groups)))
    who = _actors.get(key)
    if who is None:
        who = _compute_actor(user, groups)
        _actors.set(key, who)
    return who


def _compute_actor(user, groups):
    pool = Pool()
    Professional = pool.get('gnuhealth.healthprofessional')
    Patient = pool.get('gnuhealth.patient')
    Party = pool.get('party.party')
    ModelData = pool.get('ir.model.data')
    cursor = Transaction().connection.cursor()
    professional = Professional.__table__()
    patient = Patient.__table__()
    party = Party.__table__()
    cursor.execute(*professional.join(
            party, condition=party.id == professional.party).select(
            professional.id,
            where=(party.internal_user == user),
            order_by=[professional.id.asc], limit=1))
    row = cursor.fetchone()
    cursor.execute(*patient.join(
            party, condition=party.id == patient.party).select(
            patient.id, where=party.internal_user == user))
    patients = frozenset(i for i, in cursor)

    def member(xml_ids):
        return any(
            ModelData.get_id(module, name) in groups
            for module, name in xml_ids)
    return Actor(
        user=user,
        professional=row[0] if row else -1,
        patients=patients,
        clinician=member(CLINICIAN_GROUPS),
        frontdesk=member(FRONTDESK_GROUPS),
        officer=member(OFFICER_GROUPS),
        admin=member(ADMIN_GROUPS),
        patient_login=member(PATIENT_GROUPS))


def from_client():
    "Whether the call comes straight from a client, as a user other than root"
    transaction = Transaction()
    return bool(transaction.user and transaction.check_access)


def denied():
    "The refusal that names nothing of what it protects"
    return AccessError(gettext('health_shared_record.msg_guard_denied'))


def write_denied(Model):
    return AccessError(gettext(
            'health_shared_record.msg_guard_write_denied',
            model=Model.__names__()['model']))


def patient_in(column, actor):
    "column is one of the patients actor is"
    if not actor.patients:
        return Literal(False)
    return column.in_(sorted(actor.patients))


def is_guarded(Model):
    return isinstance(Model, type) and issubclass(Model, Guarded)


def relation_key(field, value):
    "(target model, id) that the value of a relation field points to"
    if value is None:
        return None
    if field._type == 'reference':
        model, _, id_ = str(value).partition(',')
        try:
            return Pool().get(model), int(id_)
        except (KeyError, ValueError):
            return None
    return field.get_target(), int(value)


class GuardedRead:
    "A model whose records a user sees as guard_where says"
    __slots__ = ()

    # The policy as a field: SQL in searches (domain_readable), a value
    # where trytond evaluates a domain in Python (export_data)
    readable = fields.Function(
        fields.Boolean("Readable"), 'get_readable',
        searcher='search_readable')

    @classmethod
    def domain_readable(cls, domain, tables):
        table, _ = tables[None]
        _, operator, value = domain[:3]
        if operator not in {'=', '!='}:
            raise denied()
        expression = cls.guard_where(table, actor())
        if (operator == '=') != bool(value):
            expression = ~expression
        return expression

    @classmethod
    def search_readable(cls, name, clause):
        table = cls.__table__()
        return [('id', 'in', table.select(
                    table.id, where=cls.domain_readable(
                        clause, {None: (table, None)})))]

    @classmethod
    def guard_where(cls, table, actor):
        """The SQL condition, on table (the model's), of the records actor
        may see; root sees everything, and nobody else by default"""
        return Literal(actor.root)

    @classmethod
    def get_readable(cls, records, name):
        ids = [r.id for r in records]
        who = actor()
        if who.root:
            return dict.fromkeys(ids, True)
        return {i: i in cls.guard_readable_ids(ids) for i in ids}

    @classmethod
    def guard_readable_ids(cls, ids):
        "The ids, among ids, of the records the acting user may see"
        who = actor()
        ids = list(map(int, ids))
        if who.root:
            return set(ids)
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        readable = set()
        for sub_ids in grouped_slice(ids):
            cursor.execute(*table.select(table.id,
                    where=reduce_ids(table.id, sub_ids)
                    & cls.guard_where(table, who)))
            readable.update(i for i, in cursor)
        return readable

    @classmethod
    def guard_check_readable(cls, ids):
        ids = {int(i) for i in ids if int(i) >= 0}
        if ids - cls.guard_readable_ids(ids):
            raise denied()


class Guarded(GuardedRead):
    """A protected model of the shared record: its records are seen as its
    guard_where says, a client reads no relation to a record it may not
    see, and changes only what the model allows (by default nothing)"""
    __slots__ = ()

    @classmethod
    def read(cls, ids, fields_names):
        if not from_client():
            return super().read(ids, fields_names)
        guarded, fields_names = cls._guard_split_relations(fields_names)
        try:
            # trytond reads with the guard in its rule (Rule.domain_get)
            # and refuses when it hides a record asked for
            result = super().read(ids, fields_names)
        except AccessError:
            # in its own words, which name the record: in the guard's
            cls.guard_check_readable(ids)
            raise
        if guarded:
            cls._guard_relations(result, guarded)
        return result

    @classmethod
    def _guard_split_relations(cls, fields_names):
        """The relations to guarded models among fields_names, with the
        fields read through each; and the fields left for trytond"""
        guarded, left = {}, []
        for name in fields_names:
            root, _, related = name.partition('.')
            field = cls._fields.get(root)
            if field is not None and cls._guard_relation(field):
                guarded.setdefault(root, set())
                if related:
                    guarded[root].add(related)
                    continue
            left.append(name)
        for root in guarded:
            if root not in left:
                left.append(root)
        return guarded, left

    @classmethod
    def _guard_relation(cls, field):
        "Whether field points, or may point, to a guarded model"
        if field._type in {'many2one', 'one2one'}:
            return is_guarded(field.get_target())
        if field._type == 'reference':
            return True
        return False

    @classmethod
    def _guard_relations(cls, rows, guarded):
        """Empty the relations to records the user may not see, and read
        the fields asked through the others as trytond would"""
        for name, related in guarded.items():
            field = cls._fields[name]
            keys = {row['id']: relation_key(field, row.get(name))
                for row in rows}
            targets = {}
            for key in filter(None, keys.values()):
                targets.setdefault(key[0], set()).add(key[1])
            readable, values = set(), {}
            for Target, ids in targets.items():
                if issubclass(Target, GuardedRead):
                    ids = Target.guard_readable_ids(ids)
                readable.update((Target, i) for i in ids)
                if related and ids:
                    for value in Target.read(list(ids), list(related)):
                        values[Target, value['id']] = value
            for row in rows:
                key = keys[row['id']]
                if key and key not in readable and key[1] >= 0:
                    row[name] = None
                if related:
                    row[name + '.'] = values.get(key)

    @classmethod
    def search(cls, domain, offset=0, limit=None, order=None, count=False,
            query=False):
        if from_client() and order:
            order = cls._guard_order(order)
        return super().search(domain, offset=offset, limit=limit,
            order=order, count=count, query=query)

    @classmethod
    def _guard_order(cls, order):
        """Order by a relation to a guarded model only by its id: its
        title, or any field of it, would tell what the user may not see"""
        guarded = []
        for expression, direction in order:
            root = expression.split('.', 1)[0]
            field = cls._fields.get(root)
            if field is not None and cls._guard_relation(field):
                expression = root if field._type == 'reference' else (
                    root + '.id')
            guarded.append((expression, direction))
        return guarded

    # The workflow owns the changes

    @classmethod
    def create(cls, vlist):
        if from_client():
            cls.guard_check_create(vlist, actor())
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        if from_client():
            who = actor()
            actions = iter(args)
            for records, values in zip(actions, actions):
                cls.guard_check_readable([r.id for r in records])
                cls.guard_check_write(records, values, who)
        super().write(*args)

    @classmethod
    def delete(cls, records):
        if from_client():
            cls.guard_check_readable([r.id for r in records])
            cls.guard_check_delete(records, actor())
        super().delete(records)

    @classmethod
    def copy(cls, records, default=None):
        if from_client():
            cls.guard_check_readable([r.id for r in records])
            cls.guard_check_copy(records, actor())
        return super().copy(records, default=default)

    @classmethod
    def guard_check_create(cls, vlist, actor):
        "Raise unless actor may create records of vlist from a client"
        raise write_denied(cls)

    @classmethod
    def guard_check_write(cls, records, values, actor):
        "Raise unless actor may write values on records from a client"
        raise write_denied(cls)

    @classmethod
    def guard_check_delete(cls, records, actor):
        raise write_denied(cls)

    @classmethod
    def guard_check_copy(cls, records, actor):
        raise write_denied(cls)

    @classmethod
    def export_data(cls, records, fields_names, header=False):
        if from_client():
            cls.guard_check_readable([r.id for r in records])
        return super().export_data(records, fields_names, header=header)


def check_values(Model, values, allowed):
    """Refuse values that set a field outside allowed to anything but its
    default or nothing, as a client's form sends for a new record"""
    for name, value in values.items():
        if name in allowed:
            continue
        default = getattr(Model, f'default_{name}', None)
        if value in (None, False, '', [], ()) or (
                default is not None and value == default()):
            continue
        raise AccessError(gettext(
                'health_shared_record.msg_guard_field_denied',
                field=Model.__names__(name)['field'],
                model=Model.__names__()['model']))


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def domain_get(cls, model_name, mode='read'):
        domain = super().domain_get(model_name, mode=mode)
        if mode == 'read' and Transaction().user:
            Model = Pool().get(model_name)
            if issubclass(Model, GuardedRead):
                guard = [('readable', '=', True)]
                domain = [guard, domain] if domain else guard
        return domain


class ResourceGuard(GuardedRead):
    """Attachments, notes and the model log of a guarded record are what
    the record is: seen by whom may see it, changed by nobody but the
    server.  (trytond checks them by model only, and reads the resource of
    a record the user may not see as no resource at all.)  Those of a
    record that is no more (a deleted draft) are seen by whom wrote them,
    the privacy officers and the administrators."""
    __slots__ = ()

    @classmethod
    def guard_where(cls, table, actor):
        if actor.root:
            return Literal(True)
        where = Literal(True)
        resource = cls._fields['resource']
        for name, Model in guarded_models():
            target = Model.__table__()
            policy = Model.guard_where(target, actor)
            if is_literal_true(policy):
                continue
            prefix = name + ','
            # The record by its id, read from the resource as trytond's
            # Reference fields do, so that the database finds it by its
            # key (comparing texts made from every id took seconds a
            # hundred rows once thousands of records were there)
            same = target.id == Case(
                (Like(table.resource, prefix + '%'),
                    resource.sql_id(table.resource, Model)),
                else_=Null)
            gone = ~Exists(target.select(Literal(1), where=same))
            if not (actor.officer or actor.admin):
                gone &= table.create_uid == actor.user
            where &= (~Like(table.resource, prefix + '%')
                | Exists(target.select(Literal(1), where=same & policy))
                | gone)
        return where

    @classmethod
    def check_access(cls, ids, mode='read'):
        super().check_access(ids, mode=mode)
        if not from_client():
            return
        pool = Pool()
        resources = {}
        with Transaction().set_user(0):
            for sub_ids in grouped_slice(ids):
                for record in cls.browse(sub_ids):
                    model, _, id_ = str(record.resource or '').partition(',')
                    resources.setdefault(model, set()).add(int(id_ or -1))
        for model, resource_ids in resources.items():
            try:
                Model = pool.get(model)
            except KeyError:
                continue
            if issubclass(Model, GuardedRead):
                if mode != 'read' and issubclass(Model, Guarded):
                    raise write_denied(Model)
                Model.guard_check_readable(resource_ids)

    @classmethod
    def export_data(cls, records, fields_names, header=False):
        cls.check_access([r.id for r in records], mode='read')
        return super().export_data(records, fields_names, header=header)


def guarded_models():
    "(name, Model) of the guarded models with a table, but the resources'"
    return [
        (name, Model) for name, Model in Pool().iterobject()
        if issubclass(Model, GuardedRead)
        and not issubclass(Model, ResourceGuard)
        and not callable(getattr(Model, 'table_query', None))]


def is_literal_true(expression):
    return isinstance(expression, Literal) and expression.value is True


class Attachment(ResourceGuard, metaclass=PoolMeta):
    __name__ = 'ir.attachment'


class Note(ResourceGuard, metaclass=PoolMeta):
    __name__ = 'ir.note'


class ModelLog(ResourceGuard, metaclass=PoolMeta):
    __name__ = 'ir.model.log'


class GuardedReport:
    """A report of the shared record renders what its own action says:
    trytond takes the action, and the model whose access it checks, from
    the caller"""
    __slots__ = ()

    @classmethod
    def check_access(cls):
        "Refuse a report of other groups in the guard's words, not trytond's"
        try:
            super().check_access()
        except UserError:
            raise denied() from None

    @classmethod
    def execute(cls, ids, data):
        ActionReport = Pool().get('ir.action.report')
        action_id = data.get('action_id')
        if action_id is not None and not ActionReport.search([
                    ('id', '=', action_id),
                    ('report_name', '=', cls.__name__),
                    ]):
            raise denied()
        return super().execute(ids, data)


class ActorLinks:
    """Who a user is changes with the party that logs in as the user, and
    with the professional or patient of that party"""
    __slots__ = ()
    _actor_fields = set()

    @classmethod
    def create(cls, vlist):
        records = super().create(vlist)
        _actors.clear()
        return records

    @classmethod
    def write(cls, *args):
        super().write(*args)
        values = args[1::2]
        if any(cls._actor_fields & set(v) for v in values):
            _actors.clear()

    @classmethod
    def delete(cls, records):
        super().delete(records)
        _actors.clear()


class ActorParty(ActorLinks, metaclass=PoolMeta):
    __name__ = 'party.party'
    _actor_fields = {'internal_user'}


class ActorProfessional(ActorLinks, metaclass=PoolMeta):
    __name__ = 'gnuhealth.healthprofessional'
    _actor_fields = {'party'}


class ActorPatient(ActorLinks, metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'
    _actor_fields = {'party'}
