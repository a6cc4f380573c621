"""A real Ray cluster (a head and worker nodes on this machine) and a PostgreSQL server.

PostgreSQL: RFCONSOLE_TEST_DB when set, else a throwaway server started from
Debian's binaries (/usr/lib/postgresql/*/bin) on a free loopback port, as the
`postgres` user when the tests run as root (initdb refuses root). Ray: nodes
started with `ray.cluster_utils.Cluster`, one CPU each, no dashboard, a small
object store; shut down at the end of the session. In CI (CI=true) a missing
Ray or PostgreSQL is a failure; elsewhere the tests are skipped, saying why.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rfconsole.db import Store

SERVER_URL = os.environ.get("RFCONSOLE_TEST_DB") or None  # read before the autouse fixture clears it
NODE_OBJECT_STORE = 80 * 1024 * 1024  # bytes per node; Ray's minimum is about 75 MB
# Node deaths are noticed within a second or two instead of Ray's default of about 15 s.
FAST_FAILURE_DETECTION = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"The cluster tests must run in CI: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the session: RFCONSOLE_TEST_DB, or one started here."""
    if importlib.util.find_spec("psycopg") is None:
        _unavailable("needs the PostgreSQL driver: pip install -e '.[postgres]'")
    if SERVER_URL is not None:
        yield SERVER_URL
        return
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        _unavailable("needs PostgreSQL's server binaries (Debian's postgresql package) or RFCONSOLE_TEST_DB")
    bin_dir = Path(binaries[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="rfconsole-pg-"))
    port = _free_port()
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(folder, "postgres")

    def run(command: str) -> None:
        argv = ["su", "postgres", "-s", "/bin/sh", "-c", command] if as_root else ["sh", "-c", command]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    data, ctl = shlex.quote(str(folder / "data")), shlex.quote(str(bin_dir / "pg_ctl"))
    options = shlex.quote(f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off")
    try:
        run(f"{shlex.quote(str(bin_dir / 'initdb'))} -D {data} -A trust -U postgres")
        run(f"{ctl} -D {data} -l {shlex.quote(str(folder / 'server.log'))} -w -o {options} start")
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        _unavailable(f"could not start a throwaway PostgreSQL ({exc})")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        try:
            run(f"{ctl} -D {data} -m immediate stop")
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_url: str, new_schema: Callable[..., Any]) -> Iterator[str]:
    """The URL of a new schema on the session's PostgreSQL server, dropped afterwards."""
    with new_schema(postgres_url, prefix="rfc_ray") as url:
        yield url


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    """A Store on its own schema of the session's PostgreSQL server."""
    store = Store.open(pg_url)
    try:
        yield store
    finally:
        store.close()


class RayCluster:
    """The session's cluster: `add_worker()` and `kill(node)` for the failure tests."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.address: str = cluster.address

    def add_worker(self, num_cpus: int = 1) -> Any:
        node = self.cluster.add_node(num_cpus=num_cpus, object_store_memory=NODE_OBJECT_STORE)
        self.cluster.wait_for_nodes()
        return node

    def kill(self, node: Any) -> None:
        """The node dies at once: its raylet and its workers are killed, not asked to stop."""
        self.cluster.remove_node(node, allow_graceful=False)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """A head node (no CPUs for actors: runs live on worker nodes) and one worker node, with
    the test process connected as the driver."""
    if importlib.util.find_spec("ray") is None:
        _unavailable("needs Ray: pip install -e '.[ray]'")
    import ray
    from ray.cluster_utils import Cluster

    usage_stats = os.environ.get("RAY_USAGE_STATS_ENABLED")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # no usage reports from tests
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False, "object_store_memory": NODE_OBJECT_STORE,
        "_system_config": FAST_FAILURE_DETECTION})
    try:
        wrapper = RayCluster(cluster)
        wrapper.add_worker(num_cpus=2)
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        yield wrapper
    finally:
        ray.shutdown()
        cluster.shutdown()
        if usage_stats is None:
            os.environ.pop("RAY_USAGE_STATS_ENABLED", None)
        else:
            os.environ["RAY_USAGE_STATS_ENABLED"] = usage_stats
