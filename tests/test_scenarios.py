# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Run each scenario_*.rst as a doctest on a fresh copy of the database"""
import doctest
import pathlib
import unittest

import pytest

from trytond.tests.test_tryton import doctest_checker, doctest_teardown

SCENARIOS = sorted(pathlib.Path(__file__).parent.glob('scenario_*.rst'))


@pytest.mark.parametrize('scenario', SCENARIOS, ids=lambda p: p.stem)
def test_scenario(scenario):
    suite = doctest.DocFileSuite(
        str(scenario), module_relative=False,
        tearDown=doctest_teardown, encoding='utf-8',
        checker=doctest_checker,
        optionflags=doctest.REPORT_ONLY_FIRST_FAILURE | doctest.ELLIPSIS)
    result = unittest.TestResult()
    suite.run(result)
    problems = result.failures + result.errors
    assert not problems, '\n'.join(text for _, text in problems)
    assert result.testsRun == 1
