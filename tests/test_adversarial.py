# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Hostile clients over JSON-RPC against a real trytond server, as every
role of the demo clinic (doc/privacy.md says what each may see).

The suite finds the surface on the server itself (every model with a
table, its fields and relations, every report, every RPC method of the
protected models) so that what is added later is attacked too, and it
compares what each user gets with an oracle written as SQL (adversary.py).
Any datum beyond the oracle, and any forbidden change that sticks, fails."""
import base64

import pytest

from adversary import (
    DOCUMENT, ISOLATED, LOGINS, MODULE, PDF, PUBLIC, Clinic, Oracle,
    Surface, binary, marks)
from cluster import RPCError

# The methods every model has; the others are its buttons and actions
STANDARD = {
    'read', 'search', 'search_count', 'search_read', 'export_data',
    'export_data_domain', 'create', 'write', 'delete', 'copy',
    'fields_get', 'default_get', 'view_get', 'view_toolbar_get',
    'fields_view_get', 'import_data', 'history_revisions', 'has_copy',
    'resources', 'pre_validate', 'on_change', 'on_change_with',
    'on_change_notify', 'on_scan_code', 'autocomplete', 'view_attributes',
    }
# What a clinician fills in a draft of their own (doc/privacy.md)
DRAFT_FIELDS = {
    'patient', 'document_type', 'title', 'effective_date', 'institution',
    'confidentiality', 'file', 'file_name', 'file_type', 'source_author',
    'source_organization', 'hidden_from_patient', 'patient_release_date',
    'replaces'}
SAMPLE = 12


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    clinic = Clinic(tmp_path_factory.mktemp('adversary'))
    try:
        clinic.build()
        oracle = Oracle(clinic)
        protected = {
            m for m in Oracle.MODELS} | ISOLATED
        surface = Surface(clinic, protected)
        modules = {
            name for name, model in surface.models.items()
            if model['module'] == MODULE}
        surface.protected |= modules - PUBLIC
        roles = {login: oracle.roles(login) for login in LOGINS}
        yield clinic, oracle, surface, roles
    finally:
        clinic.stop()


def attempt(client, model, method, *args, **kwargs):
    "The answer of the call, or the RPCError it raised"
    try:
        return client.model(model, method, *args, **kwargs)
    except RPCError as error:
        return error


def refused(answer):
    return isinstance(answer, RPCError)


def table(surface, model):
    return surface.tables[model]


def all_ids(clinic, surface, model):
    return {i for i, in clinic.site.query(
            f'SELECT id FROM "{table(surface, model)}"')}


def hidden(clinic, oracle, surface, model, roles):
    return all_ids(clinic, surface, model) - oracle.seen(model, roles)


def titles(clinic, ids):
    "What a leak of documents would show: their titles"
    rows = clinic.site.query(
        'SELECT title FROM gnuhealth_shared_record_document '
        f'WHERE id IN ({marks(ids)})', tuple(ids))
    return {t for t, in rows if t and len(t) > 8}


def test_every_model_of_the_module_is_guarded_or_public(world):
    "A new model is denied to everyone until the policy and oracle say"
    clinic, oracle, surface, roles = world
    nobody = clinic.client('nobody')
    problems = []
    for model in sorted(surface.protected - ISOLATED):
        answer = attempt(nobody, model, 'search', [])
        if not refused(answer) and answer:
            problems.append(f'{model}: a user with no role finds {answer}')
    for model in sorted(surface.models):
        if (surface.models[model]['module'] == MODULE
                and model not in PUBLIC | set(Oracle.MODELS)):
            problems.append(f'{model}: not in the oracle (adversary.py)')
    assert not problems, '\n'.join(problems)


def test_direct_access_is_what_the_oracle_says(world):
    "search, count, read, search_read and export agree with the oracle"
    clinic, oracle, surface, roles = world
    problems = []
    for login in LOGINS:
        client = clinic.client(login)
        for model in sorted(surface.protected):
            if 'search' not in surface.rpc[model]:
                continue  # reached only through the models that hold it
            expected = oracle.seen(model, roles[login])
            answer = attempt(client, model, 'search', [])
            found = set() if refused(answer) else set(answer)
            if found != expected:
                problems.append(
                    f'{login} {model}: finds {sorted(found - expected)[:5]} '
                    f'beyond the oracle, misses '
                    f'{sorted(expected - found)[:5]}')
            count = attempt(client, model, 'search_count', [])
            if not refused(count) and count != len(found):
                problems.append(f'{login} {model}: counts {count}')
            secret = sorted(hidden(clinic, oracle, surface, model,
                    roles[login]))[:SAMPLE]
            leaked_titles = titles(clinic, secret) if model == DOCUMENT else ()
            for method, args in [
                    ('read', (secret, ['id'])),
                    ('export_data', (secret, ['id'])),
                    ]:
                for id_ in secret:
                    answer = attempt(client, model, method, [id_], args[1])
                    if not refused(answer):
                        problems.append(
                            f'{login} {model}.{method}([{id_}]) answers')
                    elif any(t in answer.message for t in leaked_titles):
                        problems.append(
                            f'{login} {model}.{method}: the refusal names '
                            'what it protects')
            answer = attempt(client, model, 'search_read', [
                    ('id', 'in', secret)], 0, None, None, ['id'])
            if not refused(answer) and answer:
                problems.append(f'{login} {model}.search_read: {answer}')
            if found and model in Oracle.MODELS:
                problems.extend(read_relations(
                        clinic, oracle, surface, roles[login], login,
                        client, model, sorted(found)[:SAMPLE]))
    assert not problems, '\n'.join(problems)


def read_relations(clinic, oracle, surface, roles, login, client, model, ids):
    "Reading the records it sees gives no relation to one it does not"
    problems = []
    relations = [
        (name, target) for name, target, field in surface.relations(model)
        if target in surface.protected and field['type'] in {
            'many2one', 'one2one'}]
    names = [n for n, _ in relations] + [
        f'{n}.rec_name' for n, _ in relations]
    if not names:
        return problems
    answer = attempt(client, model, 'read', ids, names)
    if refused(answer):
        return [f'{login} {model}.read of what it sees fails: {answer}']
    for row in answer:
        for name, target in relations:
            value = row.get(name)
            if value is not None and value not in oracle.seen(
                    target, roles):
                problems.append(
                    f'{login} {model} {row["id"]}.{name} = {value}')
    return problems


def test_a_patient_sees_nobody_else(world):
    """A patient's login finds, in every model about a patient or a
    person, only what is about them (doc/privacy.md)"""
    clinic, oracle, surface, roles = world
    problems = []
    for login in ['lucie', 'hugod']:
        client = clinic.client(login)
        mine = {
            'gnuhealth.patient': roles[login]['patients'],
            'party.party': oracle.parties(roles[login]),
            }
        for model, description in sorted(surface.models.items()):
            columns = [
                name for name, field in description['fields'].items()
                if field['type'] == 'many2one'
                and field.get('relation') in mine
                and name in surface.columns.get(model, ())]
            if not columns:
                continue
            answer = attempt(client, model, 'search', [], 0, 1000)
            if refused(answer) or not answer:
                continue
            for name in columns:
                target = description['fields'][name]['relation']
                rows = clinic.site.query(
                    f'SELECT id, "{name}" FROM "{table(surface, model)}" '
                    f'WHERE id IN ({marks(answer)})', tuple(answer))
                others = sorted(
                    i for i, value in rows
                    if value is not None and value not in mine[target])
                if others:
                    problems.append(
                        f'{login} finds {model} {others[:5]} whose {name} '
                        'is someone else')
    assert not problems, '\n'.join(problems)


def test_relation_searches_reveal_nothing(world):
    "A search through a relation finds no record the user may not see"
    clinic, oracle, surface, roles = world
    problems = []
    paths = surface.paths()
    assert paths
    for login in LOGINS:
        client = clinic.client(login)
        secrets = {
            m: sorted(hidden(clinic, oracle, surface, m, roles[login]))
            for m in surface.protected}
        for model, path, target in paths:
            secret = secrets[target]
            if not secret:
                continue
            answer = attempt(client, model, 'search', [
                    (f'{path}.id', 'in', secret[:200])], 0, 5)
            if not refused(answer) and answer:
                problems.append(
                    f'{login} {model}: ({path}.id in hidden) finds {answer}')
    assert not problems, '\n'.join(problems)


def test_relation_exports_reveal_nothing(world):
    """An export through a relation gives no record the user may not see.
    Each user exports all the paths of a model in one call, as a client
    may; a call refused is tried again path by path."""
    clinic, oracle, surface, roles = world
    problems = []
    by_model = {}
    for model, path, target in surface.paths():
        by_model.setdefault(model, []).append((path, target))
    for login in LOGINS:
        client = clinic.client(login)
        seen = {}
        for model, paths in sorted(by_model.items()):
            answer = attempt(client, model, 'search', [], 0, 40)
            if refused(answer) or not answer:
                continue
            ids = answer
            groups = [paths]
            while groups:
                group = groups.pop()
                answer = attempt(client, model, 'export_data', ids,
                    [surface.field_path(p) + '/id' for p, _ in group])
                if refused(answer):
                    if len(group) > 1:
                        half = len(group) // 2
                        groups += [group[:half], group[half:]]
                    continue
                for column, (path, target) in enumerate(group):
                    if target not in seen:
                        seen[target] = oracle.seen(target, roles[login])
                    for row in answer:
                        value = row[column]
                        if value not in ('', None) and (
                                int(value) not in seen[target]):
                            problems.append(
                                f'{login} {model} exports {path}/id = '
                                f'{value}')
    assert not problems, '\n'.join(sorted(set(problems)))


def test_relation_order_reveals_nothing(world):
    """Ordering by a relation to records the user may not see tells
    nothing of them: the order is that of their ids"""
    clinic, oracle, surface, roles = world
    problems = []
    for login in LOGINS:
        client = clinic.client(login)
        for model in sorted(surface.protected):
            mine = oracle.seen(model, roles[login])
            if len(mine) < 2:
                continue
            for name, target, field in surface.relations(model):
                if (target not in surface.protected
                        or field['type'] != 'many2one'
                        or name not in surface.columns.get(model, ())):
                    continue
                secret = hidden(clinic, oracle, surface, target, roles[login])
                rows = clinic.site.query(
                    f'SELECT id, "{name}" FROM "{table(surface, model)}" '
                    f'WHERE id IN ({marks(mine)}) '
                    f'AND "{name}" IN ({marks(secret)})',
                    (*sorted(mine), *sorted(secret)))
                if len({t for _, t in rows}) < 2:
                    continue
                expected = [i for i, _ in sorted(rows, key=lambda r: (
                            r[1], r[0]))]
                chars = [
                    f for f, d in surface.models[target]['fields'].items()
                    if d['type'] in {'char', 'text'}][:4]
                for order in [name] + [f'{name}.{f}' for f in chars]:
                    answer = attempt(client, model, 'search', [
                            ('id', 'in', expected)], 0, None, [
                            (order, 'ASC'), ('id', 'ASC')])
                    if not refused(answer) and answer != expected:
                        problems.append(
                            f'{login} {model} ordered by {order}: {answer}, '
                            f'not by id {expected}')
    assert not problems, '\n'.join(problems)


def test_reports_render_only_what_the_user_sees(world):
    "Every report, with its own action or another's, for hidden documents"
    clinic, oracle, surface, roles = world
    # From the database: a report of some groups is hidden from others,
    # the admin included, but not out of reach of a forged call
    actions = [
        {'id': i, 'report_name': n, 'model': m}
        for i, n, m in clinic.site.query(
            'SELECT id, report_name, model FROM ir_action_report '
            'ORDER BY id')]
    ours = [a for a in actions if a['model'] == DOCUMENT]
    assert ours
    by_model = {}
    for action in actions:
        by_model.setdefault(action['model'], action)
    problems = []
    for login in ['hugo', 'paul', 'nadia', 'hugod', 'olga', 'nobody']:
        client = clinic.client(login)
        secret = sorted(hidden(clinic, oracle, surface, DOCUMENT,
                roles[login]))[:SAMPLE]
        words = titles(clinic, secret)
        calls = [(a['report_name'], ours[0]) for a in actions] + [
            (ours[0]['report_name'], a) for a in by_model.values()]
        for report, action in calls:
            try:
                answer = client.call(f'report.{report}.execute', secret, {
                        'action_id': action['id'], 'model': DOCUMENT,
                        'id': secret[0], 'ids': secret})
            except RPCError:
                continue
            content = answer[1]
            if isinstance(content, dict):
                content = base64.b64decode(content['base64'])
            elif isinstance(content, str):
                content = content.encode()
            leaked = [w for w in words if w.encode() in (content or b'')]
            if leaked:
                problems.append(
                    f'{login}: {report} with action {action["report_name"]} '
                    f'renders {leaked}')
    assert not problems, '\n'.join(problems)


def test_attachments_notes_and_logs_of_hidden_documents(world):
    "By id or by search, read or written: nothing of a hidden document"
    clinic, oracle, surface, roles = world
    problems = []
    records = {
        'ir.attachment': ('link', clinic.site.query(
                "SELECT id, resource FROM ir_attachment "
                f"WHERE resource LIKE '{DOCUMENT},%%'")),
        'ir.note': ('message', clinic.site.query(
                "SELECT id, resource FROM ir_note "
                f"WHERE resource LIKE '{DOCUMENT},%%'")),
        'ir.model.log': ('target', clinic.site.query(
                "SELECT id, resource FROM ir_model_log "
                f"WHERE resource LIKE '{DOCUMENT},%%'")),
        }
    assert all(rows for _, rows in records.values())
    for login in LOGINS:
        client = clinic.client(login)
        seen = oracle.seen(DOCUMENT, roles[login])
        for model, (field, rows) in records.items():
            for id_, resource in rows[:SAMPLE]:
                if int(resource.split(',')[1]) in seen:
                    continue
                for method, args in [
                        ('read', ([id_], [field])),
                        ('export_data', ([id_], [field])),
                        ('search', ([('resource', '=', resource)],)),
                        ('write', ([id_], {field: 'forged'})),
                        ('delete', ([id_],)),
                        ]:
                    answer = attempt(client, model, method, *args)
                    if not refused(answer) and answer:
                        problems.append(
                            f'{login} {model}.{method} #{id_}: {answer}')
                answer = attempt(client, model, 'create', [{
                            'resource': resource, 'name': 'forged',
                            'message': 'forged', 'type': 'link',
                            'link': 'https://forged.example/'}])
                if not refused(answer):
                    problems.append(f'{login} creates an {model}')
    assert not problems, '\n'.join(problems)
    assert clinic.site.query(
        "SELECT COUNT(*) FROM ir_attachment WHERE name = 'forged'")[0][0] == 0


def snapshot(clinic, surface):
    """The rows of every protected model and of the patients' choices: the
    access history only grows, as reads are logged"""
    tables = {}
    for model in sorted(surface.protected - ISOLATED):
        name = table(surface, model)
        rows = clinic.site.query(f'SELECT * FROM "{name}" ORDER BY id')
        if model == 'gnuhealth.shared_record.access_log':
            rows = rows[:0]
        tables[model] = rows
    tables['patient choices'] = clinic.site.query(
        'SELECT id, shared_record_opposition, '
        'shared_record_emergency_opposition FROM gnuhealth_patient '
        'ORDER BY id')
    tables['attachments'] = clinic.site.query(
        'SELECT id, resource, name, link FROM ir_attachment ORDER BY id')
    tables['notes'] = clinic.site.query(
        'SELECT id, resource, message FROM ir_note ORDER BY id')
    return tables


def hostile_value(clinic, surface, field, current=None):
    "A value a forger would send for the field"
    kind = field['type']
    if kind in {'char', 'text'}:
        return 'Forged by a hostile client'
    if kind == 'boolean':
        return not current
    if kind in {'integer', 'biginteger'}:
        return 999
    if kind in {'float', 'numeric'}:
        return 1.5
    if kind == 'date':
        return {'__class__': 'date', 'year': 2001, 'month': 2, 'day': 3}
    if kind in {'datetime', 'timestamp'}:
        return {'__class__': 'datetime', 'year': 2001, 'month': 2,
            'day': 3, 'hour': 4, 'minute': 5, 'second': 6,
            'microsecond': 0}
    if kind == 'binary':
        return binary(PDF)
    if kind == 'selection':
        selection = field.get('selection')
        if not isinstance(selection, list):
            return None
        values = [v for v, _ in selection if v not in (current, None, '')]
        return values[0] if values else None
    target = field.get('relation')
    if target in surface.models:
        ids = sorted(all_ids(clinic, surface, target))
        ids = [i for i in ids if i != current] or ids
        if not ids:
            return None
        if kind in {'many2one', 'one2one'}:
            return ids[0]
        return [('add', ids[:1])]
    return None


def test_forbidden_changes_do_not_stick(world):
    """Every field of every protected model, written or created by every
    user straight over RPC, and every button on records hidden from them:
    only a clinician's own draft changes, as the workflow allows"""
    clinic, oracle, surface, roles = world
    problems = []
    for login in LOGINS:
        client = clinic.client(login)
        user = roles[login]
        for model in sorted(surface.protected - ISOLATED):
            before = snapshot(clinic, surface)
            fields = surface.models[model]['fields']
            seen = sorted(oracle.seen(model, user))
            secret = sorted(hidden(clinic, oracle, surface, model, user))
            targets = seen[:1] + secret[:1]
            current = {}
            if targets:
                for row in clinic.site.query(
                        f'SELECT * FROM "{table(surface, model)}" '
                        f'WHERE id IN ({marks(targets)})', tuple(targets)):
                    current[row[0]] = row
            allowed = allowed_writes(clinic, user) if model == DOCUMENT else {}
            for name, field in sorted(fields.items()):
                if name in {'id', 'rec_name', 'create_uid', 'create_date',
                        'write_uid', 'write_date'}:
                    continue
                value = hostile_value(clinic, surface, field)
                if value is None:
                    continue
                for record in targets:
                    if name in allowed.get(record, ()):
                        continue
                    attempt(client, model, 'write', [record], {name: value})
                if not (model == DOCUMENT and name in DRAFT_FIELDS):
                    attempt(client, model, 'create', [{name: value}])
            for record in secret[:2]:
                attempt(client, model, 'delete', [record])
                attempt(client, model, 'copy', [record])
                for method in sorted(surface.rpc.get(model, set()) - STANDARD):
                    attempt(client, model, method, [record])
            after = snapshot(clinic, surface)
            for key in before:
                if before[key] != after[key]:
                    problems.append(
                        f'{login} changed {key} through {model}: '
                        f'{changed_rows(before[key], after[key])}')
    assert not problems, '\n'.join(problems)


def allowed_writes(clinic, user):
    """{document: fields} the user may write straight: a draft of their
    own, and the withdrawal reason of a document they published"""
    allowed = {}
    for id_, state, create_uid, author in clinic.site.query(
            'SELECT id, state, create_uid, author '
            'FROM gnuhealth_shared_record_document'):
        if state == 'draft' and create_uid == user['user']:
            allowed[id_] = DRAFT_FIELDS
        elif state == 'published' and author == user['professional']:
            allowed[id_] = {'withdrawal_reason'}
    return allowed


def changed_rows(before, after):
    return (sorted(set(after) - set(before))[:3],
        sorted(set(before) - set(after))[:3])


def test_the_patient_choices_change_only_by_their_buttons(world):
    "Privacy fields of the patient file, and nested writes to documents"
    clinic, oracle, surface, roles = world
    patients = clinic.patients()
    hugo = roles['hugo']['professional']
    blocked_by, = oracle.query(
        'SELECT patient FROM gnuhealth_shared_record_blocked_professional '
        'WHERE professional = %s', (hugo,))[0:1] or [(None,)]
    document = sorted(oracle.seen(DOCUMENT, roles['claire']))[0]
    problems = []
    for login in LOGINS:
        client = clinic.client(login)
        before = snapshot(clinic, surface)
        for patient in [patients[0], patients[1]]:
            for values in [
                    {'shared_record_opposition': True},
                    {'shared_record_emergency_opposition': True},
                    {'shared_record_blocked_professionals': [
                            ('remove', [hugo])]},
                    {'shared_record_blocked_professionals': [
                            ('add', [roles['claire']['professional']])]},
                    {'shared_documents': [
                            ('write', [document], {'title': 'Forged'})]},
                    {'shared_documents': [('delete', [document])]},
                    {'shared_documents': [('create', [{
                                        'title': 'Forged',
                                        'state': 'published',
                                        'document_type': clinic.document_type(
                                            '11488-4'),
                                        }])]},
                    ]:
                attempt(client, 'gnuhealth.patient', 'write', [patient],
                    values)
        after = snapshot(clinic, surface)
        for key in before:
            if before[key] != after[key]:
                problems.append(f'{login} changed {key} through the patient')
    assert blocked_by is not None
    assert not problems, '\n'.join(problems)


def test_a_copy_is_a_draft_of_ones_own(world):
    "Copying a document one sees gives a draft that keeps none of its life"
    clinic, oracle, surface, roles = world
    claire = clinic.client('claire')
    source = sorted(oracle.seen(DOCUMENT, roles['claire']) & {
            i for i, in clinic.site.query(
                'SELECT id FROM gnuhealth_shared_record_document '
                "WHERE state = 'published' AND (confidentiality = 'V' "
                f'OR masked = {clinic.true})')})
    assert source, 'a restricted document Claire sees, as its author'
    copy, = claire.model(DOCUMENT, 'copy', source[:1], {})
    (state, create_uid, author, content, masked, origin, replaces,
            unique_id), = clinic.site.query(
        'SELECT state, create_uid, author, content, masked, origin, '
        'replaces, unique_id FROM gnuhealth_shared_record_document '
        'WHERE id = %s', (copy,))
    assert (state, create_uid) == ('draft', roles['claire']['user'])
    assert not any([author, content, masked, origin, replaces, unique_id])
    claire.model(DOCUMENT, 'delete', [copy])
    for login in ['nadia', 'olga', 'lucie', 'hugo']:
        secret = sorted(hidden(clinic, oracle, surface, DOCUMENT,
                roles[login]))
        assert refused(attempt(clinic.client(login), DOCUMENT, 'copy',
                    secret[:1], {})), login


# The findings of the review, each as it was found (issue 14)

def test_finding_1_report_with_a_foreign_action(world):
    clinic, oracle, surface, roles = world
    admin = clinic.client('admin')
    graph, = admin.model('ir.action.report', 'search', [
            ('report_name', '=', 'ir.model.graph')], 0, 1)
    for login in ['nadia', 'lucie']:
        secret = sorted(hidden(clinic, oracle, surface, DOCUMENT,
                roles[login]))
        with pytest.raises(RPCError) as error:
            clinic.client(login).call(
                'report.gnuhealth.shared_record.document.rendering.execute',
                secret[:1], {'action_id': graph})
        assert error.value.kind in {'AccessError', 'UserError'}


def test_finding_2_export_through_relations(world):
    clinic, oracle, surface, roles = world
    patients = clinic.patients()
    hugo = clinic.client('hugo')
    rows = attempt(hugo, 'gnuhealth.patient', 'export_data', [patients[1]],
        ['shared_documents/title', 'shared_documents/content'])
    assert refused(rows) or not any(r[0] for r in rows)
    refusing = patients[5]
    rows = attempt(clinic.client('claire'), 'gnuhealth.patient',
        'export_data', [refusing], ['shared_record_summary/content'])
    assert refused(rows) or not any(r[0] for r in rows)


def test_finding_3_search_oracle_through_relations(world):
    "A masked title cannot be recovered through a patient's or a trail's"
    clinic, oracle, surface, roles = world
    lucie = clinic.patients()[0]
    masked = clinic.site.query(
        'SELECT id, title FROM gnuhealth_shared_record_document '
        f'WHERE masked = {clinic.true} AND patient = %s', (lucie,))
    assert masked
    for login in ['claire', 'paul', 'nadia', 'hugo']:
        client = clinic.client(login)
        seen = oracle.seen(DOCUMENT, roles[login])
        for id_, title in masked:
            found = attempt(client, 'gnuhealth.patient', 'search', [
                    ('id', '=', lucie),
                    ('shared_documents.title', '=', title)])
            assert refused(found) or found == (
                [lucie] if id_ in seen else []), (login, title)
            found = attempt(client, 'gnuhealth.shared_record.consent',
                'search', [('document.title', '=', title)])
            assert refused(found) or id_ in seen or not found, (login, title)


def test_finding_4_attachment_read_by_id(world):
    clinic, oracle, surface, roles = world
    attachment, = clinic.site.query(
        "SELECT id FROM ir_attachment WHERE name = 'Result'")[0]
    answer = attempt(clinic.client('claire'), 'ir.attachment', 'read',
        [attachment], ['link'])
    assert refused(answer)


def test_finding_5_published_is_not_writable(world):
    clinic, oracle, surface, roles = world
    claire = clinic.client('claire')
    mine, = clinic.site.query(
        'SELECT d.id FROM gnuhealth_shared_record_document d '
        'JOIN gnuhealth_healthprofessional hp ON hp.id = d.author '
        'JOIN party_party p ON p.id = hp.party '
        "WHERE d.state = 'published' AND p.internal_user = %s "
        'ORDER BY d.id', (roles['claire']['user'],))[0]
    assert refused(attempt(claire, DOCUMENT, 'write', [mine],
            {'state': 'draft'}))
    assert refused(attempt(claire, DOCUMENT, 'create', [{
                    'state': 'published', 'title': 'Forged',
                    'patient': clinic.patients()[2],
                    'document_type': clinic.document_type('11488-4'),
                    'author': roles['hugo']['professional']}]))
    assert refused(attempt(claire, DOCUMENT, 'write', [mine],
            {'masked': True}))


def test_finding_6_blocked_professional(world):
    clinic, oracle, surface, roles = world
    patients = clinic.patients()
    hugo = clinic.client('hugo')
    document, = clinic.site.query(
        'SELECT id FROM gnuhealth_shared_record_document '
        "WHERE patient = %s AND state = 'published' ORDER BY id",
        (patients[1],))[0]
    draft = attempt(hugo, DOCUMENT, 'create', [{
                'patient': patients[1],
                'document_type': clinic.document_type('11488-4'),
                'title': 'New version'}])
    assert refused(draft)
    assert refused(attempt(hugo, 'gnuhealth.patient', 'fetch_shared_record',
            [patients[1]]))
    answer = attempt(hugo, 'gnuhealth.shared_record.emergency_access',
        'create', [{'patient': patients[1], 'reason': 'Unconscious'}])
    assert refused(answer)
    assert not any(
        t in answer.message for t in titles(clinic, [document]))


def test_finding_7_patients_see_no_one_else(world):
    clinic, oracle, surface, roles = world
    lucie = clinic.client('lucie')
    parties = lucie.model('party.party', 'search_read', [], 0, None, None,
        ['name'])
    assert {p['id'] for p in parties} == oracle.parties(roles['lucie'])
    others = sorted(set(clinic.patients()) - roles['lucie']['patients'])
    assert refused(attempt(lucie, 'gnuhealth.patient', 'export_data',
            others[:3], ['party/name', 'party/dob']))


def test_finding_8_gnu_health_record_stays_whole(world):
    """The blocked doctor, the front desk and a doctor kept from a masked
    document read the patient's form as the client does, whole"""
    clinic, oracle, surface, roles = world
    patients = clinic.patients()
    for login, patient in [('hugo', patients[1]), ('nadia', patients[0]),
            ('claire', patients[0])]:
        client = clinic.client(login)
        view = client.model('gnuhealth.patient', 'fields_view_get', None,
            'form')
        names = list(view['fields']) + [
            f'{n}.rec_name' for n, f in view['fields'].items()
            if f['type'] in {'many2one', 'reference'}]
        answer = attempt(client, 'gnuhealth.patient', 'read', [patient],
            names)
        assert not refused(answer), (login, answer)
        row, = answer
        seen = oracle.seen(DOCUMENT, roles[login])
        for name in ['shared_documents', 'shared_record_current']:
            if name in row:
                assert set(row[name]) <= seen, (login, name)
        if 'diseases' in row and login == 'hugo':
            assert row['diseases'], 'his conditions stay in the form'


def test_finding_9_bad_input(world):
    clinic, oracle, surface, roles = world
    patients = clinic.patients()
    claire = clinic.client('claire')
    for reason in ['\u200b', ' . ', 'x' * 2_000_001]:
        answer = attempt(claire, 'gnuhealth.shared_record.emergency_access',
            'create', [{'patient': patients[8], 'reason': reason}])
        assert refused(answer) and answer.kind == 'UserError'
    for values in [
            {'title': 'x' * 5_000_000},
            {'title': 'Year 1', 'effective_date': {
                    '__class__': 'datetime', 'year': 1, 'month': 1,
                    'day': 1, 'hour': 0, 'minute': 0, 'second': 0,
                    'microsecond': 0}},
            {'title': 'Year 9999', 'effective_date': {
                    '__class__': 'datetime', 'year': 9999, 'month': 1,
                    'day': 1, 'hour': 0, 'minute': 0, 'second': 0,
                    'microsecond': 0}},
            ]:
        answer = attempt(claire, DOCUMENT, 'create', [{
                    'patient': patients[8],
                    'document_type': clinic.document_type('57133-1'),
                    'file': binary(PDF), 'file_name': 'x.pdf',
                    'file_type': 'application/pdf', **values}])
        assert refused(answer) and answer.kind == 'UserError', answer
    for name in ['repository_password', 'repository_token']:
        answer = attempt(claire, 'gnuhealth.shared_record.configuration',
            'read', [1], [name])
        assert refused(answer)
    paul = clinic.client('paul')
    published, = clinic.site.query(
        'SELECT d.id FROM gnuhealth_shared_record_document d '
        'JOIN gnuhealth_healthprofessional hp ON hp.id = d.author '
        'JOIN party_party p ON p.id = hp.party '
        "WHERE d.state = 'published' AND p.internal_user <> %s "
        f"AND d.masked <> {clinic.true} AND d.confidentiality <> 'V' "
        'ORDER BY d.id', (roles['paul']['user'],))[0]
    assert refused(attempt(paul, DOCUMENT, 'write', [published],
            {'withdrawal_reason': 'Not mine'}))
    assert refused(attempt(paul, DOCUMENT, 'withdraw', [published]))
