# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The readable copy of a document as a PDF file, for a reader without any
software but a PDF viewer: the HTML page of cda_render laid out on A4
pages, with its headings, paragraphs, lists and tables, and the page
numbers in the footer.

Only what a reader needs of HTML is understood; anything else is read as
text, and nothing the page names is fetched from anywhere.  The same page
gives the same bytes, so a copy can be compared with the one sent before.

The font is DejaVu Sans when the system has it (Debian's fonts-dejavu-core,
and fonts-dejavu-extra for its italics), embedded, for the accents, Greek
and Cyrillic letters of any European name.  Otherwise it is the PDF
viewer's own Helvetica, which has the letters of Western Europe (é, ü, ç,
ñ, ß, œ, €) but not ł, ő, Greek or Cyrillic: such a letter shows as a box,
and nothing fails.  Neither has Chinese letters, nor joins Arabic ones."""
import base64
import dataclasses
import io
import re
import warnings

from lxml import etree
from reportlab.platypus import (
    CondPageBreak, HRFlowable, Image, Indenter, SimpleDocTemplate, Spacer,
    Table, TableStyle)
from reportlab.platypus.doctemplate import LayoutError

# The PDF copy's own parts, private to the pdf_ modules
from .pdf_text import (
    BITMAPS, BLOCKS, BOLD, BREAK, FRAME_HEIGHT, FRAME_WIDTH, HEADINGS,
    HEADING_ROOM, IGNORED, INDENT, ITALIC, MARGIN, MAX_BLOCKS,
    MAX_CELL_CHARACTERS, MAX_CHARACTERS, MAX_COLUMNS, MAX_DEPTH,
    MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, MAX_ROWS, NOTICES, PAGE, RULE, STYLES,
    _NumberedCanvas, _Text, _Truncated, _clean, _plain, _tag, _trim, fonts)
from .pdf_table import (
    _Rows, _cell_value, _column_widths, _commands, _grid, _rows, _span)

__all__ = ['html_to_pdf', 'NOTICES', 'fonts']


class _Story:
    "The flowables of an HTML page, built by walking its tree"

    def __init__(self, faces, notices, tables=True):
        self.faces = faces
        self.notices = notices
        self.tables = tables
        self.flowables = []
        self.runs = []
        self.bold = self.italic = 0
        self.characters = MAX_CHARACTERS
        self.rows = MAX_ROWS
        self.blocks = MAX_BLOCKS
        self.indent = 0
        self.bullet = None
        self.depth = 0

    def add(self, flowable):
        self.blocks -= 1
        if self.blocks < 0:
            raise _Truncated
        self.flowables.append(flowable)

    # Paragraphs

    def text(self, text):
        text = _clean(text)
        if not text:
            return
        self.characters -= len(text)
        if self.characters < 0:
            raise _Truncated
        self.runs.append((text, self.bold > 0, self.italic > 0))

    def flush(self, style):
        runs, self.runs = _trim(self.runs), []
        if not runs:
            return
        style = STYLES[style] if isinstance(style, str) else style
        if self.indent:
            style = dataclasses.replace(
                style, indent=style.indent + self.indent)
        bullet, self.bullet = self.bullet, None
        self.add(_Text(runs, style, self.faces, bullet))

    def notice(self, name, last=False, **values):
        text = self.notices[name] % values if values else self.notices[name]
        notice = _Text([(text, False, False)], STYLES['notice'], self.faces)
        if last:
            # Past the bounds, yet said
            self.flowables.append(notice)
        else:
            self.add(notice)

    def rule(self, before=0, after=4):
        self.add(HRFlowable(
                width='100%', thickness=0.5, color=RULE, spaceBefore=before,
                spaceAfter=after))

    # The tree

    def walk(self, element, style):
        if self.depth > MAX_DEPTH:
            # Nesting no page needs: its text, without a deeper recursion
            self.text(''.join(element.itertext()))
            return
        self.depth += 1
        try:
            self._walk(element, style)
        finally:
            self.depth -= 1

    def _walk(self, element, style):
        self.text(element.text)
        for child in element:
            self.element(child, style)
            self.text(child.tail)

    def element(self, element, style):
        tag = _tag(element)
        if tag is None or tag in IGNORED:
            pass
        elif tag in BOLD:
            self.bold += 1
            self.walk(element, style)
            self.bold -= 1
        elif tag in ITALIC:
            self.italic += 1
            self.walk(element, style)
            self.italic -= 1
        elif tag == 'br':
            self.runs.append(BREAK)
        elif tag in HEADINGS:
            self.flush(style)
            level = f'h{min(int(tag[1]), 4)}'
            self.walk(element, level)
            if self.runs:
                # A heading starts a page rather than end one alone.  Not
                # ReportLab's keepWithNext: it would move a whole table
                # of many pages to the next one, to keep it with its
                # heading
                self.add(CondPageBreak(HEADING_ROOM))
            self.flush(level)
            if level == 'h2':
                self.rule()
        elif tag in {'ul', 'ol', 'menu'}:
            self.flush(style)
            self.list(element, style, ordered=tag == 'ol')
        elif tag == 'li':
            # An item outside any list
            self.flush(style)
            self.item(element, style, '•')
        elif tag == 'table':
            self.flush(style)
            self.table(element)
        elif tag == 'hr':
            self.flush(style)
            self.rule(before=4)
        elif tag in {'img', 'embed'}:
            self.flush(style)
            self.image(element)
        elif tag in BLOCKS:
            self.flush(style)
            self.block(element, tag, style)
        else:
            # span, a, font, sub, sup, u...: their text, inline
            self.walk(element, style)

    def block(self, element, tag, style):
        inner = STYLES[style] if isinstance(style, str) else style
        if 'institution' in (element.get('class') or '').split():
            inner = STYLES['institution']
        elif tag == 'footer':
            inner = STYLES['small']
            # The footer is what the doctor signs: set apart by a rule
            self.rule(before=12, after=2)
        elif tag in {'blockquote', 'dd'}:
            inner = dataclasses.replace(inner, indent=inner.indent + INDENT)
        if tag == 'dt':
            self.bold += 1
        self.walk(element, inner)
        if tag == 'dt':
            self.bold -= 1
        self.flush(inner)

    def list(self, element, style, ordered):
        number = 0
        self.indent += INDENT
        try:
            self.text(element.text)
            for child in element:
                if _tag(child) == 'li':
                    # Text around the items is a paragraph of its own
                    self.flush(style)
                    number += 1
                    self.item(child, style, f'{number}.' if ordered else '•')
                else:
                    self.element(child, style)
                self.text(child.tail)
            self.flush(style)
        finally:
            self.indent -= INDENT

    def item(self, element, style, bullet):
        self.bullet = bullet
        self.walk(element, style)
        self.flush(style)
        self.bullet = None

    # Tables

    def cell(self, element):
        "The runs of a cell: its blocks, lists and tables as lines"
        if not len(element):
            # Most cells: a text alone
            text = _clean(element.text)
            if len(text) <= MAX_CELL_CHARACTERS:
                self.characters -= len(text)
                if self.characters < 0:
                    raise _Truncated
                return _trim([(text, _tag(element) == 'th', False)])
        runs = []
        left = MAX_CELL_CHARACTERS

        def add(text, bold, italic):
            nonlocal left
            text = _clean(text)
            if not text or left <= 0:
                return
            text = text[:left]
            left -= len(text)
            runs.append((text, bold, italic))

        def newline():
            # Blocks start and end lines, but leave no blank line between
            for run in reversed(runs):
                if run is BREAK:
                    return
                if run[0].strip(' \t\n\r\f'):
                    runs.append(BREAK)
                    return

        def walk(node, bold, italic, depth=0):
            if depth > MAX_DEPTH:
                add(''.join(node.itertext()), bold, italic)
                return
            depth += 1
            add(node.text, bold, italic)
            first = True
            for child in node:
                tag = _tag(child)
                if tag is None or tag in IGNORED:
                    pass
                elif tag == 'br':
                    runs.append(BREAK)
                elif tag == 'tr':
                    newline()
                    walk(child, bold, italic, depth)
                elif tag in {'td', 'th'}:
                    if not first:
                        add(' | ', bold, italic)
                    first = False
                    walk(child, bold or tag == 'th', italic, depth)
                elif tag == 'li':
                    newline()
                    add('• ', bold, italic)
                    walk(child, bold, italic, depth)
                elif tag in HEADINGS or tag in BLOCKS or tag in {
                        'ul', 'ol', 'table', 'hr', 'thead', 'tbody',
                        'tfoot'}:
                    newline()
                    walk(child, bold or tag in HEADINGS, italic, depth)
                    newline()
                else:
                    walk(child, bold or tag in BOLD,
                        italic or tag in ITALIC, depth)
                add(child.tail, bold, italic)

        walk(element, _tag(element) == 'th', False)
        self.characters -= MAX_CELL_CHARACTERS - left
        if self.characters < 0:
            raise _Truncated
        runs = _trim(runs)
        if left <= 0:
            runs += [BREAK, (self.notices['cell_truncated'], False, True)]
        return runs

    def table(self, element):
        "A table, its head rows first and again on each page it goes over"
        caption = []
        rows = []
        truncated = False
        for row in _rows(element, caption):
            if self.rows <= 0:
                truncated = True
                break
            self.rows -= 1
            cells = []
            for cell in row:
                tag = _tag(cell)
                if tag in {'td', 'th'}:
                    cells.append((self.cell(cell), tag == 'th',
                            _span(cell.get('colspan')),
                            _span(cell.get('rowspan'))))
            if cells:
                rows.append(cells)
        for node in caption:
            self.walk(node, 'body')
            self.flush('body')
        if rows:
            classes = (element.get('class') or '').split()
            for flowable in self._table(rows, 'header' in classes):
                self.add(flowable)
        if truncated:
            raise _Truncated

    def _table(self, rows, plain):
        grid, spans = _grid(rows)
        columns = max(len(r) for r in grid)
        for row in grid:
            row.extend([None] * (columns - len(row)))
        heading = 0
        for row in grid[:3]:
            if not all(c is None or c[1] for c in row):
                break
            heading += 1
        if heading == len(grid):
            heading = 0
        width = FRAME_WIDTH - self.indent
        if columns > MAX_COLUMNS or not self.tables:
            return self._table_as_lines(grid, heading)
        widths, size = _column_widths(
            grid, heading, columns, width, self.faces)
        style = STYLES['cell']
        style = dataclasses.replace(
            style, size=size, leading=style.leading * size / style.size)
        data = [
            [_cell_value(c, style, self.faces, w, y < heading)
                for c, w in zip(row, widths)]
            for y, row in enumerate(grid)]
        if spans:
            # Spans cross rows: ReportLab's own table, slower, keeps them
            commands = _commands(self.faces, style, heading, not plain)
            commands.extend(('SPAN', start, end) for start, end in spans)
            table = Table(
                data, colWidths=widths, repeatRows=heading, hAlign='LEFT',
                splitInRow=24, style=TableStyle(commands), spaceBefore=3,
                spaceAfter=6)
        else:
            table = _Rows(
                data[:heading], data[heading:], widths, self.faces, style,
                not plain)
            table.spaceBefore = 3
        if self.indent:
            return [Indenter(self.indent), table, Indenter(-self.indent)]
        return [table]

    def _table_as_lines(self, grid, heading):
        "A table too wide for the page: each row a line of heading: value"
        names = [
            _plain(c[0]) if c else '' for c in grid[heading - 1]
            ] if heading else [''] * len(grid[0])
        style = dataclasses.replace(
            STYLES['cell'], indent=self.indent, after=3)
        flowables = []
        for row in grid[heading:]:
            runs = []
            for name, cell in zip(names, row):
                if cell is None or not cell[0]:
                    continue
                if runs:
                    runs.append(('  ·  ', False, False))
                if name:
                    runs.append((f'{name}: ', True, False))
                runs.extend(
                    (' ', False, False) if r is BREAK else r for r in cell[0])
            if runs:
                flowables.append(_Text(runs, style, self.faces))
        return flowables

    # What is not text

    def image(self, element):
        "A bitmap the page carries itself, never one from elsewhere"
        source = element.get('src') or ''
        media_type = (element.get('type') or '').lower()
        match = re.match(
            r'data:([\w.+/-]*)(;[^,]*)?,', source[:200], re.IGNORECASE)
        if match and not media_type:
            media_type = match.group(1).lower()
        if not match or not media_type.startswith('image/'):
            if element.get('alt'):
                self.text(element.get('alt'))
                self.flush('body')
            elif source or media_type:
                self.notice('attachment', type=media_type or 'link')
            return
        try:
            if len(source) > MAX_IMAGE_BYTES * 4 // 3 + 200:
                raise ValueError('too large')
            data = base64.b64decode(
                re.sub(r'\s+', '', source[match.end():]), validate=True)
            from PIL import Image as Bitmap
            with warnings.catch_warnings():
                # Its own bound on pixels is lower: Pillow's warning is noise
                warnings.simplefilter(
                    'ignore', Bitmap.DecompressionBombWarning)
                with Bitmap.open(io.BytesIO(data)) as bitmap:
                    if bitmap.format not in BITMAPS:
                        raise ValueError(bitmap.format)
                    pixels = bitmap.size
            if pixels[0] * pixels[1] > MAX_IMAGE_PIXELS:
                raise ValueError('too many pixels')
            # A pixel at 96 per inch, no larger than the frame
            width, height = pixels[0] * 0.75, pixels[1] * 0.75
            scale = min(1, (FRAME_WIDTH - self.indent) / width,
                FRAME_HEIGHT * 0.9 / height)
            image = Image(
                io.BytesIO(data), width * scale, height * scale,
                hAlign='LEFT')
            image.spaceBefore = image.spaceAfter = 4
            self.add(image)
        except Exception:
            # Whatever is wrong with a bitmap, the copy says it is missing
            self.notice('attachment', type=media_type)


def _parse(html):
    """The page's tree, or None; and whether the parser read it all: it
    stops at a nesting deeper than it allows"""
    if isinstance(html, str):
        html = html.encode('utf-8')
    if not html or not html.strip():
        return None, True
    parser = etree.HTMLParser(
        encoding='utf-8', remove_comments=True, remove_pis=True,
        no_network=True, huge_tree=True)
    try:
        root = etree.fromstring(html, parser)
    except etree.XMLSyntaxError:
        return None, False
    return root, not any(
        e.level == etree.ErrorLevels.FATAL for e in parser.error_log)


def html_to_pdf(html: bytes, title: str = None, *, notices=None) -> bytes:
    """Return an A4 PDF of the HTML page (bytes as cda_render.render_html
    writes them, or str): its headings, paragraphs, lists and tables (the
    head rows again on each page), bold and italic, line breaks, the
    bitmaps it carries as data: URLs; the page numbers in the footer.

    title is the PDF's title, the page's <title> when None; notices gives
    NOTICES in the reader's language.  The same page gives the same
    bytes.  A page past the bounds (MAX_ROWS table rows, MAX_BLOCKS
    paragraphs, MAX_CHARACTERS of text) stops at them with
    NOTICES['truncated']."""
    notices = {**NOTICES, **(notices or {})}
    root, complete = _parse(html)
    if title is None and root is not None:
        title = ' '.join(root.xpath('string(//head/title)').split()) or (
            ' '.join(root.xpath('string((//h1)[1])').split()))
    title = _clean(title or '')
    faces = fonts()
    try:
        return _build(root, complete, title, faces, notices, tables=True)
    except LayoutError:
        # Something ReportLab's Table cannot place: the tables as lines
        return _build(root, complete, title, faces, notices, tables=False)


def _build(root, complete, title, faces, notices, tables):
    story = _Story(faces, notices, tables=tables)
    if root is not None:
        body = root.find('body')
        try:
            story.walk(body if body is not None else root, 'body')
            story.flush('body')
        except _Truncated:
            story.runs = []
            complete = False
    if not complete:
        story.notice('truncated', last=True)
    if not story.flowables:
        story.flowables.append(Spacer(0, 0))
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN,
        topMargin=MARGIN, bottomMargin=MARGIN, title=title,
        creator='GNU Health shared record', invariant=1)

    class Numbered(_NumberedCanvas):
        footer_title = title
        footer_font = faces['normal']
    document.build(story.flowables, canvasmaker=Numbered)
    return buffer.getvalue()
