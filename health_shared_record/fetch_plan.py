# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What a fetch asks the repository for, and when fetches run: a patient's
first fetch looks two years back, and for vaccinations at any date; the
next ones ask only for what changed in the repository since the last that
succeeded; "Fetch All" asks for everything again; and each evening a fetch
is queued for the patients expected the next day."""
import datetime as dt

from trytond.config import config
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction, without_check_access

from . import mhd
from .common import clinic_timezone, clinic_today

LOOK_BACK_YEARS = 2
# A vaccination counts for life (schedules, boosters, travel): the module's
# own type, and the CDA section code other software titles them with
VACCINATION_TYPES = ('87273-9', '11369-6')
# A patient fetched that recently is not fetched again for an appointment
FRESH = dt.timedelta(hours=12)
NOT_COMING = ('user_cancelled', 'center_cancelled', 'no_show')


def look_back(today):
    "The first day a fetch that is not Fetch All imports documents from"
    try:
        return today.replace(year=today.year - LOOK_BACK_YEARS)
    except ValueError:  # 29 February
        return today.replace(year=today.year - LOOK_BACK_YEARS, day=28)


def margin():
    """How long before the repository's clock at the search the next fetch
    asks from: a server stamps a resource when its transaction starts but
    shows it once committed, so one committed while we searched may carry
    an earlier instant; and clocks drift, the repository's and ours when it
    does not tell its own (its HTTP Date).  What is asked for again only
    comes back "already here"."""
    return dt.timedelta(seconds=config.getint(
            'health_shared_record', 'fetch_margin', default=300))


def fhir_instant(value):
    "A naive UTC datetime as a FHIR instant"
    return value.strftime('%Y-%m-%dT%H:%M:%SZ')


def searches(since, window):
    """The criteria of each ITI-67 search of a fetch: everything without a
    window (Fetch All); what changed since, when a fetch succeeded before;
    else the documents dated in the window and the vaccinations"""
    if window is None:
        return [{}]
    if since is not None:
        # Not limited by date: a document fetched by a Fetch All may have
        # been replaced or withdrawn since; wanted() keeps the window
        return [{'_lastUpdated': 'ge' + fhir_instant(since)}]
    # DocumentReference.date is FHIR's `date` search parameter, which
    # Medplum supports; ITI-67's `creation` (content.attachment.creation)
    # is an IHE one Medplum does not know, and it then finds nothing
    return [
        {'date': 'ge' + window.isoformat()},
        {'type': ','.join(f'{mhd.LOINC}|{c}' for c in VACCINATION_TYPES)},
        ]


def wanted(reference, window):
    "Whether a document found and not held here is imported"
    return (window is None
        or reference.type_code in VACCINATION_TYPES
        or reference.date is None
        or reference.date.date() >= window)


def day_bounds(day):
    "The first instant of day in the clinic and of the next, naive UTC"
    zone = clinic_timezone() or dt.timezone.utc
    start = dt.datetime.combine(day, dt.time(), tzinfo=zone)
    return tuple(
        i.astimezone(dt.timezone.utc).replace(tzinfo=None)
        for i in (start, start + dt.timedelta(days=1)))


class Configuration(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.configuration'

    fetch_ahead = fields.Boolean(
        "Fetch Before Appointments",
        help="Each evening, fetch the documents of other clinics for the "
        "patients who have an appointment the next day.")

    @classmethod
    def default_fetch_ahead(cls):
        return True


class Patient(metaclass=PoolMeta):
    __name__ = 'gnuhealth.patient'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'fetch_all_shared_record': {},
                })

    @classmethod
    @ModelView.button
    def fetch_all_shared_record(cls, patients):
        """Fetch every document the repository holds for the patients, of
        any date, as if none had been fetched: after the repository lost
        or rebuilt its index"""
        cls.queue_shared_record_fetch(patients, full=True)


class Fetch(metaclass=PoolMeta):
    __name__ = 'gnuhealth.shared_record.fetch'

    full = fields.Boolean(
        "Fetch All", readonly=True,
        help="Every document of the patient, of any date, was asked for.")
    repository_url = fields.Char("Repository", readonly=True)
    since = fields.DateTime(
        "Changed Since", readonly=True,
        help="Only what changed in the repository since then was asked "
        "for (the last fetch that succeeded); empty for a first fetch.")
    query = fields.Char(
        "Query", readonly=True,
        help="The search criteria sent to the repository (ITI-67), besides "
        "the patient and the statuses.")
    mark = fields.DateTime(
        "Next Fetch From", readonly=True,
        help="The next fetch of the patient asks for what changed in the "
        "repository since then; set only when the fetch succeeded.")

    def previous_mark(self):
        "Where the last fetch that succeeded from this repository stopped"
        fetches = self.search([
                ('patient', '=', self.patient.id),
                ('repository_url', '=', self.repository_url),
                ('state', '=', 'done'),
                ('mark', '!=', None),
                ], order=[('mark', 'DESC')], limit=1)
        return fetches[0].mark if fetches else None

    def find(self, connection, patient, window):
        """ITI-67 for what this fetch wants: the resources, each once, and
        the instant the next fetch may ask from"""
        self.since = None if window is None else self.previous_mark()
        plan = searches(self.since, window)
        self.query = ' ; '.join(
            '&'.join(f'{k}={v}' for k, v in c.items()) or '*' for c in plan)
        started = dt.datetime.utcnow()
        resources, seen, clocks = [], set(), []
        for criteria in plan:
            found = connection.find_references(
                mhd.system_uri(patient.system), patient.value,
                criteria=criteria)
            clocks.append(found.server_time or started)
            for resource in found:
                key = resource.get('id') or id(resource)
                if key not in seen:
                    seen.add(key)
                    resources.append(resource)
        return resources, min(clocks) - margin()

    @classmethod
    def fetch_ahead(cls):
        """Queue a fetch for each patient expected tomorrow (a cron, in the
        evening), so that what other clinics published is here when they
        come; each fetch is a task of its own, which fails alone"""
        pool = Pool()
        Appointment = pool.get('gnuhealth.appointment')
        Configuration = pool.get('gnuhealth.shared_record.configuration')
        configuration = Configuration(1)
        if not configuration.repository_url or not configuration.fetch_ahead:
            return []
        start, end = day_bounds(clinic_today() + dt.timedelta(days=1))
        with Transaction().set_user(0), without_check_access():
            appointments = Appointment.search([
                    ('appointment_date', '>=', start),
                    ('appointment_date', '<', end),
                    ('patient', '!=', None),
                    ['OR',
                        ('state', '=', None),
                        ('state', 'not in', NOT_COMING),
                        ],
                    ], order=[])
            patients = {
                a.patient for a in appointments
                if not a.patient.shared_record_opposition}
            recent = cls.search([
                    ('patient', 'in', [p.id for p in patients]),
                    ('create_date', '>=', dt.datetime.now() - FRESH),
                    ['OR',
                        ('state', '=', 'pending'),
                        [('state', '=', 'done'), ('repository_url', '=',
                                configuration.repository_url)],
                        ],
                    ], order=[])
            patients -= {f.patient for f in recent}
            fetches = cls.create([
                    {'patient': p.id}
                    for p in sorted(patients, key=lambda p: p.id)])
            # As root: the task finds its fetch as the user who queued it,
            # and an administrator who runs the cron by hand sees none
            for fetch in fetches:
                cls.__queue__.run([fetch])
        return fetches


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('gnuhealth.shared_record.fetch|fetch_ahead',
                "Fetch Shared Records Before Appointments"))
