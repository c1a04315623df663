#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Listing one patient's documents with the privacy policy on PostgreSQL.

With N documents in the database (200,000 by default) over many patients,
1,000 of them on one patient (some masked, very restricted, withdrawn), a
doctor lists that patient's documents as the client fills the patient's
Shared Record tab: a search, then a read of the tab's columns. The same
listing without the policy (the same calls as root, whom the guard lets see
everything) is the baseline, in the same run.  Then the guard's cost per
call: a doctor's read of one document's title, against root's.

    .venv/bin/python bench/privacy_listing.py [--documents 200000]
"""
import argparse
import datetime as dt
import os
import statistics
import sys
import time

os.environ.setdefault(
    'TRYTOND_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')
os.environ['DB_NAME'] = 'bench_shared_record_privacy'
os.environ.pop('DB_CACHE', None)

from trytond.pool import Pool  # noqa: E402
from trytond.tests.test_tryton import (  # noqa: E402
    DB_NAME, activate_module, db_exist, drop_db)
from trytond.transaction import Transaction, check_access  # noqa: E402

from clinic import (  # noqa: E402
    create_clinic, create_doctors, create_patient_parties)

PATIENTS = 2000
ONE_PATIENT = 1000
# The columns of the patient's Shared Record tab, as the client reads them
LIST_FIELDS = [
    'document_type', 'document_type.rec_name', 'effective_date', 'title',
    'version', 'author_name', 'confidentiality', 'masked', 'state']


def setup(count):
    pool = Pool()
    Patient = pool.get('gnuhealth.patient')
    Document = pool.get('gnuhealth.shared_record.document')
    DocumentType = pool.get('gnuhealth.shared_record.document.type')

    company, institution = create_clinic()
    users, (reader, author, blocked) = create_doctors(
        ['reader', 'author', 'blocked'], company, institution)

    patient_parties = create_patient_parties(PATIENTS)
    patients = Patient.create([{
                'party': p, 'primary_care_doctor': author,
                'shared_record_blocked_professionals': [
                    ('add', [blocked.id])] if i % 10 == 0 else [],
                } for i, p in enumerate(patient_parties)])
    types = DocumentType.search([])
    content = b'<ClinicalDocument/>'
    # Made as published documents would be, without building each CDA:
    # publishing is measured by publish_summaries.py
    values = []
    for i in range(count):
        patient = patients[0] if i < ONE_PATIENT else patients[
            1 + i % (len(patients) - 1)]
        values.append({
                'patient': patient.id,
                'document_type': types[i % len(types)].id,
                'title': f'Document {i}',
                'effective_date': dt.datetime(2020, 1, 1) + dt.timedelta(
                    hours=i),
                'author': author.id,
                'author_name': 'Author Doctor',
                'institution': institution.id,
                'state': 'withdrawn' if i % 50 == 0 else 'published',
                'confidentiality': 'V' if i % 20 == 0 else 'N',
                'masked': i % 7 == 0,
                'unique_id': f'urn:uuid:bench-{i}',
                'set_id': f'urn:uuid:bench-{i}',
                'version': 1,
                'content': content,
                'sha256': '0' * 64,
                'size': len(content),
                'published_date': dt.datetime(2020, 1, 1),
                })
        if len(values) == 5000:
            Document.create(values)
            values = []
    if values:
        Document.create(values)
    return users[0].id, company.id, patients[0].id


def listing(user, company, patient_id, policy):
    """List the patient's documents as the client does, as the doctor or
    as root; return the seconds"""
    with Transaction().start(DB_NAME, user if policy else 0, readonly=True,
            context={'company': company}), check_access():
        Document = Pool().get('gnuhealth.shared_record.document')
        start = time.perf_counter()
        ids = Document.search([('patient', '=', patient_id)])
        Document.read(ids, LIST_FIELDS)
        return time.perf_counter() - start, len(ids)


def one_read(user, company, document_id, policy, calls=200):
    "The seconds of one read of one title, as the doctor or as root"
    with Transaction().start(DB_NAME, user if policy else 0, readonly=True,
            context={'company': company}), check_access():
        Document = Pool().get('gnuhealth.shared_record.document')
        start = time.perf_counter()
        for _ in range(calls):
            Document.read([document_id], ['title'])
        return (time.perf_counter() - start) / calls


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--documents', type=int, default=200_000)
    parser.add_argument('--rounds', type=int, default=20)
    arguments = parser.parse_args()

    if db_exist(DB_NAME):
        drop_db(DB_NAME)
    print(f'database {DB_NAME} on {os.environ["TRYTOND_DATABASE_URI"]}')
    activate_module('health_shared_record')
    start = time.perf_counter()
    with Transaction().start(DB_NAME, 0) as transaction:
        user, company, patient_id = setup(arguments.documents)
        transaction.commit()
    print(f'{arguments.documents} documents over {PATIENTS} patients, '
        f'{ONE_PATIENT} on one, made in {time.perf_counter() - start:.0f} s')
    with Transaction().start(DB_NAME, 0) as transaction:
        transaction.connection.cursor().execute('ANALYZE')
        transaction.commit()

    results = {}
    for policy in [False, True] * 2:
        listing(user, company, patient_id, policy)
    for policy in [False, True]:
        timings = []
        for _ in range(arguments.rounds):
            seconds, count = listing(user, company, patient_id, policy)
            timings.append(seconds)
        results[policy] = (statistics.median(timings), count)
    base, base_count = results[False]
    ruled, ruled_count = results[True]
    print(f'without the policy: {base_count} documents listed in '
        f'{base * 1000:.1f} ms (median of {arguments.rounds})')
    print(f'with the policy:    {ruled_count} documents listed in '
        f'{ruled * 1000:.1f} ms (median of {arguments.rounds})')
    print(f'ratio: {ruled / base:.2f} (target <= 1.5, listing < 100 ms)')
    with Transaction().start(DB_NAME, 0, readonly=True):
        Document = Pool().get('gnuhealth.shared_record.document')
        document_id, = Document.search([
                ('patient', '=', patient_id), ('masked', '=', False),
                ('confidentiality', '=', 'N'), ('state', '=', 'published'),
                ], limit=1)
    reads = {
        policy: statistics.median(
            one_read(user, company, document_id.id, policy)
            for _ in range(5))
        for policy in [False, True]}
    print(f'one read of a title: {reads[False] * 1000:.2f} ms as root, '
        f'{reads[True] * 1000:.2f} ms as the doctor: the guard costs '
        f'{(reads[True] - reads[False]) * 1000:.2f} ms a call')
    drop_db(DB_NAME)
    return 0 if ruled / base <= 1.5 and ruled < 0.1 else 1


if __name__ == '__main__':
    sys.exit(main())
