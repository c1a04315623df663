#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Read one pathological document in a fresh process; print as JSON what
became of it, how long it took and the memory it took.

    python tests/fuzz/footprint.py CASE

seconds and rss_growth come from a first reading: rss_growth is how far the
process' resident size rose above what it was before, libxml2's
allocations included, which tracemalloc does not see (Linux only: the
peak is reset through /proc/self/clear_refs); python_peak, the peak of
Python's allocations, from a second reading under tracemalloc, which slows
it down.  tests/test_fuzz.py bounds them for every case in CASES.
"""
import gc
import json
import re
import sys
import time
import tracemalloc

from health_shared_record import cda, cda_reader

DOCUMENT = (
    b'<ClinicalDocument xmlns="urn:hl7-org:v3" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    b'<title>Title</title>%s</ClinicalDocument>')
SECTION = (
    b'<component><structuredBody><component><section><code code="%s"/>%s'
    b'</section></component></structuredBody></component>')
PROBLEM = (
    b'<entry><observation><value code="E11" codeSystem="2.16.840.1.113883.6.3"'
    b' displayName="Diabetes"/><effectiveTime value="%s"/></observation>'
    b'</entry>')
OBSERVATION = (
    b'<entryRelationship><observation><value displayName="x"/>'
    b'</observation></entryRelationship>')
IMMUNIZATION = (
    b'<entry><substanceAdministration><repeatNumber value="%s"/>'
    b'<consumable><manufacturedProduct><manufacturedMaterial><name>Flu</name>'
    b'</manufacturedMaterial></manufacturedProduct></consumable>'
    b'<entryRelationship><observation><code code="30973-2"/>'
    b'<value value="%s"/></observation></entryRelationship>'
    b'</substanceAdministration></entry>')
ENTITIES = (
    b'<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
    b'<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
    b'<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">'
    b'<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">'
    b'<!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">'
    b'<!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">')
LAUGHS = (
    b'<?pi hides the DOCTYPE?><!DOCTYPE ClinicalDocument [' + ENTITIES
    + b']>' + DOCUMENT % b'<title>&h;&h;&h;&h;&h;&h;&h;&h;</title>')
ODD_TIMES = [
    b'20261340', b'2026-02-30', b'20261102093000+9999',
    b'00010101000000+0100', b'99991231235959-9999', b'\xc2\xb2' * 8]


def problems(count, time=b'20200101'):
    return SECTION % (b'11450-4', PROBLEM % time * count)


CASES = {
    # The most a document may carry, and far more
    'many_entries': lambda: cda.build(*_built(cda_reader.MAX_ENTRIES)),
    'too_many_entries': lambda: DOCUMENT % problems(8000),
    'one_act_many_observations': lambda: DOCUMENT % (SECTION % (
            b'11450-4', b'<entry><act>' + OBSERVATION * 50000
            + b'</act></entry>')),
    'empty_elements': lambda: DOCUMENT % (b'<a/>' * 1500000),
    'many_sections': lambda: DOCUMENT % (SECTION % (b'11450-4', b'') * 20000),
    'deep_nesting': lambda: DOCUMENT % (
        b'<section>' * 100000 + b'</section>' * 100000),
    'nesting_at_the_limit': lambda: DOCUMENT % (SECTION % (
            b'11450-4', b'<entry><act>' + b'<entryRelationship>' * 240
            + b'</entryRelationship>' * 240 + b'</act></entry>')),
    'long_text': lambda: DOCUMENT % (
        b'<title>' + b'long text ' * 900000 + b'</title>'),
    'too_long_text': lambda: DOCUMENT % (
        b'<title>' + b'long text ' * 1100000 + b'</title>'),
    'long_attribute': lambda: DOCUMENT % problems(1, b'2' * 9000000),
    'huge_repeat_numbers': lambda: DOCUMENT % (SECTION % (
            b'11369-6', IMMUNIZATION % (b'9' * 1000, b'9' * 1000) * 2000)),
    'odd_timestamps': lambda: DOCUMENT % b''.join(
        problems(800, time) for time in ODD_TIMES),
    'many_attributes': lambda: DOCUMENT % (
        b'<id ' + b' '.join(b'a%d="x"' % i for i in range(100000)) + b'/>'),
    'too_many_attributes': lambda: DOCUMENT % ((
            b'<id ' + b' '.join(b'a%d="x"' % i for i in range(1000))
            + b'/>') * 400),
    'many_namespaces': lambda: DOCUMENT % (
        b'<id ' + b' '.join(
            b'xmlns:p%d="urn:p%d"' % (i, i) for i in range(100000)) + b'/>'),
    'comments_before_a_doctype': lambda: (
        b'<!---->' * 100000 + b'<!DOCTYPE x>' + DOCUMENT % b''),
    'comments_before_the_root': lambda: b'<!---->' * 100000 + DOCUMENT % b'',
    'whitespace_before_the_root': lambda: b' ' * 4000000 + DOCUMENT % b'',
    'billion_laughs': lambda: LAUGHS,
    'billion_laughs_in_utf16': lambda: LAUGHS.decode().encode('utf-16'),
    'quadratic_blowup': lambda: (
        b'<?pi?><!DOCTYPE ClinicalDocument [<!ENTITY a "' + b'a' * 100000
        + b'">]>' + DOCUMENT % (b'<title>' + b'&a;' * 100000 + b'</title>')),
    }


def _built(count):
    import datetime as dt
    header = cda.Header(
        unique_id='1.2.3.4', set_id='1.2.3.4', version=1,
        type_code=cda.Code('11488-4', cda.LOINC), title='Summary',
        effective_time=dt.datetime(2026, 1, 1), confidentiality='N',
        language='fr-FR', realm='FR',
        patient=cda.Person([cda.Identifier('1.2.3', 'P')]),
        author=cda.Person([]), author_time=dt.datetime(2026, 1, 1),
        custodian=cda.Organization(cda.Identifier('1.2.3'), 'Clinic'))
    section = cda.Section(
        cda.section_code('11450-4'), 'Problems', [],
        [cda.Observation(
                cda.Code('55607006', cda.SNOMED, 'Problem'),
                cda.Code('E11', cda.ICD10, 'Diabetes'),
                dt.date(2020, 1, 1))] * count)
    return header, [section]


def measure(name):
    "Read the case twice: timed as it is, then with tracemalloc"
    data = CASES[name]()
    gc.collect()
    with open('/proc/self/clear_refs', 'w') as clear_refs:
        clear_refs.write('5')
    before = _memory('VmRSS')
    start = time.perf_counter()
    outcome = _read(data)
    seconds = time.perf_counter() - start
    after = _memory('VmHWM')
    tracemalloc.start()
    _read(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        'case': name, 'size': len(data), 'outcome': outcome,
        'seconds': round(seconds, 3), 'python_peak': peak,
        'rss_growth': after - before}


def _memory(name):
    "The bytes of a memory figure of the process: current or peak size"
    with open('/proc/self/status') as status:
        return int(re.search(
                rf'^{name}:\s*(\d+) kB', status.read(), re.MULTILINE
                ).group(1)) * 1024


def _read(data):
    try:
        return f'{len(cda_reader.read_content(data).entries)} entries'
    except cda_reader.ContentError as error:
        return f'refused: {error}'


if __name__ == '__main__':
    print(json.dumps(measure(sys.argv[1])))
