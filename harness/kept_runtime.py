"""One local SuperLink and one Ray cluster kept up across the many `flwr run`s of a grid, stopped at its end.

A fresh `flwr run` of a small grid cell spends most of its time before and after the run: the local SuperLink
comes up, the simulation starts Ray, and both shut down again (docs/performance.md: about 15 s of a 20-30 s
ML-100K cell). A SuperLink that takes many runs is how Flower is deployed anyway, and the simulation joins an
external Ray cluster through `RAY_ADDRESS` (harness/ray_cluster.py), so a grid can pay the start-up once:
every run still gets its own `flwr-simulation` process, ServerApp and ClientApp actors (the actors end with
their run), from the same app bundle, and gives the same numbers as a fresh one (tests/test_kept_runtime.py).

A run that fails (a bad setting: one error line, the run `failed` in `flwr ls`) leaves the SuperLink sound
and up; a `flwr run` that does not end with exit code 0 (a timeout, a crash) stops the SuperLink and whatever
it started, and the next run brings a new one up under the same FLWR_HOME and ports. `close` stops the
SuperLink and the Ray head by PID.
"""

import shutil
import tempfile
from pathlib import Path

from harness.flwr_local import FlwrRun, flwr_run, local_superlink_env, stop_processes
from harness.ray_cluster import RayHead, start_ray_head, stop_ray_head


class KeptRuntime:
    """A private local SuperLink (under its own FLWR_HOME and ports) and a Ray head of `ray_cpus` CPUs."""

    def __init__(self, ray_cpus: int = 2) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="fedrec-runtime-"))
        self.flwr_home = self.folder / "flwr-home"
        self.head: RayHead | None = start_ray_head(num_cpus=ray_cpus)
        self.env = {**local_superlink_env(self.flwr_home), **self.head.attach_env()}

    def run(self, run_config: dict[str, object], federation_config: str, timeout: float) -> FlwrRun:
        """One `flwr run` of the app on this runtime (harness.flwr_local.flwr_run's arguments)."""
        if self.head is None:
            raise RuntimeError("this runtime was closed")
        return flwr_run(run_config, self.flwr_home, federation_config, timeout, env=self.env, keep_superlink=True)

    def close(self) -> None:
        """Stop the SuperLink with everything it started, then the Ray head; remove the runtime's folder."""
        stop_processes(self.flwr_home)
        if self.head is not None:
            stop_ray_head(self.head)
            shutil.rmtree(self.head.temp_dir, ignore_errors=True)
            self.head = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "KeptRuntime":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
