# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""One record in Tryton's web client, on the demo clinic with a real FHIR
repository (Medplum's) beside it, where a hospital published a summary
for Lucie: her doctor fetches it and finds it new, reconciles what it
states with GNU Health's record (accepting, choosing, rejecting), reads
the patient overview, and prepares and publishes her summary
(doc/record.md; test_browser.py says how the client is driven)"""
import datetime as dt
import re

import pytest
from playwright.sync_api import Error as PlaywrightError

import helpers
import test_browser
from test_browser import LUCIE, pytestmark  # noqa: F401  the marks

# test_browser's fixtures, found by pytest in this module's names
browser, server, login = (
    test_browser.browser, test_browser.server, test_browser.login)

HOSPITAL = 'Hôpital Nord'
SUMMARY_ID = '1.2.250.1.888.1.19'
TODAY = dt.date.today()
# What the hospital states, as it names it: its codes
DIABETES = 'Type 2 diabetes'  # E11: in GNU Health's list, found by its code
ASTHMA = 'Asthma'  # J45: the list has J45.9 only, the doctor chooses
REFLUX = 'Gastro-oesophageal reflux'  # K21.9, active here, ended there
FIBRILLATION = 'Atrial fibrillation'  # I48: not in the list, left to review
APIXABAN = 'Apixaban 5 mg'  # B01AF02: not in the list, rejected
ATORVASTATIN = 'Atorvastatin 20 mg'  # C10AA05: found by its ATC code
BOOSTRIX = 'Boostrix Tetra'  # J07CA02: a vaccine of the list


def hospital_summary(national_id, given, family, sex, birth):
    """The patient summary that Hôpital Nord published for the patient, as
    demo/populate.py's, stating more"""
    from health_shared_record import cda
    written = dt.datetime.combine(TODAY - dt.timedelta(days=40), dt.time(16))
    header = cda.Header(
        unique_id=SUMMARY_ID, set_id=SUMMARY_ID, version=1,
        type_code=cda.Code('60591-5', cda.LOINC, 'Patient summary document'),
        title=f'Discharge summary, {HOSPITAL}', effective_time=written,
        confidentiality='N', language='en-GB', realm='FR',
        patient=cda.Person(
            [cda.Identifier(helpers.INS_SYSTEM, national_id)], given, family,
            sex, birth),
        author=cda.Person(
            [cda.Identifier('1.2.250.1.71.4.2.1', '10199999999')],
            'Marc', 'Durand'),
        author_time=written,
        custodian=cda.Organization(
            cda.Identifier('1.2.250.1.888.4', 'HOSP-NORD'), HOSPITAL))
    problem = cda.Code('55607006', cda.SNOMED, 'Problem')

    def condition(code, name, *when):
        return cda.Observation(
            problem, cda.Code(code, cda.ICD10, name), *when)
    return cda.build(header, [
            cda.Section(
                cda.section_code('11450-4'), 'Problems',
                [cda.Paragraph('Atrial fibrillation, diagnosed in hospital.')],
                [condition('I48', FIBRILLATION,
                        TODAY - dt.timedelta(days=42), 'active'),
                    condition('E11', DIABETES,
                        TODAY - dt.timedelta(days=400), 'active'),
                    condition('J45', ASTHMA, dt.date(2010, 3, 1), 'active'),
                    condition('K21.9', REFLUX, cda.Interval(
                            dt.date(2017, 3, 21),
                            TODAY - dt.timedelta(days=45)), 'completed')]),
            cda.Section(
                cda.section_code('10160-0'), 'Medications',
                [cda.Paragraph('Apixaban 5 mg twice a day.')],
                [cda.Administration(
                        APIXABAN, cda.Code('B01AF02', cda.ATC),
                        start=TODAY - dt.timedelta(days=41),
                        status='active'),
                    cda.Administration(
                        ATORVASTATIN, cda.Code('C10AA05', cda.ATC),
                        start=TODAY - dt.timedelta(days=41),
                        status='active')]),
            cda.Section(
                cda.section_code('11369-6'), 'Immunizations', [],
                [cda.Administration(
                        BOOSTRIX, cda.Code('J07CA02', cda.ATC),
                        start=TODAY - dt.timedelta(days=41),
                        dose_number=1)]),
            ])


def lucie(server):
    "Lucie's patient id, national identifier, names, sex and birth"
    (patient, code, given, family, sex, birth), = server.site.query(
        'SELECT pa.id, i.code, p.name, p.lastname, p.gender, p.dob '
        'FROM gnuhealth_patient pa JOIN party_party p ON p.id = pa.party '
        'JOIN gnuhealth_person_alternative_identification i '
        "ON i.party = p.id AND i.alternative_id_type = 'country_id' "
        "WHERE p.lastname || ', ' || p.name = %s", (LUCIE,))
    if not isinstance(birth, dt.date):
        birth = dt.date.fromisoformat(birth)  # SQLite gives its text
    return patient, code, given, family, sex, birth


@pytest.fixture(scope='module')
def repository(server):
    """The clinic's repository, a real FHIR server, where Hôpital Nord
    published Lucie's summary"""
    peer = helpers.FHIRServer()
    url = peer.start()
    try:
        server.rpc(
            'admin', 'model.gnuhealth.shared_record.configuration.write',
            [1], {'repository_url': url})
        _, national_id, *person = lucie(server)
        helpers.publish_on_peer(
            url, national_id, SUMMARY_ID,
            hospital_summary(national_id, *person), document={
                'type_code': '60591-5',
                'type_name': 'Patient summary document',
                'title': f'Discharge summary, {HOSPITAL}',
                'author_name': 'Durand, Marc',
                'custodian_id': 'HOSP-NORD',
                'custodian_name': HOSPITAL,
                'date': dt.datetime.combine(
                    TODAY - dt.timedelta(days=40), dt.time(16)),
                })
        yield peer
    finally:
        peer.stop()


def values(sao, within=None):
    "The values the fields of the current tab (or dialog) show"
    return (within or sao.tab).locator(
        'input:visible, textarea:visible, select:visible').evaluate_all(
        'fields => fields.map(f => f.tagName == "SELECT" ? '
        '(f.selectedIndex < 0 ? "" : f.options[f.selectedIndex].text) '
        ': f.value)')


def decided(sao):
    "The state of the item the form shows, on its Decisions page"
    sao.page_tab('Decisions')
    shown = values(sao)
    sao.page_tab('Statements')
    return shown


def watch(sao):
    "The errors and warnings the page writes to its console, as they come"
    said = []
    sao.page.on('console', lambda message: said.append(message.text)
        if message.type in {'error', 'warning'} else None)
    sao.page.on('pageerror', lambda error: said.append(str(error)))
    return said


def wait_for_row(sao, text, said):
    "Wait for the list to show a row with text, saying why not if it does not"
    try:
        sao.tab.locator('tbody tr:visible', has_text=text).first.wait_for()
    except PlaywrightError:
        raise AssertionError(
            f'no row {text!r}: {sao.tab.inner_text()[:1000]}; '
            f'the client said {said}')
    sao.idle()


def footer(sao, text):
    "Click the button of the dialog's footer"
    sao.tab.locator(
        '.modal-footer button:visible', has_text=text).first.click()
    sao.idle()


def switch_to_list(sao):
    sao.tab.locator('[title="Switch"]').first.click()
    sao.idle()


def choose(sao, field, text, row):
    "Type text in the many2one field, choosing row if the client asks"
    field.fill(text)
    field.press('Tab')
    sao.idle()
    if sao.page.locator('.modal-dialog:visible').count() > 1:
        sao.open_row(row)  # in the search dialog


def open_lucie(sao):
    sao.menu('Health', 'Patients')
    sao.open_row(LUCIE)


def items(server, patient):
    "Lucie's items to reconcile by name: their state and reason"
    return {name: (state, reason) for name, state, reason in server.site.query(
            'SELECT name, state, reason '
            'FROM gnuhealth_shared_record_reconciliation WHERE patient = %s',
            (patient,))}


def test_the_doctor_fetches_and_finds_what_is_new(server, login, repository):
    """Dr Lefebvre, Lucie's doctor, fetches from other clinics: the
    hospital's summary is new for him, until he marks her record seen"""
    patient, *_ = lucie(server)
    hugo = login('hugo')
    open_lucie(hugo)
    hugo.page_tab('Shared Record')
    assert not [v for v in values(hugo) if 'new from other clinics' in v]
    hugo.page_tab('From Other Clinics')
    hugo.button('Fetch from Other Clinics')
    hugo.shoot('record-fetched')
    text = hugo.tab.inner_text()
    assert HOSPITAL in text or 'Discharge summary' in text, text
    (fetched,), = server.site.query(
        'SELECT COUNT(*) FROM gnuhealth_shared_record_document '
        "WHERE patient = %s AND source = 'repository' AND unique_id = %s",
        (patient, SUMMARY_ID))
    assert fetched == 1
    hugo.page_tab('Shared Record')
    news = [v for v in values(hugo) if 'new from other clinics' in v]
    assert news == [
        '1 new from other clinics since you last looked: '
        '1 Patient summary document'], values(hugo)
    hugo.tab.locator('button:visible', has_text='Mark as Seen'
        ).first.scroll_into_view_if_needed()
    hugo.shoot('record-news')
    hugo.button('Mark as Seen')
    assert not [v for v in values(hugo) if 'new from other clinics' in v], (
        values(hugo))
    hugo.shoot('record-news-seen')
    seen = server.site.query(
        'SELECT s.seen_on FROM gnuhealth_shared_record_seen s '
        "JOIN res_user u ON u.id = s.user WHERE u.login = 'hugo' "
        'AND s.patient = %s', (patient,))
    assert len(seen) == 1, seen


def test_the_doctor_reconciles_what_the_hospital_states(
        server, login, repository):
    """The hospital's statements GNU Health's record lacks or contradicts
    are to review, with their sources; he accepts the diabetes (found by
    its code) and the atorvastatin, the asthma choosing its condition,
    and rejects the apixaban, saying why"""
    patient, *_ = lucie(server)
    hugo = login('hugo')
    said = watch(hugo)
    open_lucie(hugo)
    hugo.page_tab('From Other Clinics')
    hugo.shoot('record-from-other-clinics')
    hugo.button('Reconcile')
    wait_for_row(hugo, REFLUX, said)
    hugo.shoot('reconcile-list')
    rows = hugo.rows()
    for name in [DIABETES, ASTHMA, REFLUX, FIBRILLATION, APIXABAN,
            ATORVASTATIN, BOOSTRIX]:
        row, = [r for r in rows if name in r]
        assert HOSPITAL in row, row
    tab = hugo.tab.locator('.nav-tabs a:visible', has_text='To Review')
    assert '7' in tab.inner_text(), tab.inner_text()
    # Active here, ended at the hospital: a conflict, in red
    reflux = hugo.tab.locator('tbody tr:visible', has_text=REFLUX).first
    assert 'active in one source, ended in another' in reflux.inner_text()
    assert 'danger' in (reflux.get_attribute('class') or ''), (
        reflux.get_attribute('class'))

    # The diabetes: GNU Health's list has its code, the form proposes it
    hugo.open_row(DIABETES)
    hugo.shoot('reconcile-item')
    hugo.button('Accept')
    proposed = values(hugo)
    hugo.shoot('reconcile-accept-known')
    assert any('Type 2 diabetes mellitus' in v for v in proposed), proposed
    assert (TODAY - dt.timedelta(days=400)).strftime('%m/%d/%Y') in proposed, (
        proposed)
    footer(hugo, 'Accept')
    hugo.shoot('reconcile-accepted')
    assert 'Accepted' in decided(hugo)
    (active, diagnosed), = server.site.query(
        'SELECT d.is_active, d.diagnosed_date '
        'FROM gnuhealth_patient_disease d '
        'JOIN gnuhealth_pathology p ON p.id = d.pathology '
        "WHERE d.patient = %s AND p.code = 'E11'", (patient,))
    assert active and str(diagnosed) == str(TODAY - dt.timedelta(days=400))
    assert items(server, patient)[DIABETES][0] == 'accepted'

    # The asthma, J45 at the hospital: GNU Health's list has J45.9, which
    # the doctor chooses
    switch_to_list(hugo)
    hugo.open_row(ASTHMA)
    hugo.button('Accept')
    condition = hugo.tab.locator('.form-many2one input:visible').first
    assert condition.input_value() == ''
    hugo.shoot('reconcile-accept-unknown')
    choose(hugo, condition, 'Asthma', 'Asthma, unspecified')
    assert 'Asthma, unspecified' in condition.input_value()
    footer(hugo, 'Accept')
    assert 'Accepted' in decided(hugo)
    (code,), = server.site.query(
        'SELECT p.code FROM gnuhealth_patient_disease d '
        'JOIN gnuhealth_pathology p ON p.id = d.pathology '
        "WHERE d.patient = %s AND p.code LIKE 'J45%%'", (patient,))
    assert code == 'J45.9'

    # The atorvastatin, found by its ATC code
    switch_to_list(hugo)
    hugo.open_row(ATORVASTATIN)
    hugo.button('Accept')
    proposed = values(hugo)
    assert any('Atorvastatin 20 mg tablet' in v for v in proposed), proposed
    footer(hugo, 'Accept')
    (active,), = server.site.query(
        'SELECT m.is_active FROM gnuhealth_patient_medication m '
        'JOIN gnuhealth_medicament d ON d.id = m.medicament '
        "WHERE m.patient = %s AND d.atc_code = 'C10AA05'", (patient,))
    assert active

    # The apixaban, rejected with a reason
    switch_to_list(hugo)
    hugo.open_row(APIXABAN)
    hugo.button('Reject')
    hugo.tab.locator('input:visible').first.fill(
        'Stopped at discharge, per the patient')
    hugo.shoot('reconcile-reject')
    footer(hugo, 'Reject')
    hugo.page_tab('Decisions')
    hugo.shoot('reconcile-rejected')
    shown = values(hugo)
    assert 'Rejected' in shown, shown
    assert 'Stopped at discharge, per the patient' in shown, shown
    assert 'Stopped at discharge' in hugo.tab.locator(
        '.treeview:visible').last.inner_text()
    assert items(server, patient)[APIXABAN] == (
        'rejected', 'Stopped at discharge, per the patient')

    switch_to_list(hugo)
    hugo.tab.locator('[title="Reload/Undo"]').first.click()
    hugo.idle()
    hugo.shoot('reconcile-list-after')
    rows = hugo.rows()
    for name in [DIABETES, ASTHMA, ATORVASTATIN, APIXABAN]:
        assert not [r for r in rows if name in r], rows
    assert [r for r in rows if FIBRILLATION in r], rows


def test_the_doctor_reads_the_patient_overview(server, login, repository):
    """One line for each thing, GNU Health's record and the hospital's
    summary together, with its sources"""
    hugo = login('hugo')
    said = watch(hugo)
    open_lucie(hugo)
    hugo.page_tab('Shared Record')
    hugo.button('Patient Overview')
    wait_for_row(hugo, FIBRILLATION, said)
    hugo.shoot('overview')
    rows = hugo.rows()
    for name, sources in [
            ('Type 2 diabetes', ["GNU Health's record", HOSPITAL]),
            ('Atorvastatin', ["GNU Health's record", HOSPITAL]),
            (FIBRILLATION, [HOSPITAL]),
            ('Essential (primary) hypertension', ["GNU Health's record"]),
            ]:
        row, = [r for r in rows if name in r]
        for source in sources:
            assert source in row, (name, row)
    assert not [r for r in rows if 'Apixaban' in r and 'GNU Health' in r]
    footer(hugo, 'Close')


def test_the_doctor_prepares_and_publishes_her_summary(
        server, login, repository):
    """The summary drafts itself from the overview: he ticks the vaccine
    the hospital gave, unticks the influenza one, reviews what changes
    and publishes"""
    patient, *_ = lucie(server)
    (previous,), = server.site.query(
        'SELECT d.id FROM gnuhealth_shared_record_document d '
        'JOIN gnuhealth_shared_record_document_type t '
        "ON t.id = d.document_type WHERE t.code = '60591-5' "
        "AND d.source = 'local' AND d.state = 'published' "
        'AND d.patient = %s', (patient,))
    hugo = login('hugo')
    said = watch(hugo)
    open_lucie(hugo)
    hugo.page_tab('Shared Record')
    hugo.button('Prepare Patient Summary')
    wait_for_row(hugo, BOOSTRIX, said)
    hugo.shoot('summary-prepare')
    lines = hugo.tab.locator('.treeview:visible tbody tr:visible')

    def line(name):
        found = lines.filter(has_text=name)
        assert found.count() == 1, (name, lines.all_inner_texts())
        return found.first

    def include(name):
        "The line's Include box, not the client's box that selects rows"
        return line(name).locator(
            'td:not(.selection-state) input[type=checkbox]').first

    def ticked(name):
        return include(name).is_checked()

    assert ticked('Type 2 diabetes mellitus')
    assert not ticked(BOOSTRIX)
    assert ticked('Influvac')
    for name, tick in [(BOOSTRIX, True), ('Influvac', False)]:
        box = include(name)
        box.click()
        hugo.idle(0.5)
        if box.is_checked() != tick:
            box.click()
            hugo.idle(0.5)
        assert box.is_checked() == tick, name
    hugo.shoot('summary-prepare-ticked')
    footer(hugo, 'Review Changes')
    wait_for_row(hugo, 'Added', said)
    hugo.shoot('summary-review')
    changes = hugo.rows()
    assert [c for c in changes if 'Added' in c and BOOSTRIX in c], changes
    assert [c for c in changes if 'Removed' in c and 'Influvac' in c], changes
    assert [c for c in changes if 'Added' in c and 'diabetes' in c], changes
    footer(hugo, 'Publish')
    hugo.shoot('summary-published')
    text = hugo.tab.inner_text()
    assert 'Application Error' not in text, text
    (summary, replaces, content), = server.site.query(
        'SELECT d.id, d.replaces, d.content '
        'FROM gnuhealth_shared_record_document d '
        'JOIN gnuhealth_shared_record_document_type t '
        "ON t.id = d.document_type WHERE t.code = '60591-5' "
        "AND d.source = 'local' AND d.state = 'published' "
        'AND d.patient = %s', (patient,))
    assert summary != previous and replaces == previous
    content = bytes(content)  # a memoryview on PostgreSQL
    assert b'J07CA02' in content and b'E11' in content
    assert b'J07BB02' not in content
    # The vaccine the hospital gave, in GNU Health's record now
    (state,), = server.site.query(
        'SELECT v.state FROM gnuhealth_vaccination v '
        'JOIN gnuhealth_medicament m ON m.id = v.vaccine '
        "WHERE v.patient = %s AND m.atc_code = 'J07CA02'", (patient,))
    assert state == 'done'
    assert items(server, patient)[BOOSTRIX][0] == 'accepted'
    # On top of her Shared Record tab
    hugo.tab.locator('[title="Reload/Undo"]').first.click()
    hugo.idle()
    hugo.page_tab('Shared Record')
    hugo.shoot('summary-on-top')
    assert re.search('Patient summary', hugo.tab.inner_text())
