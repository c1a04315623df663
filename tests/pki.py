# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The certificates of the messaging tests: an authority, as the ANS is for
MSSanté, and the S/MIME identities it issues to mailboxes"""
import datetime as dt
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

NOW = dt.datetime.now(dt.timezone.utc)


def make(name, issuer=None, days=365, start=None):
    """A key and its certificate (key, certificate), issued by issuer (a
    pair as this returns), or an authority of its own when issuer is None;
    an issued certificate names name as its e-mail address"""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = start or NOW - dt.timedelta(days=1)
    builder = (x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[1].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days)))
    if issuer is None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.RFC822Name(name)]), critical=False)
    return key, builder.sign(issuer[0] if issuer else key, hashes.SHA256())


def pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def write(directory, name, pair):
    """Write pair's certificate and key in directory as name.crt and
    name.key; return their paths"""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key, certificate = pair
    certificate_path = directory / f'{name}.crt'
    key_path = directory / f'{name}.key'
    certificate_path.write_bytes(pem(certificate))
    key_path.write_bytes(key_pem(key))
    key_path.chmod(0o600)
    return str(certificate_path), str(key_path)
