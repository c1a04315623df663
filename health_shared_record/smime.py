# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""S/MIME for secure messaging between professionals: a message is signed
with the clinic's key (a detached signature, multipart/signed, SHA-256),
then encrypted for each recipient whose certificate is known (enveloped
data, AES-256); a message received is decrypted with the clinic's key and
its signature verified against the certificates the clinic trusts.  No ORM
here: plain bytes in, plain bytes out, SmimeError with a reason otherwise.

Signing, encrypting and decrypting are the cryptography library's PKCS#7
builders.  It does not verify signatures, so verify() checks the CMS
SignedData itself, read with asn1crypto: the content's digest in the signed
attributes, the signature over them with the signer's key, and the signer's
certificate: valid at the time and issued by a trusted certificate (or one
itself).
"""
import datetime as dt
import email
import email.policy
import functools
import hashlib
import re

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

DIGESTS = {
    'sha256': (hashlib.sha256, hashes.SHA256),
    'sha384': (hashlib.sha384, hashes.SHA384),
    'sha512': (hashlib.sha512, hashes.SHA512),
    }


class SmimeError(Exception):
    """A message is refused: reason names the message the user reads"""

    def __init__(self, reason, **params):
        super().__init__(reason, params)
        self.reason = reason
        self.params = params


def load_certificate(data):
    "An X.509 certificate from PEM or DER bytes, or SmimeError"
    try:
        if b'-----BEGIN' in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise SmimeError('bad_certificate')


def load_key(data, password=None):
    "A private key from PEM bytes, or SmimeError"
    try:
        return _load_key(bytes(data), password)
    except (ValueError, TypeError):
        raise SmimeError('bad_key')


# Loading an RSA key checks it, some 25 ms: each message sent or opened
# loads the clinic's key, so the process keeps the last few by their bytes
# (the file is still read each time: a key replaced on disk is used at once)
@functools.lru_cache(maxsize=16)
def _load_key(data, password):
    return serialization.load_pem_private_key(data, password)


def crlf(data):
    "The MIME entity with CRLF line ends, as it is signed and sent"
    return re.sub(rb'\r?\n', b'\r\n', data)


def sign(entity, certificate, key):
    """The MIME entity (bytes with its headers) signed: a multipart/signed
    message whose first part is the entity as it was signed"""
    return (pkcs7.PKCS7SignatureBuilder()
        .set_data(crlf(entity))
        .add_signer(certificate, key, hashes.SHA256())
        .sign(serialization.Encoding.SMIME, [
                pkcs7.PKCS7Options.DetachedSignature]))


def encrypt(entity, certificates):
    "The MIME entity enveloped for the certificates' keys (AES-256-CBC)"
    builder = (pkcs7.PKCS7EnvelopeBuilder()
        .set_data(crlf(entity))
        .set_content_encryption_algorithm(
            pkcs7.algorithms.AES256))
    for certificate in certificates:
        builder = builder.add_recipient(certificate)
    return builder.encrypt(serialization.Encoding.SMIME, [])


def is_encrypted(message):
    content_type = message.get_content_type()
    return (content_type in {
            'application/pkcs7-mime', 'application/x-pkcs7-mime'}
        and message.get_param('smime-type', 'enveloped-data').lower()
        == 'enveloped-data')


def decrypt(data, certificate, key):
    "The MIME entity inside an enveloped message, or SmimeError"
    try:
        return pkcs7.pkcs7_decrypt_smime(data, certificate, key, [])
    except ValueError:
        raise SmimeError('not_for_us')


def _signed_parts(data):
    """The first part of a multipart/signed message as its bytes on the
    wire, and the signature's DER"""
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    if message.get_content_type() != 'multipart/signed':
        raise SmimeError('not_signed')
    boundary = message.get_boundary()
    if not boundary:
        raise SmimeError('bad_signature')
    marker = b'--' + boundary.encode('ascii', 'replace')
    # The first part as it is on the wire: the signature covers its bytes
    body = crlf(data)
    body = body[body.find(b'\r\n\r\n') + 4:]
    start = 0 if body.startswith(marker + b'\r\n') else body.find(
        b'\r\n' + marker + b'\r\n') + 2
    if start == 1:
        raise SmimeError('bad_signature')
    first = start + len(marker) + 2
    end = body.find(b'\r\n' + marker, first)
    if end == -1:
        raise SmimeError('bad_signature')
    content = body[first:end]
    parts = message.get_payload()
    if not isinstance(parts, list) or len(parts) != 2:
        raise SmimeError('bad_signature')
    signature = parts[1]
    if signature.get_content_type() not in {
            'application/pkcs7-signature',
            'application/x-pkcs7-signature'}:
        raise SmimeError('bad_signature')
    der = signature.get_payload(decode=True)
    if not der:
        raise SmimeError('bad_signature')
    return content, der


def _public_verify(public_key, signature, data, hash_class):
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), hash_class())
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(hash_class()))
    else:
        raise InvalidSignature()


def _issued_by(certificate, issuer):
    if certificate.issuer != issuer.subject or not _authority(issuer):
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _authority(certificate):
    """Whether the certificate may issue others: a signer the clinic
    trusts as itself vouches for no one else"""
    try:
        if not certificate.extensions.get_extension_for_class(
                x509.BasicConstraints).value.ca:
            return False
    except x509.ExtensionNotFound:
        return False
    try:
        return certificate.extensions.get_extension_for_class(
            x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        return True


def _valid_at(certificate, at):
    return (certificate.not_valid_before_utc <= at
        <= certificate.not_valid_after_utc)


def verify(data, trusted, at=None):
    """The MIME entity a multipart/signed message signs and the signer's
    certificate, when the signature holds and the signer is trusted:
    trusted is a list of certificates (authorities, or signers
    themselves); otherwise SmimeError"""
    at = at or dt.datetime.now(dt.timezone.utc)
    content, der = _signed_parts(data)
    try:
        info = cms.ContentInfo.load(der)
        if info['content_type'].native != 'signed_data':
            raise SmimeError('bad_signature')
        signed = info['content']
        signers = list(signed['signer_infos'])
        certificates = [
            x509.load_der_x509_certificate(c.chosen.dump())
            for c in signed['certificates'] or []
            if c.name == 'certificate']
    except (ValueError, TypeError, KeyError):
        raise SmimeError('bad_signature')
    if len(signers) != 1:
        raise SmimeError('bad_signature')
    signer = signers[0]
    digest_name = signer['digest_algorithm']['algorithm'].native
    if digest_name not in DIGESTS:
        raise SmimeError('bad_signature')
    digest, hash_class = DIGESTS[digest_name]
    attributes = signer['signed_attrs']
    if not attributes:
        raise SmimeError('bad_signature')
    digests = [a['values'][0].native for a in attributes
        if a['type'].native == 'message_digest']
    if digests != [digest(content).digest()]:
        raise SmimeError('bad_signature')
    sid = signer['sid']
    certificate = None
    for candidate in certificates:
        if sid.name == 'issuer_and_serial_number':
            serial = sid.chosen['serial_number'].native
            if candidate.serial_number == serial:
                certificate = candidate
                break
    if certificate is None:
        raise SmimeError('unknown_signer')
    # The signature is over the attributes' DER as a SET, not [0]
    signed_bytes = b'\x31' + attributes.dump()[1:]
    try:
        _public_verify(certificate.public_key(), signer['signature'].native,
            signed_bytes, hash_class)
    except InvalidSignature:
        raise SmimeError('bad_signature')
    if not _valid_at(certificate, at):
        raise SmimeError('expired_signer')
    if not any(certificate == t or (_issued_by(certificate, t)
                and _valid_at(t, at)) for t in trusted):
        raise SmimeError('untrusted_signer',
            signer=certificate.subject.rfc4514_string()[:200])
    return content, certificate
