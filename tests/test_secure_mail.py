# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Secure messages: what one clinic seals, the other opens as it was sent;
what is unsigned, spoofed, misdirected or without its package is refused
with its reason; read receipts read back"""
import datetime as dt

import pytest

from health_shared_record import secure_mail

from pki import make
from test_smime import ENTITY

WHEN = dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.timezone.utc)
PARC = 'cabinet@parc.mssante.fr'
NORD = 'durand@hopital-nord.mssante.fr'
PACKAGE = b'PK\x03\x04 a package'


@pytest.fixture(scope='module')
def pki():
    authority = make('Health Authority')
    return {'authority': authority, 'parc': make(PARC, authority),
        'nord': make(NORD, authority),
        'other': make(PARC, make('Other Authority'))}


def sealed(pki, sender=PARC, signer='parc', encrypt=True, entity=None,
        **values):
    key, certificate = pki[signer]
    return secure_mail.seal(
        entity or secure_mail.compose(
            'Voici la lettre de sortie de Lucie Bernard.', PACKAGE),
        sender, [NORD], 'Lettre de sortie – Bernard', '<m1@parc.mssante.fr>',
        WHEN, certificate, key,
        [pki['nord'][1]] if encrypt else (), **values)


def opened(pki, data):
    return secure_mail.open_message(
        data, pki['nord'][1], pki['nord'][0], [pki['authority'][1]])


@pytest.mark.parametrize('encrypt', [True, False])
def test_what_is_sealed_opens_as_it_was_sent(pki, encrypt):
    data = sealed(pki, encrypt=encrypt, receipt_to=PARC)
    assert (b'Lucie' in data) is not encrypt
    received = opened(pki, data)
    assert received.message_id == '<m1@parc.mssante.fr>'
    assert received.sender == PARC
    assert received.subject == 'Lettre de sortie – Bernard'
    assert received.text.strip() == (
        'Voici la lettre de sortie de Lucie Bernard.')
    assert received.package == PACKAGE
    assert received.signer == pki['parc'][1]
    assert received.encrypted is encrypt
    assert received.receipt_to == PARC


def test_a_sender_the_signature_does_not_name_is_refused(pki):
    with pytest.raises(secure_mail.MailError) as error:
        opened(pki, sealed(pki, sender='chef@hopital-nord.mssante.fr'))
    assert error.value.reason == 'sender_mismatch'


def test_unsigned_misdirected_or_malformed_messages_are_refused(pki):
    plain = (b'From: ' + PARC.encode() + b'\r\nMessage-ID: <m2@parc>\r\n'
        b'Subject: x\r\n' + secure_mail.compose('x', PACKAGE))
    for data, reason in [
            (plain, 'unsigned'),
            (b'\x00\xff not mail', 'malformed'),
            (sealed(pki, signer='other'), 'untrusted_signer'),
            ]:
        with pytest.raises(secure_mail.MailError) as error:
            opened(pki, data)
        assert error.value.reason == reason, data[:60]
    # Encrypted for the sender itself, not for the recipient
    key, certificate = pki['parc']
    misdirected = secure_mail.seal(
        secure_mail.compose('x', PACKAGE), PARC, [NORD], 'x',
        '<m3@parc.mssante.fr>', WHEN, certificate, key, [certificate])
    with pytest.raises(secure_mail.MailError) as error:
        opened(pki, misdirected)
    assert error.value.reason == 'not_for_us'


def test_a_message_needs_exactly_one_package(pki):
    with pytest.raises(secure_mail.MailError) as error:
        opened(pki, sealed(pki, entity=ENTITY))
    assert error.value.reason == 'no_package'


def test_a_read_receipt_reads_back(pki):
    received = opened(pki, sealed(pki, receipt_to=PARC))
    data = secure_mail.receipt(
        received, 'GNU Health; health_shared_record', NORD,
        '<r1@hopital-nord.mssante.fr>', WHEN)
    assert secure_mail.read_receipt(data) == (
        '<m1@parc.mssante.fr>', 'displayed')
    assert secure_mail.read_receipt(sealed(pki)) is None
    # It travels in clear: the subject the message kept inside stays there
    assert b'Bernard' not in data
    assert secure_mail.read_receipt(secure_mail.receipt(
            opened(pki, sealed(pki, receipt_to=PARC, encrypt=False)),
            'GNU Health', NORD, '<r2@hopital-nord.mssante.fr>', WHEN,
            'processed')) == ('<m1@parc.mssante.fr>', 'processed')


def test_a_line_break_in_a_subject_starts_no_header(pki):
    "A subject made from a document's title a colleague wrote"
    key, certificate = pki['parc']
    data = secure_mail.seal(
        secure_mail.compose('Voici.', PACKAGE), PARC, [NORD],
        'Lettre\r\nBcc: spy@example.org\nX-Evil: 1', '<m3@parc.mssante.fr>',
        WHEN, certificate, key, ())
    head = data.split(b'\r\n\r\n', 1)[0]
    assert not any(line.lower().startswith((b'bcc:', b'x-evil:'))
        for line in head.split(b'\r\n')), head
    assert opened(pki, data).subject == (
        'Lettre Bcc: spy@example.org X-Evil: 1')


def test_a_real_smtp_server_delivers_it_intact(pki):
    "Through aiosmtpd on loopback, as the clinic's relay would carry it"
    import smtplib
    import socket

    from aiosmtpd.controller import Controller
    delivered = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            delivered.append(envelope.original_content)
            return '250 OK'

    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname='127.0.0.1', port=port)
    controller.start()
    try:
        data = sealed(pki, encrypt=False)
        with smtplib.SMTP('127.0.0.1', port) as client:
            client.sendmail(PARC, [NORD], data)
    finally:
        controller.stop()
    received = opened(pki, delivered[0])
    assert received.package == PACKAGE and received.sender == PARC



def test_an_encrypted_message_keeps_its_subject_inside(pki):
    "The subject names the patient: only the recipient reads it"
    data = sealed(pki)
    assert b'Bernard' not in data and b'Subject: [...]' in data
    assert opened(pki, data).subject == 'Lettre de sortie – Bernard'
    # Signed only, it is in the headers, as the sender wrote it
    data = sealed(pki, encrypt=False)
    assert opened(pki, data).subject == 'Lettre de sortie – Bernard'
