# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
from trytond.tests.test_tryton import ModuleTestCase


class SharedRecordTestCase(ModuleTestCase):
    "Tryton's own checks of the module: views, fields, access, buttons"
    module = 'health_shared_record'


del ModuleTestCase
