"""The broker cluster's deployment files (docker-compose.cluster.yml, infra/k8s/rabbitmq-cluster):
schema-checked offline and consistent with each other and with RABBITMQ_URL's parsing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from shared.broker_urls import broker_addresses
from tests.unit.deploy_support import APP_SERVICES, ROOT, interpolate

CLUSTER_K8S = ROOT / "infra" / "k8s" / "rabbitmq-cluster"
COMPOSE_CLUSTER = ROOT / "docker-compose.cluster.yml"


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(CLUSTER_K8S.glob("*.yaml")):
        found.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


def _one(kind: str) -> dict[str, Any]:
    (doc,) = [d for _, d in k8s_documents() if d["kind"] == kind]
    return doc


@pytest.mark.parametrize(
    ("filename", "doc"),
    [
        pytest.param(f, d, id=f"{f}:{d['kind']}:{d['metadata']['name']}")
        for f, d in k8s_documents()
        if d["kind"] != "Kustomization"
    ],
)
def test_k8s_resources_match_the_kubernetes_schemas(filename: str, doc: dict[str, Any]) -> None:
    version = kubernetes_validate.utils.latest_version()
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{filename} {doc['kind']}: {exc.message} at {list(exc.path)}")


def test_kustomization_lists_every_file_and_reads_nothing_outside() -> None:
    kustomization = yaml.safe_load((CLUSTER_K8S / "kustomization.yaml").read_text())
    files = {p.name for p in CLUSTER_K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert "../" not in (CLUSTER_K8S / "kustomization.yaml").read_text().split("apiVersion")[1]


def test_k8s_nodes_find_each_other_by_their_stable_names() -> None:
    statefulset = _one("StatefulSet")
    replicas = statefulset["spec"]["replicas"]
    headless = statefulset["spec"]["serviceName"]
    namespace = yaml.safe_load((CLUSTER_K8S / "kustomization.yaml").read_text())["namespace"]
    conf = _one("ConfigMap")["data"]["rabbitmq.conf"]
    listed = re.findall(r"classic_config\.nodes\.\d+ = (\S+)", conf)
    assert listed == [
        f"rabbit@rabbitmq-{n}.{headless}.{namespace}.svc.cluster.local" for n in range(replicas)
    ]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RABBITMQ_NODENAME"] == (
        f"rabbit@$(POD_NAME).{headless}.$(POD_NAMESPACE).svc.cluster.local"
    )
    services = {d["metadata"]["name"]: d for _, d in k8s_documents() if d["kind"] == "Service"}
    assert services[headless]["spec"]["clusterIP"] == "None"
    assert {p["port"] for p in services[headless]["spec"]["ports"]} >= {4369, 5672, 25672}
    assert _one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_k8s_services_url_names_every_node() -> None:
    comment = (CLUSTER_K8S / "kustomization.yaml").read_text()
    url = re.search(r"(amqp://\S+)", comment)
    assert url is not None
    hosts = [a.split("@")[1].split("/")[0] for a in broker_addresses(url.group(1))]
    assert hosts == [f"rabbitmq-{n}.rabbitmq-nodes:5672" for n in range(3)]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_CLUSTER.read_text())
    assert isinstance(data, dict)
    return data


def test_compose_cluster_gives_every_service_all_three_nodes() -> None:
    services = _compose()["services"]
    nodes = ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]
    assert set(nodes) <= set(services)
    for name in nodes[1:]:
        assert services[name]["hostname"] == name
        assert any("/var/lib/rabbitmq" in v for v in services[name]["volumes"])
    conf = (ROOT / "infra" / "rabbitmq" / "cluster.conf").read_text()
    assert re.findall(r"classic_config\.nodes\.\d+ = rabbit@(\S+)", conf) == nodes
    for name in APP_SERVICES:
        url = interpolate(services[name]["environment"]["RABBITMQ_URL"])
        hosts = [Path(a.split("@")[1]).parts[0] for a in broker_addresses(url)]
        assert hosts == [f"{node}:5672" for node in nodes], name


def test_compose_cluster_nodes_share_a_cookie_that_must_be_set() -> None:
    services = _compose()["services"]
    for name in ("rabbitmq", "rabbitmq-2", "rabbitmq-3"):
        env = services[name]["environment"]
        for key in ("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "RABBITMQ_CTL_ERL_ARGS"):
            assert env[key] == (
                "-setcookie ${RABBITMQ_ERLANG_COOKIE:?set RABBITMQ_ERLANG_COOKIE in .env}"
            )
