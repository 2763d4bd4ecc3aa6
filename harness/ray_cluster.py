"""A Ray cluster of our own on this machine, for running the simulation on an external Ray cluster.

`start_ray_head` runs `ray start --head --block` as a child process with a private `--temp-dir` and
free ports (GCS, Ray client server, dashboard, dashboard agent), so it neither collides with nor is
found by any other Ray on the machine: `ray start` records the cluster address in
`<temp-dir>/ray_current_cluster`, not in `/tmp/ray/ray_current_cluster`, where a plain `ray.init()`
(e.g. Flower's local simulation) would otherwise pick it up and join it. `stop_ray_head` stops it by
PID: SIGTERM to the `ray start --block` process (which shuts its GCS, raylet, agents and workers
down), then SIGTERM/SIGKILL to whatever of its process tree, snapshotted before, is still alive.
`ray stop` is never used: it stops every Ray on the machine.

`ClusterProbe` is a second Ray driver (a subprocess, `python -m harness.ray_probe`) that samples the
cluster's free CPUs and live actors while a run goes on, and reads the GCS's job, actor and node
tables at the end: evidence of where the ClientApps ran, read from Ray itself.

The simulation attaches to the cluster through `RAY_ADDRESS` in the environment of the SuperLink
(inherited by the flwr-simulation process, whose `ray.init()` reads it):
`flwr_run(..., env=head.attach_env())`.
"""

import json
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness.flwr_local import APP_DIR, environment, free_port, terminate, venv_executable


@dataclass
class RayHead:
    """A running `ray start --head --block` and what it started."""

    process: subprocess.Popen
    temp_dir: Path
    address: str  # GCS address "ip:port", as `ray start` recorded it
    num_cpus: int
    log_path: Path
    known: dict[int, psutil.Process] = field(default_factory=dict)  # its tree as ever seen, and probes

    def attach_env(self) -> dict[str, str]:
        """Environment for the SuperLink so its simulation's `ray.init()` joins this cluster."""
        return {"RAY_ADDRESS": self.address}

    def processes(self) -> list[psutil.Process]:
        """The live processes of this head: its process tree, and any process naming its temp dir."""
        self.remember()
        return [process for process in self.known.values() if _alive(process)]

    def remember(self) -> None:
        """Record the head's current process tree (workers come and go; record them while they live)."""
        tree = []
        if self.process.poll() is None:  # not yet reaped, so the PID is still ours
            try:
                root = psutil.Process(self.process.pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        for process in tree + _processes_naming(self.temp_dir):
            self.known.setdefault(process.pid, process)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _processes_naming(temp_dir: Path) -> list[psutil.Process]:
    """Processes whose command line names `temp_dir` (GCS, raylet, agents, monitors, ...)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if str(temp_dir) in " ".join(process.info["cmdline"] or []):
                found.append(process)
        except psutil.Error:
            continue
    return found


def start_ray_head(num_cpus: int = 2, temp_dir: Path | None = None, timeout: float = 120) -> RayHead:
    """`ray start --head --block` with `num_cpus` CPUs, a private temp dir and free ports; waits until up.

    The temp dir is short (`/tmp/rayc-*`) by default: Ray puts unix sockets under it and socket paths
    are limited to ~107 characters.
    """
    temp_dir = Path(temp_dir or tempfile.mkdtemp(prefix="rayc-", dir="/tmp"))
    temp_dir.mkdir(parents=True, exist_ok=True)
    log_path = temp_dir / "ray-start.log"
    command = [
        venv_executable("ray"),
        "start",
        "--head",
        "--block",
        f"--num-cpus={num_cpus}",
        "--num-gpus=0",
        f"--port={free_port()}",
        f"--ray-client-server-port={free_port()}",
        "--include-dashboard=false",
        f"--dashboard-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
    ]
    env = environment({"RAY_USAGE_STATS_ENABLED": "0"})
    env.pop("RAY_ADDRESS", None)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, env=env, cwd=temp_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    head = RayHead(process, temp_dir, "", num_cpus, log_path)
    address_file = temp_dir / "ray_current_cluster"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            head.remember()
            if process.poll() is not None:
                raise RuntimeError(f"`ray start --head` exited with {process.returncode}:\n{log_path.read_text()}")
            address = address_file.read_text().strip() if address_file.exists() else ""
            if address and "Ray runtime started" in log_path.read_text():
                head.address = address
                head.remember()
                return head
            time.sleep(0.2)
        raise TimeoutError(f"Ray head not up after {timeout:.0f}s:\n{log_path.read_text()}")
    except BaseException:
        stop_ray_head(head)
        raise


def stop_ray_head(head: RayHead, grace: float = 10.0) -> list[psutil.Process]:
    """Stop the head and every process of its tree, by PID (SIGTERM, then SIGKILL after `grace`).

    Returns the processes of the head still alive afterwards (none, normally): its whole tree as seen
    at any `remember()`, and any process whose command line names its temp dir.
    """
    head.remember()
    if head.process.poll() is None:
        head.process.send_signal(signal.SIGTERM)  # `ray start --block` shuts its processes down
        try:
            head.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    terminate(head.processes(), grace=3.0)
    if head.process.poll() is None:
        head.process.kill()
        head.process.wait(timeout=5)
    return head.processes()


@contextmanager
def ray_head(num_cpus: int = 2) -> Iterator[RayHead]:
    """A Ray head for the duration of the block; stopped by PID (also on failure), its temp dir removed."""
    head = start_ray_head(num_cpus=num_cpus)
    try:
        yield head
    finally:
        stop_ray_head(head)
        shutil.rmtree(head.temp_dir, ignore_errors=True)


class ClusterProbe:
    """A Ray driver that watches the cluster while a run goes on (see `harness/ray_probe.py`).

    `start()` returns once it is connected; `finish()` returns what it saw: `samples` (free CPUs and
    live actors per class, every `interval` s) and, read at the end, `jobs`, `actors` and `nodes`.
    """

    def __init__(self, head: RayHead, interval: float = 0.25) -> None:
        self.head = head
        self.interval = interval
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> "ClusterProbe":
        env = environment({"RAY_ADDRESS": self.head.address, "RAY_USAGE_STATS_ENABLED": "0"})
        with open(self.head.temp_dir / "probe.err", "w") as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "harness.ray_probe", self.head.address, str(self.interval)],
                env=env,
                cwd=APP_DIR,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                start_new_session=True,
            )
        # A driver of the head's cluster: stop_ray_head stops it too, should the caller not.
        self.head.known[self.process.pid] = psutil.Process(self.process.pid)
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"Ray probe did not connect within {timeout:.0f}s: {line!r}\n{self.errors()}")
        return self

    def errors(self) -> str:
        path = self.head.temp_dir / "probe.err"
        return path.read_text()[-3000:] if path.exists() else ""

    def finish(self, timeout: float = 60) -> dict:
        """Stop sampling, read the final tables, and return everything as a dict."""
        assert self.process is not None
        try:
            out, _ = self.process.communicate(input="stop\n", timeout=timeout)
        finally:
            self.stop()
        if self.process.returncode != 0:
            raise RuntimeError(f"Ray probe failed ({self.process.returncode}): {self.errors()}")
        return json.loads(out)

    def stop(self) -> None:
        """Stop the probe process by PID if it still runs."""
        if self.process is not None and self.process.poll() is None:
            terminate([psutil.Process(self.process.pid)], grace=3.0)
