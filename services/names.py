"""The services a process can run, by name (`optimizer serve NAME`), and earlier names."""

from __future__ import annotations

SERVICES = ("ingress", "router", "ledger", "learner")
# Earlier names that operators' commands and manifests still use.
ALIASES = {"feedback": "ledger"}


def canonical(services: list[str] | tuple[str, ...]) -> list[str]:
    """Service names with the earlier names replaced, each once, in the order given."""
    return list(dict.fromkeys(ALIASES.get(name, name) for name in services))
