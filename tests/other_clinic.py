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
    configuration.repository_url = url or None
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


def setup_messaging(relay_port, imap_host, imap_port, ca_file,
        trusted_file, address, certificate, key, password):
    """Dr Durand reads and sends his messages at address, through the
    relay and the IMAP server on loopback"""
    set_user(state['admin'])
    configuration = Model.get('gnuhealth.shared_record.configuration')(1)
    configuration.relay_host = '127.0.0.1'
    configuration.relay_port = relay_port
    configuration.relay_security = 'none'
    configuration.messaging_ca_file = ca_file
    configuration.messaging_trusted_file = trusted_file
    configuration.save()
    professional = Model.get('gnuhealth.healthprofessional')(
        state['professional'].id)
    professional.secure_email = address
    professional.save()
    mailbox = Model.get('gnuhealth.shared_record.mailbox')(
        name='Dr Durand', address=address, professional=professional,
        imap_host=imap_host, imap_port=imap_port, imap_password=password,
        certificate_file=certificate, private_key_file=key)
    mailbox.save()
    state['mailbox'] = mailbox
    return {}


def add_colleague(given, family, address, certificate=None):
    "A professional of another clinic, known by their secure address"
    set_user(state['admin'])
    Party = Model.get('party.party')
    party = Party(name=given, lastname=family, is_person=True,
        is_healthprof=True, is_patient=False, gender='u')
    party.save()
    professional = Model.get('gnuhealth.healthprofessional')(
        party=party, secure_email=address, secure_certificate=certificate)
    professional.save()
    state.setdefault('colleagues', {})[address] = professional
    return {'id': professional.id}


def read_mail():
    "The mailbox is read now, as the scheduler does"
    set_user(state['admin'])
    Mailbox = Model.get('gnuhealth.shared_record.mailbox')
    mailbox = Mailbox(state['mailbox'].id)
    mailbox.click('fetch')
    mailbox.reload()
    return {'error': mailbox.last_error} if mailbox.last_error else {}


def messages():
    "What Dr Durand sees of his messages, oldest first"
    set_user(state['doctor'])
    Message = Model.get('gnuhealth.shared_record.message')
    return {'messages': [{
                'direction': m.direction, 'state': m.state,
                'subject': m.subject, 'sender': m.sender_address,
                'patient': m.patient.rec_name if m.patient else None,
                'documents': [d.title for d in m.documents],
                'sources': [d.source for d in m.documents],
                'encrypted': m.encrypted, 'reason': m.reason,
                } for m in reversed(Message.find([]))]}


def open_received():
    "Dr Durand opens the documents he received"
    set_user(state['doctor'])
    Message = Model.get('gnuhealth.shared_record.message')
    Document = Model.get('gnuhealth.shared_record.document')
    ids = [d.id for m in Message.find([('direction', '=', 'in')])
        for d in m.documents]
    Document._proxy.read(ids, ['rendering'], Document._config.context)
    return {'opened': len(ids)}


def send_summary(address, subject, text):
    "Dr Durand sends the patient's summary to a colleague's address"
    from proteus import Wizard
    set_user(state['doctor'])
    patient = Model.get('gnuhealth.patient')(state['patient'].id)
    summary = Model.get('gnuhealth.shared_record.document')(
        patient.shared_record_summary.id)
    send = Wizard('gnuhealth.shared_record.message.send', [summary])
    send.form.addresses = address
    send.form.subject = subject
    send.form.text = text
    send.execute('send')
    Message = Model.get('gnuhealth.shared_record.message')
    message = Message.find([('direction', '=', 'out')])[0]
    return {'state': message.state, 'reason': message.reason,
        'unique_id': summary.unique_id}


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
