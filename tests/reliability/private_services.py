"""Private RabbitMQ nodes and a private PostgreSQL cluster for the damage tests.

The damage tests stop brokers and databases. The machine's own RabbitMQ (5672) and PostgreSQL
(5432) serve everyone working on it, so the tests never touch them: every instance here has its
own ports, node name, Erlang cookie, epmd, data and log directories, and is removed afterwards.
Only processes started here are ever stopped or killed, by their own process id.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import free_port

RABBITMQ_SCRIPTS = Path("/usr/lib/rabbitmq/bin")


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 1):
            return True
    except OSError:
        return False


def wait_port(port: int, timeout: float = 60, up: bool = True) -> None:
    """Wait until the port accepts connections (or, with up=False, refuses them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(port) == up:
            return
        time.sleep(0.2)
    raise AssertionError(f"port {port} still {'closed' if up else 'open'} after {timeout}s")


def private_dir(prefix: str, owner: str | None = None) -> Path:
    """A world-traversable temporary directory (pytest's own are 0700, closed to other users)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    if owner and os.geteuid() == 0:
        shutil.chown(path, owner, owner)
    return path


def _run(command: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> str:
    result = subprocess.run(
        command, env=env, capture_output=True, timeout=timeout, check=False, text=True
    )
    if result.returncode != 0:
        output = (result.stderr or result.stdout)[-400:]
        raise RuntimeError(f"{' '.join(command[:3])} failed: {output}")
    return result.stdout


def _stop_group(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Stop a process we started, and its children, through its own process group."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass
class Epmd:
    """An Erlang port mapper of our own, so private nodes never register with the machine's."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["epmd", "-port", str(self.port), "-address", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_port(self.port, 10)

    def stop(self) -> None:
        if self.process:
            _stop_group(self.process)


@dataclass
class RabbitNode:
    """One RabbitMQ node on private ports, run in the foreground as a child of the tests."""

    name: str
    root: Path
    epmd: Epmd
    cookie: str
    amqp_port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def node(self) -> str:
        return f"{self.name}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    def _env(self) -> dict[str, str]:
        home = self.root / "home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(self.cookie)
            cookie.chmod(0o400)
        config = self.root / "rabbitmq.conf"
        # The machine's /etc/rabbitmq/rabbitmq.conf pins port 5672; this file replaces it.
        config.write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.amqp_port}\n"
            "log.console = true\nlog.console.level = warning\nlog.file = false\n"
        )
        plugins = self.root / "enabled_plugins"
        plugins.write_text("[].\n")
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(config.with_suffix("")),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_PID_FILE": str(self.root / "node.pid"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            "ERL_EPMD_PORT": str(self.epmd.port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_CTL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self) -> None:
        """Start the node and wait until it serves AMQP; a restart keeps its queues."""
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "server.log").open("ab")
        self.process = subprocess.Popen(
            [str(RABBITMQ_SCRIPTS / "rabbitmq-server")],
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_booted()

    def wait_booted(self, timeout: float = 120) -> None:
        # `await_startup` fails outright until the node has registered with epmd: poll it.
        deadline = time.monotonic() + timeout
        while True:
            if self.process and self.process.poll() is not None:
                log = (self.root / "server.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"RabbitMQ node {self.node} exited while starting:\n{log}")
            try:
                self.ctl("await_startup", timeout=timeout)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        wait_port(self.amqp_port, 30)

    def ctl(self, *args: str, timeout: float = 120) -> str:
        """rabbitmqctl against this node only (never the machine's)."""
        command = [str(RABBITMQ_SCRIPTS / "rabbitmqctl"), "-n", self.node, *args]
        return _run(command, env=self._env(), timeout=timeout)

    def stop_app(self) -> None:
        """Every client connection drops; queues and messages stay."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        wait_port(self.amqp_port, 60)

    def stop(self) -> None:
        """Stop the whole node (the Erlang VM) as a crash would leave the others: gone."""
        if self.process:
            _stop_group(self.process)
        wait_port(self.amqp_port, 30, up=False)

    def join(self, seed: RabbitNode) -> None:
        self.ctl("stop_app")
        self.ctl("join_cluster", seed.node)
        self.start_app()


@dataclass
class RabbitCluster:
    """Three private nodes joined into one cluster: one epmd, one Erlang cookie."""

    root: Path
    size: int = 3
    nodes: list[RabbitNode] = field(default_factory=list)
    epmd: Epmd = field(default_factory=Epmd)

    def start(self) -> None:
        self.epmd.start()
        cookie = uuid.uuid4().hex
        self.nodes = [
            RabbitNode(f"cluster{n}", self.root / f"cluster{n}", self.epmd, cookie)
            for n in range(1, self.size + 1)
        ]
        for node in self.nodes:
            node.start()
        for node in self.nodes[1:]:
            node.join(self.nodes[0])

    def url(self) -> str:
        """RABBITMQ_URL naming every node (one URL, several hosts)."""
        hosts = ",".join(f"127.0.0.1:{node.amqp_port}" for node in self.nodes)
        return f"amqp://guest:guest@{hosts}/"

    def running(self) -> list[RabbitNode]:
        return [n for n in self.nodes if n.process and n.process.poll() is None]

    def _queue_item(self, queue: str, item: str) -> str:
        """One info item of a queue (leader, members, online), asked of any running node."""
        listing = self.running()[0].ctl(
            "list_queues", "name", item, "--no-table-headers", "--quiet"
        )
        for line in listing.splitlines():
            name, _, value = line.partition("\t")
            if name == queue:
                return value.strip()
        raise AssertionError(f"queue {queue} not found: {listing[-500:]}")

    def leader(self, queue: str) -> RabbitNode:
        """The node that leads a quorum queue now."""
        leader = self._queue_item(queue, "leader")
        return next(n for n in self.nodes if n.node == leader)

    def members(self, queue: str) -> list[str]:
        return sorted(re.findall(r"[\w.-]+@localhost", self._queue_item(queue, "members")))

    def online(self, queue: str) -> list[str]:
        """The members of a quorum queue whose replica runs now."""
        return sorted(re.findall(r"[\w.-]+@localhost", self._queue_item(queue, "online")))

    def keep_logs(self, into: Path) -> None:
        """Copy every node's log (the nodes' directories are removed afterwards)."""
        into.mkdir(parents=True, exist_ok=True)
        for node in self.nodes:
            for log in (node.root / "server.log", *sorted((node.root / "log").glob("*.log"))):
                if log.exists():
                    shutil.copy(log, into / f"{node.name}-{log.name}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.epmd.stop()


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster of our own (initdb + pg_ctl) on a private port, trust auth."""

    root: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _as_owner(self, *command: str) -> list[str]:
        # PostgreSQL refuses to run as root; the package's `postgres` user runs it.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *command]
        return list(command)

    def _bin(self, name: str) -> str:
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
        if found:
            return found[-1]
        on_path = shutil.which(name)
        if not on_path:
            raise RuntimeError(f"PostgreSQL's {name} is not installed")
        return on_path

    def init(self) -> None:
        _run(
            self._as_owner(
                self._bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            )
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=200 -c shared_buffers=64MB"
        )
        _run(
            self._as_owner(
                self._bin("pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.root / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            )
        )

    def stop(self, mode: str = "fast") -> None:
        _run(
            self._as_owner(
                self._bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"
            )
        )

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and answers(self.port)
