"""Settings of the local Qonto emulator and its fixed, documented local credentials.

The credentials below are public on purpose: they only ever open the emulator, never Qonto.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .scopes import ALL_SCOPES, parse_scopes
from .siren import is_valid_siren

EMULATOR_LOGIN = "emulator-org"
EMULATOR_SECRET_KEY = "emulator-local-secret"  # noqa: S105 - public local credential, documented
EMULATOR_API_KEY = f"{EMULATOR_LOGIN}:{EMULATOR_SECRET_KEY}"
EMULATOR_STAGING_TOKEN = "emulator-staging-token"  # noqa: S105 - public local credential
EMULATOR_OAUTH_CLIENT_ID = "emulator-oauth-client"
EMULATOR_OAUTH_CLIENT_SECRET = "emulator-oauth-secret"  # noqa: S105 - public local credential
EMULATOR_OAUTH_REFRESH_TOKEN = "emulator-refresh-0"  # noqa: S105 - public local credential

# Host of signed download URLs when the app runs in-process (no TCP server): it must differ from
# the API host so that a test can prove no credential is sent there. `.invalid` never resolves.
IN_PROCESS_API_BASE_URL = "http://qonto-emulator.invalid"
IN_PROCESS_FILES_BASE_URL = "http://files.qonto-emulator.invalid"

STATE_FILE_NAME = "qonto-emulator.sqlite"
OUTBOX_DIR_NAME = "emulator-outbox"


def default_state_path() -> Path:
    """``$BILLING_STATE_DIR/qonto-emulator.sqlite``, the state dir defaulting to ``.state`` in the cwd."""
    return Path(os.environ.get("BILLING_STATE_DIR") or ".state") / STATE_FILE_NAME


class EmulatorConfig(BaseModel):
    """Every knob of the emulator. Rates are probabilities per API request (0 = never)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_path: Path = Field(default_factory=default_state_path)
    # seconds between finalize and the Factur-X PDF replacing the draft PDF (Qonto: ~10 s)
    render_delay_s: float = Field(default=10.0, ge=0)
    # after finalize the invoice's attachment_id reads null for up to this many seconds (the exact
    # gap per invoice is derived from its id, so every process agrees); 0 = never null
    attachment_gap_s: float = Field(default=0.0, ge=0)
    latency_ms: int = Field(default=0, ge=0)
    fault_rate: float = Field(default=0.0, ge=0, le=1)
    lost_response_rate: float = Field(default=0.0, ge=0, le=1)
    # Qonto's documented budget per client IP; 0 disables a window
    rate_limit_10s: int = Field(default=1000, ge=0)
    rate_limit_10min: int = Field(default=10000, ge=0)
    sandbox: bool = False
    # answer 403 to finalize (and to create-as-unpaid) under API-key auth: an open question on Qonto
    refuse_api_key_finalize: bool = False
    max_unit_price_decimals: int = Field(default=6, ge=0, le=10)
    max_quantity_decimals: int = Field(default=4, ge=0, le=10)
    seed: int | None = None
    # base of signed download URLs; None = the in-process host (the servers set their own)
    files_base_url: str | None = None
    url_ttl_s: int = Field(default=1800, ge=0)
    # where POST …/send writes its RFC 5322 messages; None = emulator-outbox/ beside the state file
    outbox_dir: Path | None = None
    # seconds between e-invoicing lifecycle steps: submitted (200) → issued (201) → received (202)
    einvoicing_delay_s: float = Field(default=5.0, ge=0)
    # French companies with a valid SIREN are reachable on the network unless listed here
    einvoicing_unreachable: frozenset[str] = frozenset()
    # buyers whose platform refuses the invoice (lifecycle 210) instead of receiving it (202)
    einvoicing_refuse: frozenset[str] = frozenset()
    # the organization has not enabled e-invoicing: GET /v2/einvoicing/settings says so, and what is
    # finalized from then on (invoices, credit notes) gets a plain PDF without factur-x.xml
    einvoicing_disabled: bool = False
    # the OAuth scopes the credentials carry (API key and OAuth tokens alike); a call needing another
    # one is answered 403 before it is validated. Default: every scope an emulated endpoint needs
    scopes: frozenset[str] = ALL_SCOPES

    @field_validator("scopes", mode="before")
    @classmethod
    def _scope_list(cls, value: object) -> object:
        # the CLI passes "scope,scope"; Python callers may pass any iterable of names
        if isinstance(value, str | list | tuple | set | frozenset):
            return parse_scopes(value)
        return value

    @field_validator("einvoicing_unreachable", "einvoicing_refuse", mode="before")
    @classmethod
    def _siren_list(cls, value: object) -> object:
        # the CLI passes "SIREN,SIREN"; Python callers may pass any iterable of strings
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple | set | frozenset):
            sirens = frozenset(str(part).replace(" ", "").strip() for part in value)
            bad = sorted(siren for siren in sirens if not is_valid_siren(siren))
            if bad:
                raise ValueError(f"not a valid SIREN (9 digits, Luhn key): {', '.join(bad)}")
            return sirens
        return value

    @field_validator("files_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("files_base_url must start with http:// or https://")
        return value.rstrip("/")

    @property
    def effective_files_base_url(self) -> str:
        return self.files_base_url or IN_PROCESS_FILES_BASE_URL

    @property
    def effective_outbox_dir(self) -> Path:
        return self.outbox_dir if self.outbox_dir is not None else self.state_path.parent / OUTBOX_DIR_NAME
