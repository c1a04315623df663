# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Helpers shared by the tests, the proteus scenarios and the demo"""
import datetime as dt
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CDA_FOLDER = ROOT.parent / 'shared' / 'reference' / 'cda-r2'
CDA_SCHEMA = CDA_FOLDER / 'infrastructure' / 'cda' / 'CDA.xsd'
NO_SCHEMA = (
    f'the HL7 CDA R2 schema is not at {CDA_FOLDER} (HL7 publishes it; '
    'the project must not ship a copy), so CDA documents cannot be '
    'validated here')
PASSWORD = 'Shared-Record-2026'


class _SMTPServer:
    "An aiosmtpd server on a free loopback port, keeping what it receives"

    def __init__(self):
        self.messages = []
        self._controller = None

    def start(self):
        import atexit
        import email
        import email.policy
        import socket

        from aiosmtpd.controller import Controller

        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope):
                server.messages.append(email.message_from_bytes(
                        envelope.original_content,
                        policy=email.policy.default))
                return '250 OK'

        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        self._controller = Controller(
            Handler(), hostname='127.0.0.1', port=port)
        self._controller.start()
        atexit.register(self._controller.stop)
        return port

    def received(self, to):
        "Return the messages received for the address to"
        return [m for m in self.messages if m['To'] == to]


SMTP = _SMTPServer()


class FHIRServer:
    """Medplum's FHIR R4 server (tests/fhir_server) on a free loopback port:
    a real peer that no one here wrote"""

    def __init__(self):
        self.process = None
        self.url = None

    def start(self):
        import atexit
        import subprocess
        directory = pathlib.Path(__file__).parent / 'fhir_server'
        self.process = subprocess.Popen(
            ['node', 'server.mjs', '0'], cwd=directory,
            stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith('listening '):
            self.stop()
            raise RuntimeError(f'the FHIR server did not start: {line!r}')
        self.url = f'http://127.0.0.1:{int(line.split()[1])}'
        atexit.register(self.stop)
        return self.url

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def search(self, resource_type, **params):
        "The resources the server holds, read with plain requests"
        import requests
        params.setdefault('_count', '1000')
        response = requests.get(
            f'{self.url}/{resource_type}', params=params, timeout=30)
        response.raise_for_status()
        return [e['resource'] for e in response.json().get('entry', [])]

    def read(self, reference):
        import requests
        response = requests.get(f'{self.url}/{reference}', timeout=30)
        response.raise_for_status()
        return response.json()


INS_SYSTEM = '1.2.250.1.213.1.4.8'


def publish_on_peer(
        url, national_id, unique_id, content, document=None, **attachment):
    """Publish a document straight to the repository, as another clinic's
    software would (one that checks nothing); document overrides what the
    DocumentReference says of it, attachment what it says of the content
    (size, hash)"""
    import requests
    from health_shared_record import mhd
    values = {
        'type_code': '11488-4', 'type_name': 'Discharge letter',
        'title': f'Letter {unique_id}', 'author_name': 'Unknown',
        'date': dt.datetime(2026, 11, 1),
        **(document or {})}
    document = mhd.Document(
        unique_id=unique_id, state='published',
        patient=mhd.Patient([(INS_SYSTEM, national_id)]), content=content,
        **values)
    bundle = mhd.provide_bundle([document], mhd.Metadata('1.2.250.1.777'))
    reference, = [
        e['resource'] for e in bundle['entry']
        if e['resource']['resourceType'] == 'DocumentReference']
    reference['content'][0]['attachment'].update(attachment)
    response = requests.post(
        url + '/', json=bundle, timeout=30,
        headers={'Content-Type': mhd.FHIR_JSON})
    response.raise_for_status()


class StubRepository:
    """A repository that misbehaves on purpose, for the faults the real
    peer cannot produce: each request gets the next of the planned
    answers, a function (handler, body) that writes the response"""

    def __init__(self):
        self.answers = []
        self.requests = []
        self._server = None

    def start(self):
        import http.server
        import threading
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def _answer(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                stub.requests.append((self.command, self.path, body))
                answer = stub.answers.pop(0) if stub.answers else (
                    stub.status(404, b'{}'))
                try:
                    answer(self, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(
            ('127.0.0.1', 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True
            ).start()
        return 'http://127.0.0.1:%d' % self._server.server_address[1]

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    @staticmethod
    def status(code, body, content_type='application/fhir+json'):
        "Answer with that status and body"
        def answer(handler, _):
            handler.send_response(code)
            handler.send_header('Content-Type', content_type)
            handler.send_header('Content-Length', str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        return answer

    @staticmethod
    def slow(seconds):
        "Answer nothing for that long"
        def answer(handler, _):
            import time
            time.sleep(seconds)
        return answer

    @staticmethod
    def cut():
        "Announce a body and close the connection halfway through it"
        def answer(handler, _):
            handler.send_response(200)
            handler.send_header('Content-Type', 'application/fhir+json')
            handler.send_header('Content-Length', '1000')
            handler.end_headers()
            handler.wfile.write(b'{"resourceType": "Bundle", "ty')
            handler.wfile.flush()
            handler.connection.shutdown(2)
        return answer

    @staticmethod
    def forwarded(peer, then):
        """Pass the request on to the real peer, which stores it, then
        answer as then does: the client never learns it was stored"""
        def answer(handler, body):
            import requests
            requests.request(
                handler.command, peer + handler.path, data=body,
                headers={'Content-Type': 'application/fhir+json'},
                timeout=30)
            then(handler, body)
        return answer

    @staticmethod
    def endless(content_type='application/fhir+json'):
        "Stream data with no announced length until the client stops"
        def answer(handler, _):
            handler.send_response(200)
            handler.send_header('Content-Type', content_type)
            handler.end_headers()
            chunk = b'A' * 65536
            for _ in range(200 * 16 + 16):  # a little over 200 MB
                handler.wfile.write(chunk)
        return answer


class OtherClinic:
    """Another clinic's GNU Health database, in its own process
    (tests/other_clinic.py), publishing to the same repository"""

    def __init__(self):
        import subprocess
        import sys
        self.process = subprocess.Popen(
            [sys.executable, str(pathlib.Path(__file__).parent
                    / 'other_clinic.py')],
            cwd=pathlib.Path(__file__).parent, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)

    def __getattr__(self, name):
        def call(**kwargs):
            import json
            self.process.stdin.write(
                json.dumps({'command': name, **kwargs}) + '\n')
            self.process.stdin.flush()
            answer = json.loads(self.process.stdout.readline())
            if 'error' in answer:
                raise RuntimeError(answer['error'])
            return answer
        return call

    def stop(self):
        self.process.stdin.close()
        self.process.wait(60)


def free_port():
    "A loopback port where nothing listens"
    import socket
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def require_cda_schema():
    import pytest
    if not CDA_SCHEMA.exists():
        pytest.skip(NO_SCHEMA)
    return str(CDA_SCHEMA)


def cda_errors(content):
    """Return the schema violations of a CDA document, or None when the
    schema is not available"""
    from health_shared_record import cda
    if not CDA_SCHEMA.exists():
        return None
    return cda.schema_errors(content, str(CDA_SCHEMA))


def setup_clinic(
        config=None, name='Clinique du Parc', code='CLINIC-1', currency=None):
    """Create the company of a clinic (in currency, else US dollars) and
    its health institution; return the institution"""
    from proteus import Model
    from trytond.modules.company.tests.tools import create_company

    Party = Model.get('party.party', config=config)
    Institution = Model.get('gnuhealth.institution', config=config)
    party = Party(name=name, is_institution=True)
    party.save()
    create_company(party, currency=currency, config=config)
    institution = Institution(
        party=party, code=code, institution_type='clinic',
        public_level='private')
    institution.save()
    return institution


def group(xml_id, config=None):
    from proteus import Model
    ModelData = Model.get('ir.model.data', config=config)
    Group = Model.get('res.group', config=config)
    module, name = xml_id.split('.')
    data, = ModelData.find([('module', '=', module), ('fs_id', '=', name)])
    return Group(data.db_id)


def create_user(login, groups, config=None):
    from proteus import Model
    from trytond.modules.company.tests.tools import get_company
    User = Model.get('res.user', config=config)
    company = get_company(config=config)
    user = User(name=login.title(), login=login, password=PASSWORD)
    for xml_id in groups:
        user.groups.append(group(xml_id, config=config))
    user.companies.append(company)
    user.company = company
    user.save()
    return user


# What a test fixes in the context for every user it acts as: the day
# prevention reminders are computed for
KEPT_CONTEXT = ('prevention_date',)


def set_user(user, config=None):
    """Act as user, like trytond's set_user, keeping KEPT_CONTEXT: the
    user's preferences alone would bring back today's date"""
    from proteus import config as proteus_config
    from trytond.tests import tools
    config = config or proteus_config.get_config()
    kept = {k: config._context[k] for k in KEPT_CONTEXT if k in config._context}
    tools.set_user(user, config)
    config._context.update(kept)


def create_professional(
        name, lastname, login, groups, institution, code=None,
        config=None):
    """Create a user in groups and the health professional it logs in as"""
    from proteus import Model
    Party = Model.get('party.party', config=config)
    Professional = Model.get('gnuhealth.healthprofessional', config=config)
    user = create_user(login, groups, config=config) if login else None
    party = Party(
        name=name, lastname=lastname, is_person=True, is_healthprof=True,
        is_patient=False, gender='f', internal_user=user)
    party.save()
    professional = Professional(
        party=party, institution=institution, code=code)
    professional.save()
    return user, professional


def create_patient(
        name, lastname, gender='f', dob=dt.date(1970, 5, 17), config=None,
        **values):
    from proteus import Model
    Party = Model.get('party.party', config=config)
    Patient = Model.get('gnuhealth.patient', config=config)
    party = Party(
        name=name, lastname=lastname, is_person=True, is_patient=True,
        gender=gender, dob=dob)
    party.save()
    # GNU Health makes the patient of a party marked as a patient
    patient, = Patient.find([('party', '=', party.id)])
    for name, value in values.items():
        setattr(patient, name, value)
    patient.save()
    return patient


def create_pathology(code, name, config=None):
    from proteus import Model
    Pathology = Model.get('gnuhealth.pathology', config=config)
    pathology = Pathology(code=code, name=name)
    pathology.save()
    return pathology


def create_medicament(
        name, atc_code=None, vaccine=False, config=None):
    from proteus import Model
    Template = Model.get('product.template', config=config)
    Uom = Model.get('product.uom', config=config)
    Medicament = Model.get('gnuhealth.medicament', config=config)
    unit, = Uom.find([('name', '=', 'Unit')])
    template = Template(name=name, type='goods', default_uom=unit)
    template.save()
    product, = template.products
    product.is_medicament = True
    product.is_vaccine = vaccine
    product.save()
    medicament = Medicament(
        product=product, atc_code=atc_code, is_vaccine=vaccine)
    medicament.save()
    return medicament


def module_catalogue(module='health_shared_record'):
    """Return, as a polib.POFile, every translatable string of the module:
    field labels and help, selections, views, menus, actions, buttons and
    messages.  Call it inside a transaction on a database where the module
    is activated."""
    import polib
    from trytond.pool import Pool
    pool = Pool()
    Translation = pool.get('ir.translation')
    TranslationSet = pool.get('ir.translation.set', type='wizard')
    session_id, _, _ = TranslationSet.create()
    TranslationSet(session_id).transition_set_()
    TranslationSet.delete(session_id)
    return polib.pofile(
        Translation.translation_export('en', module).decode('utf-8'))


def publish_file(patient, type_code, title, config=None, **values):
    """Publish a PDF as a document of the patient, as the current user"""
    from proteus import Model
    Document = Model.get('gnuhealth.shared_record.document', config=config)
    DocumentType = Model.get(
        'gnuhealth.shared_record.document.type', config=config)
    Patient = Model.get('gnuhealth.patient', config=config)
    document_type, = DocumentType.find([('code', '=', type_code)])
    document = Document(
        patient=Patient(patient.id), document_type=document_type,
        title=title, file=b'%PDF-1.4 ' + title.encode('utf-8'),
        file_name='file.pdf', **values)
    document.save()
    document.click('publish')
    return document


def expire_emergency_accesses(ids):
    """Move the expiry of emergency accesses an hour into the past, as time
    would: nobody can change one through the client or RPC"""
    import datetime as dt

    from trytond.pool import Pool
    from trytond.tests.test_tryton import DB_NAME
    from trytond.transaction import Transaction
    with Transaction().start(DB_NAME, 0) as transaction:
        EmergencyAccess = Pool().get(
            'gnuhealth.shared_record.emergency_access')
        table = EmergencyAccess.__table__()
        cursor = transaction.connection.cursor()
        cursor.execute(*table.update(
                [table.expires], [dt.datetime.now() - dt.timedelta(hours=1)],
                where=table.id.in_(list(ids))))
        transaction.commit()


def stored(model, domain, fields_names):
    """What the database holds, read as root past every rule: the values
    of fields_names of the records of model in domain"""
    from trytond.pool import Pool
    from trytond.tests.test_tryton import DB_NAME
    from trytond.transaction import Transaction
    with Transaction().start(DB_NAME, 0, readonly=True):
        Model = Pool().get(model)
        return [
            tuple(getattr(r, name) for name in fields_names)
            for r in Model.search(domain, order=[('id', 'ASC')])]


def what_user_sees(document_ids, patient_id, config=None):
    """Return, for the current user, the titles of the documents that each
    path reveals: search, count, read, export, the patient's One2Many,
    the readable rendering, the content download and the document read
    in place"""
    from proteus import Model, Report
    from trytond.exceptions import UserError
    from trytond.model.exceptions import AccessError
    Document = Model.get('gnuhealth.shared_record.document', config=config)
    Patient = Model.get('gnuhealth.patient', config=config)
    context = Document._config.context
    seen = {}

    def attempt(function):
        try:
            return function()
        except (AccessError, UserError):
            return None

    found = attempt(lambda: Document.find([]))
    seen['search'] = {d.title for d in found or []}
    seen['count'] = attempt(lambda: Document._proxy.search_count(
            [], 0, None, context)) or 0
    titles = {}
    for document_id in document_ids:
        read = attempt(lambda: Document._proxy.read(
                [document_id], ['title'], context))
        if read:
            titles[document_id] = read[0]['title']
    seen['read'] = set(titles.values())
    exported = set()
    for document_id in document_ids:
        rows = attempt(lambda: Document._proxy.export_data(
                [document_id], ['title'], False, context))
        if rows:
            exported.add(rows[0][0])
    seen['export'] = exported
    # What the client's search_read and export by domain return, the
    # content included (which is logged)
    rows = attempt(lambda: Document._proxy.search_read(
            [], 0, None, None, ['title', 'content'], context))
    seen['search_read'] = {r['title'] for r in rows or []}
    rows = attempt(lambda: Document._proxy.export_data_domain(
            [], ['title', 'content'], 0, None, None, False, context))
    seen['export domain'] = {r[0] for r in rows or []}
    patient = attempt(lambda: Patient._proxy.read(
            [patient_id], ['shared_documents'], context))
    listed = patient[0].get('shared_documents', []) if patient else []
    seen['patient tab'] = {
        titles.get(i, f'hidden #{i}') for i in listed}
    rendering = Report('gnuhealth.shared_record.document.rendering',
        config=config)
    printed = set()
    for document_id in document_ids:
        if attempt(lambda: rendering.execute([Document(document_id)])):
            printed.add(titles.get(document_id, f'hidden #{document_id}'))
    seen['print'] = printed
    downloaded = set()
    for document_id in document_ids:
        content = attempt(lambda: Document._proxy.read(
                [document_id], ['content'], context))
        if content and content[0]['content']:
            downloaded.add(titles.get(document_id, f'hidden #{document_id}'))
    seen['download'] = downloaded
    opened = set()
    for document_id in document_ids:
        content = attempt(lambda: Document._proxy.read(
                [document_id], ['rendering'], context))
        if content and content[0]['rendering']:
            opened.add(titles.get(document_id, f'hidden #{document_id}'))
    seen['open in place'] = opened
    return seen


def as_server(function, context=None):
    """Run function(pool) as the server's cron does (root, committed, run
    again with the records it locks), with context: the escalation of
    alerts at a controlled time"""
    from trytond.pool import Pool
    from trytond.tests.test_tryton import DB_NAME
    from trytond.transaction import Transaction, TransactionError
    extras = {}
    while True:
        with Transaction().start(
                DB_NAME, 0, context=context or {}, **extras) as transaction:
            try:
                result = function(Pool())
            except TransactionError as error:
                transaction.rollback()
                error.fix(extras)
                continue
            transaction.commit()
            return result
