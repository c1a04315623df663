#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What the servers spend in Python to open the Shared Record tab.

One trytond process, on PostgreSQL, opens the Shared Record tab of patients
picked at random the way Tryton's client does (the patient's
shared_record_current, then the list's columns with the selections'
labels), one transaction a tab as a request is, as a doctor whose calls
are checked as a client's.  It times the process's CPU per tab with the
selections' labels read as trytond 7.0 reads them (the whole field
definition, per row) and with the module's labels read once per language,
in turn in the same run; checks that both give the same answers; and
prints the top entries of a profile of each.

    .venv/bin/python bench/tab_python_cost.py [--patients 200] [--tabs 300]
"""
import argparse
import cProfile
import io
import os
import pathlib
import pstats
import random
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
os.environ.setdefault(
    'TRYTOND_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')
os.environ['DB_NAME'] = 'bench_tab_python_cost'
os.environ.pop('DB_CACHE', None)
sys.path.insert(0, str(ROOT / 'tests'))
sys.path.insert(0, str(ROOT / 'bench'))

from trytond.pool import Pool  # noqa: E402
from trytond.tests.test_tryton import (  # noqa: E402
    DB_NAME, activate_module, db_exist, drop_db)
from trytond.transaction import Transaction, check_access  # noqa: E402

from shared_record_tab import DOCUMENT, TAB_VIEW, setup, tab_columns  # noqa

from health_shared_record import selection  # noqa: E402


def open_tabs(user, patients, columns, limit):
    "Open the tab of each patient, a transaction each; return the answers"
    answers = []
    for patient in patients:
        with Transaction().start(DB_NAME, user, readonly=True), \
                check_access():
            pool = Pool()
            Patient = pool.get('gnuhealth.patient')
            Document = pool.get(DOCUMENT)
            record, = Patient.read([patient], ['shared_record_current'])
            ids = record['shared_record_current'][:limit]
            rows = Document.read(ids, columns) if ids else []
            answers.append([
                {k: v for k, v in r.items() if k != '_timestamp'}
                for r in rows])
    return answers


def measure(user, patients, columns, limit, cached):
    "CPU seconds per tab, the answers, and a profile's top entries"
    selection.Selection.cached = cached
    open_tabs(user, patients[:20], columns, limit)  # warm up
    start = time.process_time()
    answers = open_tabs(user, patients, columns, limit)
    seconds = (time.process_time() - start) / len(patients)
    profile = cProfile.Profile()
    profile.enable()
    open_tabs(user, patients, columns, limit)
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats('cumulative').print_stats(
        r'trytond|health_shared_record', 14)
    return seconds, answers, out.getvalue()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--doctors', type=int, default=20)
    parser.add_argument('--patients', type=int, default=200)
    parser.add_argument('--documents', type=int, default=100)
    parser.add_argument('--tabs', type=int, default=300)
    arguments = parser.parse_args()

    if db_exist(DB_NAME):
        drop_db(DB_NAME)
    activate_module('health_shared_record')
    with Transaction().start(DB_NAME, 0) as transaction:
        logins, patient_ids, made = setup(
            arguments.doctors, arguments.patients, arguments.documents, 7)
        transaction.commit()
    with Transaction().start(DB_NAME, 0):
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        user, = User.search([('login', '=', logins[0])])
        user = user.id
        view_id = ModelData.get_id('health_shared_record', TAB_VIEW)
        view = pool.get(DOCUMENT).fields_view_get(view_id, 'tree')
    columns, limit = tab_columns(view)
    print(f'{made} documents over {len(patient_ids)} patients; '
        f'{arguments.tabs} tabs of {limit} rows at most; columns: '
        + ', '.join(columns))
    rng = random.Random(3)
    patients = [rng.choice(patient_ids) for _ in range(arguments.tabs)]
    results = {}
    for cached in [False, True, False, True]:
        seconds, answers, profile = measure(
            user, patients, columns, limit, cached)
        results.setdefault(cached, []).append((seconds, answers, profile))
    before = min(r[0] for r in results[False])
    after = min(r[0] for r in results[True])
    same = all(
        r[1] == results[False][0][1] for rs in results.values() for r in rs)
    rows = sum(len(a) for a in results[True][0][1]) / len(patients)
    print(f'rows per tab: {rows:.1f}; the same answers in every phase: '
        f'{same}')
    print(f'labels as trytond 7.0 reads them: {before * 1000:.1f} ms CPU '
        'per tab')
    print(f'labels read once per language:    {after * 1000:.1f} ms CPU '
        'per tab')
    print(f'ratio: {before / after:.2f}')
    for cached, name in [(False, 'trytond 7.0'), (True, 'cached labels')]:
        print(f'\n--- profile, {name} ---')
        print(results[cached][-1][2])
    drop_db(DB_NAME)
    return 0 if same else 1


if __name__ == '__main__':
    sys.exit(main())
