#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Bring locale/*.po up to date with the module's translatable strings.

Reads the strings from a database where the module is activated (the demo
database by default), keeps the translations already in the files, adds the
new strings untranslated and drops those that are gone.  Translate what is
left empty, then run the tests: test_translations fails on any gap.
"""
import argparse
import pathlib
import sys

import polib

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tests'))
LOCALE = ROOT / 'health_shared_record' / 'locale'
LANGUAGES = ['fr', 'es']


def catalogue(database, config_file):
    "Return the module's strings as a POFile in the source language"
    from trytond.config import config
    config.update_etc(config_file)
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from helpers import module_catalogue
    Pool.start()
    with Transaction().start(database, 0, readonly=False) as transaction:
        Pool(database).init()
        entries = module_catalogue()
        transaction.rollback()
    return entries


def merge(entries, path):
    old = polib.pofile(str(path)) if path.exists() else polib.POFile()
    translated = {(e.msgctxt, e.msgid): e.msgstr for e in old}
    new = polib.POFile(wrapwidth=78)
    new.metadata = {'Content-Type': 'text/plain; charset=utf-8'}
    for entry in entries:
        new.append(polib.POEntry(
                msgctxt=entry.msgctxt, msgid=entry.msgid,
                msgstr=translated.get((entry.msgctxt, entry.msgid), '')))
    new.save(str(path))
    return sum(1 for e in new if not e.msgstr)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('-d', '--database', default='demo')
    parser.add_argument(
        '-c', '--config', default=str(ROOT / 'var' / 'demo' / 'trytond.conf'))
    arguments = parser.parse_args()
    entries = catalogue(arguments.database, arguments.config)
    LOCALE.mkdir(exist_ok=True)
    for language in LANGUAGES:
        missing = merge(entries, LOCALE / f'{language}.po')
        print(f'{language}.po: {len(entries)} strings, {missing} untranslated')
