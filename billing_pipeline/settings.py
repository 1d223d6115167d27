"""Runtime settings read from the environment (the variables of ../shared/contracts.md).

The one place a setting is declared: each field names its environment variable, its default, whether
it may hold a secret and which Dagster resources receive it (``Env`` in its annotation). ``from_env``
and the resources of ``defs/resources.py`` are derived from these declarations, so adding a setting
is one line here, e.g.::

    reissue_canceled: Annotated[bool, Env("BILLING_REISSUE_CANCELED", BILLING)] = False
    # after a finalized period's usage changed: "auto" issues the corrections on the next run,
    # "review" computes and shows them, issued only by an explicit materialization of invoice_corrections
    corrections: Annotated[str, Env("BILLING_CORRECTIONS", BILLING)] = "auto"

which ``from_env`` reads, the ``billing`` resource declares (config field + default) and receives.

Secret-capable values are held as ``SecretStr`` (never in a repr or a log line); the Dagster layer
passes them on only as ``EnvVar``s, so their values never reach run config, the UI or logs.
This module stays Dagster-free: it only says what a resource gets, not how Dagster is told.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo

from billing_pipeline.billing.mentions import LegalMentions
from billing_pipeline.billing.sql_usage import SqlUsageSource
from billing_pipeline.billing.usage import UsageSource

# The resources a setting can go to. QONTO_SERVER: the ``qonto`` resource, but only when it talks to
# a server — the embedded emulator uses its own public local credentials, never the user's.
BILLING = "billing"
QONTO = "qonto"
QONTO_SERVER = "qonto_server"

# where steps hand values to each other (the Dagster IO manager): "filesystem" = Dagster's default,
# pickles under $DAGSTER_HOME/storage, for one machine; "s3" = pickles in an S3(-compatible) bucket,
# for run pods on different nodes (deploy/kubernetes: a retried or partial run starts on another pod)
IO_MANAGERS = ("filesystem", "s3")


# the reform's mandatory mentions (Qonto invoice `settings`, qonto-api.md §8.3): defaults documented in
# the README. Art. L441-10 C. com.: late-payment penalties (at least three times the legal interest
# rate) and the fixed €40 recovery indemnity (art. D441-5) for business customers; art. 242 nonies A
# annexe II CGI: the discount conditions for early payment.
TRANSACTION_TYPES = ("services", "goods", "goods_and_services")
# Qonto's enum [3rd]: on_receipts = VAT due on receipts (the rule for services, "TVA sur les
# encaissements"); compensated_for_sales = the seller opted for debits ("option pour les débits")
VAT_PAYMENT_CONDITIONS = ("on_receipts", "compensated_for_sales", "exempt")
MAX_MENTION_LENGTH = 525
DEFAULT_LATE_PENALTIES = (
    "En cas de retard de paiement, pénalités exigibles au taux de trois fois le taux d'intérêt légal "
    "(art. L441-10 du Code de commerce)."
)
DEFAULT_RECOVERY_INDEMNITY = (
    "Indemnité forfaitaire pour frais de recouvrement due en cas de retard de paiement : 40 € "
    "(art. D441-5 du Code de commerce)."
)
DEFAULT_DISCOUNT_CONDITIONS = "Pas d'escompte pour paiement anticipé."


class QontoMode(StrEnum):
    EMULATOR = "emulator"  # no credentials: the embedded local emulator, in-process
    CUSTOM = "custom"  # credentials + QONTO_BASE_URL: that server, treated exactly like Qonto
    SANDBOX = "sandbox"  # credentials + QONTO_STAGING_TOKEN
    PRODUCTION = "production"  # credentials only


@dataclass(frozen=True)
class EnvSetting:
    """Where a setting comes from (``variable``) and where it goes (``resources``)."""

    variable: str
    resources: tuple[str, ...] = ()
    # may hold a secret: Dagster is only ever given the variable's name (an EnvVar), never the value
    secret: bool = False
    # resources get the settings' ``resolved_<field>`` (a default that depends on other settings)
    resolved: bool = False


def Env(variable: str, *resources: str, resolved: bool = False) -> EnvSetting:
    return EnvSetting(variable, resources, secret=False, resolved=resolved)


def SecretEnv(variable: str, *resources: str) -> EnvSetting:
    return EnvSetting(variable, resources, secret=True)


def env_setting(field: FieldInfo) -> EnvSetting | None:
    return next((m for m in field.metadata if isinstance(m, EnvSetting)), None)


class BillingSettings(BaseModel):
    data_dir: Annotated[Path, Env("BILLING_DATA_DIR", BILLING)] = Path("data")
    invoices_dir: Annotated[Path | None, Env("BILLING_INVOICES_DIR", BILLING, resolved=True)] = None
    state_dir: Annotated[Path, Env("BILLING_STATE_DIR", BILLING, QONTO)] = Path(".state")
    timezone: Annotated[str, Env("BILLING_TIMEZONE", BILLING)] = "Europe/Paris"
    first_period: Annotated[str, Env("BILLING_FIRST_PERIOD")] = "2026-08"
    emulator_render_delay_s: Annotated[float, Env("QONTO_EMULATOR_RENDER_DELAY", QONTO)] = 10.0
    # seconds between the embedded emulator's e-invoicing lifecycle steps (submitted → issued → received)
    emulator_einvoicing_delay_s: Annotated[float, Field(ge=0), Env("QONTO_EMULATOR_EINVOICING_DELAY", QONTO)] = 5.0
    # requests in flight at once per process (each still takes a permit of the shared request budget):
    # Qonto's 100 requests/s at ~80 ms latency need at least 8, more absorb slower answers
    max_concurrency: Annotated[int, Field(ge=1, le=64), Env("QONTO_MAX_CONCURRENCY", QONTO)] = 24
    # the request budget per egress IP, 5 % below Qonto's 1,000 requests / 10 s and 10,000 / 10 min:
    # lower it when another Qonto client shares the IP (and in tests, to see the budget bind)
    rate_limit_10s: Annotated[int, Field(ge=1, le=1000), Env("QONTO_RATE_LIMIT_10S", QONTO)] = 950
    rate_limit_10min: Annotated[int, Field(ge=1, le=10000), Env("QONTO_RATE_LIMIT_10MIN", QONTO)] = 9500
    schedule_day_of_month: Annotated[int, Field(ge=1, le=28), Env("BILLING_SCHEDULE_DAY")] = 3
    schedule_hour: Annotated[int, Field(ge=0, le=23), Env("BILLING_SCHEDULE_HOUR")] = 6
    auto_finalize: Annotated[bool, Env("BILLING_AUTO_FINALIZE")] = True
    bill_customers_without_usage: Annotated[bool, Env("BILLING_BILL_WITHOUT_USAGE", BILLING)] = False
    # the qonto resource gets it too: on PostgreSQL, the Qonto request budget is kept there, one budget
    # for every machine behind the egress IP (docs/production.md, "One egress IP, one budget")
    ledger_url: Annotated[SecretStr | None, SecretEnv("BILLING_LEDGER_URL", BILLING, QONTO)] = None
    # usage from a SQL table instead of files under <data dir>/usage (the URL may hold a password)
    usage_url: Annotated[SecretStr | None, SecretEnv("BILLING_USAGE_URL", BILLING)] = None
    usage_table: Annotated[str, Env("BILLING_USAGE_TABLE", BILLING)] = "usage_events"
    usage_schema: Annotated[str | None, Env("BILLING_USAGE_SCHEMA", BILLING)] = None
    # after an unanswered create, how long it may still land at Qonto (a re-run waits this out)
    in_flight_grace_s: Annotated[float, Field(ge=0), Env("BILLING_IN_FLIGHT_GRACE_S", BILLING)] = 60.0
    # a Factur-X collection run keeps following the invoices finalized less than this long ago until
    # Qonto has rendered their file (instead of leaving them to the next sensor tick)
    render_follow_s: Annotated[float, Field(ge=0), Env("BILLING_RENDER_FOLLOW_S", BILLING)] = 60.0
    # a person canceled an invoice in Qonto: issue a new one for the period (never silently: off by default)
    reissue_canceled: Annotated[bool, Env("BILLING_REISSUE_CANCELED", BILLING)] = False
    # after a finalized period's usage changed: "auto" issues the corrections on the next run,
    # "review" computes and shows them, issued only by an explicit materialization of invoice_corrections
    corrections: Annotated[str, Env("BILLING_CORRECTIONS", BILLING)] = "auto"
    # payment reminders: days after the due date, comma-separated ("off": none); each stage emailed once
    reminder_days: Annotated[str, Env("BILLING_REMINDER_DAYS", BILLING)] = "7,30"
    # delivery of verified invoices: "auto" = the e-invoicing network when the client is reachable,
    # email otherwise; "email" = always email; "off" = nothing is sent (delivered by other means)
    delivery: Annotated[str, Env("BILLING_DELIVERY", BILLING)] = "auto"
    # the reform's mandatory mentions, printed on every invoice (Qonto `settings`; see README "Delivery")
    transaction_type: Annotated[str, Env("BILLING_TRANSACTION_TYPE", BILLING)] = "services"
    vat_payment_condition: Annotated[str, Env("BILLING_VAT_PAYMENT_CONDITION", BILLING)] = "on_receipts"
    late_payment_penalties: Annotated[str, Env("BILLING_LATE_PAYMENT_PENALTIES", BILLING)] = DEFAULT_LATE_PENALTIES
    recovery_indemnity: Annotated[str, Env("BILLING_RECOVERY_INDEMNITY", BILLING)] = DEFAULT_RECOVERY_INDEMNITY
    discount_conditions: Annotated[str, Env("BILLING_DISCOUNT_CONDITIONS", BILLING)] = DEFAULT_DISCOUNT_CONDITIONS
    # Qonto: a server other than Qonto's (an emulator started with `emulator serve`), and credentials
    base_url: Annotated[str | None, Env("QONTO_BASE_URL", QONTO_SERVER)] = None
    api_key: Annotated[SecretStr | None, SecretEnv("QONTO_API_KEY", QONTO_SERVER)] = None
    oauth_client_id: Annotated[SecretStr | None, SecretEnv("QONTO_OAUTH_CLIENT_ID", QONTO_SERVER)] = None
    oauth_client_secret: Annotated[SecretStr | None, SecretEnv("QONTO_OAUTH_CLIENT_SECRET", QONTO_SERVER)] = None
    oauth_refresh_token: Annotated[SecretStr | None, SecretEnv("QONTO_OAUTH_REFRESH_TOKEN", QONTO_SERVER)] = None
    staging_token: Annotated[SecretStr | None, SecretEnv("QONTO_STAGING_TOKEN", QONTO_SERVER)] = None
    # the IO manager (see IO_MANAGERS). Bucket, prefix, endpoint and region are no secrets: they are
    # validated when the code location loads, so a missing bucket fails `dagster definitions validate`
    # instead of the first run. The S3 credentials are boto3's own (AWS_* variables, the pod's role).
    io_manager: Annotated[str, Env("BILLING_IO_MANAGER")] = "filesystem"
    io_s3_bucket: Annotated[str | None, Env("BILLING_IO_S3_BUCKET")] = None
    io_s3_prefix: Annotated[str, Env("BILLING_IO_S3_PREFIX")] = "billing-pipeline/io"
    # an S3-compatible store other than AWS (Scaleway, OVHcloud, MinIO): its URL; unset = AWS
    io_s3_endpoint_url: Annotated[str | None, Env("BILLING_IO_S3_ENDPOINT_URL")] = None
    io_s3_region: Annotated[str | None, Env("BILLING_IO_S3_REGION")] = None

    @field_validator("io_manager")
    @classmethod
    def _io_manager(cls, value: str) -> str:
        if value not in IO_MANAGERS:
            raise ValueError(f"BILLING_IO_MANAGER must be one of {', '.join(IO_MANAGERS)}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _io_bucket_named(self) -> BillingSettings:
        if self.io_manager == "s3" and not self.io_s3_bucket:
            raise ValueError("BILLING_IO_MANAGER=s3 needs BILLING_IO_S3_BUCKET (the bucket the steps' outputs go to)")
        return self

    @field_validator("corrections")
    @classmethod
    def _corrections_policy(cls, value: str) -> str:
        if value not in ("auto", "review"):
            raise ValueError(f"BILLING_CORRECTIONS must be auto or review, got {value!r}")
        return value

    @field_validator("reminder_days")
    @classmethod
    def _reminder_days(cls, value: str) -> str:
        parts = value.replace(" ", "").split(",")
        if value.strip().lower() != "off" and not all(p.isdigit() and int(p) >= 1 for p in parts):
            raise ValueError(f"BILLING_REMINDER_DAYS must be whole days >= 1, comma-separated, or off; got {value!r}")
        return value

    @field_validator("delivery")
    @classmethod
    def _delivery_channels(cls, value: str) -> str:
        if value not in ("auto", "email", "off"):
            raise ValueError(f"BILLING_DELIVERY must be auto, email or off, got {value!r}")
        return value

    @field_validator("transaction_type")
    @classmethod
    def _transaction_type(cls, value: str) -> str:
        if value not in TRANSACTION_TYPES:
            raise ValueError(f"BILLING_TRANSACTION_TYPE must be one of {', '.join(TRANSACTION_TYPES)}, got {value!r}")
        return value

    @field_validator("vat_payment_condition")
    @classmethod
    def _vat_payment_condition(cls, value: str) -> str:
        if value not in VAT_PAYMENT_CONDITIONS:
            raise ValueError(
                f"BILLING_VAT_PAYMENT_CONDITION must be one of {', '.join(VAT_PAYMENT_CONDITIONS)}, got {value!r}"
            )
        return value

    @field_validator("late_payment_penalties", "recovery_indemnity", "discount_conditions")
    @classmethod
    def _mention_length(cls, value: str) -> str:
        if not value or len(value) > MAX_MENTION_LENGTH:
            raise ValueError(f"a legal mention must have 1 to {MAX_MENTION_LENGTH} characters (Qonto's limit)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        ZoneInfo(value)  # raises a clear ZoneInfoNotFoundError for a typo
        return value

    def legal_mentions(self) -> LegalMentions:
        return LegalMentions(
            transaction_type=self.transaction_type,
            vat_payment_condition=self.vat_payment_condition,
            late_payment_penalties=self.late_payment_penalties,
            recovery_indemnity=self.recovery_indemnity,
            discount_conditions=self.discount_conditions,
        )

    @classmethod
    def declarations(cls) -> Iterator[tuple[str, EnvSetting]]:
        for name, field in cls.model_fields.items():
            declared = env_setting(field)
            if declared is not None:
                yield name, declared

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BillingSettings:
        env = os.environ if environ is None else environ
        # a blank variable counts as unset, as if it were not exported at all
        values = {
            name: env[declared.variable].strip()
            for name, declared in cls.declarations()
            if env.get(declared.variable, "").strip()
        }
        return cls.model_validate(values)

    @property
    def resolved_invoices_dir(self) -> Path:
        return self.invoices_dir if self.invoices_dir is not None else self.data_dir / "invoices"

    @property
    def resolved_ledger_url(self) -> str:
        if self.ledger_url is not None:
            return self.ledger_url.get_secret_value()
        return f"sqlite:///{(self.state_dir / 'ledger.sqlite').resolve()}"

    @property
    def qonto_mode(self) -> QontoMode:
        """The mode follows which variables are *present*; their values are not looked at."""
        return _mode(
            has_credentials=self.api_key is not None or self.oauth_refresh_token is not None,
            has_base_url=bool(self.base_url),
            has_staging_token=self.staging_token is not None,
        )

    def for_resource(self, resource: str) -> Iterator[tuple[str, EnvSetting, Any]]:
        """``(field, declaration, value)`` of every setting ``resource`` receives; secrets stay SecretStr."""
        for name, declared in self.declarations():
            if resource in declared.resources:
                value = getattr(self, f"resolved_{name}") if declared.resolved else getattr(self, name)
                yield name, declared, value


def _mode(*, has_credentials: bool, has_base_url: bool, has_staging_token: bool) -> QontoMode:
    if not has_credentials:
        return QontoMode.EMULATOR
    if has_base_url:
        return QontoMode.CUSTOM
    if has_staging_token:
        return QontoMode.SANDBOX
    return QontoMode.PRODUCTION


def usage_source(settings: BillingSettings) -> UsageSource | None:
    """The SQL table when ``BILLING_USAGE_URL`` is set, else None (files under <data dir>/usage)."""
    if settings.usage_url is None:
        return None
    return SqlUsageSource(settings.usage_url.get_secret_value(), settings.usage_table, settings.usage_schema)


def qonto_mode(environ: Mapping[str, str] | None = None) -> QontoMode:
    """Pick the Qonto mode from which variables are *present* (values are never read here).

    Only the four variables that decide it are looked at, so an unrelated invalid setting (a
    mistyped time zone) cannot make the mode unanswerable.
    """
    env = os.environ if environ is None else environ
    deciding = {"api_key", "oauth_refresh_token", "base_url", "staging_token"}
    values = {
        name: env[declared.variable].strip()
        for name, declared in BillingSettings.declarations()
        if name in deciding and env.get(declared.variable, "").strip()
    }
    return BillingSettings.model_validate(values).qonto_mode
