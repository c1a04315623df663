#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Secure messaging: sending through the queue, reading the mailbox, and
how soon what arrives is in the patient's record.

One database (a SQLite file in a temporary directory, or a database of its
own on the PostgreSQL server given with --database, dropped at the end)
with a clinic, a doctor, a patient with a national identifier (INS) and
her published patient summary (CDA); the clinic's organisational mailbox,
its certificate issued by an authority the clinic trusts.  The relay is
the tests' aiosmtpd server (tests/helpers.py, security 'none'), run in a
process of its own so that it takes no time from the one measured; it
delivers into Maildirs that Dovecot (helpers.imap_server()) serves over
IMAP with TLS.  Everything is the module's server code in trytond
transactions, as the queue and the cron run it, not RPC:

1. sending --messages messages to an external colleague, one
   send_documents per message (a transaction each, as the wizard's
   click), then the queue's send_pending tasks (a transaction each, as
   trytond's dispatcher runs them without a worker): (a) signed only (the
   colleague has no certificate) and (b) signed and encrypted (he has
   one).  Baseline: the same sealed bytes handed to the same SMTP server
   with smtplib, a connection each as the module's Relay does (and, for
   information, all on one connection);
2. receiving --messages messages (each its own Message-ID and document
   unique id, all about the patient's INS, so that each is filed),
   delivered into the clinic's mailbox with smtplib beforehand:
   Mailbox.read_mail (fetch and store, 500 at most a call, committed as
   the cron commits) and Message.process (verify, decrypt, read the XDM,
   match the patient, file), signed only and encrypted.  Baseline: the
   bare IMAP fetch of the same messages with imaplib, one FETCH each as
   the module does (and, for information, one FETCH for all);
3. arrival to record: --latency messages delivered one at a time, about
   --spacing seconds apart (at random), while a reader polls (read_mail,
   then the process task) every --poll seconds: the time from the SMTP
   server's acceptance (sendmail returned) to the document in the
   patient's record, and the processing path alone (from read_mail's
   start to the commit of the filing); in production the cron reads the
   mailboxes every 5 minutes, which dominates.

It prints figures, their ratios to the baselines, and where the module's
time goes (the sealing and opening steps, timed by wrappers).  It asserts
no timing; the exit status is 1 only when a check fails (a message not
sent, not filed, or filed twice).

    .venv/bin/python bench/messaging.py [--messages 1000] [--latency 50]
        [--poll 0.2] [--spacing 1] [--profile]
        [--database postgresql://postgres@127.0.0.1:5432/]
"""
import argparse
import collections
import datetime as dt
import imaplib
import inspect
import math
import os
import pathlib
import random
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMA = (ROOT.parent / 'shared' / 'reference' / 'cda-r2' / 'infrastructure'
    / 'cda' / 'CDA.xsd')
sys.path.insert(0, str(ROOT / 'bench'))
sys.path.insert(0, str(ROOT / 'tests'))

PARC = 'cabinet@parc.mssante.example'  # the clinic's mailbox
NORD = 'durand@nord.mssante.example'  # a colleague without certificate
ROUX = 'roux@nord.mssante.example'  # a colleague with one
PASSWORD = 'Mailbox-2026'
INS = '270057512345621'
BATCH = 500  # what Mailbox.read_mail fetches at most (mail_transport)


def parse_arguments():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--messages', type=int, default=1000)
    parser.add_argument(
        '--latency', type=int, default=50,
        help='messages timed from arrival to record')
    parser.add_argument(
        '--poll', type=float, default=0.2,
        help='seconds the reader waits between two reads of the mailbox')
    parser.add_argument(
        '--spacing', type=float, default=1.0,
        help='mean seconds between two messages delivered (0.5x to 1.5x)')
    parser.add_argument(
        '--database', default=None,
        help='a PostgreSQL URI; a SQLite file in a temporary directory '
        'when none')
    parser.add_argument(
        '--parts', default='123',
        help='the parts to run: 1 sending, 2 receiving, 3 arrival to record')
    parser.add_argument(
        '--profile', action='store_true',
        help='print the top of a cProfile of send_pending and process')
    parser.add_argument('--smtp-server', action='store_true',
        help=argparse.SUPPRESS)
    return parser.parse_args()


ARGUMENTS = parse_arguments() if __name__ == '__main__' else None


def smtp_server():
    """The relay's process: the tests' aiosmtpd server, which forgets what
    it parsed (it delivers into the Maildirs all the same)"""
    import helpers

    class Forget(list):
        def append(self, item):
            pass
    port = helpers.SMTP.start()
    helpers.SMTP.messages = Forget()
    print(port, helpers.SMTP.maildir_root, flush=True)
    sys.stdin.read()  # until the bench ends


if ARGUMENTS and ARGUMENTS.smtp_server:
    sys.exit(smtp_server())

WORK = pathlib.Path(tempfile.mkdtemp(prefix='hsr-bench-messaging-'))
if ARGUMENTS and ARGUMENTS.database:
    os.environ['TRYTOND_DATABASE_URI'] = ARGUMENTS.database
    os.environ['DB_NAME'] = 'bench_messaging'
else:
    os.environ['TRYTOND_DATABASE_URI'] = 'sqlite://'
    os.environ['TRYTOND_DATABASE__PATH'] = str(WORK)
    os.environ['DB_NAME'] = 'bench_messaging'
os.environ.pop('DB_CACHE', None)
if SCHEMA.exists():
    os.environ['TRYTOND_HEALTH_SHARED_RECORD__CDA_SCHEMA'] = str(SCHEMA)

from trytond.pool import Pool  # noqa: E402
from trytond.tests.test_tryton import (  # noqa: E402
    DB_NAME, activate_module, db_exist, drop_db)
from trytond.transaction import Transaction, check_access  # noqa: E402
from trytond.worker import run_task  # noqa: E402

import helpers  # noqa: E402
import mail_sender  # noqa: E402
import pki  # noqa: E402
from clinic import create_clinic, create_doctors  # noqa: E402

MESSAGE = 'gnuhealth.shared_record.message'
MAILBOX = 'gnuhealth.shared_record.mailbox'
DOCUMENT = 'gnuhealth.shared_record.document'


def percentile(values, q):
    "The nearest-rank percentile q (0-100) of values"
    values = sorted(values)
    return values[max(0, math.ceil(q / 100 * len(values)) - 1)]


class Timers:
    """Seconds and calls spent in the functions wrapped, per label: where
    the module's time goes"""

    def __init__(self):
        self.seconds = collections.Counter()
        self.calls = collections.Counter()
        self.order = []

    def timed(self, original, label):
        if label not in self.order:
            self.order.append(label)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1
        return timed

    def wrap_method(self, cls, name, label):
        "Wrap the method name of cls (a pool's class, or a plain one)"
        static = inspect.getattr_static(cls, name, None)
        if static is None:
            return False
        timed = self.timed(getattr(cls, name), label)
        if isinstance(static, classmethod):
            setattr(cls, name, classmethod(
                    lambda cls, *args, **kwargs: timed(*args, **kwargs)))
        elif isinstance(static, staticmethod):
            setattr(cls, name, staticmethod(timed))
        else:
            setattr(cls, name, timed)
        return True

    def wrap_function(self, module, name, label):
        """Wrap the function name of module wherever the module's package
        holds it (a module that imported it by its name holds it too)"""
        original = getattr(module, name)
        timed = self.timed(original, label)
        package = module.__name__.split('.')[0]
        for loaded in list(sys.modules.values()):
            if ((getattr(loaded, '__name__', '') or '').split('.')[0]
                    == package and getattr(loaded, name, None) is original):
                setattr(loaded, name, timed)

    def take(self):
        "What was counted since the last take, in the order wrapped"
        figures = {k: (self.seconds[k], self.calls[k])
            for k in self.order if self.calls[k]}
        self.seconds.clear()
        self.calls.clear()
        return figures


TIMERS = Timers()


def instrument():
    """Wrap the steps of sending and receiving (indented: a part of the
    step above); the module's code is the package trytond loaded (its
    entry point), which mail_sender also uses"""
    from health_shared_record import (
        cda_reader, mail_transport, pdf_render, secure_mail, smime, xdm)
    pool = Pool()
    Message = pool.get(MESSAGE)
    Mailbox = pool.get(MAILBOX)
    Document = pool.get(DOCUMENT)
    assert Mailbox.identity.__module__.startswith('health_shared_record')
    for owner, name, label in [
            (Message, 'seal', 'seal'),
            (Document, 'mhd_document', '  the document\'s metadata'),
            (Document, 'render_html', '  HTML rendering'),
            (pdf_render, 'html_to_pdf', '  PDF rendering'),
            (xdm, 'package', '  XDM package'),
            (Mailbox, 'identity', '  mailbox key, certificate'),
            (smime, 'load_key', '    private key loaded'),
            (smime, 'sign', '  S/MIME sign'),
            (smime, 'encrypt', '  S/MIME encrypt'),
            (mail_transport.Relay, 'submit', 'SMTP submit'),
            (mail_transport.Mailbox, '__enter__', 'IMAP connect, login'),
            (mail_transport.Mailbox, 'unseen', 'IMAP search, fetch'),
            (mail_transport.Mailbox, 'mark_seen', 'IMAP mark seen'),
            (Message, 'receive', 'store (receive)'),
            (Message, 'open', 'Message.open'),
            (secure_mail, 'open_message', '  open the e-mail'),
            (smime, 'decrypt', '    S/MIME decrypt'),
            (smime, 'verify', '    S/MIME verify'),
            (Message, 'read_documents', '  read XDM and CDA'),
            (xdm, 'read', '    XDM read'),
            (cda_reader, 'read_content', '    CDA read'),
            (Message, 'match_patients', '  match the patient'),
            (Message, 'file_into', '  file'),
            (Document, 'store_external', '    store the document'),
            (Document, 'recompute_prevention', '    recompute prevention'),
            (Message, 'notify_recipients', '    notify'),
            ]:
        if inspect.ismodule(owner):
            TIMERS.wrap_function(owner, name, label)
        elif not TIMERS.wrap_method(owner, name, label):
            print(f'(no {owner.__name__}.{name} to time)')


def print_steps(title, total):
    figures = TIMERS.take()
    if not figures:
        return
    print(f'  where the time of {title} goes ({total:.1f} s):')
    for label, (seconds, calls) in figures.items():
        print(f'    {label:<28} {calls:>5} calls {seconds:8.2f} s '
            f'{seconds / calls * 1000:8.2f} ms each '
            f'{seconds / total * 100:5.1f}%')


def setup(folder, smtp_port, imap):
    """The clinic, the doctor, the patient with her INS and her published
    summary, the colleagues, the mailbox; return the identities and ids"""
    pool = Pool()
    Configuration = pool.get('gnuhealth.shared_record.configuration')
    Party = pool.get('party.party')
    Patient = pool.get('gnuhealth.patient')
    Pathology = pool.get('gnuhealth.pathology')
    Professional = pool.get('gnuhealth.healthprofessional')
    Mailbox = pool.get(MAILBOX)
    authority = pki.make('Health Authority')
    trusted = folder / 'authority.crt'
    trusted.write_bytes(pki.pem(authority[1]))
    identities = {a: pki.make(a, authority) for a in [PARC, NORD, ROUX]}
    certificate_file, key_file = pki.write(folder, 'parc', identities[PARC])
    company, institution = create_clinic()
    (user,), (doctor,) = create_doctors(['doctor'], company, institution)
    configuration = Configuration(1)
    configuration.oid_root = '1.2.250.1.999'
    configuration.national_identifier_type = 'country_id'
    configuration.national_identifier_system = helpers.INS_SYSTEM
    configuration.relay_host = '127.0.0.1'
    configuration.relay_port = smtp_port
    configuration.relay_security = 'none'
    configuration.messaging_ca_file = str(imap.ca_file)
    configuration.messaging_trusted_file = str(trusted)
    configuration.save()
    mailbox, = Mailbox.create([{
                'name': 'Bench Clinic', 'address': PARC,
                'imap_host': imap.host, 'imap_port': imap.port,
                'imap_password': PASSWORD,
                'certificate_file': certificate_file,
                'private_key_file': key_file}])
    colleagues = {}
    for address, family, certificate in [
            (NORD, 'Durand', None),
            (ROUX, 'Roux', pki.pem(identities[ROUX][1]).decode())]:
        party, = Party.create([{
                    'name': 'Marc', 'lastname': family, 'is_person': True,
                    'is_healthprof': True, 'gender': 'm',
                    'create_target': False, 'fed_country': None}])
        colleague, = Professional.create([{
                    'party': party.id, 'secure_email': address,
                    'secure_certificate': certificate}])
        colleagues[address] = colleague.id
    asthma, allergy = Pathology.create([
            {'code': 'J45', 'name': 'Asthma'},
            {'code': 'Z88.0', 'name': 'Allergy to penicillin'}])
    party, = Party.create([{
                'name': 'Lucie', 'lastname': 'Bernard', 'is_person': True,
                'is_patient': True, 'gender': 'f', 'create_target': False,
                'fed_country': None, 'dob': dt.date(1970, 5, 17),
                'alternative_identification': True,
                'alternative_ids': [('create', [{
                                'alternative_id_type': 'country_id',
                                'code': INS}])]}])
    patient, = Patient.create([{
                'party': party.id, 'primary_care_doctor': doctor.id,
                'diseases': [('create', [{
                                'pathology': asthma.id, 'is_active': True,
                                'diagnosed_date': dt.date(2015, 4, 2)}, {
                                'pathology': allergy.id, 'is_active': True,
                                'is_allergy': True, 'allergy_type': 'da',
                                'diagnosed_date': dt.date(2020, 6, 1)}])]}])
    return {
        'identities': identities, 'user': user.id, 'doctor': doctor.id,
        'context': {'company': company.id},
        'patient': patient.id, 'mailbox': mailbox.id,
        'colleagues': colleagues}


def publish_summary(user, patient, context):
    "The doctor publishes the summary, as the button does; return it"
    with Transaction().start(
            DB_NAME, user, context=context) as transaction, check_access():
        Patient = Pool().get('gnuhealth.patient')
        Patient.publish_shared_record([Patient(patient)])
        transaction.commit()
    with Transaction().start(DB_NAME, 0):
        Patient = Pool().get('gnuhealth.patient')
        summary = Patient(patient).shared_record_summary
        return summary.id, summary.content


def take_tasks():
    "The queue's tasks the transactions of this thread pushed"
    tasks = list(Transaction().tasks)
    Transaction().tasks.clear()
    return tasks


def run_tasks(tasks, profile=False):
    """Run the tasks as trytond's dispatcher and cron do without a worker;
    with profile, print the top of their cProfile"""
    if profile:
        import cProfile
        import pstats
        profiler = cProfile.Profile()
        profiler.enable()
    while tasks:
        run_task(DB_NAME, tasks.pop())
    if profile:
        profiler.disable()
        pstats.Stats(profiler).sort_stats('cumulative').print_stats(40)


def maildir_count(root, address):
    path = pathlib.Path(root) / address / 'Maildir'
    return sum(len(os.listdir(path / d)) for d in ('new', 'cur')
        if (path / d).exists())


# 1. Sending

def send(state, document, address, count, maildir_root):
    """Send count messages to the colleague at address through the queue;
    return the figures and the sealed bytes"""
    colleague = state['colleagues'][address]
    before = maildir_count(maildir_root, address)
    tasks = []
    start = time.perf_counter()
    for index in range(count):
        with Transaction().start(DB_NAME, state['user'],
                context=state['context']) as transaction:
            pool = Pool()
            Message = pool.get(MESSAGE)
            Message.send_documents(
                [pool.get(DOCUMENT)(document)],
                [pool.get('gnuhealth.healthprofessional')(colleague)], [],
                f'Lucie Bernard, before her surgery ({index})',
                'Dear colleague, her summary before Monday.')
            transaction.commit()
        tasks.extend(take_tasks())
    queued = time.perf_counter() - start
    TIMERS.take()
    start = time.perf_counter()
    run_tasks(tasks, ARGUMENTS.profile)
    sent = time.perf_counter() - start
    print_steps('send_pending', sent)
    with Transaction().start(DB_NAME, 0):
        Message = Pool().get(MESSAGE)
        messages = Message.search([('address', '=', address)])
        states = collections.Counter(
            (m.state, m.signed, m.encrypted) for m in messages)
        raws = [m.raw for m in messages]
    delivered = maildir_count(maildir_root, address) - before
    return {'queued': queued, 'sent': sent, 'states': states,
        'delivered': delivered}, raws


def smtp_baseline(port, raws, address):
    """Hand the sealed bytes to the SMTP server with smtplib: a connection
    each (as mail_transport.Relay), then all on one; return both times"""
    start = time.perf_counter()
    for raw in raws:
        with smtplib.SMTP('127.0.0.1', port, timeout=30) as client:
            client.sendmail(PARC, [address], raw)
    each = time.perf_counter() - start
    start = time.perf_counter()
    with smtplib.SMTP('127.0.0.1', port, timeout=30) as client:
        for raw in raws:
            client.sendmail(PARC, [address], raw)
    return each, time.perf_counter() - start


# 2. Receiving

def incoming(content, identities, first, count, encrypted):
    """count messages sealed by Dr Durand's software for the clinic, each
    its own Message-ID and document unique id, about the patient"""
    sealed = []
    for number in range(first, first + count):
        package = mail_sender.package(
            content, '1.2.250.1.888.1.%d' % number, INS)
        sealed.append(mail_sender.message(
                package, identities[NORD], NORD, PARC, 'Message %d' % number,
                number, encrypt_for=(
                    identities[PARC][1] if encrypted else None)))
    return sealed


def deliver(port, raws):
    with smtplib.SMTP('127.0.0.1', port, timeout=30) as client:
        for raw in raws:
            client.sendmail(NORD, [PARC], raw)


def imap_baseline(imap):
    """Fetch the unseen messages with imaplib, without marking them: one
    FETCH each, as mail_transport.Mailbox.unseen, then one for all"""
    context = ssl.create_default_context(cafile=imap.ca_file)
    figures = []
    for one_fetch in (False, True):
        start = time.perf_counter()
        client = imaplib.IMAP4_SSL(
            imap.host, imap.port, ssl_context=context, timeout=30)
        client.login(PARC, PASSWORD)
        client.select('"INBOX"')
        _, data = client.uid('SEARCH', None, 'UNSEEN')
        uids = data[0].split()
        fetched = 0
        if one_fetch:
            _, data = client.uid('FETCH', b','.join(uids), '(UID BODY.PEEK[])')
            fetched = sum(1 for item in data if isinstance(item, tuple))
        else:
            for uid in uids:
                _, data = client.uid('FETCH', uid, '(UID BODY.PEEK[])')
                fetched += sum(1 for item in data if isinstance(item, tuple))
        client.logout()
        figures.append((time.perf_counter() - start, fetched))
    return figures


def read_mail(mailbox):
    """Read the mailbox as the cron does (a transaction committed by
    ir.cron, which its end commits again); return the messages stored and
    the process tasks pushed"""
    with Transaction().start(
            DB_NAME, 0, context={'_skip_warnings': True}) as transaction:
        Mailbox = Pool().get(MAILBOX)
        received = Mailbox.read_mail([Mailbox(mailbox)])
        error = Mailbox(mailbox).last_error
        transaction.commit()
    if error:
        raise RuntimeError(f'the mailbox says: {error}')
    return [m.id for m in received], take_tasks()


def receive(state, imap, port, sealed):
    "Deliver, fetch with imaplib, then read and process with the module"
    start = time.perf_counter()
    deliver(port, sealed)
    delivery = time.perf_counter() - start
    baseline = imap_baseline(imap)
    TIMERS.take()
    received, tasks, reads = [], [], 0
    start = time.perf_counter()
    while True:
        ids, pushed = read_mail(state['mailbox'])
        reads += 1
        if not ids:
            break
        received.extend(ids)
        tasks.extend(pushed)
    fetched = time.perf_counter() - start
    print_steps(f'read_mail ({reads} calls, the last finding nothing)',
        fetched)
    runs = []  # (messages, seconds) of each task, in the order run
    for task in tasks[::-1]:
        with Transaction().start(DB_NAME, 0):
            Queue = Pool().get('ir.queue')
            size = len(Queue(task).data['instances'])
        start = time.perf_counter()
        run_tasks([task], ARGUMENTS.profile)
        runs.append((size, time.perf_counter() - start))
    processed = sum(seconds for _, seconds in runs)
    print_steps('process (tasks of ' + ', '.join(
            f'{n} messages in {s:.1f} s' for n, s in runs) + ')', processed)
    with Transaction().start(DB_NAME, 0):
        Message = Pool().get(MESSAGE)
        states = collections.Counter(
            (m.state, m.encrypted, len(m.documents))
            for m in Message.browse(received))
        reasons = collections.Counter(
            m.reason for m in Message.browse(received) if m.reason)
    return {'delivery': delivery, 'baseline': baseline, 'fetched': fetched,
        'processed': processed, 'states': states, 'reasons': reasons,
        'count': len(received)}


def filed_documents(patient):
    with Transaction().start(DB_NAME, 0, readonly=True):
        Document = Pool().get(DOCUMENT)
        return Document.search_count([
                ('patient', '=', patient), ('source', '=', 'repository')])


# 3. Arrival to record

class Reader(threading.Thread):
    """Reads the mailbox every interval seconds, then runs the process
    tasks, as the cron would more often; keeps, for each message, when
    the read that brought it started and when its filing committed"""

    def __init__(self, mailbox, interval):
        super().__init__(daemon=True)
        self.mailbox, self.interval = mailbox, interval
        self.filed = {}  # Message-ID: (read started, filing committed)
        self.empty = []  # the seconds of the reads that found nothing
        self.busy = 0  # the seconds of all the reads and their tasks
        self.running, self.error = True, None

    def run(self):
        try:
            while self.running:
                start = time.perf_counter()
                ids, tasks = read_mail(self.mailbox)
                run_tasks(tasks)
                end = time.perf_counter()
                self.busy += end - start
                if not ids:
                    self.empty.append(end - start)
                else:
                    with Transaction().start(DB_NAME, 0, readonly=True):
                        Message = Pool().get(MESSAGE)
                        for message in Message.browse(ids):
                            if message.state == 'filed':
                                self.filed[message.message_id] = (start, end)
                time.sleep(self.interval)
        except Exception as error:
            self.error = error


def latency(state, port, sealed, interval, spacing):
    "Deliver one message at a time; return the arrivals and the reader"
    reader = Reader(state['mailbox'], interval)
    reader.start()
    arrivals = {}
    for raw in sealed:
        time.sleep(random.uniform(0.5 * spacing, 1.5 * spacing))
        identifier = mail_sender_id(raw)
        with smtplib.SMTP('127.0.0.1', port, timeout=30) as client:
            client.sendmail(NORD, [PARC], raw)
        arrivals[identifier] = time.perf_counter()
        if reader.error:
            break
    deadline = time.perf_counter() + 60
    while (len(reader.filed) < len(sealed) and time.perf_counter() < deadline
            and not reader.error):
        time.sleep(0.05)
    reader.running = False
    reader.join(60)
    return arrivals, reader


def mail_sender_id(raw):
    for line in raw.split(b'\r\n\r\n', 1)[0].split(b'\r\n'):
        if line.lower().startswith(b'message-id:'):
            return line.split(b':', 1)[1].strip().decode()


def row(label, count, seconds, base=None):
    rate = count / seconds if seconds else math.inf
    ratio = f'{seconds / base:8.1f}x' if base else ''
    print(f'  {label:<52} {count:>5} {seconds:8.2f} s {rate:8.1f} /s '
        f'{ratio}')


def main():
    arguments = ARGUMENTS
    count = arguments.messages
    errors = []
    relay = subprocess.Popen(
        [sys.executable, __file__, '--smtp-server'], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        port, maildir_root = relay.stdout.readline().split()
        port = int(port)
        helpers.SMTP.maildir_root = pathlib.Path(maildir_root)
        helpers.SMTP.port = port
        imap = helpers.imap_server()
        imap.add_user(PARC, PASSWORD)
        if db_exist(DB_NAME):
            drop_db(DB_NAME)
        backend = os.environ['TRYTOND_DATABASE_URI'].split(':')[0]
        print(f'database {DB_NAME} on {backend}; relay aiosmtpd on port '
            f'{port} (a process of its own), Dovecot on {imap.port}; '
            f'{count} messages, CDA schema '
            f'{"validated" if SCHEMA.exists() else "absent"}')
        start = time.perf_counter()
        activate_module(['health_shared_record'])
        with Transaction().start(DB_NAME, 0) as transaction:
            state = setup(WORK, port, imap)
            transaction.commit()
        document, content = publish_summary(
            state['user'], state['patient'], state['context'])
        with Transaction().start(DB_NAME, 0):
            instrument()
        print(f'clinic, patient and summary ({len(content)} bytes of CDA) '
            f'ready in {time.perf_counter() - start:.0f} s')

        sending, receiving, reader = {}, {}, None
        first = 1  # the number of the next message sent to the clinic
        if '1' in arguments.parts:
            # 1. Sending
            print(f'\n1. sending {count} messages through the queue')
            for label, address in [
                    ('signed', NORD), ('signed+encrypted', ROUX)]:
                figures, raws = send(
                    state, document, address, count, maildir_root)
                figures['baseline'] = smtp_baseline(port, raws, address)
                figures['size'] = sum(map(len, raws)) / len(raws)
                sending[label] = figures
                expected = {('sent', True, label != 'signed'): count}
                if (figures['states'] != expected
                        or figures['delivered'] != count):
                    errors.append(
                        f'sending {label}: {dict(figures["states"])}, '
                        f'{figures["delivered"]} in the Maildir')

        if '2' in arguments.parts:
            # 2. Receiving
            print(f'\n2. receiving {count} messages from IMAP')
            filed_before = filed_documents(state['patient'])
            for label, encrypted in [
                    ('signed', False), ('signed+encrypted', True)]:
                start = time.perf_counter()
                sealed = incoming(
                    content, state['identities'], first, count, encrypted)
                print(f'  {label}: {count} messages sealed by the sender in '
                    f'{time.perf_counter() - start:.1f} s, '
                    f'{sum(map(len, sealed)) / count / 1024:.0f} KiB each')
                first += count
                TIMERS.take()
                figures = receive(state, imap, port, sealed)
                receiving[label] = figures
                expected = {('filed', encrypted, 1): count}
                if figures['states'] != expected:
                    errors.append(
                        f'receiving {label}: {dict(figures["states"])} '
                        f'{dict(figures["reasons"])}')
                for seconds, fetched in figures['baseline']:
                    if fetched != count:
                        errors.append(
                            f'baseline {label}: {fetched} fetched of {count}')
            filed = filed_documents(state['patient']) - filed_before
            if filed != 2 * count:
                errors.append(f'{filed} documents filed of {2 * count}')

        if '3' in arguments.parts:
            # 3. Arrival to record
            print(f'\n3. arrival to record, {arguments.latency} messages, '
                f'encrypted, the reader every {arguments.poll} s')
            sealed = incoming(content, state['identities'], first,
                arguments.latency, True)
            TIMERS.take()
            arrivals, reader = latency(
                state, port, sealed, arguments.poll, arguments.spacing)
            print_steps('the reads that found messages and the empty ones',
                reader.busy)
            if reader.error:
                errors.append(f'reader: {reader.error!r}')
            if len(reader.filed) != len(sealed):
                errors.append(
                    f'{len(reader.filed)} of {len(sealed)} filed in time')

        # The figures
        print(f'\n{"":<54} {"n":>5} {"time":>10} {"rate":>10} {"ratio":>9}')
        if sending:
            print('1. sending (ratio: to the baseline, a connection each)')
            for label, figures in sending.items():
                each, one = figures['baseline']
                total = figures['queued'] + figures['sent']
                print(f' {label} ({figures["size"] / 1024:.0f} KiB each)')
                row('send_documents (a transaction each)', count,
                    figures['queued'], each)
                row('send_pending tasks (seal, submit, record)', count,
                    figures['sent'], each)
                row('both', count, total, each)
                row('baseline: smtplib, a connection each', count, each)
                row('(smtplib, one connection for all)', count, one)
        if receiving:
            print('2. receiving (ratio: to the baseline, a FETCH each)')
            for label, figures in receiving.items():
                (each, _), (one, _) = figures['baseline']
                total = figures['fetched'] + figures['processed']
                print(f' {label}')
                row('read_mail (fetch and store)', figures['count'],
                    figures['fetched'], each)
                row('process (open, read, match, file)', figures['count'],
                    figures['processed'], each)
                row('both', figures['count'], total, each)
                row('baseline: imaplib, a FETCH each', count, each)
                row('(imaplib, one FETCH for all)', count, one)
                print(f'  (delivery into the mailbox beforehand, smtplib: '
                    f'{figures["delivery"]:.1f} s)')
        if reader:
            print('3. arrival to record (ms)')
            paths, ends = [], []
            for identifier, (started, committed) in reader.filed.items():
                paths.append(committed - started)
                if identifier in arrivals:
                    ends.append(committed - arrivals[identifier])
            for label, values in [
                    ('processing path (read_mail start to commit)', paths),
                    ('arrival (SMTP accepted) to record', ends),
                    ('(a read that finds nothing)', reader.empty)]:
                if values:
                    print(f'  {label:<52} {len(values):>5} p50 '
                        f'{percentile(values, 50) * 1000:7.0f} p95 '
                        f'{percentile(values, 95) * 1000:7.0f} max '
                        f'{max(values) * 1000:7.0f}')
            print('  in production the cron reads the mailboxes every 5 '
                'minutes: arrival to record is then up to 5 min (2.5 min on '
                'average) plus the processing path')
        for error in errors:
            print('ERROR', error)
        print('checks: every message sent, delivered, received and filed '
            'once: ' + ('ok' if not errors else 'FAILED'))
    finally:
        relay.stdin.close()
        relay.wait(30)
        relay.stdout.close()
        if db_exist(DB_NAME):
            drop_db(DB_NAME)
        shutil.rmtree(WORK, ignore_errors=True)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
