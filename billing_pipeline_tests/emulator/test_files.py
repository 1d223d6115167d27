"""The download host: signed URLs that expire, S3-style refusals, and no credentials accepted."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from billing_pipeline.emulator.testing import RunningEmulator

from .helpers import create_invoice, finalize


def fresh_url(api: httpx.Client) -> str:
    invoice = finalize(api, create_invoice(api)["id"])
    url: str = api.get(f"/v2/attachments/{invoice['attachment_id']}").json()["attachment"]["url"]
    return url


def test_url_is_on_a_different_host_than_the_api(emulator: RunningEmulator, api: httpx.Client) -> None:
    url = urlsplit(fresh_url(api))

    assert url.hostname == "localhost" != urlsplit(emulator.base_url).hostname
    assert f"{url.scheme}://{url.netloc}" == emulator.files_base_url
    assert url.path.startswith("/files/")
    assert {"expires", "signature"} <= {pair.split("=")[0] for pair in url.query.split("&")}


def test_url_expires_after_its_ttl_and_a_fresh_one_works(emulator: RunningEmulator, api: httpx.Client) -> None:
    invoice = finalize(api, create_invoice(api)["id"])
    url = api.get(f"/v2/attachments/{invoice['attachment_id']}").json()["attachment"]["url"]
    assert httpx.get(url).status_code == 200

    emulator.advance_clock(1800)
    expired = httpx.get(url)
    renewed = api.get(f"/v2/attachments/{invoice['attachment_id']}").json()["attachment"]["url"]

    assert expired.status_code == 403
    assert expired.headers["content-type"].startswith("application/xml")
    assert "<Code>AccessDenied</Code>" in expired.text and "Request has expired" in expired.text
    assert httpx.get(renewed).status_code == 200


def test_a_tampered_signature_is_refused(api: httpx.Client) -> None:
    url = fresh_url(api)
    expires = int(url.split("expires=")[1].split("&")[0])

    tampered = httpx.get(url.replace(f"expires={expires}", f"expires={expires + 3600}"))
    unsigned = httpx.get(url.split("?")[0])

    assert tampered.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in tampered.text
    assert unsigned.status_code == 403 and "<Code>AccessDenied</Code>" in unsigned.text


@pytest.mark.parametrize(
    "header", [{"Authorization": "emulator-org:emulator-local-secret"}, {"X-Qonto-Staging-Token": "x"}]
)
def test_credentialed_downloads_are_rejected_and_counted(
    emulator: RunningEmulator, api: httpx.Client, header: dict[str, str]
) -> None:
    url = fresh_url(api)

    rejected = httpx.get(url, headers=header)
    accepted = httpx.get(url)

    assert rejected.status_code == 400
    assert "<Code>InvalidArgument</Code>" in rejected.text
    assert accepted.status_code == 200
    stats = emulator.stats()
    assert stats["rejected_credentialed_downloads"] == 1
    assert stats["downloads"] == 2
    assert next(iter(header)).lower() in stats["download_header_names"]


def test_download_header_names_are_recorded(emulator: RunningEmulator, api: httpx.Client) -> None:
    httpx.get(fresh_url(api), headers={"X-Probe": "1"})

    stats = emulator.stats()

    assert stats["rejected_credentialed_downloads"] == 0
    assert "x-probe" in stats["download_header_names"]
    assert "authorization" not in stats["download_header_names"]
    assert stats["requests"]["GET /files/{attachment_id}"] == 1
