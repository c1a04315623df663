# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
import datetime as dt
import re
import time
import unicodedata
from zoneinfo import ZoneInfo

from trytond.i18n import gettext
from trytond.model import Model, ModelView, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

from .exceptions import InputError, PublishError

# What a clinician types for others to read, within sensible bounds
TITLE_LIMIT = 255
REASON_LIMIT = 2000
# The care a document tells of took place in a patient's lifetime
EARLIEST_CARE = dt.datetime(1900, 1, 1)
_WORD_CHARACTER = re.compile(r'[^\W_]')


def current_professional():
    """Return the health professional whose party logs in as the current
    user, or raise a clear error: documents are always signed by someone"""
    Professional = Pool().get('gnuhealth.healthprofessional')
    transaction = Transaction()
    # Who publishes what the server publishes as root for someone (a
    # laboratory test published on its validation): never from a client,
    # whose calls are never root's
    if transaction.user == 0 and transaction.context.get(
            'shared_record_publisher'):
        return Professional(transaction.context['shared_record_publisher'])
    professionals = Professional.search([
            ('party.internal_user', '=', Transaction().user),
            ('party.is_healthprof', '=', True),
            ], limit=1)
    if not professionals:
        raise PublishError(gettext(
                'health_shared_record.msg_no_professional'))
    return professionals[0]


def clinic_company():
    """The clinic's company: that in the context, else the clinic's only
    company (a patient's login, a script or a cron has none)"""
    Company = Pool().get('company.company')
    company_id = Transaction().context.get('company')
    if company_id is not None and company_id >= 0:
        return Company(company_id)
    with Transaction().set_user(0):
        companies = Company.search([], limit=2)
    if len(companies) == 1:
        return companies[0]


def clinic_today():
    """Today in the clinic's time zone, the same day whoever asks: that of
    the company in the context, else of the clinic's only company, else the
    server's"""
    Date = Pool().get('ir.date')
    if Transaction().context.get('company', -1) < 0:
        company = clinic_company()
        if company is not None and company.timezone:
            return Date.today(timezone=ZoneInfo(company.timezone))
    return Date.today()


def clinic_timezone():
    """The clinic's time zone (its company's), in which documents tell
    times; None for UTC"""
    name = Transaction().context.get('shared_record_timezone')
    if name is None:
        company = clinic_company()
        name = company.timezone if company is not None else None
    return ZoneInfo(name) if name else None


def local_date(value):
    """The day of value in the clinic's time zone: trytond's datetimes are
    naive UTC, and a vaccine given at 00:30 in Paris was given that day"""
    if isinstance(value, dt.datetime):
        zone = clinic_timezone()
        if zone is not None:
            value = value.replace(tzinfo=dt.timezone.utc).astimezone(zone)
        return value.date()
    return value


class StorableText:
    """Refuse the NUL character, which PostgreSQL cannot store, and texts
    longer than their field's limit (text_limits), with a clear error
    before the database refuses them with its own (an index holds no
    novel)"""
    __slots__ = ()

    @classmethod
    def text_limits(cls):
        "{field name: the most characters it keeps}"
        return {}

    @classmethod
    def create(cls, vlist):
        for values in vlist:
            cls.check_storable_text(values)
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        for values in args[1::2]:
            cls.check_storable_text(values)
        super().write(*args)

    @classmethod
    def check_storable_text(cls, values):
        limits = cls.text_limits()
        for name, value in values.items():
            if not isinstance(value, str):
                continue
            if '\x00' in value:
                raise InputError(gettext(
                        'health_shared_record.msg_text_nul',
                        field=cls.__names__(name)['field']))
            if name in limits and len(value) > limits[name]:
                raise InputError(gettext(
                        'health_shared_record.msg_text_too_long',
                        field=cls.__names__(name)['field'],
                        limit=limits[name]))


def has_words(text):
    """Whether text says something: letters or digits, not only spaces,
    punctuation or invisible characters"""
    return len(_WORD_CHARACTER.findall(text or '')) >= 3


def check_plausible_date(record, name, start, end):
    """Refuse a date (or date and time) of record outside [start, end], of
    the same type"""
    value = getattr(record, name)
    if value is not None and not (start <= value <= end):
        raise InputError(gettext(
                'health_shared_record.msg_date_implausible',
                field=record.__names__(name)['field'],
                start=start.strftime('%Y-%m-%d'),
                end=end.strftime('%Y-%m-%d')))


def label(name):
    "Return a fixed word of document narratives in the document language"
    return gettext(f'health_shared_record.msg_cda_{name}')


# Labels of fields and selections, by model, field and language: the
# documents of a batch repeat the same few, and looking one up in the
# translations costs more than building a whole section.  A plain dict, as
# trytond's Cache copies what it returns; a label edited in the
# translations shows in new documents within the hour.
_LABELS = {}
_LABELS_LIFETIME = 3600


def _field_description(model, name):
    key = (model.__name__, name, Transaction().language)
    now = time.monotonic()
    cached = _LABELS.get(key)
    if cached is None or cached[0] < now:
        # The labels of the narrative are not the reader's access rights
        with Transaction().set_user(0):
            definition = model.fields_get([name])[name]
        cached = (now + _LABELS_LIFETIME, {
                'string': definition['string'],
                'selection': dict(definition.get('selection') or []),
                })
        _LABELS[key] = cached
    return cached[1]


def field_label(record, name):
    "Return the label of a field of record in the current language"
    return _field_description(record.__class__ if isinstance(
            record, Model) else record, name)['string']


def selection_label(record, name):
    "Return the label of the value of a selection field, translated"
    selection = _field_description(record.__class__, name)['selection']
    return selection.get(getattr(record, name)) or ''


def join(*values):
    return ' '.join(str(v) for v in values if v not in (None, ''))


class SharedRecordOrigin:
    """A GNU Health record from which a shared document is published.

    The model says which document type it makes, what the document's
    metadata are and what its sections hold; publishing, numbering and
    versioning belong to the document."""
    __slots__ = ()
    shared_record_type_code = None
    # The document fields that make a new version when they change, with
    # the body: a summary, dated when published, changes by its content
    shared_record_versioned_fields = (
        'title', 'effective_date', 'institution', 'author')

    shared_record_documents = fields.One2Many(
        'gnuhealth.shared_record.document', 'origin', "Shared Documents",
        readonly=True,
        help="The versions of the documents published from this record.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'publish_shared_record': cls.publish_shared_record_states(),
                })

    @classmethod
    def publish_shared_record_states(cls):
        return {}

    @classmethod
    @ModelView.button
    def publish_shared_record(cls, records):
        Document = Pool().get('gnuhealth.shared_record.document')
        Document.publish_records(records)

    @classmethod
    def check_shared_record(cls, records):
        "Raise a clear error for records that cannot be published"

    def get_shared_record_values(self, document_type):
        """Return the field values of the document of document_type published
        from the record"""
        return {
            'document_type': document_type,
            'title': document_type.name,
            'author': self.get_shared_record_author(),
            }

    def get_shared_record_author(self):
        """The health professional who did the act the record tells of;
        None for the publisher"""
        return None

    def get_shared_record_signer(self):
        """The health professional who signed the record, who attests the
        document; None for the publisher"""
        return None

    def get_shared_record_referrer(self):
        "The health professional who asked for what the record tells of"
        return None

    def get_shared_record_sections(self):
        "Return the cda.Section list of the document body"
        raise NotImplementedError


def send_email(to, subject, body):
    """Send an email when the transaction commits, from the address of the
    trytond configuration: nothing is sent for a change that is undone"""
    from email.message import EmailMessage

    from trytond.config import config
    from trytond.sendmail import sendmail_transactional
    sender = config.get('email', 'from')
    message = EmailMessage()
    message['From'] = sender
    message['To'] = to
    message['Subject'] = subject
    message.set_content(body)
    sendmail_transactional(sender, [to], message)


def folded(text):
    "Text as compared: its words in lower case, without accents"
    decomposed = unicodedata.normalize('NFKD', text or '')
    return ' '.join(''.join(
            c for c in decomposed if not unicodedata.combining(c)
            ).casefold().split())
