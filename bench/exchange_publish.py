#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Exchange with a real FHIR repository (Medplum's server on loopback).

On PostgreSQL, N published documents (1,000 by default) are sent to the
repository one by one (one transaction Bundle each), then N others in
batches of --batch documents per Bundle, in the same run, each time to a
fresh repository.  The time spent waiting for the repository's answers is
measured apart from the module's own time.  Then, with `trytond-worker`
queue workers running, documents are published one at a time and the script
measures how long each takes to be `sent`.  Last, --fetched documents that
another clinic published for one patient are fetched (ITI-67 and ITI-68,
checked, stored with their data), against the same searches and downloads
made with plain requests as the baseline.

    .venv/bin/python bench/exchange_publish.py [--documents 1000]
"""
import argparse
import datetime as dt
import math
import os
import pathlib
import statistics
import subprocess
import sys
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent
os.environ.setdefault(
    'TRYTOND_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')
os.environ['TRYTOND_DATABASE__URI'] = os.environ['TRYTOND_DATABASE_URI']
os.environ['DB_NAME'] = 'bench_shared_record_exchange'
os.environ.pop('DB_CACHE', None)
# Tasks go to the queue workers instead of running after each commit
os.environ['TRYTOND_QUEUE__WORKER'] = 'True'
sys.path.insert(0, str(ROOT / 'tests'))

from trytond.pool import Pool  # noqa: E402
from trytond.tests.test_tryton import (  # noqa: E402
    DB_NAME, activate_module, db_exist, drop_db)
from trytond.transaction import (  # noqa: E402
    Transaction, TransactionError)

from clinic import (  # noqa: E402
    create_clinic, create_doctors, create_patient_parties)
from health_shared_record import cda, mhd  # noqa: E402
from helpers import INS_SYSTEM, FHIRServer, publish_on_peer  # noqa: E402

PATIENTS = 100
INS = '280017512345678'
PROFILE = None


class PeerClock:
    "Adds up the time spent in HTTP calls to the repository"
    seconds = 0.0
    calls = 0
    _request = mhd.Connection._request

    @classmethod
    def install(cls):
        def timed(connection, *args, **kwargs):
            start = time.perf_counter()
            try:
                return cls._request(connection, *args, **kwargs)
            finally:
                cls.seconds += time.perf_counter() - start
                cls.calls += 1
        mhd.Connection._request = timed

    @classmethod
    def reset(cls):
        cls.seconds, cls.calls = 0.0, 0


def use_peer(url):
    with Transaction().start(DB_NAME, 0) as transaction:
        Configuration = Pool().get('gnuhealth.shared_record.configuration')
        configuration = Configuration(1)
        configuration.repository_url = url
        configuration.save()
        transaction.commit()


def setup(count):
    "Make 2 × count published documents, not yet sent"
    pool = Pool()
    Patient = pool.get('gnuhealth.patient')
    Document = pool.get('gnuhealth.shared_record.document')
    DocumentType = pool.get('gnuhealth.shared_record.document.type')
    company, institution = create_clinic()
    users, (author,) = create_doctors(['author'], company, institution)
    patients = Patient.create([
            {'party': p.id} for p in create_patient_parties(PATIENTS)])
    note, = DocumentType.search([('code', '=', '11488-4')])
    # A consult note's size; publishing itself is measured elsewhere
    content = b'<ClinicalDocument>' + b'x' * 6000 + b'</ClinicalDocument>'
    values = [{
            'patient': patients[i % len(patients)].id,
            'document_type': note.id,
            'title': f'Document {i}',
            'effective_date': dt.datetime(2026, 1, 1) + dt.timedelta(hours=i),
            'author': author.id, 'author_name': 'Author Doctor',
            'institution': institution.id,
            'state': 'published', 'confidentiality': 'N',
            'unique_id': f'1.2.250.1.999.9.{i + 1}',
            'set_id': f'1.2.250.1.999.9.{i + 1}', 'version': 1,
            'content': content, 'sha256': '0' * 64, 'size': len(content),
            'published_date': dt.datetime(2026, 1, 1),
            'exchange_state': 'pending',
            } for i in range(2 * count)]
    documents = Document.create(values)
    return users[0].id, company.id, documents, patients[0].id, note.id


def send(documents, batch):
    """Send the documents to a fresh repository; return the seconds in all,
    the seconds waiting for the repository, the number sent and the number
    of DocumentReferences the repository holds"""
    peer = FHIRServer()
    url = peer.start()
    use_peer(url)
    PeerClock.reset()
    with Transaction().start(DB_NAME, 0) as transaction:
        Document = Pool().get('gnuhealth.shared_record.document')
        start = time.perf_counter()
        if PROFILE:
            import cProfile
            cProfile.runctx(
                'Document.send_to_repository(Document.browse(documents), '
                'batch=batch)', globals(), locals(), PROFILE)
        else:
            Document.send_to_repository(
                Document.browse(documents), batch=batch)
        seconds = time.perf_counter() - start
        sent = Document.search_count([
                ('id', 'in', documents), ('exchange_state', '=', 'sent')])
        transaction.commit()
    on_peer = requests.get(f'{url}/DocumentReference', params={
            '_count': '0', '_total': 'accurate'}, timeout=60).json()['total']
    peer.stop()
    return seconds, PeerClock.seconds, sent, on_peer


def summary_content(i):
    "A hospital's patient summary with a dozen entries"
    person = cda.Person(
        [cda.Identifier(INS_SYSTEM, INS)], 'Given0', 'Family0', 'f',
        dt.date(1970, 1, 1))
    header = cda.Header(
        unique_id=f'1.2.250.1.888.1.{i}', set_id=f'1.2.250.1.888.1.{i}',
        version=1,
        type_code=cda.Code('11488-4', cda.LOINC, 'Consult note'),
        title=f'Letter {i}', effective_time=dt.datetime(2026, 1, 1),
        confidentiality='N', language='fr-FR', realm='FR', patient=person,
        author=cda.Person([cda.Identifier('1.2.250.1.71.4.2.1', '2')]),
        author_time=dt.datetime(2026, 1, 1),
        custodian=cda.Organization(
            cda.Identifier('1.2.250.1.888.4', 'H'), 'Hôpital Nord'))
    problems = [cda.Observation(
            cda.Code('55607006', cda.SNOMED, 'Problem'),
            cda.Code(f'E1{k}', cda.ICD10, f'Condition {k}'),
            dt.date(2020, 1, 1 + k)) for k in range(6)]
    vaccines = [cda.Administration(
            f'Vaccine {k}', cda.Code('J07CA02', cda.ATC, 'DTaP-IPV'),
            start=dt.date(2025, 1, 1 + k), lot=f'LOT-{k}', dose_number=k + 1)
        for k in range(6)]
    return cda.build(header, [
            cda.Section(cda.section_code('11450-4'), 'Problems',
                [cda.Paragraph('…')], problems),
            cda.Section(cda.section_code('11369-6'), 'Immunizations',
                [cda.Paragraph('…')], vaccines),
            ])


def fetch(patient, count):
    """Publish count documents of another clinic for the patient, then
    fetch them; return the seconds in all, the seconds waiting for the
    repository, the number imported, and the seconds plain requests take
    to make the same searches and downloads"""
    peer = FHIRServer()
    url = peer.start()
    for i in range(count):
        publish_on_peer(url, INS, f'1.2.250.1.888.1.{i}', summary_content(i))
    use_peer(url)

    start = time.perf_counter()
    with requests.Session() as session:
        search = session.get(f'{url}/DocumentReference', params={
                'patient.identifier': f'urn:oid:{INS_SYSTEM}|{INS}',
                '_count': '100'}, timeout=60).json()
        pages = [search]
        while any(link['relation'] == 'next'
                for link in pages[-1].get('link', [])):
            following, = [link['url'] for link in pages[-1]['link']
                if link['relation'] == 'next']
            pages.append(session.get(following, timeout=60).json())
        for page in pages:
            for entry in page.get('entry', []):
                attachment = entry['resource']['content'][0]['attachment']
                session.get(f'{url}/{attachment["url"]}', timeout=60).json()
    baseline = time.perf_counter() - start

    with Transaction().start(DB_NAME, 0) as transaction:
        Fetch = Pool().get('gnuhealth.shared_record.fetch')
        fetch_id, = map(int, Fetch.create([{'patient': patient}]))
        transaction.commit()
    # As the queue runs a task: again with its locks when it asks for some
    extras = {}
    while True:
        PeerClock.reset()
        start = time.perf_counter()
        with Transaction().start(DB_NAME, 0, **extras) as transaction:
            Fetch = Pool().get('gnuhealth.shared_record.fetch')
            try:
                Fetch.run([Fetch(fetch_id)])
            except TransactionError as error:
                transaction.rollback()
                error.fix(extras)
                continue
            imported = Fetch(fetch_id).imported
            transaction.commit()
        seconds = time.perf_counter() - start
        break
    peer.stop()
    return seconds, PeerClock.seconds, imported, baseline


def queue_latency(user, company, patient, document_type, count):
    """Publish documents one at a time with workers running; return the
    seconds from each commit to its document being sent"""
    env = dict(os.environ)
    worker = subprocess.Popen(
        [str(pathlib.Path(sys.executable).parent / 'trytond-worker'),
            '-d', DB_NAME, '-n', '2'], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latencies = []
    try:
        time.sleep(3)
        for i in range(count):
            with Transaction().start(DB_NAME, user, context={
                        'company': company}) as transaction:
                Document = Pool().get('gnuhealth.shared_record.document')
                document, = Document.create([{
                            'patient': patient,
                            'document_type': document_type,
                            'title': f'Queued {i}',
                            'file': b'%PDF-1.4 queued',
                            'file_name': 'queued.pdf',
                            'file_type': 'application/pdf',
                            }])
                Document.publish([document])
                transaction.commit()
                document_id = document.id
            committed = time.perf_counter()
            while True:
                with Transaction().start(DB_NAME, 0, readonly=True):
                    Document = Pool().get(
                        'gnuhealth.shared_record.document')
                    if Document(document_id).exchange_state == 'sent':
                        break
                if time.perf_counter() - committed > 60:
                    raise RuntimeError('the worker did not send in 60 s')
                time.sleep(0.005)
            latencies.append(time.perf_counter() - committed)
    finally:
        worker.terminate()
        worker.wait(10)
    return latencies


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--documents', type=int, default=1000)
    parser.add_argument('--batch', type=int, default=50)
    parser.add_argument('--queued', type=int, default=50)
    parser.add_argument('--fetched', type=int, default=200)
    parser.add_argument(
        '--profile', metavar='FILE',
        help='write a cProfile of the sending to FILE (last phase wins)')
    arguments = parser.parse_args()
    global PROFILE
    PROFILE = arguments.profile

    PeerClock.install()
    if db_exist(DB_NAME):
        drop_db(DB_NAME)
    print(f'database {DB_NAME} on {os.environ["TRYTOND_DATABASE_URI"]}')
    activate_module('health_shared_record')
    count = arguments.documents
    with Transaction().start(DB_NAME, 0) as transaction:
        user, company, documents, patient, note = setup(count)
        ids = [d.id for d in documents]
        Configuration = Pool().get('gnuhealth.shared_record.configuration')
        configuration = Configuration(1)
        configuration.oid_root = '1.2.250.1.999'
        configuration.national_identifier_type = 'country_id'
        configuration.national_identifier_system = INS_SYSTEM
        configuration.save()
        Identification = Pool().get(
            'gnuhealth.person_alternative_identification')
        Patient = Pool().get('gnuhealth.patient')
        Identification.create([{
                    'party': Patient(patient).party.id,
                    'alternative_id_type': 'country_id', 'code': INS}])
        transaction.commit()

    results = {}
    for label, documents_, batch in [
            ('one by one', ids[:count], 1),
            (f'batched by {arguments.batch}', ids[count:], arguments.batch)]:
        print(f'{label}: sending {count} documents…', flush=True)
        seconds, waiting, sent, on_peer = send(documents_, batch)
        results[label] = seconds
        print(f'{label}: {count} documents in {seconds:.1f} s, '
            f'{count / seconds:.1f} documents/s; waiting for the repository '
            f'{waiting:.1f} s, the module {seconds - waiting:.1f} s '
            f'({(seconds - waiting) / count * 1000:.1f} ms a document); '
            f'{sent} sent, {on_peer} on the repository')
        if sent != count or on_peer != count:
            return 1
    single, batched = results.values()
    print(f'ratio batched / one by one: {single / batched:.2f}')

    peer = FHIRServer()
    use_peer(peer.start())
    latencies = queue_latency(user, company, patient, note, arguments.queued)
    peer.stop()
    latencies.sort()
    print(f'publish to sent with 2 queue workers: median '
        f'{statistics.median(latencies) * 1000:.0f} ms, p95 '
        f'{latencies[math.ceil(len(latencies) * 0.95) - 1] * 1000:.0f} ms, '
        f'max '
        f'{latencies[-1] * 1000:.0f} ms ({len(latencies)} documents)')

    seconds, waiting, imported, baseline = fetch(patient, arguments.fetched)
    print(f'fetch: {imported} documents in {seconds:.2f} s '
        f'({imported / seconds:.0f} documents/s); waiting for the repository '
        f'{waiting:.2f} s, the module {seconds - waiting:.2f} s '
        f'({(seconds - waiting) / max(imported, 1) * 1000:.1f} ms a document: '
        f'check, parse, store with its data)')
    print(f'plain requests, same searches and downloads: {baseline:.2f} s; '
        f'ratio fetch / plain requests: {seconds / baseline:.2f}')
    drop_db(DB_NAME)
    return 0 if imported == arguments.fetched else 1


if __name__ == '__main__':
    sys.exit(main())
