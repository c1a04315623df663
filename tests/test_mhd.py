# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""mhd.py on its own: what it sends and how it reads what comes back"""
import base64
import datetime as dt
import hashlib
import json

import pytest

from health_shared_record import mhd

from helpers import StubRepository

CONTENT = b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>'
METADATA = mhd.Metadata('1.2.250.1.999')


def document(**values):
    values = {
        'unique_id': '1.2.250.1.999.1.1', 'state': 'published',
        'type_code': '11488-4', 'type_name': 'Consult note',
        'title': 'Note', 'date': dt.datetime(2026, 11, 2, 9, 30),
        'author_name': 'Martin, Claire', 'content': CONTENT,
        'patient': mhd.Patient(
            [('1.2.250.1.213.1.4.8', '280017512345678'),
                ('1.2.250.1.999.2', 'PUID-1')],
            given='Ana', family='Lima', gender='f',
            birth_date=dt.date(1980, 2, 29)),
        **values}
    return mhd.Document(**values)


def test_bundle_creates_the_patient_once_by_the_first_identifier():
    bundle = mhd.provide_bundle(
        [document(), document(unique_id='1.2.250.1.999.1.2')],
        mhd.Metadata('1.2.3'))
    patients = [e for e in bundle['entry']
        if e['resource']['resourceType'] == 'Patient']
    assert len(patients) == 1
    patient, = patients
    assert patient['request'] == {
        'method': 'POST', 'url': 'Patient',
        'ifNoneExist':
            'identifier=urn:oid:1.2.250.1.213.1.4.8|280017512345678'}
    assert patient['resource']['gender'] == 'female'
    assert patient['resource']['birthDate'] == '1980-02-29'
    assert patient['resource']['name'] == [
        {'family': 'Lima', 'given': ['Ana']}]
    references = [e['resource'] for e in bundle['entry']
        if e['resource']['resourceType'] == 'DocumentReference']
    assert {r['subject']['reference'] for r in references} == {
        patient['fullUrl']}


def test_read_reference_reads_what_document_reference_wrote():
    resource = mhd.document_reference(document(
            confidentiality='R', masked=True, replaces=['1.2.250.1.999.1.0'],
            custodian_id='CLINIC-1', custodian_name='Clinique du Parc'),
        METADATA)
    reference = mhd.read_reference(resource)
    assert reference.unique_id == '1.2.250.1.999.1.1'
    assert reference.state == 'published'
    assert (reference.type_code, reference.title) == ('11488-4', 'Note')
    assert reference.date == dt.datetime(2026, 11, 2, 9, 30)
    assert reference.size == len(CONTENT)
    assert reference.sha1 == hashlib.sha1(CONTENT).digest()
    assert (reference.confidentiality, reference.masked) == ('R', True)
    assert reference.replaces == ['1.2.250.1.999.1.0']
    assert reference.custodian_name == 'Clinique du Parc'
    assert reference.author_name == 'Martin, Claire'
    mhd.check_content(reference, CONTENT)
    with pytest.raises(mhd.ContentError) as error:
        mhd.check_content(reference, CONTENT.replace(b'3', b'4'))
    assert error.value.reason == 'hash_mismatch'
    with pytest.raises(mhd.ContentError) as error:
        mhd.check_content(reference, CONTENT + b' ')
    assert error.value.reason == 'size_mismatch'


@pytest.mark.parametrize('change, reason, field', [
        (lambda r: r.pop('masterIdentifier'), 'no_identifier', None),
        (lambda r: r.update(status='draft'), 'bad_reference', 'status'),
        (lambda r: r.update(type={'text': 'letter'}), 'bad_reference',
            'type'),
        (lambda r: r.update(content=[]), 'bad_reference',
            'content.attachment.url'),
        (lambda r: r['content'][0]['attachment'].update(size=True),
            'bad_reference', 'content.attachment.size'),
        (lambda r: r['content'][0]['attachment'].update(size='12'),
            'bad_reference', 'content.attachment.size'),
        (lambda r: r['content'][0]['attachment'].update(hash='not base64!'),
            'bad_reference', 'content.attachment.hash'),
        (lambda r: r['content'][0]['attachment'].update(
                hash=base64.b64encode(b'short').decode()),
            'bad_reference', 'content.attachment.hash'),
        ])
def test_read_reference_refuses_what_it_cannot_trust(change, reason, field):
    resource = mhd.document_reference(document(), METADATA)
    change(resource)
    with pytest.raises(mhd.ContentError) as error:
        mhd.read_reference(resource)
    assert error.value.reason == reason
    assert error.value.params.get('field') == field


@pytest.fixture
def stub():
    stub = StubRepository()
    url = stub.start()
    yield stub, mhd.Connection(url=url, timeout=5)
    stub.stop()


def test_retrieve_reads_a_binary_or_raw_content(stub):
    stub, connection = stub
    binary = {'resourceType': 'Binary', 'contentType': 'text/xml',
        'data': base64.b64encode(CONTENT).decode()}
    stub.answers = [
        stub.status(200, json.dumps(binary).encode()),
        stub.status(200, CONTENT, 'text/xml'),
        stub.status(200, b'{"resourceType": "Patient"}'),
        stub.status(200, b'{"resourceType": "Binary", "data": "@@"}'),
        ]
    assert connection.retrieve('Binary/1', 1000) == CONTENT
    assert connection.retrieve(connection.url + '/Binary/1', 1000) == CONTENT
    for _ in range(2):
        with pytest.raises(mhd.ContentError) as error:
            connection.retrieve('Binary/1', 1000)
        assert error.value.reason == 'not_binary'


def test_retrieve_stops_reading_at_the_limit(stub):
    stub, connection = stub
    stub.answers = [
        stub.status(200, b'x' * 200_000),
        stub.endless(),
        ]
    for _ in range(2):
        with pytest.raises(mhd.ContentError) as error:
            connection.retrieve('Binary/1', 1000)
        assert error.value.reason == 'too_large'


def test_search_follows_pages_and_refuses_what_is_not_a_bundle(stub):
    stub, connection = stub
    reference = mhd.document_reference(document(), METADATA)
    page = {'resourceType': 'Bundle', 'type': 'searchset',
        'entry': [{'resource': reference}, {'resource': {
                    'resourceType': 'OperationOutcome'}}, 'junk']}
    stub.answers = [
        stub.status(200, json.dumps(dict(page, link=[{
                            'relation': 'next',
                            'url': connection.url + '/DocumentReference?p=2',
                            }])).encode()),
        stub.status(200, json.dumps(page).encode()),
        stub.status(200, b'[]'),
        ]
    assert connection.find_references('urn:oid:1.2', '3') == [
        reference, reference]
    assert stub.requests[0][1] == (
        '/DocumentReference?patient.identifier=urn%3Aoid%3A1.2%7C3'
        '&status=current%2Csuperseded%2Centered-in-error&_count=100')
    assert stub.requests[1][1] == '/DocumentReference?p=2'
    with pytest.raises(mhd.RepositoryError) as error:
        connection.find_references('urn:oid:1.2', '3')
    assert not error.value.retryable


def test_nothing_outside_the_repository_is_followed(stub):
    "A hostile repository cannot send the client and its credentials away"
    stub, connection = stub
    elsewhere = 'http://169.254.169.254/latest/meta-data'
    with pytest.raises(mhd.ContentError) as error:
        connection.retrieve(elsewhere, 1000)
    assert error.value.reason == 'foreign_url'
    stub.answers = [stub.status(200, json.dumps({
                    'resourceType': 'Bundle', 'type': 'searchset',
                    'link': [{'relation': 'next', 'url': elsewhere}],
                    }).encode())]
    with pytest.raises(mhd.RepositoryError, match='outside the repository'):
        connection.find_references('urn:oid:1.2', '3')
    assert len(stub.requests) == 1


def test_search_pages_by_offset_when_the_server_gives_no_links(stub):
    stub, connection = stub

    def page(*ids, total=5):
        return stub.status(200, json.dumps({
                    'resourceType': 'Bundle', 'type': 'searchset',
                    'total': total, 'entry': [{'resource': {
                                'resourceType': 'DocumentReference',
                                'id': i}} for i in ids]}).encode())
    stub.answers = [page('a', 'b'), page('c', 'd'), page('e')]
    found = connection.find_references('urn:oid:1.2', '3', count=2)
    assert [r['id'] for r in found] == ['a', 'b', 'c', 'd', 'e']
    assert [path.rsplit('_offset=', 1)[-1] if '_offset' in path else None
        for _, path, _ in stub.requests] == [None, '2', '4']

    # A server that ignores the offset sends the same page again: it ends
    stub.requests.clear()
    stub.answers = [page('a', 'b', total=None), page('a', 'b', total=None)]
    found = connection.find_references('urn:oid:1.2', '3', count=2)
    assert [r['id'] for r in found] == ['a', 'b']
    assert len(stub.requests) == 2
