"""infra/k8s: schema-checked offline, and consistent with each other and with the settings.

Core resources are validated by kubernetes-validate (the Kubernetes OpenAPI schemas, bundled,
strict: unknown fields are errors). KEDA's custom resources against tests/unit/keda_schema.json.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shared.messaging.topology import ROUTE_REQUESTS
from tests.unit.deploy_support import ROOT, image_is_pinned, setting_env_names

K8S = ROOT / "infra" / "k8s"
NAMESPACE = "ai-cost-optimizer"
SERVICES = ("ingress", "router", "feedback", "learner")
NOT_IN_KUSTOMIZATION = {"secret.example.yaml", "migrate-job.yaml", "kustomization.yaml"}


@cache
def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((path.name, doc))
    return found


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in documents() if d["kind"] == kind}


def kubernetes_version() -> str:
    return kubernetes_validate.utils.latest_version()


def is_core(doc: dict[str, Any]) -> bool:
    return not doc["apiVersion"].startswith(("keda.sh/", "kustomize.config.k8s.io/"))


@cache
def keda_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((Path(__file__).parent / "keda_schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize(
    ("filename", "doc"),
    [pytest.param(f, d, id=f"{f}:{d['kind']}") for f, d in documents() if is_core(d)],
)
def test_core_resources_match_the_kubernetes_schemas(filename: str, doc: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(doc, kubernetes_version(), strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{filename} {doc['kind']}: {exc.message} at {list(exc.path)}")


def test_the_schema_check_is_strict() -> None:
    deployment = copy.deepcopy(resources("Deployment")["router"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_version(), strict=True)
    scaled = copy.deepcopy(resources("ScaledObject")["router"])
    scaled["spec"]["triggers"][0]["metadata"]["value"] = 64  # KEDA wants strings
    assert not keda_validator().is_valid(scaled)


def test_keda_resources_match_their_schema() -> None:
    keda = [(f, d) for f, d in documents() if d["apiVersion"].startswith("keda.sh/")]
    assert {d["kind"] for _, d in keda} == {"ScaledObject", "TriggerAuthentication"}
    for filename, doc in keda:
        errors = [e.message for e in keda_validator().iter_errors(doc)]
        assert not errors, f"{filename} {doc['kind']}: {errors}"


def test_router_scales_on_the_route_requests_queue() -> None:
    scaled = resources("ScaledObject")["router"]
    assert scaled["spec"]["scaleTargetRef"]["name"] in resources("Deployment")
    trigger = scaled["spec"]["triggers"][0]
    prefix = resources("ConfigMap")["optimizer-config"]["data"]["AMQP_PREFIX"]
    assert trigger["metadata"]["queueName"] == f"{prefix}{ROUTE_REQUESTS}"
    auth = resources("TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    secret = resources("Secret")["optimizer-secrets"]
    for ref in auth["spec"]["secretTargetRef"]:
        assert ref["name"] == "optimizer-secrets" and ref["key"] in secret["stringData"]
    assert "replicas" not in resources("Deployment")["router"]["spec"], "KEDA owns the count"


def test_every_service_has_probes_resources_and_runs_as_non_root() -> None:
    deployments = resources("Deployment")
    assert set(deployments) == set(SERVICES)
    images = set()
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        (container,) = pod["containers"]
        assert container["args"] == ["serve", name]
        for probe in ("livenessProbe", "readinessProbe"):
            assert probe in container, f"{name} has no {probe}"
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        assert {"cpu", "memory"} <= set(requests) and {"cpu", "memory"} <= set(limits), name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        images.add(container["image"])
        if name != "ingress":
            assert container["livenessProbe"]["httpGet"]["path"] == "/livez", name
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert ports[container["readinessProbe"]["httpGet"]["port"]] == 9000, name
    config = resources("ConfigMap")["optimizer-config"]["data"]
    assert config["PROBE_PORT"] == "9000"
    job_image = resources("Job")["optimizer-migrate"]["spec"]["template"]["spec"]["containers"][0]
    images.add(job_image["image"])
    assert len(images) == 1, f"one image for every role: {images}"
    assert image_is_pinned(images.pop())


def test_ingress_service_targets_the_ingress_pods() -> None:
    service = resources("Service")["ingress"]
    selector = service["spec"]["selector"]
    labels = resources("Deployment")["ingress"]["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()
    (port,) = service["spec"]["ports"]
    container = resources("Deployment")["ingress"]["spec"]["template"]["spec"]["containers"][0]
    assert port["targetPort"] in {p["name"] for p in container["ports"]}


def test_migration_job() -> None:
    job = resources("Job")["optimizer-migrate"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    assert pod["containers"][0]["args"] == ["migrate"]


def _env_refs() -> list[tuple[str, str, str]]:
    """(kind, object name, key) of every configMapKeyRef / secretKeyRef / envFrom."""
    refs = []
    for _, doc in documents():
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for item in container.get("env", []):
                source = item.get("valueFrom", {})
                for kind in ("configMapKeyRef", "secretKeyRef"):
                    if kind in source:
                        refs.append((kind, source[kind]["name"], source[kind]["key"]))
            for item in container.get("envFrom", []):
                for kind in ("configMapRef", "secretRef"):
                    if kind in item:
                        refs.append((kind, item[kind]["name"], ""))
    return refs


def test_env_references_resolve_and_cover_every_setting() -> None:
    config = resources("ConfigMap")["optimizer-config"]["data"]
    secret = resources("Secret")["optimizer-secrets"]["stringData"]
    for kind, name, key in _env_refs():
        if kind.startswith("configMap"):
            assert name == "optimizer-config" and (not key or key in config), (kind, key)
        else:
            assert name == "optimizer-secrets" and (not key or key in secret), (kind, key)
    configmap_text = (K8S / "configmap.yaml").read_text()
    for name in setting_env_names():
        # CATALOG_PATH defaults to unset: the ConfigMap documents it in a comment.
        assert name in config or name in secret or f"# {name}:" in configmap_text, name
    assert not set(config) & set(secret), "a setting is both in the ConfigMap and the Secret"
    assert set(config) | set(secret) <= setting_env_names()


def test_secrets_stay_with_the_services_that_use_them() -> None:
    def secret_keys(deployment: str) -> set[str]:
        container = resources("Deployment")[deployment]["spec"]["template"]["spec"]
        return {
            e["name"]
            for e in container["containers"][0].get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        }

    for name in ("ingress", "router"):
        assert "DATABASE_URL" not in secret_keys(name)
    for name in ("feedback", "learner"):
        assert {"DATABASE_URL", "RABBITMQ_URL"} <= secret_keys(name)
        assert not {"ANTHROPIC_API_KEY", "GOOGLE_API_KEY"} & secret_keys(name)


def test_secret_example_holds_only_placeholders() -> None:
    for key, value in resources("Secret")["optimizer-secrets"]["stringData"].items():
        assert "<" in value and ">" in value, f"{key} looks like a real value"


def test_namespace_and_kustomization() -> None:
    for filename, doc in documents():
        if doc["kind"] not in ("Namespace", "Kustomization"):
            assert doc["metadata"].get("namespace") == NAMESPACE, filename
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")}
    assert listed <= on_disk
    assert listed == on_disk - NOT_IN_KUSTOMIZATION
