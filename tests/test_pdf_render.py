# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The PDF readable copy of a document, for a reader with nothing but a PDF
viewer: the page cda_render writes, read back with pypdf as a reader's
viewer would show it"""
import base64
import io
import re
import subprocess
import sys
import time

import pytest
from lxml import etree
from pypdf import PdfReader

from health_shared_record import cda, cda_render, pdf_render, pdf_text

from helpers import ROOT
from test_cda import LABELS, every_section, header

SAMPLES = ROOT.parent / 'shared' / 'reference' / 'samples'
NO_SAMPLES = (
    f'the third-party sample documents are not at {SAMPLES} (HL7 and the '
    'ANS publish them; the project must not ship a copy)')
RESULTS = cda.section_code('30954-2')
HEADERS = ['Examen', 'Résultat', 'Valeurs de référence']


def read(pdf):
    "The PDF as a viewer opens it: strict, or the test fails"
    assert pdf.startswith(b'%PDF-')
    return PdfReader(io.BytesIO(pdf), strict=True)


def words(text):
    return ' '.join(text.split())


def page_texts(reader):
    return [page.extract_text() for page in reader.pages]


def note(name='Élodie', sections=None, custodian='Hôpital Nord'):
    "A consult note as the module writes one, through cda_render's page"
    value = header(name=name)
    value.custodian = cda.Organization(
        cda.Identifier('1.2.250.1.999.4', 'CLINIC-1'), custodian,
        telecom='tel:+33 1 23 45 67 89',
        address=cda.Address('3 rue des Lilas', '75011', 'Paris'))
    content = cda.build(value, sections if sections is not None else (
            every_section('fatigue & thirst') + [
                cda.Section(RESULTS, 'Résultats de biologie', [
                        cda.Paragraph('Prélèvement à jeun.',
                            caption='Biochimie'),
                        cda.Table(HEADERS, [
                                ['Glycémie à jeun', '4.89 mmol/L',
                                    '3.89 - 6.00'],
                                ['TSH', '1.2 mUI/L', '0.4 - 4.0']])])]))
    return cda_render.render_html(content, LABELS)


def results(count, **values):
    return note(sections=[cda.Section(RESULTS, 'Résultats', [
                    cda.Table(HEADERS, [
                            [f'Glycémie n°{i}', f'{4 + i % 30 / 10:.2f} '
                                'mmol/L', '3.89 - 6.00']
                            for i in range(1, count + 1)])])], **values)


def test_consult_note_reads_in_the_pdf():
    page = note()
    reader = read(pdf_render.html_to_pdf(page))
    assert reader.metadata.title == 'Consult note'
    text = words(''.join(page_texts(reader)))
    # The letterhead, the header, the sections and the footer
    for expected in [
            'Hôpital Nord', '3 rue des Lilas, 75011 Paris',
            'Consult note', 'Élodie Élodie', '1980-02-29',
            'Claire Martin', 'fatigue & thirst', 'second line',
            'Vital signs', 'Résultats de biologie', 'Biochimie',
            'Prélèvement à jeun.', 'Examen', 'Valeurs de référence',
            'Glycémie à jeun', '4.89 mmol/L', '3.89 - 6.00', '1.2 mUI/L',
            'Version 1, 2026-11-02 09:30', '1 / 1']:
        assert expected in text


def test_title_comes_from_the_caller_or_the_page():
    page = note()
    assert read(pdf_render.html_to_pdf(
            page, title='Note de consultation – Élodie')
        ).metadata.title == 'Note de consultation – Élodie'
    assert read(pdf_render.html_to_pdf(
            b'<h1>Compte rendu</h1><p>x</p>')).metadata.title == (
        'Compte rendu')


def test_markup_in_the_text_shows_literally():
    "A document's text is never read as ReportLab's (or any) markup"
    literal = 'Dose <b>&amp; 5 < x > 2 & </para><font size="40">'
    page = note(sections=[cda.Section(
                cda.section_code('29299-5'), 'Motif <i>&',
                [cda.Paragraph(literal)])])
    assert b'&lt;b&gt;&amp;amp;' in page
    text = words(''.join(page_texts(read(pdf_render.html_to_pdf(page)))))
    assert literal in text
    assert 'Motif <i>&' in text
    text = read(pdf_render.html_to_pdf(
            b'<p>&lt;b&gt;&amp; <b>bold</b> &lt;br/&gt;</p>')
        ).pages[0].extract_text()
    assert '<b>& bold <br/>' in words(text)


def test_long_table_goes_over_pages_with_its_head_on_each():
    count = 400
    reader = read(pdf_render.html_to_pdf(results(count)))
    texts = page_texts(reader)
    assert len(texts) >= 5
    found = []
    for number, text in enumerate(texts, 1):
        assert f'{number} / {len(texts)}' in text
        # The head once on each page, and rows on each
        assert text.count('Valeurs de référence') == 1
        found.extend(
            int(line.split('n°')[1].split()[0])
            for line in text.splitlines() if 'Glycémie n°' in line)
    # Every row once, in order: none lost or doubled at a page break
    assert found == list(range(1, count + 1))


def test_row_taller_than_a_page_is_cut_across_pages():
    long_text = ' '.join(f'mot{i}' for i in range(1000))
    page = note(sections=[cda.Section(RESULTS, 'Résultats', [
                    cda.Table(['Examen', 'Commentaire'], [
                            ['Biopsie', long_text], ['TSH', 'normal']])])])
    reader = read(pdf_render.html_to_pdf(page))
    texts = page_texts(reader)
    assert len(texts) >= 2
    assert all(t.count('Commentaire') == 1 for t in texts)
    text = words(''.join(texts))
    # Every word once, in order, the footer and head between two pages
    assert re.findall(r'mot\d+', text) == long_text.split()
    assert 'TSH normal' in text


def test_same_page_same_bytes_in_any_process():
    page = note()
    pdf = pdf_render.html_to_pdf(page)
    assert pdf_render.html_to_pdf(page) == pdf
    script = (
        'import sys\n'
        'from health_shared_record import pdf_render, pdf_text\n'
        'sys.stdout.buffer.write(pdf_render.html_to_pdf('
        'sys.stdin.buffer.read()))\n')
    other = subprocess.run(
        [sys.executable, '-c', script], input=page, capture_output=True,
        check=True, cwd=ROOT, timeout=120)
    assert other.stdout == pdf


def test_two_megabytes_render_in_seconds():
    "A laboratory's history of 17,000 results, 2 MB of HTML"
    count = 17000
    page = note(sections=[cda.Section(RESULTS, 'Résultats', [
                    cda.Table(['Date'] + HEADERS + ['Laboratoire'], [
                            [f'2026-{1 + i % 12:02d}-{1 + i % 28:02d} 08:30',
                                f'Glycémie à jeun n°{i}',
                                f'{4 + i % 30 / 10:.2f} mmol/L',
                                '3.89 - 6.00', 'Laboratoire Hôpital Nord']
                            for i in range(1, count + 1)])])])
    assert len(page) > 2 * 1000 * 1000
    start = time.process_time()
    pdf = pdf_render.html_to_pdf(page)
    elapsed = time.process_time() - start
    reader = read(pdf)
    last = words(reader.pages[-1].extract_text())
    assert f'Glycémie à jeun n°{count}' in last
    assert f'{len(reader.pages)} / {len(reader.pages)}' in last
    print(f'{len(page)} bytes of HTML, {len(reader.pages)} pages in '
        f'{elapsed:.1f} s')
    # About 4 seconds here; a cost that grows with the square of the rows
    # (as ReportLab's own long tables do) takes minutes
    assert elapsed < 20, elapsed


def test_past_the_bound_the_copy_stops_and_says_where_the_rest_is(
        monkeypatch):
    monkeypatch.setattr(pdf_render, 'MAX_ROWS', 50)
    page = results(120) + b'<p>After the table</p>'
    text = words(''.join(page_texts(read(pdf_render.html_to_pdf(
                        page, notices={'truncated': 'La suite est dans '
                            'le document structuré.'})))))
    # The page's header is a table too: its rows count
    kept = [int(n) for n in re.findall(r'Glycémie n°(\d+)', text)]
    assert kept == list(range(1, len(kept) + 1))
    assert 40 < len(kept) < 50
    assert f'Glycémie n°{len(kept)} ' in text
    assert text.endswith('La suite est dans le document structuré. 2 / 2 '
        'Consult note')
    assert 'After the table' not in text


def test_twenty_thousand_rows_at_most():
    rows = ''.join(f'<tr><td>{i}</td></tr>' for i in range(20100))
    start = time.process_time()
    reader = read(pdf_render.html_to_pdf(
            f'<table><tr><th>n</th></tr>{rows}</table>'))
    assert time.process_time() - start < 20
    last = words(reader.pages[-1].extract_text())
    # The head row counts: 19,999 of the rows
    assert '19998 ' + pdf_render.NOTICES['truncated'] in last


def test_helvetica_when_the_system_has_no_dejavu(monkeypatch):
    monkeypatch.setattr(pdf_text, 'FONT_FOLDERS', ['/nonexistent'])
    monkeypatch.setattr(pdf_text, '_fonts', None)
    assert pdf_render.fonts()['normal'] == 'Helvetica'
    reader = read(pdf_render.html_to_pdf(note(
                name='Élodie Müller', custodian='Hôpital Sainte-Thérèse')))
    text = words(''.join(page_texts(reader)))
    assert 'Hôpital Sainte-Thérèse' in text
    assert 'Élodie Müller' in text
    assert '4.89 mmol/L' in text
    fonts = {
        str(f['/BaseFont']) for f in
        reader.pages[0]['/Resources']['/Font'].values()}
    assert fonts <= {'/Helvetica', '/Helvetica-Bold', '/Helvetica-Oblique'}


def test_dejavu_embedded_when_found():
    if pdf_render.fonts()['normal'] == 'Helvetica':
        pytest.skip('DejaVu Sans is not installed on this system')
    reader = read(pdf_render.html_to_pdf(note()))
    fonts = [
        str(f['/BaseFont']) for f in
        reader.pages[0]['/Resources']['/Font'].values()]
    assert any(f.endswith('+DejaVuSans') for f in fonts)


def test_bitmap_shown_and_nothing_fetched():
    image = io.BytesIO()
    from PIL import Image
    Image.new('RGB', (40, 30), 'red').save(image, 'PNG')
    source = base64.b64encode(image.getvalue()).decode()
    reader = read(pdf_render.html_to_pdf(
            f'<p>scan</p><img src="data:image/png;base64,{source}"/>'
            '<img src="http://127.0.0.1:9/tracker.png"/>'
            '<img src="data:image/png;base64,AAAA"/>'))
    assert len(reader.pages[0].images) == 1
    text = reader.pages[0].extract_text()
    assert text.count('this copy does not show') == 2


@pytest.mark.parametrize('page', [
        b'', b'   ', bytes(range(256)) * 4, 'Élodie, a str'.encode(),
        b'<script>alert(1)</script><style>p{}</style>',
        b'<table></table><ul></ul><h2></h2>',
        b'<table><tr><th>' + b'<th>h' * 40 + b'</tr><tr><td>v' * 40
        + b'</table>',
        b'<table><tr><th colspan="2">a</th></tr><tr><td rowspan="3">b'
        b'<td>c</td></tr></table>',
        b'<p>' + b'x' * 100000 + b'</p>',
        b'<p>' + b'<br>' * 100000 + b'end</p>',
        b'<div>' * 5000 + b'deep' + b'</div>' * 5000,
        '<p>\x00\x07\x1b \u202e שלום 🩺 中文 \ufffe</p>'.encode(
            'utf-8', 'surrogatepass'),
        ], ids=[
        'empty', 'blank', 'bytes', 'text', 'script', 'empty blocks',
        'wide table', 'spans', 'long word', 'line breaks', 'deep', 'scripts'])
def test_any_page_gives_a_pdf(page):
    reader = read(pdf_render.html_to_pdf(page))
    assert len(reader.pages) >= 1
    text = ''.join(page_texts(reader))
    assert 'alert' not in text
    if b'deep' in page:
        assert pdf_render.NOTICES['truncated'] in words(text)


def test_reference_samples_read_in_their_pdf():
    """Every sample document of HL7 and the ANS: its title, its headings
    and the text of its table cells are in its PDF"""
    if not SAMPLES.exists():
        pytest.skip(NO_SAMPLES)
    checked = 0
    for path in sorted(SAMPLES.glob('*/*.xml')):
        content = path.read_bytes()
        if b'<ClinicalDocument' not in content:
            # A fragment of the C-CDA guide, not a document
            continue
        page = cda_render.render_html(content, LABELS)
        reader = read(pdf_render.html_to_pdf(page))
        tree = etree.fromstring(page, etree.HTMLParser())
        title = words(tree.findtext('head/title') or '')
        assert reader.metadata.title == title, path.name
        # Wrapped lines and cut words: compared without their spaces
        text = ''.join(''.join(page_texts(reader)).split())
        for element in tree.iter('h1', 'h2', 'h3', 'th', 'td'):
            expected = ''.join(''.join(element.itertext()).split())
            assert expected in text, (path.name, expected)
        checked += 1
    assert checked >= 10


def test_laboratory_sample_in_its_pdf():
    path = SAMPLES / 'ans' / 'BIO-CR-BIO_2024.01_Glycémie_mole.xml'
    if not path.exists():
        pytest.skip(NO_SAMPLES)
    page = cda_render.render_html(path.read_bytes(), LABELS)
    reader = read(pdf_render.html_to_pdf(page))
    assert reader.metadata.title == "Compte rendu d'examens biologiques"
    text = words(''.join(page_texts(reader)))
    for expected in [
            'Laboratoire des charmes', 'BIOCHIMIE', 'Résultats',
            'Valeurs de référence', 'Glycémie à jeun', '4.89 mmol/L',
            '(3.89 - 6.00)', 'Marcel CAMPARINI, Médecin - Biologie médicale']:
        assert expected in text, expected
