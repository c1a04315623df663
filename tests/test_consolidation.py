# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""consolidation.py, which tells what the sources state of one thing and
what they disagree on, without a database"""
import datetime as dt

from health_shared_record.consolidation import (
    Source, Statement, changes, code_key, consolidate)

HERE = Source(own=True, record='gnuhealth.patient.disease,1')


def other(clinic='Hôpital Nord', day=dt.date(2026, 3, 1), entry=1):
    return Source(
        own=False, institution=clinic, document=entry, title='Summary',
        date=day, entry=entry,
        time=dt.datetime.combine(day, dt.time(9)))


def test_codes_are_compared_as_every_writer_writes_them():
    assert code_key('ICD-10', 'J45.9') == code_key('ICD-10-CM', 'j459')
    assert code_key('CIM-10', 'J45.9') == code_key('ICD-10', 'J459')
    assert code_key('CVX', '08') == code_key('CVX', '8')
    assert code_key('SNOMED CT', '195967001') != code_key('ICD-10', 'J45')
    assert code_key('ICD-10', '') is None


def test_the_same_condition_from_two_sources_is_one_line():
    lines = consolidate([
            Statement('problem', 'Asthma', HERE, code='J45.9',
                system='ICD-10', status='active'),
            Statement('problem', 'Asthme', other(), code='J459',
                system='CIM-10', status='active'),
            ])
    line, = lines
    assert [s.source.own for s in line.statements] == [True, False]
    assert not line.conflicts and not line.missing_here


def test_a_medication_meets_by_its_atc_class_not_its_product_code():
    line, = consolidate([
            Statement('medication', 'Metformin', HERE, atc='A10BA02'),
            Statement('medication', 'Metformine 500 mg', other(),
                code='3400930000000', system='CIS', atc='A10BA02'),
            ])
    assert len(line.statements) == 2


def test_a_cvx_vaccine_meets_the_atc_vaccine_of_the_same_day():
    line, = consolidate([
            Statement('immunization', 'Influenza', HERE, atc='J07BB02',
                start=dt.date(2026, 10, 20)),
            Statement('immunization', 'Flu, injectable', other(),
                code='141', system='CVX', start=dt.date(2026, 10, 20)),
            ])
    assert len(line.statements) == 2


def test_a_vaccination_is_one_a_day():
    lines = consolidate([
            Statement('immunization', 'DTaP-IPV', HERE, atc='J07CA02',
                start=dt.date(2026, 3, 5)),
            Statement('immunization', 'DTaP-IPV', other(), code='J07CA02',
                system='ATC', start=dt.date(2026, 3, 5)),
            Statement('immunization', 'DTaP-IPV', other(entry=2),
                code='J07CA02', system='ATC', start=dt.date(2016, 3, 5)),
            ])
    assert sorted(len(line.statements) for line in lines) == [1, 2]


def test_active_here_and_resolved_there_is_a_conflict():
    line, = consolidate([
            Statement('problem', 'Asthma', HERE, code='J45',
                system='ICD-10', status='resolved'),
            Statement('problem', 'Asthma', other(), code='J45',
                system='ICD-10', status='active'),
            ])
    assert line.conflicts == {'status'}


def test_an_allergy_beside_no_known_allergy_is_a_conflict():
    lines = consolidate([
            Statement('allergy', 'Penicillin', other(), code='Z88.0',
                system='ICD-10', status='active'),
            Statement('allergy', 'No known allergy', other('Parc', entry=2),
                code='716186003', system='SNOMED CT', negated=True),
            ])
    assert all('no_known_allergy' in line.conflicts for line in lines)


def test_one_problem_under_two_codes_is_told():
    lines = consolidate([
            Statement('problem', 'Asthma', other(), code='J45',
                system='ICD-10'),
            Statement('problem', 'asthma', other('Parc', entry=2),
                code='195967001', system='SNOMED CT'),
            ])
    assert len(lines) == 2
    assert all(line.conflicts == {'codes'} for line in lines)


def test_dates_in_the_future_or_before_birth_are_told():
    future, past = consolidate([
            Statement('immunization', 'Influenza', other(), atc='J07BB02',
                start=dt.date(2027, 1, 1)),
            Statement('immunization', 'Influenza', other(entry=2),
                atc='J07BB02', start=dt.date(1950, 1, 1)),
            ], birth_date=dt.date(1970, 5, 17), today=dt.date(2026, 12, 4))
    assert future.conflicts == {'future_date'}
    assert past.conflicts == {'before_birth'}


def test_what_only_another_clinic_states_is_missing_here():
    lines = consolidate([
            Statement('medication', 'Salbutamol', other(), atc='R03AC02'),
            Statement('medication', 'Warfarin', other(entry=2),
                atc='B01AA03', negated=True),
            Statement('medication', 'Aspirin', other(entry=3),
                atc='B01AC06', planned=True),
            ])
    assert {line.first.name: line.missing_here for line in lines} == {
        'Salbutamol': True, 'Warfarin': False, 'Aspirin': False}


def test_changes_between_two_summaries():
    def summary(*statements):
        return [Statement(kind, name, HERE, code=code, system='ICD-10',
                status=status) for kind, name, code, status in statements]
    before = summary(
        ('problem', 'Asthma', 'J45', 'active'),
        ('problem', 'Gout', 'M10', 'active'))
    after = summary(
        ('problem', 'Asthma', 'J45', 'resolved'),
        ('problem', 'Hypertension', 'I10', 'active'))
    assert [(c.change, c.name) for c in changes(before, after)] == [
        ('added', 'Hypertension'), ('changed', 'Asthma'),
        ('removed', 'Gout')]
    assert changes(after, after) == []
