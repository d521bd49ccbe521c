"""Re-reading the catalog and its overlay in a running process (routers and ingresses).

Three triggers reach the same `reload_catalog`: SIGHUP to the process (services/runner.py),
`POST /admin/catalog/reload` on an ingress, and the `ReloadCatalog` command that endpoint
publishes on `optimizer.events` (key `catalog.reload`), which every router and ingress receives
on a queue of its own. A file that does not validate changes nothing: the process keeps the
catalog it has and logs why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from schemas.messages import ReloadCatalog
from shared.messaging.topology import CATALOG_RELOAD_KEY, Topology
from shared.routing.catalog import Catalog, catalog_for
from shared.settings import Settings

log = logging.getLogger(__name__)


def reload_catalog(settings: Settings, install: Callable[[Catalog], None]) -> Catalog | str:
    """Load and validate the catalog these settings name, then `install` it. On failure
    nothing is installed and the reason is returned (the operator's own file; no request data)."""
    try:
        catalog = catalog_for(settings)
    except (OSError, ValueError) as exc:
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        log.error("catalog not reloaded, keeping the current one: %s", reason)
        return reason
    install(catalog)
    log.info("catalog reloaded: %d models", len(catalog.models))
    return catalog


def subscribe_reloads(
    broker: RabbitBroker,
    settings: Settings,
    queue_name: str,
    install: Callable[[Catalog], None],
) -> None:
    """Reload on every ReloadCatalog, on an exclusive queue `queue_name` (already unique)."""
    queue = RabbitQueue(
        settings.name(queue_name),
        exclusive=True,
        auto_delete=True,
        durable=False,
        routing_key=CATALOG_RELOAD_KEY,
    )

    @broker.subscriber(queue, Topology(settings).events(), no_reply=True, ack_policy=AckPolicy.ACK)
    async def on_reload(msg: RabbitMessage) -> None:
        try:
            ReloadCatalog.model_validate_json(msg.body)
        except ValidationError:
            log.warning("ignored a malformed ReloadCatalog")
            return
        reload_catalog(settings, install)
