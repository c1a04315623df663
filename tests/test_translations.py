# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Every string of the module is translated into French and Spanish"""
import re
import unittest

import polib

from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

from helpers import ROOT, module_catalogue

LOCALE = ROOT / 'health_shared_record' / 'locale'
LANGUAGES = ['fr', 'es']
PLACEHOLDER = re.compile(r'%\(\w+\)s')


class TranslationsTestCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        activate_module(['health_shared_record', 'health_lab'])

    @with_transaction()
    def test_every_string_is_translated(self):
        catalogue = module_catalogue()
        self.assertGreater(len(catalogue), 150)
        for language in LANGUAGES:
            with self.subTest(language=language):
                po = polib.pofile(str(LOCALE / f'{language}.po'))
                translated = {
                    (e.msgctxt, e.msgid): e.msgstr for e in po
                    if e.msgstr and 'fuzzy' not in e.flags}
                missing = [
                    f'{e.msgctxt} {e.msgid!r}' for e in catalogue
                    if (e.msgctxt, e.msgid) not in translated]
                self.assertEqual(missing, [], msg=(
                        f'untranslated in locale/{language}.po; '
                        'run scripts/update_po.py and translate'))
                for (context, source), target in translated.items():
                    self.assertEqual(
                        sorted(PLACEHOLDER.findall(source)),
                        sorted(PLACEHOLDER.findall(target)),
                        msg=f'{language}: {context}')

    @with_transaction()
    def test_messages_come_in_the_user_language(self):
        Lang = Pool().get('ir.lang')
        Lang.load_translations(Lang.search([('code', 'in', LANGUAGES)]))
        message = 'health_shared_record.msg_withdrawal_reason_required'
        self.assertEqual(
            gettext(message, 'fr', document='CR'),
            'Dites pourquoi le document « CR » est retiré : '
            'renseignez d\'abord le motif du retrait.')
        self.assertEqual(
            gettext(message, 'es', document='CR'),
            'Indique por qué se retira el documento «CR»: '
            'rellene primero el motivo de la retirada.')

    @with_transaction()
    def test_document_forms_label_each_field_once(self):
        "No two fields of a document form read the same, in any language"
        from lxml import etree
        pool = Pool()
        Lang = pool.get('ir.lang')
        Document = pool.get('gnuhealth.shared_record.document')
        Lang.load_translations(Lang.search([('code', 'in', LANGUAGES)]))
        for language in ['en'] + LANGUAGES:
            with self.subTest(language=language), \
                    Transaction().set_context(language=language):
                view = Document.fields_view_get(None, 'form')
                arch = etree.fromstring(view['arch'])
                labels = {}
                for node in arch.iter('label', 'page'):
                    name = node.get('name')
                    if name not in view['fields']:
                        continue
                    string = node.get('string') or (
                        view['fields'][name]['string'])
                    labels.setdefault(string.strip().lower(), set()).add(name)
                self.assertGreater(len(labels), 10)
                self.assertEqual(
                    {s: n for s, n in labels.items() if len(n) > 1}, {})
