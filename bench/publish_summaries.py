#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Publishing patient summaries on PostgreSQL.

Publishes one patient summary for each of N patients (each with two active
problems, an allergy, two current medications and three vaccinations), end
to end: the records are read, the CDA is built, validated against the HL7
schema when it is available, hashed and stored, in batches of 100 per
transaction as a cron or a script would.  Then publishes them again, nothing
having changed: the comparison with the last versions refuses each batch,
timed against the first publication.  Then, on the same documents,
times the CDA building step alone against plain lxml serialization of the
same trees, which is the baseline it is compared with.

    .venv/bin/python bench/publish_summaries.py [--patients 1000]

TRYTOND_DATABASE_URI chooses the server (postgresql://postgres@127.0.0.1:5432/
by default); the database bench_shared_record is dropped and made anew.
"""
import argparse
import datetime as dt
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMA = (ROOT.parent / 'shared' / 'reference' / 'cda-r2' / 'infrastructure'
    / 'cda' / 'CDA.xsd')
os.environ.setdefault(
    'TRYTOND_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')
os.environ['DB_NAME'] = 'bench_shared_record'
os.environ.pop('DB_CACHE', None)
if SCHEMA.exists():
    os.environ['TRYTOND_HEALTH_SHARED_RECORD__CDA_SCHEMA'] = str(SCHEMA)

from trytond.pool import Pool  # noqa: E402
from trytond.tests.test_tryton import (  # noqa: E402
    DB_NAME, activate_module, db_exist, drop_db)
from trytond.transaction import Transaction  # noqa: E402

from health_shared_record import cda  # noqa: E402

from clinic import (  # noqa: E402
    create_clinic, create_doctors, create_patient_parties)

BATCH = 100


def setup(count):
    "Create the clinic, a doctor and the patients; return the doctor's user"
    pool = Pool()
    Patient = pool.get('gnuhealth.patient')
    Pathology = pool.get('gnuhealth.pathology')
    Template = pool.get('product.template')
    Uom = pool.get('product.uom')
    Medicament = pool.get('gnuhealth.medicament')
    Medication = pool.get('gnuhealth.patient.medication')
    Disease = pool.get('gnuhealth.patient.disease')
    Vaccination = pool.get('gnuhealth.vaccination')

    company, institution = create_clinic()
    (user,), _ = create_doctors(['doctor'], company, institution)

    conditions = Pathology.create([
            {'code': c, 'name': n} for c, n in [
                ('E11', 'Type 2 diabetes mellitus'),
                ('I10', 'Essential hypertension'),
                ('Z88.0', 'Allergy status to penicillin')]])
    unit, = Uom.search([('name', '=', 'Unit')])
    templates = Template.create([{
                'name': name, 'type': 'goods', 'default_uom': unit,
                'products': [('create', [{
                                'is_medicament': True,
                                'is_vaccine': vaccine}])]}
            for name, vaccine in [
                ('Metformin', False), ('Amlodipine', False),
                ('dTcaP', True), ('Influenza', True), ('Pneumococcal', True)]])
    medicaments = Medicament.create([{
                'product': t.products[0], 'atc_code': atc,
                'is_vaccine': t.products[0].is_vaccine}
            for t, atc in zip(templates, [
                    'A10BA02', 'C08CA01', 'J07CA02', 'J07BB02', 'J07AL02'])])

    parties = create_patient_parties(count, lambda i: {
            'gender': 'f' if i % 2 else 'm',
            'dob': dt.date(1940 + i % 60, 1 + i % 12, 1 + i % 28)})
    patients = Patient.create([{'party': p} for p in parties])
    Disease.create([{
                'patient': p, 'pathology': c, 'is_active': True,
                'is_allergy': c.code.startswith('Z88'),
                'allergy_type': 'da' if c.code.startswith('Z88') else None,
                'diagnosed_date': dt.date(2020, 1, 1)}
            for p in patients for c in conditions])
    Medication.create([{
                'patient': p, 'medicament': m, 'is_active': True, 'dose': 1,
                'frequency': 12, 'frequency_unit': 'hours',
                'start_treatment': dt.datetime(2025, 1, 1)}
            for p in patients for m in medicaments[:2]])
    Vaccination.create([{
                'patient': p, 'vaccine': m, 'dose': 1,
                'date': dt.datetime(2024, 10, 1), 'vaccine_lot': 'L1',
                'admin_route': 'im', 'state': 'done'}
            for p in patients for m in medicaments[2:]])
    return user.id, company.id, [p.id for p in patients]


def publish_all(user, company, patient_ids):
    "Publish a summary per patient, a transaction per batch; return seconds"
    start = time.perf_counter()
    for index in range(0, len(patient_ids), BATCH):
        with Transaction().start(DB_NAME, user, context={
                    'company': company}) as transaction:
            pool = Pool()
            Patient = pool.get('gnuhealth.patient')
            Document = pool.get('gnuhealth.shared_record.document')
            Document.publish_records(
                Patient.browse(patient_ids[index:index + BATCH]))
            transaction.commit()
    return time.perf_counter() - start


def republish_unchanged(user, company, patient_ids):
    """Publish the same summaries again, nothing having changed: each batch
    is refused, no new version made; return seconds and the refusals"""
    from trytond.exceptions import UserError
    refused = 0
    start = time.perf_counter()
    for index in range(0, len(patient_ids), BATCH):
        with Transaction().start(DB_NAME, user, context={
                    'company': company}):
            pool = Pool()
            Patient = pool.get('gnuhealth.patient')
            Document = pool.get('gnuhealth.shared_record.document')
            try:
                Document.publish_records(
                    Patient.browse(patient_ids[index:index + BATCH]))
            except UserError:
                refused += 1
    return time.perf_counter() - start, refused


def building_versus_serialization(user, company, patient_ids, rounds):
    """Time building the CDA of the published documents from their data,
    and lxml serializing the same documents' trees; return the seconds of
    each and the number of documents"""
    with Transaction().start(DB_NAME, user, context={'company': company}):
        pool = Pool()
        Document = pool.get('gnuhealth.shared_record.document')
        Configuration = pool.get('gnuhealth.shared_record.configuration')
        configuration = Configuration(1)
        documents = Document.search([('patient', 'in', patient_ids)])
        inputs = [
            (d.cda_header(configuration),
                d.origin.get_shared_record_sections())
            for d in documents]
    build = serialize = float('inf')
    for _ in range(rounds):
        start = time.perf_counter()
        documents = [cda.build(h, s) for h, s in inputs]
        build = min(build, time.perf_counter() - start)
        trees = [cda.parse(d) for d in documents]
        start = time.perf_counter()
        for tree in trees:
            cda.serialize(tree)
        serialize = min(serialize, time.perf_counter() - start)
    return build, serialize, len(inputs)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--patients', type=int, default=1000)
    parser.add_argument('--rounds', type=int, default=5)
    arguments = parser.parse_args()

    if db_exist(DB_NAME):
        drop_db(DB_NAME)
    print(f'database {DB_NAME} on {os.environ["TRYTOND_DATABASE_URI"]}')
    start = time.perf_counter()
    activate_module('health_shared_record')
    print(f'module activated in {time.perf_counter() - start:.1f} s')
    with Transaction().start(DB_NAME, 0) as transaction:
        user, company, patient_ids = setup(arguments.patients)
        transaction.commit()
    print(f'{len(patient_ids)} patients created; schema validation '
        + ('on' if SCHEMA.exists() else 'off (no schema)'))

    seconds = publish_all(user, company, patient_ids)
    rate = len(patient_ids) / seconds
    print(f'end to end: {len(patient_ids)} summaries in {seconds:.2f} s, '
        f'{rate:.0f} documents/s (target >= 100)')

    again, refused = republish_unchanged(user, company, patient_ids)
    print(f'publishing them again unchanged: {again:.2f} s, '
        f'{refused} of {-(-len(patient_ids) // BATCH)} batches refused, '
        f'no new version; {again / seconds:.2f} of the first publication')

    build, serialize, count = building_versus_serialization(
        user, company, patient_ids, arguments.rounds)
    print(f'CDA building: {count} documents in {build * 1000:.0f} ms '
        f'({build / count * 1e6:.0f} µs each)')
    print(f'lxml serialization of the same trees: {serialize * 1000:.0f} ms '
        f'({serialize / count * 1e6:.0f} µs each)')
    print(f'ratio building / serialization: {build / serialize:.2f} '
        '(target <= 2)')
    drop_db(DB_NAME)
    return 0 if rate >= 100 and build / serialize <= 2 else 1


if __name__ == '__main__':
    sys.exit(main())
