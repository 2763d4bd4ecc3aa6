"""Deployment through real Flower processes: a SuperLink and its SuperNodes on loopback (deploy/).

Every process a test starts is stopped by PID in a `finally`, also when the test fails, and the
test checks that none survives.
"""

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from app_config import make_config
from deploy.federation import Federation, is_running, start_federation
from harness.plain_loop import run_plain

pytestmark = pytest.mark.e2e

SMALL = {
    "synthetic-users": 60,
    "synthetic-items": 80,
    "synthetic-interactions": 15,
    "clients-per-round": 64,
    "epochs": 2,
    "seed": 3,
    "lr": 0.05,
    "user-lr": 0.05,
    "round-timeout": 300.0,
}


@pytest.fixture
def federation_factory(tmp_path: Path) -> Iterator:
    started: list[Federation] = []

    def start(**options: object) -> Federation:
        federation = start_federation(tmp_path / f"federation-{len(started)}", **options)
        started.append(federation)
        return federation

    yield start
    for federation in started:
        federation.stop(grace=2.0)
        survivors = [spec.name for spec in federation.processes() if is_running(spec.pid)]
        assert not survivors, f"still running after stop: {survivors}"


def _results(federation: Federation, name: str) -> Path:
    return federation.folder / "results" / name


def _run(federation: Federation, name: str, **extra: object) -> tuple[Path, str]:
    overrides = {**SMALL, **extra, "results-dir": str(federation.folder / "results"), "run-name": name}
    return _results(federation, name), federation.run(overrides, timeout=900)


def _summary(folder: Path, output: str) -> dict:
    assert (folder / "summary.json").exists(), output[-4000:]
    return json.loads((folder / "summary.json").read_text())


def test_a_benign_and_an_attacker_supernode_run_an_attack_that_raises_the_targets_exposure(
    federation_factory,
) -> None:
    """Also the attack's end-to-end check: its uploads are recorded per group and it raises ER@10. (In
    simulation, fake users sharing nodes with real ones, the attacks run in test_recorded_runs; the
    slow tests below run three SuperNodes.)"""
    federation = federation_factory(supernodes=2, attackers=1)
    assert [node.role for node in federation.supernodes] == ["benign", "attacker"]
    folder, output = _run(federation, "a-ra", attack="a-ra", **{"malicious-fraction": 0.05})
    summary = _summary(folder, output)
    assert summary["status"] == "completed" and summary["epochs-completed"] == 2, output[-3000:]
    assert summary["failed-replies-total"] == 0 and summary["missed-users-total"] == 0
    config = json.loads((folder / "config.json").read_text())
    assert config["num-nodes"] == 2 and config["num-users"] == 63 and config["num-malicious"] == 3
    table = pd.read_csv(folder / "metrics.csv")
    assert table["epoch"].tolist() == [1, 2]
    assert (table["evaluated-users"] == 60).all(), "every real user is evaluated; fake users are not"
    norms = pd.read_csv(folder / "update-norms.csv")
    assert norms.groupby("epoch")["updates"].sum().tolist() == [63, 63]
    malicious = norms[norms["group"] == "malicious"]
    assert malicious["updates"].tolist() == [3, 3], "the attacker node's 3 fake users upload every epoch"
    pushes = pd.read_csv(folder / "target-pushes.csv").set_index(["epoch", "group"])
    attackers = pushes.xs("malicious", level="group")
    assert attackers["target-rows"].tolist() == [3, 3], "each attacker uploads its target row once per epoch"
    assert (attackers["push-norm"] > 0).all()
    # The same run without the attack, in the plain single-process loop (identical math, test_e2e_flwr).
    clean = run_plain(make_config(SMALL), log=False)
    assert table["er@10"].iloc[-1] > clean["er@10"], "A-ra raises the target's exposure"
    assert (federation.folder / "logs" / "supernode-1.log").stat().st_size > 0
    listing = federation.flwr("ls")
    assert listing.returncode == 0 and "finished" in listing.stdout, listing.stdout + listing.stderr


@pytest.mark.slow
def test_the_same_run_over_tls_with_generated_certificates_and_node_authentication(federation_factory) -> None:
    federation = federation_factory(supernodes=3, attackers=1, tls=True, authenticate_nodes=True)
    connection = (federation.flwr_home / "config.toml").read_text()
    assert "root-certificates" in connection and "insecure" not in connection
    assert {"--ssl-certfile", "--enable-supernode-auth"} <= set(federation.superlink.command)
    for node in federation.supernodes:
        assert {"--root-certificates", "--auth-supernode-private-key"} <= set(node.command)
        assert "--insecure" not in node.command
    folder, output = _run(federation, "tls", attack="a-ra", **{"malicious-fraction": 0.05})
    summary = _summary(folder, output)
    assert summary["status"] == "completed" and summary["epochs-completed"] == 2, output[-3000:]
    assert summary["failed-replies-total"] == 0
    assert "https://" in (federation.folder / "logs" / "superlink.log").read_text(), "the SuperLink serves TLS"


def _wait_for_epoch(folder: Path, epoch: int, run: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = folder / "metrics.csv"
        if metrics.exists() and len(pd.read_csv(metrics)) >= epoch:
            return
        assert run.poll() is None, "the run ended early: " + run.stdout.read()[-3000:]
        time.sleep(0.5)
    raise TimeoutError(f"epoch {epoch} not written within {timeout}s")


@pytest.mark.slow
def test_a_killed_supernode_is_a_counted_failure_and_a_restarted_one_rejoins(federation_factory) -> None:
    federation = federation_factory(supernodes=3)
    overrides = {
        **SMALL,
        "epochs": 4,
        "round-timeout": 45.0,
        "results-dir": str(federation.folder / "results"),
        "run-name": "faults",
    }
    folder = _results(federation, "faults")
    run = federation.submit(overrides)
    try:
        _wait_for_epoch(folder, 1, run, timeout=600)
        victim = federation.supernodes[1]
        federation.kill_supernode(1)
        assert not is_running(victim.pid)
        federation.restart_supernode(1)
        output, _ = run.communicate(timeout=900)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    summary = _summary(folder, output)
    assert summary["status"] == "completed" and summary["epochs-completed"] == 4, output[-3000:]
    table = pd.read_csv(folder / "metrics.csv")
    assert summary["failed-replies-total"] >= 1 and summary["missed-users-total"] >= 1, table.to_string()
    assert table["failed-replies"].iloc[0] == 0, "no failure before the kill"
    # The restarted SuperNode registered under a new node id and took its users back.
    assert table["failed-replies"].iloc[-1] == 0 and table["missed-users"].iloc[-1] == 0, table.to_string()
    assert table["evaluated-users"].iloc[-1] == 60, table.to_string()
    assert "rejoin: node" in output
