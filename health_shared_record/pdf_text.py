# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The fonts, styles and text of the PDF readable copies (pdf_render): the
font faces (DejaVu Sans embedded when the system has it, else the viewer's
Helvetica), the page's bounds and the words it writes itself, and the
flowable that lays out a paragraph of runs of text."""
import dataclasses
import os
import re
import threading
import unicodedata

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable

# Where the distributions put DejaVu (Debian, Fedora, Arch, FreeBSD)
FONT_FOLDERS = [
    '/usr/share/fonts/truetype/dejavu',
    '/usr/share/fonts/dejavu-sans-fonts',
    '/usr/share/fonts/dejavu',
    '/usr/share/fonts/TTF',
    '/usr/local/share/fonts/dejavu',
    '/usr/local/share/fonts',
    ]
FONT_FILES = {
    'normal': 'DejaVuSans.ttf',
    'bold': 'DejaVuSans-Bold.ttf',
    'italic': 'DejaVuSans-Oblique.ttf',
    'boldItalic': 'DejaVuSans-BoldOblique.ttf',
    }
FALLBACK_FONTS = {
    'normal': 'Helvetica', 'bold': 'Helvetica-Bold',
    'italic': 'Helvetica-Oblique', 'boldItalic': 'Helvetica-BoldOblique',
    }

# Bounds on the work a page may cost, whatever it holds: past them the copy
# stops with NOTICES['truncated'], the structured document holds the rest
MAX_ROWS = 20000
MAX_BLOCKS = 50000
MAX_CHARACTERS = 3 * 1000 * 1000
MAX_CELL_CHARACTERS = 10000
MAX_IMAGE_PIXELS = 25 * 1000 * 1000
MAX_IMAGE_BYTES = 16 * 1024 * 1024
# A table wider than this is unreadable on A4 portrait: its rows are
# written as lines of "heading: value"
MAX_COLUMNS = 12
# Deeper than this, an element's text is read without its markup: Python's
# recursion has a limit, and no document nests so deep
MAX_DEPTH = 100

# The words the copy writes itself; the caller gives them in the reader's
# language through html_to_pdf's notices
NOTICES = {
    'truncated': 'This copy stops here: the rest of the document is in '
    'the structured document it comes with.',
    'cell_truncated': '[…] the rest is in the structured document.',
    'attachment': 'This document holds a file (%(type)s) this copy does '
    'not show: it is in the structured document.',
    }

IGNORED = {
    'head', 'script', 'style', 'noscript', 'template', 'title', 'meta',
    'link', 'object', 'iframe', 'svg', 'math', 'button', 'input', 'select',
    'textarea', 'form'}
BOLD = {'b', 'strong', 'th'}
ITALIC = {'i', 'em', 'cite', 'var', 'dfn'}
HEADINGS = {'h1', 'h2', 'h3', 'h4', 'h5', 'h6'}
BLOCKS = {
    'p', 'div', 'header', 'footer', 'section', 'article', 'main', 'aside',
    'nav', 'address', 'blockquote', 'pre', 'figure', 'figcaption',
    'caption', 'dl', 'dt', 'dd', 'center', 'body', 'html', 'fieldset',
    'legend', 'details', 'summary'}
BITMAPS = {'PNG', 'JPEG', 'GIF'}
# Control characters, which a PDF cannot show
CONTROLS = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]')
# HTML's white space, which is not Python's: a no-break space stays
SPACES = re.compile('[ \t\n\r\f]+')
TOKENS = re.compile('[^ \t\n\r\f]+|[ \t\n\r\f]+')
BREAK = None

PAGE = A4
MARGIN = 2 * cm
FRAME_WIDTH = PAGE[0] - 2 * MARGIN
FRAME_HEIGHT = PAGE[1] - 2 * MARGIN
# SimpleDocTemplate's frame keeps this much inside its edges
FRAME_PADDING = 6
CELL_PADDING = 3
TOP_PADDING = 2
BOTTOM_PADDING = 3
MIN_CELL_SIZE = 7
INDENT = 18
# The room a heading needs below it, with a few lines of what it heads
HEADING_ROOM = 80
GREY = colors.HexColor('#555555')
RULE = colors.HexColor('#999999')
SHADE = colors.HexColor('#e8e8e8')

_fonts = None
_fonts_lock = threading.Lock()
_widths = {}


def fonts():
    """The font names of the family, by face: DejaVu Sans registered once
    per process if the system has it, else Helvetica"""
    global _fonts
    with _fonts_lock:
        if _fonts is None:
            _fonts = _register_fonts()
        return _fonts


def _register_fonts():
    for folder in FONT_FOLDERS:
        normal = os.path.join(folder, FONT_FILES['normal'])
        if not os.path.isfile(normal):
            continue
        try:
            names = {}
            for face, file_name in FONT_FILES.items():
                path = os.path.join(folder, file_name)
                if not os.path.isfile(path):
                    # Better a plain letter than no letter at all
                    path = normal
                name = 'SharedRecord-' + face
                pdfmetrics.registerFont(TTFont(name, path))
                names[face] = name
        except Exception:
            # A broken font file must not stop the copy: Helvetica then
            continue
        return names
    return dict(FALLBACK_FONTS)


def _width(text, font, size):
    """The width of a word; words come back again and again in a
    document, and measuring them is most of the cost of a page"""
    key = (text, font, size)
    width = _widths.get(key)
    if width is None:
        if len(_widths) > 200000:
            _widths.clear()
        width = _widths[key] = pdfmetrics.stringWidth(text, font, size)
    return width


@dataclasses.dataclass(frozen=True)
class TextStyle:
    size: float = 10
    leading: float = 13
    bold: bool = False
    italic: bool = False
    color: object = colors.black
    before: float = 0
    after: float = 4
    indent: float = 0


STYLES = {
    'body': TextStyle(),
    'h1': TextStyle(size=16, leading=20, bold=True, before=6, after=8),
    'h2': TextStyle(size=13.5, leading=17, bold=True, before=10, after=2),
    'h3': TextStyle(size=11.5, leading=15, bold=True, before=8, after=3),
    'h4': TextStyle(size=10.5, leading=14, bold=True, before=6, after=2),
    'institution': TextStyle(size=14, leading=18, bold=True, after=2),
    'small': TextStyle(size=8.5, leading=11, color=GREY),
    'notice': TextStyle(size=9, leading=12, italic=True, color=GREY,
        before=6),
    'cell': TextStyle(size=9, leading=11.5, after=0),
    }


def _face(bold, italic):
    return ('boldItalic' if bold else 'italic') if italic else (
        'bold' if bold else 'normal')


class _Text(Flowable):
    """A paragraph: runs of plain, bold or italic text and line breaks,
    laid out left aligned, a word that does not fit cut where it must.

    ReportLab's Paragraph reads a markup and measures every word each
    time it is laid out: a millisecond a paragraph, some fifteen seconds
    for 2 MB of text.  This one measures a word once and writes a line in
    one text object; and what it writes is never read as markup, so no
    text of a document can change how it is laid out."""

    def __init__(self, runs, style, faces, bullet=None, lines=None):
        super().__init__()
        self.runs = runs
        self.style = style
        self.faces = faces
        self.bullet = bullet
        self.lines = lines
        self._laid_width = None
        self.spaceBefore = style.before
        self.spaceAfter = style.after

    def _layout(self, width):
        style, faces, size = self.style, self.faces, self.style.size
        lines = []
        line, x = [], 0
        space = None

        def finish():
            nonlocal line, x
            merged = []
            for font, text in line:
                if merged and merged[-1][0] == font:
                    merged[-1][1].append(text)
                else:
                    merged.append((font, [text]))
            lines.append(([(f, ''.join(t)) for f, t in merged], x))
            line, x = [], 0

        for run in self.runs:
            if run is BREAK:
                finish()
                space = None
                continue
            text, bold, italic = run
            font = faces[_face(bold or style.bold, italic or style.italic)]
            for token in TOKENS.findall(text):
                if token[0] in ' \t\n\r\f':
                    space = font if line else None
                    continue
                measure = _width(token, font, size)
                gap = _width(' ', space, size) if space else 0
                space = None
                if line and x + gap + measure > width:
                    finish()
                elif gap:
                    line.append((font, ' '))
                    x += gap
                if measure > width:
                    # A word longer than a line, on lines of its own: cut
                    # after the last letter that fits, as a browser does
                    *pieces, token = _cut(token, font, size, width)
                    for piece in pieces:
                        line.append((font, piece))
                        x = _width(piece, font, size)
                        finish()
                    measure = _width(token, font, size)
                line.append((font, token))
                x += measure
        if line or not lines:
            finish()
        return lines

    def wrap(self, availWidth, availHeight):
        room = availWidth - self.style.indent
        if self.runs is not None and self._laid_width != room:
            self.lines = self._layout(room)
            self._laid_width = room
        self.height = len(self.lines) * self.style.leading
        self.width = min(availWidth, self.style.indent + max(
                (w for _, w in self.lines), default=0))
        return self.width, self.height

    def split(self, availWidth, availHeight):
        if self.lines is None:
            self.wrap(availWidth, availHeight)
        # else the lines as laid out: ReportLab's Table splits a cell at
        # the width of its column, without its padding
        count = int((availHeight + 1e-6) // self.style.leading)
        if count >= len(self.lines):
            return [self]
        # A first line alone at the foot of a page is an orphan
        if count < 1 or (count == 1 and len(self.lines) > 2):
            return []
        first = _Text(
            None, dataclasses.replace(self.style, after=0), self.faces,
            self.bullet, self.lines[:count])
        rest = _Text(
            None, dataclasses.replace(self.style, before=0), self.faces,
            None, self.lines[count:])
        return [first, rest]

    def draw(self):
        style = self.style
        canvas = self.canv
        text = canvas.beginText()
        if style.color != colors.black:
            text.setFillColor(style.color)
        font = None
        if self.bullet:
            font = self.faces['normal']
            text.setFont(font, style.size, style.leading)
            text.setTextOrigin(style.indent - 4 - _width(
                    self.bullet, font, style.size), self.height - _first(
                    style))
            text.textLine(self.bullet)
        self.write(text, 0, self.height, font)
        canvas.drawText(text)

    def write(self, text, x, top, font=None):
        """Write the lines in the text object, the top of the first at top;
        return the font it leaves set"""
        style = self.style
        size, leading = style.size, style.leading
        y = top - _first(style)
        for segments, _ in self.lines:
            text.setTextOrigin(x + style.indent, y)
            last = len(segments) - 1
            for index, (segment_font, segment) in enumerate(segments):
                if segment_font != font:
                    text.setFont(segment_font, size, leading)
                    font = segment_font
                # textLine, unlike textOut, does not measure its text: the
                # next line starts at its own origin anyway
                if index == last:
                    text.textLine(segment)
                else:
                    text.textOut(segment)
            y -= leading
        return font


def _first(style):
    """From the top of a paragraph to its first baseline: the letters in
    the middle of their line"""
    return style.leading - (style.leading - style.size) / 2 - style.size * 0.2


def _cut(word, font, size, width):
    "A word too long for a line in pieces that fit"
    pieces = []
    start = 0
    x = 0
    for index, letter in enumerate(word):
        measure = _width(letter, font, size)
        if x + measure > width and index > start:
            pieces.append(word[start:index])
            start, x = index, 0
        x += measure
    pieces.append(word[start:])
    return pieces


class _NumberedCanvas(Canvas):
    """A canvas that writes "page / pages" in each footer, once it knows
    how many pages there are"""
    footer_title = ''
    footer_font = 'Helvetica'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pages = []

    def showPage(self):
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        count = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self._footer(count)
            super().showPage()
        super().save()

    def _footer(self, count):
        self.saveState()
        self.setFont(self.footer_font, 8)
        self.setFillColor(GREY)
        self.setStrokeColor(RULE)
        self.setLineWidth(0.5)
        y = MARGIN - 0.9 * cm
        self.line(MARGIN, y + 10, PAGE[0] - MARGIN, y + 10)
        number = f'{self._pageNumber} / {count}'
        self.drawRightString(PAGE[0] - MARGIN, y, number)
        room = FRAME_WIDTH - self.stringWidth(number) - 20
        self.drawString(MARGIN, y, _ellipsis(
                self.footer_title, self.footer_font, 8, room))
        self.restoreState()


def _ellipsis(text, font, size, width):
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + '…', font, size) > width:
        text = text[:int(len(text) * 0.9)]
    return text + '…' if text else ''


def _tag(element):
    "The element's lower-case local name, None for a comment or an entity"
    tag = element.tag
    if not isinstance(tag, str):
        return None
    if tag[:1] == '{':
        tag = tag.partition('}')[2]
    return tag.lower()


def _clean(text):
    """text without what a PDF cannot show, its accents composed: the
    fonts have é, not always e and a combining accent"""
    if not text:
        return ''
    return unicodedata.normalize('NFC', CONTROLS.sub('', text))


def _trim(runs):
    """runs with HTML's white space, without the spaces and line breaks
    around them, nor more than two line breaks in a row"""
    trimmed = []
    breaks = 0
    for run in runs:
        if run is BREAK:
            if trimmed and breaks < 2:
                trimmed.append(BREAK)
            breaks += 1
            continue
        text, bold, italic = run
        text = SPACES.sub(' ', text)
        if not trimmed or trimmed[-1] is BREAK:
            text = text.lstrip(' ')
        if text:
            trimmed.append((text, bold, italic))
            breaks = 0
    while trimmed and trimmed[-1] is BREAK:
        trimmed.pop()
    if trimmed:
        text, bold, italic = trimmed[-1]
        trimmed[-1] = (text.rstrip(' '), bold, italic)
    return trimmed


def _plain(runs):
    return ''.join(' ' if r is BREAK else r[0] for r in runs)


class _Truncated(Exception):
    "The page is past its bounds: the copy stops here"
