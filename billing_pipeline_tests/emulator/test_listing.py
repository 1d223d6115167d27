"""Pagination over more than 100 items, filters and sorting (qonto-api.md §4, §8.2, §8.3)."""

from __future__ import annotations

import httpx

from .helpers import assert_error, client_body, create_client, create_invoice, finalize


def test_pagination_over_more_than_100_clients(api: httpx.Client) -> None:
    for index in range(205):
        assert api.post("/v2/clients", json=client_body(name=f"Client {index:03d}")).status_code == 201

    seen: list[str] = []
    page: int | None = 1
    metas = []
    while page is not None:
        body = api.get("/v2/clients", params={"page": page}).json()
        metas.append(body["meta"])
        seen.extend(client["name"] for client in body["clients"])
        page = body["meta"]["next_page"]

    assert [meta["current_page"] for meta in metas] == [1, 2, 3]
    assert [len(chunk) for chunk in (seen[:100], seen[100:200], seen[200:])] == [100, 100, 5]
    assert metas[0] == {
        "current_page": 1,
        "next_page": 2,
        "prev_page": None,
        "total_pages": 3,
        "total_count": 205,
        "per_page": 100,
    }
    assert metas[2]["next_page"] is None and metas[2]["prev_page"] == 2
    assert seen == sorted(seen)  # default sort name:asc
    assert len(set(seen)) == 205


def test_per_page_bounds_and_pages_past_the_end(api: httpx.Client) -> None:
    for index in range(3):
        create_client(api, name=f"Client {index}")

    small = api.get("/v2/clients", params={"per_page": 2, "page": 2}).json()
    past_end = api.get("/v2/clients", params={"page": 9}).json()

    assert len(small["clients"]) == 1
    assert small["meta"]["total_pages"] == 2 and small["meta"]["next_page"] is None
    assert past_end["clients"] == [] and past_end["meta"]["next_page"] is None
    assert_error(
        api.get("/v2/clients", params={"per_page": 101}),
        422,
        "invalid_parameter",
        parameter="per_page",
        detail="between 1 and 100",
    )
    assert_error(api.get("/v2/clients", params={"page": 0}), 422, "invalid_parameter", parameter="page")


def test_client_filters(api: httpx.Client) -> None:
    acme = create_client(api, name="Société Générale des Données", email="Billing@Acme.test")
    create_client(
        api, name="Other Corp", email="ap@other.test", tax_identification_number="552100554", vat_number="FR00552100554"
    )
    person = create_client(api, kind="individual", name=None, first_name="Zoé", last_name="Martin", email="zoe@x.test")

    def names(**params: str) -> list[str | None]:
        return [client["id"] for client in api.get("/v2/clients", params=params).json()["clients"]]

    assert names(**{"filter[email]": "billing@acme.TEST"}) == [acme["id"]]
    assert names(**{"filter[name]": "generale des"}) == [acme["id"]]  # partial, accent/case-insensitive
    assert names(**{"filter[name]": "zoe mar"}) == [person["id"]]  # first + last name for individuals
    assert len(names(**{"filter[tax_identification_number]": "552100554"})) == 1
    assert names(**{"filter[vat_number]": "fr44 732829320"}) == [acme["id"]]
    assert_error(api.get("/v2/clients", params={"filter[name]": "a"}), 422, "too_short", parameter="filter[name]")
    assert_error(api.get("/v2/clients", params={"sort_by": "email:asc"}), 422, "not_in_list", parameter="sort_by")


def test_invoice_status_filter_sort_and_dates(api: httpx.Client) -> None:
    client_id = create_client(api)["id"]
    draft = create_invoice(api, client_id)
    unpaid = finalize(api, create_invoice(api, client_id)["id"])
    canceled = finalize(api, create_invoice(api, client_id)["id"])
    assert api.post(f"/v2/client_invoices/{canceled['id']}/mark_as_canceled").status_code == 200

    def ids(**params: str) -> list[str]:
        return [invoice["id"] for invoice in api.get("/v2/client_invoices", params=params).json()["client_invoices"]]

    assert ids(**{"filter[status]": "draft"}) == [draft["id"]]
    assert set(ids(**{"filter[status]": "unpaid,canceled"})) == {unpaid["id"], canceled["id"]}
    assert ids(sort_by="created_at:asc") == [draft["id"], unpaid["id"], canceled["id"]]
    assert ids() == [canceled["id"], unpaid["id"], draft["id"]]  # default created_at:desc
    assert ids(**{"filter[created_at_from]": unpaid["created_at"], "sort_by": "created_at:asc"}) == [
        unpaid["id"],
        canceled["id"],
    ]
    assert ids(**{"filter[created_at_to]": "2000-01-01T00:00:00Z"}) == []
    assert len(ids(**{"filter[updated_at_from]": canceled["updated_at"]})) >= 1
    assert_error(
        api.get("/v2/client_invoices", params={"filter[status]": "draft,sent"}),
        422,
        "not_in_list",
        parameter="filter[status]",
        detail="'sent'",
    )
    assert_error(
        api.get("/v2/client_invoices", params={"filter[created_at_from]": "2026-01-01T00:00:00"}),
        422,
        "invalid_date_time",
        parameter="filter[created_at_from]",
        detail="offset",
    )


def test_unknown_query_parameters_are_rejected(api: httpx.Client) -> None:
    # a filter the emulator silently ignored would look like it worked
    assert_error(
        api.get("/v2/client_invoices", params={"filter[client_id]": "x"}),
        422,
        "unknown_parameter",
        parameter="filter[client_id]",
    )
