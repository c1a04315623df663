# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The clinic the benchmarks start from, made with the ORM as user 0"""
import datetime as dt

from trytond.pool import Pool


def create_clinic():
    "Create the company and its health institution; return both"
    pool = Pool()
    Party = pool.get('party.party')
    Company = pool.get('company.company')
    Currency = pool.get('currency.currency')
    Institution = pool.get('gnuhealth.institution')
    currency, = Currency.create([{
                'name': 'Euro', 'code': 'EUR', 'symbol': '€'}])
    clinic, = Party.create([{'name': 'Bench Clinic', 'is_institution': True,
                'create_target': False}])
    company, = Company.create([{'party': clinic, 'currency': currency}])
    institution, = Institution.create([{'party': clinic, 'code': 'BENCH',
                'institution_type': 'clinic', 'public_level': 'private'}])
    return company, institution


def create_doctors(logins, company, institution):
    """Create a doctor logging in with each login; return their users and
    professionals"""
    pool = Pool()
    Party = pool.get('party.party')
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    Professional = pool.get('gnuhealth.healthprofessional')
    doctor_group = ModelData.get_id('health', 'group_health_doctor')
    users = User.create([{
                'name': login, 'login': login,
                'groups': [('add', [doctor_group])],
                'companies': [('add', [company.id])], 'company': company}
            for login in logins])
    # One at a time: GNU Health numbers parties in create() per call
    parties = [Party.create([{
                    'name': user.name.title(), 'lastname': 'Doctor',
                    'is_person': True, 'is_healthprof': True, 'gender': 'f',
                    'internal_user': user, 'create_target': False,
                    'fed_country': None}])[0] for user in users]
    professionals = Professional.create([{
                'party': p, 'institution': institution} for p in parties])
    return users, professionals


def create_patient_parties(count, values=lambda i: {}):
    """Create the parties of count patients, Given<i> Family<i>, women born
    on 1 January 1960 unless values(i) says otherwise"""
    Party = Pool().get('party.party')
    # One at a time: GNU Health numbers parties in create() per call
    return [Party.create([{
                    'name': f'Given{i}', 'lastname': f'Family{i}',
                    'is_person': True, 'is_patient': True, 'gender': 'f',
                    'create_target': False, 'fed_country': None,
                    'dob': dt.date(1960, 1, 1), **values(i)}])[0]
        for i in range(count)]
