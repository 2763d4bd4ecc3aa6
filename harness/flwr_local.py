"""Run the app with `flwr run` on a private local SuperLink, and stop every process afterwards.

`flwr run .` starts a background SuperLink (in simulation mode) that outlives the run. Here it gets
its own FLWR_HOME and its own free ports (the local SuperLink otherwise always listens on 39091 and
39093, and a second `flwr run` with another FLWR_HOME would silently submit to the first one's
SuperLink, running whatever app version that one was started from), runtime
dependency installation is disabled (it would `uv sync` a fresh env and fetch a CUDA torch), and
every process it spawned is found by that FLWR_HOME and stopped by PID when the run ends, also on
failure. Peak memory is sampled over the whole process tree (SuperLink, simulation, Ray workers), as the
sum of resident sets and as the sum of proportional sets (which counts a shared library once in all).
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

APP_DIR = Path(__file__).resolve().parents[1]


@dataclass
class FlwrRun:
    returncode: int
    output: str
    wall_time_s: float
    peak_rss_mb: float  # summed resident sets: a shared page (torch's libraries) counts once per process
    peak_pss_mb: float = 0.0  # the sum of their proportional sets: each shared page split among its processes


def venv_executable(name: str) -> str:
    """A console script of this Python environment (flwr, flower-superlink, ...), else from PATH."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def flwr_executable() -> str:
    return venv_executable("flwr")


def environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment plus `extra`, with this environment's scripts first on PATH (Flower
    starts helper processes such as flwr-clientapp by name)."""
    env = {**os.environ, **extra}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _processes_of(flwr_home: Path) -> list[psutil.Process]:
    """The SuperLink started for this FLWR_HOME, and all its descendants."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "flower-superlink" in cmdline and str(flwr_home) in cmdline:
            try:
                found += [process, *process.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
    return found


def _memory_mb(processes: list[psutil.Process]) -> tuple[float, float]:
    """(RSS, PSS) summed over the processes, in MB (PSS 0 where the system does not report it)."""
    rss = pss = 0
    for process in processes:
        try:
            info = process.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        pss += getattr(info, "pss", 0)
    return rss / 2**20, pss / 2**20


def terminate(processes: list[psutil.Process], grace: float) -> None:
    """SIGTERM the processes, then SIGKILL those still alive after `grace` seconds (at once if 0)."""
    for process in processes:
        try:
            process.send_signal(signal.SIGTERM if grace > 0 else signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=max(grace, 0.5))
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def stop_processes(flwr_home: Path, grace: float = 5.0) -> None:
    """Terminate (then kill) the SuperLink of `flwr_home` and everything it started."""
    terminate(_processes_of(flwr_home), grace)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def run_config_argument(run_config: dict[str, object]) -> str:
    """The value of `flwr run --run-config` for these overrides."""
    return " ".join(f"{key}={toml_value(value)}" for key, value in run_config.items())


def local_superlink_env(flwr_home: Path) -> dict[str, str]:
    """The variables that give `flwr run` a private local SuperLink under `flwr_home`: its FLWR_HOME, free ports,
    runtime dependency installation off. A later `flwr run` with the same variables finds that SuperLink up and
    submits to it (harness/kept_runtime.py)."""
    return {
        "FLWR_HOME": str(flwr_home),
        "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
        "FLWR_LOCAL_SUPERLINK_HTTP_API_PORT": str(free_port()),
        "FLWR_LOCAL_CONTROL_API_PORT": str(free_port()),
    }


def flwr_run(
    run_config: dict[str, object],
    flwr_home: Path,
    federation_config: str = "num-supernodes=2 client-resources-num-cpus=1",
    timeout: float = 900,
    app_dir: Path = APP_DIR,
    env: dict[str, str] | None = None,
    after: Callable[[dict[str, str]], None] | None = None,
    keep_superlink: bool = False,
) -> FlwrRun:
    """`flwr run <app> --stream` with the given overrides; returns its output, wall time and peak RSS.

    `env` adds environment variables for `flwr run` and so for the SuperLink it starts and the
    simulation process (e.g. `RAY_ADDRESS` to run on an external Ray cluster, harness.ray_cluster), and
    may hold `local_superlink_env`'s variables of an earlier run to reach its SuperLink.
    `after(env)` runs once `flwr run` has returned, while the SuperLink still runs (e.g. to read
    `flwr ls` with harness.flwr_records), before every process is stopped. With `keep_superlink`, a run
    that ended with exit code 0 leaves the SuperLink up for the next run (`flwr run --stream` exits with 0 also
    when the run itself failed: the SuperLink is sound then); any other end (a timeout, a crash) stops it all.
    """
    flwr_home.mkdir(parents=True, exist_ok=True)
    env = environment({**local_superlink_env(flwr_home), **(env or {})})
    command = [flwr_executable(), "run", str(app_dir), "--stream", "--federation-config", federation_config]
    if run_config:
        command += ["--run-config", run_config_argument(run_config)]
    peak_rss = peak_pss = 0.0
    done = threading.Event()

    def sample_memory() -> None:
        nonlocal peak_rss, peak_pss
        while not done.wait(0.5):
            rss, pss = _memory_mb(_processes_of(flwr_home))
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)

    sampler = threading.Thread(target=sample_memory, daemon=True)
    started = time.time()
    sampler.start()
    keep = False
    try:
        completed = subprocess.run(
            command, env=env, cwd=app_dir, capture_output=True, text=True, timeout=timeout, check=False
        )
        if after is not None:
            after(env)
        output = completed.stdout + completed.stderr
        keep = keep_superlink and completed.returncode == 0
        return FlwrRun(completed.returncode, output, time.time() - started, peak_rss, peak_pss)
    finally:
        done.set()
        sampler.join()
        if not keep:
            stop_processes(flwr_home)
