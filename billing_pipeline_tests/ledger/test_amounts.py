"""Money at the record boundary, and amounts stored exactly as the previous release stored them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pydantic
import pytest
import sqlalchemy as sa

from billing_pipeline.ledger import DecimalString, Money, money_or_none, parse_amount
from billing_pipeline_tests.ledger.conftest import load_release_fixture


def test_money_prints_cents_and_never_rounds() -> None:
    assert str(Money(amount=Decimal("27.60"), currency="EUR")) == "27.60 EUR"
    assert str(Money(amount=Decimal("27.6"), currency="EUR")) == "27.60 EUR"
    assert str(Money(amount=Decimal("80"), currency="EUR")) == "80.00 EUR"
    assert str(Money(amount=Decimal("-1500.60"), currency="EUR")) == "-1500.60 EUR"
    assert str(Money(amount=Decimal("0.0004"), currency="EUR")) == "0.0004 EUR"
    assert str(Money(amount=Decimal("1E+3"), currency="USD")) == "1000.00 USD"


def test_money_is_frozen_and_exact() -> None:
    money = Money.from_stored("27.60", "EUR")
    assert money == Money(amount=Decimal("27.60"), currency="EUR")
    with pytest.raises(pydantic.ValidationError):
        money.amount = Decimal(1)  # type: ignore[misc]
    assert money_or_none(None, "EUR") is None and money_or_none("1.5", "EUR") == Money(amount="1.5", currency="EUR")


@pytest.mark.parametrize("amount", [27.6, True, "NaN", "Infinity", "12,50", None])
def test_money_refuses_what_is_not_an_exact_finite_amount(amount: object) -> None:
    with pytest.raises(pydantic.ValidationError):
        Money(amount=amount, currency="EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["eur", "EURO", "€", ""])
def test_money_needs_an_iso_currency(currency: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="ISO 4217"):
        Money(amount=Decimal(1), currency=currency)


def _amounts_table(metadata: sa.MetaData, name: str, column: str) -> sa.Table:
    return sa.Table(
        name, metadata, sa.Column("pk", sa.String(300), primary_key=True), sa.Column(column, DecimalString()),
        extend_existing=True,
    )  # fmt: skip


def test_old_rows_read_back_as_the_decimals_they_were_and_new_ones_are_written_alike(tmp_path: Path) -> None:
    path = load_release_fixture(tmp_path / "release.sqlite")
    engine = sa.create_engine(f"sqlite:///{path}")
    metadata = sa.MetaData()
    # the release's amount columns, typed: read back through DecimalString
    typed = sa.Table("invoice_records", metadata, sa.Column("reference", sa.String, primary_key=True),
                     sa.Column("net_total", DecimalString()), sa.Column("total", DecimalString()))  # fmt: skip
    with engine.connect() as connection:
        raw = dict(connection.exec_driver_sql("SELECT reference, net_total FROM invoice_records").fetchall())
        read = dict(connection.execute(sa.select(typed.c.reference, typed.c.net_total)).fetchall())
    assert {ref for ref, text in raw.items() if text is not None} == {ref for ref, v in read.items() if v is not None}
    for reference, text in raw.items():
        if text is not None:
            assert read[reference] == Decimal(text) and isinstance(read[reference], Decimal)
            assert str(read[reference]) == text  # "80" stays "80", "23.00" stays "23.00"
    # written back through the type: byte-for-byte the text the release wrote
    with engine.begin() as connection:
        for reference, value in read.items():
            connection.execute(sa.update(typed).where(typed.c.reference == reference).values(net_total=value))
        assert dict(connection.exec_driver_sql("SELECT reference, net_total FROM invoice_records").fetchall()) == raw
    engine.dispose()


def test_decimal_string_refuses_floats_and_overlong_amounts(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    metadata = sa.MetaData()
    table = _amounts_table(metadata, "amounts", "amount")
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(sa.insert(table).values(pk="int", amount=12))
        connection.execute(sa.insert(table).values(pk="text", amount="27.60"))
        connection.execute(sa.insert(table).values(pk="none", amount=None))
        with pytest.raises(sa.exc.StatementError, match="not float"):
            connection.execute(sa.insert(table).values(pk="float", amount=0.1))
        # SQLite would keep all 40 characters; PostgreSQL's VARCHAR(32) would refuse them: refused on both
        with pytest.raises(sa.exc.StatementError, match="longer than its column's 32 characters"):
            connection.execute(sa.insert(table).values(pk="long", amount=Decimal("1." + "1" * 40)))
        rows = dict(connection.execute(sa.select(table.c.pk, table.c.amount)).fetchall())
    assert rows == {"int": Decimal(12), "text": Decimal("27.60"), "none": None}
    assert parse_amount(" 1.50 ") == Decimal("1.50")
