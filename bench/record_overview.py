#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The patient overview and the summary preparation of a patient whose
shared record holds 200 documents from 5 other clinics (issue 19).

The patient's own record has three conditions, two medications and three
vaccinations, and a published patient summary; each document of the other
clinics states a problem, an allergy, two medications, an immunization and
three results, half of them the same things under the same codes, as
clinics that treat the same patient write.  Times, as the doctor (the
guard on), the best of --rounds:

* building the patient summary from GNU Health's own record alone (its
  sections and CDA), the baseline;
* the consolidated view (what the Patient Overview shows);
* preparing the summary (its items from the view, the previous summary
  read back, the changes);
* the reconciliation's refresh of the patient, which runs when a document
  arrives.

    .venv/bin/python bench/record_overview.py [--documents 200]

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
os.environ.setdefault(
    'TRYTOND_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')
os.environ['DB_NAME'] = 'bench_shared_record'
os.environ.pop('DB_CACHE', None)

from trytond.pool import Pool  # noqa: E402
from trytond.tests.test_tryton import (  # noqa: E402
    DB_NAME, activate_module, db_exist, drop_db)
from trytond.transaction import Transaction  # noqa: E402

from health_shared_record import consolidation  # noqa: E402
from health_shared_record.overview import (  # noqa: E402
    line_values, patient_lines)
from health_shared_record.summary import (  # noqa: E402
    in_summary, previous_summary, summary_statements)

from clinic import (  # noqa: E402
    create_clinic, create_doctors, create_patient_parties)

CLINICS = ['Hôpital Nord', 'Clinique du Parc', 'Centre de Santé Est',
    'Laboratoire Sud', 'Cabinet Ouest']


def setup(documents):
    pool = Pool()
    Patient = pool.get('gnuhealth.patient')
    Pathology = pool.get('gnuhealth.pathology')
    Template = pool.get('product.template')
    Uom = pool.get('product.uom')
    Medicament = pool.get('gnuhealth.medicament')
    Medication = pool.get('gnuhealth.patient.medication')
    Disease = pool.get('gnuhealth.patient.disease')
    Vaccination = pool.get('gnuhealth.vaccination')
    Document = pool.get('gnuhealth.shared_record.document')
    DocumentType = pool.get('gnuhealth.shared_record.document.type')

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
    party, = create_patient_parties(1)
    patient, = Patient.create([{'party': party}])
    Disease.create([{
                'patient': patient, 'pathology': c, 'is_active': True,
                'is_allergy': c.code.startswith('Z88'),
                'allergy_type': 'da' if c.code.startswith('Z88') else None,
                'diagnosed_date': dt.date(2020, 1, 1)}
            for c in conditions])
    Medication.create([{
                'patient': patient, 'medicament': m, 'is_active': True,
                'start_treatment': dt.datetime(2025, 1, 1)}
            for m in medicaments[:2]])
    Vaccination.create([{
                'patient': patient, 'vaccine': m, 'dose': 1,
                'date': dt.datetime(2024, 10, 1), 'state': 'done'}
            for m in medicaments[2:]])
    types = DocumentType.search([], order=[('id', 'ASC')], limit=5)
    day = dt.datetime(2024, 1, 1, 9)
    values = []
    for i in range(documents):
        same = i % 2 == 0
        date = day + dt.timedelta(days=3 * i)
        values.append({
                'patient': patient.id,
                'document_type': types[i % len(types)].id,
                'title': f'Letter {i}', 'effective_date': date,
                'published_date': date, 'state': 'published',
                'source': 'repository', 'institution': None,
                'source_institution': CLINICS[i % len(CLINICS)],
                'unique_id': f'1.2.250.1.777.{i}',
                'set_id': f'1.2.250.1.777.{i}',
                'version': 1, 'content': b'<ClinicalDocument/>',
                'sha256': '0' * 64, 'size': 19,
                'entries': [('create', [{'patient': patient.id, **e}
                            for e in entries(i, same, date.date())])],
                })
    Document.create(values)
    return user.id, company.id, patient.id


def entries(i, same, date):
    "What the i-th document states"
    problem = ('E11', 'Type 2 diabetes') if same else (
        f'K{i % 90:02d}', f'Problem {i % 90}')
    return [
        {'kind': 'problem', 'name': problem[1], 'code': problem[0],
            'code_system': 'ICD-10', 'status': 'active',
            'start_date': dt.date(2019, 1, 1)},
        {'kind': 'allergy', 'name': 'Penicillin', 'code': 'Z88.0',
            'code_system': 'ICD-10', 'status': 'active'},
        {'kind': 'medication', 'name': 'Metformin 500 mg',
            'code': '6809', 'code_system': 'RxNorm', 'atc': 'A10BA02',
            'status': 'active', 'start_date': dt.date(2025, 1, 1)},
        {'kind': 'medication', 'name': f'Drug {i % 40}',
            'code': f'C09AA{i % 40:02d}', 'code_system': 'ATC',
            'status': 'completed' if i % 3 else 'active',
            'start_date': date},
        {'kind': 'immunization', 'name': 'Influenza',
            'code': '141', 'code_system': 'CVX', 'atc': 'J07BB02',
            'start_date': dt.date(2024, 10, 1) if same else date},
        ] + [
        {'kind': 'result', 'name': name, 'code': code,
            'code_system': 'LOINC', 'value': str(5 + i % 3), 'unit': unit,
            'start_date': date}
        for code, name, unit in [
            ('4548-4', 'HbA1c', '%'), ('2345-7', 'Glucose', 'mmol/L'),
            ('2160-0', 'Creatinine', 'µmol/L')]]


def best(function, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def measure(user, company, patient_id, rounds):
    with Transaction().start(DB_NAME, user, context={'company': company}):
        pool = Pool()
        Patient = pool.get('gnuhealth.patient')
        Document = pool.get('gnuhealth.shared_record.document')
        Configuration = pool.get('gnuhealth.shared_record.configuration')
        Reconciliation = pool.get('gnuhealth.shared_record.reconciliation')
        configuration = Configuration(1)

        def own_summary():
            """What publishing the summary builds from GNU Health's record
            (the CDA of its header and sections), as publish_records does"""
            patient = Patient(patient_id)
            with Document.document_context(configuration):
                return Document(previous.id).build_content(
                    configuration, patient, {})

        def overview():
            return [line_values(line)
                for line in patient_lines(Patient(patient_id))]

        def prepare():
            patient = Patient(patient_id)
            lines = [line for line in patient_lines(patient)
                if in_summary(line)]
            before = summary_statements(Document(previous_summary(patient)))
            return lines, consolidation.changes(
                before, [line.newest for line in lines])

        def refresh():
            with Transaction().set_user(0):
                return Reconciliation.refresh([patient_id])

        previous = Document(previous_summary(Patient(patient_id)))
        baseline, _ = best(own_summary, rounds)
        view, lines = best(overview, rounds)
        preparing, (items, changes) = best(prepare, rounds)
        refreshing, pending = best(refresh, rounds)
        count = len(Patient(patient_id).shared_record_entries)
    return baseline, view, len(lines), preparing, len(items), len(changes), \
        refreshing, pending, count


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--documents', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=5)
    arguments = parser.parse_args()

    if db_exist(DB_NAME):
        drop_db(DB_NAME)
    print(f'database {DB_NAME} on {os.environ["TRYTOND_DATABASE_URI"]}')
    activate_module('health_shared_record')
    with Transaction().start(DB_NAME, 0) as transaction:
        user, company, patient_id = setup(arguments.documents)
        transaction.commit()
    with Transaction().start(DB_NAME, user, context={
                'company': company}) as transaction:
        pool = Pool()
        pool.get('gnuhealth.shared_record.document').publish_records(
            [pool.get('gnuhealth.patient')(patient_id)])
        transaction.commit()
    (baseline, view, lines, preparing, items, changes, refreshing, pending,
        count) = measure(user, company, patient_id, arguments.rounds)
    print(f'{arguments.documents} documents from {len(CLINICS)} clinics, '
        f'{count} statements')
    print(f'patient summary from GNU Health\'s own record alone: '
        f'{baseline * 1000:.0f} ms (baseline)')
    print(f'consolidated view: {lines} lines in {view * 1000:.0f} ms, '
        f'{view / baseline:.1f} x the baseline (target < 1 s)')
    print(f'summary preparation: {items} items, {changes} changes in '
        f'{preparing * 1000:.0f} ms, {preparing / baseline:.1f} x the '
        'baseline (target < 1 s)')
    print(f'reconciliation refresh: {pending} items to review in '
        f'{refreshing * 1000:.0f} ms, {refreshing / baseline:.1f} x the '
        'baseline')
    drop_db(DB_NAME)
    return 0 if view < 1 and preparing < 1 else 1


if __name__ == '__main__':
    sys.exit(main())
