# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What the client offers each user: the buttons of a form and the actions
of its toolbar.  Only a hint: the guard (guard.py) and trytond refuse
whatever a user may not do, however it is asked.

trytond 7.0 greys a button of groups the user is not in; here it is left
out of the view, as trytond leaves out a button whose fields the user may
not read.  The view trytond caches is keyed by the user's groups, and what
is left out depends on them alone, so each user gets the view of their
groups."""
from trytond.pool import Pool, PoolMeta
from trytond.transaction import without_check_access

from .guard import actor

# What view_toolbar_get offers: print, action and relate
TOOLBAR_KEYWORDS = {'form_print', 'form_action', 'form_relate'}


class ButtonsOffered:
    "Leave out of the views the buttons the user's groups may not press"
    __slots__ = ()

    @classmethod
    def parse_view(cls, tree, type, *args, **kwargs):
        pool = Pool()
        Button = pool.get('ir.model.button')
        User = pool.get('res.user')
        groups = set(User.get_groups())
        seen = {}
        for element in tree.xpath('//button[@name]'):
            name = element.get('name')
            allowed = Button.get_groups(cls.__name__, name)
            if not allowed or groups & allowed:
                continue
            index = seen[name] = seen.get(name, -1) + 1
            if type == 'form':
                # A label in its place keeps the layout of the form
                colspan = element.get('colspan')
                element.tag = 'label'
                element.attrib.clear()
                element.set('id', f'hidden {name}-{index}')
                if colspan is not None:
                    element.set('colspan', colspan)
            else:
                element.getparent().remove(element)
        return super().parse_view(tree, type, *args, **kwargs)


class Patient(ButtonsOffered, metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'


class PatientEvaluation(ButtonsOffered, metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient.evaluation'


class Vaccination(ButtonsOffered, metaclass=PoolMeta):
    __name__ = 'gnuhealth.vaccination'


class PrescriptionOrder(ButtonsOffered, metaclass=PoolMeta):
    __name__ = 'gnuhealth.prescription.order'


class ImmunizationSchedule(ButtonsOffered, metaclass=PoolMeta):
    __name__ = 'gnuhealth.immunization_schedule'


class Document(ButtonsOffered, metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.document'


class Reminder(ButtonsOffered, metaclass=PoolMeta):
    __name__ = 'gnuhealth.prevention.reminder'


class ActionKeyword(metaclass=PoolMeta):
    __name__ = 'ir.action.keyword'

    @classmethod
    def get_keyword(cls, keyword, value):
        """A patient's login is offered in a toolbar only the actions given
        to the patient group: GNU Health's reports and relations on a
        patient are the clinic's, made for its staff.  (What a menu entry
        opens is the menu's groups' to say.)"""
        keywords = super().get_keyword(keyword, value)
        if (keywords and keyword in TOOLBAR_KEYWORDS
                and actor().only_patient):
            offered = cls._patient_actions()
            keywords = [k for k in keywords if k['id'] in offered]
        return keywords

    @classmethod
    @without_check_access
    def _patient_actions(cls):
        pool = Pool()
        ActionGroup = pool.get('ir.action-res.group')
        ModelData = pool.get('ir.model.data')
        group = ModelData.get_id(
            'health_shared_record', 'group_shared_record_patient')
        return {
            g.action.id for g in ActionGroup.search([('group', '=', group)])}
