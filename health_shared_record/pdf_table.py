# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The tables of the PDF readable copies (pdf_render): the grid of an HTML
table with its spans, the widths of its columns, and the flowable that
lays out its rows over pages with the head rows again on each."""
import bisect
import itertools

from reportlab.lib import colors
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import Flowable, Table, TableStyle

# The PDF copy's own parts, private to the pdf_ modules
from .pdf_text import (
    BOTTOM_PADDING, BREAK, CELL_PADDING, FRAME_HEIGHT, FRAME_PADDING,
    MIN_CELL_SIZE, RULE, SHADE, STYLES, TOKENS, TOP_PADDING, _Text, _first,
    _tag, _width)


class _Rows(Flowable):
    """A table laid out a page at a time, its head rows on each page.

    ReportLab's Table measures all the rows it has left each time it is
    split, on each page, and writes each cell in a text object of its own:
    20,000 rows took minutes.  This one measures each row once, and draws
    the rows a page holds with one text object."""

    def __init__(self, head, body, widths, faces, style, grid, start=0,
            end=None, with_head=True, measures=None):
        super().__init__()
        self.head = head
        self.body = body
        self.widths = widths
        self.faces = faces
        self.style = style
        self.grid = grid
        self.start = start
        self.end = len(body) if end is None else end
        self.with_head = with_head and bool(head)
        # Shared by the parts of a table, so each row is measured once
        self.measures = measures if measures is not None else {}
        self.hAlign = 'LEFT'
        self.spaceBefore = 0
        self.spaceAfter = 6

    def _row_height(self, row):
        height = 0
        for value, width in zip(row, self.widths):
            if isinstance(value, Flowable):
                value_height = value.wrap(width - 2 * CELL_PADDING, 1e9)[1]
            else:
                value_height = self.style.leading * (value.count('\n') + 1)
            height = max(height, value_height)
        return height + TOP_PADDING + BOTTOM_PADDING

    def _measure(self):
        if not self.measures:
            self.measures['head'] = [self._row_height(r) for r in self.head]
            self.measures['tops'] = list(itertools.accumulate(
                    (self._row_height(r) for r in self.body), initial=0))
        head = sum(self.measures['head']) if self.with_head else 0
        return head, self.measures['tops']

    def wrap(self, availWidth, availHeight):
        head, tops = self._measure()
        self.width = sum(self.widths)
        self.height = head + tops[self.end] - tops[self.start]
        return self.width, self.height

    def _part(self, start, end, with_head):
        return _Rows(
            self.head, self.body, self.widths, self.faces, self.style,
            self.grid, start, end, with_head, self.measures)

    def split(self, availWidth, availHeight):
        head, tops = self._measure()
        end = bisect.bisect_right(
            tops, tops[self.start] + availHeight - head + 1e-6) - 1
        end = min(end, self.end)
        if end >= self.end:
            return [self]
        if end > self.start:
            first = self._part(self.start, end, self.with_head)
            first.spaceBefore = self.spaceBefore
            first.spaceAfter = 0
            return [first, self._part(end, self.end, True)]
        if sum(self.measures['head']) + tops[end + 1] - tops[end] <= (
                FRAME_HEIGHT - 2 * FRAME_PADDING):
            # The row fits on the next page
            return []
        # A row taller than a page: ReportLab's Table cuts its cells
        table = Table(
            self.head + self.body[end:end + 1], colWidths=self.widths,
            repeatRows=len(self.head), hAlign='LEFT', splitInRow=24,
            style=TableStyle(_commands(
                    self.faces, self.style, len(self.head), self.grid)))
        parts = table.split(availWidth, availHeight)
        if parts and end + 1 < self.end:
            parts.append(self._part(end + 1, self.end, False))
        return parts

    def drawOn(self, canvas, x, y, _sW=0):
        style, faces = self.style, self.faces
        size, leading = style.size, style.leading
        _, tops = self._measure()
        rows = [(r, h, True) for r, h in zip(
                self.head, self.measures['head'])] if self.with_head else []
        rows.extend(
            (self.body[i], tops[i + 1] - tops[i], False)
            for i in range(self.start, self.end))
        lefts = list(itertools.accumulate(self.widths[:-1], initial=x))
        top = y + self.height
        canvas.saveState()
        if self.grid and self.with_head:
            canvas.setFillColor(SHADE)
            head = sum(self.measures['head'])
            canvas.rect(x, top - head, self.width, head, stroke=0, fill=1)
            canvas.setFillColor(colors.black)
        text = canvas.beginText()
        font = None
        row_top = top
        first = TOP_PADDING + _first(style)
        for row, height, head in rows:
            for value, left in zip(row, lefts):
                if not value:
                    continue
                if isinstance(value, _Text):
                    font = value.write(
                        text, left + CELL_PADDING, row_top - TOP_PADDING,
                        font)
                    continue
                value_font = faces['bold' if head else 'normal']
                if value_font != font:
                    text.setFont(value_font, size, leading)
                    font = value_font
                baseline = row_top - first
                for line in value.split('\n'):
                    text.setTextOrigin(left + CELL_PADDING, baseline)
                    # textLine, unlike textOut, does not measure its text
                    text.textLine(line)
                    baseline -= leading
            row_top -= height
        canvas.drawText(text)
        if self.grid:
            canvas.setStrokeColor(RULE)
            canvas.setLineWidth(0.5)
            right = x + self.width
            edges = [top]
            for _, height, _ in rows:
                edges.append(edges[-1] - height)
            canvas.lines(
                [(x, e, right, e) for e in edges]
                + [(left, top, left, edges[-1]) for left in lefts]
                + [(right, top, right, edges[-1])])
        canvas.restoreState()


def _commands(faces, style, heading, grid):
    "The TableStyle of a table _Rows would draw, for ReportLab's Table"
    commands = [
        ('VALIGN', (0, 0), (-1, -1), 'TOP'),
        ('LEFTPADDING', (0, 0), (-1, -1), CELL_PADDING),
        ('RIGHTPADDING', (0, 0), (-1, -1), CELL_PADDING),
        ('TOPPADDING', (0, 0), (-1, -1), TOP_PADDING),
        ('BOTTOMPADDING', (0, 0), (-1, -1), BOTTOM_PADDING),
        ('FONT', (0, 0), (-1, -1), faces['normal'], style.size,
            style.leading),
        ]
    if grid:
        commands.append(('GRID', (0, 0), (-1, -1), 0.5, RULE))
    if heading:
        commands.append(('FONT', (0, 0), (-1, heading - 1), faces['bold'],
                style.size, style.leading))
        if grid:
            commands.append(('BACKGROUND', (0, 0), (-1, heading - 1), SHADE))
    return commands


def _cell_value(cell, style, faces, width, heading):
    """A cell as the Table draws it: a string when its lines fit, which
    the Table writes at a fraction of the cost of a flowable; else a
    paragraph"""
    if cell is None or not cell[0]:
        return ''
    runs, bold = cell
    # A header cell outside the header rows has no font of its own
    if (not bold or heading) and all(
            r is BREAK or (r[1] == bold and not r[2]) for r in runs):
        font = faces['bold' if bold else 'normal']
        room = width - 2 * CELL_PADDING
        text = ''.join('\n' if r is BREAK else r[0] for r in runs)
        size = style.size
        if all(sum(_width(t, font, size) for t in TOKENS.findall(line))
                <= room for line in text.split('\n')):
            return text
    return _Text(runs, style, faces)


def _span(value):
    if value is None:
        return 1
    try:
        return max(1, min(int(value or 1), 50))
    except ValueError:
        return 1


def _rows(table, caption):
    """The rows of a table, not of the tables in its cells: the head's
    first, the foot's last; what else it holds goes into caption"""
    head, body, foot = [], [], []
    for child in table:
        tag = _tag(child)
        if tag == 'tr':
            body.append(child)
        elif tag in {'thead', 'tbody', 'tfoot'}:
            rows = [r for r in child if _tag(r) == 'tr']
            {'thead': head, 'tbody': body, 'tfoot': foot}[tag].extend(rows)
        elif tag in {'caption', 'b', 'strong', 'span', 'p', 'div'}:
            caption.append(child)
    yield from head
    yield from body
    yield from foot


def _grid(rows):
    """The cells placed on a grid by their spans, None where a span
    covers; and the spans as the Table's (start, end) cells"""
    grid = []
    spans = []
    covered = set()
    for y, cells in enumerate(rows):
        row = []
        x = 0
        for runs, header, colspan, rowspan in cells:
            while (x, y) in covered:
                row.append(None)
                x += 1
            row.append((runs, header))
            if colspan > 1 or rowspan > 1:
                rowspan = min(rowspan, len(rows) - y)
                spans.append(((x, y), (x + colspan - 1, y + rowspan - 1)))
                for dy in range(rowspan):
                    for dx in range(colspan):
                        if dx or dy:
                            covered.add((x + dx, y + dy))
            x += 1
            for _ in range(colspan - 1):
                row.append(None)
                x += 1
        while (x, y) in covered:
            row.append(None)
            x += 1
        grid.append(row)
    return grid, spans


def _column_widths(grid, heading, columns, width, faces):
    """Column widths filling width, and the font size of the cells: each
    column as wide as its text asks, no narrower than its longest word
    when the page has room, the font smaller when it has not"""
    base = STYLES['cell'].size
    natural = [0] * columns
    # The longest words of the head rows, and of the others
    words = [[0] * columns, [0] * columns]
    # Rows taken across the table tell the widths: measuring all of a long
    # one would cost for little
    sample = grid[:3] + grid[3::max(1, len(grid) // 300)]
    for y, row in enumerate(sample):
        longest = words[y >= heading]
        for x, cell in enumerate(row):
            if cell is None or not cell[0]:
                continue
            lines = [0]
            for run in cell[0]:
                if run is BREAK:
                    lines.append(0)
                    continue
                font = faces['bold' if run[1] else 'normal']
                measure = pdfmetrics.stringWidth(run[0], font, base)
                lines[-1] += measure
                if measure > longest[x]:
                    longest[x] = max([longest[x]] + [
                            _width(w, font, base) for w in run[0].split()])
            if y >= heading:
                # A column's heading may go over lines, as long as its
                # words fit
                natural[x] = max(natural[x], max(lines))
    padding = 2 * CELL_PADDING + 1

    def room_at(minimum, size):
        return width - sum(m * size / base + padding for m in minimum)

    # A table whose words do not fit is written smaller rather than with
    # its words cut; and if it must cut some, those of its head first
    for minimum in [list(map(max, *words)), words[1]]:
        # A column is never so narrow that it writes a letter a line
        minimum = [min(max(m, 0.8 * cm), width / 3) for m in minimum]
        size = base
        while size > MIN_CELL_SIZE and room_at(minimum, size) < 0:
            size -= 0.5
        if room_at(minimum, size) >= 0:
            break
    # What room is left goes to the words of the head first
    natural = [
        max(n, h, m) * size / base + padding
        for n, h, m in zip(natural, words[0], minimum)]
    minimum = [m * size / base + padding for m in minimum]
    if sum(natural) <= width:
        extra = (width - sum(natural)) / columns
        return [n + extra for n in natural], size
    if sum(minimum) >= width:
        return [width * m / sum(minimum) for m in minimum], size
    room = width - sum(minimum)
    wanted = sum(n - m for n, m in zip(natural, minimum))
    return [m + room * (n - m) / wanted
        for n, m in zip(natural, minimum)], size
