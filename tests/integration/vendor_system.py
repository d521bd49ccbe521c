"""A running system whose three vendors are the fake vendor server (real SDKs, local HTTP)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from shared.storage.db import create_pool
from tests.conftest import free_port, isolated_settings
from tests.fakes.vendor_server import FakeVendorServer
from tests.system import RunningSystem, start_system


def vendor_overrides(vendor: FakeVendorServer, **extra: Any) -> dict[str, Any]:
    return {
        "anthropic_api_key": "test-anthropic-key",
        "google_api_key": "test-google-key",
        "openrouter_api_key": "test-openrouter-key",
        "anthropic_base_url": vendor.url,
        "gemini_base_url": vendor.url,
        "openrouter_base_url": f"{vendor.url}/api/v1",
        "provider_timeout_s": 2.0,
        "request_deadline_s": 20.0,
        "retry_base_delay_s": 0.01,
        "max_attempts_per_model": 2,
        "stream_coalesce_ms": 5.0,
        **extra,
    }


@asynccontextmanager
async def vendor_system(
    service_urls: tuple[str, str], vendor: FakeVendorServer, **extra: Any
) -> AsyncIterator[tuple[RunningSystem, asyncpg.Pool]]:
    """Ingress, router, ledger and learner over the real broker and database, and a pool."""
    overrides = vendor_overrides(vendor, **extra)
    async with isolated_settings(service_urls, "vs" + uuid.uuid4().hex[:6], **overrides) as s:
        running = await start_system(s, free_port())
        pool = await create_pool(s.database_url, max_size=4)
        try:
            yield running, pool
        finally:
            await pool.close()
            await running.stop()
