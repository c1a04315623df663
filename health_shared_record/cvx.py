# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""The WHO ATC class (J07) of the common vaccines other clinics code in CDC's
CVX (code system 2.16.840.1.113883.12.292) without an ATC translation, so
that the prevention rules, which name vaccines by ATC, count them.

A CVX code stands for a product type, an ATC code for a class: each code
maps to the narrowest class that holds every product of the type, the
5-character group when the type is "unspecified formulation".  Codes left
out (combinations and products without a clear class) simply do not count;
an ATC translation in the document, when there is one, always wins."""

CVX_ATC = {
    # Influenza: inactivated (split, subunit, cell culture, recombinant,
    # adjuvanted, high dose) J07BB02, live attenuated (intranasal) J07BB03
    '88': 'J07BB',    # influenza, unspecified formulation
    '111': 'J07BB03',  # influenza, live, intranasal
    '135': 'J07BB02',  # influenza, high dose seasonal
    '140': 'J07BB02',  # influenza, seasonal, injectable, preservative free
    '141': 'J07BB02',  # influenza, seasonal, injectable
    '149': 'J07BB03',  # influenza, live, intranasal, quadrivalent
    '150': 'J07BB02',  # influenza, injectable, quadrivalent, preserv. free
    '153': 'J07BB02',  # influenza, injectable, MDCK, preservative free
    '155': 'J07BB02',  # influenza, recombinant, injectable, preserv. free
    '158': 'J07BB02',  # influenza, injectable, quadrivalent
    '161': 'J07BB02',  # influenza, injectable, quadrivalent, PF, pediatric
    '168': 'J07BB02',  # influenza, trivalent, adjuvanted
    '171': 'J07BB02',  # influenza, injectable, MDCK, PF, quadrivalent
    '185': 'J07BB02',  # influenza, recombinant, quadrivalent, PF
    '197': 'J07BB02',  # influenza, high-dose, quadrivalent
    '205': 'J07BB02',  # influenza, adjuvanted, quadrivalent
    # Tetanus, diphtheria, pertussis and their combinations with polio,
    # Hib and hepatitis B
    '35': 'J07AM01',   # tetanus toxoid, adsorbed
    '112': 'J07AM01',  # tetanus toxoid, unspecified formulation
    '09': 'J07AM51',   # Td (adult), adsorbed
    '113': 'J07AM51',  # Td (adult), preservative free
    '138': 'J07AM51',  # Td (adult), not adsorbed
    '139': 'J07AM51',  # Td (adult), unspecified formulation
    '20': 'J07AJ52',   # DTaP
    '106': 'J07AJ52',  # DTaP, 5 pertussis antigens
    '107': 'J07AJ52',  # DTaP, unspecified formulation
    '115': 'J07AJ52',  # Tdap
    '130': 'J07CA02',  # DTaP-IPV
    '120': 'J07CA06',  # DTaP-Hib-IPV
    '110': 'J07CA12',  # DTaP-HepB-IPV
    '146': 'J07CA09',  # DTaP-IPV-Hib-HepB
    # Pneumococcal: polysaccharide J07AL01, conjugate J07AL02
    '33': 'J07AL01',   # pneumococcal polysaccharide PPV23
    '100': 'J07AL02',  # pneumococcal conjugate PCV 7
    '133': 'J07AL02',  # pneumococcal conjugate PCV 13
    '152': 'J07AL02',  # pneumococcal conjugate, unspecified formulation
    '215': 'J07AL02',  # pneumococcal conjugate PCV 15
    '216': 'J07AL02',  # pneumococcal conjugate PCV 20
    '109': 'J07AL',    # pneumococcal, unspecified formulation
    # Human papillomavirus
    '62': 'J07BM01',   # HPV, quadrivalent
    '118': 'J07BM02',  # HPV, bivalent
    '165': 'J07BM03',  # HPV9
    '137': 'J07BM',    # HPV, unspecified formulation
    # Measles, mumps, rubella (and varicella)
    '03': 'J07BD52',   # MMR
    '94': 'J07BD54',   # MMRV
    # Hepatitis B (and A)
    '08': 'J07BC01',   # Hep B, adolescent or pediatric
    '43': 'J07BC01',   # Hep B, adult
    '44': 'J07BC01',   # Hep B, dialysis
    '45': 'J07BC01',   # Hep B, unspecified formulation
    '189': 'J07BC01',  # HepB-CpG
    '104': 'J07BC20',  # Hep A-Hep B
    # Zoster: live J07BK02, recombinant (adjuvanted subunit) J07BK03
    '121': 'J07BK02',  # zoster live
    '187': 'J07BK03',  # zoster recombinant
    '188': 'J07BK',    # zoster, unspecified formulation
    # COVID-19: mRNA J07BN01, viral vector J07BN02, protein subunit J07BN04
    '207': 'J07BN01',  # COVID-19, mRNA, 100 mcg/0.5 mL
    '208': 'J07BN01',  # COVID-19, mRNA, 30 mcg/0.3 mL
    '217': 'J07BN01',  # COVID-19, mRNA, 30 mcg/0.3 mL, tris-sucrose
    '218': 'J07BN01',  # COVID-19, mRNA, 10 mcg/0.2 mL, tris-sucrose
    '219': 'J07BN01',  # COVID-19, mRNA, 3 mcg/0.2 mL, tris-sucrose
    '221': 'J07BN01',  # COVID-19, mRNA, 50 mcg/0.25 mL
    '228': 'J07BN01',  # COVID-19, mRNA, 25 mcg/0.25 mL
    '210': 'J07BN02',  # COVID-19, vector-nr, rChAdOx1
    '212': 'J07BN02',  # COVID-19, vector-nr, rS-Ad26
    '211': 'J07BN04',  # COVID-19, subunit, rS-nanoparticle+Matrix-M1
    '213': 'J07BN',    # COVID-19, unspecified
    # Meningococcal: ACWY conjugate J07AH08, ACWY polysaccharide J07AH04,
    # C conjugate J07AH07, B J07AH09
    '32': 'J07AH04',   # meningococcal MPSV4
    '114': 'J07AH08',  # meningococcal MCV4P
    '136': 'J07AH08',  # meningococcal MCV4O
    '147': 'J07AH08',  # meningococcal MCV4, unspecified formulation
    '203': 'J07AH08',  # meningococcal MenACWY-TT
    '103': 'J07AH07',  # meningococcal C conjugate
    '162': 'J07AH09',  # meningococcal B, recombinant
    '163': 'J07AH09',  # meningococcal B, OMV
    '164': 'J07AH',    # meningococcal B, unspecified formulation
    '108': 'J07AH',    # meningococcal, unspecified formulation
    }


def vaccine_atc(atc, code, system):
    """The ATC class of an immunization another clinic stated: its ATC
    translation, its code when coded in ATC, else its CVX code's class"""
    if atc:
        return atc.strip().upper()
    code = (code or '').strip()
    if system == 'ATC':
        return code.upper() or None
    if system == 'CVX':
        # CVX codes are written with or without their leading zero
        return CVX_ATC.get(code) or CVX_ATC.get(code.zfill(2))
    return None
