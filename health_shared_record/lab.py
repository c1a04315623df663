# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Laboratory reports from GNU Health's laboratory module (health_lab,
installed or not): a validated test is published as a Laboratory report
(LOINC 11502-2) with one coded result per analyte.

The analytes' LOINC codes and critical limits are the clinic's table
(gnuhealth.shared_record.analyte), shipped filled for the tests GNU Health
ships; the units' UCUM codes are on GNU Health's units.  What cannot be
stated exactly (a value without a unit, limits in the wrong order, an
analyte without a code) is published as the laboratory wrote it, with a
warning to the one who publishes: never as a wrong number."""
import datetime as dt
import hashlib
import re
from collections import namedtuple

from trytond.cache import Cache
from trytond.i18n import gettext
from trytond.model.exceptions import AccessError
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import cda, cda_lab
from .common import (
    SharedRecordOrigin, clinic_timezone, clinic_today, current_professional,
    field_label, label)
from .exceptions import InputError, PublishError, PublishWarning
from .alert import priority_of
from .guard import actor, from_client
from .offered import ButtonsOffered

LOINC_CODE = re.compile(r'^[0-9]{1,7}-[0-9]$')

# The UCUM codes of the units GNU Health's laboratory module ships, by the
# unit's code; a clinic's own units say theirs (shared_record_ucum)
UCUM_OF_UNITS = {
    'mcc': '10*6/mL',
    'mmol/L': 'mmol/L',
    'mmol/24h': 'mmol/(24.h)',
    'g/dL': 'g/dL',
    'g/L': 'g/L',
    '10^3/uL': '10*3/uL',
    '10^9/L': '10*9/L',
    '10^6/uL': '10*6/uL',
    '10^12/L': '10*12/L',
    '%': '%',
    'fl': 'fL',
    'pg': 'pg',
    'mm/hr': 'mm/h',
    'mg/dl': 'mg/dL',
    'U/L': 'U/L',
    '/hpf': '/[HPF]',
    'IU/l': '[IU]/L',
    'mIU/l': 'm[IU]/L',
    'ng/ml': 'ng/mL',
    'pg/ml': 'pg/mL',
    }


# What a report needs of an analyte's row in the clinic's table
Analyte = namedtuple('Analyte',
    'loinc loinc_name ucum critical_low critical_high')


class AnalyteCode(ModelSQL, ModelView):
    "Laboratory Analyte Code"
    __name__ = 'gnuhealth.shared_record.analyte'
    _of_test = Cache('gnuhealth.shared_record.analyte.of_test', context=False)

    test_type = fields.Many2One(
        'gnuhealth.lab.test_type', "Test Type", required=True,
        ondelete='CASCADE')
    analyte = fields.Char(
        "Analyte Code",
        help="The code of the analyte in the test type, as GNU Health's "
        "laboratory writes it; empty for the test as a whole.")
    loinc = fields.Char(
        "LOINC", help="The LOINC code of the analyte (or of the test).")
    loinc_name = fields.Char("LOINC Name")
    ucum = fields.Char(
        "UCUM Unit",
        help="The unit of the results in UCUM when the analyte's unit "
        "does not say it: [pH] for a pH, 1 for a ratio.")
    critical_low = fields.Float(
        "Critical Low",
        help="At or below this value, a result is critical.")
    critical_high = fields.Float(
        "Critical High",
        help="At or above this value, a result is critical.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        table = cls.__table__()
        cls._sql_constraints = [
            ('analyte_unique', Unique(table, table.test_type, table.analyte),
                'health_shared_record.msg_analyte_unique'),
            ]
        cls._order.insert(0, ('test_type', 'ASC'))
        cls._order.insert(1, ('analyte', 'ASC NULLS FIRST'))

    @classmethod
    def validate(cls, codes):
        super().validate(codes)
        for code in codes:
            if code.loinc and not LOINC_CODE.match(code.loinc):
                raise InputError(gettext(
                        'health_shared_record.msg_analyte_loinc',
                        code=code.loinc))
            if not cda_lab.ordered(code.critical_low, code.critical_high):
                raise InputError(gettext(
                        'health_shared_record.msg_analyte_critical_order',
                        analyte=code.analyte or code.test_type.rec_name))

    def get_rec_name(self, name):
        return ' / '.join(filter(None, [
                    self.test_type.rec_name, self.analyte]))

    @classmethod
    def of_tests(cls, test_types):
        """{(test type id, analyte code or None): Analyte} for the test
        types; kept between calls (a laboratory report reads them two or
        three times) until the table changes, in any server"""
        result, missing = {}, []
        for test_type in {t.id for t in test_types}:
            codes = cls._of_test.get(test_type)
            if codes is None:
                missing.append(test_type)
            else:
                result.update(
                    ((test_type, c[0]), Analyte(*c[1:])) for c in codes)
        if missing:
            found = {t: [] for t in missing}
            with Transaction().set_user(0):
                for code in cls.search([('test_type', 'in', missing)]):
                    found[code.test_type.id].append((code.analyte or None,
                            code.loinc, code.loinc_name, code.ucum,
                            code.critical_low, code.critical_high))
            for test_type, codes in found.items():
                cls._of_test.set(test_type, codes)
                result.update(
                    ((test_type, c[0]), Analyte(*c[1:])) for c in codes)
        return result

    @classmethod
    def create(cls, vlist):
        cls._of_test.clear()
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        cls._of_test.clear()
        super().write(*args)

    @classmethod
    def delete(cls, codes):
        cls._of_test.clear()
        super().delete(codes)


class LabTestUnit(metaclass=PoolMeta):
    __name__ = 'gnuhealth.lab.test.units'

    shared_record_ucum = fields.Char(
        "UCUM Code",
        help="The unit in UCUM, as shared documents state it; empty for "
        "the units GNU Health ships, which the module knows.")

    def ucum(self):
        "The unit's UCUM code, or None when nobody said it"
        return self.shared_record_ucum or UCUM_OF_UNITS.get(self.code)


class Configuration(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.configuration'

    lab_publish_on_validation = fields.Boolean(
        "Publish Laboratory Reports on Validation",
        help="Publish a laboratory test in the shared record as soon as "
        "it is validated.")


class Document(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.document'

    @classmethod
    def _origin_models(cls):
        return super()._origin_models() + ['gnuhealth.lab']

    @classmethod
    def publish(cls, documents):
        Alert = Pool().get('gnuhealth.shared_record.alert')
        # Asked before publishing, which reads the documents again
        reports = [d for d in documents
            if d.origin and d.origin.__name__ == 'gnuhealth.lab']
        super().publish(documents)
        Alert.link_documents(reports)


class Lab(ButtonsOffered, SharedRecordOrigin, metaclass=PoolMeta):
    __name__ = 'gnuhealth.lab'
    shared_record_type_code = '11502-2'

    shared_record_collected = fields.DateTime(
        "Specimen Collected",
        help="When the specimen was collected: the time the results "
        "tell of.",
        states={'readonly': Eval('state') == 'validated'},
        depends=['state'])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'shared_record_validate': {
                    'invisible': Eval('state') != 'done',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def __post_setup__(cls):
        super().__post_setup__()
        # GNU Health's signed validation (health_crypto_lab) is the one
        # to use when installed
        if 'sign_document' in cls._buttons:
            cls._buttons['shared_record_validate'] = {'invisible': True}

    @classmethod
    def parse_view(cls, tree, type, *args, **kwargs):
        # The laboratory's staff validate results; they do not read the
        # shared record, whose documents the guard keeps from them: the
        # form does not show them an empty list
        if type == 'form' and not actor().clinician:
            for group in tree.xpath('//group[@id="shared_record"]'):
                group.getparent().remove(group)
        return super().parse_view(tree, type, *args, **kwargs)

    @classmethod
    def publish_shared_record_states(cls):
        return {
            'invisible': Eval('state') != 'validated',
            'depends': ['state'],
            }

    @classmethod
    @ModelView.button
    def shared_record_validate(cls, labs):
        """Validate done tests as the current professional, as GNU Health's
        signed validation does"""
        professional = current_professional()
        for lab in labs:
            if lab.state != 'done':
                raise PublishError(gettext(
                        'health_shared_record.msg_lab_validate_not_done',
                        test=lab.rec_name))
        cls.write(labs, {
                'state': 'validated',
                'validated_by': professional.id,
                'validation_date': dt.datetime.now(),
                })

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        validated = []
        for labs, values in zip(actions, actions):
            if values.get('state') == 'validated':
                cls.check_validated_by(values)
                validated.extend(l for l in labs if l.state != 'validated')
        super().write(*args)
        if validated:
            labs = cls.browse(validated)
            cls.shared_record_raise_alerts(labs)
            cls.shared_record_on_validation(labs)

    @classmethod
    def check_validated_by(cls, values):
        """From a client, results are validated in one's own name: they
        are published with the validating professional as the one who
        attests them"""
        if not from_client():
            return
        professional = current_professional()
        if values.get('validated_by', professional.id) != professional.id:
            raise AccessError(gettext(
                    'health_shared_record.msg_lab_validate_as_self'))

    @classmethod
    def shared_record_raise_alerts(cls, labs):
        "Alert whom the clinic chose of the abnormal results of the labs"
        Alert = Pool().get('gnuhealth.shared_record.alert')
        results = []
        for lab in labs:
            results.extend(lab.shared_record_alert_results())
        return Alert.raise_alerts(results)

    def shared_record_alert_results(self):
        """The results of the test as alerts state them, with their
        recipients: the requester and the treating physician, as the clinic
        configures"""
        pool = Pool()
        AnalyteCode = pool.get('gnuhealth.shared_record.analyte')
        configuration = pool.get('gnuhealth.shared_record.configuration')(1)
        if not self.is_publishable_for_shared_record():
            return []
        recipients = []
        if configuration.alert_requester:
            recipients.append(self.requestor)
        if configuration.alert_treating:
            recipients.append(self.patient.primary_care_doctor)
        codes = AnalyteCode.of_tests([self.test])
        results = []
        for line in self.shared_record_lines():
            result = self.shared_record_result(
                line, codes.get((self.test.id, line.code or None)))
            name, value, range_text, _ = _row(line, result)
            results.append({
                    'patient': self.patient,
                    'recipients': recipients,
                    'key': 'laboratory:%s:%s' % (
                        self.id, line.code or line.name),
                    'analyte': name,
                    'value': value,
                    'reference_range': range_text,
                    'interpretation': result.interpretation,
                    'source': 'laboratory',
                    'origin': self,
                    })
        return results

    def shared_record_kept_from_patient(self):
        """Whether the report is kept from the patient: the clinic wants
        abnormal results explained first, and nobody acknowledged one"""
        pool = Pool()
        Alert = pool.get('gnuhealth.shared_record.alert')
        configuration = pool.get('gnuhealth.shared_record.configuration')(1)
        if not configuration.alert_keep_from_patient:
            return False
        if not any(priority_of(r['interpretation'])
                for r in self.shared_record_alert_results()):
            return False
        with Transaction().set_user(0):
            return not Alert.search([
                    ('origin', '=', str(self)),
                    ('state', '=', 'acknowledged'),
                    ], limit=1)

    @classmethod
    def shared_record_on_validation(cls, labs):
        "Publish the tests just validated when the clinic asks for it"
        Configuration = Pool().get('gnuhealth.shared_record.configuration')
        if not Configuration(1).lab_publish_on_validation:
            return
        Document = Pool().get('gnuhealth.shared_record.document')
        labs = [l for l in labs if l.is_publishable_for_shared_record()
            and not l.patient.shared_record_opposition]
        if labs:
            # The clinic's decision, carried out by the server for the
            # validating professional, who publishes without being a
            # clinician who reads the record: what can be stated is,
            # without a warning
            by_publisher = {}
            for lab in labs:
                publisher = lab.validated_by or current_professional()
                by_publisher.setdefault(publisher.id, []).append(lab.id)
            for publisher, ids in by_publisher.items():
                with Transaction().set_user(0), Transaction().set_context(
                        shared_record_publisher=publisher):
                    Document.publish_records(cls.browse(ids))

    @classmethod
    @ModelView.button
    def publish_shared_record(cls, labs):
        cls.check_shared_record(labs)
        cls.warn_shared_record(labs)
        super().publish_shared_record(labs)

    def is_publishable_for_shared_record(self):
        return (self.state == 'validated' and self.source_type == 'patient'
            and self.patient is not None)

    @classmethod
    def check_shared_record(cls, labs):
        for lab in labs:
            if not lab.is_publishable_for_shared_record():
                raise PublishError(gettext(
                        'health_shared_record.msg_lab_not_validated'
                        if lab.state != 'validated' else
                        'health_shared_record.msg_lab_no_patient',
                        test=lab.rec_name))

    @classmethod
    def warn_shared_record(cls, labs):
        """Tell what the documents will state as the laboratory wrote it,
        not as numbers, and let the user go on"""
        Warning = Pool().get('res.user.warning')
        problems = []
        for lab in labs:
            problems.extend(lab.shared_record_problems())
        if not problems:
            return
        key = 'shared_record_lab.%s' % hashlib.sha256(
            '\n'.join([str(sorted(l.id for l in labs))] + problems).encode()
            ).hexdigest()
        if Warning.check(key):
            raise PublishWarning(key, gettext(
                    'health_shared_record.msg_lab_problems',
                    problems='\n'.join(problems[:20])))

    def shared_record_lines(self):
        "The analytes with a result, in the laboratory's order"
        return [line for line in self.critearea if not line.excluded
            and (line.result is not None or (line.result_text or '').strip())]

    def shared_record_problems(self):
        "What the document cannot state as numbers or codes, in words"
        AnalyteCode = Pool().get('gnuhealth.shared_record.analyte')
        codes = AnalyteCode.of_tests([self.test])
        problems = []
        for line in self.shared_record_lines():
            code = codes.get((self.test.id, line.code or None))
            values = {'test': self.rec_name, 'analyte': line.name}
            if code is None or not code.loinc:
                problems.append(gettext(
                        'health_shared_record.msg_lab_no_loinc', **values))
            if line.result is not None and not _ucum(line, code):
                problems.append(gettext(
                        'health_shared_record.msg_lab_no_unit', **values))
            if line.result is None and _has_limits(line):
                problems.append(gettext(
                        'health_shared_record.msg_lab_not_a_number',
                        value=line.result_text.strip(), **values))
            if not cda_lab.ordered(line.lower_limit, line.upper_limit):
                problems.append(gettext(
                        'health_shared_record.msg_lab_limits_order',
                        lower=line.lower_limit, upper=line.upper_limit,
                        **values))
        return problems

    def get_shared_record_author(self):
        return self.done_by or self.pathologist or self.validated_by

    def get_shared_record_signer(self):
        return self.validated_by

    def get_shared_record_referrer(self):
        return self.requestor

    def get_shared_record_values(self, document_type):
        values = super().get_shared_record_values(document_type)
        values.update({
                'patient': self.patient,
                'effective_date': (self.shared_record_collected
                    or self.date_analysis or self.validation_date),
                'title': '%s: %s' % (values['title'], self.test.rec_name),
                })
        if self.shared_record_kept_from_patient():
            Configuration = Pool().get(
                'gnuhealth.shared_record.configuration')
            values.update({
                    'hidden_from_patient': True,
                    'patient_release_date': clinic_today() + dt.timedelta(
                        days=Configuration(1).alert_release_days or 0),
                    })
        author = values.get('author')
        if author is not None and author.institution:
            values['institution'] = author.institution
        return values

    def get_shared_record_sections(self):
        return [self.shared_record_results_section()]

    def shared_record_results_section(self):
        "The results section: a table to read and a battery to process"
        AnalyteCode = Pool().get('gnuhealth.shared_record.analyte')
        codes = AnalyteCode.of_tests([self.test])
        results, rows = [], []
        for line in self.shared_record_lines():
            result = self.shared_record_result(
                line, codes.get((self.test.id, line.code or None)))
            results.append(result)
            rows.append(_row(line, result))
        test_code = codes.get((self.test.id, None))
        battery = cda_lab.Battery(
            code=_loinc(test_code),
            name=self.test.rec_name,
            results=results,
            time=self.shared_record_collected,
            specimen=self.specimen_type or self.test.specimen_type)
        narrative = [cda.Table(_headers(), rows) if rows
            else cda.Paragraph(label('no_information'))]
        specimen = ', '.join(filter(None, [
                    battery.specimen,
                    gettext('health_shared_record.msg_cda_lab_collected',
                        date=_local_time(battery.time))
                    if battery.time else None]))
        if specimen:
            narrative.insert(0, cda.Paragraph(
                    specimen, caption=label('lab_specimen')))
        for name in ['results', 'diagnosis']:
            text = (getattr(self, name) or '').strip()
            if text:
                narrative.append(cda.Paragraph(
                        text, caption=field_label(self, name)))
        return cda.Section(
            cda.section_code('30954-2'), label('lab_results'), narrative,
            [battery])

    def shared_record_result(self, line, code):
        "The cda_lab.Result of an analyte line, with what can be said"
        unit = _ucum(line, code)
        limits = _has_limits(line) and cda_lab.ordered(
            line.lower_limit, line.upper_limit)
        text = (line.result_text or '').strip()
        if line.result is not None:
            number = int(line.result) if line.to_integer else line.result
            if unit:
                value = cda.Quantity(number, unit)
            else:
                value = ' '.join(filter(None, [
                            cda._number(number),
                            line.units.name if line.units else None]))
            interpretation = cda_lab.interpret(
                number, line.lower_limit, line.upper_limit,
                code.critical_low if code else None,
                code.critical_high if code else None,
                flagged=bool(line.warning))
        else:
            value = text
            interpretation = cda_lab.interpret(
                None, line.lower_limit, line.upper_limit,
                flagged=bool(line.warning))
        quantity = (lambda limit: cda.Quantity(limit, unit)
            if limits and unit and limit is not None else None)
        return cda_lab.Result(
            code=_loinc(code),
            name=line.name,
            value=value,
            low=quantity(line.lower_limit),
            high=quantity(line.upper_limit),
            range_text=(line.normal_range or '').strip() or None,
            interpretation=interpretation,
            time=self.shared_record_collected,
            method=line.test_method or None,
            comment=' '.join(filter(None, [
                        text if line.result is not None else None,
                        (line.remarks or '').strip()])) or None)


def _local_time(value):
    "A date and time as the document's language writes them, in its zone"
    Lang = Pool().get('ir.lang')
    zone = clinic_timezone()
    if zone is not None:
        value = value.replace(tzinfo=dt.timezone.utc).astimezone(zone)
    lang = Lang.get()
    return lang.strftime(value, lang.date + ' %H:%M')


def _ucum(line, code):
    "The UCUM unit of an analyte line's values, or None"
    if code is not None and code.ucum:
        return code.ucum
    if line.units:
        return line.units.ucum()


def _has_limits(line):
    return line.lower_limit is not None or line.upper_limit is not None


def _loinc(code):
    if code is not None and code.loinc:
        return cda.Code(code.loinc, cda.LOINC, code.loinc_name or None)


def _headers():
    return [label(n) for n in [
            'lab_analyte', 'lab_result', 'lab_range', 'lab_flag']]


def _row(line, result):
    value = result.value
    if isinstance(value, cda.Quantity):
        unit = line.units.name if line.units else (
            None if value.unit in {'1', '[pH]'}
            else cda.unit_display(value.unit))
        value = ' '.join(filter(None, [cda._number(value.value), unit]))
    range_text = result.range_text or ''
    if not range_text and (result.low or result.high):
        range_text = '%s-%s' % (
            cda._number(result.low.value) if result.low else '',
            cda._number(result.high.value) if result.high else '')
    flag = (label('lab_flag_' + result.interpretation.lower())
        if result.interpretation else '')
    return [line.name, value or '', range_text, flag]
