# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The Bundles mhd.py sends, checked against the published IHE MHD profile
(ITI.MHD 4.2.3, tag 4.2.3 of github.com/IHE/ITI.MHD, input/fsh:
provideBundle.fsh, submissionSet.fsh, mhdList.fsh, documentReference.fsh,
identifier.fsh).  The checker is calibrated on IHE's own example, which
must pass it, and on broken copies of it, which must not."""
import copy
import datetime as dt

import pytest

from health_shared_record import mhd

RFC3986 = 'urn:ietf:rfc:3986'
MHD = 'https://profiles.ihe.net/ITI/MHD/StructureDefinition/'


def _contained(resource, reference):
    "The contained resource a '#id' reference names, else None"
    if not isinstance(reference, dict) or not str(
            reference.get('reference', '')).startswith('#'):
        return None
    wanted = reference['reference'][1:]
    for item in resource.get('contained') or []:
        if item.get('id') == wanted:
            return item


def _unique_id(identifier, where, errors, oid=False):
    "identifier.fsh UniqueIdIdentifier (and SubmissionSetUniqueIdIdentifier)"
    if not identifier.get('system') or not identifier.get('value'):
        errors.append(f'{where}: system and value 1..')
    if identifier.get('use') != 'usual':
        errors.append(f'{where}.use: 1.. fixed usual')
    if oid and (identifier.get('system') != RFC3986 or not str(
            identifier.get('value', '')).startswith('urn:oid:')):
        errors.append(f'{where}: urn:ietf:rfc:3986, value urn:oid: '
            '(mhd-startswithoid)')


def _entry_uuid(identifier, where, errors):
    "identifier.fsh EntryUUIDIdentifier"
    if identifier.get('system') != RFC3986 or not str(
            identifier.get('value', '')).startswith('urn:uuid:'):
        errors.append(f'{where}: urn:ietf:rfc:3986, value urn:uuid: '
            '(mhd-startswithuuid)')


def _identifiers(resource, where, errors, oid=False):
    "The identifier slices by use: uniqueId usual, entryUUID official"
    usual = [i for i in resource.get('identifier') or []
        if i.get('use') == 'usual']
    if len(usual) > 1:
        errors.append(f'{where}.identifier[uniqueId]: 0..1')
    for identifier in usual:
        _unique_id(identifier, f'{where}.identifier[uniqueId]', errors, oid)
    for identifier in resource.get('identifier') or []:
        if identifier.get('use') == 'official':
            _entry_uuid(identifier, f'{where}.identifier[entryUUID]', errors)


def check_submission_set(resource, errors):
    "IHE.MHD.Comprehensive.SubmissionSet and its parents"
    where = 'SubmissionSet'
    if resource.get('modifierExtension'):
        errors.append(f'{where}.modifierExtension: 0..0')
    extensions = resource.get('extension') or []
    sources = [e for e in extensions if e.get('url') == MHD + 'ihe-sourceId']
    if len(sources) != 1 or not isinstance(
            sources[0].get('valueIdentifier'), dict):
        errors.append(f'{where}.extension[sourceId]: 1..1 valueIdentifier')
    designations = [
        e for e in extensions if e.get('url') == MHD + 'ihe-designationType']
    if len(designations) != 1 or not isinstance(
            designations[0].get('valueCodeableConcept'), dict):
        errors.append(f'{where}.extension[designationType]: 1..1')
    _identifiers(resource, where, errors, oid=True)
    for name, value in [('status', 'current'), ('mode', 'working')]:
        if resource.get(name) != value:
            errors.append(f'{where}.{name}: fixed {value}')
    codes = [(c.get('system'), c.get('code'))
        for c in (resource.get('code') or {}).get('coding') or []]
    if codes != [(mhd.SUBMISSION_SET, 'submissionset')]:
        errors.append(f'{where}.code: MHDlistTypes#submissionset')
    if not (resource.get('subject') or {}).get('reference'):
        errors.append(f'{where}.subject: 1..1 Reference(Patient)')
    if not resource.get('date'):
        errors.append(f'{where}.date: 1..1')
    for name in ['encounter', 'orderedBy', 'emptyReason']:
        if name in resource:
            errors.append(f'{where}.{name}: 0..0')
    if len(resource.get('note') or []) > 1:
        errors.append(f'{where}.note: 0..1')
    if 'source' in resource and _contained(
            resource, resource['source']) is None:
        errors.append(f'{where}.source: contained (Comprehensive)')
    for entry in resource.get('entry') or []:
        for name in ['flag', 'deleted', 'date']:
            if name in entry:
                errors.append(f'{where}.entry.{name}: 0..0')
        if not (entry.get('item') or {}).get('reference'):
            errors.append(f'{where}.entry.item: Reference')


def check_document_reference(resource, errors):
    "IHE.MHD.Comprehensive.DocumentReference and its parents"
    where = 'DocumentReference'
    if resource.get('modifierExtension'):
        errors.append(f'{where}.modifierExtension: 0..0')
    if not isinstance(resource.get('masterIdentifier'), dict):
        errors.append(f'{where}.masterIdentifier: 1..1')
    else:
        _unique_id(
            resource['masterIdentifier'], f'{where}.masterIdentifier',
            errors)
    _identifiers(resource, where, errors)
    if resource.get('status') not in {'current', 'superseded'}:
        errors.append(f'{where}.status: from DocumentReferenceStats '
            f'(current, superseded), not {resource.get("status")}')
    if 'docStatus' in resource:
        errors.append(f'{where}.docStatus: 0..0')
    for name in ['type', 'subject']:
        if not isinstance(resource.get(name), dict):
            errors.append(f'{where}.{name}: 1..1')
    if len(resource.get('category') or []) != 1:
        errors.append(f'{where}.category: 1..1')
    if not resource.get('securityLabel'):
        errors.append(f'{where}.securityLabel: 1..*')
    for author in resource.get('author') or []:
        if _contained(resource, author) is None:
            errors.append(f'{where}.author: contained (Comprehensive)')
    if 'authenticator' in resource and _contained(
            resource, resource['authenticator']) is None:
        errors.append(f'{where}.authenticator: contained')
    contents = resource.get('content') or []
    if len(contents) != 1:
        errors.append(f'{where}.content: 1..1')
    for content in contents:
        attachment = content.get('attachment') or {}
        for name in ['contentType', 'language', 'url', 'creation']:
            if not attachment.get(name):
                errors.append(f'{where}.content.attachment.{name}: 1..1')
        if 'data' in attachment:
            errors.append(f'{where}.content.attachment.data: 0..0')
        if not isinstance(content.get('format'), dict):
            errors.append(f'{where}.content.format: 1..1')
    context = resource.get('context')
    if not isinstance(context, dict):
        errors.append(f'{where}.context: 1..1')
        context = {}
    for name in ['facilityType', 'practiceSetting']:
        if not isinstance(context.get(name), dict):
            errors.append(f'{where}.context.{name}: 1..1')
    if _contained(resource, context.get('sourcePatientInfo')) is None:
        errors.append(
            f'{where}.context.sourcePatientInfo: 1..1 contained')


def check_patch(resource, errors):
    "IHE.MHD.Patch.Parameters: one operation, the status set superseded"
    operations = [p for p in resource.get('parameter') or []
        if p.get('name') == 'operation']
    if len(operations) != 1:
        errors.append('UpdateDocumentRefs.parameter[operation]: 1..1')
    for operation in operations:
        parts = {}
        for part in operation.get('part') or []:
            parts.setdefault(part.get('name'), []).append(part)
        for name, key, value in [
                ('type', 'valueCode', 'replace'),
                ('path', 'valueString', 'DocumentReference.status'),
                ('value', 'valueCode', 'superseded')]:
            found = parts.get(name) or []
            if len(found) != 1 or found[0].get(key) != value:
                errors.append(
                    f'UpdateDocumentRefs.part[{name}]: 1..1 {value}')


def check_provide_bundle(bundle):
    """The violations of IHE.MHD.Comprehensive.ProvideBundle in bundle:
    its closed entry slicing (by profile and request.method) and the
    profiles of the resources in each slice"""
    errors = []
    if MHD + 'IHE.MHD.Comprehensive.ProvideBundle' not in (
            bundle.get('meta') or {}).get('profile', []):
        errors.append('Bundle.meta.profile: 1..*, the profile claimed')
    if bundle.get('type') != 'transaction':
        errors.append('Bundle.type: fixed transaction')
    slices = {}
    for index, entry in enumerate(bundle.get('entry') or []):
        resource = entry.get('resource')
        method = (entry.get('request') or {}).get('method')
        if not isinstance(resource, dict) or not method:
            errors.append(f'entry[{index}]: resource 1..1, request 1..1')
            continue
        kind = resource.get('resourceType')
        codes = {c.get('code') for c in (
                resource.get('code') or {}).get('coding') or []}
        if kind == 'List' and 'submissionset' in codes and method == 'POST':
            name = 'SubmissionSet'
            check_submission_set(resource, errors)
        elif kind == 'List' and 'folder' in codes and method in {
                'POST', 'PUT'}:
            name = 'Folders'
        elif kind == 'DocumentReference' and method == 'POST':
            name = 'DocumentRefs'
            check_document_reference(resource, errors)
        elif kind == 'Parameters' and method == 'PATCH':
            name = 'UpdateDocumentRefs'
            check_patch(resource, errors)
        elif kind == 'Binary':
            name = 'Documents'
        elif kind == 'Bundle' and method == 'POST':
            name = 'FhirDocuments'
        elif kind == 'Patient' and method in {'GET', 'POST', 'PUT'}:
            name = 'Patient'
        else:
            errors.append(
                f'entry[{index}]: {method} {kind} is in no slice (closed)')
            continue
        slices[name] = slices.get(name, 0) + 1
    if slices.get('SubmissionSet') != 1:
        errors.append('entry[SubmissionSet]: 1..1')
    if slices.get('Patient', 0) > 1:
        errors.append('entry[Patient]: 0..1')
    return errors


def ihe_example():
    """IHE's example ex-comprehensiveProvideDocumentBundleReplace
    (ITI.MHD 4.2.3, input/fsh/ex-ProvideBundles3.fsh; © IHE International,
    CC-BY 4.0), written as SUSHI exports it: with the values the profiles
    fix (use, status, mode, extension URLs)"""
    patient = {
        'resourceType': 'Patient',
        'id': 'aaaaaaaa-bbbb-cccc-dddd-e00333300004',
        'name': [{'family': 'Schmidt', 'given': ['Dee']}],
        'identifier': [{
                'system': 'http://example.org/patients',
                'value': 'mrn-1234'}]}
    return {
        'resourceType': 'Bundle',
        'meta': {'profile': [MHD + 'IHE.MHD.Comprehensive.ProvideBundle'],
            'security': [{
                    'system': 'http://terminology.hl7.org/CodeSystem/'
                    'v3-ActReason', 'code': 'HTEST'}]},
        'type': 'transaction',
        'timestamp': '2020-02-02T23:50:50-05:00',
        'entry': [{
                'fullUrl': 'urn:uuid:aaaaaaaa-bbbb-cccc-eeee-e00333300001',
                'resource': {
                    'resourceType': 'List',
                    'extension': [{
                            'url': MHD + 'ihe-sourceId',
                            'valueIdentifier': {'value': 'urn:oid:1.2.3.4'},
                            }, {
                            'url': MHD + 'ihe-designationType',
                            'valueCodeableConcept': {'coding': [{
                                        'system': 'http://snomed.info/sct',
                                        'code': '225728007'}]},
                            }],
                    'identifier': [{
                            'use': 'usual', 'system': RFC3986,
                            'value': 'urn:oid:1.2.840.113556.1.8000.2554.'
                            '58783.21864.3474.19410.44358.58254.41281.46347',
                            }],
                    'status': 'current',
                    'mode': 'working',
                    'code': {'coding': [{
                                'system': mhd.SUBMISSION_SET,
                                'code': 'submissionset'}]},
                    'subject': {'reference': 'Patient/ex-patient'},
                    'date': '2020-02-02T23:50:50-05:00',
                    'entry': [{'item': {'reference':
                                'urn:uuid:aaaaaaaa-bbbb-cccc-eeee-'
                                'e00333300002'}}],
                    },
                'request': {'method': 'POST', 'url': 'List'},
                }, {
                'fullUrl': 'urn:uuid:aaaaaaaa-bbbb-cccc-ffff-e00333300002',
                'resource': {'resourceType': 'Parameters', 'parameter': [{
                            'name': 'operation', 'part': [
                                {'name': 'type', 'valueCode': 'replace'},
                                {'name': 'path', 'valueString':
                                    'DocumentReference.status'},
                                {'name': 'value',
                                    'valueCode': 'superseded'}]}]},
                'request': {'method': 'PATCH',
                    'url': 'DocumentReference/ex-documentreference'},
                }, {
                'fullUrl': 'urn:uuid:aaaaaaaa-bbbb-cccc-eeee-e00333300002',
                'resource': {
                    'resourceType': 'DocumentReference',
                    'contained': [patient],
                    'masterIdentifier': {
                        'use': 'usual', 'system': RFC3986,
                        'value': 'urn:oid:1.2.840.113556.1.8000.2554.53432.'
                        '348.12973.17740.34205.4355.50220.62012'},
                    'status': 'current',
                    'type': {'coding': [{
                                'system': 'http://loinc.org',
                                'code': '60591-5'}]},
                    'category': [{'coding': [{
                                    'system': 'http://loinc.org',
                                    'code': '11369-6'}]}],
                    'subject': {'reference': 'Patient/ex-patient'},
                    'date': '2020-02-02T23:50:50-05:00',
                    'securityLabel': [{'coding': [{
                                    'system': mhd.CONFIDENTIALITY,
                                    'code': 'R'}]}],
                    'content': [{
                            'attachment': {
                                'contentType': 'text/plain',
                                'language': 'en',
                                'url': 'urn:uuid:aaaaaaaa-bbbb-cccc-eeee-'
                                'e00333300003',
                                'size': 24,
                                'hash': 'ZThlMzE3MjE0MzAwMTU4N2NiNzUwODQ0Nm'
                                'FhMDkyZWI1MTk5NTgwOQ==',
                                'title': 'Thanks for all the fish',
                                'creation': '2020-02-02T23:50:50-05:00',
                                },
                            'format': {
                                'system': 'http://ihe.net/fhir/'
                                'ihe.formatcode.fhir/CodeSystem/formatcode',
                                'code': 'urn:ihe:iti:xds-sd:text:2008'},
                            }],
                    'context': {
                        'facilityType': {'coding': [{
                                    'system': 'http://snomed.info/sct',
                                    'code': '82242000'}]},
                        'practiceSetting': {'coding': [{
                                    'system': 'http://snomed.info/sct',
                                    'code': '408467006'}]},
                        'sourcePatientInfo': {'reference':
                            '#aaaaaaaa-bbbb-cccc-dddd-e00333300004'},
                        },
                    'relatesTo': [{'code': 'replaces', 'target': {
                                'reference':
                                'DocumentReference/ex-documentreference'}}],
                    },
                'request': {'method': 'POST', 'url': 'DocumentReference'},
                }, {
                'fullUrl': 'urn:uuid:aaaaaaaa-bbbb-cccc-eeee-e00333300003',
                'resource': {'resourceType': 'Binary',
                    'contentType': 'text/plain',
                    'data': 'VGhhbmtzIGZvciBhbGwgdGhlIGZpc2g='},
                'request': {'method': 'POST', 'url': 'Binary'},
                }],
        }


def test_ihe_example_passes():
    assert check_provide_bundle(ihe_example()) == []


def _resource(bundle, kind):
    return next(e['resource'] for e in bundle['entry']
        if e['resource']['resourceType'] == kind)


@pytest.mark.parametrize('change, error', [
        (lambda b: b.pop('meta'), 'Bundle.meta.profile'),
        (lambda b: _resource(b, 'DocumentReference').update(
                status='entered-in-error'), 'DocumentReference.status'),
        (lambda b: _resource(b, 'DocumentReference')['masterIdentifier'].pop(
                'use'), 'DocumentReference.masterIdentifier.use'),
        (lambda b: _resource(b, 'DocumentReference').pop('context'),
            'DocumentReference.context: 1..1'),
        (lambda b: _resource(b, 'DocumentReference')['content'][0].pop(
                'format'), 'DocumentReference.content.format'),
        (lambda b: _resource(b, 'DocumentReference').update(
                author=[{'reference': 'Practitioner/1'}]),
            'DocumentReference.author: contained'),
        (lambda b: _resource(b, 'List').update(extension=[]),
            'SubmissionSet.extension[sourceId]'),
        (lambda b: _resource(b, 'List')['identifier'][0].update(
                value='urn:uuid:1'), 'SubmissionSet.identifier[uniqueId]'),
        (lambda b: _resource(b, 'List').update(
                source={'reference': 'Practitioner/1'}),
            'SubmissionSet.source: contained'),
        (lambda b: _resource(b, 'Parameters')['parameter'].append(
                _resource(b, 'Parameters')['parameter'][0]),
            'UpdateDocumentRefs.parameter[operation]: 1..1'),
        (lambda b: b['entry'][2]['request'].update(method='PUT'),
            'is in no slice'),
        (lambda b: b['entry'].pop(0), 'entry[SubmissionSet]: 1..1'),
        ])
def test_checker_finds_what_breaks_the_example(change, error):
    bundle = copy.deepcopy(ihe_example())
    change(bundle)
    errors = check_provide_bundle(bundle)
    assert any(error in e for e in errors), errors


def document(**values):
    values = {
        'unique_id': '1.2.250.1.999.1.2', 'state': 'published',
        'type_code': '11488-4', 'type_name': 'Consult note',
        'title': 'Note', 'date': dt.datetime(2026, 11, 2, 9, 30),
        'care_date': dt.datetime(2026, 10, 30, 14),
        'author_name': 'Martin, Claire', 'author_system': '1.2.250.1.71.4.2.1',
        'author_id': '10101010101', 'content': b'<ClinicalDocument/>',
        'language': 'fr-FR', 'replaces': ['1.2.250.1.999.1.1'],
        'patient': mhd.Patient(
            [('1.2.250.1.213.1.4.8', '280017512345678')],
            given='Ana', family='Lima', gender='f'),
        **values}
    return mhd.Document(**values)


@pytest.mark.parametrize('state, masked', [
        ('published', False), ('published', True), ('withdrawn', True),
        ('superseded', False)])
def test_module_bundles_pass(state, masked):
    bundle = mhd.provide_bundle(
        [document(state=state, masked=masked)],
        mhd.Metadata('1.2.250.1.999'), superseded=['1.2.250.1.999.1.1'])
    assert check_provide_bundle(bundle) == []
    reference = _resource(bundle, 'DocumentReference')
    assert reference['context']['period']['start'].startswith('2026-10-30')
    assert reference['content'][0]['attachment']['creation'].startswith(
        '2026-11-02')
    assert reference['category'] != [reference['type']]
    deleted = [e['valueBoolean'] for e in reference['extension']
        if e['url'] == mhd.IS_DELETED]
    assert deleted == [state == 'withdrawn']
    # And it reads back as what it is
    assert mhd.read_reference(reference).state == state


def test_withdrawals_are_read_in_both_forms():
    reference = mhd.document_reference(
        document(state='published'), mhd.Metadata('1.2.3'))
    reference.update(status='entered-in-error', extension=[])
    assert mhd.read_reference(reference).state == 'withdrawn'
    reference.update(status='superseded')
    assert mhd.read_reference(reference).state == 'superseded'
    reference['extension'] = [{'url': mhd.IS_DELETED, 'valueBoolean': True}]
    assert mhd.read_reference(reference).state == 'withdrawn'
