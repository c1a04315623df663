# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What the client offers each role of the demo clinic (demo/populate.py):
the menu, the buttons of the forms and the actions of their toolbars, as
the server sends them.  The front desk and the patients are offered nothing
they cannot use; the clinicians keep what they use."""
import contextlib
import os
import tempfile
import unittest
from unittest import mock

from lxml import etree

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    activate_module, drop_db, with_transaction)
from trytond.transaction import Transaction, check_access

MODULE = 'health_shared_record'
# The groups of the demo's users
ROLES = {
    'claire': ['health.group_health_doctor'],
    'paul': ['health.group_health_nursing'],
    'nadia': ['health.group_health_frontdesk'],
    'lucie': [f'{MODULE}.group_shared_record_patient'],
    'olga': [f'{MODULE}.group_shared_record_privacy_officer'],
    }
CLINICIAN_BUTTONS = {
    'gnuhealth.patient': {
        'add_shared_record_file', 'publish_shared_record',
        'declare_emergency_access', 'fetch_shared_record',
        'compute_prevention'},
    'gnuhealth.shared_record.document': {
        'publish', 'withdraw', 'release_to_patient', 'mask_for_patient',
        'unmask_for_patient', 'send_to_repository'},
    'gnuhealth.patient.evaluation': {'publish_shared_record'},
    'gnuhealth.prescription.order': {'publish_shared_record'},
    'gnuhealth.vaccination': {'publish_shared_record'},
    'gnuhealth.prevention.reminder': {'reopen'},
    }
# What the patient and the front desk record for the patient
PRIVACY_BUTTONS = {
    'block_professionals', 'refuse_shared_record', 'accept_shared_record',
    'refuse_emergency_access', 'accept_emergency_access'}
# GNU Health's reports and relations on a patient's records, for its staff
STAFF_ACTIONS = {
    'gnuhealth.patient': [
        'health.report_patient_card', 'health.report_patient_medication',
        'health.report_patient_vaccination', 'health.report_patient_disease',
        'health.act_check_immunization_status', 'health.act_ecg_view'],
    'gnuhealth.patient.evaluation': [
        'health.report_patient_evaluation',
        'health.report_patient_evaluation_brief'],
    'gnuhealth.prescription.order': ['health.report_prescription_order'],
    }
CLINICIAN_ACTIONS = {
    'gnuhealth.patient': [
        f'{MODULE}.act_document_patient',
        f'{MODULE}.report_prevention_calendar'],
    }
PATIENT_ACTIONS = {
    'gnuhealth.patient': [
        f'{MODULE}.act_document_patient',
        f'{MODULE}.report_prevention_calendar'],
    'gnuhealth.shared_record.document': [
        f'{MODULE}.report_document_rendering'],
    }
CLINICIAN_MENUS = [
    'menu_shared_record', 'menu_document', 'menu_add_file',
    'menu_emergency_access', 'menu_prevention', 'menu_prevention_worklist']


def xml_id(name):
    return Pool().get('ir.model.data').get_id(*name.split('.'))


class OfferedTestCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        activate_module(MODULE)

    @classmethod
    def tearDownClass(cls):
        # Its connections closed, the database may be restored for the
        # next tests (trytond's own test cases do the same)
        super().tearDownClass()
        drop_db()

    def setUp(self):
        self.users = {}

    def create_users(self):
        User = Pool().get('res.user')
        for login, groups in ROLES.items():
            user, = User.create([{
                        'login': login, 'name': login.title(),
                        'groups': [('add', [xml_id(g) for g in groups])],
                        }])
            self.users[login] = user.id

    @contextlib.contextmanager
    def acting_as(self, login):
        "As the client's calls of that user"
        with Transaction().set_user(self.users[login]), check_access():
            yield

    def buttons(self, model, view_type='form'):
        "The buttons of the model's default view, and those greyed"
        arch = etree.fromstring(
            Pool().get(model).fields_view_get(view_type=view_type)['arch'])
        shown, greyed = set(), set()
        for button in arch.iter('button'):
            shown.add(button.get('name'))
            if '"readonly": true' in button.get('states', ''):
                greyed.add(button.get('name'))
        return shown, greyed

    def toolbar(self, model):
        "The ids of the actions of the model's toolbar"
        toolbar = Pool().get(model).view_toolbar_get()
        return {a['id'] for k in ('print', 'action', 'relate')
            for a in toolbar[k]}

    def menus(self):
        "The xml ids of the module's menu entries the user sees"
        pool = Pool()
        Menu = pool.get('ir.ui.menu')
        ModelData = pool.get('ir.model.data')
        ids = {m.id for m in Menu.search([])}
        with Transaction().set_user(0):
            return {d.fs_id for d in ModelData.search([
                        ('module', '=', MODULE),
                        ('model', '=', 'ir.ui.menu'),
                        ('db_id', 'in', list(ids)),
                        ])}

    def assert_privacy_buttons_only(self):
        """No clinician's button is offered, and the patient's privacy
        buttons are, not greyed"""
        for model, buttons in CLINICIAN_BUTTONS.items():
            shown, _ = self.buttons(model)
            self.assertFalse(shown & buttons, msg=model)
        shown, greyed = self.buttons('gnuhealth.patient')
        self.assertEqual(shown & PRIVACY_BUTTONS, PRIVACY_BUTTONS)
        self.assertFalse(greyed & PRIVACY_BUTTONS)

    @with_transaction()
    def test_front_desk_offered_no_clinician_action(self):
        self.create_users()
        with self.acting_as('nadia'):
            self.assert_privacy_buttons_only()
            for model, actions in CLINICIAN_ACTIONS.items():
                offered = self.toolbar(model)
                for action in actions:
                    self.assertNotIn(xml_id(action), offered, msg=action)
            self.assertEqual(self.menus(), set())

    @with_transaction()
    def test_report_of_other_groups_refused_in_the_guard_words(self):
        "The readable document is the clinicians' and the patients' only"
        self.create_users()
        Report = Pool().get(
            'gnuhealth.shared_record.document.rendering', type='report')
        with self.acting_as('nadia'):
            with self.assertRaises(UserError) as refusal:
                Report.execute([], {
                        'model': 'gnuhealth.shared_record.document',
                        'ids': [], 'id': None})
        self.assertEqual(
            refusal.exception.message,
            gettext(f'{MODULE}.msg_guard_denied'))

    @with_transaction()
    def test_patient_offered_only_own_actions(self):
        self.create_users()
        with self.acting_as('lucie'):
            self.assert_privacy_buttons_only()
            shown, greyed = self.buttons('gnuhealth.shared_record.document')
            self.assertEqual(shown, {'mask', 'unmask'})
            self.assertFalse(greyed)
            for model, actions in STAFF_ACTIONS.items():
                offered = {xml_id(a) for a in PATIENT_ACTIONS.get(model, [])}
                self.assertEqual(self.toolbar(model), offered, msg=model)
            for model, actions in PATIENT_ACTIONS.items():
                self.assertEqual(
                    self.toolbar(model), {xml_id(a) for a in actions})
            self.assertEqual(self.menus(), {'menu_patient_own'})

    @with_transaction()
    def test_clinicians_keep_their_actions(self):
        self.create_users()
        nurse_only = {
            'gnuhealth.patient': {'publish_shared_record'},
            'gnuhealth.patient.evaluation': {'publish_shared_record'},
            'gnuhealth.prescription.order': {'publish_shared_record'},
            }
        for login in ['claire', 'paul']:
            with self.subTest(login=login), self.acting_as(login):
                for model, buttons in CLINICIAN_BUTTONS.items():
                    if login == 'paul':
                        buttons = buttons - nurse_only.get(model, set())
                    shown, greyed = self.buttons(model)
                    self.assertEqual(shown & buttons, buttons, msg=model)
                    self.assertFalse(greyed & buttons, msg=model)
                for model, actions in (
                        list(STAFF_ACTIONS.items())
                        + list(CLINICIAN_ACTIONS.items())):
                    offered = self.toolbar(model)
                    if login == 'paul':
                        # GNU Health gives nurses no ECG of their own
                        actions = set(actions) - {'health.act_ecg_view'}
                    for action in actions:
                        self.assertIn(xml_id(action), offered, msg=action)
                self.assertLessEqual(set(CLINICIAN_MENUS), self.menus())

    @with_transaction()
    def test_privacy_officer_reaches_the_access_history(self):
        "An officer who is no clinician finds the access history in the menu"
        self.create_users()
        with self.acting_as('olga'):
            self.assertIn('menu_access_log', self.menus())

    @with_transaction()
    def test_printing_without_libreoffice_says_so(self):
        "GNU Health's reports need soffice: without it the user is told"
        pool = Pool()
        ActionReport = pool.get('ir.action.report')
        action = ActionReport(xml_id('health.report_patient_card'))
        Report = pool.get(action.report_name, type='report')
        with tempfile.TemporaryDirectory() as empty, \
                mock.patch.dict(os.environ, {'PATH': empty}):
            with self.assertRaises(UserError) as refusal:
                Report.convert(action, b'<office:document/>')
        self.assertIn('LibreOffice', refusal.exception.message)
        self.assertIn(action.name, refusal.exception.message)
