# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The module as a clinic network runs it: one PostgreSQL database, two
trytond servers and two trytond-worker queue workers on loopback, the FHIR
repository (Medplum's), driven over JSON-RPC by concurrent clients.

The demo clinic (demo/populate.py) is the data.  For a bounded time,
doctors publish new versions of their evaluations and read their patients'
documents, patients mask and unmask theirs, a nurse records vaccinations
and a doctor recomputes reminders, all at once on both servers.  Then what
must hold is checked in the database, on the repository and by every user:
no document lost or duplicated, every access logged once, every choice
applied to every version, no reminder sent twice, no transaction or task
left behind, and the privacy policy.  Then two clinicians race on one
document, a patient masks while a doctor reads, and processes are killed
(SIGKILL) in the middle of their work.
"""
import base64
import datetime as dt
import itertools
import os
import random
import threading
import time
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

import pytest
import requests

from cluster import RPCError, Site
from helpers import PASSWORD, ROOT, SMTP, FHIRServer, publish_cda_on_peer

pytestmark = pytest.mark.skipif(
    not os.environ.get('TRYTOND_DATABASE_URI', '').startswith('postgresql'),
    reason='several trytond processes share a database on PostgreSQL, the '
    'production database; SQLite is the single-process demo database')

DOCUMENT = 'gnuhealth.shared_record.document'
EVALUATION = 'gnuhealth.patient.evaluation'
RECONCILIATION = 'gnuhealth.shared_record.reconciliation'
# How long the clients work at once, and how many patients log in
DURATION = 30
PATIENT_LOGINS = ['lucie', 'hugod', 'ines', 'jules', 'karim', 'lea']


class Network:
    "The site, its processes and what the tests know of the demo"

    def __init__(self, directory):
        self.site = Site(directory, 'processes', queue=True)
        self.repository = FHIRServer()
        self.servers = []
        self.workers = []

    def start(self):
        self.repository.start()
        self.site.create()
        # In English: the checks read the clinic's messages
        self.site.script(ROOT / 'demo' / 'populate.py', '--lang', 'en')
        self.servers = [
            self.site.server('server1'), self.site.server('server2')]
        self.workers = [
            self.site.worker('worker1'), self.site.worker('worker2')]
        admin = self.client('admin')
        admin.model('gnuhealth.shared_record.configuration', 'write',
            [1], {'repository_url': self.repository.url})
        self.patients = admin.model('gnuhealth.patient', 'search_read',
            [], 0, len(PATIENT_LOGINS), [['id', 'ASC']], ['party'])
        group, = admin.model('ir.model.data', 'search_read', [
                ('module', '=', 'health_shared_record'),
                ('fs_id', '=', 'group_shared_record_patient')],
            0, None, None, ['db_id'])
        company, = admin.model('company.company', 'search', [])
        for patient, login in zip(self.patients, PATIENT_LOGINS):
            party = patient['party']
            if login not in {'lucie', 'hugod'}:  # the demo's own
                user_id, = admin.model('res.user', 'create', [{
                            'name': login.title(), 'login': login,
                            'password': PASSWORD,
                            'groups': [['add', [group['db_id']]]],
                            'companies': [['add', [company]]],
                            'company': company}])
                admin.model('party.party', 'write', [party],
                    {'internal_user': user_id})
            admin.model('party.contact_mechanism', 'create', [{
                        'party': party, 'type': 'email',
                        'value': f'{login}@patients.example'}])
        self.users = {
            u['login']: u['id'] for u in admin.model('res.user',
                'search_read', [], 0, None, None, ['login'])}

    def client(self, login, server=0):
        return self.site.client(self.servers[server % 2], login)

    def query(self, statement, *parameters):
        return self.site.query(statement, parameters)

    def queue_drained(self, seconds=600):
        "Wait until the workers finished every task queued"
        # A task trytond gave up on (its worker died, or it met conflicts
        # more often than [database] retry) stays dequeued and unfinished
        # for ever; the queue has drained when no task waits and no worker
        # is in a transaction, twice in a row
        deadline = time.monotonic() + seconds
        idle = 0
        while time.monotonic() < deadline:
            (waiting,), = self.query(
                'SELECT COUNT(*) FROM ir_queue '
                'WHERE finished_at IS NULL AND dequeued_at IS NULL')
            (working,), = self.query(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s "
                "AND state IN ('active', 'idle in transaction') "
                "AND pid != pg_backend_pid()", self.site.database)
            idle = idle + 1 if not (waiting or working) else 0
            if idle == 2:
                return
            time.sleep(1)
        raise AssertionError('the queue did not drain')

    def run_cron(self, method, copies=1):
        """Make the cron task of method due, and only it, run copies of
        trytond-cron at once and wait for them"""
        now = dt.datetime.now()
        self.query(
            'UPDATE ir_cron SET next_call = CASE WHEN method = %s '
            'THEN %s ELSE %s END', method, now - dt.timedelta(minutes=1),
            now + dt.timedelta(days=1))
        crons = [self.site.cron(f'cron{i}') for i in range(copies)]
        for cron in crons:
            assert cron.popen.wait(180) == 0, cron.log.read_text()[-2000:]

    def stop(self):
        self.site.stop()
        self.repository.stop()


@pytest.fixture(scope='module')
def network(tmp_path_factory):
    network = Network(tmp_path_factory.mktemp('processes'))
    try:
        network.start()
        yield network
    finally:
        network.stop()


def rpc_datetime(value):
    "A datetime as Tryton's JSON-RPC carries it"
    return {'__class__': 'datetime', **{
            name: getattr(value, name) for name in [
                'year', 'month', 'day', 'hour', 'minute', 'second',
                'microsecond']}}


class Clients:
    """Client threads working until a deadline; what each did, and the
    errors they met, kept for the checks"""

    def __init__(self, network, seconds):
        self.network = network
        self.deadline = time.monotonic() + seconds
        self.threads = []
        self.unexpected = []
        self.lock = threading.Lock()
        self.published = Counter()
        self.reads = Counter()
        self.choices = {}
        self.consents = Counter()
        # GNU Health refuses a dose number given before
        self.doses = itertools.count(2)
        self.calls = Counter()

    def start(self, function, login, index):
        def run():
            rng = random.Random(f'{login}-{index}')
            client = self.network.client(login, index)
            try:
                while time.monotonic() < self.deadline:
                    function(client, rng)
                    with self.lock:
                        self.calls[function.__name__] += 1
            except Exception as error:
                with self.lock:
                    self.unexpected.append((login, function.__name__, error))
            finally:
                client.close()
        thread = threading.Thread(target=run, daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self):
        for thread in self.threads:
            thread.join(DURATION + 120)
            assert not thread.is_alive(), 'a client hangs'

    def publish(self, client, rng):
        "A doctor publishes one of his evaluations again"
        evaluations = client.model(EVALUATION, 'search', [
                ('healthprof.party.internal_user', '=', client.user_id)])
        evaluation = rng.choice(evaluations)
        amend(client, evaluation)
        client.model(EVALUATION, 'publish_shared_record', [evaluation])
        with self.lock:
            self.published[evaluation] += 1

    def read(self, client, rng):
        "A doctor opens the documents of a patient (the content is logged)"
        patient = rng.choice(self.network.patients)['id']
        rows = client.model(DOCUMENT, 'search_read', [
                ('patient', '=', patient), ('state', '=', 'published')],
            0, None, None, ['content'])
        with self.lock:
            for row in rows:
                self.reads[client.user_id, row['id']] += 1

    def choose(self, client, rng):
        "A patient masks one of her documents, or unmasks it"
        documents = client.model(DOCUMENT, 'search_read', [
                ('state', '=', 'published')],
            0, None, None, ['masked', 'set_id'])
        if not documents:
            return
        document = rng.choice(documents)
        action = 'unmask' if document['masked'] else 'mask'
        client.model(DOCUMENT, action, [document['id']])
        with self.lock:
            self.choices[document['set_id']] = action == 'mask'
            self.consents[client.user_id] += 1

    def vaccinate(self, client, rng):
        "The nurse records a vaccination: the patient's reminders follow"
        vaccines = client.model('gnuhealth.medicament', 'search', [
                ('is_vaccine', '=', True)])
        patient = rng.choice(self.network.patients)['id']
        client.model('gnuhealth.vaccination', 'create', [{
                    'patient': patient, 'vaccine': rng.choice(vaccines),
                    'dose': next(self.doses), 'admin_route': 'im',
                    'vaccine_lot': f'LOT-{rng.randint(1, 99999):05d}',
                    'date': rpc_datetime(dt.datetime.combine(
                            dt.date.today()
                            - dt.timedelta(days=rng.randint(0, 30)),
                            dt.time(10))),
                    }])

    def recompute(self, client, rng):
        "A doctor asks for a patient's reminders again"
        patient = rng.choice(self.network.patients)['id']
        client.model('gnuhealth.patient', 'compute_prevention', [patient])


def test_many_clients_on_two_servers_and_two_workers(network):
    started = network.query('SELECT NOW()')[0][0]
    (documents_before,), = network.query(
        'SELECT COUNT(*) FROM gnuhealth_shared_record_document')
    clients = Clients(network, DURATION)
    index = 0
    for login in ['claire', 'hugo']:
        for work in [clients.publish, clients.read]:
            clients.start(work, login, index)
            index += 1
    for login in PATIENT_LOGINS:
        clients.start(clients.choose, login, index)
        index += 1
    clients.start(clients.vaccinate, 'paul', index)
    clients.start(clients.recompute, 'claire', index + 1)
    clients.join()
    assert clients.unexpected == [], clients.unexpected
    print('calls:', dict(clients.calls))
    assert all(clients.calls[w] >= 5 for w in [
            'publish', 'read', 'choose', 'vaccinate', 'recompute'])
    network.queue_drained()

    # No document lost, none twice: one new version a successful publish
    published = network.query(
        'SELECT origin, COUNT(*) FROM gnuhealth_shared_record_document '
        'WHERE create_date >= %s AND origin LIKE %s GROUP BY origin',
        started, f'{EVALUATION},%')
    assert {int(o.split(',')[1]): n for o, n in published} == dict(
        clients.published)
    (documents_after,), = network.query(
        'SELECT COUNT(*) FROM gnuhealth_shared_record_document')
    assert documents_after == documents_before + sum(
        clients.published.values())
    # Each version chain is a line: one current version, versions 1..n,
    # no version replaced twice
    chains = defaultdict(list)
    for set_id, version, state, replaces in network.query(
            'SELECT set_id, version, state, replaces '
            'FROM gnuhealth_shared_record_document WHERE set_id IS NOT NULL'):
        chains[set_id].append((version, state, replaces))
    for set_id, versions in chains.items():
        assert sorted(v for v, _, _ in versions) == list(
            range(1, len(versions) + 1)), set_id
        assert sum(s in {'published', 'withdrawn'} for _, s, _ in versions
            ) == 1, set_id
        replaced = [r for _, _, r in versions if r]
        assert len(replaced) == len(set(replaced)) == len(versions) - 1
    # On the repository, each document sent exactly once; what a busy
    # repository made wait is sent by the cron, as in production
    for _ in range(5):
        waiting = network.query(
            'SELECT unique_id, exchange_message '
            'FROM gnuhealth_shared_record_document '
            "WHERE exchange_state = 'pending'")
        if not waiting:
            break
        print('waiting for another attempt:', waiting)
        network.query(
            'UPDATE gnuhealth_shared_record_document SET exchange_next = %s '
            "WHERE exchange_state = 'pending'", dt.datetime.now())
        network.run_cron('gnuhealth.shared_record.document|resend_pending')
        network.queue_drained()
    sent = network.query(
        'SELECT unique_id, exchange_state, exchange_message '
        'FROM gnuhealth_shared_record_document WHERE create_date >= %s',
        started)
    assert {s for _, s, _ in sent} == {'sent'}, sent
    on_peer = Counter(
        r['masterIdentifier']['value'] for r in network.repository.search(
            'DocumentReference'))
    for unique_id, _, _ in sent:
        assert on_peer[unique_id] == 1, unique_id

    # Every access logged once
    logged = network.query(
        'SELECT "user", document, COUNT(*) '
        'FROM gnuhealth_shared_record_access_log '
        "WHERE create_date >= %s AND action = 'download' "
        'GROUP BY "user", document', started)
    assert {(u, d): n for u, d, n in logged} == dict(clients.reads)

    # Each patient's last choice holds for every version of the document,
    # and each choice is in the consent trail once
    masked = defaultdict(set)
    for set_id, value in network.query(
            'SELECT set_id, masked FROM gnuhealth_shared_record_document '
            'WHERE set_id IS NOT NULL'):
        masked[set_id].add(bool(value))
    for set_id, value in clients.choices.items():
        assert masked[set_id] == {value}, set_id
    consents = network.query(
        'SELECT "user", COUNT(*) FROM gnuhealth_shared_record_consent '
        "WHERE create_date >= %s AND action IN ('mask', 'unmask') "
        'GROUP BY "user"', started)
    assert dict(consents) == dict(clients.consents)

    # Reminders: one per patient, rule and date, and two crons at once send
    # each one once
    assert network.query(
        'SELECT patient, rule, due_date FROM gnuhealth_prevention_reminder '
        'GROUP BY patient, rule, due_date HAVING COUNT(*) > 1') == []
    addresses = {f'{login}@patients.example' for login in PATIENT_LOGINS}
    mailed_before = [m for m in SMTP.messages if m['To'] in addresses]
    assert mailed_before == []
    network.run_cron('gnuhealth.prevention.reminder|send_reminders', 2)
    (notices,), = network.query(
        'SELECT COUNT(*) FROM gnuhealth_prevention_notice')
    mailed = [m for m in SMTP.messages if m['To'] in addresses]
    assert notices > 0
    assert sorted(Counter(m['To'] for m in mailed).values()) == [1] * len(
        {m['To'] for m in mailed})
    network.run_cron('gnuhealth.prevention.reminder|send_reminders', 2)
    assert [m for m in SMTP.messages if m['To'] in addresses] == mailed

    # Nothing left behind: no transaction open, no lock waited for
    assert network.query(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s "
        "AND (state = 'idle in transaction' OR wait_event_type = 'Lock')",
        network.site.database) == [(0,)]

    check_policy(network)


def check_policy(network):
    """Every user sees, on every path, what the policy grants: the same
    documents by search, count, read and the patient's tab; a patient only
    her own, never one hidden from her; a doctor a masked document only as
    its author, the patient's doctor or in an emergency"""
    documents = {row[0]: row[1:] for row in network.query(
            'SELECT d.id, d.patient, d.masked, d.hidden_from_patient, '
            'd.patient_release_date, a.internal_user, t.internal_user, '
            'd.state '
            'FROM gnuhealth_shared_record_document d '
            'JOIN gnuhealth_patient p ON p.id = d.patient '
            'LEFT JOIN gnuhealth_healthprofessional ap ON ap.id = d.author '
            'LEFT JOIN party_party a ON a.id = ap.party '
            'LEFT JOIN gnuhealth_healthprofessional tp '
            'ON tp.id = p.primary_care_doctor '
            'LEFT JOIN party_party t ON t.id = tp.party')}
    emergencies = set(network.query(
        'SELECT e.patient, pp.internal_user '
        'FROM gnuhealth_shared_record_emergency_access e '
        'JOIN gnuhealth_healthprofessional hp ON hp.id = e.professional '
        'JOIN party_party pp ON pp.id = hp.party WHERE e.expires > NOW()'))
    owners = {p['id']: login
        for p, login in zip(network.patients, PATIENT_LOGINS)}
    # The clinic's day (the demo's is in Paris), on which releases fall
    today = dt.datetime.now(ZoneInfo('Europe/Paris')).date()
    for login in ['claire', 'hugo', 'paul'] + PATIENT_LOGINS:
        client = network.client(login)
        user = network.users[login]
        found = set(client.model(DOCUMENT, 'search', []))
        assert client.model(DOCUMENT, 'search_count', []) == len(found)
        readable = set()
        for document_id in documents:
            try:
                client.model(DOCUMENT, 'read', [document_id], ['title'])
            except RPCError as error:
                assert error.kind in {'AccessError', 'UserError'}, error
            else:
                readable.add(document_id)
        assert readable == found, login
        for document_id in found:
            (patient, masked, hidden, release, author, treating, _
                ) = documents[document_id]
            if login in PATIENT_LOGINS:
                assert owners.get(patient) == login
                assert not hidden or (release and release <= today)
            elif masked:
                assert user in {author, treating} or (
                    patient, user) in emergencies, (login, document_id)
        if login in PATIENT_LOGINS:
            # and every current document of hers that is not kept from her
            assert found >= {i for i, (p, _, hidden, release, _, _, state)
                in documents.items()
                if owners.get(p) == login and state == 'published'
                and (not hidden or (release and release <= today))}, login
        client.close()


def visible_to_both(network, claire, hugo):
    "A current document of an evaluation that both doctors may read"
    found = [set(c.model(DOCUMENT, 'search', [
                    ('state', '=', 'published'), ('masked', '=', False),
                    ('origin', 'like', f'{EVALUATION},%')]))
        for c in [claire, hugo]]
    document, = claire.model(DOCUMENT, 'read', [min(found[0] & found[1])],
        ['patient', 'document_type', 'origin', 'set_id'])
    return document


def at_once(*calls):
    """Make the calls at the same moment from threads; return, in order,
    each one's result or the RPCError it raised"""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except RPCError as error:
            results[index] = error
    threads = [threading.Thread(target=run, args=(i, c))
        for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


# A letter, as a clinician uploads it: a client sets no origin
PDF = {'__class__': 'bytes', 'base64': base64.b64encode(
        b'%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n'
        b'trailer<</Root 1 0 R>>\n').decode()}


def test_two_clinicians_replace_one_version_at_once(network):
    """Two new versions of the same version, published at the same moment
    on two servers: one is published, the other clinician gets a clear
    error and keeps his draft; never two branches"""
    claire, hugo = network.client('claire', 0), network.client('hugo', 1)
    document = visible_to_both(network, claire, hugo)
    for round_ in range(4):
        (current,), = network.query(
            'SELECT id FROM gnuhealth_shared_record_document '
            "WHERE set_id = %s AND state = 'published'", document['set_id'])
        drafts = [client.model(DOCUMENT, 'create', [{
                        'patient': document['patient'],
                        'document_type': document['document_type'],
                        'title': f'Round {round_} by {client.login}',
                        'file': PDF, 'file_name': 'letter.pdf',
                        'file_type': 'application/pdf',
                        'replaces': current}])[0]
            for client in [claire, hugo]]
        results = at_once(*(
                lambda c=c, d=d: c.model(DOCUMENT, 'publish', [d])
                for c, d in zip([claire, hugo], drafts)))
        errors = [r for r in results if isinstance(r, RPCError)]
        assert len(errors) == 1, results
        error, = errors
        assert error.kind == 'UserError'
        assert 'has already been replaced' in error.message
        loser = results.index(error)
        winner = 1 - loser
        assert dict(network.query(
                'SELECT id, state FROM gnuhealth_shared_record_document '
                'WHERE replaces = %s', current)) == {
            drafts[winner]: 'published', drafts[loser]: 'draft'}
        (claire, hugo)[loser].model(DOCUMENT, 'delete', [drafts[loser]])

    # The same evaluation, amended, published by both at once: one new
    # version replaces its current one; the other clinician's request, run
    # again once the database refused it, finds the record has not changed
    # since, and says so
    evaluation = int(document['origin'].split(',')[1])
    origin = f'{EVALUATION},{evaluation}'
    amend(claire, evaluation)
    claire.model(EVALUATION, 'publish_shared_record', [evaluation])
    (set_id,), = network.query(
        'SELECT set_id FROM gnuhealth_shared_record_document '
        "WHERE origin = %s AND state = 'published'", origin)
    amend(claire, evaluation)
    results = at_once(*(
            lambda c=c: c.model(EVALUATION, 'publish_shared_record',
                [evaluation]) for c in [claire, hugo]))
    errors = [r for r in results if isinstance(r, RPCError)]
    assert len(errors) == 1, results
    assert errors[0].kind == 'UserError'
    assert 'has not changed' in errors[0].message
    versions = network.query(
        'SELECT version, state, replaces FROM '
        'gnuhealth_shared_record_document WHERE set_id = %s '
        'ORDER BY version', set_id)
    assert [v for v, _, _ in versions] == [1, 2]
    assert [s for _, s, _ in versions] == ['superseded', 'published']
    replaced = [r for _, _, r in versions if r]
    assert len(replaced) == len(set(replaced)) == len(versions) - 1
    claire.close()
    hugo.close()


def test_two_clinicians_decide_one_item_at_once(network):
    """What another clinic states, decided by two doctors at the same
    moment on two servers: one decision is taken, the other doctor is told
    it was decided already; one decision in the log, one record made"""
    from health_shared_record import cda
    claire, hugo = network.client('claire', 0), network.client('hugo', 1)
    (patient, national_id), = network.query(
        'SELECT pa.id, a.code FROM gnuhealth_patient pa '
        'JOIN party_party p ON p.id = pa.party '
        'JOIN gnuhealth_person_alternative_identification a '
        "ON a.party = p.id WHERE p.name = 'Lucie'")
    problem = cda.Code('55607006', cda.SNOMED, 'Problem')
    publish_cda_on_peer(
        network.repository.url, national_id, '1.2.250.1.777.19.1',
        dt.datetime.combine(dt.date.today(), dt.time(9)),
        sections=[cda.Section(
                cda.section_code('11450-4'), 'Problems',
                [cda.Paragraph('Gout, active.')],
                [cda.Observation(problem, cda.Code('M10', cda.ICD10, 'Gout'),
                        dt.date(2026, 11, 2), 'active')]),
            cda.Section(
                cda.section_code('48765-2'), 'Allergies',
                [cda.Paragraph('Latex.')],
                [cda.Observation(
                        cda.Code('420134006', cda.SNOMED, 'Propensity'),
                        cda.Code('Z91.040', cda.ICD10, 'Latex allergy'),
                        dt.date(2026, 10, 1), 'active')])])
    claire.model('gnuhealth.patient', 'fetch_shared_record', [patient])
    network.queue_drained()
    items = dict(network.query(
            'SELECT code, id FROM gnuhealth_shared_record_reconciliation '
            "WHERE patient = %s AND state = 'pending'", patient))
    assert {'M10', 'Z91.040'} <= set(items), items
    item = items['M10']
    results = at_once(*(
            lambda c=c: c.model(RECONCILIATION, 'mark_present', [item])
            for c in [claire, hugo]))
    errors = [r for r in results if isinstance(r, RPCError)]
    assert len(errors) == 1, results
    assert 'was decided already' in errors[0].message
    assert network.query(
        'SELECT decision FROM '
        'gnuhealth_shared_record_reconciliation_decision '
        'WHERE reconciliation = %s', item) == [('present',)]
    # Accepted by both at once (the wizard's transition): one condition
    item = items['Z91.040']
    pathology = network.query(
        "SELECT id FROM gnuhealth_pathology ORDER BY id LIMIT 1")[0][0]
    results = at_once(*(
            lambda c=c: accept(c, item, pathology) for c in [claire, hugo]))
    errors = [r for r in results if isinstance(r, RPCError)]
    assert len(errors) == 1, results
    assert network.query(
        'SELECT state, record FROM gnuhealth_shared_record_reconciliation '
        'WHERE id = %s', item)[0][0] == 'accepted'
    assert network.query(
        'SELECT COUNT(*) FROM gnuhealth_patient_disease '
        'WHERE patient = %s AND pathology = %s AND is_allergy',
        patient, pathology) == [(1,)]
    claire.close()
    hugo.close()


def accept(client, item, pathology):
    "Accept item into GNU Health's record with the wizard, as sao does"
    wizard = 'wizard.gnuhealth.shared_record.reconciliation.accept'
    context = {
        'active_model': RECONCILIATION, 'active_id': item,
        'active_ids': [item]}
    session, _, _ = client.call(f'{wizard}.create', context=context)
    try:
        view = client.call(
            f'{wizard}.execute', session, {}, 'start', context=context)
        values = {
            name: value for name, value in view['view']['defaults'].items()
            if '.' not in name}
        values['pathology'] = pathology
        client.call(f'{wizard}.execute', session, {'start': values},
            'accept', context=context)
    finally:
        client.call(f'{wizard}.delete', session, context=context)


def test_patient_masks_while_a_doctor_reads(network):
    """Lucie masks and unmasks a document while Dr Martin, who sees it only
    when it is not masked, keeps reading it: each read gets the whole
    document or nothing, never a masked one, always what the last finished
    choice says, and each read that got it is logged once"""
    lucie, claire = network.client('lucie', 0), network.client('claire', 1)
    patient = network.patients[PATIENT_LOGINS.index('lucie')]['id']
    document = min(lucie.model(DOCUMENT, 'search', [
                ('patient', '=', patient), ('state', '=', 'published'),
                ('author.party.internal_user', '!=', network.users['claire']),
                ]))
    if lucie.model(DOCUMENT, 'read', [document], ['masked'])[0]['masked']:
        lucie.model(DOCUMENT, 'unmask', [document])
    started = network.query('SELECT NOW()')[0][0]
    deadline = time.monotonic() + 10
    choices, reads = [], []

    def choose():
        masked = False
        while time.monotonic() < deadline:
            begin = time.monotonic()
            lucie.model(DOCUMENT, 'unmask' if masked else 'mask', [document])
            masked = not masked
            choices.append((begin, time.monotonic(), masked))
            time.sleep(0.05)

    def read():
        while time.monotonic() < deadline:
            begin = time.monotonic()
            rows = claire.model(DOCUMENT, 'search_read', [
                    ('id', '=', document)], 0, None, None,
                ['content', 'masked'])
            reads.append((begin, time.monotonic(), rows))
    threads = [threading.Thread(target=f) for f in [choose, read]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(choices) >= 10 and len(reads) >= 10
    settled = 0
    for begin, end, rows in reads:
        assert rows == [] or (len(rows) == 1 and rows[0]['content']
            and not rows[0]['masked']), rows
        # The choice in force during the whole read, if one was
        before = [c for c in choices if c[1] <= begin]
        if before and not [c for c in choices if begin < c[1] and (
                    c[0] < end)]:
            settled += 1
            assert bool(rows) == (not before[-1][2]), (begin, end, rows)
    assert settled >= 5
    (logged,), = network.query(
        'SELECT COUNT(*) FROM gnuhealth_shared_record_access_log '
        "WHERE create_date >= %s AND document = %s AND \"user\" = %s "
        "AND action = 'download'", started, document,
        network.users['claire'])
    assert logged == sum(1 for _, _, rows in reads if rows)
    lucie.close()
    claire.close()


class TableLock:
    """Hold a lock on a table from another connection, so that a process
    writing to it waits mid-task, where the test kills it"""

    def __init__(self, network, table, mode='SHARE'):
        import psycopg2
        self.network = network
        self.connection = psycopg2.connect(
            network.site.uri + network.site.database)
        self.connection.cursor().execute(
            f'LOCK TABLE "{table}" IN {mode} MODE')

    def wait_for_waiter(self, seconds=60):
        "Wait until another backend waits for the lock"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.network.query(
                    "SELECT COUNT(*) FROM pg_stat_activity "
                    "WHERE datname = %s AND wait_event_type = 'Lock'",
                    self.network.site.database)[0][0]:
                return
            time.sleep(0.2)
        raise AssertionError('nothing waits for the lock')

    def release(self):
        self.connection.rollback()
        self.connection.close()


def wait_backends_gone(network, seconds=60):
    "Wait until no backend of a killed process holds a transaction"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not network.query(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s "
                "AND state IN ('idle in transaction', 'active') "
                "AND query NOT ILIKE '%%pg_stat%%' "
                "AND query NOT ILIKE 'LISTEN%%'",
                network.site.database)[0][0]:
            return
        time.sleep(0.3)
    raise AssertionError('a killed process left a transaction open')


# Each amendment of an evaluation says something new
_AMENDMENTS = itertools.count(1)


def amend(client, evaluation):
    """The doctor completes the plan of the evaluation, as before publishing
    it again: a record that did not change makes no new version"""
    plan, = client.model(EVALUATION, 'read', [evaluation], ['directions'])
    client.model(EVALUATION, 'write', [evaluation], {
            'directions': '%s\nReviewed (%s).' % (
                plan['directions'] or '', next(_AMENDMENTS))})


def evaluation_versions(network, evaluation):
    return network.query(
        'SELECT id, unique_id, exchange_state '
        'FROM gnuhealth_shared_record_document WHERE origin = %s '
        'ORDER BY id', f'{EVALUATION},{evaluation}')


def test_server_killed_mid_publish(network):
    """A server dies (SIGKILL) while it publishes: nothing of it stays; the
    doctor publishes again on the restarted server and there is one new
    version, sent once"""
    # The workers idle, the only writer waiting for the lock is the server
    network.queue_drained()
    claire = network.client('claire', 0)
    evaluation = claire.model(EVALUATION, 'search', [
            ('healthprof.party.internal_user', '=', claire.user_id)])[0]
    amend(claire, evaluation)
    before = evaluation_versions(network, evaluation)
    lock = TableLock(network, 'gnuhealth_shared_record_document')
    outcome = []

    def publish():
        try:
            outcome.append(claire.model(
                    EVALUATION, 'publish_shared_record', [evaluation]))
        except requests.ConnectionError as error:
            outcome.append(error)
    thread = threading.Thread(target=publish)
    try:
        thread.start()
        lock.wait_for_waiter()
        network.servers[0].kill()
    finally:
        lock.release()
    thread.join(60)
    # The client lost its server before any answer
    assert len(outcome) == 1 and isinstance(
        outcome[0], requests.ConnectionError), outcome
    wait_backends_gone(network)
    assert evaluation_versions(network, evaluation) == before
    network.servers[0] = network.site.server('server1-restarted')
    claire = network.client('claire', 0)
    claire.model(EVALUATION, 'publish_shared_record', [evaluation])
    network.queue_drained()
    after = evaluation_versions(network, evaluation)
    assert len(after) == len(before) + 1
    new = after[-1]
    assert new[2] == 'sent'
    assert [r['masterIdentifier']['value']
        for r in network.repository.search('DocumentReference')
        ].count(new[1]) == 1
    claire.close()


def test_worker_killed_mid_send(network):
    """A queue worker dies (SIGKILL) after the repository stored a document
    and before the clinic recorded it: trytond runs that task no more, and
    the module's cron sends what is still pending, once"""
    network.queue_drained()
    for worker in network.workers:
        worker.stop()
    claire = network.client('claire', 0)
    evaluation = claire.model(EVALUATION, 'search', [
            ('healthprof.party.internal_user', '=', claire.user_id)])[-1]
    amend(claire, evaluation)
    claire.model(EVALUATION, 'publish_shared_record', [evaluation])
    # The new version, and the one it superseded, wait for a worker
    pending = dict(network.query(
            'SELECT unique_id, id FROM gnuhealth_shared_record_document '
            "WHERE exchange_state = 'pending'"))
    assert evaluation_versions(network, evaluation)[-1][1] in pending
    lock = TableLock(network, 'gnuhealth_shared_record_document')
    try:
        worker = network.site.worker('worker-killed')
        lock.wait_for_waiter()
        on_peer = Counter(r['masterIdentifier']['value']
            for r in network.repository.search('DocumentReference'))
        # The repository has it; the clinic does not know yet
        assert [u for u in pending if on_peer[u]]
        worker.kill()
    finally:
        lock.release()
    wait_backends_gone(network)
    assert {s for s, in network.query(
                'SELECT exchange_state FROM gnuhealth_shared_record_document '
                'WHERE id IN %s', tuple(pending.values()))} == {'pending'}
    # trytond runs the killed worker's task no more
    assert network.query(
        'SELECT COUNT(*) FROM ir_queue WHERE finished_at IS NULL '
        'AND dequeued_at IS NOT NULL')[0][0]
    network.workers = [
        network.site.worker('worker1-restarted'),
        network.site.worker('worker2-restarted')]
    network.queue_drained()
    network.run_cron('gnuhealth.shared_record.document|resend_pending')
    network.queue_drained()
    assert {s for s, in network.query(
                'SELECT exchange_state FROM gnuhealth_shared_record_document '
                'WHERE id IN %s', tuple(pending.values()))} == {'sent'}
    on_peer = Counter(r['masterIdentifier']['value']
        for r in network.repository.search('DocumentReference'))
    assert {u: on_peer[u] for u in pending} == {u: 1 for u in pending}
    claire.close()
