# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The mail servers the secure messaging tests talk to: what the test SMTP
server receives, Dovecot serves over IMAP as it was sent, to its user
alone, and only over TLS"""
import email.utils
import imaplib
import smtplib
import socket
import ssl

import pytest

from helpers import SMTP, require_imap_server

ANNA = 'anna@clinic-a.example'
ANNA_PASSWORD = 'Anna-Mailbox-2026'


@pytest.fixture(scope='module')
def server():
    server = require_imap_server()
    server.add_user(ANNA, ANNA_PASSWORD)
    return server


def tls(server):
    return ssl.create_default_context(cafile=server.ca_file)


def test_a_message_sent_is_read_over_imaps_as_it_was_sent(server):
    message_id = email.utils.make_msgid(domain='clinic-b.example')
    body = (
        b'Bonjour,\r\n'
        b'.a line that SMTP dot-stuffs\r\n'
        b'a line with trailing spaces   \r\n'
        b'\r\n'
        b'-- \r\n'
        b'Clinic B\r\n')
    sent = (
        b'From: bob@clinic-b.example\r\n'
        b'To: ' + ANNA.encode() + b'\r\n'
        b'Subject: Lettre de sortie\r\n'
        b'Message-ID: ' + message_id.encode() + b'\r\n'
        b'\r\n' + body)
    with smtplib.SMTP('127.0.0.1', SMTP.port) as client:
        client.sendmail('bob@clinic-b.example', [ANNA], sent)
    assert SMTP.mailbox_path(ANNA).is_dir()

    with imaplib.IMAP4_SSL(
            server.host, server.port, ssl_context=tls(server)) as client:
        client.login(ANNA, ANNA_PASSWORD)
        assert client.select('INBOX')[0] == 'OK'
        criteria = ('HEADER', 'Message-ID', message_id)
        _, (found,) = client.search(None, *criteria)
        number, = found.split()
        _, (unseen,) = client.search(None, 'UNSEEN', *criteria)
        assert unseen.split() == [number]

        _, data = client.fetch(number, '(BODY.PEEK[])')
        assert data[0][1] == sent
        _, data = client.fetch(number, '(BODY.PEEK[TEXT])')
        assert data[0][1] == body

        client.store(number, '+FLAGS', r'(\Seen)')
        _, (unseen,) = client.search(None, 'UNSEEN', *criteria)
        assert unseen == b''


def test_a_wrong_password_is_refused(server):
    with imaplib.IMAP4_SSL(
            server.host, server.port, ssl_context=tls(server)) as client:
        with pytest.raises(imaplib.IMAP4.error, match='AUTHENTICATIONFAILED'):
            client.login(ANNA, 'not ' + ANNA_PASSWORD)


def test_imaps_does_not_speak_in_clear(server):
    "A client in clear gets no answer: the server hangs up at its login"
    with socket.create_connection(
            (server.host, server.port), timeout=10) as connection:
        connection.sendall(
            f'a1 LOGIN {ANNA} {ANNA_PASSWORD}\r\n'.encode())
        answer = b''
        while chunk := connection.recv(4096):
            answer += chunk
    assert answer == b''


def test_starttls_before_any_password(server):
    with imaplib.IMAP4(server.starttls_host, server.starttls_port) as client:
        assert 'LOGINDISABLED' in client.capabilities
        with pytest.raises(imaplib.IMAP4.error, match='PRIVACYREQUIRED'):
            client.login(ANNA, ANNA_PASSWORD)
        client.starttls(ssl_context=tls(server))
        assert client.login(ANNA, ANNA_PASSWORD)[0] == 'OK'
