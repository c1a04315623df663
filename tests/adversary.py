# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What the adversarial suite (test_adversarial.py) needs: the clinic it
attacks, the oracle of what each user may see, and the surface it finds on
the running server.

The oracle is written from doc/privacy.md as plain SQL over the database,
without the module's code: if the module and the oracle disagree, one of
them is wrong about what the clinic was promised."""
import base64
import datetime as dt
import json
import subprocess
import sys

from cluster import Site
from helpers import ROOT

MODULE = 'health_shared_record'
DOCUMENT = 'gnuhealth.shared_record.document'
# The module's models that hold no one's data: reference data and
# settings, which every user may read, and the forms of its wizards
PUBLIC = {
    'gnuhealth.shared_record.document.type',
    'gnuhealth.shared_record.document.type-res.group',
    'gnuhealth.shared_record.configuration',
    'gnuhealth.prevention.rule',
    'gnuhealth.prevention.rule-gnuhealth.medicament',
    # The LOINC codes and critical limits of the laboratory's analytes
    'gnuhealth.shared_record.analyte',
    }
# Beyond the module, the records a patient's login must not see of others
ISOLATED = {'gnuhealth.patient', 'party.party'}
LOGINS = [
    'claire', 'hugo', 'paul', 'nadia', 'admin', 'olga', 'lucie', 'hugod',
    'nobody']
PDF = b'%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n'


def binary(data):
    return {'__class__': 'bytes', 'base64': base64.b64encode(data).decode()}


class Clinic:
    """The demo clinic, with what the demo leaves out: a privacy officer, a
    user with no role, a patient who refused the shared record, a very
    restricted document, a draft, an expired emergency access, and a note
    and an attachment on a masked document"""

    def __init__(self, directory):
        self.site = Site(directory, 'adversary')
        self.server = None
        self.clients = {}

    def build(self):
        site = self.site
        site.create()
        site.script(ROOT / 'demo' / 'populate.py')
        self.server = site.server()
        admin = self.client('admin')
        officer, = admin.model('ir.model.data', 'search_read', [
                ('module', '=', MODULE),
                ('fs_id', '=', 'group_shared_record_privacy_officer'),
                ], 0, None, None, ['db_id'])
        for login, group_ids in [
                ('olga', [officer['db_id']]), ('nobody', [])]:
            admin.model('res.user', 'create', [{
                        'login': login, 'name': login.title(),
                        'password': self.password,
                        'groups': [('add', group_ids)],
                        }])
        patients = self.patients()
        # Patient 5 refuses the shared record, as the front desk records
        self.client('nadia').model(
            'gnuhealth.patient', 'refuse_shared_record', [patients[5]])
        claire = self.client('claire')
        # A very restricted letter about patient 4, whose doctor is Hugo
        letter = claire.model(DOCUMENT, 'create', [{
                    'patient': patients[4],
                    'document_type': self.document_type('57133-1'),
                    'title': 'Psychiatric assessment',
                    'confidentiality': 'V',
                    'file': binary(PDF), 'file_name': 'assessment.pdf',
                    'file_type': 'application/pdf',
                    }])
        claire.model(DOCUMENT, 'publish', letter)
        # A draft Claire has not published
        claire.model(DOCUMENT, 'create', [{
                'patient': patients[7],
                'document_type': self.document_type('57133-1'),
                'title': 'Draft letter about sleep',
                'file': binary(PDF), 'file_name': 'sleep.pdf',
                'file_type': 'application/pdf',
                }])
        # Paul's emergency access to patient 6, long expired
        access, = self.client('paul').model(
            'gnuhealth.shared_record.emergency_access', 'create', [{
                    'patient': patients[6],
                    'reason': 'Collapsed in the waiting room',
                    }])
        site.query(
            'UPDATE gnuhealth_shared_record_emergency_access '
            'SET expires = %s WHERE id = %s',
            (dt.datetime.now() - dt.timedelta(hours=1), access))
        # The prescription Lucie masked
        masked, = [i for i, in site.query(
                'SELECT d.id FROM gnuhealth_shared_record_document AS d '
                'JOIN gnuhealth_shared_record_document_type AS t '
                'ON t.id = d.document_type '
                "WHERE d.masked = %s AND d.state = 'published' "
                "AND t.code = '57833-6'" % self.true)]
        resource = f'{DOCUMENT},{masked}'
        now = dt.datetime.now()
        site.query(
            'INSERT INTO ir_attachment (create_uid, create_date, name, '
            'resource, type, link) VALUES (1, %s, %s, %s, %s, %s)',
            (now, 'Result', resource, 'link',
                'https://lab.example/hiv-positive'))
        site.query(
            'INSERT INTO ir_note (create_uid, create_date, resource, '
            'message) VALUES (1, %s, %s, %s)',
            (now, resource, 'Discussed HIV status with the patient'))

    @property
    def password(self):
        from helpers import PASSWORD
        return PASSWORD

    @property
    def true(self):
        return '1' if self.site.sqlite else 'TRUE'

    def client(self, login):
        if login not in self.clients:
            self.clients[login] = self.site.client(self.server, login)
        return self.clients[login]

    def patients(self):
        "The patients' ids in the order the demo made them"
        return [i for i, in self.site.query(
                'SELECT id FROM gnuhealth_patient ORDER BY id')]

    def document_type(self, code):
        return self.site.query(
            'SELECT id FROM gnuhealth_shared_record_document_type '
            'WHERE code = %s', (code,))[0][0]

    def stop(self):
        for client in self.clients.values():
            client.close()
        self.site.stop()


class Oracle:
    """What each user may see, from doc/privacy.md, in SQL: one method a
    model, returning the ids of the records the user sees"""

    def __init__(self, clinic):
        self.site = clinic.site
        self.true = clinic.true

    def query(self, statement, parameters=()):
        return self.site.query(statement, parameters)

    def ids(self, statement, parameters=()):
        return {i for i, in self.query(statement, parameters)}

    # Who the user is

    def user(self, login):
        return self.query(
            'SELECT id FROM res_user WHERE login = %s', (login,))[0][0]

    def groups(self, user):
        "The xml ids of the user's groups, those they imply included"
        rows = self.query(
            'WITH RECURSIVE member(id) AS ('
            ' SELECT "group" FROM "res_user-res_group" WHERE "user" = %s'
            ' UNION SELECT g.parent FROM res_group g JOIN member m'
            ' ON g.id = m.id WHERE g.parent IS NOT NULL) '
            'SELECT d.module, d.fs_id FROM member m JOIN ir_model_data d '
            "ON d.db_id = m.id AND d.model = 'res.group'", (user,))
        return {f'{module}.{name}' for module, name in rows}

    def professional(self, user):
        rows = self.query(
            'SELECT hp.id FROM gnuhealth_healthprofessional hp '
            'JOIN party_party p ON p.id = hp.party '
            'WHERE p.internal_user = %s ORDER BY hp.id', (user,))
        return rows[0][0] if rows else -1

    def own_patients(self, user):
        return self.ids(
            'SELECT pa.id FROM gnuhealth_patient pa '
            'JOIN party_party p ON p.id = pa.party '
            'WHERE p.internal_user = %s', (user,))

    def roles(self, login):
        user = self.user(login)
        groups = self.groups(user)
        clinician = bool(groups & {
                'health.group_health_doctor', 'health.group_health_nursing'})
        staff = clinician or 'health.group_health_frontdesk' in groups
        officer = f'{MODULE}.group_shared_record_privacy_officer' in groups
        admin = bool(groups & {'res.group_admin', 'health.group_health_admin'})
        patient_login = f'{MODULE}.group_shared_record_patient' in groups
        return {
            'user': user, 'groups': groups, 'clinician': clinician,
            'staff': staff, 'officer': officer, 'admin': admin,
            'professional': self.professional(user),
            'patients': self.own_patients(user),
            'only_patient': patient_login and not (
                staff or officer or admin),
            }

    def blocked(self, professional):
        "The patients who blocked the professional"
        return self.ids(
            'SELECT patient FROM gnuhealth_shared_record_blocked_professional '
            'WHERE professional = %s', (professional,))

    # What the user sees

    def documents(self, roles):
        """A patient sees their documents once published, unless kept from
        them; doctors and nurses see drafts they made, and the others as
        the patient's choices allow (doc/privacy.md, "Who sees a
        document")"""
        seen = set()
        today = dt.datetime.utcnow().date()
        t = self.true
        if roles['patients']:
            seen |= self.ids(
                'SELECT id FROM gnuhealth_shared_record_document '
                "WHERE state IN ('published', 'superseded') "
                f'AND patient IN ({marks(roles["patients"])}) '
                f'AND NOT (COALESCE(hidden_from_patient, {t} <> {t}) = {t} '
                'AND (patient_release_date IS NULL '
                'OR patient_release_date > %s))',
                (*sorted(roles['patients']), today))
        if roles['clinician']:
            p = roles['professional']
            seen |= self.ids(
                'SELECT id FROM gnuhealth_shared_record_document '
                "WHERE state = 'draft' AND create_uid = %s",
                (roles['user'],))
            now = dt.datetime.utcnow()
            seen |= self.ids(
                'SELECT d.id FROM gnuhealth_shared_record_document d '
                'JOIN gnuhealth_patient pa ON pa.id = d.patient '
                "WHERE d.state <> 'draft' "
                f'AND COALESCE(pa.shared_record_opposition, {t} <> {t}) '
                f'<> {t} '
                'AND NOT EXISTS (SELECT 1 FROM '
                'gnuhealth_shared_record_blocked_professional b '
                'WHERE b.patient = d.patient AND b.professional = %s) '
                "AND (d.state <> 'withdrawn' OR d.author = %s "
                'OR d.publisher = %s) '
                f'AND ((COALESCE(d.masked, {t} <> {t}) <> {t} '
                "AND d.confidentiality <> 'V') "
                'OR d.author = %s OR d.publisher = %s '
                'OR pa.primary_care_doctor = %s '
                'OR (COALESCE(pa.shared_record_emergency_opposition, '
                f'{t} <> {t}) <> {t} AND EXISTS (SELECT 1 FROM '
                'gnuhealth_shared_record_emergency_access e '
                'WHERE e.patient = d.patient AND e.professional = %s '
                'AND e.expires > %s)))', (p, p, p, p, p, p, p, now))
        return seen

    def entries(self, roles):
        "What a document says is seen by whom sees the document"
        documents = self.documents(roles)
        return self.ids(
            'SELECT id FROM gnuhealth_shared_record_entry '
            f'WHERE document IN ({marks(documents)})', tuple(documents))

    def own_or(self, table, roles, everyone, column='patient'):
        if everyone:
            return self.ids(f'SELECT id FROM {table}')
        return self.ids(
            f'SELECT id FROM {table} '
            f'WHERE {column} IN ({marks(roles["patients"])})',
            tuple(sorted(roles['patients'])))

    def access_logs(self, roles):
        "The patient reads who accessed their record; officers, all"
        return self.own_or(
            'gnuhealth_shared_record_access_log', roles, roles['officer'])

    def consents(self, roles):
        """The patient's own choices; officers all; staff those of the
        patients who did not block them"""
        seen = self.own_or(
            'gnuhealth_shared_record_consent', roles, roles['officer'])
        if roles['staff']:
            blocked = self.blocked(roles['professional'])
            seen |= self.ids(
                'SELECT id FROM gnuhealth_shared_record_consent '
                f'WHERE {not_in("patient", blocked)}', tuple(blocked))
        return seen

    def emergency_accesses(self, roles):
        "The professional's own, the patient's, and all for officers"
        seen = self.own_or(
            'gnuhealth_shared_record_emergency_access', roles,
            roles['officer'])
        return seen | self.ids(
            'SELECT id FROM gnuhealth_shared_record_emergency_access '
            'WHERE professional = %s', (roles['professional'],))

    def blocks(self, roles):
        "The patient's blocks; staff record them at the patient's request"
        return self.own_or(
            'gnuhealth_shared_record_blocked_professional', roles,
            roles['staff'])

    def reminders(self, roles):
        """Prevention is GNU Health's own record: doctors, nurses and
        administrators see it, the patient their own"""
        return self.own_or(
            'gnuhealth_prevention_reminder', roles,
            roles['clinician'] or roles['admin'])

    def notices(self, roles):
        return self.own_or(
            'gnuhealth_prevention_notice', roles,
            roles['clinician'] or roles['admin'])

    def fetches(self, roles):
        "Doctors and nurses, for the patients who did not block them"
        if not roles['clinician']:
            return set()
        blocked = self.blocked(roles['professional'])
        return self.ids(
            'SELECT id FROM gnuhealth_shared_record_fetch '
            f'WHERE {not_in("patient", blocked)}', tuple(blocked))

    def patient_files(self, roles):
        "A patient's login sees their own file; others as GNU Health says"
        if roles['only_patient']:
            return set(roles['patients'])
        return self.ids('SELECT id FROM gnuhealth_patient')

    def parties(self, roles):
        """A patient's login sees their party, and those of professionals,
        institutions and companies"""
        if not roles['only_patient']:
            return self.ids('SELECT id FROM party_party')
        t = self.true
        return self.ids(
            'SELECT id FROM party_party WHERE internal_user = %s '
            f'OR COALESCE(is_healthprof, {t} <> {t}) = {t} '
            f'OR COALESCE(is_institution, {t} <> {t}) = {t} '
            'OR id IN (SELECT party FROM company_company)',
            (roles['user'],))

    def alerts(self, roles):
        """An alert is seen by the professionals it was sent or escalated
        to, unless the patient blocked them, while they see its report
        (doc/alerts.md, "Who sees an alert")"""
        if not roles['clinician'] or roles['professional'] < 0:
            return set()
        p = roles['professional']
        documents = sorted(self.documents(roles))
        return self.ids(
            'SELECT a.id FROM gnuhealth_shared_record_alert a '
            'WHERE (a.recipient = %s OR EXISTS (SELECT 1 FROM '
            'gnuhealth_shared_record_alert_step s WHERE s.alert = a.id '
            "AND s.step = 'escalated' AND s.professional = %s)) "
            'AND NOT EXISTS (SELECT 1 FROM '
            'gnuhealth_shared_record_blocked_professional b '
            'WHERE b.patient = a.patient AND b.professional = %s) '
            'AND (a.document IS NULL OR a.document IN '
            f'({marks(documents)}))', (p, p, p, *documents))

    def alert_steps(self, roles):
        "Who sees the alert sees its trail"
        alerts = sorted(self.alerts(roles))
        return self.ids(
            'SELECT id FROM gnuhealth_shared_record_alert_step '
            f'WHERE alert IN ({marks(alerts)})', tuple(alerts))

    def messages(self, roles):
        """Doctors and nurses see the messages they sent or were sent,
        those about a patient and those waiting for the clinic, unless the
        patient blocked them; receipts, nobody (doc/messaging.md, "Who
        sees a message")"""
        if not roles['clinician'] or roles['professional'] < 0:
            return set()
        p = roles['professional']
        return self.ids(
            'SELECT m.id FROM gnuhealth_shared_record_message m '
            "WHERE m.state <> 'receipt' AND NOT EXISTS (SELECT 1 FROM "
            'gnuhealth_shared_record_blocked_professional b '
            'WHERE b.patient = m.patient AND b.professional = %s) '
            'AND (m.sender = %s OR m.recipient = %s '
            'OR m.patient IS NOT NULL '
            "OR (m.recipient IS NULL AND m.direction = 'in'))", (p, p, p))

    def message_documents(self, roles):
        "A message's documents: those of the messages and documents seen"
        messages = sorted(self.messages(roles))
        documents = sorted(self.documents(roles))
        return self.ids(
            'SELECT id FROM "gnuhealth_shared_record_message-document" '
            f'WHERE message IN ({marks(messages)}) '
            f'AND document IN ({marks(documents)})',
            (*messages, *documents))

    def mailboxes(self, roles):
        "The mailboxes hold passwords: the administrators only"
        if not roles['admin']:
            return set()
        return self.ids('SELECT id FROM gnuhealth_shared_record_mailbox')

    def reconciliations(self, roles):
        """What other clinics state to reconcile: doctors and nurses, for
        the statements of documents they see (doc/record.md)"""
        if not roles['clinician']:
            return set()
        entries = sorted(self.entries(roles))
        return self.ids(
            'SELECT DISTINCT reconciliation FROM '
            '"gnuhealth_shared_record_reconciliation-entry" '
            f'WHERE entry IN ({marks(entries)})', tuple(entries))

    def reconciliation_entries(self, roles):
        if not roles['clinician']:
            return set()
        entries = sorted(self.entries(roles))
        return self.ids(
            'SELECT id FROM "gnuhealth_shared_record_reconciliation-entry" '
            f'WHERE entry IN ({marks(entries)})', tuple(entries))

    def reconciliation_decisions(self, roles):
        "Who sees an item sees its decisions"
        items = sorted(self.reconciliations(roles))
        return self.ids(
            'SELECT id FROM gnuhealth_shared_record_reconciliation_decision '
            f'WHERE reconciliation IN ({marks(items)})', tuple(items))

    def seen_marks(self, roles):
        "Each user's own marks of what they have seen"
        return self.ids(
            'SELECT id FROM gnuhealth_shared_record_seen WHERE "user" = %s',
            (roles['user'],))

    MODELS = {
        DOCUMENT: documents,
        'gnuhealth.shared_record.reconciliation': reconciliations,
        'gnuhealth.shared_record.reconciliation-entry':
        reconciliation_entries,
        'gnuhealth.shared_record.reconciliation.decision':
        reconciliation_decisions,
        'gnuhealth.shared_record.seen': seen_marks,
        'gnuhealth.shared_record.message': messages,
        'gnuhealth.shared_record.message-document': message_documents,
        'gnuhealth.shared_record.mailbox': mailboxes,
        'gnuhealth.shared_record.alert': alerts,
        'gnuhealth.shared_record.alert.step': alert_steps,
        'gnuhealth.shared_record.entry': entries,
        'gnuhealth.shared_record.access_log': access_logs,
        'gnuhealth.shared_record.consent': consents,
        'gnuhealth.shared_record.emergency_access': emergency_accesses,
        'gnuhealth.shared_record.blocked_professional': blocks,
        'gnuhealth.shared_record.fetch': fetches,
        'gnuhealth.prevention.reminder': reminders,
        'gnuhealth.prevention.notice': notices,
        'gnuhealth.patient': patient_files,
        'party.party': parties,
        }

    def seen(self, model, roles):
        """The ids of model the user may see; a model of the module the
        oracle does not know is seen by nobody (deny by default)"""
        method = self.MODELS.get(model)
        if method is None:
            return set()
        return method(self, roles)


def marks(values):
    "The placeholders of an IN list; one that matches nothing when empty"
    return ', '.join(['%s'] * len(values)) if values else 'NULL'


def not_in(column, values):
    "column is none of values: SQL's NOT IN (NULL) would be no row"
    if not values:
        return '1 = 1'
    return f'{column} NOT IN ({marks(values)})'


class Surface:
    """What a client can reach on the server: every model with a table, its
    fields, and the relation paths that lead to a protected model"""

    def __init__(self, clinic, protected):
        admin = clinic.client('admin')
        models = introspect(clinic.site)
        self.rpc = {name: set(m['rpc']) for name, m in models.items()}
        self.tables = {
            name: m['table'] for name, m in models.items() if m['table']}
        self.columns = {name: set(m['columns']) for name, m in models.items()}
        self.models = {}
        for model in admin.model('ir.model', 'search_read', [],
                0, None, [('model', 'ASC')], ['model', 'module']):
            name = model['model']
            if name in self.tables and models[name]['fields']:
                self.models[name] = {
                    'module': model['module'],
                    'fields': models[name]['fields'],
                    }
        self.protected = {m for m in protected if m in self.models}

    def relations(self, model):
        "(field, target model, field type) of the model's relation fields"
        for name, field in self.models[model]['fields'].items():
            target = field.get('relation')
            if target in self.models and field['type'] in {
                    'many2one', 'one2many', 'many2many', 'one2one'}:
                yield name, target, field

    def paths(self):
        """(model, path, protected model) of every searchable relation
        path, at most two hops, that reaches a protected model"""
        paths = []
        for model in self.models:
            for name, target, field in self.relations(model):
                if not field.get('searchable', True):
                    continue
                if target in self.protected:
                    paths.append((model, name, target))
                for name2, target2, field2 in self.relations(target):
                    if (target2 in self.protected
                            and field2.get('searchable', True)):
                        paths.append((model, f'{name}.{name2}', target2))
        return sorted(set(paths))

    def field_path(self, path):
        return path.replace('.', '/')


INTROSPECT = """
import json, sys
from trytond.config import config
config.update_etc(sys.argv[1])
from trytond.model import ModelSQL
from trytond.pool import Pool
from trytond.transaction import Transaction
Pool.start()
pool = Pool(sys.argv[2])
pool.init()
models = {}
with Transaction().start(sys.argv[2], 0, readonly=True):
    for name, Model in pool.iterobject():
        sql = issubclass(Model, ModelSQL) and not callable(
            getattr(Model, 'table_query', None))
        models[name] = {
            'rpc': sorted(Model.__rpc__),
            'table': Model._table if sql else None,
            'fields': Model.fields_get() if sql else {},
            'columns': sorted(
                n for n, f in Model._fields.items()
                if sql and not hasattr(f, 'getter')
                and f._type not in {'one2many', 'many2many'}),
            }
print(json.dumps(models, default=str))
"""


def introspect(site):
    """{model: {'rpc': its RPC methods, 'table': its table or None,
    'fields': its fields as fields_get gives them to root}}, from the
    server's pool in a process of its own on the site's database"""
    output = subprocess.run(
        [sys.executable, '-c', INTROSPECT, str(site.config), site.database],
        env=site.environment(), capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])
