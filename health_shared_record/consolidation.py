# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""One view of the patient from every source: what GNU Health's own record
and the documents state, grouped when they state the same thing, with what
they disagree on.  No ORM here: overview.py gathers the statements.

The same thing is recognised by its code, never by its text: a problem or
an allergy by its condition's code, a medication or an immunization by its
ATC class when a source gives one or its CVX code has one (so that a CIS,
an RxNorm, a CVX and a GNU Health medicament of the same class meet), a
result by its LOINC code.  An immunization and a result are also one per
day.  Text is the key only of a statement that has no code at all."""
import datetime as dt
from dataclasses import dataclass, field
from typing import Optional

from . import cvx
from .common import folded

KINDS = ('problem', 'allergy', 'medication', 'immunization', 'result')
# Kinds of which each day's statement is a thing of its own
DATED_KINDS = {'immunization', 'result'}
# Kinds that GNU Health's own record takes in (reconciliation)
RECONCILED_KINDS = ('problem', 'allergy', 'medication', 'immunization')
# ICD-10 is written with or without its dot, and France's CIM-10 and the
# USA's ICD-10-CM share its categories
SYSTEM_FAMILIES = {'ICD-10-CM': 'ICD-10', 'CIM-10': 'ICD-10'}
ENDED = {'inactive', 'resolved', 'completed', 'aborted', 'cancelled',
    'nullified', 'obsolete'}
# Not a statement of something that happened
VOID = {'cancelled', 'nullified', 'obsolete'}
# SNOMED CT codes of an allergy stated absent without a substance: "no
# known allergy" in its forms (a negated "allergy to substance" is the
# C-CDA way)
NO_KNOWN_ALLERGY = {'419199007', '716186003', '409137002', '428607008',
    '429625007', '420134006'}


def code_key(system, code):
    "The code as the same code from any writer reads, None if none"
    code = (code or '').strip().upper()
    if not code:
        return None
    system = SYSTEM_FAMILIES.get(system, system or '')
    if system == 'ICD-10':
        code = code.replace('.', '')
    elif system == 'CVX':
        code = code.lstrip('0') or '0'
    return f'{system}|{code}'


@dataclass
class Source:
    "Where a statement comes from: the record here or a document"
    own: bool
    institution: str = ''
    # The GNU Health record ('model,id') or the document (its id)
    record: Optional[str] = None
    document: Optional[int] = None
    title: str = ''
    date: Optional[dt.date] = None
    entry: Optional[int] = None
    # The document's time, which tells a newer document from an older one
    # of the same day
    time: Optional[dt.datetime] = None


@dataclass
class Statement:
    kind: str
    name: str
    source: Source
    code: Optional[str] = None
    system: Optional[str] = None
    atc: Optional[str] = None
    start: Optional[dt.date] = None
    end: Optional[dt.date] = None
    status: Optional[str] = None
    negated: bool = False
    planned: bool = False
    dose: Optional[int] = None
    value: Optional[str] = None
    unit: Optional[str] = None
    # The key of the statement of another clinic this one was accepted from
    alias: Optional[str] = None

    @property
    def key(self):
        "What the statement is about, as every source would code it"
        if self.alias:
            return self.alias
        key = None
        if self.kind == 'immunization':
            key = code_key(
                'ATC', cvx.vaccine_atc(self.atc, self.code, self.system))
        elif self.kind == 'medication':
            atc = self.atc or (self.code if self.system == 'ATC' else None)
            key = code_key('ATC', atc)
        key = key or code_key(self.system, self.code)
        if key is None:
            key = 'TEXT|' + folded(self.name)
        if self.kind in DATED_KINDS:
            key += '|' + (self.start.isoformat() if self.start else '')
        return key

    @property
    def ended(self):
        return bool(self.status in ENDED or (
                self.end and self.kind in {'problem', 'allergy'}))

    @property
    def no_known_allergy(self):
        return self.kind == 'allergy' and self.negated and (
            not self.code or self.code in NO_KNOWN_ALLERGY)

    @property
    def counts(self):
        "Whether it states something that is or was: not void nor planned"
        return self.status not in VOID and not self.planned


@dataclass
class Line:
    "What the sources state of one thing, the record here first"
    kind: str
    key: str
    statements: list = field(default_factory=list)
    # Codes of what the sources disagree on, see CONFLICTS
    conflicts: set = field(default_factory=set)

    @property
    def first(self):
        return self.statements[0]

    @property
    def own(self):
        return [s for s in self.statements if s.source.own]

    @property
    def external(self):
        return [s for s in self.statements if not s.source.own]

    @property
    def newest(self):
        "The newest document's statement, the record's when it has one"
        own = self.own
        if own:
            return own[0]
        return max(self.statements, key=lambda s: (
                s.source.date or dt.date.min, s.source.entry or 0))

    @property
    def last_stated(self):
        "When the newest document that states it was written"
        times = [s.source.time for s in self.external if s.source.time]
        return max(times) if times else None

    @property
    def missing_here(self):
        "Stated by another clinic, as something that is or was, not here"
        return not self.own and any(
            s.counts and not s.negated for s in self.external)


# The conflicts, in the order they are told
CONFLICTS = ('status', 'negation', 'no_known_allergy', 'codes',
    'future_date', 'before_birth')


def _order(statement):
    source = statement.source
    return (not source.own, -(source.date or dt.date.min).toordinal(),
        source.entry or 0)


def consolidate(statements, birth_date=None, today=None):
    """The lines of statements grouped by what they are about, each with
    its conflicts, in kind order and newest first"""
    lines = {}
    for statement in statements:
        if statement.kind not in KINDS:
            continue
        key = statement.key
        line = lines.get((statement.kind, key))
        if line is None:
            line = lines[statement.kind, key] = Line(statement.kind, key)
        line.statements.append(statement)
    for line in lines.values():
        line.statements.sort(key=_order)
        _conflicts(line, birth_date, today)
    _across_lines(list(lines.values()))
    return sorted(lines.values(), key=lambda line: (
            KINDS.index(line.kind),
            -(line.newest.start or line.newest.source.date
                or dt.date.min).toordinal(),
            folded(line.newest.name)))


def _conflicts(line, birth_date, today):
    counted = [s for s in line.statements if s.counts]
    if line.kind in {'problem', 'allergy', 'medication'}:
        if len({s.ended for s in counted if not s.negated}) > 1:
            line.conflicts.add('status')
    if len({s.negated for s in counted}) > 1:
        line.conflicts.add('negation')
    for statement in line.external:
        if statement.start and today and statement.start > today:
            line.conflicts.add('future_date')
        if statement.start and birth_date and statement.start < birth_date:
            line.conflicts.add('before_birth')


def _across_lines(lines):
    """What two lines tell together: an allergy beside "no known
    allergy", and one name under two codes"""
    allergies = [
        line for line in lines if line.kind == 'allergy'
        and any(s.counts and not s.negated and not s.ended
            for s in line.statements)]
    none_known = [
        line for line in lines if line.kind == 'allergy'
        and any(s.no_known_allergy for s in line.statements)]
    if allergies and none_known:
        for line in allergies + none_known:
            line.conflicts.add('no_known_allergy')
    by_name = {}
    for line in lines:
        if line.key.startswith('TEXT|') or line.kind in DATED_KINDS:
            continue
        for statement in line.statements:
            by_name.setdefault(
                (line.kind, folded(statement.name)), set()).add(line.key)
    for line in lines:
        for statement in line.statements:
            if len(by_name.get(
                        (line.kind, folded(statement.name)), ())) > 1:
                line.conflicts.add('codes')


@dataclass
class Change:
    "An item of a summary that the next one adds, removes or changes"
    change: str
    kind: str
    name: str
    before: Optional[Statement] = None
    after: Optional[Statement] = None


# What a change of an item is told by
_COMPARED = ('status', 'start', 'end', 'negated', 'dose', 'value', 'unit')


def _compared(statement):
    return tuple(getattr(statement, name) or None for name in _COMPARED)


def changes(before, after):
    """What the statements of the summary after add, remove and change of
    those of the summary before, by kind and name"""
    old = {(s.kind, s.key): s for s in before if s.kind in KINDS}
    new = {(s.kind, s.key): s for s in after if s.kind in KINDS}
    result = []
    for key, statement in new.items():
        if key not in old:
            result.append(Change(
                    'added', statement.kind, statement.name, after=statement))
        elif _compared(old[key]) != _compared(statement):
            result.append(Change(
                    'changed', statement.kind, statement.name,
                    before=old[key], after=statement))
    for key, statement in old.items():
        if key not in new:
            result.append(Change(
                    'removed', statement.kind, statement.name,
                    before=statement))
    order = {'added': 0, 'changed': 1, 'removed': 2}
    return sorted(result, key=lambda c: (
            order[c.change], KINDS.index(c.kind), folded(c.name)))
