# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The labels of the module's selections, read once per language.

trytond 7.0 gives the label of a selection's value (a list's "state:string"
column, a record's translated descriptor) from the whole definition of the
field, fields_get, read again for each row: most of what a server spends
to show the Shared Record tab.  The values of these selections are fixed,
their labels change only with the translations: they are kept by language
until a translation changes."""
from trytond.cache import Cache
from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.transaction import Transaction

_labels = Cache('health_shared_record.selection_labels', context=False)


class Labels(dict):
    """A selection's labels in a language: shared by every reader, never
    changed, so that the cache gives them without copying them"""
    __slots__ = ()

    def __deepcopy__(self, memo):
        return self

    def _read_only(self, *args, **kwargs):
        raise TypeError("a selection's labels are read only")

    __setitem__ = __delitem__ = _read_only
    update = pop = popitem = clear = setdefault = _read_only


class Selection(fields.Selection):
    "A selection of fixed values, whose labels are read once per language"
    # The benchmark's baseline reads them as trytond does
    cached = True

    @classmethod
    def get_selection(cls, model, name, inst):
        if not cls.cached or isinstance(
                model._fields[name].selection, str):
            return super().get_selection(model, name, inst)
        key = (model.__name__, name, Transaction().language)
        labels = _labels.get(key)
        if labels is None:
            labels = Labels(super().get_selection(model, name, inst))
            _labels.set(key, labels)
        return labels


class Translation(metaclass=PoolMeta):
    __name__ = 'ir.translation'

    @classmethod
    def create(cls, vlist):
        records = super().create(vlist)
        _labels.clear()
        return records

    @classmethod
    def write(cls, *args):
        super().write(*args)
        _labels.clear()

    @classmethod
    def delete(cls, translations):
        super().delete(translations)
        _labels.clear()
