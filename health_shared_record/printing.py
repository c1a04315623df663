# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Printing GNU Health's reports: their OpenDocument templates become PDF
through LibreOffice, which trytond runs as `soffice`.  Without it trytond
lets the missing program through as an "Application Error"; the user is
told instead what is missing and whom to ask."""
from trytond.i18n import gettext

from .exceptions import ReportConverterError

CONVERTER = 'soffice'


class ReportConverter:
    "Mixed into every report, GNU Health's and the module's"
    __slots__ = ()

    @classmethod
    def convert(cls, report, data, *args, **kwargs):
        try:
            return super().convert(report, data, *args, **kwargs)
        except FileNotFoundError as error:
            if error.filename != CONVERTER:
                raise
            raise ReportConverterError(gettext(
                    'health_shared_record.msg_report_converter_missing',
                    report=report.rec_name)) from error
