"""The nodes named by RABBITMQ_URL: one URL, or several nodes separated by commas.

    amqp://user:pass@node1:5672,node2:5672,node3:5672/vhost     one URL, several hosts
    amqp://user:pass@node1:5672/vhost,amqp://user:pass@node2:5672/vhost   several URLs

A comma inside a password must be written %2C (as any reserved character in a URL).
"""

from __future__ import annotations

import re

_HOST_LIST = re.compile(
    r"(?P<scheme>amqps?)://(?:(?P<userinfo>[^@/?#]*)@)?(?P<hosts>[^/?#@]+)(?P<rest>[/?#][^,]*)?"
)


def broker_addresses(value: str) -> list[str]:
    """The node URLs named by a RABBITMQ_URL (one or more, in order)."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if len(parts) <= 1 or all("://" in part for part in parts):
        return parts or [value]
    match = _HOST_LIST.fullmatch(value.strip())
    if match is None:
        raise ValueError(
            "RABBITMQ_URL: give one URL, URLs separated by commas, or one URL with several "
            "host:port separated by commas"
        )
    userinfo = f"{match['userinfo']}@" if match["userinfo"] is not None else ""
    rest = match["rest"] or "/"
    hosts = [host.strip() for host in match["hosts"].split(",") if host.strip()]
    return [f"{match['scheme']}://{userinfo}{host}{rest}" for host in hosts]
