# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What a new version of a document changes in the version it replaces.

Documents published here are built by cda.build, whose body of the same
sections is always the same text: two versions say the same when their
bodies are equal, and a section changed when its text did."""
import html
import re

from trytond.i18n import gettext
from trytond.transaction import Transaction, without_check_access

BODY_START = '<component><structuredBody>'
SECTION_START = '<component><section>'
_CODE = re.compile(r'<code code="([^"]*)"')
_TITLE = re.compile(r'<title>(.*?)</title>', re.S)


def body_of(content):
    "The structured body of a document's CDA content, as text; None if none"
    if not content:
        return None
    content = bytes(content).decode('utf-8')
    start = content.find(BODY_START)
    if start < 0:
        return None
    return content[start:content.rindex('</ClinicalDocument>')]


def bodies(documents):
    """The bodies of documents, by document; reading them to compare is
    not opening them, and is not in the access history"""
    Document = documents[0].__class__ if documents else None
    if Document is None:
        return {}
    with Transaction().set_user(0), without_check_access():
        rows = Document.read([d.id for d in documents], ['content'])
    return {Document(r['id']): body_of(r['content']) for r in rows}


def sections_of(body):
    "{section code: (title, text)} of a body, in their order"
    sections = {}
    for chunk in body.split(SECTION_START)[1:]:
        code = _CODE.search(chunk)
        title = _TITLE.search(chunk)
        sections[code.group(1) if code else ''] = (
            html.unescape(title.group(1)) if title else '', chunk)
    return sections


def changes(previous, previous_body, body, values, compared):
    """Say, in the current language, what the new version of previous made
    of values (its field values) and body changes; None if nothing.

    compared names the fields of values that make a new version when they
    differ from those of previous."""
    lines = []
    if previous_body != body:
        before = sections_of(previous_body or '')
        after = sections_of(body)
        for key, names in [
                ('changed', [after[c][0] for c in after
                        if c in before and before[c][1] != after[c][1]]),
                ('added', [after[c][0] for c in after if c not in before]),
                ('removed', [before[c][0] for c in before if c not in after]),
                ]:
            if names:
                lines.append(gettext(
                        f'health_shared_record.msg_version_sections_{key}',
                        sections=', '.join(names)))
        if not lines:
            # Same sections, in another order
            lines.append(gettext(
                    'health_shared_record.msg_version_sections_changed',
                    sections=', '.join(t for t, _ in after.values())))
    fields = [
        name for name in compared
        if name in values and _value(values[name]) != _value(
            getattr(previous, name))]
    if fields:
        lines.append(gettext(
                'health_shared_record.msg_version_fields_changed',
                fields=', '.join(
                    previous.__names__(n)['field'] for n in fields)))
    return '\n'.join(lines) or None


def _value(value):
    return getattr(value, 'id', value)
