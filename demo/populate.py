#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Fill a fresh database with a small clinic that shows every feature of
the shared record: professionals with logins, patients with evaluations,
vaccinations and prescriptions, and the documents published from them.
The clinic is in Lyon; --lang says the language its users and documents
speak (French unless told)."""
import argparse
import datetime as dt
from collections import Counter
import pathlib
import random
import sys
from zoneinfo import ZoneInfo

from proteus import Model, Report, Wizard
from proteus import config as proteus_config

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / 'tests'))
from helpers import (  # noqa: E402
    PASSWORD, create_medicament, create_pathology, create_patient,
    create_professional, create_user, setup_clinic)
from clinic import (  # noqa: E402
    ALLERGIES, CLINIC, CONDITIONS, DOSAGE_HOURS, FAMILY_NAMES, GIVEN_NAMES,
    LANGUAGES, LONG_TERM, MEDICAMENTS, PATHOLOGIES, TEXTS, TIMEZONE, VACCINES,
    VISITS, T)

TODAY = dt.date.today()
ZONE = ZoneInfo(TIMEZONE)
PATIENT_LOGINS = {}
# The demo's language, set by main
LANGUAGE = 'fr'
BLOOD = T('Whole blood (EDTA)', 'Sang total (EDTA)')
ADDENDUM = T('Addendum: blood tests prescribed before the next visit.',
    'Complément : bilan sanguin prescrit avant la prochaine consultation.')


def say(text):
    "The text in the demo's language"
    return text[LANGUAGE]


def at(day, hour, minute=0):
    "The time, as the database keeps it (UTC), of hour:minute at the clinic"
    return dt.datetime.combine(day, dt.time(hour, minute), ZONE).astimezone(
        dt.timezone.utc).replace(tzinfo=None)


def working_day(days_ago):
    day = TODAY - dt.timedelta(days=days_ago)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def pdf(text):
    "A one-page PDF saying text: a scanned letter's stand-in"
    escaped = ''.join(
        '\\' + c if c in '()\\' else c if ord(c) < 128
        else '\\%03o' % c.encode('cp1252')[0] for c in text)
    stream = f'BT /F1 12 Tf 72 760 Td ({escaped}) Tj ET'
    return (
        '%PDF-1.4\n'
        '1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n'
        '2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n'
        '3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]'
        '/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>endobj\n'
        f'4 0 obj<</Length {len(stream)}>>stream\n{stream}\n'
        'endstream endobj\n'
        '5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica'
        '/Encoding/WinAnsiEncoding>>endobj\n'
        'trailer<</Root 1 0 R>>\n%%EOF\n').encode('ascii')


def act_as(user):
    config = proteus_config.get_config()
    config.user = int(user) if user else 1
    User = Model.get('res.user')
    config._context = User.get_preferences(True, {})


def in_french(record, **values):
    """Give translatable fields of record, made in English, their French
    values: each user reads them in their own language"""
    config = proteus_config.get_config()
    with config.set_context(language='fr'):
        french = record.__class__(record.id)
        for name, value in values.items():
            setattr(french, name, value)
        french.save()


def by_code(model, codes):
    Records = Model.get(model)
    return {r.code: r for r in Records.find([('code', 'in', list(codes))])}


def setup_french_clinic(language):
    """The clinic's company and institution, in Lyon, speaking language"""
    from trytond.modules.company.tests.tools import get_company
    from trytond.modules.currency.tests.tools import get_currency
    institution = setup_clinic(
        name=CLINIC['name'], currency=get_currency(CLINIC['currency']))
    Country = Model.get('country.country')
    code, code3, numeric, name = CLINIC['country']
    countries = Country.find([('code', '=', code)])
    if countries:
        country, = countries
    else:
        country = Country(
            name=name, code=code, code3=code3, code_numeric=numeric)
        country.save()
    party = Model.get('party.party')(institution.party.id)
    party.lang, = Model.get('ir.lang').find([('code', '=', language)])
    address = party.addresses[0] if party.addresses else party.addresses.new()
    address.street = CLINIC['street']
    address.postal_code = CLINIC['postal_code']
    address.city = CLINIC['city']
    address.country = country
    party.save()
    company = get_company()
    company.timezone = TIMEZONE
    company.save()
    return institution


def create_staff(
        name, lastname, login, group, institution, code, gender, specialty):
    user, professional = create_professional(
        name, lastname, login, [group], institution, code=code)
    party = professional.party
    party.gender = gender
    party.lang, = Model.get('ir.lang').find([('code', '=', LANGUAGE)])
    party.save()
    professional.specialties.new(
        specialty=by_code('gnuhealth.specialty', [specialty])[specialty],
        mainsp=True)
    professional.save()
    return user, professional


class Pharmacy:
    "What a prescription line or a patient's medication is made of"

    def __init__(self, medicaments):
        self.medicaments = medicaments
        self.units = by_code('gnuhealth.dose.unit', ['mg', 'ug'])
        self.forms = by_code(
            'gnuhealth.drug.form', {m.form for m in MEDICAMENTS.values()})
        self.routes = by_code('gnuhealth.drug.route', ['PO', 'IH'])
        self.dosages = by_code('gnuhealth.medication.dosage', DOSAGE_HOURS)

    def fill(self, line, treatment, start, course=True):
        """Fill line with treatment from start; course: for its days, else
        ongoing"""
        line.medicament = self.medicaments[treatment.medicament]
        line.form = self.forms[MEDICAMENTS[treatment.medicament].form]
        line.route = self.routes[treatment.route]
        line.dose = treatment.dose
        line.dose_unit = self.units[treatment.unit]
        line.qty = treatment.units
        if treatment.dosage:
            line.common_dosage = self.dosages[treatment.dosage]
            line.frequency = DOSAGE_HOURS[treatment.dosage]
            line.frequency_unit = 'hours'
        else:
            line.frequency_prn = True
        if course:
            line.duration = treatment.days
            line.duration_period = 'days'
        line.start_treatment = start


def vitals(rng, visit, sex):
    "The signs the doctor measures, those of the complaint standing out"
    values = {
        'systolic': rng.randint(112, 135), 'diastolic': rng.randint(68, 84),
        'bpm': rng.randint(60, 84), 'respiratory_rate': rng.randint(12, 16),
        'osat': rng.randint(96, 99),
        'temperature': round(rng.uniform(36.4, 37.1), 1),
        'height': rng.randint(155, 172) if sex == 'f' else rng.randint(
            165, 186),
        }
    values['weight'] = round(
        values['height'] ** 2 / 10000 * rng.uniform(20, 30), 1)
    if 'pressure' in visit.vitals:
        values.update(
            systolic=rng.randint(145, 165), diastolic=rng.randint(88, 100))
    if 'fever' in visit.vitals:
        values.update(
            temperature=round(rng.uniform(38.0, 38.8), 1),
            bpm=rng.randint(86, 100))
    if 'breath' in visit.vitals:
        values.update(
            osat=rng.randint(92, 95), respiratory_rate=rng.randint(18, 22),
            bpm=rng.randint(82, 96))
    if 'glucose' in visit.vitals:
        values['glycemia'] = rng.randint(150, 200)
    return values


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
        title=say(TEXTS['summary_title']),
        effective_time=dt.datetime.combine(
            TODAY - dt.timedelta(days=40), dt.time(16)),
        confidentiality='N',
        language={'fr': 'fr-FR', 'en': 'en-GB'}[LANGUAGE], realm='FR',
        patient=cda.Person(
            [cda.Identifier(INS_SYSTEM, national_id)], party.name,
            party.lastname, party.gender, party.dob),
        author=cda.Person(
            [cda.Identifier('1.2.250.1.71.4.2.1', '10199999999')],
            'Marc', 'Durand'),
        author_time=dt.datetime.combine(
            TODAY - dt.timedelta(days=40), dt.time(16)),
        custodian=cda.Organization(
            cda.Identifier('1.2.250.1.888.4', 'HOSP-NORD'),
            say(TEXTS['hospital'])))
    problem = cda.Code('55607006', cda.SNOMED, 'Problem')
    return cda.build(header, [
            cda.Section(
                cda.section_code('11450-4'), say(TEXTS['problems']),
                [cda.Paragraph(say(TEXTS['problems_text']))],
                [cda.Observation(
                        problem, cda.Code('I48', cda.ICD10,
                            say(TEXTS['atrial_fibrillation'])),
                        TODAY - dt.timedelta(days=42), 'active')]),
            cda.Section(
                cda.section_code('10160-0'), say(TEXTS['medications']),
                [cda.Paragraph(say(TEXTS['medications_text']))],
                [cda.Administration(
                        'Apixaban 5 mg', cda.Code('B01AF02', cda.ATC),
                        start=TODAY - dt.timedelta(days=41),
                        status='active')]),
            ])


def blood_count(lab_user, doctor_user, doctor, patient):
    """A blood count the doctor asked for, which the laboratory validates
    and the doctor publishes: an anaemia, its haemoglobin critical"""
    TestType = Model.get('gnuhealth.lab.test_type')
    act_as(lab_user)
    Lab = Model.get('gnuhealth.lab')
    cbc, = TestType.find([('code', '=', 'CBC')])
    collected = at(working_day(2), 7, 30)
    lab = Lab(
        test=cbc, patient=Model.get('gnuhealth.patient')(patient.id),
        requestor=Model.get('gnuhealth.healthprofessional')(doctor.id),
        specimen_type=say(BLOOD), shared_record_collected=collected,
        date_requested=collected, date_analysis=collected)
    lab.save()
    lab.click('complete_criteareas')
    values = {
        'HGB': 6.8, 'RBC': 2.9, 'HCT': 24, 'MCV': 78, 'WBC': 7.2,
        'PLT': 310, 'NEU': 4.1, 'LYM': 2.2}
    for line in lab.critearea:
        if line.code in values:
            line.result = values[line.code]
        else:
            line.excluded = True
    lab.save()
    lab.click('generate_document')
    lab.click('shared_record_validate')
    act_as(doctor_user)
    Lab(lab.id).click('publish_shared_record')


def main(database, config_file, language='fr', repository=None):
    global LANGUAGE
    LANGUAGE = language
    proteus_config.set_trytond(database, config_file=config_file)
    rng = random.Random(2026)

    Lang = Model.get('ir.lang')
    lang, = Lang.find([('code', '=', language)])
    if not lang.translatable:
        # trytond-admin was not told to load it (bin/demo tells it)
        lang.click('load_translations')
    User = Model.get('res.user')
    admin, = User.find([('login', '=', 'admin')])
    admin.password = PASSWORD
    admin.save()

    institution = setup_french_clinic(language)
    act_as(admin)
    Configuration = Model.get('gnuhealth.shared_record.configuration')
    configuration = Configuration(1)
    configuration.national_identifier_type = 'country_id'
    configuration.national_identifier_system = '1.2.250.1.213.1.4.8'
    # The documents are written in the clinic's language, whoever
    # publishes them
    configuration.language = lang
    # Every document published below goes to the repository, if any
    configuration.repository_url = repository
    configuration.save()

    doctor_user, doctor = create_staff(
        'Claire', 'Martin', 'claire', 'health.group_health_doctor',
        institution, '10100000011', 'f', 'GP')
    doctor2_user, doctor2 = create_staff(
        'Hugo', 'Lefebvre', 'hugo', 'health.group_health_doctor',
        institution, '10100000029', 'm', 'GP')
    nurse_user, nurse = create_staff(
        'Paul', 'Durand', 'paul', 'health.group_health_nursing',
        institution, '10100000037', 'm', 'NURSING')
    create_user('nadia', ['health.group_health_frontdesk'])
    # The laboratory's technician, who validates results
    lab_user, technician = create_professional(
        'Théo', 'Roux', 'theo', ['health_lab.group_health_lab'],
        institution, code='10100000045')

    # Named in English, as GNU Health's catalogues are, and in French
    pathologies = {}
    for code, name in PATHOLOGIES.items():
        pathologies[code] = create_pathology(code, name['en'])
        in_french(pathologies[code], name=name['fr'])
    medicaments = {}
    for key, medicament in MEDICAMENTS.items():
        medicaments[key] = create_medicament(
            medicament.name['en'], medicament.atc)
        in_french(medicaments[key].product.template,
            name=medicament.name['fr'])
    vaccines = []
    for name, atc in VACCINES:
        vaccines.append(create_medicament(name['en'], atc, vaccine=True))
        in_french(vaccines[-1].product.template, name=name['fr'])
    pharmacy = Pharmacy(medicaments)

    patients, visits, deck = [], [], []
    for index, family in enumerate(FAMILY_NAMES):
        sex = 'f' if index % 2 == 0 else 'm'
        given = GIVEN_NAMES[sex][index // 2 % len(GIVEN_NAMES[sex])]
        dob = dt.date(rng.randint(1938, 2008), rng.randint(1, 12),
            rng.randint(1, 28))
        patient = create_patient(given, family, gender=sex, dob=dob)
        party = patient.party
        party.lang = lang
        identifier = party.alternative_ids.new()
        identifier.alternative_id_type = 'country_id'
        identifier.code = '%d%02d%02d75%03d%03d' % (
            1 if sex == 'm' else 2, dob.year % 100, dob.month,
            rng.randint(1, 999), rng.randint(1, 999))
        party.alternative_identification = True
        party.save()
        patient.primary_care_doctor = doctor if index % 4 else doctor2
        patient.biological_sex = sex
        allergy = ALLERGIES[index // 5 % 2] if index % 5 == 0 else None
        # What the patient comes for, every kind of visit in turn: none
        # that would treat them with what they are allergic to
        if not deck:
            deck = rng.sample(VISITS, len(VISITS))
        visit = next(
            v for v in deck if v.sex in {None, sex}
            and not (allergy and allergy[0] == 'Z88.0'
                and v.treatment.medicament == 'amoxicillin'))
        deck.remove(visit)
        day = working_day(rng.randint(1, 60))
        visits.append((visit, day))
        conditions = rng.sample(CONDITIONS, rng.randint(0, 2))
        if visit.diagnosis in CONDITIONS:
            conditions = [visit.diagnosis] + [
                c for c in conditions if c != visit.diagnosis]
        elif not conditions:
            conditions = [rng.choice(CONDITIONS)]
        for code in conditions:
            disease = patient.diseases.new()
            disease.pathology = pathologies[code]
            disease.is_active = True
            disease.status = 'c'
            disease.diagnosed_date = (
                day if code == visit.diagnosis and not visit.follow_up
                else TODAY - dt.timedelta(days=rng.randint(200, 4000)))
            if code in LONG_TERM and disease.diagnosed_date < day:
                medication = patient.medications.new()
                pharmacy.fill(medication, LONG_TERM[code],
                    at(disease.diagnosed_date, 9), course=False)
                medication.indication = pathologies[code]
                medication.is_active = True
        if allergy:
            code, kind, _ = allergy
            disease = patient.diseases.new()
            disease.pathology = pathologies[code]
            disease.is_active = True
            disease.is_allergy = True
            disease.allergy_type = kind
        patient.save()
        patients.append(patient)

    for index, (patient, (visit, day)) in enumerate(zip(patients, visits)):
        author_user, author = (
            (doctor_user, doctor) if index % 4 else (doctor2_user, doctor2))

        act_as(nurse_user)
        Patient = Model.get('gnuhealth.patient')
        Vaccination = Model.get('gnuhealth.vaccination')
        # Lucie's tetanus booster is due: the nurse gives it in the tour
        choices = [
            v for v in vaccines
            if index or not v.atc_code.startswith('J07CA')]
        for number, vaccine in enumerate(rng.sample(choices, 2), 1):
            vaccination = Vaccination(
                patient=Patient(patient.id), vaccine=vaccine, dose=1,
                date=at(working_day(rng.randint(20, 900)), 10, 30),
                vaccine_lot='LOT-%05d' % rng.randint(1, 99999),
                admin_route='im', admin_site='ld', amount=0.5,
                institution=institution, healthprof=nurse)
            vaccination.save()
            # The nurse who gave it signs it
            vaccination.click('sign')
            if number == 1:
                vaccination.click('publish_shared_record')

        act_as(author_user)
        Patient = Model.get('gnuhealth.patient')
        Evaluation = Model.get('gnuhealth.patient.evaluation')
        Prescription = Model.get('gnuhealth.prescription.order')
        start = at(day, rng.randint(8, 17), rng.choice([0, 15, 30, 45]))
        end = start + dt.timedelta(minutes=rng.randint(10, 30))
        evaluation = Evaluation(
            patient=Patient(patient.id), healthprof=author,
            institution=institution, evaluation_start=start,
            visit_type='followup' if visit.follow_up else 'new',
            urgency='a', chief_complaint=say(visit.complaint),
            present_illness=say(visit.illness),
            diagnosis=pathologies[visit.diagnosis],
            directions=say(visit.directions), discharge_reason='home',
            **vitals(rng, visit, patient.biological_sex))
        evaluation.save()
        evaluation.click('end_evaluation')
        # GNU Health ends it now; the doctor ended it minutes after start
        evaluation = Evaluation(evaluation.id)
        evaluation.evaluation_endtime = end
        evaluation.save()
        evaluation.click('publish_shared_record')
        if index % 6 == 1:
            # A second version, after completing the note
            evaluation = Evaluation(evaluation.id)
            evaluation.directions += ' ' + say(ADDENDUM)
            evaluation.save()
            evaluation.click('publish_shared_record')

        prescription = Prescription(
            patient=Patient(patient.id), healthprof=author,
            prescription_date=end)
        # The doctor has checked pregnancy and allergies
        prescription.pregnancy_warning = False
        prescription.allergy_warning = False
        prescription.prescription_warning_ack = True
        line = prescription.prescription_line.new()
        pharmacy.fill(line, visit.treatment, end)
        line.indication = pathologies[visit.diagnosis]
        line.quantity = visit.treatment.quantity
        line.short_comment = say(visit.note)
        prescription.save()
        prescription.click('create_prescription')
        prescription.click('publish_shared_record')

        Patient(patient.id).click('publish_shared_record')

    blood_count(lab_user, doctor2_user, doctor2, patients[0])

    act_as(doctor_user)
    Document = Model.get('gnuhealth.shared_record.document')
    DocumentType = Model.get('gnuhealth.shared_record.document.type')
    Patient = Model.get('gnuhealth.patient')
    referral, = DocumentType.find([('code', '=', '57133-1')])
    first = Patient(patients[1].id)
    add_file = Wizard('gnuhealth.shared_record.add_file', [first])
    add_file.form.document_type = referral
    add_file.form.title = say(TEXTS['letter_title'])
    add_file.form.file = pdf(say(TEXTS['letter_body']))
    add_file.form.file_name = 'cardiology.pdf'
    add_file.form.source_author = say(TEXTS['letter_author'])
    add_file.form.source_organization = say(TEXTS['hospital'])
    add_file.execute('publish')
    # Dr Martin sends the letter to the nurse who follows the patient
    letter, = Document.find([('title', '=', say(TEXTS['letter_title']))])
    send = Wizard('gnuhealth.shared_record.message.send', [letter])
    send.form.professionals.append(
        Model.get('gnuhealth.healthprofessional')(nurse.id))
    send.form.text = say(TEXTS['message_text'])
    send.execute('send')

    # A result that Lucie reads only once her doctor has explained it
    act_as(doctor2_user)
    Document = Model.get('gnuhealth.shared_record.document')
    biopsy = Document(
        patient=Model.get('gnuhealth.patient')(patients[0].id),
        document_type=DocumentType.find([('code', '=', '11502-2')])[0],
        title=say(TEXTS['biopsy_title']),
        file=pdf(say(TEXTS['biopsy_body'])),
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
    mistaken.withdrawal_reason = say(TEXTS['withdrawal'])
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
    access.reason = say(TEXTS['emergency'])
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
                'type_name': say(TEXTS['summary_type']),
                'title': say(TEXTS['summary_title']),
                'author_name': 'Durand, Marc',
                'custodian_id': 'HOSP-NORD',
                'custodian_name': say(TEXTS['hospital']),
                'date': dt.datetime.combine(
                    TODAY - dt.timedelta(days=40), dt.time(16)),
                })
        act_as(doctor2_user)
        Model.get('gnuhealth.patient')(patients[0].id).click(
            'fetch_shared_record')
        act_as(doctor_user)

    # Everyone of the clinic works in its language
    act_as(admin)
    User = Model.get('res.user')
    logins = [
        'admin', 'claire', 'hugo', 'paul', 'theo', 'nadia', *PATIENT_LOGINS]
    users = User.find([('login', 'in', logins)])
    for user in users:
        user.language = lang
    User.save(users)
    act_as(doctor_user)

    Reminder = Model.get('gnuhealth.prevention.reminder')
    states = Counter(r.state for r in Reminder.find([]))
    Document = Model.get('gnuhealth.shared_record.document')
    print('%d patients, %d documents, in %s; prevention: %s' % (
            len(patients), len(Document.find([])), language,
            ', '.join(f'{n} {s}' for s, n in sorted(states.items()))))


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('-c', '--config', required=True)
    parser.add_argument(
        '--lang', choices=LANGUAGES, default='fr',
        help="the language of the clinic's users and documents")
    parser.add_argument(
        '--repository', help="the FHIR base URL of a document repository")
    arguments = parser.parse_args()
    main(arguments.database, arguments.config, arguments.lang,
        arguments.repository)
