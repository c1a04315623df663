# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The whole journey in Tryton's web client (sao), served by trytond on the
demo clinic and driven in Debian's Chromium by Playwright.

The tests run in order on one demo database: a doctor publishes an
evaluation and reads it, the patient masks it and reads who opened it,
another doctor no longer finds it, a nurse gives a booster that the
patient's prevention tab marks done; then the views are read in French and
Spanish.  Screenshots go to HSR_SCREENSHOTS (doc/images when the usage pages
are refreshed), else to a temporary folder.
"""
import os
import pathlib
import re
import shutil
import tempfile

import polib
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright

from cluster import Client, Site
from helpers import PASSWORD, ROOT

CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')
WEB_ROOT = pathlib.Path(os.environ.get('SAO_ROOT', ROOT / 'var' / 'web'))
LOCALE = ROOT / 'health_shared_record' / 'locale'
SHOTS = pathlib.Path(
    os.environ.get('HSR_SCREENSHOTS') or tempfile.mkdtemp(prefix='hsr-shots-'))

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f'no Chromium at {CHROMIUM}: bin/test installs Debian\'s'),
    pytest.mark.skipif(
        not (WEB_ROOT / 'index.html').exists(),
        reason=f'no web client in {WEB_ROOT}: bin/test installs it'),
    ]


class Server:
    "The demo clinic served with sao by trytond, on a database of its own"

    def __init__(self, directory):
        self.site = Site(directory, 'e2e', web_root=WEB_ROOT)
        self.database = self.site.database
        self.url = None

    def start(self):
        self.site.create(languages=['fr', 'es'])
        # In English, the words the tests look for (bin/demo's is French)
        self.site.script(ROOT / 'demo' / 'populate.py', '--lang', 'en')
        self.url = self.site.server().url

    def stop(self):
        self.site.stop()

    def rpc(self, login, method, *params):
        "Call method as login over JSON-RPC, as any client would"
        client = Client(self.url, self.database, login)
        try:
            return client.call(method, *params, context={})
        finally:
            client.close()


# Desktop notifications as the page shows them, kept for the test to read
RECORD_NOTIFICATIONS = """
window.shownNotifications = [];
const Shown = window.Notification;
window.Notification = function(title, options) {
    window.shownNotifications.push({title: title, body: (options || {}).body});
    return new Shown(title, options);
};
Object.defineProperty(window.Notification, 'permission', {
    get: () => Shown.permission});
"""


class Sao:
    "What a user does in Tryton's web client, said in Playwright"

    def __init__(self, browser, server, login, language='en',
            notifications=False):
        self.server = server
        self.context = browser.new_context(
            viewport={'width': 1440, 'height': 900}, accept_downloads=True,
            locale={'en': 'en-US', 'fr': 'fr-FR', 'es': 'es-ES'}[language])
        if notifications:
            # The user allowed the clinic's desktop notifications; the
            # page keeps those it shows in window.shownNotifications
            self.context.grant_permissions(
                ['notifications'], origin=server.url.rstrip('/'))
            self.context.add_init_script(RECORD_NOTIFICATIONS)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30000)
        # The server's answers sao waits for; a document shown in a form
        # loads from blob: URLs, which are not the server's, and the bus
        # (PostgreSQL) is asked again and again, each time waiting for news
        self.pending = set()
        self.bus = []
        for event, track in [
                ('request', self.pending.add),
                ('requestfinished', self.pending.discard),
                ('requestfailed', self.pending.discard)]:
            self.page.on(event, lambda request, track=track: (
                    self.bus.append(request)
                    if request.url.endswith('/bus')
                    else track(request)
                    if request.url.startswith(server.url) else None))
        self.page.goto(server.url)
        database = self.page.locator('input#database:visible')
        database.wait_for()
        if database.input_value() != server.database:
            # The server lists no database: the user types its name
            database.fill(server.database)
        self.page.locator('input#login').fill(login)
        self.page.locator('input#login').press('Enter')
        password = self.page.locator('input[type=password]')
        password.fill(PASSWORD)
        password.press('Enter')
        self.page.wait_for_selector(
            '#menu tbody tr', state='attached', timeout=60000)
        self.idle()

    def close(self):
        self.context.close()

    def idle(self, seconds=1.0):
        "Let sao finish its calls to the server: it has no event for that"
        quiet = 0
        for _ in range(600):
            quiet = 0 if self.pending else quiet + 1
            if quiet >= 5:
                break
            self.page.wait_for_timeout(100)
        else:
            raise AssertionError(f'the server still answers {self.pending}')
        self.page.wait_for_timeout(int(seconds * 1000))

    @property
    def tab(self):
        "The current tab, or the form open over it in a dialog"
        dialog = self.page.locator('.modal-dialog:visible')
        if dialog.count():
            return dialog.last
        return self.page.locator('#tabcontent > .tab-pane.active')

    def menu(self, *path):
        for name in path:
            self.page.locator(
                f'#menu div.column-char[title="{name}"]').first.click()
            self.idle(0.5)

    def rows(self):
        "The texts of the rows of the list in the current tab"
        return self.tab.locator('.treeview:visible').first.locator(
            'tbody tr:visible').all_inner_texts()

    def search(self, text):
        box = self.tab.locator('.filter-box input').first
        box.fill(text)
        box.press('Enter')
        self.idle()

    def open_row(self, *texts, within=None):
        "Open the first row that shows all the texts"
        row = (within or self.tab).locator('tbody tr:visible')
        for text in texts:
            row = row.filter(has_text=text)
        try:
            row.first.wait_for(timeout=30000)
        except PlaywrightError:
            # Say what the client shows instead: often a message
            raise AssertionError(
                f'no row {texts!r} in: {self.tab.inner_text()[:2000]}')
        # sao may draw the list again between the two clicks, which then
        # only select the row: double-click until the row opens, in the
        # tab (the list gives way to the form) or in a dialog (the form of
        # a one2many's row opens over it; a search dialog closes)
        row.first.evaluate(
            "r => r.closest('.treeview').setAttribute('data-opening', '1')")
        opening = self.page.locator('[data-opening] tbody tr:visible')
        for text in texts:
            opening = opening.filter(has_text=text)
        dialogs = self.page.locator('.modal-dialog:visible')
        before = dialogs.count()
        for attempt in range(4):
            self.idle(0.5)
            try:
                opening.first.dblclick(timeout=10000)
            except PlaywrightError:
                pass
            for wait in range(10):
                if not opening.count() or dialogs.count() != before:
                    break
                self.page.wait_for_timeout(500)
            else:
                continue
            break
        else:
            raise AssertionError(
                f'row {texts!r} does not open: {self.tab.inner_text()[:2000]}')
        self.page.locator('[data-opening]').evaluate_all(
            "views => views.forEach(v => v.removeAttribute('data-opening'))")
        self.idle()

    def page_tab(self, name):
        "Open the page of the form's notebook with that name"
        self.tab.locator('.nav-tabs a:visible', has_text=name).first.click()
        self.idle(0.5)

    def button(self, text):
        self.tab.locator('button:visible', has_text=text).first.click()
        self.idle()

    def toolbar(self, title, item):
        "Choose item in the toolbar's menu with that title"
        self.tab.locator(f'[title="{title}"]').first.click()
        self.tab.locator(
            '.dropdown-menu:visible a', has_text=item).first.click()
        self.idle()
        # On PostgreSQL, GNU Health's patient form may count as modified
        # once opened (nothing was typed): the user does not save it
        prompt = self.page.locator(
            '.modal-dialog:visible', has_text='has been modified')
        if prompt.count():
            prompt.locator('button', has_text=re.compile('^No$', re.I)
                ).first.click()
            self.idle()

    def close_tab(self):
        self.tab.locator('nav.toolbar a.dropdown-toggle').first.click()
        self.tab.locator('nav.toolbar a#close').first.click()
        self.idle()

    def shoot(self, name):
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SHOTS / f'{name}.png')


@pytest.fixture(scope='module')
def server():
    directory = pathlib.Path(tempfile.mkdtemp(prefix='hsr-e2e-'))
    server = Server(directory)
    if os.environ.get('HSR_E2E_DEMO'):
        # A running demo (bin/demo --lang en) at that URL, to write the
        # tests faster; they change its database
        server.url = os.environ['HSR_E2E_DEMO']
        server.database = 'demo'
        yield server
        return
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope='module')
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=['--no-sandbox'])
        yield browser
        browser.close()


@pytest.fixture
def login(browser, server):
    sessions = []

    def login(user, language='en', **options):
        sessions.append(Sao(browser, server, user, language, **options))
        return sessions[-1]
    yield login
    for session in sessions:
        session.close()


# The evaluation that Dr Lefebvre, Lucie's doctor, publishes again: its
# type, and the start of its title
CONSULT = 'Consult note'
NOTE = 'Consult note:'
LUCIE = 'Bernard, Lucie'


def test_doctor_publishes_an_evaluation_and_reads_it(login):
    hugo = login('hugo')
    hugo.menu('Health', 'Patients')
    hugo.open_row(LUCIE)
    hugo.toolbar('Open related records', 'Evaluations')
    hugo.open_row('Bernard')
    # The versions published from it, in its Shared Record box
    versions = hugo.tab.locator(
        '.treeview', has_text=re.compile('Published|Superseded')).last.locator(
        'tbody tr:visible')
    expect(versions.first).to_be_visible()
    published = versions.count()
    # Nothing changed since it was published: a message says so, and no
    # new version is made
    hugo.button('Publish to Shared Record')
    unchanged = hugo.page.locator(
        '.modal-dialog:visible', has_text='has not changed')
    expect(unchanged).to_be_visible()
    hugo.shoot('evaluation-unchanged')
    unchanged.locator('button:visible').last.click()
    hugo.idle()
    expect(versions).to_have_count(published)
    # The doctor completes the plan (here over JSON-RPC, as the form's
    # field would), and publishes a new version, which says what changed
    evaluation = hugo.page.evaluate(
        'Sao.Tab.tabs.get_current().screen.current_record.id')
    plan, = hugo.server.rpc(
        'hugo', 'model.gnuhealth.patient.evaluation.read', [evaluation],
        ['directions'])
    hugo.server.rpc(
        'hugo', 'model.gnuhealth.patient.evaluation.write', [evaluation],
        {'directions': (plan['directions'] or '') + '\nSpirometry.'})
    hugo.tab.locator('[title="Reload/Undo"]').first.click()
    hugo.idle()
    hugo.button('Publish to Shared Record')
    expect(versions).to_have_count(published + 1)
    hugo.shoot('evaluation-published')

    hugo.menu('Shared Record', 'Shared Documents')
    hugo.search(f'Patient: Lucie Type: "{CONSULT}"')
    expect(hugo.tab.locator('tbody tr:visible', has_text=NOTE)
        ).to_have_count(1)
    hugo.open_row(NOTE)
    assert hugo.tab.locator('input:visible').first.input_value()
    # The document reads in the form, letterhead, patient and sections,
    # without a file to download
    reading = hugo.tab.frame_locator('.form-document iframe').first
    expect(reading.locator('h1')).to_contain_text(NOTE)
    expect(reading.locator('header.letterhead')).to_be_visible()
    expect(reading.locator('table.header')).to_contain_text('Bernard')
    expect(reading.locator('h2').first).to_be_visible()
    expect(reading.locator('footer')).to_contain_text(
        re.compile(r'Version \d'))
    hugo.page_tab('Versions')
    expect(hugo.tab.locator('textarea:visible').first).to_have_value(
        re.compile('Plan of care'))
    hugo.page_tab('Document')
    with hugo.page.expect_download() as download:
        hugo.toolbar('Print report', 'Readable Document')
    html = pathlib.Path(download.value.path()).read_text(encoding='utf-8')
    assert 'Bernard' in html and '<h2>' in html
    reader = hugo.context.new_page()
    reader.set_content(html)
    SHOTS.mkdir(parents=True, exist_ok=True)
    reader.screenshot(path=SHOTS / 'readable-document.png', full_page=True)
    reader.close()
    hugo.shoot('document-form')

    # Before the patient masks it, another doctor finds it too
    claire = login('claire')
    claire.menu('Health', 'Shared Record', 'Shared Documents')
    claire.search(f'Patient: Lucie Type: "{CONSULT}"')
    assert [r for r in claire.rows() if NOTE in r]


def test_patient_masks_it_and_reads_who_opened_it(login):
    lucie = login('lucie')
    lucie.menu('My Shared Record')
    lucie.page_tab('My Documents')
    # The version Dr Lefebvre has just published, not the one it replaced
    lucie.open_row(NOTE, 'Published')
    # The document shown in the form takes the first click (sao's
    # document widget): click until the confirmation opens
    mask = lucie.tab.locator(
        'button:visible', has_text=re.compile('^Mask$', re.I)).first
    dialogs = lucie.page.locator('.modal-dialog:visible')
    opened = dialogs.count()
    for attempt in range(3):
        mask.click()
        lucie.idle()
        if dialogs.count() > opened:
            break
    lucie.button('OK')  # the confirmation
    assert lucie.tab.locator('button:visible', has_text='Unmask').count()
    lucie.shoot('patient-masks')
    lucie.button('Close')
    lucie.page_tab('Access History')
    history = ' '.join(lucie.rows())
    assert 'Lefebvre' in history and 'Printed' in history
    assert 'Opened' in history  # read in place, in the form
    lucie.shoot('patient-access-history')


def test_another_doctor_no_longer_finds_it(login):
    claire = login('claire')
    claire.menu('Health', 'Shared Record', 'Shared Documents')
    claire.search(f'Patient: Lucie Type: "{CONSULT}"')
    assert not [r for r in claire.rows() if NOTE in r]
    claire.search('')
    assert not [r for r in claire.rows() if 'Bernard' in r and NOTE in r]
    claire.menu('Patients')
    claire.open_row(LUCIE)
    claire.page_tab('Shared Record')
    assert NOTE not in claire.tab.inner_text()
    claire.shoot('other-doctor-patient-tab')


def test_the_first_doctor_still_does(login):
    hugo = login('hugo')
    hugo.menu('Health', 'Patients')
    hugo.open_row(LUCIE)
    hugo.page_tab('Shared Record')
    assert NOTE in hugo.tab.inner_text()
    # Masked by Lucie: marked so for the treating doctor who still sees it
    row = hugo.tab.locator('tbody tr:visible', has_text=NOTE).first
    expect(row).to_contain_text('Masked by the patient')
    # Her summary reads on top of the tab
    summary = hugo.tab.frame_locator('.form-document iframe').first
    expect(summary.locator('h1')).to_be_visible()
    expect(summary.locator('table.header')).to_contain_text('Bernard')
    hugo.shoot('patient-shared-record-tab')


def test_nurse_gives_the_booster_and_prevention_marks_it_done(login):
    paul = login('paul')
    paul.menu('Health', 'Patients')
    paul.open_row(LUCIE)
    paul.page_tab('Prevention')
    booster = paul.tab.locator('tbody tr:visible', has_text='Diphtheria')
    assert 'Done' not in booster.first.inner_text()
    paul.toolbar('Open related records', 'Vaccinations')
    paul.tab.locator('[title="New"]').first.click()
    paul.idle()
    vaccine = paul.tab.locator('.form-many2one input:visible').nth(1)
    vaccine.fill('Revaxis')
    vaccine.press('Tab')
    paul.idle()
    paul.open_row('Revaxis')  # in the search dialog
    paul.shoot('nurse-records-vaccination')
    paul.tab.locator('[title="Save"]').first.click()
    paul.idle()
    # Back to Lucie's form, read again
    paul.close_tab()
    paul.tab.locator('[title="Reload/Undo"]').first.click()
    paul.idle()
    paul.page_tab('Prevention')
    booster = paul.tab.locator('tbody tr:visible', has_text='Diphtheria')
    assert 'Done' in booster.first.inner_text()
    paul.shoot('patient-prevention-tab')


@pytest.mark.parametrize('user, patient', [
        ('hugo', 'Dubois, Hugo'),  # whom the patient blocked
        ('nadia', LUCIE),  # the front desk, who sees no document
        ('claire', LUCIE),  # kept from Lucie's masked summary
        ])
def test_the_patient_form_opens_whole(server, login, user, patient):
    """Who may not see (some of) a patient's shared record opens GNU
    Health's own record of the patient whole, without an error"""
    conditions = {name for name, in server.site.query(
            'SELECT p.name FROM gnuhealth_patient_disease d '
            'JOIN gnuhealth_pathology p ON p.id = d.pathology '
            'JOIN gnuhealth_patient pa ON pa.id = d.patient '
            'JOIN party_party pp ON pp.id = pa.party '
            "WHERE pp.lastname || ', ' || pp.name = %s", (patient,))}
    assert conditions
    sao = login(user)
    sao.menu('Health', 'Patients')
    sao.open_row(patient)
    seen = [sao.tab.inner_text()]
    links = sao.tab.locator('.nav-tabs a:visible')
    for name in links.all_inner_texts():
        # A tab of a notebook inside another tab shows only with it
        link = links.filter(has_text=name)
        if not link.count():
            continue
        link.first.click()
        sao.idle(0.3)
        seen.append(sao.tab.inner_text())
    dialogs = sao.page.locator('.modal-dialog:visible')
    assert not dialogs.count(), dialogs.all_inner_texts()
    text = '\n'.join(seen)
    assert 'not allowed' not in text and '#ERROR' not in text
    if user != 'nadia':
        # GNU Health's own record of the patient shows, conditions included
        # (GNU Health shows them to no front desk)
        assert [c for c in conditions if c in text], conditions
    else:
        # Nor the clinicians' buttons, even greyed (doc/privacy.md)
        for button in ['Add External File', 'Publish Patient Summary']:
            assert button not in text, button
    sao.shoot(f'patient-form-as-{user}')


# The module's words as the views show them: labels, buttons, pages,
# columns, menu entries, selection values
SHOWN = ('field:', 'selection:', 'view:', 'model:ir.ui.menu',
    'model:ir.model.button', 'model:ir.action')


# Words GNU Health's own views show as they are: "Institution" is also
# French (where ours says "Établissement")
SAME_WORD = {'fr': {'Institution'}, 'es': set()}


def left_in_english(language):
    """The words GNU Health's own catalogues leave in English (fuzzy or
    empty entries, which Tryton does not load): its patient form shows
    them so ("Active", the address's "Unit"), whatever this module does"""
    import trytond.modules
    words = set()
    for po in pathlib.Path(trytond.modules.__file__).parent.glob(
            f'health*/locale/{language}.po'):
        if po.parent.parent.name == 'health_shared_record':
            continue
        words |= {
            e.msgid for e in polib.pofile(str(po))
            if e.msgctxt and e.msgctxt.startswith(SHOWN)
            and (e.fuzzy or not e.msgstr)}
    return words


def translated(message, language):
    "The module's message in language, from its catalogue"
    catalogue = polib.pofile(str(LOCALE / f'{language}.po'))
    entry, = [e for e in catalogue
        if e.msgctxt == f'model:ir.message,text:{message}']
    return entry.msgstr


def untranslated(text, language):
    "The module's English strings that show, untranslated, in text"
    catalogue = polib.pofile(str(LOCALE / f'{language}.po'))
    english = {
        e.msgid for e in catalogue
        if e.msgctxt and e.msgctxt.startswith(SHOWN)
        and e.msgstr and e.msgstr != e.msgid and len(e.msgid) > 3}
    shown = {line.strip() for line in re.split(r'[\n\t:]', text)}
    return sorted(
        (english & shown) - SAME_WORD[language] - left_in_english(language))


@pytest.mark.parametrize('language', ['fr', 'es'])
def test_every_word_of_the_module_is_translated(server, login, language):
    seen = []

    def read_pages(sao):
        "Read the form on each page of its notebooks"
        links = sao.tab.locator('.nav-tabs a:visible')
        for name in links.all_inner_texts():
            link = links.filter(has_text=name)
            if link.count():
                link.first.click()
                sao.idle(0.3)
                seen.append(sao.tab.inner_text())

    for user in ['hugo', 'lucie']:
        server.rpc(user, 'model.res.user.set_preferences',
            {'language': language})
    try:
        hugo = login('hugo', language)
        entries = hugo.page.locator('#menu div.column-char')
        entries.first.click()  # Health
        hugo.idle(0.5)
        seen.append(hugo.page.locator('#menu').inner_text())
        entries.nth(1).click()  # its Patients
        hugo.idle()
        hugo.open_row(LUCIE)
        read_pages(hugo)
        hugo.page_tab({'fr': 'Dossier partagé', 'es': 'Historia compartida'
                }[language])
        # In the user's language too, the summary reads in place, with its
        # labels, and the masked note is marked so
        summary = hugo.tab.frame_locator('.form-document iframe').first
        expect(summary.locator('table.header')).to_contain_text(
            translated('msg_label_confidentiality', language))
        expect(hugo.tab.locator('tbody tr:visible', has_text=NOTE).first
            ).to_contain_text(translated('msg_marker_masked', language))
        hugo.shoot(f'patient-form-{language}')
        lucie = login('lucie', language)
        lucie.page.locator('#menu div.column-char').first.click()
        lucie.idle()
        read_pages(lucie)
    finally:
        for user in ['hugo', 'lucie']:
            server.rpc(
                user, 'model.res.user.set_preferences', {'language': 'en'})
    assert untranslated('\n'.join(seen), language) == []
    # No screen showed an error
    assert 'Application Error' not in '\n'.join(seen)


def test_the_doctor_acknowledges_a_critical_result(server, login):
    """Dr Lefebvre finds Lucie's critically low haemoglobin on top of his
    Alerts, opens it and says what he did: it leaves his list to
    acknowledge, with who acknowledged it and the step in its trail"""
    hugo = login('hugo')
    hugo.menu('Health', 'Shared Record', 'Alerts')
    rows = hugo.rows()
    assert rows and 'Critical' in rows[0] and 'HGB' in rows[0], rows
    assert 'Critically low' in rows[0] and LUCIE in rows[0], rows
    hugo.shoot('alerts')
    hugo.open_row('HGB', '6.8')
    hugo.button('Acknowledge')
    dialog = hugo.tab
    assert 'HGB' in dialog.inner_text()
    dialog.locator('select:visible').first.select_option(
        label='Patient called')
    dialog.locator('.modal-footer button:visible', has_text='Acknowledge'
        ).first.click()
    hugo.idle()
    text = hugo.tab.inner_text()
    assert 'Not allowed' not in text and 'not valid' not in text, text
    assert 'Acknowledged' in text and 'Patient called' in text, text
    hugo.shoot('alert-acknowledged')
    (state, action, steps), = server.site.query(
        'SELECT a.state, a.action, COUNT(s.id) '
        'FROM gnuhealth_shared_record_alert a '
        'JOIN gnuhealth_shared_record_alert_step s ON s.alert = a.id '
        "WHERE a.analyte = 'HGB' AND a.value LIKE '6.8%%' "
        "AND s.step = 'acknowledged' GROUP BY a.state, a.action")
    assert (state, action, steps) == ('acknowledged', 'patient_called', 1)


def validate_blood_count(server, technician, patient, requester, values):
    """The laboratory validates a blood count over JSON-RPC, as its own
    client would: values by analyte code, the others excluded"""
    client = Client(server.url, server.database, technician)
    try:
        def call(model, method, *args):
            return client.model(model, method, *args)
        lastname, name = patient.split(', ')
        patient, = call('gnuhealth.patient', 'search', [
                ('party.lastname', '=', lastname), ('party.name', '=', name)])
        requester, = call('gnuhealth.healthprofessional', 'search',
            [('party.internal_user.login', '=', requester)])
        cbc, = call('gnuhealth.lab.test_type', 'search',
            [('code', '=', 'CBC')])
        lab, = call('gnuhealth.lab', 'create', [{
                    'test': cbc, 'patient': patient, 'requestor': requester}])
        call('gnuhealth.lab', 'complete_criteareas', [lab])
        lines = call('gnuhealth.lab.test.critearea', 'search_read',
            [('gnuhealth_lab_id', '=', lab)], 0, None, None, ['code'])
        for line in lines:
            call('gnuhealth.lab.test.critearea', 'write', [line['id']],
                {'result': values[line['code']]}
                if line['code'] in values else {'excluded': True})
        call('gnuhealth.lab', 'generate_document', [lab])
        call('gnuhealth.lab', 'shared_record_validate', [lab])
        return lab
    finally:
        client.close()


@pytest.mark.skipif(
    not os.environ.get('TRYTOND_DATABASE_URI', '').startswith('postgresql'),
    reason='the pop-ups need trytond\'s bus, which needs PostgreSQL')
def test_the_doctor_is_told_at_once_of_a_critical_result(server, login):
    """Dr Lefebvre, in his own language, has the clinic's web client open:
    as the laboratory validates Lucie's critically low haemoglobin, a
    desktop notification tells him"""
    server.rpc('hugo', 'model.res.user.set_preferences', {'language': 'fr'})
    try:
        hugo = login('hugo', 'fr', notifications=True)
        # The client listens to the bus before the result is validated
        hugo.page.wait_for_function('window.Sao && Sao.Session.current_session'
            ' && Sao.Session.current_session.session')
        for _ in range(100):
            if hugo.bus:
                break
            hugo.page.wait_for_timeout(100)
        assert hugo.bus, 'the client does not listen to the bus'
        hugo.page.wait_for_timeout(1500)
        validate_blood_count(server, 'theo', LUCIE, 'hugo', {
                'HGB': 5.9, 'RBC': 2.7, 'HCT': 22, 'WBC': 7.0})
        title = translated('msg_alert_popup_critical', 'fr') % {
            'patient': LUCIE}
        try:
            hugo.page.wait_for_function(
                'title => window.shownNotifications.some('
                'n => n.title == title)', arg=title, timeout=20000)
        finally:
            shown = hugo.page.evaluate('window.shownNotifications')
        # In his language, not the technician's, naming neither more nor
        # less than the list does; the abnormal ones come too
        critical = [n for n in shown if n['title'] == title]
        assert len(critical) == 1, shown
        assert translated('msg_alert_popup_abnormal', 'fr') % {
            'patient': LUCIE} in [n['title'] for n in shown], shown
        body = critical[0]['body']
        assert '5.9' in body and translated(
            'msg_cda_lab_flag_ll', 'fr') in body, body
        assert 'Critically' not in body, body
    finally:
        server.rpc('hugo', 'model.res.user.set_preferences',
            {'language': 'en'})
