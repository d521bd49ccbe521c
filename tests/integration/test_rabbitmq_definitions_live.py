"""infra/rabbitmq/definitions.json imported into a real RabbitMQ, then declared over by the code.

The file goes into a scratch virtual host (`rabbitmqctl import_definitions`), and the project's
own `declare_all` runs against it: if any argument differed, RabbitMQ would refuse the
redeclaration (PRECONDITION_FAILED) exactly as it would at a service's start in Compose. Needs
`rabbitmqctl` with access to the local node (root, or the node's Erlang cookie); skipped otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from faststream.rabbit import RabbitBroker

from shared.messaging.topology import WORK_QUEUES, Topology, declare_all
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def rabbitmqctl(*args: str) -> str:
    result = subprocess.run(
        ["rabbitmqctl", "-q", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {result.stdout}{result.stderr}")
    return result.stdout


@pytest.fixture
def scratch_vhost() -> Iterator[tuple[str, str]]:
    """(vhost, AMQP URL for it) holding the imported definitions; deleted afterwards."""
    url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed: cannot import definitions here")
    try:
        rabbitmqctl("status")
    except (RuntimeError, subprocess.TimeoutExpired):
        pytest.skip("rabbitmqctl cannot reach the local RabbitMQ node (not root, or no broker)")
    vhost = f"optimizer-definitions-{uuid.uuid4().hex[:8]}"
    user = urlsplit(url).username or "guest"
    definitions = json.loads((ROOT / "infra/rabbitmq/definitions.json").read_text())
    # The vhost and the permission first: inside one import they race with each other.
    definitions.pop("vhosts")
    for kind in ("exchanges", "queues", "bindings", "policies"):
        for item in definitions[kind]:
            item["vhost"] = vhost
    try:
        rabbitmqctl("add_vhost", vhost)
        rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        # A world-readable file: the CLI may run as the broker's user (Debian's wrapper does),
        # who cannot read pytest's tmp_path.
        with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
            json.dump(definitions, file)
            file.flush()
            os.chmod(file.name, 0o644)
            rabbitmqctl("import_definitions", file.name)
        vhost_url = urlunsplit(urlsplit(url)._replace(path="/" + quote(vhost, safe="")))
        yield vhost, vhost_url
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False, timeout=60)


def _queues(vhost: str) -> dict[str, str]:
    """queue name -> policy applied to it."""
    rows = rabbitmqctl("list_queues", "-p", vhost, "--no-table-headers", "name", "policy")
    return dict(line.split("\t", 1) for line in rows.splitlines() if "\t" in line)


async def test_services_declare_over_the_imported_definitions(
    scratch_vhost: tuple[str, str],
) -> None:
    vhost, url = scratch_vhost
    expected = set(WORK_QUEUES) | {f"{q}.dead" for q in WORK_QUEUES}
    deadline = time.monotonic() + 15
    while set(await asyncio.to_thread(_queues, vhost)) != expected:
        assert time.monotonic() < deadline, "the import did not create every queue"
        await asyncio.sleep(0.2)  # the import may finish after rabbitmqctl returns

    broker = RabbitBroker(url, logger=None)
    await broker.connect()
    try:
        # Raises (PRECONDITION_FAILED) if any queue or exchange argument differs.
        await declare_all(broker, Topology(Settings.model_validate({"amqp_prefix": ""})))
    finally:
        await broker.stop()

    for name, policy in (await asyncio.to_thread(_queues, vhost)).items():
        wanted = "optimizer-dead-letters" if name.endswith(".dead") else "optimizer-work-queues"
        assert policy == wanted, name
