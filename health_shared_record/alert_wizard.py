# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What a professional does with alerts in the client: acknowledge them
with what was done, and open the result an alert is about.  Who may act
is the alert's to decide (Alert.check_recipient)."""
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval, PYSONEncoder
from trytond.wizard import Button, StateAction, StateTransition, StateView
from trytond.wizard import Wizard

from .alert import ACTIONS
from .common import current_professional
from .selection import Selection


class AcknowledgeStart(ModelView):
    "Acknowledge Alerts"
    __name__ = 'gnuhealth.shared_record.alert.acknowledge.start'

    alerts = fields.Many2Many(
        'gnuhealth.shared_record.alert', None, None, "Alerts", readonly=True)
    action = Selection(
        [a for a in ACTIONS if a[0]], "What Was Done", required=True)
    note = fields.Text(
        "Note", states={'required': Eval('action') == 'other'},
        help="What was done, in words, for the clinic and the next "
        "colleague.")


class Acknowledge(Wizard):
    "Acknowledge Alerts"
    __name__ = 'gnuhealth.shared_record.alert.acknowledge'

    start = StateView(
        'gnuhealth.shared_record.alert.acknowledge.start',
        'health_shared_record.alert_acknowledge_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Acknowledge", 'acknowledge', 'tryton-ok', default=True),
            ])
    acknowledge = StateTransition()

    def default_start(self, fields):
        Alert = Pool().get('gnuhealth.shared_record.alert')
        Alert.check_recipient(self.records)
        return {'alerts': [a.id for a in self.records if a.state == 'open']}

    def transition_acknowledge(self):
        Alert = Pool().get('gnuhealth.shared_record.alert')
        Alert.set_acknowledged(
            self.records, self.start.action, self.start.note,
            current_professional())
        return 'end'

    def end(self):
        return 'reload'


class OpenResult(Wizard):
    "Open the Result"
    __name__ = 'gnuhealth.shared_record.alert.open_result'

    start = StateTransition()
    document = StateAction('health_shared_record.act_document')
    laboratory = StateAction('health_lab.gnuhealth_action_tree_lab')

    def transition_start(self):
        pool = Pool()
        Alert = pool.get('gnuhealth.shared_record.alert')
        Step = pool.get('gnuhealth.shared_record.alert.step')
        alert = self.record
        Alert.check_recipient([alert])
        Step.record([(alert, 'seen', None, current_professional())])
        if alert.document:
            return 'document'
        if alert.origin:
            return 'laboratory'
        return 'end'

    def _open(self, action, record):
        action['pyson_domain'] = PYSONEncoder().encode(
            [('id', '=', record.id)])
        action['res_id'] = [record.id]
        action['views'].sort(key=lambda v: v[1] != 'form')
        return action, {}

    def do_document(self, action):
        return self._open(action, self.record.document)

    def do_laboratory(self, action):
        return self._open(action, self.record.origin)
