# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
from trytond.exceptions import UserError, UserWarning
from trytond.model.exceptions import AccessError, ValidationError


class ConfigurationError(ValidationError):
    pass


class DocumentTypeError(ValidationError):
    pass


class PublishError(UserError):
    pass


class PublishWarning(UserWarning):
    pass


class FileError(ValidationError):
    pass


class DocumentFrozenError(AccessError):
    pass


class WithdrawError(UserError):
    pass


class MedicamentError(ValidationError):
    pass


class PrivacyError(UserError):
    pass


class EmergencyAccessError(UserError):
    pass


class AccessTrailError(AccessError):
    pass


class PreventionRuleError(ValidationError):
    pass


class PreventionError(UserError):
    pass


class ExchangeError(UserError):
    pass


class InputError(ValidationError):
    pass


class ReportConverterError(UserError):
    pass


class AlertError(UserError):
    pass


class MessagingError(UserError):
    pass


class ReconciliationError(UserError):
    pass
