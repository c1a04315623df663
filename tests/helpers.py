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


def mail_owner():
    """The uid and gid of the test mailboxes: the tests' own, or nobody's
    when they run as root, since Dovecot opens no mail as root"""
    import os
    import pwd
    if os.getuid():
        return os.getuid(), os.getgid()
    nobody = pwd.getpwnam('nobody')
    return nobody.pw_uid, nobody.pw_gid


class _SMTPServer:
    """An aiosmtpd server on a free loopback port, keeping what it
    receives; once started it also delivers each message, as received, to
    the Maildir of each of its recipients under maildir_root (a temporary
    directory of the process, the mail_owner's), where the IMAP server
    (imap_server) reads it"""

    def __init__(self):
        self.messages = []
        self.maildir_root = None
        self.port = None
        self._controller = None

    def start(self):
        import atexit
        import email
        import email.policy
        import mailbox
        import os
        import shutil
        import tempfile

        from aiosmtpd.controller import Controller

        server = self
        owner = mail_owner()
        if self.maildir_root is None:
            self.maildir_root = pathlib.Path(
                tempfile.mkdtemp(prefix='hsr-maildir-'))
            os.chown(self.maildir_root, *owner)
            atexit.register(shutil.rmtree, self.maildir_root, True)

        class Maildir(mailbox.Maildir):
            def _create_tmp(self):
                # Each message is the mail_owner's from its creation in
                # tmp/, before Dovecot can see it in new/ (and whatever
                # the umask of the tests)
                file = super()._create_tmp()
                os.fchown(file.fileno(), *owner)
                return file

        class Handler:
            async def handle_RCPT(
                    self, smtp, session, envelope, address, options):
                # As a real server, it refuses at once an address it has
                # no mailbox for
                try:
                    server.mailbox_path(address)
                except ValueError as error:
                    return f'553 5.1.3 {error}'
                envelope.rcpt_tos.append(address)
                return '250 OK'

            async def handle_DATA(self, smtp, session, envelope):
                server.messages.append(email.message_from_bytes(
                        envelope.original_content,
                        policy=email.policy.default))
                for address in envelope.rcpt_tos:
                    path = server.mailbox_path(address)
                    path.parent.mkdir(exist_ok=True)
                    maildir = Maildir(path, create=True)
                    for directory in (
                            path.parent, path, *(path / d for d in (
                                    'cur', 'new', 'tmp'))):
                        os.chown(directory, *owner)
                    # The bytes as they came: they carry S/MIME
                    # signatures, so nothing is added, not even a
                    # Delivered-To
                    maildir.add(envelope.original_content)
                return '250 OK'

        self.port = free_port()
        self._controller = Controller(
            Handler(), hostname='127.0.0.1', port=self.port)
        self._controller.start()
        atexit.register(self._controller.stop)
        return self.port

    def mailbox_path(self, address):
        """The Maildir where the messages for address are delivered (and
        which Dovecot serves as its INBOX)"""
        name = address.lower()
        # The address names a directory: none may climb out of the root
        if '/' in name or name.startswith('.') or not name:
            raise ValueError(f'no mailbox for the address {address!r}')
        return self.maildir_root / name / 'Maildir'

    def received(self, to):
        "Return the messages received for the address to"
        return [m for m in self.messages if m['To'] == to]


SMTP = _SMTPServer()

DOVECOT = pathlib.Path('/usr/sbin/dovecot')
NO_DOVECOT = (
    f'Dovecot is not at {DOVECOT} (bin/test installs Debian\'s '
    'dovecot-imapd), so no IMAP server serves the test mailboxes')


class IMAPServer:
    """Dovecot, a real IMAP server that no one here wrote, serving the
    Maildirs under maildir_root (where SMTP delivers) to the users added
    with add_user, their e-mail address as login: IMAPS (implicit TLS) on
    host:port and IMAP with STARTTLS on starttls_host:starttls_port, TLS
    required on both, with a certificate for these addresses and localhost
    that ca_file verifies.  Each instance runs in its own temporary
    directory on its own ports, so that test runs side by side do not
    meet."""

    host = '127.0.0.1'
    # Dovecot counts a connection from its own address as secured, and
    # then lets a password through without TLS: on another loopback
    # address (the client's stays 127.0.0.1) it requires STARTTLS first,
    # as it would of any client
    starttls_host = '127.0.0.2'

    def __init__(self, maildir_root):
        self.maildir_root = pathlib.Path(maildir_root)
        self.process = None
        self.directory = None
        self.port = self.starttls_port = None
        self.ca_file = self.log_path = None
        self._users = {}
        self._passwd = None
        self._stamp = 0

    def start(self):
        import atexit
        import ctypes
        import grp
        import os
        import pwd
        import signal
        import subprocess
        import tempfile

        self.directory = pathlib.Path(tempfile.mkdtemp(prefix='hsr-dovecot-'))
        self.port = free_port()
        self.starttls_port = free_port()
        while self.starttls_port == self.port:
            self.starttls_port = free_port()
        self.ca_file, certificate, key = self._certificates()
        self.log_path = self.directory / 'dovecot.log'
        self._passwd = self.directory / 'passwd'
        self._write_users()
        user = pwd.getpwuid(os.getuid()).pw_name
        if os.getuid() == 0:
            # Dovecot's own users, which its package creates: the login
            # processes, which parse what clients send, run unprivileged
            internal_user, internal_group = 'dovecot', 'dovecot'
            login_user = 'dovenull'
        else:
            # Without root, every process runs as the user of the tests
            internal_user = login_user = user
            internal_group = grp.getgrgid(os.getgid()).gr_name
        uid, gid = mail_owner()
        # The login processes' chroot, Dovecot's default, needs root
        chroot = 'login' if os.getuid() == 0 else ''
        config = self.directory / 'dovecot.conf'
        config.write_text(self.CONFIG.format(
                directory=self.directory, log=self.log_path,
                maildir_root=self.maildir_root, passwd=self._passwd,
                certificate=certificate, key=key,
                user=user, internal_user=internal_user,
                internal_group=internal_group, login_user=login_user,
                uid=uid, gid=gid,
                host=self.host, port=self.port,
                starttls_host=self.starttls_host,
                starttls_port=self.starttls_port, chroot=chroot))
        # A test run that is killed takes its Dovecot with it (the signal
        # comes when the thread that starts it ends: start it from the
        # main thread)
        prctl, PR_SET_PDEATHSIG = ctypes.CDLL(None, use_errno=True).prctl, 1
        with open(self.log_path, 'ab') as log:
            self.process = subprocess.Popen(
                [str(DOVECOT), '-F', '-c', str(config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                preexec_fn=lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM))
        atexit.register(self.stop)
        self._wait()
        return self.port

    # Only what the tests need, and nothing from /etc/dovecot: the mail
    # processes run as the mail_owner, the authentication as the user of
    # the tests, to read the passwd-file kept private in the temporary
    # directory.  A failed login is said in the log and answered without
    # Dovecot's two seconds, nor the penalty that would slow the next
    # logins from 127.0.0.1 (every test's) by up to 15 seconds: the
    # socket that counts failures is not created (mode 0), and without it
    # Dovecot counts none.
    CONFIG = """\
protocols = imap
listen = {host}, {starttls_host}
base_dir = {directory}/run
state_dir = {directory}/state
log_path = {log}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
mail_location = maildir:{maildir_root}/%Lu/Maildir
ssl = required
ssl_cert = <{certificate}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain login
auth_failure_delay = 0
auth_verbose = yes
passdb {{
  driver = passwd-file
  args = username_format=%Lu {passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={maildir_root}/%Lu
}}
service auth {{
  user = {user}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  chroot = {chroot}
  inet_listener imap {{
    address = {starttls_host}
    port = {starttls_port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {port}
    ssl = yes
  }}
}}
"""

    def _certificates(self):
        """Write a certificate authority of the run and the server's
        certificate it signs, for its addresses and localhost; return the
        paths of the authority's certificate, the server's and its key"""
        import datetime as dt
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = dt.datetime.now(dt.timezone.utc)

        def name(common_name):
            return x509.Name([
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

        def certificate(subject, key, issuer, issuer_key, ca, *extensions):
            builder = x509.CertificateBuilder(
                issuer_name=issuer, subject_name=subject,
                public_key=key.public_key(),
                serial_number=x509.random_serial_number(),
                not_valid_before=now - dt.timedelta(minutes=5),
                not_valid_after=now + dt.timedelta(days=2))
            usage = x509.KeyUsage(
                digital_signature=not ca, key_cert_sign=ca, crl_sign=ca,
                content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False)
            # What a strict verifier requires of a chain
            for extension, critical in [
                    (x509.BasicConstraints(ca, None), True),
                    (usage, True),
                    (x509.SubjectKeyIdentifier.from_public_key(
                            key.public_key()), False),
                    (x509.AuthorityKeyIdentifier.from_issuer_public_key(
                            issuer_key.public_key()), False),
                    *((e, False) for e in extensions)]:
                builder = builder.add_extension(extension, critical=critical)
            return builder.sign(issuer_key, hashes.SHA256())

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = name('health_shared_record test IMAP CA')
        ca = certificate(ca_name, ca_key, ca_name, ca_key, True)
        key = ec.generate_private_key(ec.SECP256R1())
        names = x509.SubjectAlternativeName([
                x509.DNSName('localhost'),
                *(x509.IPAddress(ipaddress.ip_address(a))
                    for a in (self.host, self.starttls_host))])
        server = certificate(
            name('localhost'), key, ca_name, ca_key, False, names,
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]))
        # In the temporary directory, which only its owner reads
        paths = [self.directory / n for n in ('ca.pem', 'cert.pem', 'key.pem')]
        paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
        paths[2].write_bytes(key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        return paths

    def _wait(self, timeout=30):
        "Wait until Dovecot greets a client over TLS"
        import socket
        import ssl
        import time
        context = ssl.create_default_context(cafile=self.ca_file)
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                with socket.create_connection(
                        (self.host, self.port), timeout=5) as connection, \
                        context.wrap_socket(
                            connection, server_hostname=self.host) as tls:
                    if tls.recv(1024).startswith(b'* OK'):
                        return
            except OSError:
                time.sleep(0.05)
        log = self.log_path.read_text(errors='replace').splitlines()[-20:]
        self.stop()
        raise RuntimeError(
            'Dovecot did not start:\n' + '\n'.join(log))

    def add_user(self, address, password):
        """Let address log in with password (again, with a new one) to
        the mailbox where SMTP delivers its messages; return once Dovecot
        does"""
        import imaplib
        import ssl
        import time
        if (any(c in address for c in ':/\n') or address.startswith('.')
                or any(c in password for c in ':\n')):
            raise ValueError(
                'an address or a password that a passwd-file cannot hold')
        self._users[address.lower()] = password
        if not self.process:
            return
        self._write_users()
        # Dovecot looks at the passwd-file at most once a second: a login
        # in the second of the previous one would get the old version
        context = ssl.create_default_context(cafile=self.ca_file)
        deadline = time.monotonic() + 5
        while True:
            with imaplib.IMAP4_SSL(
                    self.host, self.port, ssl_context=context,
                    timeout=10) as client:
                try:
                    client.login(address, password)
                    return
                except imaplib.IMAP4.error:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f'Dovecot does not let {address} in; see '
                            f'{self.log_path}')
            time.sleep(0.1)

    def _write_users(self):
        import os
        self._passwd.write_text(''.join(
                f'{a}:{{PLAIN}}{p}::::::\n' for a, p in self._users.items()))
        # Dovecot reads the file again when its size or time changes, the
        # time in seconds: each version gets a time of its own
        stamp = max(self._passwd.stat().st_mtime, self._stamp + 1)
        os.utime(self._passwd, (stamp, stamp))
        self._stamp = stamp

    def stop(self):
        import shutil
        import subprocess
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


_imap_server = None


def imap_server():
    """The process's IMAP server (Dovecot), started at its first call,
    serving what SMTP (which must be started) delivers"""
    global _imap_server
    if SMTP.maildir_root is None:
        raise RuntimeError('the SMTP server is not started')
    if _imap_server is None:
        server = IMAPServer(SMTP.maildir_root)
        server.start()
        _imap_server = server
    return _imap_server


def require_imap_server():
    "The process's IMAP server, or skip the test when there is no Dovecot"
    import pytest
    if not DOVECOT.exists():
        pytest.skip(NO_DOVECOT)
    return imap_server()


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


def publish_cda_on_peer(
        url, national_id, unique_id, date, type_code='11488-4',
        type_name='Discharge letter', replaces=None, clinic='1.2.250.1.777',
        custodian='Clinique du Parc', sections=None):
    """Publish, as another clinic (clinic: its OID), a CDA document of the
    patient dated date, that replaces the document replaces (its unique id,
    superseded at the source); sections: what it says (cda.Section), a
    note by default"""
    import requests
    from health_shared_record import cda, mhd
    header = cda.Header(
        unique_id=unique_id, set_id=replaces or unique_id,
        version=2 if replaces else 1,
        type_code=cda.Code(type_code, cda.LOINC, type_name),
        title=f'{type_name} {unique_id}', effective_time=date,
        confidentiality='N', language='fr-FR', realm='FR',
        patient=cda.Person(
            [cda.Identifier(INS_SYSTEM, national_id)],
            given='Lucie', family='Bernard', sex='f',
            birth_date=dt.date(1970, 5, 17)),
        author=cda.Person(
            [cda.Identifier('1.2.250.1.71.4.2.1', '20202020202')],
            given='Marc', family='Durand'),
        author_time=date,
        custodian=cda.Organization(
            cda.Identifier(clinic, 'CLINIC'), custodian),
        replaces=replaces)
    content = cda.build(header, sections or [cda.Section(
                cda.section_code('29299-5'), 'Note',
                [cda.Paragraph(f'Note {unique_id}')])])
    document = mhd.Document(
        unique_id=unique_id, state='published', type_code=type_code,
        type_name=type_name, title=header.title, date=date,
        author_name='Durand, Marc', custodian_name=custodian,
        patient=mhd.Patient([(INS_SYSTEM, national_id)]), content=content,
        replaces=[replaces] if replaces else [])
    bundle = mhd.provide_bundle(
        [document], mhd.Metadata(clinic),
        superseded=[replaces] if replaces else [])
    response = requests.post(
        url + '/', json=bundle, timeout=30,
        headers={'Content-Type': mhd.FHIR_JSON})
    response.raise_for_status()


class StubRepository:
    """A repository that misbehaves on purpose, for the faults the real
    peer cannot produce: each request gets the next of the planned
    answers, a function (handler, body) that writes the response, and
    default answers when none is planned"""

    def __init__(self):
        self.answers = []
        self.default = None
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
                    stub.default or stub.status(404, b'{}'))
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
    def relay(peer):
        "Pass the request on to the real peer and its answer back"
        def answer(handler, body):
            import requests
            response = requests.request(
                handler.command, peer + handler.path, data=body or None,
                headers={'Content-Type': 'application/fhir+json'},
                timeout=30)
            # send_response adds the stub's own Date, from the same clock
            handler.send_response(response.status_code)
            handler.send_header(
                'Content-Type', response.headers.get('Content-Type', ''))
            handler.send_header('Content-Length', str(len(response.content)))
            handler.end_headers()
            handler.wfile.write(response.content)
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
