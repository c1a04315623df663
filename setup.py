#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
import configparser
import os

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read(*path):
    with open(os.path.join(HERE, *path), encoding='utf-8') as fp:
        return fp.read()


config = configparser.ConfigParser()
config.read_string(read('health_shared_record', 'tryton.cfg'))
info = dict(config.items('tryton'))

setup(
    name='health_shared_record',
    version=info['version'],
    description='GNU Health shared medical record: structured HL7 CDA '
    'documents controlled by the patient, and prevention reminders',
    long_description=read('README.md'),
    long_description_content_type='text/markdown',
    license='GPL-3.0-or-later',
    python_requires='>=3.11',
    packages=['health_shared_record'],
    package_data={
        'health_shared_record': [
            'tryton.cfg', '*.xml', 'view/*.xml', 'data/*.xml',
            'locale/*.po', 'icons/*.svg'],
        },
    # trytond finds the module through this entry point, so the package can
    # live at the top of the repository like any Python project.
    entry_points={
        'trytond.modules': [
            'health_shared_record = health_shared_record'],
        },
    install_requires=[
        'gnuhealth >= 5.0, < 5.1',
        'trytond >= 7.0, < 7.1',
        'icalendar >= 5',
        'lxml',
        # Secure messaging: S/MIME signing and encryption (PKCS#7), and
        # the CMS structures cryptography does not verify
        'cryptography >= 44',
        'asn1crypto >= 1.5',
        # PDF readable copies in the XDM packages: the standard PDF generator
        'reportlab >= 4',
        'python-sql',
        'requests',
        ],
    extras_require={
        'postgresql': ['psycopg2 >= 2.7'],
        # GNU Health's laboratory: laboratory reports and their alerts
        'lab': ['gnuhealth-lab >= 5.0, < 5.1'],
        'test': [
            'gnuhealth-lab >= 5.0, < 5.1',
            'proteus >= 7.0, < 7.1',
            'pytest',
            'hypothesis',
            # atheris 3.1 needs Python 3.12: pip takes 3.0 on 3.11
            'atheris >= 2.3',
            'psycopg2 >= 2.7',
            'aiosmtpd',
            'fhir.resources >= 8, < 9',
            'playwright',
            # Reads the PDF readable copies back as a viewer would
            'pypdf',
            ],
        },
    zip_safe=False,
    classifiers=[
        'Framework :: Tryton',
        'License :: OSI Approved :: '
        'GNU General Public License v3 or later (GPLv3+)',
        'Programming Language :: Python :: 3.11',
        'Topic :: Scientific/Engineering :: Medical Science Apps.',
        ],
    )
