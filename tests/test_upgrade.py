# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Upgrades: a database that an earlier release made and filled updates in
place (trytond-admin -u) to the module as it is now, and keeps every
document, choice, log line and reminder.

For each release, its module, demo and tests come out of git; the release
creates a database of its own (tests/cluster.py) and fills it with its own
demo/populate.py and with what the demo leaves out (reminders e-mailed to
patients, one recorded as done elsewhere).  Every row of the module's
tables, and every column it adds to GNU Health's, is recorded; then the
current code updates the database, and the rows must all be there,
unchanged but for the module's own XML records.  The current code must
then work on what it finds: contents match their hashes, each user finds
and reads exactly the records the release let them (masks and blocks
included; from 0.1.0, but for what 0.2.0's privacy policy hides),
recomputing every patient's prevention changes nothing the release
computed, no reminder is e-mailed twice, and old documents get new
versions.

This file is also the script that looks at a database from the inside,
with the release's code before the update and the current code after it:
    python test_upgrade.py -c CONFIG -d DATABASE COMMAND OUTPUT [--date D]

Time, on 2 cores, is mostly trytond-admin activating GNU Health and each
release's demo (0.2.0's publishes every document to a repository,
Medplum's FHIR server, and fetches one back): 0.1.0 takes 50 s on SQLite
and 100 s on PostgreSQL, 0.2.0 135 s and 120 s: less than 7 min for the
four (twice that while other tests share the cores), which takes the
suite from 17 min to about 24, well under CI's 90.  So every release runs
on both backends: an upgrade's SQL (columns added and filled) is what
differs most between them.
"""
import argparse
import datetime as dt
import hashlib
import json
import pathlib
import shutil
import subprocess
from collections import namedtuple

import pytest

MODULE = 'health_shared_record'
DOCUMENT = 'gnuhealth.shared_record.document'
REMINDER = 'gnuhealth.prevention.reminder'

# The tags are not in the clones of the repository: the commits are.
# repository: the demo publishes to a repository and fetches from it
Release = namedtuple('Release', ['name', 'commit', 'repository'])
RELEASES = [
    Release('0.1.0', 'bc104746592fb58aae3c9de83cef92a5b5f0ae1e',
        repository=False),
    Release('0.2.0', '11ca9c9671babdff9e8b3cf7f1993ff3ad12bd17',
        repository=True),
    ]
DOCUMENTS = 'gnuhealth_shared_record_document'
CONSENTS = 'gnuhealth_shared_record_consent'
BLOCKED = 'gnuhealth_shared_record_blocked_professional'
CONSENT = 'gnuhealth.shared_record.consent'
# What each release's database must hold some of, so that keeping it all
# means something: (first release, what, table, condition)
KINDS = [
    ('0.1.0', "published documents", DOCUMENTS, "state = 'published'"),
    ('0.1.0', "superseded versions", DOCUMENTS, "state = 'superseded'"),
    ('0.1.0', "withdrawn documents", DOCUMENTS, "state = 'withdrawn'"),
    ('0.1.0', "external files", DOCUMENTS, "file_name IS NOT NULL"),
    ('0.1.0', "document types", 'gnuhealth_shared_record_document_type',
        None),
    ('0.2.0', "masked documents", DOCUMENTS, "masked = %s"),
    ('0.2.0', "documents hidden from the patient", DOCUMENTS,
        "hidden_from_patient = %s"),
    ('0.2.0', "documents sent to the repository", DOCUMENTS,
        "exchange_state = 'sent'"),
    ('0.2.0', "documents fetched from the repository", DOCUMENTS,
        "source = 'repository'"),
    ('0.2.0', "entries of fetched documents",
        'gnuhealth_shared_record_entry', None),
    ('0.2.0', "fetches", 'gnuhealth_shared_record_fetch', None),
    ('0.2.0', "blocked professionals",
        'gnuhealth_shared_record_blocked_professional', None),
    ('0.2.0', "emergency accesses",
        'gnuhealth_shared_record_emergency_access', None),
    ('0.2.0', "access log lines", 'gnuhealth_shared_record_access_log',
        None),
    ('0.2.0', "privacy choices", 'gnuhealth_shared_record_consent', None),
    ('0.2.0', "prevention rules", 'gnuhealth_prevention_rule', None),
    ('0.2.0', "open reminders", 'gnuhealth_prevention_reminder',
        "state IN ('upcoming', 'due', 'overdue')"),
    ('0.2.0', "done reminders", 'gnuhealth_prevention_reminder',
        "state = 'done'"),
    ('0.2.0', "dismissed reminders", 'gnuhealth_prevention_reminder',
        "state = 'dismissed'"),
    ('0.2.0', "reminder notices", 'gnuhealth_prevention_notice', None),
    ]
# The models whose records each user's search is compared on
OBSERVED = [
    'gnuhealth.patient',
    DOCUMENT,
    'gnuhealth.shared_record.access_log',
    'gnuhealth.shared_record.consent',
    'gnuhealth.shared_record.emergency_access',
    'gnuhealth.shared_record.fetch',
    'gnuhealth.shared_record.entry',
    REMINDER,
    'gnuhealth.prevention.notice',
    ]


def release_tree(release, directory):
    "Extract the release's module, demo and tests into directory"
    from helpers import ROOT
    if not shutil.which('git'):
        pytest.skip(f'git is not installed: release {release.name} cannot '
            'be taken from the repository')
    found = subprocess.run(
        ['git', 'cat-file', '-e', f'{release.commit}^{{commit}}'],
        cwd=ROOT, capture_output=True)
    if found.returncode:
        pytest.skip(f'release {release.name} (commit {release.commit}) is '
            f'not in the git history of {ROOT}: not a git checkout, or a '
            'shallow clone')
    archive = subprocess.run(
        ['git', 'archive', release.commit, MODULE, 'demo', 'tests'],
        cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(
        ['tar', '-x', '-C', str(directory)], input=archive, check=True)


def table_columns(site, table):
    "The columns of the table, none when there is no such table"
    if site.sqlite:
        rows = site.query('SELECT name FROM pragma_table_info(%s)', (table,))
    else:
        rows = site.query(
            'SELECT column_name FROM information_schema.columns '
            'WHERE table_schema = current_schema() AND table_name = %s '
            'ORDER BY ordinal_position', (table,))
    return [name for name, in rows]


def module_tables(site):
    """{table: columns} of what the module keeps: the tables of its models
    (its many2many relations are models too) and, in the tables of the
    models it extends, the id and the columns it adds"""
    fields = site.query(
        'SELECT m.model, m.module, f.name FROM ir_model_field f '
        'JOIN ir_model m ON f.model = m.id '
        'WHERE m.module = %s OR f.module = %s', (MODULE, MODULE))
    added = {}
    for model, owner, field in fields:
        added.setdefault((model, owner == MODULE), set()).add(field)
    tables = {}
    for (model, owned), names in sorted(added.items()):
        table = model.replace('.', '_')
        columns = [
            c for c in table_columns(site, table)
            if c != 'id' and (owned or c in names)]
        if columns:
            tables[table] = ['id'] + columns
    return tables


def snapshot(site, tables):
    "{table: {id: {column: value}}}"
    rows = {}
    for table, columns in tables.items():
        result = site.query('SELECT %s FROM "%s"' % (
                ', '.join(f'"{c}"' for c in columns), table))
        rows[table] = {
            row[0]: {
                c: bytes(v) if isinstance(v, memoryview) else v
                for c, v in zip(columns, row)}
            for row in result}
    return rows


def rewritable(site):
    """The (table, id) of the module's XML records that an update writes
    again from the XML files (not those marked noupdate)"""
    return {
        (model.replace('.', '_'), db_id)
        for model, db_id, noupdate in site.query(
            'SELECT model, db_id, noupdate FROM ir_model_data '
            'WHERE module = %s', (MODULE,))
        if not noupdate}


def differences(before, after, rewritten):
    "What the update lost or changed of the rows before"
    missing = object()
    found = []
    for table, rows in before.items():
        for id_, row in rows.items():
            new = after.get(table, {}).get(id_)
            if new is None:
                found.append(f'{table} #{id_} is gone')
            elif (table, id_) not in rewritten:
                # write_date and write_uid too: nothing wrote the row
                for column, value in row.items():
                    if new.get(column, missing) != value:
                        found.append(f'{table} #{id_} {column}: {value!r} '
                            f'became {new.get(column, "(no column)")!r}')
    return found


def count_kinds(site, release, tables):
    "{what: rows} of the KINDS the release has"
    names = [r.name for r in RELEASES]
    counts = {}
    for since, what, table, condition in KINDS:
        if names.index(since) > names.index(release.name):
            continue
        assert table in tables, f'{table} ({what}) is not in {release.name}'
        statement = f'SELECT COUNT(*) FROM "{table}"'
        if condition:
            statement += f' WHERE {condition}'
        (counts[what],), = site.query(
            statement, (True,) * statement.count('%s'))
    return counts


class Probe:
    "This file run as a script in the site, by the code of pythonpath"

    def __init__(self, site, directory, pythonpath=None):
        self.site = site
        self.directory = directory
        self.pythonpath = pythonpath

    def __call__(self, command, *args):
        output = self.directory / f'{command}.json'
        self.site.script(__file__, command, output, *args,
            pythonpath=self.pythonpath)
        return json.loads(output.read_text())


@pytest.fixture
def repository():
    from helpers import FHIRServer
    peer = FHIRServer()
    yield peer.start()
    peer.stop()


@pytest.mark.parametrize('release', RELEASES, ids=lambda r: r.name)
def test_upgrade(release, tmp_path, request):
    from cluster import Site
    from helpers import SMTP

    old = tmp_path / 'release'
    old.mkdir()
    release_tree(release, old)
    site = Site(tmp_path / 'site', 'upgrade_' + release.name.replace('.', ''))
    before_probe = Probe(site, tmp_path, pythonpath=old)
    probe = Probe(site, tmp_path)
    try:
        site.create(pythonpath=old)
        populate = []
        if release.repository:
            populate = ['--repository', request.getfixturevalue('repository')]
        # The day the release computed the prevention reminders for
        today = dt.date.today()
        site.script(old / 'demo' / 'populate.py', *populate, pythonpath=old)
        completed = before_probe('complete')
        for email in completed.get('emails', []):
            assert SMTP.received(email), f'no reminder e-mailed to {email}'
        seen_before = before_probe('observe')
        tables = module_tables(site)
        before = snapshot(site, tables)
        counts = count_kinds(site, release, tables)
        assert all(counts.values()), (
            f'{release.name} made none of some kinds: {counts}')
        rewritten = rewritable(site)

        site.admin('-u', MODULE)

        lost = differences(before, snapshot(site, tables), rewritten)
        assert not lost, '\n'.join(lost[:30])

        seen = probe('observe')
        expected = newly_hidden(release, seen_before, before)
        for login, models in seen_before['seen'].items():
            for model, ids in models.items():
                # A model the user could not read before is one of which
                # the guard now shows him nothing: both are none of it
                ids = set(ids or []) - expected[login].get(model, set())
                found = set(seen['seen'][login][model] or [])
                assert found == ids, (
                    f'{login} finds other {model} records: '
                    f'{sorted(found ^ ids)}')
        if counts.get('masked documents'):
            masked = {
                id_ for id_, row in before[DOCUMENTS].items()
                if row['masked']}
            assert any(
                masked - set(models[DOCUMENT] or [])
                for models in seen_before['seen'].values()), (
                'no user was kept from a masked document')

        emails = {
            e: len(SMTP.received(e)) for e in completed.get('emails', [])}
        facts = probe('exercise', '--date', today.isoformat())
        check_documents(facts['documents'])
        # The engine writes only what changes, and counts it
        if 'gnuhealth_prevention_reminder' in before:
            assert facts['recomputed'] == 0, 'the recompute changed reminders'
        else:
            assert facts['recomputed'] > 0, 'no reminder computed'
        assert facts['sent'] == 0, 'reminders e-mailed a second time'
        assert {e: len(SMTP.received(e)) for e in emails} == emails
        check_new_versions(facts['new_versions'], before[DOCUMENTS],
            repository=release.repository)
    finally:
        site.stop()


def newly_hidden(release, seen, tables):
    """{login: {model: ids}} that the user found before the update and must
    no longer find.  0.1.0 had no privacy policy, and the one 0.2.0 brought
    keeps a withdrawn document from all but its author (it hides drafts and
    very restricted documents too, and any patient's documents from another
    patient, but the 0.1.0 demo has none of those).  Up to 0.2.0 a
    professional a patient blocked still saw the patient's privacy
    choices: the guard keeps them from him too."""
    documents = tables[DOCUMENTS]
    hidden = {login: {} for login in seen['seen']}
    for login, models in seen['seen'].items():
        professional = seen['professionals'].get(login)
        blocking = {
            row['patient']
            for row in tables.get(BLOCKED, {}).values()
            if row['professional'] == professional}
        hidden[login][CONSENT] = {
            id_ for id_, row in tables.get(CONSENTS, {}).items()
            if row['patient'] in blocking}
        if release.name != '0.1.0':
            continue
        hidden[login][DOCUMENT] = {
            id_ for id_, row in documents.items()
            if row['state'] == 'withdrawn' and row['author'] != professional}
        assert not [
            i for i in models.get(DOCUMENT) or []
            if documents[i]['state'] == 'draft'
            or documents[i]['confidentiality'] == 'V'], (
            'the 0.1.0 demo has drafts or very restricted documents now')
    return hidden


def check_documents(documents):
    for id_, document in documents.items():
        if document['state'] == 'draft':
            continue
        assert document['hash_ok'], f'document #{id_} no longer matches'
        assert document['renders'], f'document #{id_} no longer renders'
        if document['author']:
            assert document['author_name'] == document['author'], (
                f"document #{id_} lost its author's name")


def check_new_versions(versions, old_documents, repository):
    evaluations = [
        v for v in versions
        if old_documents[v['replaces']]['origin'].startswith(
            'gnuhealth.patient.evaluation,')]
    assert evaluations, 'no evaluation note was published again'
    if 'masked' in next(iter(old_documents.values())):
        assert any(
            old_documents[v['replaces']]['masked'] for v in versions), (
            'no masked document was published again')
    for version in versions:
        old = old_documents[version['replaces']]
        assert version['state'] == 'published'
        assert version['old_state'] == 'superseded'
        assert version['version'] == old['version'] + 1
        assert version['set_id'] == old['set_id']
        assert version['hash_ok']
        assert version['masked'] == bool(old.get('masked'))
        if repository:
            assert version['exchange_state'] == 'sent'


# The script, in the site's process

def act_as(user_id):
    from proteus import Model
    from proteus import config as proteus_config
    config = proteus_config.get_config()
    config.user = user_id
    config._context = Model.get('res.user').get_preferences(True, {})


def complete(database, arguments):
    """What the demo leaves out and an upgrade must keep: reminders
    e-mailed to two patients, and a reminder of a third patient that
    their doctor records as done elsewhere"""
    from proteus import Model, Wizard
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    if not Model.get('ir.model').find([('model', '=', REMINDER)]):
        return {}
    with Transaction().start(database, 0):
        pool = Pool()
        Reminder = pool.get(REMINDER)
        first_due = {}
        for reminder in Reminder.search(
                [('state', 'in', ['due', 'overdue'])], order=[('id', 'ASC')]):
            first_due.setdefault(reminder.patient, reminder)
        patients = list(first_due)[:3]
        emails = [f'patient-{p.id}@example.org' for p in patients[:2]]
        pool.get('party.contact_mechanism').create([{
                    'party': p.party.id, 'type': 'email', 'value': email,
                    } for p, email in zip(patients, emails)])
        Reminder.send_reminders()
        dismissed = first_due[patients[2]].id
        doctor = patients[2].primary_care_doctor.party.internal_user.id
    act_as(doctor)
    dismiss = Wizard(
        'gnuhealth.prevention.dismiss', [Model.get(REMINDER)(dismissed)])
    dismiss.form.reason = 'done_elsewhere'
    dismiss.form.done_date = dt.date.today() - dt.timedelta(days=20)
    dismiss.form.note = 'Given by the occupational physician'
    dismiss.execute('dismiss')
    return {'emails': emails}


def observe(database, arguments):
    """seen: {login: {model: ids}}, the records of each model that each
    user finds (for documents, reading works on those and on no other);
    professionals: {login: the user's health professional}"""
    from proteus import Model
    from trytond.exceptions import UserError
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    models = [m.model for m in Model.get('ir.model').find([
                ('model', 'in', OBSERVED)], order=[('model', 'ASC')])]
    professionals = {}
    with Transaction().start(database, 0, readonly=True):
        users = [(u.id, u.login) for u in Pool().get('res.user').search([
                    ('login', 'not in', ['admin', 'root']),
                    ])]
        for professional in Pool().get('gnuhealth.healthprofessional').search(
                [('party.internal_user', '!=', None)]):
            professionals[professional.party.internal_user.login] = (
                professional.id)
        documents = [d.id for d in Pool().get(DOCUMENT).search([])]
    seen = {}
    for user_id, login in users:
        act_as(user_id)
        seen[login] = {}
        for name in models:
            model = Model.get(name)
            context = model._config.context
            try:
                ids = model._proxy.search([], 0, None, None, context)
            except UserError:
                ids = None
            seen[login][name] = sorted(ids) if ids is not None else None
            if name != DOCUMENT or not ids:
                continue
            model._proxy.read(ids, ['title'], context)
            for id_ in sorted(set(documents) - set(ids)):
                try:
                    model._proxy.read([id_], ['title'], context)
                except UserError:
                    continue
                seen[login][name].append(f'read #{id_} not found')
    return {'seen': seen, 'professionals': professionals}


def exercise(database, arguments):
    """The current code on the updated database: every document checked
    and rendered, every patient's prevention recomputed for the day the
    release computed it, reminders sent, and a new version published by
    its author of an old evaluation note and of every masked document"""
    from proteus import Model
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    facts = {}
    with Transaction().start(database, 0, readonly=True):
        Document = Pool().get(DOCUMENT)
        documents = Document.search([], order=[('id', 'ASC')])
        facts['documents'] = {d.id: described(d) for d in documents}
        evaluation = [
            d for d in documents if d.state == 'published' and str(
                d.origin).startswith('gnuhealth.patient.evaluation,')][:1]
        republished = evaluation + [
            d for d in documents if d.state == 'published' and d.masked]
        targets = [
            (d.id, str(d.origin), d.author.party.internal_user.id)
            for d in republished]
    with Transaction().start(database, 0, context={
                'prevention_date': arguments.date}):
        Reminder = Pool().get(REMINDER)
        facts['recomputed'] = Reminder.compute_all()
    with Transaction().start(database, 0):
        facts['sent'] = Pool().get(REMINDER).send_reminders()
    for document_id, origin, user_id in targets:
        act_as(user_id)
        model, origin_id = origin.split(',')
        Model.get(model)(int(origin_id)).click('publish_shared_record')
    facts['new_versions'] = []
    with Transaction().start(database, 0, readonly=True):
        Document = Pool().get(DOCUMENT)
        for document_id, _, _ in targets:
            new, = Document.search([('replaces', '=', document_id)])
            facts['new_versions'].append({
                    **described(new),
                    'replaces': document_id,
                    'old_state': Document(document_id).state,
                    'version': new.version,
                    'set_id': new.set_id,
                    'masked': new.masked,
                    'exchange_state': new.exchange_state,
                    })
    return facts


def described(document):
    content = document.content
    return {
        'state': document.state,
        'hash_ok': bool(content) and (
            hashlib.sha256(content).hexdigest() == document.sha256
            and len(content) == document.size),
        'renders': bool(content) and b'<html' in document.render_html(),
        'author': document.author.rec_name if document.author else None,
        'author_name': document.author_name,
        }


COMMANDS = {f.__name__: f for f in [complete, observe, exercise]}

if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('-c', '--config', required=True)
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('command', choices=COMMANDS)
    parser.add_argument('output')
    parser.add_argument('--date')
    arguments = parser.parse_args()
    from proteus import config as proteus_config
    proteus_config.set_trytond(
        arguments.database, config_file=arguments.config)
    facts = COMMANDS[arguments.command](arguments.database, arguments)
    pathlib.Path(arguments.output).write_text(json.dumps(facts))
