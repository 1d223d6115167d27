"""A separate process drawing from the machine-wide request budget (used by the contract tests).

python -m billing_pipeline_tests.qonto.limiter_worker BASE_URL API_KEY RATE_DB REQUESTS LIMIT_10S MARGIN_S
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from billing_pipeline.qonto import ApiKeyAuth, QontoClient, QontoConfig


async def run(base_url: str, api_key: str, rate_db: Path, requests: int, limit_10s: int, margin_s: float) -> int:
    config = QontoConfig(
        base_url=base_url,
        auth=ApiKeyAuth.parse(api_key),
        rate_limit_10s=limit_10s,
        rate_limit_10min=limit_10s * 50,
        rate_limit_db=rate_db,
        rate_window_margin_s=margin_s,
        max_attempts=1,  # a 429 must surface, not be hidden by a retry
    )
    async with QontoClient(config) as qonto:
        await asyncio.gather(*(qonto.get_organization() for _ in range(requests)))
        return qonto.request_count


def main(argv: list[str]) -> None:
    base_url, api_key, rate_db, requests, limit_10s, margin_s = argv
    sent = asyncio.run(run(base_url, api_key, Path(rate_db), int(requests), int(limit_10s), float(margin_s)))
    print(f"sent={sent}")


if __name__ == "__main__":
    main(sys.argv[1:])
