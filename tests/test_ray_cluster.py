"""The simulation on an external Ray cluster: a Ray head of our own, and `flwr run` attached to it.

A Ray head with 2 CPUs is started on this machine (`ray start --head --block`, private temp dir, free
ports); `flwr run` on a private local SuperLink gets `RAY_ADDRESS` = that head, so the simulation's
`ray.init()` joins it instead of starting Flower's own local Ray. A second Ray driver (the probe)
watches the cluster meanwhile. The test checks from Ray's own tables that Flower's simulation was a
job of that cluster and its ClientApps ran there as `ClientAppActor`s holding the cluster's CPUs, that
the run completed, and that every process started (head, GCS, raylet, agents, workers, probe,
SuperLink, simulation) is gone afterwards, stopped by PID.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psutil
import pytest

from harness.flwr_local import flwr_run
from harness.ray_cluster import ClusterProbe, RayHead, ray_head, stop_ray_head

pytestmark = pytest.mark.e2e

CLUSTER_CPUS = 2
SMALL = {
    "synthetic-users": 60,
    "synthetic-items": 80,
    "synthetic-interactions": 10,
    "clients-per-round": 20,
    "epochs": 2,
    "seed": 7,
}


@pytest.fixture
def ray_cluster() -> Iterator[RayHead]:
    with ray_head(num_cpus=CLUSTER_CPUS) as head:  # stopped also when the test fails; a no-op if it already was
        yield head


def test_the_simulation_runs_its_clientapps_on_an_external_ray_cluster(ray_cluster: RayHead, tmp_path: Path) -> None:
    head = ray_cluster
    probe = ClusterProbe(head).start()
    try:
        overrides = {**SMALL, "results-dir": str(tmp_path / "results"), "run-name": "ray-cluster"}
        # One CPU per ClientApp: Flower sizes its actor pool to the cluster, 2 CPUs -> 2 actors.
        run = flwr_run(
            overrides,
            tmp_path / "flwr-home",
            env=head.attach_env(),
            timeout=300,
            federation_config="num-supernodes=2 client-resources-num-cpus=1",
        )
        seen = probe.finish()
    finally:
        probe.stop()
    context = f"{run.output[-3000:]}\nprobe: {json.dumps({k: v for k, v in seen.items() if k != 'samples'})}"

    folder = tmp_path / "results" / "ray-cluster"
    assert (folder / "summary.json").exists(), context
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs-completed"] == 2, context

    # The cluster is our head alone, with its 2 CPUs.
    (node,) = [node for node in seen["nodes"] if node["alive"]]
    assert node["cpus"] == CLUSTER_CPUS and seen["cluster-cpus"] == CLUSTER_CPUS

    # Flower's simulation process was a driver (job) of this cluster ...
    simulation_jobs = [job for job in seen["jobs"] if "flwr-simulation" in job["entrypoint"]]
    assert len(simulation_jobs) == 1, context
    job = simulation_jobs[0]["job-id"]
    # ... and its ClientApps ran as actors of this cluster, on our node: one per CPU.
    actors = [actor for actor in seen["actors"] if actor["job-id"] == job]
    assert [actor["class"] for actor in actors] == ["ClientAppActor"] * CLUSTER_CPUS, context
    assert {actor["node-id"] for actor in actors} == {node["node-id"]}
    assert all(actor["state"] == "DEAD" for actor in actors), "the actors end with the run"

    # While the run went on, they were alive and held every CPU of the cluster; afterwards all are free.
    assert max(sample["alive-actors"].get("ClientAppActor", 0) for sample in seen["samples"]) == CLUSTER_CPUS
    assert min(sample["free-cpus"] for sample in seen["samples"]) == 0
    assert seen["free-cpus"] == CLUSTER_CPUS

    table = pd.read_csv(folder / "metrics.csv")
    assert table["epoch"].tolist() == [1, 2] and table["evaluated-users"].iloc[-1] == 60
    assert table["train-loss"].iloc[-1] < table["train-loss"].iloc[0], "training lowers the loss"

    # Every process is stopped by PID: the SuperLink's and the simulation's (the job's driver) by
    # flwr_run, the probe, and the cluster's whole process tree; nothing naming its temp dir is left.
    assert not _running(simulation_jobs[0]["driver-pid"])
    assert not [p.pid for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert probe.process is not None and probe.process.poll() is not None
    assert stop_ray_head(head) == []


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
