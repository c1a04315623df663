# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
import contextlib
import os
import time

from lxml import etree

from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction

# The column types that Tryton's web client (sao 7.0) can draw in a list; a
# datetime must be split into widget="date" and widget="time" columns, or the
# client stops on the view without a word from the server.
LIST_WIDGETS = {
    'binary', 'boolean', 'callto', 'char', 'date', 'dict', 'email', 'float',
    'image', 'integer', 'many2many', 'many2one', 'numeric', 'one2many',
    'one2one', 'progressbar', 'reference', 'selection', 'multiselection',
    'sip', 'text', 'time', 'timedelta', 'url'}


@contextlib.contextmanager
def server_clock(zone):
    "The server process's own time zone, as date.today() reads it"
    before = os.environ.get('TZ')
    os.environ['TZ'] = zone
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ['TZ']
        else:
            os.environ['TZ'] = before
        time.tzset()


class SharedRecordTestCase(ModuleTestCase):
    """Tryton's own checks of the module: views, fields, access, buttons;
    with GNU Health's laboratory, whose views the module extends"""
    module = 'health_shared_record'
    extras = ['health_lab']

    @with_transaction()
    def test_list_columns_drawable_by_web_client(self):
        "Every list column of the module, embedded ones included, has a widget"
        pool = Pool()
        View = pool.get('ir.ui.view')
        bad = []

        def check(model, arch, fields, where):
            for node in etree.fromstring(arch).iter('field'):
                name = node.get('name')
                widget = node.get('widget') or fields[name]['type']
                if widget not in LIST_WIDGETS:
                    bad.append(f'{where} {model}.{name}: {widget}')

        views = View.search([
                ('module', '=', self.module),
                ('inherit', '=', None),
                ])
        for view in views:
            Model = pool.get(view.model)
            result = Model.fields_view_get(view.id, view.type)
            if view.type == 'tree':
                check(view.model, result['arch'], result['fields'], view.name)
            for name, field in result['fields'].items():
                for type_, sub in (field.get('views') or {}).items():
                    if type_ == 'tree':
                        check(
                            field['relation'], sub['arch'], sub['fields'],
                            f'{view.name}/{name}')
        self.assertEqual(bad, [])

    @with_transaction()
    def test_every_view_extension_shows(self):
        "Each field and button a view of the module adds is in the view"
        pool = Pool()
        View = pool.get('ir.ui.view')
        User = pool.get('res.user')
        Group = pool.get('res.group')
        # A view leaves out the buttons of other groups (offered.py)
        User.write([User(Transaction().user)], {
                'groups': [('add', [g.id for g in Group.search([])])],
                })
        missing = []
        for view in View.search([
                    ('module', '=', self.module),
                    ('inherit', '!=', None),
                    ]):
            base = view.inherit
            while base.inherit:
                base = base.inherit
            Model = pool.get(base.model)
            arch = etree.fromstring(
                Model.fields_view_get(base.id, base.type)['arch'])
            shown = {
                (node.tag, node.get('name'))
                for node in arch.iter('field', 'button')}
            for node in etree.fromstring(view.arch).iter('field', 'button'):
                if (node.tag, node.get('name')) not in shown:
                    missing.append(
                        f'{view.name}: {node.tag} {node.get("name")}')
        self.assertEqual(missing, [])

    @with_transaction()
    def test_nul_character_is_a_clear_error(self):
        "PostgreSQL stores no NUL: the module says so before the database"
        from trytond.exceptions import UserError
        Rule = Pool().get('gnuhealth.prevention.rule')
        with self.assertRaises(UserError) as refusal:
            Rule.import_data(
                ['code', 'name', 'category', 'kind', 'age_unit', 'min_age',
                    'vaccine_codes'],
                [['\x00', 'Rule', 'vaccination', 'once', 'years', '0',
                        'J07BB']])
        self.assertIn('NUL', refusal.exception.message)

    @with_transaction()
    def test_allergy_written_near_midnight_has_no_onset(self):
        "The day GNU Health fills in is no onset, by either clock"
        import datetime as dt
        Disease = Pool().get('gnuhealth.patient.disease')
        # 23:30 UTC is already the next day in Paris; GNU Health's default
        # (date.today()) may give either day
        written = dt.datetime(2026, 12, 1, 23, 30)
        with Transaction().set_context(
                shared_record_timezone='Europe/Paris'), server_clock('UTC'):
            for day in (dt.date(2026, 12, 1), dt.date(2026, 12, 2)):
                allergy = Disease(
                    is_allergy=True, create_date=written, diagnosed_date=day)
                self.assertIsNone(allergy.shared_record_onset(), day)
            problem = Disease(
                is_allergy=False, create_date=written,
                diagnosed_date=dt.date(2026, 12, 1))
            self.assertEqual(
                problem.shared_record_onset(), dt.date(2026, 12, 1))
            older = Disease(
                is_allergy=True, create_date=written,
                diagnosed_date=dt.date(2020, 5, 4))
            self.assertEqual(older.shared_record_onset(), dt.date(2020, 5, 4))

    @with_transaction()
    def test_history_indexes_made_on_update(self):
        """The first page of the access history's lists, newest first, is
        read from an index, without sorting the lines"""
        from trytond import backend
        pool = Pool()
        cursor = Transaction().connection.cursor()
        if backend.name == 'postgresql':
            # As with millions of lines
            for setting in ['seqscan', 'bitmapscan', 'sort']:
                cursor.execute(f'SET LOCAL enable_{setting} = off')
            explain, sorting = 'EXPLAIN ', 'Sort'
        else:
            explain, sorting = 'EXPLAIN QUERY PLAN ', 'B-TREE FOR ORDER BY'
        for name, domains in [
                ('gnuhealth.shared_record.access_log', [
                        [], [('mode', '=', 'emergency')],
                        [('patient', '=', 1)]]),
                ('gnuhealth.shared_record.emergency_access', [[]]),
                ]:
            Model = pool.get(name)
            for domain in domains:
                query = Model.search(domain, limit=1000, query=True)
                cursor.execute(explain + str(query), query.params)
                plan = '\n'.join(str(row[-1]) for row in cursor)
                self.assertIn('INDEX', plan.upper(), msg=f'{name} {domain}')
                self.assertNotIn(sorting, plan, msg=f'{name} {domain}')

del ModuleTestCase
