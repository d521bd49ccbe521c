"""Run one or several services in this process until SIGTERM/SIGINT, then drain and stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator, Sequence

import uvicorn

from services.catalog_reload import reload_catalog
from services.ingress.app import create_app
from services.names import ALIASES, SERVICES
from services.probes import probe_app
from services.runtime import Worker
from shared.logs import configure_logging
from shared.routing.catalog import Catalog, catalog_for
from shared.settings import Settings

log = logging.getLogger(__name__)


def build_worker(name: str, settings: Settings, catalog: Catalog) -> Worker:
    name = ALIASES.get(name, name)
    if name == "router":
        from services.router.service import RouterService

        return RouterService(settings, catalog)
    if name == "ledger":
        from services.ledger.service import LedgerService

        return LedgerService(settings)
    if name == "learner":
        from services.learner.service import LearnerService

        return LearnerService(settings, catalog)
    raise ValueError(f"unknown service {name!r}; choose from {', '.join(SERVICES)}")


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to us: we stop the workers in order after it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _http_server(app: object, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    return EmbeddedServer(config)


async def run_services(names: Sequence[str], settings: Settings, banner: bool = False) -> None:
    """Start `names` (workers first, so the ingress finds consumers), wait for a signal, stop."""
    settings.require_for(names)
    configure_logging(settings.log_level)
    catalog = catalog_for(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    installed: list[Callable[[Catalog], None]] = []

    def install_everywhere(new: Catalog) -> None:
        for install in installed:
            install(new)

    # SIGHUP re-reads the catalog and its overlay for every service of this process.
    loop.add_signal_handler(signal.SIGHUP, reload_catalog, settings, install_everywhere)

    workers = [build_worker(n, settings, catalog) for n in names if n != "ingress"]
    installed += [worker.use_catalog for worker in workers]
    for worker in workers:
        await worker.start()
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
    if "ingress" in names:
        app = create_app(settings, catalog)
        # The ingress state exists once the app's lifespan has started: looked up when used.
        installed.append(lambda new: app.state.ingress.use_catalog(new))  # noqa: PLW0108
        server = _http_server(app, settings.ingress_host, settings.ingress_port)
        servers.append((server, asyncio.create_task(server.serve())))
    if settings.probe_port and workers:
        probe = _http_server(
            probe_app(workers, lambda: not stop.is_set()),
            "0.0.0.0",  # noqa: S104
            settings.probe_port,
        )
        servers.append((probe, asyncio.create_task(probe.serve())))
    if banner:
        _print_banner(settings)
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait(
        [waiter, *(task for _, task in servers)], return_when=asyncio.FIRST_COMPLETED
    )
    log.info("shutting down: draining in-flight messages")
    for server, _ in servers:
        server.should_exit = True
    for _, task in servers:
        await task
    for worker in reversed(workers):
        await worker.stop()


def _print_banner(settings: Settings) -> None:
    live = settings.configured_providers() or ["simulated (no provider key set)"]
    port = settings.ingress_port
    auth = '-H "authorization: Bearer $KEY" ' if settings.auth_enabled else ""
    print(
        "\nAI cost optimizer is up.\n"
        f"  providers : {', '.join(live)}\n"
        f"  API docs  : http://localhost:{port}/docs\n"
        f"  health    : http://localhost:{port}/health\n"
        f"  dashboard : http://localhost:{port}/dashboard\n"
        + (
            "  API keys  : required (AUTH_ENABLED=true): KEY=$(optimizer keys create "
            "--scope admin --name me | tail -1)\n"
            if settings.auth_enabled
            else "  API keys  : not required (AUTH_ENABLED=false, local development only)\n"
        )
        + f"  try       : curl -s localhost:{port}/v1/route {auth}"
        "-H 'content-type: application/json' "
        '-d \'{"prompt": "Write a haiku about the sea", "max_tokens": 64}\'\n',
        flush=True,
    )
