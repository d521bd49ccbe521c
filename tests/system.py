"""Run the services in this test's event loop: real broker, real database, real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
import uvicorn

from services.ingress.app import create_app
from services.runner import EmbeddedServer, build_worker
from services.runtime import Worker
from shared.routing.catalog import catalog_for
from shared.settings import Settings


@dataclass
class RunningSystem:
    settings: Settings
    base_url: str
    workers: list[Worker] = field(default_factory=list)
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None

    def client(self, **kwargs: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30, **kwargs)  # type: ignore[arg-type]

    def worker(self, name: str) -> Worker:
        return next(w for w in self.workers if w.name == name)

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await self.task
        for worker in reversed(self.workers):
            await worker.stop()


async def start_system(
    settings: Settings,
    port: int,
    workers: Sequence[str] = ("router", "ledger", "learner"),
    ingress: bool = True,
) -> RunningSystem:
    catalog = catalog_for(settings)
    system = RunningSystem(settings=settings, base_url=f"http://127.0.0.1:{port}")
    for name in workers:
        worker = build_worker(name, settings, catalog)
        await worker.start()
        system.workers.append(worker)
    if ingress:
        config = uvicorn.Config(
            create_app(settings, catalog),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        server = EmbeddedServer(config)
        system.server = server
        system.task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
    return system
