# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
from trytond.pool import Pool
from trytond.report import Report

from . import (
    alert, alert_wizard, condition, configuration, document, emergency,
    entry, evaluation, exchange, guard, lab, medicament, medication,
    offered, patient, prescription, prevention, prevention_recall,
    printing, privacy, professional, selection, trail, vaccination)

__all__ = ['register']


def register():
    Pool.register(
        configuration.Configuration,
        document.DocumentType,
        document.DocumentTypeGroup,
        document.Document,
        document.AddFileStart,
        medicament.Medicament,
        medication.PatientMedication,
        condition.PatientDisease,
        professional.HealthProfessional,
        patient.Patient,
        evaluation.PatientEvaluation,
        vaccination.Vaccination,
        prescription.PrescriptionOrder,
        prescription.PrescriptionLine,
        guard.Rule,
        guard.Attachment,
        guard.Note,
        guard.ModelLog,
        guard.ActorParty,
        guard.ActorProfessional,
        guard.ActorPatient,
        trail.AccessLog,
        trail.Consent,
        emergency.EmergencyAccess,
        emergency.Patient,
        emergency.DeclareStart,
        privacy.BlockedProfessional,
        privacy.BlockStart,
        privacy.Document,
        privacy.Patient,
        privacy.Party,
        privacy.Address,
        privacy.PersonName,
        privacy.AlternativeIdentification,
        prevention.Rule,
        prevention.RuleMedicament,
        prevention.Reminder,
        prevention.Notice,
        prevention.DismissStart,
        prevention.ImmunizationSchedule,
        prevention.Cron,
        prevention.Patient,
        prevention.Party,
        prevention.Vaccination,
        prevention.PatientProcedure,
        prevention.PatientDisease,
        prevention.Document,
        prevention_recall.Reminder,
        prevention_recall.RecallStart,
        exchange.Configuration,
        exchange.Document,
        exchange.Patient,
        exchange.Fetch,
        exchange.Cron,
        entry.Entry,
        entry.Patient,
        offered.Patient,
        offered.PatientEvaluation,
        offered.Vaccination,
        offered.PrescriptionOrder,
        offered.ImmunizationSchedule,
        offered.Document,
        offered.Reminder,
        offered.ActionKeyword,
        selection.Translation,
        alert.Configuration,
        alert.HealthProfessional,
        alert.Alert,
        alert.Step,
        alert_wizard.AcknowledgeStart,
        alert.Cron,
        alert.Document,
        module='health_shared_record', type_='model')
    Pool.register(
        document.AddFile,
        privacy.Block,
        emergency.Declare,
        privacy.OpenOwn,
        prevention.Dismiss,
        prevention_recall.Recall,
        prevention_recall.Book,
        alert_wizard.Acknowledge,
        alert_wizard.OpenResult,
        module='health_shared_record', type_='wizard')
    Pool.register(
        document.DocumentReport,
        prevention.CalendarReport,
        prevention_recall.RecallLetter,
        module='health_shared_record', type_='report')
    # With GNU Health's laboratory, when it is installed
    Pool.register(
        lab.AnalyteCode,
        lab.LabTestUnit,
        lab.Configuration,
        lab.Document,
        lab.Lab,
        module='health_shared_record', type_='model', depends=['health_lab'])
    Pool.register_mixin(
        printing.ReportConverter, Report, module='health_shared_record')
