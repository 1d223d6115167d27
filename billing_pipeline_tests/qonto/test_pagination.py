"""Listing pages: page order kept when pages are fetched a window at a time; a list that grows or
gives no count is still followed to its end."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from billing_pipeline.qonto.calls import iterate_pages
from billing_pipeline.qonto.models import Page
from billing_pipeline.qonto.wire import PageMeta


class Item(BaseModel):
    n: int


def _server(items: int, per_page: int, *, announced: int | None, counted: bool = True):
    fetched: list[int] = []
    in_flight = 0
    most_in_flight = 0

    async def fetch(page: int) -> Page[Item]:
        nonlocal in_flight, most_in_flight
        fetched.append(page)
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        await asyncio.sleep(0.001 * (page % 3))  # answers arrive out of order
        in_flight -= 1
        last = max(1, -(-items // per_page))
        chunk = [Item(n=n) for n in range((page - 1) * per_page, min(items, page * per_page))]
        meta = PageMeta(
            current_page=page,
            next_page=page + 1 if page < last else None,
            total_pages=(announced if announced is not None else last) if counted else None,
        )
        return Page[Item](items=chunk, meta=meta)

    return fetch, fetched, lambda: most_in_flight


async def _all(fetch, window: int = 8) -> list[int]:
    return [item.n async for item in iterate_pages(fetch, window=window)]


@settings(max_examples=30, deadline=None)
@given(items=st.integers(min_value=0, max_value=700), window=st.integers(min_value=1, max_value=10))
def test_every_item_once_in_order_and_each_page_fetched_once(items: int, window: int) -> None:
    fetch, fetched, most = _server(items, 25, announced=None)
    assert asyncio.run(_all(fetch, window)) == list(range(items))
    assert sorted(fetched) == list(range(1, max(1, -(-items // 25)) + 1))
    assert most() <= window


def test_pages_are_fetched_a_window_at_a_time() -> None:
    fetch, fetched, most = _server(1000, 10, announced=None)
    assert asyncio.run(_all(fetch)) == list(range(1000))
    assert most() == 8 and len(fetched) == 100


def test_a_list_that_grew_after_the_count_is_followed_to_its_end() -> None:
    fetch, fetched, _ = _server(300, 10, announced=12)  # said 12 pages, has 30
    assert asyncio.run(_all(fetch)) == list(range(300))
    assert sorted(fetched) == list(range(1, 31))


def test_without_a_count_pages_are_followed_one_by_one() -> None:
    fetch, fetched, most = _server(95, 10, announced=None, counted=False)
    assert asyncio.run(_all(fetch)) == list(range(95))
    assert fetched == list(range(1, 11)) and most() == 1


def test_the_page_size_is_defined_once_in_the_client_package() -> None:
    """Qonto's per_page maximum (100) lives in ``wire``; every list call takes it from there."""
    import re
    from pathlib import Path

    import billing_pipeline.qonto as qonto
    from billing_pipeline.qonto import client, credit_notes, transactions, wire

    package = Path(qonto.__file__).parent
    defining = sorted(
        path.name
        for path in package.glob("*.py")
        if re.search(r"^\s*[A-Z_]*PER_PAGE\w*\s*(:[^=]+)?=", path.read_text(), re.MULTILINE)
    )

    assert defining == ["wire.py"]
    assert wire.MAX_PER_PAGE == 100
    assert client.MAX_PER_PAGE is credit_notes.MAX_PER_PAGE is transactions.MAX_PER_PAGE is qonto.MAX_PER_PAGE
