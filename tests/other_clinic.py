# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Another clinic: a second GNU Health database, in its own process, that
publishes to the same repository.  tests/helpers.OtherClinic drives it with
one JSON command a line on stdin and reads one JSON answer a line."""
import datetime as dt
import json
import os
import sys

if os.environ.get('DB_NAME', ':memory:') != ':memory:':
    os.environ['DB_NAME'] += '_other'

import conftest  # noqa: F401,E402  the same settings as the tests

from proteus import Model  # noqa: E402
from trytond.tests.tools import activate_modules, set_user  # noqa: E402

from helpers import (  # noqa: E402
    create_medicament, create_pathology, create_patient, create_professional,
    publish_file, setup_clinic)

state = {}


def setup(url, given, family, national_id, dob, laboratory=False):
    "laboratory: with GNU Health's laboratory and a technician"
    config = activate_modules(['health_shared_record']
        + (['health_lab'] if laboratory else []))
    institution = setup_clinic(
        name='Hôpital Nord', code='HOSP-NORD')
    configuration = Model.get('gnuhealth.shared_record.configuration')(1)
    configuration.oid_root = '1.2.250.1.888'
    configuration.national_identifier_type = 'country_id'
    configuration.national_identifier_system = '1.2.250.1.213.1.4.8'
    configuration.repository_url = url
    configuration.save()
    doctor_user, doctor = create_professional(
        'Marc', 'Durand', 'marc', ['health.group_health_doctor'],
        institution, code='20202020202')
    if laboratory:
        state['technician'], _ = create_professional(
            'Inès', 'Garnier', 'ines', ['health_lab.group_health_lab'],
            institution, code='20404040404')
    patient = create_patient(
        given, family, dob=dt.date.fromisoformat(dob))
    identifier = patient.party.alternative_ids.new()
    identifier.alternative_id_type = 'country_id'
    identifier.code = national_id
    patient.party.alternative_identification = True
    patient.party.save()
    state.update(
        admin=config.user, patient=patient, doctor=doctor_user,
        professional=doctor)
    patient = Model.get('gnuhealth.patient')(patient.id)
    asthma = create_pathology('J45', 'Asthma')
    penicillin = create_pathology('Z88.0', 'Allergy to penicillin')
    salbutamol = create_medicament('Salbutamol 100 µg', 'R03AC02')
    vaccine = create_medicament('DTaP-IPV', 'J07CA02', vaccine=True)
    disease = patient.diseases.new()
    disease.pathology = asthma
    disease.is_active = True
    disease.diagnosed_date = dt.date(2015, 4, 2)
    allergy = patient.diseases.new()
    allergy.pathology = penicillin
    allergy.is_active = True
    allergy.is_allergy = True
    allergy.allergy_type = 'da'
    allergy.diagnosed_date = dt.date(2020, 6, 1)
    medication = patient.medications.new()
    medication.medicament = salbutamol
    medication.is_active = True
    medication.start_treatment = dt.datetime(2025, 1, 10)
    patient.save()
    vaccination = Model.get('gnuhealth.vaccination')()
    vaccination.patient = patient
    vaccination.vaccine = vaccine
    vaccination.date = dt.datetime(2026, 3, 5, 10, 0)
    vaccination.dose = 1
    vaccination.vaccine_lot = 'LOT-88'
    vaccination.save()
    vaccination.click('sign')
    return {'patient': patient.id}


def publish_summary():
    "The doctor publishes the patient summary (a new version if one exists)"
    set_user(state['doctor'])
    patient = Model.get('gnuhealth.patient')(state['patient'].id)
    patient.click('publish_shared_record')
    patient.reload()
    return _sent(patient.shared_record_summary)


def add_condition(code, name):
    set_user(state['admin'])
    patient = Model.get('gnuhealth.patient')(state['patient'].id)
    disease = patient.diseases.new()
    disease.pathology = create_pathology(code, name)
    disease.is_active = True
    patient.save()
    return {}


def publish_letter(title):
    set_user(state['doctor'])
    return _sent(publish_file(state['patient'], '11488-4', title))


def withdraw(unique_id, reason):
    set_user(state['doctor'])
    document, = Model.get('gnuhealth.shared_record.document').find([
            ('unique_id', '=', unique_id)])
    document.withdrawal_reason = reason
    document.save()
    document.click('withdraw')
    document.reload()
    return {'exchange_state': document.exchange_state}


def publish_blood_count(values, collected):
    """The hospital's laboratory validates a blood count of the patient
    (values by analyte code, the others left out) that Dr Durand asked
    for, and he publishes it; a second call makes a new version"""
    Lab = Model.get('gnuhealth.lab')
    set_user(state['technician'])
    lab = state.get('lab')
    if lab is None:
        cbc, = Model.get('gnuhealth.lab.test_type').find(
            [('code', '=', 'CBC')])
        lab = Lab(test=cbc,
            patient=Model.get('gnuhealth.patient')(state['patient'].id),
            requestor=Model.get('gnuhealth.healthprofessional')(
                state['professional'].id),
            specimen_type='Whole blood',
            shared_record_collected=dt.datetime.fromisoformat(collected),
            date_analysis=dt.datetime.fromisoformat(collected))
        lab.save()
        lab.click('complete_criteareas')
        state['lab'] = lab
    else:
        lab = Lab(lab.id)
        lab.click('set_to_draft')
    for line in lab.critearea:
        line.result = values.get(line.code)
        line.excluded = line.code not in values
    lab.save()
    lab.click('generate_document')
    lab.click('shared_record_validate')
    set_user(state['doctor'])
    lab = Lab(lab.id)
    lab.click('publish_shared_record')
    lab.reload()
    document, = [d for d in lab.shared_record_documents
        if d.state == 'published']
    return _sent(document)


def _sent(document):
    document.reload()
    return {
        'unique_id': document.unique_id,
        'exchange_state': document.exchange_state,
        'exchange_message': document.exchange_message,
        }


def main():
    for line in sys.stdin:
        command = json.loads(line)
        try:
            result = globals()[command.pop('command')](**command)
        except Exception as error:
            result = {'error': f'{type(error).__name__}: {error}'}
        print(json.dumps(result), flush=True)


if __name__ == '__main__':
    main()
