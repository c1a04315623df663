# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The labels of the module's selections, read once per language
(selection.py), are what trytond gives when it reads them every time: the
same answers to the client, in every language, and a translation changed
shows at once"""
import datetime as dt
import sys
import unittest

from trytond.pool import Pool
from trytond.tests.test_tryton import (
    activate_module, drop_db, with_transaction)
from trytond.transaction import Transaction

from helpers import ROOT

sys.path.insert(0, str(ROOT / 'bench'))
from clinic import (  # noqa: E402
    create_clinic, create_doctors, create_patient_parties)

from health_shared_record.selection import Selection  # noqa: E402

LANGUAGES = ['en', 'fr', 'es']
DOCUMENT = 'gnuhealth.shared_record.document'


def static_selections():
    "(model, field name) of the module's fixed selections"
    for name, Model in Pool().iterobject():
        for field_name, field in getattr(Model, '_fields', {}).items():
            if (isinstance(field, Selection)
                    and not isinstance(field.selection, str)):
                yield Model, field_name


class SelectionLabelsTestCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        activate_module('health_shared_record')

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        drop_db()

    def setUp(self):
        self.addCleanup(setattr, Selection, 'cached', True)

    def load_languages(self):
        Lang = Pool().get('ir.lang')
        Lang.load_translations(Lang.search([('code', 'in', LANGUAGES)]))

    @with_transaction()
    def test_every_label_is_trytonds(self):
        self.load_languages()
        selections = list(static_selections())
        self.assertGreater(len(selections), 15)
        for language in LANGUAGES:
            with Transaction().set_context(language=language):
                for Model, name in selections:
                    expected = dict(
                        Model.fields_get([name])[name]['selection'])
                    field = Model._fields[name]
                    # Twice: the second answer is the kept one
                    for _ in range(2):
                        self.assertEqual(
                            field.get_selection(Model, name, None), expected,
                            msg=f'{Model.__name__}.{name} {language}')

    @with_transaction(user=0)
    def test_a_list_reads_the_same_labels(self):
        "What the client reads of a list is what trytond 7.0 answers"
        pool = Pool()
        Patient = pool.get('gnuhealth.patient')
        Document = pool.get(DOCUMENT)
        DocumentType = pool.get(f'{DOCUMENT}.type')
        self.load_languages()
        company, institution = create_clinic()
        users, professionals = create_doctors(['claire'], company, institution)
        patient, = Patient.create([{
                    'party': create_patient_parties(1)[0],
                    'primary_care_doctor': professionals[0].id}])
        content = b'<ClinicalDocument/>'
        Document.create([{
                    'patient': patient.id,
                    'document_type': document_type.id,
                    'title': f'Document {i}',
                    'effective_date': dt.datetime(2026, 1, 1 + i),
                    'author': professionals[0].id,
                    'institution': institution.id,
                    'state': state, 'confidentiality': confidentiality,
                    'unique_id': f'urn:uuid:label-{i}',
                    'set_id': f'urn:uuid:label-{i}', 'version': 1,
                    'content': content, 'size': len(content),
                    'sha256': '0' * 64,
                    'published_date': dt.datetime(2026, 1, 1 + i)}
                for i, (document_type, state, confidentiality) in enumerate(
                    zip(DocumentType.search([], limit=6),
                        ['published', 'withdrawn', 'superseded'] * 2,
                        ['N', 'R', 'V'] * 2))])
        columns = [
            'title', 'state', 'state:string', 'confidentiality',
            'confidentiality:string', 'document_type.rec_name', 'markers']
        labels = {}
        for language in LANGUAGES:
            answers = []
            for cached in [False, True, True]:
                Selection.cached = cached
                with Transaction().set_context(language=language):
                    ids = Document.search([('patient', '=', patient.id)])
                    answers.append(Document.read(list(map(int, ids)), columns))
            self.assertEqual(len(answers[0]), 6)
            self.assertEqual(answers[1], answers[0], msg=language)
            self.assertEqual(answers[2], answers[0], msg=language)
            labels[language] = {r['state:string'] for r in answers[0]}
        # Each language's own words
        self.assertEqual(
            labels['en'], {'Published', 'Withdrawn', 'Superseded'})
        self.assertIn('Publié', labels['fr'])
        self.assertIn('Publicado', labels['es'])

    @with_transaction()
    def test_a_translation_changed_shows_at_once(self):
        pool = Pool()
        Translation = pool.get('ir.translation')
        Document = pool.get(DOCUMENT)
        self.load_languages()
        field = Document._fields['state']
        with Transaction().set_context(language='fr'):
            before = field.get_selection(Document, 'state', None)
            translation, = Translation.search([
                    ('lang', '=', 'fr'), ('type', '=', 'selection'),
                    ('name', '=', f'{DOCUMENT},state'),
                    ('src', '=', 'Published'),
                    ])
            Translation.write([translation], {'value': 'En ligne'})
            after = field.get_selection(Document, 'state', None)
        self.assertNotEqual(before['published'], 'En ligne')
        self.assertEqual(after['published'], 'En ligne')
