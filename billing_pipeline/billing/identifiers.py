"""Identifier checks: countries, SIREN/SIRET, VAT numbers, e-mail addresses.

Each check returns the normalized value or raises ``ValueError`` with a reason meant for the
person fixing the input file.
"""

from __future__ import annotations

import re

from stdnum import get_cc_module
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret

# ISO 3166-1 alpha-2 (2026), as listed by the IANA time zone database's iso3166.tab.
COUNTRY_CODES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT
    BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH
    ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT
    HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS
    LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI
    NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG
    SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
    UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """.split()
)

EU_MEMBER_STATES = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
# Monaco belongs to the French VAT territory: its businesses carry FR VAT numbers.
FRENCH_VAT_TERRITORY = frozenset({"FR", "MC"})

# VAT number prefixes that differ from the ISO country code.
_VAT_PREFIX = {"GR": "EL", "MC": "FR"}

_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def country_code(value: str) -> str:
    code = value.strip().upper()
    if code not in COUNTRY_CODES:
        raise ValueError("not an ISO 3166-1 alpha-2 country code (e.g. FR, DE, BE)")
    return code


def email_address(value: str) -> str:
    address = value.strip()
    if len(address) > 254 or _EMAIL.fullmatch(address) is None:
        raise ValueError("not a valid e-mail address")
    return address


def siren_or_siret(value: str) -> str:
    """A French company's SIREN (9 digits) or SIRET (14 digits), checksum verified."""
    compact = re.sub(r"[\s.-]", "", value)
    try:
        if len(compact) == 9:
            return fr_siren.validate(compact)
        if len(compact) == 14:
            return fr_siret.validate(compact)
    except ValidationError as error:
        raise ValueError(f"not a valid SIREN/SIRET: {error}") from None
    raise ValueError("a French company's tax identification number is its SIREN (9 digits) or SIRET (14)")


def vat_number(value: str, country: str, siren: str | None) -> str:
    """A VAT number valid for ``country``; a French one must also match the company's SIREN."""
    compact = re.sub(r"[\s.-]", "", value).upper()
    prefix = _VAT_PREFIX.get(country, country)
    if country in EU_MEMBER_STATES or country in FRENCH_VAT_TERRITORY:
        if not compact.startswith(prefix):
            raise ValueError(f"a VAT number of a customer in {country} starts with {prefix}")
        try:
            compact = eu_vat.validate(compact)
        except ValidationError as error:
            raise ValueError(f"not a valid {prefix} VAT number: {error}") from None
        if prefix == "FR" and siren is not None and compact[4:] != siren:
            raise ValueError(f"this FR VAT number belongs to SIREN {compact[4:]}, not to the customer's {siren}")
    else:
        module = get_cc_module(country.lower(), "vat")
        if module is not None:
            try:
                compact = module.validate(compact)
            except ValidationError as error:
                raise ValueError(f"not a valid {country} VAT number: {error}") from None
    if len(compact) > 20:
        raise ValueError("VAT numbers are at most 20 characters on Qonto")
    return compact
