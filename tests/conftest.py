# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Test configuration, read before trytond is imported.

The database backend comes from TRYTOND_DATABASE_URI (SQLite in memory when
unset); the activated database is cached per run in DB_CACHE so that each
scenario starts from a copy instead of activating GNU Health again.
"""
import os
import tempfile
import warnings

from helpers import CDA_SCHEMA, SMTP

# passlib, which trytond uses, imports the crypt module that Python 3.11
# deprecates: imported once here, quietly, it warns no test
with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)
    import passlib.utils  # noqa: F401

os.environ.setdefault('DB_CACHE', tempfile.mkdtemp(prefix='hsr-db-cache-'))
# A real SMTP server on loopback receives the emails the module sends
os.environ['TRYTOND_EMAIL__URI'] = f'smtp://127.0.0.1:{SMTP.start()}'
os.environ['TRYTOND_EMAIL__FROM'] = 'shared-record@clinic.example'

if CDA_SCHEMA.exists():
    os.environ.setdefault(
        'TRYTOND_HEALTH_SHARED_RECORD__CDA_SCHEMA', str(CDA_SCHEMA))


def _name_templates_after_the_run():
    """On PostgreSQL, trytond caches each activated database as a template
    named test-<hash of the modules>, which every run on the server shares
    (and an earlier run's holds an older module).  bin/test gives each run
    a DB_NAME of its own: name the run's templates after it, so that the
    run uses and drops only its own."""
    import hashlib

    from trytond.tests import test_tryton

    def db_cache_file(path, name):
        digest = hashlib.shake_128(name.encode('utf8')).hexdigest(8)
        return f"{path}/{test_tryton.DB_NAME}-{digest}"
    test_tryton._db_cache_file = db_cache_file


if (os.environ['DB_CACHE'].startswith('postgresql://')
        and 'DB_NAME' in os.environ):
    _name_templates_after_the_run()
