"""infra/rabbitmq: the boot-time definitions declare exactly what
shared/messaging/topology.py declares.

A queue imported with other arguments than the services declare would make every service fail
at start (RabbitMQ answers PRECONDITION_FAILED), so the arguments are compared one by one.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from shared.messaging import topology
from shared.settings import Settings
from tests.unit.deploy_support import ROOT, compose

RABBITMQ = ROOT / "infra" / "rabbitmq"


@cache
def definitions() -> dict[str, Any]:
    data = json.loads((RABBITMQ / "definitions.json").read_text())
    assert isinstance(data, dict)
    return data


def expected_topology() -> topology.Topology:
    # The file declares the default namespace: no AMQP_PREFIX, the default delivery limit.
    return topology.Topology(Settings.model_validate({"amqp_prefix": ""}))


def test_work_and_dead_letter_queues_match_the_topology() -> None:
    top = expected_topology()
    queues = {q["name"]: q for q in definitions()["queues"]}
    wanted = [top.work_queue(base) for base in topology.WORK_QUEUES]
    wanted += [top.dead_queue(base) for base in topology.WORK_QUEUES]
    assert set(queues) == {q.name for q in wanted}
    for queue in wanted:
        imported = queues[queue.name]
        assert imported["vhost"] == "/"
        assert imported["durable"] is True and imported["auto_delete"] is False
        assert imported["arguments"] == dict(queue.arguments or {}), queue.name
    for base in topology.WORK_QUEUES:
        arguments = queues[base]["arguments"]
        assert arguments["x-queue-type"] == "quorum"
        assert arguments["x-delivery-limit"] == Settings.model_fields["delivery_limit"].default
        assert arguments["x-dead-letter-exchange"] == topology.DEAD_LETTER_EXCHANGE
        assert arguments["x-dead-letter-routing-key"] == f"{base}.dead"


def test_exchanges_match_the_topology() -> None:
    top = expected_topology()
    exchanges = {e["name"]: e for e in definitions()["exchanges"]}
    for exchange in (top.events(), top.overrides(), top.cancels(), top.dead_letters()):
        imported = exchanges.pop(exchange.name)
        assert imported["type"] == exchange.type.value
        assert imported["durable"] is exchange.durable
        assert imported["auto_delete"] is exchange.auto_delete
        assert imported["internal"] is False
    assert not exchanges, f"exchanges the services never declare: {set(exchanges)}"


def test_bindings_match_declare_all() -> None:
    bindings = {
        (b["source"], b["destination"], b["routing_key"], b["destination_type"])
        for b in definitions()["bindings"]
    }
    wanted = {
        (topology.DEAD_LETTER_EXCHANGE, f"{base}.dead", f"{base}.dead", "queue")
        for base in topology.WORK_QUEUES
    }
    for key in (topology.ROUTE_COMPLETED_KEY, topology.ROUTE_COMPLETED_BATCH_KEY):
        wanted.add((topology.EVENTS_EXCHANGE, topology.FEEDBACK_COMPLETIONS, key, "queue"))
    assert bindings == wanted


def test_policies_agree_with_the_queue_arguments() -> None:
    policies = {p["name"]: p for p in definitions()["policies"]}
    work, dead = policies["optimizer-work-queues"], policies["optimizer-dead-letters"]
    limit = Settings.model_fields["delivery_limit"].default
    assert work["definition"]["delivery-limit"] == limit
    assert work["definition"]["dead-letter-exchange"] == topology.DEAD_LETTER_EXCHANGE
    names = [q["name"] for q in definitions()["queues"]]
    for name in names:
        is_dead = name.endswith(".dead")
        # RabbitMQ applies the highest-priority matching policy; these two never overlap.
        assert bool(re.search(work["pattern"], name)) is not is_dead, name
        assert bool(re.search(dead["pattern"], name)) is is_dead, name
    # Prefixed deployments (AMQP_PREFIX) get the same policies.
    assert re.search(work["pattern"], f"staging-{topology.ROUTE_REQUESTS}")
    for policy in policies.values():
        assert policy["apply-to"] == "queues" and policy["vhost"] == "/"


def test_no_credentials_in_the_definitions() -> None:
    assert "users" not in definitions() and "permissions" not in definitions()
    assert {v["name"] for v in definitions()["vhosts"]} == {"/"}


def _conf() -> dict[str, str]:
    pairs = {}
    for line in (RABBITMQ / "rabbitmq.conf").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def test_compose_wires_the_definitions_into_the_broker() -> None:
    conf = _conf()
    seed = (RABBITMQ / "seed-definitions.sh").read_text()
    assert conf["definitions.import_backend"] == "local_filesystem"
    assert f"dir={conf['definitions.local.path']}" in seed
    assert conf["prometheus.tcp.port"] == "15692"
    service = compose()["services"]["rabbitmq"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
    topology_target = re.search(r"cp (\S+) ", seed)
    assert topology_target is not None
    assert mounts[topology_target.group(1)] == "./infra/rabbitmq/definitions.json"
    assert mounts["/etc/rabbitmq/rabbitmq.conf"] == "./infra/rabbitmq/rabbitmq.conf"
    assert service["entrypoint"][-1] in mounts
    assert service["image"].endswith("-management")
    assert service.get("hostname"), "a stable node name keeps the data across re-creation"
    plugins = (RABBITMQ / "enabled_plugins").read_text()
    assert "rabbitmq_management" in plugins and "rabbitmq_prometheus" in plugins
