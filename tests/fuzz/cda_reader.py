#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Coverage-guided fuzzing of the CDA reader with atheris (libFuzzer).

Each input is read as a document received from another clinic
(documents.read): it must be read, keeping the reader's promises, or
refused with a ContentError.  Inputs are mutated by libFuzzer on bytes and
by documents.mutate on the XML tree (drop, copy, move, nest, rename,
replace values, tamper with the prolog and the encoding).

tests/test_fuzz.py runs it for a few seconds.  For a longer run, keeping
the corpus it grows (an empty folder is first given seed documents):

    mkdir -p var/fuzz/cda
    .venv/bin/python tests/fuzz/cda_reader.py var/fuzz/cda \\
        -max_total_time=3600 -rss_limit_mb=1024 -timeout=10 -max_len=65536

A crash, a timeout or an out-of-memory stops the run and leaves the input
in crash-*, timeout-* or oom-* (-artifact_prefix= says where); run the
harness on that file alone to replay it.
"""
import pathlib
import sys

import atheris

with atheris.instrument_imports(include=['health_shared_record']):
    from health_shared_record import cda  # noqa: F401

from lxml import etree  # noqa: E402

import documents  # noqa: E402


def test_one_input(data):
    documents.read(data)


def mutator(data, max_size, seed):
    "Mutate the XML tree two times out of three, the bytes otherwise"
    dice = documents.Dice(seed)
    if dice.integer(0, 2):
        try:
            return documents.mutate(data, dice)[:max_size]
        except etree.XMLSyntaxError:
            pass
    return atheris.Mutate(data, max_size)


def seed(folder):
    "Put the seed documents in an empty corpus folder"
    folder = pathlib.Path(folder)
    if folder.is_dir() and not any(folder.iterdir()):
        for number, document in enumerate(documents.seeds()):
            (folder / f'seed-{number}.xml').write_bytes(document)


def main():
    for argument in sys.argv[1:]:
        if not argument.startswith('-'):
            seed(argument)
    atheris.Setup(sys.argv, test_one_input, custom_mutator=mutator)
    atheris.Fuzz()


if __name__ == '__main__':
    main()
