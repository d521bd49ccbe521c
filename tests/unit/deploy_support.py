"""Helpers for the tests of the deployment files (compose, Dockerfile, .env.example, k8s)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

REQUIRED_SERVICES = (
    "rabbitmq",
    "postgres",
    "pgadmin",
    "migrate",
    "ingress",
    "router",
    "feedback",
    "learner",
)
APP_SERVICES = ("migrate", "ingress", "router", "feedback", "learner")
WORKERS = ("router", "feedback", "learner")

# `$$` (a literal dollar), ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}.
_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def setting_env_names() -> set[str]:
    """Every environment variable the services' settings read."""
    return {name.upper() for name in Settings.model_fields}


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def interpolate(value: str) -> str:
    """Compose interpolation with every variable unset: the defaults written in the file."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        operator, default = match.group(2), match.group(3)
        return default if operator in (":-", "-") else ""

    return _INTERPOLATION.sub(replace, value)


def compose_variables() -> set[str]:
    """Names of the variables docker-compose.yml interpolates."""
    text = COMPOSE_FILE.read_text()
    return {m.group(1) for m in _INTERPOLATION.finditer(text) if m.group(1)}


def service_env(service: str) -> dict[str, str | None]:
    env = compose()["services"][service].get("environment", {})
    assert isinstance(env, dict), f"{service}: use the mapping form of `environment`"
    return {key: (None if value is None else str(value)) for key, value in env.items()}


def env_example() -> dict[str, tuple[str, bool]]:
    """NAME -> (value, commented) for every `NAME=value` or `# NAME=value` line."""
    found: dict[str, tuple[str, bool]] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            value = match.group(3).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            found.setdefault(match.group(2), (value, match.group(1) is not None))
    return found


def image_is_pinned(image: str) -> bool:
    """name:tag with a real version tag (not latest), or a digest."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return False
    return tag != "latest" and bool(re.search(r"\d", tag))


def dockerfile_stages(text: str) -> list[dict[str, Any]]:
    """FROM stages of a Dockerfile, ARG defaults resolved: [{image, name, lines}]."""
    args: dict[str, str] = {}
    stages: list[dict[str, Any]] = []
    logical = re.sub(r"\\\n", " ", text)
    for raw in logical.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif keyword == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append({"image": image, "name": name, "lines": []})
        elif stages:
            stages[-1]["lines"].append((keyword, rest))
    return stages
