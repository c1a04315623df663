#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Incremental fetch (issue 19) against a real FHIR repository (Medplum's
server on loopback).

Five other clinics published --documents documents (200 by default) for one
patient over the last two years.  The script times, in the same run:

1. the first fetch, which imports them all;
2. after 5 new documents, the incremental fetch (what changed since);
3. after 5 more, a Fetch All, which asks for everything as every fetch did
   before issue 19: the baseline of the second fetch.

For each: seconds, DocumentReferences the searches returned, documents
downloaded, bytes received, and the ratio Fetch All / incremental.

    .venv/bin/python bench/fetch_incremental.py [--documents 200]
"""
import argparse
import datetime as dt
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
os.environ.setdefault(
    'TRYTOND_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')
os.environ['TRYTOND_DATABASE__URI'] = os.environ['TRYTOND_DATABASE_URI']
os.environ['DB_NAME'] = 'bench_shared_record_fetch'
os.environ.pop('DB_CACHE', None)
sys.path.insert(0, str(ROOT / 'tests'))

from trytond.config import config  # noqa: E402
from trytond.pool import Pool  # noqa: E402
from trytond.tests.test_tryton import (  # noqa: E402
    DB_NAME, activate_module, db_exist, drop_db)
from trytond.transaction import (  # noqa: E402
    Transaction, TransactionError)

from clinic import create_clinic, create_patient_parties  # noqa: E402
from health_shared_record import mhd  # noqa: E402
from helpers import (  # noqa: E402
    INS_SYSTEM, FHIRServer, publish_cda_on_peer)

INS = '270057512345621'
CLINICS = [
    (f'1.2.250.1.77{k}', name) for k, name in enumerate([
            'Hôpital Nord', 'Clinique du Lac', 'Centre de Santé Sud',
            'Cabinet Pasteur', 'Hôpital Saint-Louis'])]


class Traffic:
    "What the module received from the repository"
    references = downloads = received = 0
    _request = mhd.Connection._request
    _find = mhd.Connection.find_references

    @classmethod
    def install(cls):
        def request(connection, method, path, **kwargs):
            response = cls._request(connection, method, path, **kwargs)
            if path.startswith('Binary/') or '/Binary/' in path:
                cls.downloads += 1
            cls.received += int(response.headers.get('Content-Length') or 0)
            return response

        def find(connection, *args, **kwargs):
            found = cls._find(connection, *args, **kwargs)
            cls.references += len(found)
            return found
        mhd.Connection._request = request
        mhd.Connection.find_references = find

    @classmethod
    def reset(cls):
        cls.references = cls.downloads = cls.received = 0


def setup(url):
    pool = Pool()
    Configuration = pool.get('gnuhealth.shared_record.configuration')
    Identification = pool.get('gnuhealth.person_alternative_identification')
    Patient = pool.get('gnuhealth.patient')
    create_clinic()
    party, = create_patient_parties(1)
    patient, = Patient.create([{'party': party.id}])
    Identification.create([{
                'party': party.id, 'alternative_id_type': 'country_id',
                'code': INS}])
    configuration = Configuration(1)
    configuration.oid_root = '1.2.250.1.999'
    configuration.national_identifier_type = 'country_id'
    configuration.national_identifier_system = INS_SYSTEM
    configuration.repository_url = url
    configuration.save()
    return patient.id


def publish(url, numbers, now):
    for i in numbers:
        oid, name = CLINICS[i % len(CLINICS)]
        publish_cda_on_peer(
            url, INS, f'{oid}.1.{i}', now - dt.timedelta(days=3 * i),
            clinic=oid, custodian=name)


def fetch(patient, full=False):
    "Run a fetch as the queue does; its counts, seconds and traffic"
    with Transaction().start(DB_NAME, 0) as transaction:
        Fetch = Pool().get('gnuhealth.shared_record.fetch')
        fetch_id, = map(int, Fetch.create([
                    {'patient': patient, 'full': full}]))
        transaction.commit()
    extras = {}
    while True:
        Traffic.reset()
        start = time.perf_counter()
        with Transaction().start(DB_NAME, 0, **extras) as transaction:
            Fetch = Pool().get('gnuhealth.shared_record.fetch')
            try:
                Fetch.run([Fetch(fetch_id)])
            except TransactionError as error:
                transaction.rollback()
                error.fix(extras)
                continue
            record = Fetch(fetch_id)
            result = (record.state, record.found, record.imported,
                record.query)
            transaction.commit()
        seconds = time.perf_counter() - start
        return result, seconds, (
            Traffic.references, Traffic.downloads, Traffic.received)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--documents', type=int, default=200)
    parser.add_argument('--new', type=int, default=5)
    arguments = parser.parse_args()
    count, new = arguments.documents, arguments.new
    # The documents are published seconds before each fetch: with the
    # margin of five minutes every fetch would ask for all of them again
    if not config.has_section('health_shared_record'):
        config.add_section('health_shared_record')
    config.set('health_shared_record', 'fetch_margin', '0')
    Traffic.install()
    if db_exist(DB_NAME):
        drop_db(DB_NAME)
    print(f'database {DB_NAME} on {os.environ["TRYTOND_DATABASE_URI"]}')
    activate_module('health_shared_record')
    peer = FHIRServer()
    url = peer.start()
    now = dt.datetime.utcnow()
    publish(url, range(count), now)
    with Transaction().start(DB_NAME, 0) as transaction:
        patient = setup(url)
        transaction.commit()

    rows = []
    for label, numbers, full in [
            ('first fetch', (), False),
            (f'incremental, {new} new', range(count, count + new), False),
            (f'Fetch All, {new} new', range(count + new, count + 2 * new),
                True),
            ]:
        publish(url, numbers, now)
        time.sleep(1.1)  # the repository's clock counts seconds
        (state, found, imported, query), seconds, traffic = fetch(
            patient, full)
        rows.append((label, seconds, traffic))
        print(f'{label}: {state}, found {found}, imported {imported} in '
            f'{seconds:.2f} s; {traffic[0]} references, {traffic[1]} '
            f'downloads, {traffic[2] / 1024:.0f} KiB received; query '
            f'{query}', flush=True)
        if state != 'done' or imported != (count if not numbers else new):
            peer.stop()
            return 1
    peer.stop()
    (_, incremental, (refs_i, _, bytes_i)), (_, full, (refs_f, _, bytes_f)) = (
        rows[1:])
    print(f'ratio Fetch All / incremental: time {full / incremental:.1f}, '
        f'references {refs_f / max(refs_i, 1):.1f}, '
        f'bytes {bytes_f / max(bytes_i, 1):.1f}')
    drop_db(DB_NAME)
    return 0


if __name__ == '__main__':
    sys.exit(main())
