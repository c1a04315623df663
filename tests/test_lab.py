# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Laboratory reports: the interpretation of a result, and the analyte
codes shipped for GNU Health's laboratory (Tryton's own checks of the
module run with it: test_module)"""
import unittest

from hypothesis import given, strategies as st

from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction

from health_shared_record import cda, cda_lab
from health_shared_record.lab import UCUM_OF_UNITS

numbers = st.floats(
    min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
limits = st.one_of(st.none(), numbers)


class InterpretationTestCase(unittest.TestCase):
    "The flags a result gets from its numbers"

    def test_examples(self):
        for args, expected in [
                ((6.2, 11, 16, 7, 20), 'LL'),
                ((7, 11, 16, 7, 20), 'LL'),
                ((7.1, 11, 16, 7, 20), 'L'),
                ((11, 11, 16, 7, 20), 'N'),
                ((16, 11, 16, 7, 20), 'N'),
                ((16.5, 11, 16, 7, 20), 'H'),
                ((20, 11, 16, 7, 20), 'HH'),
                ((5, None, 4), 'H'),
                ((5, 6, None), 'L'),
                ((5, None, None), None),
                ((None, 1, 2), None),
                # limits in the wrong order say nothing, flagged or not
                ((88, 95, 82), None),
                # the critical limits still count
                ((1, 95, 82, 5, None), 'LL'),
                ]:
            with self.subTest(args=args):
                self.assertEqual(cda_lab.interpret(*args), expected)

    def test_flag_counts_only_where_numbers_say_nothing(self):
        # GNU Health's warning uses open bounds: 11 is flagged, and normal
        self.assertEqual(cda_lab.interpret(11, 11, 16, flagged=True), 'N')
        self.assertEqual(cda_lab.interpret(None, flagged=True), 'A')
        self.assertEqual(cda_lab.interpret(3, flagged=True), 'A')
        self.assertIsNone(cda_lab.interpret(3, 5, 4, flagged=True))

    @given(numbers, limits, limits, limits, limits, st.booleans())
    def test_never_a_wrong_interpretation(
            self, value, low, high, critical_low, critical_high, flagged):
        flag = cda_lab.interpret(
            value, low, high, critical_low, critical_high, flagged)
        self.assertIn(flag, set(cda_lab.INTERPRETATIONS) | {None})
        critical = cda_lab.ordered(critical_low, critical_high)
        reference = cda_lab.ordered(low, high)
        if flag == 'LL':
            self.assertTrue(critical and value <= critical_low)
        elif flag == 'HH':
            self.assertTrue(critical and value >= critical_high)
        elif flag == 'L':
            self.assertTrue(reference and value < low)
        elif flag == 'H':
            self.assertTrue(reference and value > high)
        elif flag == 'N':
            self.assertTrue(reference and (low is not None or high is not None))
            self.assertTrue(low is None or low <= value)
            self.assertTrue(high is None or value <= high)
        elif flag == 'A':
            self.assertTrue(flagged)
        if critical and critical_low is not None and value <= critical_low:
            self.assertEqual(flag, 'LL')
        if not reference and flag not in {'LL', 'HH'}:
            self.assertIsNone(flag)

    def test_shipped_units_are_ucum(self):
        "The UCUM codes the module gives GNU Health's units read back"
        for unit in UCUM_OF_UNITS.values():
            with self.subTest(unit=unit):
                self.assertNotIn(' ', unit)
                self.assertNotIn('^', unit)

    def test_result_written_in_schema_order(self):
        "A result with every part comes in the order CDA's schema asks"
        header_free = cda_lab.Result(
            code=cda.Code('718-7', cda.LOINC, 'Hemoglobin'), name='HGB',
            value=cda.Quantity(6.2, 'g/dL'),
            low=cda.Quantity(11, 'g/dL'), high=cda.Quantity(16, 'g/dL'),
            range_text='11-16', interpretation='LL', method='Photometry',
            comment='Checked twice')
        out = []
        header_free.write(out)
        xml = ''.join(out)
        self.assertIn('<interpretationCode code="LL"', xml)
        self.assertLess(xml.index('<value'), xml.index('<interpretationCode'))
        self.assertLess(
            xml.index('<methodCode'), xml.index('<referenceRange'))


class ShippedAnalyteCodesTestCase(unittest.TestCase):
    "The analyte codes the module ships for GNU Health's laboratory"

    @classmethod
    def setUpClass(cls):
        activate_module(['health_shared_record', 'health_lab'])

    @with_transaction()
    def test_shipped_analyte_codes(self):
        "Every shipped analyte code names an analyte GNU Health ships"
        pool = Pool()
        Analyte = pool.get('gnuhealth.shared_record.analyte')
        Critearea = pool.get('gnuhealth.lab.test.critearea')
        codes = Analyte.search([])
        self.assertGreater(len(codes), 40)
        for code in codes:
            if not code.analyte:
                continue
            with self.subTest(analyte=code.rec_name):
                self.assertTrue(Critearea.search([
                            ('test_type_id', '=', code.test_type.id),
                            ('code', '=', code.analyte),
                            ]))
                self.assertRegex(code.loinc, r'^[0-9]{1,7}-[0-9]$')
                self.assertTrue(cda_lab.ordered(
                        code.critical_low, code.critical_high))

    @with_transaction()
    def test_shipped_critical_limits_beyond_reference(self):
        "A critical limit lies beyond the analyte's reference limits"
        pool = Pool()
        Analyte = pool.get('gnuhealth.shared_record.analyte')
        Critearea = pool.get('gnuhealth.lab.test.critearea')
        for code in Analyte.search([
                    'OR', ('critical_low', '!=', None),
                    ('critical_high', '!=', None)]):
            line, = Critearea.search([
                    ('test_type_id', '=', code.test_type.id),
                    ('code', '=', code.analyte),
                    ])
            with self.subTest(analyte=code.rec_name):
                if code.critical_low is not None:
                    self.assertLess(code.critical_low, line.lower_limit)
                if code.critical_high is not None:
                    self.assertGreater(code.critical_high, line.upper_limit)


def loinc_check_digit(code):
    "LOINC's mod 10 check digit of the digits before the hyphen"
    digits = [int(d) for d in code]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2 == 0:
            doubled = digit * 2
            total += doubled // 10 + doubled % 10
        else:
            total += digit
    return (10 - total % 10) % 10


class ShippedLoincTestCase(unittest.TestCase):
    "The LOINC codes shipped as data have a right check digit"

    def test_check_digits(self):
        import re

        from helpers import ROOT
        data = (ROOT / 'health_shared_record' / 'data'
            / 'lab_analytes.xml').read_text()
        codes = re.findall(r'<field name="loinc">([0-9-]+)</field>', data)
        self.assertGreater(len(codes), 40)
        for code in codes:
            number, check = code.split('-')
            with self.subTest(code=code):
                self.assertEqual(loinc_check_digit(number), int(check))
