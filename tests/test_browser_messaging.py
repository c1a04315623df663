# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Secure messaging in Tryton's web client, on the demo clinic: a nurse
reads the letter a doctor sent her, a doctor sends a document to a
colleague from the document, and a doctor files a message that matched
no patient (test_browser.py says how the client is driven)"""
import datetime as dt
import tempfile

import pytest

import mail_sender
import pki
import test_browser
from test_browser import LUCIE, pytestmark  # noqa: F401  the marks

# test_browser's fixtures, found by pytest in this module's names
browser, server, login = (
    test_browser.browser, test_browser.server, test_browser.login)

MAILBOX = 'accueil@demo.mssante.example'
NORD = 'durand@nord.mssante.example'


def test_the_nurse_reads_the_letter_a_doctor_sent(server, login):
    """The demo's Dr Martin sent the cardiologist's letter to Paul, the
    nurse: he finds it in his messages, filed in the patient's record,
    opens the letter, and Dr Martin's message shows it read"""
    paul = login('paul')
    paul.menu('Health', 'Shared Record', 'Messages')
    paul.tab.locator('.nav-tabs a:visible', has_text='Received').first.click()
    paul.idle()
    rows = paul.rows()
    assert any('Letter from the cardiologist' in r and 'Filed' in r
        for r in rows), rows
    paul.open_row('Letter from the cardiologist')
    values = paul.tab.locator('input:visible, textarea:visible').evaluate_all(
        'fields => fields.map(f => f.value)')
    assert any('the cardiologist saw him' in v for v in values), values
    assert 'Martin, Claire' in values, values
    paul.shoot('message-received')
    paul.open_row('Letter from the cardiologist',
        within=paul.tab.locator('.treeview', has_text='Letter').last)
    paul.idle(2)
    (state, read), = server.site.query(
        'SELECT state, read_date FROM gnuhealth_shared_record_message '
        "WHERE direction = 'out' AND subject = %s",
        ('Letter from the cardiologist',))
    assert state == 'read' and read, (state, read)


def test_a_doctor_sends_a_document_to_a_colleague(server, login):
    """Dr Lefebvre sends Lucie's consult note to Dr Martin, from the
    document: she has it at once"""
    hugo = login('hugo')
    hugo.menu('Health', 'Shared Record', 'Shared Documents')
    hugo.search('Patient: Lucie Type: "Consult note"')
    hugo.open_row('Consult note')
    hugo.toolbar('Launch action', 'Send to a Colleague')
    dialog = hugo.tab
    colleague = dialog.locator('input[name="professionals"]:visible')
    colleague.fill('Martin')
    colleague.locator('xpath=..').locator('button[title="Add"]').click()
    hugo.idle()
    if hugo.page.locator('.modal-dialog:visible').count() > 1:
        hugo.open_row('Martin')  # in the search dialog
    dialog = hugo.tab
    assert 'Martin, Claire' in dialog.inner_text(), dialog.inner_text()
    assert dialog.locator('input:visible').evaluate_all(
        'fields => fields.map(f => f.value)'), 'no subject'

    dialog.locator('textarea:visible').first.fill('Please see her Monday.')
    hugo.shoot('message-send')
    dialog.locator('.modal-footer button:visible', has_text='Send'
        ).first.click()
    hugo.idle()
    rows = server.site.query(
        'SELECT m.state, m.channel FROM gnuhealth_shared_record_message m '
        'JOIN gnuhealth_healthprofessional hp ON hp.id = m.recipient '
        'JOIN party_party p ON p.id = hp.party '
        "WHERE m.direction = 'out' AND p.lastname = 'Martin' "
        "AND m.text = 'Please see her Monday.'")
    assert rows == [('delivered', 'internal')], rows


@pytest.fixture
def unmatched(server):
    """A signed message from another clinic, about a patient nobody here
    knows by her identifier nor her name, waiting in the clinic's Inbox"""
    folder = tempfile.mkdtemp()
    authority = pki.make('Health Authority')
    trusted = f'{folder}/authority.crt'
    with open(trusted, 'wb') as file:
        file.write(pki.pem(authority[1]))
    certificate, key = pki.write(
        folder, 'clinic', pki.make(MAILBOX, authority))
    server.rpc('admin', 'model.gnuhealth.shared_record.configuration.write',
        [1], {'messaging_trusted_file': trusted})
    mailbox, = server.rpc(
        'admin', 'model.gnuhealth.shared_record.mailbox.create', [{
                'name': 'Accueil', 'address': MAILBOX,
                'certificate_file': certificate, 'private_key_file': key,
                }])
    (content,), = server.site.query(
        'SELECT d.content FROM gnuhealth_shared_record_document d '
        'JOIN gnuhealth_shared_record_document_type t '
        "ON t.id = d.document_type WHERE t.code = '60591-5' "
        "AND d.source = 'local' ORDER BY d.id LIMIT 1")
    content = bytes(content).replace(b'Bernard', b'Bernhard')
    national = server.site.query(
        'SELECT code FROM gnuhealth_person_alternative_identification')
    for code, in national:
        content = content.replace(code.encode(), b'199999999999999')
    data = mail_sender.message(
        mail_sender.package(content, '1.2.250.1.888.1.42', '199999999999999',
            title='Summary from Hôpital Nord'),
        pki.make(NORD, authority), NORD, MAILBOX, 'Summary of Mrs Bernhard',
        42)
    server.site.query(
        'INSERT INTO gnuhealth_shared_record_message (direction, state, '
        'channel, mailbox, address, message_id, key, raw, reason, '
        'subject, sender_address, receipt_requested, attempts, '
        'create_uid, create_date) VALUES '
        "('in', 'inbox', 'mail', %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, 0, "
        '%s)',
        (mailbox, MAILBOX, '<42@nord.mssante.example>',
            'in:%s:<42@nord.mssante.example>' % mailbox, data,
            'No patient of this clinic matches the documents.',
            'Summary of Mrs Bernhard', NORD, False, dt.datetime.now()))
    return mailbox


def test_a_doctor_files_an_unmatched_message(server, login, unmatched):
    """The message waits in To File with its reason: Dr Martin, who
    knows the patient, files it into Lucie's record"""
    claire = login('claire')
    claire.menu('Health', 'Shared Record', 'Messages')
    tab = claire.tab.locator('.nav-tabs a:visible', has_text='To File')
    assert '1' in tab.inner_text(), tab.inner_text()
    rows = claire.rows()
    # The tab's domain fixes the state: the client leaves its column out
    assert any('Summary of Mrs Bernhard' in r for r in rows), rows
    claire.shoot('message-inbox')
    claire.open_row('Summary of Mrs Bernhard')
    claire.button('File')
    dialog = claire.tab
    reasons = dialog.locator('textarea:visible').evaluate_all(
        'fields => fields.map(f => f.value)')
    assert any('No patient of this clinic' in v for v in reasons), reasons
    patient = dialog.locator('.form-many2one input:visible').first
    patient.fill('Bernard')
    patient.press('Tab')
    claire.idle()
    if claire.page.locator('.modal-dialog:visible').count() > 1:
        claire.open_row(LUCIE)  # in the search dialog
    claire.tab.locator('.modal-footer button:visible', has_text='File'
        ).first.click()
    claire.idle()
    values = claire.tab.locator('input:visible, select:visible').evaluate_all(
        'fields => fields.map(f => f.value)')
    assert LUCIE in values, values
    claire.shoot('message-filed')
    (state, documents), = server.site.query(
        'SELECT m.state, COUNT(r.id) FROM gnuhealth_shared_record_message m '
        'LEFT JOIN "gnuhealth_shared_record_message-document" r '
        "ON r.message = m.id WHERE m.message_id = '<42@nord.mssante.example>' "
        'GROUP BY m.state')
    assert (state, documents) == ('filed', 1)
