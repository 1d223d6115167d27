"""The ``billing-pipeline`` console script.

Sub-commands are imported lazily so that ``billing-pipeline verify`` does not pay for importing
Dagster, and ``billing-pipeline preview`` does not pay for the PDF stack.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" of a click.Command / click.Group
_COMMANDS: dict[str, str] = {
    "preview": "billing_pipeline.billing.cli:preview",
    "demo-data": "billing_pipeline.billing.cli:demo_data",
    "verify": "billing_pipeline.facturx.cli:verify",
    "emulator": "billing_pipeline.emulator.cli:emulator",
    "bill": "billing_pipeline.headless:bill",
    "payments": "billing_pipeline.headless_payments:payments",
    "delivery": "billing_pipeline.delivery_cli:delivery",
    "check": "billing_pipeline.invoicing.preflight.cli:check",
}
# shown by --help without importing every sub-command
_SHORT_HELP: dict[str, str] = {
    "preview": "Price one billing period (dry run, no Qonto call).",
    "demo-data": "Generate a large deterministic synthetic data set.",
    "verify": "Check Factur-X files (XSD, EN 16931 + BR-FR rules, PDF/A-3, money).",
    "emulator": "Run the local Qonto emulator.",
    "bill": "Bill one period end to end through Dagster (headless).",
    "payments": "Match incoming transfers to invoices, mark paid ones (one pass, headless).",
    "delivery": "Delivery status of invoices; resolve an unknown or failed delivery.",
    "check": "Is Qonto ready to bill? Scopes, e-invoicing, receiving account (nothing written).",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(sorted(_SHORT_HELP.items()))


@click.group(cls=_LazyGroup)
@click.version_option(package_name="billing_pipeline")
def main() -> None:
    """Bill a SaaS platform's customers every month through Qonto, with Factur-X e-invoices."""


if __name__ == "__main__":
    main()
