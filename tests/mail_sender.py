# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Another clinic's messaging software, honest or not, for the tests: it
packs documents in IHE XDM, seals them as MSSanté carries them and hands
them to the test SMTP server, or makes the packages and messages an
attacker would"""
import datetime as dt
import io
import smtplib
import zipfile

from health_shared_record import mhd, secure_mail, xdm

INS_SYSTEM = '1.2.250.1.213.1.4.8'
SOURCE = mhd.Metadata('1.2.250.1.888')


def package(content, unique_id, national_id, title='Lettre de liaison',
        type_code='11488-4'):
    "An IHE_XDM.ZIP holding a CDA document"
    document = mhd.Document(
        unique_id=unique_id, state='published', type_code=type_code,
        type_name='Discharge letter', title=title,
        patient=mhd.Patient([(INS_SYSTEM, national_id)]),
        date=dt.datetime(2026, 12, 1, 9, 0), author_name='Durand',
        custodian_name='Hôpital Nord', content=content)
    return xdm.package(
        [document], SOURCE, '1.2.250.1.888.7.%s' % unique_id.rsplit('.')[-1],
        'Marc Durand', ['cabinet@parc.mssante.example'],
        dt.datetime(2026, 12, 1, 9, 0), 'From the Hôpital Nord', title)


def zipped(files, compression=zipfile.ZIP_DEFLATED):
    "A ZIP of files {name: bytes}, whatever their names say"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def message(package_, identity, sender, recipient, subject, number,
        encrypt_for=None, receipt=False, text='Voici le document.'):
    "The sealed message: signed by identity (key, certificate)"
    key, certificate = identity
    return secure_mail.seal(
        secure_mail.compose(text, package_), sender, [recipient], subject,
        '<%s@nord.mssante.example>' % number,
        dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone.utc),
        certificate, key, [encrypt_for] if encrypt_for else (),
        receipt_to=sender if receipt else None)


def deliver(port, sender, recipient, data):
    "Hand data to the SMTP server, as the operator's relay would"
    with smtplib.SMTP('127.0.0.1', port) as client:
        client.sendmail(sender, [recipient], data)
