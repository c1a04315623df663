#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Publishing to a real FHIR repository (Medplum's server on loopback).

On PostgreSQL, N published documents (1,000 by default) are sent to the
repository one by one (one transaction Bundle each), then N others in
batches of --batch documents per Bundle, in the same run.  Then, with a
`trytond-worker` queue worker running, documents are published one at a
time and the script measures how long each takes to be `sent`.

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
from trytond.transaction import Transaction  # noqa: E402

from clinic import (  # noqa: E402
    create_clinic, create_doctors, create_patient_parties)
from helpers import FHIRServer  # noqa: E402

PATIENTS = 100


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
    with Transaction().start(DB_NAME, 0) as transaction:
        Document = Pool().get('gnuhealth.shared_record.document')
        start = time.perf_counter()
        Document.send_to_repository(Document.browse(documents), batch=batch)
        seconds = time.perf_counter() - start
        sent = Document.search_count([
                ('id', 'in', documents), ('exchange_state', '=', 'sent')])
        transaction.commit()
    return seconds, sent


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
    arguments = parser.parse_args()

    peer = FHIRServer()
    url = peer.start()
    if db_exist(DB_NAME):
        drop_db(DB_NAME)
    print(f'database {DB_NAME} on {os.environ["TRYTOND_DATABASE_URI"]}, '
        f'FHIR server {url}')
    activate_module('health_shared_record')
    count = arguments.documents
    with Transaction().start(DB_NAME, 0) as transaction:
        user, company, documents, patient, note = setup(count)
        ids = [d.id for d in documents]
        Configuration = Pool().get('gnuhealth.shared_record.configuration')
        configuration = Configuration(1)
        configuration.oid_root = '1.2.250.1.999'
        configuration.repository_url = url
        configuration.save()
        transaction.commit()

    single, sent_single = send(ids[:count], 1)
    batched, sent_batched = send(ids[count:], arguments.batch)
    on_peer = requests.get(f'{url}/DocumentReference', params={
            '_count': '0', '_total': 'accurate'}, timeout=60).json()['total']
    print(f'one by one: {count} documents in {single:.1f} s, '
        f'{count / single:.0f} documents/s ({sent_single} sent)')
    print(f'batched by {arguments.batch}: {count} documents in '
        f'{batched:.1f} s, {count / batched:.0f} documents/s '
        f'({sent_batched} sent)')
    print(f'ratio batched / one by one: {single / batched:.2f}')
    print(f'on the repository: {on_peer} DocumentReference '
        f'(expected {2 * count})')

    latencies = queue_latency(user, company, patient, note, arguments.queued)
    latencies.sort()
    print(f'publish to sent with 2 queue workers: median '
        f'{statistics.median(latencies) * 1000:.0f} ms, p95 '
        f'{latencies[math.ceil(len(latencies) * 0.95) - 1] * 1000:.0f} ms, '
        f'max '
        f'{latencies[-1] * 1000:.0f} ms ({len(latencies)} documents)')
    peer.stop()
    drop_db(DB_NAME)
    return 0 if on_peer == 2 * count and sent_single + sent_batched == (
        2 * count) else 1


if __name__ == '__main__':
    sys.exit(main())
