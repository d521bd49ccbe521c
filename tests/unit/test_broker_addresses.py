"""RABBITMQ_URL naming one node or several (shared/broker_urls.py)."""

from __future__ import annotations

import pytest

from shared.broker_urls import broker_addresses
from shared.settings import Settings


def test_one_url_is_itself() -> None:
    assert broker_addresses("amqp://u:p@mq:5672/") == ["amqp://u:p@mq:5672/"]


def test_several_hosts_share_credentials_vhost_and_query() -> None:
    assert broker_addresses("amqp://u:p%2Cq@a:5672,b:5673, c/prod?heartbeat=30") == [
        "amqp://u:p%2Cq@a:5672/prod?heartbeat=30",
        "amqp://u:p%2Cq@b:5673/prod?heartbeat=30",
        "amqp://u:p%2Cq@c/prod?heartbeat=30",
    ]
    assert broker_addresses("amqps://a,b") == ["amqps://a/", "amqps://b/"]


def test_several_urls_are_kept_as_given() -> None:
    assert broker_addresses("amqp://u:p@a:5672/, amqp://v:q@b:5672/x") == [
        "amqp://u:p@a:5672/",
        "amqp://v:q@b:5672/x",
    ]


def test_a_list_that_is_neither_is_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="RABBITMQ_URL"):
        Settings(rabbitmq_url="amqp://a:5672/,b:5672/")


def test_production_refuses_guest_on_any_node() -> None:
    with pytest.raises(ValueError, match="RABBITMQ_URL uses default"):
        Settings(
            environment="production",
            allow_simulated_in_production=True,
            rabbitmq_url="amqp://app:s3cret-pass@a/,amqp://guest:guest@b/",
        )
