"""The mandatory mentions of a French invoice under the e-invoicing reform, per customer.

Printed by Qonto from the invoice's ``settings`` (and written into its Factur-X as notes: PMD late-
payment penalties, PMT the fixed recovery indemnity, AAB the discount conditions — BR-FR/EN 16931),
with the nature of the operation and the VAT payment condition. The penalties and the €40 indemnity
apply between businesses only (art. L441-10 and D441-5 Code de commerce): an individual's invoice
carries neither. The buyer's SIREN travels with the client (``tax_identification_number``, BT-47).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from billing_pipeline.billing.models import Customer


class LegalMentions(BaseModel):
    model_config = ConfigDict(frozen=True)

    transaction_type: str = "services"
    vat_payment_condition: str = "on_receipts"
    late_payment_penalties: str
    recovery_indemnity: str
    discount_conditions: str

    def settings_for(self, customer: Customer) -> dict[str, Any]:
        """Qonto's invoice ``settings`` object for one customer."""
        settings: dict[str, Any] = {
            "transaction_type": self.transaction_type,
            "vat_payment_condition": self.vat_payment_condition,
        }
        if customer.kind == "company":
            settings |= {
                "late_payment_penalties": self.late_payment_penalties,
                "legal_fixed_compensation": self.recovery_indemnity,
                "discount_conditions": self.discount_conditions,
            }
        return settings
