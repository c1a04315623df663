#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Publishing laboratory reports against publishing consult notes.

On PostgreSQL with GNU Health's laboratory, 1,000 patients each have a
validated blood count (eight results, three of them abnormal and one
critical, with alerts raised at validation) and a consult note (an
evaluation with a complaint, its history, four vital signs, a diagnosis
and directions).  A doctor publishes the 1,000 laboratory reports, then
the 1,000 consult notes, as the Publish button does (the checks of a
client's call, the CDA built, validated against the HL7 schema when it is
there, hashed, stored; the reports' alerts linked to them), in batches of
100 per transaction; then, each record changed a little, both again in
the other order (second versions, compared with the first).  It prints
documents per second for each round, the ratio of the first round's rates
(a report holds eight coded results where a note is mostly prose), and the
documents' sizes.  Target: every record published once per round, and
laboratory reports within 3x of consult notes.

    .venv/bin/python bench/lab_publish.py [--patients 1000]
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
os.environ['DB_NAME'] = 'bench_lab_publish'
os.environ.pop('DB_CACHE', None)
if SCHEMA.exists():
    os.environ['TRYTOND_HEALTH_SHARED_RECORD__CDA_SCHEMA'] = str(SCHEMA)
sys.path.insert(0, str(ROOT / 'bench'))

from trytond.pool import Pool  # noqa: E402
from trytond.tests.test_tryton import (  # noqa: E402
    DB_NAME, activate_module, db_exist, drop_db)
from trytond.transaction import Transaction, check_access  # noqa: E402

from clinic import (  # noqa: E402
    create_clinic, create_doctors, create_patient_parties)

BATCH = 100
DAY = dt.datetime(2026, 11, 30, 9, 30)
# The demo's anaemia: HGB critical, RBC and HCT low
VALUES = {'HGB': 6.8, 'RBC': 2.9, 'HCT': 24, 'MCV': 82, 'WBC': 7.2,
    'PLT': 310, 'NEU': 4.1, 'LYM': 2.2}


def setup(count):
    """The doctor, the patients, a validated blood count and a finished
    evaluation each; return the doctor's user, the labs and evaluations"""
    pool = Pool()
    Patient = pool.get('gnuhealth.patient')
    Pathology = pool.get('gnuhealth.pathology')
    TestType = pool.get('gnuhealth.lab.test_type')
    Lab = pool.get('gnuhealth.lab')
    Evaluation = pool.get('gnuhealth.patient.evaluation')
    company, institution = create_clinic()
    (user,), (doctor,) = create_doctors(['doctor'], company, institution)
    anaemia, = Pathology.create([{'code': 'D50.9',
                'name': 'Iron deficiency anaemia, unspecified'}])
    parties = create_patient_parties(count)
    patients = Patient.create([{'party': p.id} for p in parties])
    cbc, = TestType.search([('code', '=', 'CBC')])
    lines = [{
            'name': c.name, 'code': c.code, 'sequence': c.sequence,
            'lower_limit': c.lower_limit, 'upper_limit': c.upper_limit,
            'limits_verified': c.limits_verified,
            'normal_range': c.normal_range, 'to_integer': c.to_integer,
            'units': c.units.id if c.units else None,
            'result': VALUES.get(c.code), 'excluded': c.code not in VALUES,
            } for c in cbc.critearea]
    labs = Lab.create([{
                'test': cbc.id, 'patient': p.id, 'requestor': doctor.id,
                'specimen_type': 'Whole blood',
                'shared_record_collected': DAY - dt.timedelta(hours=2),
                'date_requested': DAY - dt.timedelta(hours=2),
                'date_analysis': DAY, 'state': 'done',
                'critearea': [('create', lines)],
                } for p in patients])
    for start in range(0, len(labs), BATCH):
        # The validation raises the alerts, as the technician's would
        Lab.write(labs[start:start + BATCH], {
                'state': 'validated', 'validated_by': doctor.id,
                'validation_date': DAY + dt.timedelta(hours=1)})
    evaluations = Evaluation.create([{
                'patient': p.id, 'healthprof': doctor.id,
                'institution': institution.id,
                'evaluation_start': DAY, 'evaluation_endtime': DAY
                + dt.timedelta(minutes=20), 'state': 'done',
                'chief_complaint': 'Fatigue and breathlessness',
                'present_illness': 'Tired for two months; heavy periods.',
                'systolic': 118, 'diastolic': 72, 'bpm': 96,
                'weight': 61.5, 'diagnosis': anaemia.id,
                'directions': 'Iron supplements, blood count in a month',
                'discharge_reason': 'home',
                } for p in patients])
    return user.id, [lab.id for lab in labs], [e.id for e in evaluations]


def publish(user, model, ids):
    """Publish a document from each record, as the user's button does, in
    batches; return the seconds and the documents' sizes"""
    start = time.perf_counter()
    for first in range(0, len(ids), BATCH):
        with Transaction().start(DB_NAME, user) as transaction, \
                check_access():
            Model = Pool().get(model)
            Model.publish_shared_record(
                Model.browse(ids[first:first + BATCH]))
            transaction.commit()
    seconds = time.perf_counter() - start
    with Transaction().start(DB_NAME, 0):
        Document = Pool().get('gnuhealth.shared_record.document')
        documents = Document.search([('origin', 'like', f'{model},%'),
                ('state', '=', 'published')])
        sizes = [len(d.content) for d in documents]
    return seconds, sizes


def versions_of(model):
    "{version: how many} of the records' published documents"
    with Transaction().start(DB_NAME, 0):
        Document = Pool().get('gnuhealth.shared_record.document')
        versions = {}
        for document in Document.search([('origin', 'like', f'{model},%'),
                    ('state', '=', 'published')]):
            versions[document.version] = versions.get(document.version, 0) + 1
        return versions


def change(model, ids, round_):
    "Change each record a little, so that publishing again is a new version"
    with Transaction().start(DB_NAME, 0) as transaction:
        Model = Pool().get(model)
        if model == 'gnuhealth.lab':
            Line = Pool().get('gnuhealth.lab.test.critearea')
            lines = Line.search([('gnuhealth_lab_id', 'in', ids),
                    ('code', '=', 'PLT')])
            Line.write(lines, {'result': 310 + round_})
        else:
            Model.write(Model.browse(ids), {'bpm': 96 + round_})
        transaction.commit()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--patients', type=int, default=1000)
    arguments = parser.parse_args()
    if db_exist(DB_NAME):
        drop_db(DB_NAME)
    activate_module(['health_shared_record', 'health_lab'])
    try:
        with Transaction().start(DB_NAME, 0) as transaction:
            start = time.perf_counter()
            user, labs, evaluations = setup(arguments.patients)
            transaction.commit()
        print(f'{arguments.patients} blood counts and consult notes made in '
            f'{time.perf_counter() - start:.0f} s; CDA schema: '
            f'{"validated" if SCHEMA.exists() else "absent, not validated"}')
        rates = {'gnuhealth.lab': [], 'gnuhealth.patient.evaluation': []}
        sizes = {}
        order = [('gnuhealth.lab', labs),
            ('gnuhealth.patient.evaluation', evaluations)]
        for round_ in range(2):
            for model, ids in (order if not round_ else order[::-1]):
                if round_:
                    change(model, ids, round_)
                seconds, sizes[model] = publish(user, model, ids)
                rates[model].append(len(ids) / seconds)
                print(f'round {round_ + 1}: {model:30} {len(ids)} in '
                    f'{seconds:6.1f} s, {len(ids) / seconds:6.1f} /s')
        lab = rates['gnuhealth.lab'][0]
        note = rates['gnuhealth.patient.evaluation'][0]
        print(f'laboratory reports: {lab:.1f} documents/s; consult notes: '
            f'{note:.1f} documents/s; ratio (consult / laboratory): '
            f'{note / lab:.2f}')
        met = note / lab <= 3
        for model, name in [('gnuhealth.lab', 'laboratory report'),
                ('gnuhealth.patient.evaluation', 'consult note')]:
            versions = versions_of(model)
            met &= versions == {2: arguments.patients}
            print(f'{name}: {sum(sizes[model]) / len(sizes[model]):.0f} '
                f'bytes on average; current versions: {versions}')
        print('target: laboratory reports within 3x of consult notes, '
            'each record at version 2')
    finally:
        drop_db(DB_NAME)
    return 0 if met else 1


if __name__ == '__main__':
    sys.exit(main())
