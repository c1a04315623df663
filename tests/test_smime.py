# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""S/MIME: what one clinic signs and encrypts, the other decrypts and
verifies; a forged, tampered, untrusted or misdirected message is refused
with its reason"""
import datetime as dt
import email
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from health_shared_record import smime
from pki import NOW, make

ENTITY = (b'Content-Type: text/plain; charset=utf-8\r\n\r\n'
    b'Lucie Bernard: discharge letter attached.\r\n')


@pytest.fixture(scope='module')
def pki():
    authority = make('Health Authority')
    return {
        'authority': authority,
        'parc': make('cabinet@parc.mssante.fr', authority),
        'nord': make('durand@hopital-nord.mssante.fr', authority),
        'other': make('someone@else.example', make('Other Authority')),
        }


def test_signed_and_encrypted_reads_back(pki):
    key, certificate = pki['parc']
    sent = smime.encrypt(smime.sign(ENTITY, certificate, key),
        [pki['nord'][1]])
    message = email.message_from_bytes(sent)
    assert smime.is_encrypted(message)
    assert b'Lucie' not in sent
    signed = smime.decrypt(sent, pki['nord'][1], pki['nord'][0])
    content, signer = smime.verify(signed, [pki['authority'][1]])
    assert content == ENTITY
    assert signer == certificate


def test_a_message_for_someone_else_is_refused(pki):
    sent = smime.encrypt(ENTITY, [pki['nord'][1]])
    with pytest.raises(smime.SmimeError) as error:
        smime.decrypt(sent, pki['parc'][1], pki['parc'][0])
    assert error.value.reason == 'not_for_us'


def test_a_tampered_message_is_refused(pki):
    signed = smime.sign(ENTITY, pki['parc'][1], pki['parc'][0])
    tampered = signed.replace(b'discharge letter', b'discharge lettex')
    assert tampered != signed
    with pytest.raises(smime.SmimeError) as error:
        smime.verify(tampered, [pki['authority'][1]])
    assert error.value.reason == 'bad_signature'


def test_an_untrusted_or_expired_signer_is_refused(pki):
    other = smime.sign(ENTITY, pki['other'][1], pki['other'][0])
    with pytest.raises(smime.SmimeError) as error:
        smime.verify(other, [pki['authority'][1]])
    assert error.value.reason == 'untrusted_signer'
    # A signer trusted by name is trusted
    assert smime.verify(other, [pki['other'][1]])[0] == ENTITY
    signed = smime.sign(ENTITY, pki['parc'][1], pki['parc'][0])
    with pytest.raises(smime.SmimeError) as error:
        smime.verify(signed, [pki['authority'][1]],
            at=NOW + dt.timedelta(days=400))
    assert error.value.reason == 'expired_signer'


def test_a_signer_trusted_as_itself_vouches_for_no_one_else(pki):
    """A colleague's certificate the clinic trusts by itself is not an
    authority: a certificate it issued for another address is refused"""
    nord = pki['nord']
    minted = make('cabinet@parc.mssante.fr', nord)
    signed = smime.sign(ENTITY, minted[1], minted[0])
    with pytest.raises(smime.SmimeError) as error:
        smime.verify(signed, [nord[1]])
    assert error.value.reason == 'untrusted_signer'
    # What the colleague signs herself still verifies
    own = smime.sign(ENTITY, nord[1], nord[0])
    assert smime.verify(own, [nord[1]])[0] == ENTITY


def test_a_forged_signature_is_refused(pki):
    "Signed with another key than the one of the certificate it shows"
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = smime.sign(ENTITY, pki['parc'][1], forger)
    with pytest.raises(smime.SmimeError) as error:
        smime.verify(forged, [pki['authority'][1]])
    assert error.value.reason == 'bad_signature'


def test_what_is_not_a_signed_message_is_refused(pki):
    for data, reason in [
            (ENTITY, 'not_signed'),
            (b'Content-Type: multipart/signed; boundary="b"\r\n\r\n'
                b'--b\r\nhello\r\n--b--\r\n', 'bad_signature'),
            ]:
        with pytest.raises(smime.SmimeError) as error:
            smime.verify(data, [pki['authority'][1]])
        assert error.value.reason == reason


@pytest.mark.skipif(not shutil.which('openssl'), reason='no openssl')
def test_openssl_verifies_what_is_signed(pki, tmp_path):
    "OpenSSL, which no one here wrote, reads the signature as valid"
    signed = smime.sign(ENTITY, pki['parc'][1], pki['parc'][0])
    (tmp_path / 'signed.eml').write_bytes(signed)
    (tmp_path / 'ca.pem').write_bytes(pki['authority'][1].public_bytes(
            serialization.Encoding.PEM))
    result = subprocess.run(['openssl', 'smime', '-verify', '-in',
            str(tmp_path / 'signed.eml'), '-CAfile',
            str(tmp_path / 'ca.pem'), '-purpose', 'any'],
        capture_output=True)
    assert result.returncode == 0, result.stderr
    assert b'discharge letter' in result.stdout


@pytest.mark.skipif(not shutil.which('openssl'), reason='no openssl')
def test_what_openssl_signs_verifies(pki, tmp_path):
    "A message signed by OpenSSL, as another clinic's software would"
    (tmp_path / 'entity').write_bytes(ENTITY)
    (tmp_path / 'cert.pem').write_bytes(pki['nord'][1].public_bytes(
            serialization.Encoding.PEM))
    (tmp_path / 'key.pem').write_bytes(pki['nord'][0].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    result = subprocess.run(['openssl', 'smime', '-sign', '-in',
            str(tmp_path / 'entity'), '-signer', str(tmp_path / 'cert.pem'),
            '-inkey', str(tmp_path / 'key.pem'), '-md', 'sha256',
            '-binary'], capture_output=True)
    assert result.returncode == 0, result.stderr
    content, signer = smime.verify(result.stdout, [pki['authority'][1]])
    assert content == ENTITY
    assert signer == pki['nord'][1]
