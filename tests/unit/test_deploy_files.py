"""docker-compose.yml, Dockerfile, .dockerignore and .env.example: parsed and checked offline.

No Docker engine is needed: the files are read as data. Where the Compose CLI is installed,
`docker compose config` also validates the file against the Compose specification.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from shared.settings import Settings
from tests.unit.deploy_support import (
    APP_SERVICES,
    REQUIRED_SERVICES,
    ROOT,
    WORKERS,
    compose,
    compose_variables,
    dockerfile_stages,
    env_example,
    image_is_pinned,
    interpolate,
    service_env,
    setting_env_names,
)

DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


# --- docker-compose.yml ---------------------------------------------------------------------


def test_compose_has_every_service() -> None:
    services = compose()["services"]
    assert set(REQUIRED_SERVICES) <= set(services)
    # Anything beyond the required eight is opt-in (a profile), so `up` starts exactly those.
    for extra in set(services) - set(REQUIRED_SERVICES):
        assert services[extra].get("profiles"), f"{extra} should be behind a profile"


def test_every_image_is_pinned() -> None:
    for name, service in compose()["services"].items():
        image = interpolate(service["image"])
        assert image_is_pinned(image), f"{name}: image {image!r} is not pinned to a version"


def test_long_running_services_have_health_checks() -> None:
    services = compose()["services"]
    for name, service in services.items():
        if name == "migrate":
            assert "healthcheck" not in service
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert check.get("interval") and check.get("retries"), name


def test_workers_report_readiness_through_their_probe_port() -> None:
    for name in WORKERS:
        service = compose()["services"][name]
        command = " ".join(service["healthcheck"]["test"])
        assert "/readyz" in command and "PROBE_PORT" in command, name
        # Slim images have no curl or wget: the check must use the interpreter.
        assert service["healthcheck"]["test"][1] == "python", name
        assert service_env(name)["PROBE_PORT"] == "9000", name
    ingress = " ".join(compose()["services"]["ingress"]["healthcheck"]["test"])
    assert "127.0.0.1:8000/health" in ingress


def test_depends_on_waits_for_health_and_migration() -> None:
    services = compose()["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: use the long form of depends_on"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            assert condition in DEPENDS_CONDITIONS, f"{name} -> {target}: {condition}"
            if target == "migrate":
                assert condition == "service_completed_successfully", name
            else:
                assert condition == "service_healthy", f"{name} -> {target}"
                assert "healthcheck" in services[target], target
    for name in ("feedback", "learner"):
        assert set(services[name]["depends_on"]) == {"rabbitmq", "postgres", "migrate"}
    assert set(services["migrate"]["depends_on"]) == {"postgres"}
    for name in ("ingress", "router"):
        assert "rabbitmq" in services[name]["depends_on"]


def test_migrate_is_a_one_shot() -> None:
    migrate = compose()["services"]["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"  # the string: a bare `no` would be YAML's false


def test_workers_scale_no_container_name_no_host_ports() -> None:
    services = compose()["services"]
    for name in APP_SERVICES:
        assert "container_name" not in services[name], name
    for name in WORKERS:
        assert "ports" not in services[name], f"{name} publishes ports: --scale would clash"
    assert any(interpolate(p).endswith(":8000") for p in services["ingress"]["ports"])


def test_app_services_run_the_cli_with_the_graceful_stop() -> None:
    services = compose()["services"]
    for name in APP_SERVICES:
        service = services[name]
        assert interpolate(service["image"]).startswith("ai-cost-optimizer:"), name
        assert service["build"]["context"] == "."
        assert service.get("stop_grace_period"), name
    for name in ("ingress", "router", "feedback", "learner"):
        assert services[name]["command"] == ["serve", name]


def test_volumes_are_named_and_declared() -> None:
    data = compose()
    declared = set(data.get("volumes", {}))
    used: set[str] = set()
    for name, service in data["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                used.add(source)
    assert used <= declared and declared <= used
    assert any("/var/lib/rabbitmq" in v for v in data["services"]["rabbitmq"]["volumes"])
    assert any("/var/lib/postgresql/data" in v for v in data["services"]["postgres"]["volumes"])


def test_app_environment_holds_only_real_settings_and_all_of_them() -> None:
    names = setting_env_names()
    union: set[str] = set()
    for service in APP_SERVICES:
        env = service_env(service)
        unknown = set(env) - names
        assert not unknown, f"{service} sets variables the settings do not read: {unknown}"
        union |= set(env)
    assert union == names, f"settings no service receives: {names - union}"


def test_each_service_gets_the_connections_it_needs() -> None:
    for service in ("ingress", "router", "feedback", "learner"):
        assert "@rabbitmq:5672" in interpolate(service_env(service)["RABBITMQ_URL"] or "")
    for service in ("migrate", "feedback", "learner"):
        assert "@postgres:5432/" in interpolate(service_env(service)["DATABASE_URL"] or "")
    # The design keeps database credentials away from the ingress and the router.
    for service in ("ingress", "router"):
        assert "DATABASE_URL" not in service_env(service)
    # Provider keys pass through only when set: an empty string would be a "placeholder" key.
    for service in ("ingress", "router"):
        env = service_env(service)
        for key in ("ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "OPENROUTER_API_KEY"):
            assert key in env and env[key] is None, f"{service}: {key}"


def test_compose_defaults_equal_the_settings_defaults() -> None:
    fields = Settings.model_fields
    for service in APP_SERVICES:
        for key, raw in service_env(service).items():
            if raw is None or f"${{{key}:-" not in raw:
                continue  # fixed container values (ports, URLs) or pass-through
            value = interpolate(raw)
            parsed = Settings.model_validate({key.lower(): value}).model_dump()[key.lower()]
            default = fields[key.lower()].get_default(call_default_factory=True)
            assert parsed == default, f"{service}: {key}={value!r}"


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI not installed")
def test_compose_cli_accepts_the_file() -> None:
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("the docker CLI has no compose plugin here")
    result = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


# --- Dockerfile and .dockerignore -----------------------------------------------------------


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_dockerfile_is_multi_stage_on_a_pinned_slim_python() -> None:
    stages = dockerfile_stages(_dockerfile())
    assert len(stages) >= 2
    names = {s["name"] for s in stages}
    for stage in stages:
        if stage["image"] not in names:
            assert image_is_pinned(stage["image"]), stage["image"]
    final = stages[-1]["image"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", final), final
    final_lines = stages[-1]["lines"]
    assert any(k == "COPY" and "--from=builder" in rest for k, rest in final_lines)


def test_dockerfile_final_stage_runs_as_a_non_root_user() -> None:
    final_lines = dockerfile_stages(_dockerfile())[-1]["lines"]
    users = [rest.split(":")[0].strip() for keyword, rest in final_lines if keyword == "USER"]
    assert users, "the final stage sets no USER"
    assert users[-1] not in ("root", "0")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it.
    assert users[-1].isdigit()


def test_dockerfile_entrypoint_and_migrations() -> None:
    stages = dockerfile_stages(_dockerfile())
    final_lines = stages[-1]["lines"]
    assert ("ENTRYPOINT", '["optimizer"]') in final_lines
    builder = " ".join(rest for _, rest in stages[0]["lines"])
    assert "migrations" in builder and "pip wheel" in builder


def test_dockerignore_lets_in_what_the_build_copies_and_keeps_secrets_out() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: exclude everything, then re-include"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for stage in dockerfile_stages(_dockerfile()):
        for keyword, rest in stage["lines"]:
            if keyword == "COPY" and "--from" not in rest:
                for source in rest.split()[:-1]:
                    assert source.rstrip("/") in allowed, f"COPY {source} is ignored"
    assert not any(entry.startswith(".env") for entry in allowed)


# --- .env.example ---------------------------------------------------------------------------


def test_env_example_documents_every_setting() -> None:
    documented = env_example()
    missing = setting_env_names() - set(documented)
    assert not missing, f"add to .env.example: {sorted(missing)}"
    text = (ROOT / ".env.example").read_text().splitlines()
    for name in setting_env_names():
        index = next(i for i, line in enumerate(text) if re.match(rf"^#?\s*{name}=", line))
        assert text[index - 1].startswith("#"), f"{name} has no comment above it"


def test_env_example_values_are_the_defaults() -> None:
    fields = Settings.model_fields
    for name, (value, commented) in env_example().items():
        field = fields.get(name.lower())
        if field is None or commented:
            continue
        parsed = Settings.model_validate({name.lower(): value}).model_dump()[name.lower()]
        default = field.get_default(call_default_factory=True)
        assert parsed == default, f"{name}={value!r} but the default is {default!r}"


def test_env_example_sets_no_provider_key() -> None:
    documented = env_example()
    for key in ("ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "OPENROUTER_API_KEY"):
        assert documented[key][1], f"{key} must stay commented out (unset)"


def test_env_example_documents_every_compose_variable() -> None:
    missing = compose_variables() - set(env_example())
    assert not missing, f"docker-compose.yml reads undocumented variables: {sorted(missing)}"
