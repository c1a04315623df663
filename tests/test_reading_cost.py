# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What the module does to read less gives the answers trytond gives:

* its One2Many fields (relation.py) list the lines trytond's One2Many lists,
  in the same order, with the guard, for each kind of user;
* a document type's name is read once per list (document.py);
* who a user is (guard.actor) is kept between requests and follows, at the
  next request, a change of groups, of a party's login, of a professional
  or of a patient."""
import sys
import unittest

from trytond.model import fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, activate_module, drop_db
from trytond.transaction import Transaction, check_access

from helpers import ROOT

sys.path.insert(0, str(ROOT / 'bench'))
from clinic import create_patient_parties  # noqa: E402
from shared_record_tab import setup  # noqa: E402

from health_shared_record import guard, relation  # noqa: E402

DOCUMENT = 'gnuhealth.shared_record.document'


def outcome(function, *args):
    "What function answers, or the refusal"
    try:
        return function(*args)
    except AccessError as error:
        return type(error)


class ReadingCostTestCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        activate_module('health_shared_record')
        with Transaction().start(DB_NAME, 0) as transaction:
            pool = Pool()
            User = pool.get('res.user')
            cls.logins, cls.patients, _ = setup(6, 12, 8, seed=3)
            cls.users = [u.id for u in User.search(
                        [('login', 'in', cls.logins)], order=[('login', 'ASC')])]
            # Some lines in the access history, several on each document
            AccessLog = pool.get('gnuhealth.shared_record.access_log')
            documents = pool.get(DOCUMENT).search([], limit=10)
            AccessLog.create([{
                        'document': d.id, 'patient': d.patient.id,
                        'user': cls.users[i % len(cls.users)],
                        'mode': 'normal', 'action': 'open'}
                    for i in range(40) for d in documents[i % 10:][:1]])
            transaction.commit()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        drop_db()

    def as_user(self, user, commit=False):
        return Transaction().start(
            DB_NAME, user, readonly=not commit, context={'company': None})

    def test_one2many_lines_are_trytonds(self):
        "The same lines, in the same order, as trytond's One2Many gives"
        pool = Pool(DB_NAME)
        for user in [0] + self.users:
            with self.as_user(user), check_access():
                Patient = pool.get('gnuhealth.patient')
                Document = pool.get(DOCUMENT)
                names = [n for n, f in Patient._fields.items()
                    if isinstance(f, relation.One2Many)]
                self.assertIn('shared_record_current', names)
                for name in names:
                    field = Patient._fields[name]
                    ours = outcome(field.get, self.patients, Patient, name)
                    theirs = outcome(fields.One2Many.get,
                        field, self.patients, Patient, name)
                    self.assertEqual(ours, theirs, msg=f'{name} as {user}')
                ids = [d.id for d in Document.search([])][:20]
                field = Document._fields['access_logs']
                self.assertEqual(
                    outcome(field.get, ids, Document, 'access_logs'),
                    outcome(fields.One2Many.get,
                        field, ids, Document, 'access_logs'))
        # A doctor sees only some of them: the guard is in the answer
        with self.as_user(self.users[1]), check_access():
            Patient = pool.get('gnuhealth.patient')
            seen = Patient.read(self.patients, ['shared_record_current'])
        with self.as_user(0):
            Patient = pool.get('gnuhealth.patient')
            every = Patient.read(self.patients, ['shared_record_current'])
        self.assertLess(
            sum(len(r['shared_record_current']) for r in seen),
            sum(len(r['shared_record_current']) for r in every))

    def test_document_type_names_read_once(self):
        pool = Pool(DB_NAME)
        for language in ['en', 'fr']:
            with Transaction().start(DB_NAME, 0, readonly=True, context={
                        'language': language}):
                Document = pool.get(DOCUMENT)
                DocumentType = pool.get(f'{DOCUMENT}.type')
                rows = Document.read(
                    [d.id for d in Document.search([])],
                    ['document_type', 'document_type.rec_name'])
                self.assertGreater(len(rows), 20)
                names = {t.id: t.name for t in DocumentType.search([])}
                for row in rows:
                    self.assertEqual(
                        row['document_type.']['rec_name'],
                        names[row['document_type']])

    def actor(self, user):
        with self.as_user(user):
            return guard.actor()

    def test_actor_follows_changes_at_the_next_request(self):
        pool = Pool(DB_NAME)
        user = self.users[2]
        before = self.actor(user)
        self.assertTrue(before.clinician)
        self.assertGreaterEqual(before.professional, 0)
        self.assertIs(self.actor(user), self.actor(user))

        # Its groups change
        with self.as_user(0, commit=True) as transaction:
            User = pool.get('res.user')
            ModelData = pool.get('ir.model.data')
            doctors = ModelData.get_id('health', 'group_health_doctor')
            User.write([User(user)], {'groups': [('remove', [doctors])]})
            transaction.commit()
        self.assertFalse(self.actor(user).clinician)
        with self.as_user(0, commit=True) as transaction:
            User = pool.get('res.user')
            User.write([User(user)], {'groups': [('add', [doctors])]})
            transaction.commit()
        self.assertTrue(self.actor(user).clinician)

        # Its party no longer logs in as the user
        with self.as_user(0, commit=True) as transaction:
            Professional = pool.get('gnuhealth.healthprofessional')
            Party = pool.get('party.party')
            professional = Professional(before.professional)
            Party.write([professional.party], {'internal_user': None})
            transaction.commit()
        self.assertEqual(self.actor(user).professional, -1)

        # It becomes a patient's login, seen in the same transaction too
        with self.as_user(0, commit=True) as transaction:
            Patient = pool.get('gnuhealth.patient')
            Party = pool.get('party.party')
            party, = create_patient_parties(1)
            Party.write([party], {'internal_user': user})
            patient, = Patient.create([{'party': party.id}])
            with Transaction().set_user(user):
                self.assertEqual(guard.actor().patients, {patient.id})
            transaction.commit()
        self.assertEqual(self.actor(user).patients, {patient.id})

        # The patient record goes to another party
        with self.as_user(0, commit=True) as transaction:
            Patient = pool.get('gnuhealth.patient')
            other, = create_patient_parties(1)
            Patient.write([Patient(patient.id)], {'party': other.id})
            transaction.commit()
        self.assertEqual(self.actor(user).patients, frozenset())

        # A professional is made for a party that logs in as the user
        with self.as_user(0, commit=True) as transaction:
            Professional = pool.get('gnuhealth.healthprofessional')
            Party = pool.get('party.party')
            Party.write([party], {'is_healthprof': True})
            professional, = Professional.create([{'party': party.id}])
            transaction.commit()
        self.assertEqual(self.actor(user).professional, professional.id)
