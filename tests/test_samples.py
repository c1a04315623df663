# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What the reader makes of documents no one on this project wrote: HL7's
C-CDA examples and the French ANS (CI-SIS) examples in
../shared/reference/samples, compared with what each states, written by
hand in sample_expectations.py.  Every entry read must be expected (the
reader invents nothing, inverts no negation) and every expected entry read
exactly; the report says per class what is right."""
import collections
import dataclasses

import pytest

from health_shared_record import cda_reader

from helpers import ROOT
from sample_expectations import EXPECTED, NARRATIVE_ONLY

SAMPLES = ROOT.parent / 'shared' / 'reference' / 'samples'
NO_SAMPLES = (
    f'the third-party sample documents are not at {SAMPLES} (HL7 and the '
    'ANS publish them; the project must not ship a copy)')


def stated(entry):
    "An entry as sample_expectations writes them"
    values = {}
    for name, value in dataclasses.asdict(entry).items():
        # The reference ranges are not written by hand (yet)
        if (name.endswith('_precision') or name == 'reference_range'
                or value in (None, False, '')):
            continue
        if name in {'start', 'end'}:
            length = {'year': 4, 'month': 7}.get(
                getattr(entry, f'{name}_precision'), 10)
            value = value.isoformat()[:length]
        values[name] = value
    return values


def key(values):
    return tuple(sorted(values.items()))


def wrapped(content):
    """A document, or the section fragment of the C-CDA guide's examples in
    the body of an otherwise empty one"""
    if b'<ClinicalDocument' in content:
        return content
    fragment = content.split(b'?>', 1)[-1] if content.startswith(
        b'<?xml') else content
    if fragment.lstrip().startswith(b'<substanceAdministration'):
        fragment = (b'<section><code code="10160-0" codeSystem='
            b'"2.16.840.1.113883.6.1"/><entry>' + fragment
            + b'</entry></section>')
    if b'<component' not in fragment.split(b'<section', 1)[0]:
        fragment = b'<component>' + fragment + b'</component>'
    return (b'<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi='
        b'"http://www.w3.org/2001/XMLSchema-instance" '
        b'xmlns:sdtc="urn:hl7-org:sdtc"><component><structuredBody>'
        + fragment + b'</structuredBody></component></ClinicalDocument>')


def compare(name):
    "(right, missed, invented) of the document's entries"
    content = wrapped((SAMPLES / name).read_bytes())
    read = collections.Counter(
        key(stated(e)) for e in cda_reader.read_content(content).entries)
    expected = collections.Counter(key(e) for e in EXPECTED[name])
    right = read & expected
    return right, expected - right, read - right


def test_every_sample_has_its_expectations():
    if not SAMPLES.exists():
        pytest.skip(NO_SAMPLES)
    documents = {
        str(p.relative_to(SAMPLES)) for p in SAMPLES.glob('*/*.xml')}
    assert documents == set(EXPECTED)
    assert set(NARRATIVE_ONLY) <= documents


def test_the_reader_states_what_each_sample_states():
    if not SAMPLES.exists():
        pytest.skip(NO_SAMPLES)
    totals = collections.defaultdict(collections.Counter)
    wrong = []
    for name in sorted(EXPECTED):
        right, missed, invented = compare(name)
        for counter, column in [
                (right, 'right'), (missed, 'missed'),
                (invented, 'invented')]:
            for entry, count in counter.items():
                totals[dict(entry)['kind']][column] += count
        wrong += [f'{name}: missed {dict(e)}' for e in missed.elements()]
        wrong += [f'{name}: read {dict(e)}' for e in invented.elements()]
    report = '\n'.join(
        f'{kind:>12}: {c["right"]} right, {c["missed"]} missed or wrong, '
        f'{c["invented"]} not stated'
        for kind, c in sorted(totals.items()))
    print(report)
    assert wrong == [], report + '\n' + '\n'.join(wrong)
