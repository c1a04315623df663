# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What a professional does with secure messages in the client: send
documents to a colleague, file a message of the Inbox into a patient's
record, or reject it.  The checks are the message's (messaging.py)."""
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Bool, Eval
from trytond.wizard import Button, StateTransition, StateView, Wizard


class SendStart(ModelView):
    "Send to a Colleague"
    __name__ = 'gnuhealth.shared_record.message.send.start'

    patient = fields.Many2One('gnuhealth.patient', "Patient", readonly=True)
    documents = fields.Many2Many(
        'gnuhealth.shared_record.document', None, None, "Documents",
        required=True,
        domain=[
            ('patient', '=', Eval('patient', -1)),
            ('state', '=', 'published'),
            ],
        help="The documents to send, of this patient.")
    professionals = fields.Many2Many(
        'gnuhealth.healthprofessional', None, None, "Colleagues",
        help="Professionals of the clinic receive the message in GNU "
        "Health; the others at their secure address.")
    addresses = fields.Char(
        "Other Secure Addresses",
        help="Secure e-mail addresses of colleagues outside the clinic, "
        "separated by commas.")
    subject = fields.Char("Subject", required=True)
    text = fields.Text("Message")
    receipt = fields.Boolean(
        "Ask for a Receipt",
        help="Be told when the colleague has read the documents.")
    masked = fields.Boolean("Masked", readonly=True)
    confirm_masked = fields.Boolean(
        "Send Documents the Patient Masked",
        states={
            'invisible': ~Eval('masked'),
            'required': Bool(Eval('masked')),
            },
        help="The patient masked some of these documents: send them only "
        "with the patient's agreement, or when the care needs it.")

    @fields.depends('documents')
    def on_change_with_masked(self):
        return any(
            d.masked or d.confidentiality == 'V' for d in self.documents)


class Send(Wizard):
    "Send to a Colleague"
    __name__ = 'gnuhealth.shared_record.message.send'

    start = StateView(
        'gnuhealth.shared_record.message.send.start',
        'health_shared_record.message_send_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Send", 'send', 'tryton-ok', default=True),
            ])
    send = StateTransition()

    def default_start(self, fields):
        pool = Pool()
        Document = pool.get('gnuhealth.shared_record.document')
        values = {'receipt': True}
        if self.model and self.model.__name__ == Document.__name__:
            documents = [d for d in self.records if d.state == 'published']
            Document.guard_check_readable([d.id for d in documents])
            if documents:
                values['patient'] = documents[0].patient.id
                values['documents'] = [d.id for d in documents
                    if d.patient == documents[0].patient]
                values['subject'] = documents[0].rec_name
                values['masked'] = any(
                    d.masked or d.confidentiality == 'V' for d in documents)
        elif self.record and self.model.__name__ == 'gnuhealth.patient':
            values['patient'] = self.record.id
        return values

    def transition_send(self):
        Message = Pool().get('gnuhealth.shared_record.message')
        addresses = [a for a in (self.start.addresses or '').replace(
                ';', ',').split(',') if a.strip()]
        Message.send_documents(
            list(self.start.documents), list(self.start.professionals),
            addresses, self.start.subject, self.start.text,
            receipt=self.start.receipt,
            confirmed=bool(self.start.confirm_masked))
        return 'end'


class FileStart(ModelView):
    "File a Message"
    __name__ = 'gnuhealth.shared_record.message.file.start'

    patient = fields.Many2One(
        'gnuhealth.patient', "Patient", required=True,
        help="The patient the message's documents are about.")
    reason = fields.Text("Why It Waits", readonly=True)


class File(Wizard):
    "File a Message"
    __name__ = 'gnuhealth.shared_record.message.file'

    start = StateView(
        'gnuhealth.shared_record.message.file.start',
        'health_shared_record.message_file_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("File", 'file_', 'tryton-ok', default=True),
            ])
    file_ = StateTransition()

    def default_start(self, fields):
        Message = Pool().get('gnuhealth.shared_record.message')
        Message.check_sender(self.records)
        return {'reason': '\n'.join(
                m.reason for m in self.records if m.reason)}

    def transition_file_(self):
        Message = Pool().get('gnuhealth.shared_record.message')
        Message.file_messages(self.records, self.start.patient)
        return 'end'

    def end(self):
        return 'reload'


class RejectStart(ModelView):
    "Reject a Message"
    __name__ = 'gnuhealth.shared_record.message.reject.start'

    reason = fields.Text(
        "Reason", required=True,
        help="Why the message is not filed: it stays, with the reason.")


class Reject(Wizard):
    "Reject a Message"
    __name__ = 'gnuhealth.shared_record.message.reject'

    start = StateView(
        'gnuhealth.shared_record.message.reject.start',
        'health_shared_record.message_reject_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Reject", 'reject', 'tryton-ok', default=True),
            ])
    reject = StateTransition()

    def default_start(self, fields):
        Message = Pool().get('gnuhealth.shared_record.message')
        Message.check_sender(self.records)
        return {}

    def transition_reject(self):
        Message = Pool().get('gnuhealth.shared_record.message')
        Message.reject(self.records, self.start.reason)
        return 'end'

    def end(self):
        return 'reload'
