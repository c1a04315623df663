# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""IHE XDM packages: what the clinic sends reads back whole, and what it
receives is refused with its reason when it could harm or mislead"""
import datetime as dt
import hashlib
import io
import zipfile

import pytest
from lxml import etree

from health_shared_record import mhd, xdm

WHEN = dt.datetime(2026, 12, 2, 9, 30)
PATIENT = mhd.Patient(
    identifiers=[('1.2.250.1.213.1.4.8', '270057512345621')],
    given='Lucie', family='Bernard', gender='f',
    birth_date=dt.date(1970, 5, 17))
METADATA = mhd.Metadata(source_id='1.2.250.1.999')


def document(number, mime_type='text/xml', content=None, **values):
    return mhd.Document(
        unique_id=f'1.2.250.1.999.1.{number}', state='published',
        type_code='11488-4', type_name='Consult note',
        title=f'Consult note {number}', patient=PATIENT, date=WHEN,
        author_name='Martin, Claire', author_id='10101010101',
        custodian_name='Cabinet du Parc', custodian_id='1.2.250.1.999',
        mime_type=mime_type,
        content=content if content is not None
        else b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>', **values)


def sent(documents, renderings=None):
    return xdm.package(
        documents, METADATA, '1.2.250.1.999.9.1', 'Martin, Claire',
        ['dr.durand@hopital-nord.mssante.fr'], WHEN,
        'Sent by Cabinet du Parc with GNU Health.\n', 'Documents',
        renderings)


def zipped(files, compression=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def files_of(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist()}


def test_the_layout_is_ihe_xdm():
    data = sent([document(1), document(2, 'application/pdf', b'%PDF-1.4')],
        renderings={'1.2.250.1.999.1.1': b'%PDF-1.4 copy'})
    assert sorted(files_of(data)) == [
        'IHE_XDM/SUBSET01/DOC0001.PDF', 'IHE_XDM/SUBSET01/DOC0001.XML',
        'IHE_XDM/SUBSET01/DOC0002.PDF', 'IHE_XDM/SUBSET01/METADATA.XML',
        'INDEX.HTM', 'README.TXT']
    # DOC0001.PDF is the readable copy of the first, DOC0002.PDF the
    # second document itself
    index = files_of(data)['INDEX.HTM'].decode()
    assert 'IHE_XDM/SUBSET01/DOC0001.XML' in index
    assert 'Consult note 1' in index


def test_the_metadata_states_each_document():
    documents = [document(1), document(2)]
    root = etree.fromstring(files_of(sent(documents))[xdm.METADATA])
    entries = root.xpath('//rim:ExtrinsicObject', namespaces=xdm.NS)
    assert [e.get('objectType') for e in entries] == [xdm.DOCUMENT_ENTRY] * 2
    first = entries[0]
    assert xdm._slot_values(first, 'hash') == [
        hashlib.sha1(documents[0].content).hexdigest()]
    assert xdm._slot_values(first, 'size') == [
        str(len(documents[0].content))]
    assert xdm._slot_values(first, 'creationTime') == ['20261202093000']
    assert xdm._external_value(first, xdm.ENTRY_UNIQUE) == (
        '1.2.250.1.999.1.1')
    assert xdm._external_value(first, xdm.ENTRY_PATIENT) == (
        '270057512345621^^^&1.2.250.1.213.1.4.8&ISO')
    assert first.xpath(
        'rim:Classification[@classificationScheme=$s]/@nodeRepresentation',
        namespaces=xdm.NS, s=xdm.ENTRY_TYPE) == ['11488-4']
    package, = root.xpath('//rim:RegistryPackage', namespaces=xdm.NS)
    assert xdm._slot_values(package, 'intendedRecipient') == [
        '|^^^^^^^^^^^dr.durand@hopital-nord.mssante.fr']
    assert len(root.xpath('//rim:Association', namespaces=xdm.NS)) == 2


def test_what_is_sent_reads_back():
    documents = [document(1), document(2)]
    package = xdm.read(sent(
            documents, renderings={'1.2.250.1.999.1.2': b'%PDF-1.4 copy'}))
    assert package.submission_id == '1.2.250.1.999.9.1'
    assert package.source_id == '1.2.250.1.999'
    assert [(e.unique_id, e.content, e.type_code, e.title, e.mime_type)
        for e in package.entries] == [
        (d.unique_id, d.content, '11488-4', d.title, 'text/xml')
        for d in documents]
    assert package.entries[0].patient_ids == [
        ('1.2.250.1.213.1.4.8', '270057512345621')]
    assert package.entries[0].creation == WHEN
    assert package.renderings == {'1.2.250.1.999.1.2': b'%PDF-1.4 copy'}


def test_a_masked_or_restricted_document_stays_so():
    "The receiving clinic reads the patient's mask and the confidentiality"
    package = xdm.read(sent([
                document(1), document(2, confidentiality='V'),
                document(3, masked=True, confidentiality='R')]))
    assert [(e.confidentiality, e.masked) for e in package.entries] == [
        ('N', False), ('V', False), ('R', True)]


def metadata_of(*documents):
    return files_of(sent(list(documents)))[xdm.METADATA]


@pytest.mark.parametrize('name', [
        '../evil.xml', 'IHE_XDM/../../evil.xml', '/etc/passwd',
        'C:/Windows/evil.xml', 'IHE_XDM\\SUBSET01\\DOC0001.XML',
        'IHE_XDM/./SUBSET01/x'])
def test_a_path_outside_the_package_is_refused(name):
    data = zipped({xdm.METADATA: metadata_of(document(1)),
            'IHE_XDM/SUBSET01/DOC0001.XML': document(1).content,
            name: b'x'})
    with pytest.raises(xdm.PackageError) as error:
        xdm.read(data)
    assert error.value.reason == 'unsafe_path'


def test_a_metadata_uri_outside_the_subset_is_refused():
    metadata = metadata_of(document(1)).replace(
        b'DOC0001.XML', b'../../README.TXT')
    data = zipped({xdm.METADATA: metadata, 'README.TXT': b'x'})
    with pytest.raises(xdm.PackageError) as error:
        xdm.read(data)
    assert error.value.reason == 'unsafe_path'


def test_a_zip_bomb_is_refused_before_it_is_inflated():
    data = zipped({xdm.METADATA: metadata_of(document(1)),
            'IHE_XDM/SUBSET01/DOC0001.XML': b'\0' * (30 * 1024 * 1024)})
    assert len(data) < 100 * 1024
    with pytest.raises(xdm.PackageError) as error:
        xdm.read(data)
    assert error.value.reason in {'file_too_large', 'compression_ratio'}
    with pytest.raises(xdm.PackageError) as error:
        xdm.read(data, xdm.Limits(file_size=50 * 1024 * 1024))
    assert error.value.reason == 'compression_ratio'


def test_too_many_entries_or_too_large_are_refused():
    files = {f'IHE_XDM/SUBSET01/F{i}.TXT': b'x' for i in range(70)}
    with pytest.raises(xdm.PackageError) as error:
        xdm.read(zipped(files))
    assert error.value.reason == 'too_many_entries'
    big = zipped({xdm.METADATA: metadata_of(document(1)),
            'IHE_XDM/SUBSET01/DOC0001.XML': bytes(range(256)) * 4096},
        zipfile.ZIP_STORED)
    with pytest.raises(xdm.PackageError) as error:
        xdm.read(big, xdm.Limits(file_size=512 * 1024))
    assert error.value.reason == 'file_too_large'
    with pytest.raises(xdm.PackageError) as error:
        xdm.read(big, xdm.Limits(total_size=512 * 1024))
    assert error.value.reason == 'package_too_large'


def test_a_document_that_is_not_what_its_metadata_says_is_refused():
    data = zipped({xdm.METADATA: metadata_of(document(1)),
            'IHE_XDM/SUBSET01/DOC0001.XML': b'<other/>'})
    with pytest.raises(xdm.PackageError) as error:
        xdm.read(data)
    assert error.value.reason == 'document_mismatch'
    data = zipped({xdm.METADATA: metadata_of(document(1))})
    with pytest.raises(xdm.PackageError) as error:
        xdm.read(data)
    assert (error.value.reason, error.value.params) == (
        'missing_document', {'path': 'DOC0001.XML'})


def test_what_is_not_a_package_is_refused():
    for data, reason in [
            (b'not a zip', 'not_a_package'),
            (zipped({'README.TXT': b'hello'}), 'no_metadata'),
            (zipped({xdm.METADATA: b'<unclosed'}), 'bad_metadata'),
            (zipped({xdm.METADATA: b'<a/>'}), 'bad_metadata'),
            ]:
        with pytest.raises(xdm.PackageError) as error:
            xdm.read(data)
        assert error.value.reason == reason


def test_metadata_with_a_doctype_is_refused():
    "XDS metadata has no DTD; entities in one are an attack"
    metadata = metadata_of(document(1)).replace(
        b"<?xml version='1.0' encoding='UTF-8'?>",
        b"<?xml version='1.0' encoding='UTF-8'?>"
        b'<!DOCTYPE r [<!ENTITY x "EXPANDED">]>').replace(
        b'value="Consult note 1"', b'value="&x;"')
    data = zipped({xdm.METADATA: metadata,
            'IHE_XDM/SUBSET01/DOC0001.XML': document(1).content})
    with pytest.raises(xdm.PackageError) as error:
        xdm.read(data)
    assert error.value.reason == 'bad_metadata'
