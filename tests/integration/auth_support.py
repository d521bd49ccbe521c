"""A running system with API keys switched on, and keys made the way `optimizer keys` makes them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from services.ledger import access_store
from shared.settings import Settings
from shared.storage.db import create_pool
from tests.conftest import free_port
from tests.system import RunningSystem, start_system

WORKERS = ("router", "ledger", "learner")


@dataclass
class SecuredSystem:
    running: RunningSystem
    pool: asyncpg.Pool

    @property
    def settings(self) -> Settings:
        return self.running.settings

    async def key(
        self,
        scope: str = "client",
        rpm: int | None = None,
        budget: float | None = None,
        name: str = "test",
        **rules: object,
    ) -> tuple[str, str]:
        """(key id, key); `rules` are the model rules of access_store.KEY_SETTINGS."""
        return await access_store.create_key(
            self.pool,
            scope,  # type: ignore[arg-type]
            name,
            rpm_limit=rpm,
            daily_budget_usd=budget,
            **rules,
        )

    def client(self, key: str | None = None, **kwargs: object):
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return self.running.client(headers=headers, **kwargs)


@asynccontextmanager
async def secured_system(settings: Settings, **overrides: object) -> AsyncIterator[SecuredSystem]:
    """Router, feedback and learner, and an ingress that wants API keys (cache TTL 0.5 s)."""
    secured = settings.model_copy(
        update={"auth_enabled": True, "auth_cache_ttl_s": 0.5, **overrides}
    )
    running = await start_system(secured, free_port(), workers=WORKERS)
    pool = await create_pool(settings.database_url, max_size=4)
    try:
        yield SecuredSystem(running, pool)
    finally:
        await pool.close()
        await running.stop()
