#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Fill a fresh database with a small clinic that shows every feature of
the shared record: professionals with logins, patients with evaluations,
vaccinations and prescriptions, and the documents published from them."""
import argparse
import datetime as dt
from collections import Counter
import pathlib
import random
import sys

from proteus import Model, Report, Wizard
from proteus import config as proteus_config

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / 'tests'))
from helpers import (  # noqa: E402
    PASSWORD, create_medicament, create_pathology, create_patient,
    create_professional, create_user, setup_clinic)

TODAY = dt.date.today()
PATIENT_LOGINS = {}
CONDITIONS = [
    ('E11', 'Type 2 diabetes mellitus'),
    ('I10', 'Essential (primary) hypertension'),
    ('J45', 'Asthma'),
    ('J44', 'Chronic obstructive pulmonary disease'),
    ('I50', 'Heart failure'),
    ('N18.3', 'Chronic kidney disease, stage 3'),
    ('E78.5', 'Hyperlipidaemia'),
    ('F32', 'Depressive episode'),
    ('M54.5', 'Low back pain'),
    ('K21.9', 'Gastro-oesophageal reflux disease'),
    ]
ALLERGIES = [
    ('Z88.0', 'Allergy status to penicillin', 'da'),
    ('Z91.010', 'Allergy to peanuts', 'fa'),
    ]
COMPLAINTS = [
    'Follow-up of blood pressure', 'Persistent cough', 'Fatigue and thirst',
    'Back pain after lifting', 'Renewal of treatment', 'Shortness of breath',
    'Heartburn after meals', 'Low mood and poor sleep',
    ]
MEDICAMENTS = [
    ('Metformin 850 mg', 'A10BA02', 850, 'mg', 12),
    ('Amlodipine 5 mg', 'C08CA01', 5, 'mg', 24),
    ('Salbutamol 100 µg inhaler', 'R03AC02', 200, 'ug', 6),
    ('Atorvastatin 20 mg', 'C10AA05', 20, 'mg', 24),
    ('Omeprazole 20 mg', 'A02BC01', 20, 'mg', 24),
    ('Paracetamol 1 g', 'N02BE01', 1000, 'mg', 8),
    ('Amoxicillin 1 g', 'J01CA04', 1000, 'mg', 8),
    ]
VACCINES = [
    ('Boostrix Tetra (dTcaP)', 'J07CA02'),
    ('Revaxis (dTP)', 'J07CA01'),
    ('Influvac Tetra (influenza)', 'J07BB02'),
    ('Prevenar 20 (pneumococcal)', 'J07AL02'),
    ('Shingrix (zoster)', 'J07BK03'),
    ]
GIVEN_NAMES = {
    'f': ['Lucie', 'Camille', 'Léa', 'Manon', 'Chloé', 'Inès', 'Sarah',
        'Jeanne', 'Alice', 'Louise', 'Nadia', 'Fatou'],
    'm': ['Hugo', 'Lucas', 'Nathan', 'Karim', 'Louis', 'Jules', 'Gabriel',
        'Arthur', 'Mathis', 'Yanis', 'Pierre', 'Omar'],
    }
FAMILY_NAMES = [
    'Bernard', 'Dubois', 'Thomas', 'Robert', 'Richard', 'Petit', 'Durand',
    'Leroy', 'Moreau', 'Simon', 'Laurent', 'Lefèvre', 'Michel', 'García',
    'David', 'Bertrand', 'Roux', 'Vincent', 'Fournier', 'Morel', 'Girard',
    'André', 'Mercier', 'Blanc',
    ]
# A one-page PDF, the smallest a viewer shows: a scanned letter stand-in
LETTER_PDF = b"""%PDF-1.4
1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>endobj
4 0 obj<</Length 88>>stream
BT /F1 18 Tf 72 760 Td (Cardiology consultation: no ischaemia on stress test.) Tj ET
endstream endobj
5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj
trailer<</Root 1 0 R>>
%%EOF
"""


def act_as(user):
    config = proteus_config.get_config()
    config.user = int(user) if user else 1
    User = Model.get('res.user')
    config._context = User.get_preferences(True, {})


def hospital_summary(patient, national_id):
    """The patient summary that another clinic, a hospital, published for
    the patient in the repository"""
    from health_shared_record import cda
    from helpers import INS_SYSTEM
    party = patient.party
    header = cda.Header(
        unique_id='1.2.250.1.888.1.1', set_id='1.2.250.1.888.1.1',
        version=1, type_code=cda.Code(
            '60591-5', cda.LOINC, 'Patient summary document'),
        title='Discharge summary, Hôpital Nord',
        effective_time=dt.datetime.combine(
            TODAY - dt.timedelta(days=40), dt.time(16)),
        confidentiality='N', language='fr-FR', realm='FR',
        patient=cda.Person(
            [cda.Identifier(INS_SYSTEM, national_id)], party.name,
            party.lastname, party.gender, party.dob),
        author=cda.Person(
            [cda.Identifier('1.2.250.1.71.4.2.1', '10199999999')],
            'Marc', 'Durand'),
        author_time=dt.datetime.combine(
            TODAY - dt.timedelta(days=40), dt.time(16)),
        custodian=cda.Organization(
            cda.Identifier('1.2.250.1.888.4', 'HOSP-NORD'), 'Hôpital Nord'))
    problem = cda.Code('55607006', cda.SNOMED, 'Problem')
    return cda.build(header, [
            cda.Section(cda.section_code('11450-4'), 'Problems',
                [cda.Paragraph('Atrial fibrillation, diagnosed in hospital.')],
                [cda.Observation(
                        problem, cda.Code('I48', cda.ICD10,
                            'Atrial fibrillation'),
                        TODAY - dt.timedelta(days=42), 'active')]),
            cda.Section(cda.section_code('10160-0'), 'Medications',
                [cda.Paragraph('Apixaban 5 mg twice a day.')],
                [cda.Administration(
                        'Apixaban 5 mg', cda.Code('B01AF02', cda.ATC),
                        start=TODAY - dt.timedelta(days=41),
                        status='active')]),
            ])


def main(database, config_file, repository=None):
    proteus_config.set_trytond(database, config_file=config_file)
    rng = random.Random(2026)

    Lang = Model.get('ir.lang')
    for code in ['fr', 'es']:
        lang, = Lang.find([('code', '=', code)])
        lang.translatable = True
        lang.save()
    User = Model.get('res.user')
    admin, = User.find([('login', '=', 'admin')])
    admin.password = PASSWORD
    admin.save()

    institution = setup_clinic()
    act_as(admin)
    Configuration = Model.get('gnuhealth.shared_record.configuration')
    configuration = Configuration(1)
    configuration.national_identifier_type = 'country_id'
    configuration.national_identifier_system = '1.2.250.1.213.1.4.8'
    # Every document published below goes to the repository, if any
    configuration.repository_url = repository
    configuration.save()

    doctor_user, doctor = create_professional(
        'Claire', 'Martin', 'claire', ['health.group_health_doctor'],
        institution, code='10100000011')
    doctor2_user, doctor2 = create_professional(
        'Hugo', 'Lefebvre', 'hugo', ['health.group_health_doctor'],
        institution, code='10100000029')
    nurse_user, nurse = create_professional(
        'Paul', 'Durand', 'paul', ['health.group_health_nursing'],
        institution, code='10100000037')
    create_user('nadia', ['health.group_health_frontdesk'])

    pathologies = [create_pathology(c, n) for c, n in CONDITIONS]
    allergies = [(create_pathology(c, n), t) for c, n, t in ALLERGIES]
    medicaments = [
        (create_medicament(name, atc), dose, unit, every)
        for name, atc, dose, unit, every in MEDICAMENTS]
    vaccines = [
        create_medicament(name, atc, vaccine=True) for name, atc in VACCINES]

    patients = []
    for index, family in enumerate(FAMILY_NAMES):
        sex = 'f' if index % 2 == 0 else 'm'
        given = GIVEN_NAMES[sex][index // 2 % len(GIVEN_NAMES[sex])]
        dob = dt.date(rng.randint(1938, 2008), rng.randint(1, 12),
            rng.randint(1, 28))
        patient = create_patient(given, family, gender=sex, dob=dob)
        party = patient.party
        identifier = party.alternative_ids.new()
        identifier.alternative_id_type = 'country_id'
        identifier.code = '%d%02d%02d75%03d%03d' % (
            1 if sex == 'm' else 2, dob.year % 100, dob.month,
            rng.randint(1, 999), rng.randint(1, 999))
        party.alternative_identification = True
        party.save()
        patient.primary_care_doctor = doctor if index % 4 else doctor2
        patient.biological_sex = sex
        for pathology in rng.sample(pathologies, rng.randint(1, 3)):
            disease = patient.diseases.new()
            disease.pathology = pathology
            disease.is_active = True
            disease.status = 'c'
            disease.diagnosed_date = TODAY - dt.timedelta(
                days=rng.randint(200, 4000))
        if index % 5 == 0:
            pathology, kind = allergies[index % 2]
            allergy = patient.diseases.new()
            allergy.pathology = pathology
            allergy.is_active = True
            allergy.is_allergy = True
            allergy.allergy_type = kind
        medicament, dose, unit, every = rng.choice(medicaments)
        medication = patient.medications.new()
        medication.medicament = medicament
        medication.is_active = True
        medication.dose = dose
        medication.frequency = every
        medication.frequency_unit = 'hours'
        medication.start_treatment = dt.datetime.combine(
            TODAY - dt.timedelta(days=rng.randint(30, 700)), dt.time(9))
        patient.save()
        patients.append(patient)

    Patient = Model.get('gnuhealth.patient')
    Evaluation = Model.get('gnuhealth.patient.evaluation')
    Vaccination = Model.get('gnuhealth.vaccination')
    Prescription = Model.get('gnuhealth.prescription.order')
    DoseUnit = Model.get('gnuhealth.dose.unit')
    Document = Model.get('gnuhealth.shared_record.document')
    DocumentType = Model.get('gnuhealth.shared_record.document.type')

    for index, patient in enumerate(patients):
        author_user, author = (
            (doctor_user, doctor) if index % 4 else (doctor2_user, doctor2))

        act_as(nurse_user)
        # Lucie's tetanus booster is due: the nurse gives it in the tour
        choices = [
            v for v in vaccines
            if index or not v.atc_code.startswith('J07CA')]
        for number, vaccine in enumerate(rng.sample(choices, 2), 1):
            vaccination = Vaccination(
                patient=Patient(patient.id), vaccine=vaccine, dose=1,
                date=dt.datetime.combine(
                    TODAY - dt.timedelta(days=rng.randint(20, 900)),
                    dt.time(10, 30)),
                vaccine_lot='LOT-%05d' % rng.randint(1, 99999),
                admin_route='im')
            vaccination.save()
            vaccination.click('sign')
            if number == 1:
                vaccination.click('publish_shared_record')

        act_as(author_user)
        Patient = Model.get('gnuhealth.patient')
        Evaluation = Model.get('gnuhealth.patient.evaluation')
        Prescription = Model.get('gnuhealth.prescription.order')
        evaluation = Evaluation(
            patient=Patient(patient.id), healthprof=author,
            institution=institution,
            evaluation_start=dt.datetime.combine(
                TODAY - dt.timedelta(days=rng.randint(1, 60)),
                dt.time(rng.randint(8, 17), 15)),
            chief_complaint=rng.choice(COMPLAINTS),
            present_illness='Symptoms for %d days.' % rng.randint(2, 30),
            systolic=rng.randint(110, 165), diastolic=rng.randint(65, 100),
            bpm=rng.randint(55, 95), temperature=round(
                rng.uniform(36.2, 38.4), 1),
            weight=round(rng.uniform(52, 98), 1),
            diagnosis=rng.choice(pathologies),
            directions='Review in %d weeks.' % rng.randint(2, 12),
            discharge_reason='home')
        evaluation.save()
        evaluation.click('end_evaluation')
        evaluation.click('publish_shared_record')
        if index % 6 == 1:
            # A second version, after completing the plan
            evaluation.directions = (
                (evaluation.directions or '') + '\nReview in two weeks.')
            evaluation.save()
            evaluation.click('publish_shared_record')

        medicament, dose, unit, every = rng.choice(medicaments)
        prescription = Prescription(
            patient=Patient(patient.id), healthprof=author,
            notes='Take with a glass of water.')
        # The doctor has checked pregnancy and allergies
        prescription.pregnancy_warning = False
        prescription.allergy_warning = False
        prescription.prescription_warning_ack = True
        line = prescription.prescription_line.new()
        line.medicament = medicament
        line.dose = dose
        line.dose_unit, = DoseUnit.find([('code', '=', unit)])
        line.frequency = every
        line.frequency_unit = 'hours'
        line.duration = rng.choice([7, 30, 90])
        line.duration_period = 'days'
        line.quantity = 30
        line.start_treatment = dt.datetime.combine(TODAY, dt.time(9))
        prescription.save()
        prescription.click('create_prescription')
        prescription.click('publish_shared_record')

        Patient(patient.id).click('publish_shared_record')

    act_as(doctor_user)
    Document = Model.get('gnuhealth.shared_record.document')
    DocumentType = Model.get('gnuhealth.shared_record.document.type')
    Patient = Model.get('gnuhealth.patient')
    referral, = DocumentType.find([('code', '=', '57133-1')])
    first = Patient(patients[1].id)
    add_file = Wizard('gnuhealth.shared_record.add_file', [first])
    add_file.form.document_type = referral
    add_file.form.title = 'Letter from the cardiologist'
    add_file.form.file = LETTER_PDF
    add_file.form.file_name = 'cardiology.pdf'
    add_file.execute('publish')

    # A result that Lucie reads only once her doctor has explained it
    act_as(doctor2_user)
    Document = Model.get('gnuhealth.shared_record.document')
    biopsy = Document(
        patient=Model.get('gnuhealth.patient')(patients[0].id),
        document_type=DocumentType.find([('code', '=', '11502-2')])[0],
        title='Breast biopsy result', file=LETTER_PDF,
        file_name='biopsy.pdf', file_type='application/pdf',
        hidden_from_patient=True,
        patient_release_date=TODAY + dt.timedelta(days=14))
    biopsy.save()
    biopsy.click('publish')
    act_as(doctor_user)
    Document = Model.get('gnuhealth.shared_record.document')

    mistaken, = Document.find([
            ('patient', '=', patients[2].id),
            ('document_type.code', '=', '57833-6'),
            ('state', '=', 'published'),
            ])
    mistaken.withdrawal_reason = 'Prescribed for the wrong patient.'
    mistaken.save()
    mistaken.click('withdraw')

    # The patient's side: two patients log in; Lucie masks her prescription
    # and her summary, and reads who opened them; Hugo Dubois blocks
    # Dr Lefebvre, who declares an emergency on another patient
    act_as(admin)
    patient_group = 'health_shared_record.group_shared_record_patient'
    for patient, login in [(patients[0], 'lucie'), (patients[1], 'hugod')]:
        user = create_user(login, [patient_group])
        party = Model.get('party.party')(patient.party.id)
        party.internal_user = user
        party.save()
        PATIENT_LOGINS[login] = user
    act_as(PATIENT_LOGINS['lucie'])
    prescription, = Model.get('gnuhealth.shared_record.document').find([
            ('document_type.code', '=', '57833-6'),
            ('state', '=', 'published'),
            ])
    prescription.click('mask')
    # and her patient summary, which Dr Martin, not her doctor, no longer
    # sees (GNU Health's own record of her stays whole for him)
    summary, = Model.get('gnuhealth.shared_record.document').find([
            ('document_type.code', '=', '60591-5'),
            ('state', '=', 'published'),
            ])
    summary.click('mask')
    act_as(PATIENT_LOGINS['hugod'])
    block = Wizard('gnuhealth.shared_record.block', [
            Model.get('gnuhealth.patient')(patients[1].id)])
    block.form.professionals.append(
        Model.get('gnuhealth.healthprofessional')(doctor2.id))
    block.execute('save')
    act_as(doctor2_user)
    Report('gnuhealth.shared_record.document.rendering').execute(
        [Model.get('gnuhealth.shared_record.document')(prescription.id)])
    access = Model.get('gnuhealth.shared_record.emergency_access')()
    access.patient = Model.get('gnuhealth.patient')(patients[3].id)
    access.reason = 'Brought unconscious to the emergency room'
    access.save()
    act_as(doctor_user)

    # Every patient's prevention calendar, as the nightly cron makes it
    act_as(admin)
    Patient = Model.get('gnuhealth.patient')
    Patient.click(Patient.find([]), 'compute_prevention')
    act_as(doctor_user)

    if repository:
        # A hospital published a summary for Lucie; her doctor fetches it
        from helpers import publish_on_peer
        lucie = Model.get('gnuhealth.patient')(patients[0].id)
        national_id = lucie.party.alternative_ids[0].code
        publish_on_peer(
            repository, national_id, '1.2.250.1.888.1.1',
            hospital_summary(lucie, national_id), document={
                'type_code': '60591-5',
                'type_name': 'Patient summary document',
                'title': 'Discharge summary, Hôpital Nord',
                'author_name': 'Durand, Marc',
                'custodian_id': 'HOSP-NORD',
                'custodian_name': 'Hôpital Nord',
                'date': dt.datetime.combine(
                    TODAY - dt.timedelta(days=40), dt.time(16)),
                })
        act_as(doctor2_user)
        Model.get('gnuhealth.patient')(patients[0].id).click(
            'fetch_shared_record')
        act_as(doctor_user)

    Reminder = Model.get('gnuhealth.prevention.reminder')
    states = Counter(r.state for r in Reminder.find([]))
    Document = Model.get('gnuhealth.shared_record.document')
    print('%d patients, %d documents; prevention: %s' % (
            len(patients), len(Document.find([])),
            ', '.join(f'{n} {s}' for s, n in sorted(states.items()))))


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('-c', '--config', required=True)
    parser.add_argument(
        '--repository', help="the FHIR base URL of a document repository")
    arguments = parser.parse_args()
    main(arguments.database, arguments.config, arguments.repository)
