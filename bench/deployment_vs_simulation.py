"""Wall time per message round: the same small experiment in simulation and in deployment.

Simulation: `flwr run` on a private local SuperLink with 3 simulated SuperNodes (Ray).
Deployment: a SuperLink and 3 SuperNodes as separate processes on loopback (deploy/), insecure
or over TLS. The node-configs are the same (3 partitions of all users), so both runs compute the
same thing; the script checks that the metrics agree and reports the ServerApp's wall time divided
by the message rounds it ran (train rounds + evaluation rounds).

    python -m bench.deployment_vs_simulation [--epochs 3] [--tls]
"""

import json
import math
import tempfile
import time
from pathlib import Path

import pandas as pd

from deploy.federation import start_federation
from harness.arguments import script_parser
from harness.flwr_local import flwr_run

EXPERIMENT = {
    "synthetic-users": 120,
    "synthetic-items": 150,
    "synthetic-interactions": 20,
    "clients-per-round": 40,
    "seed": 11,
    "lr": 0.05,
    "user-lr": 0.05,
}


def _per_round(folder: Path, epochs: int) -> dict[str, float]:
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed", summary
    rounds = epochs * (math.ceil(EXPERIMENT["synthetic-users"] / EXPERIMENT["clients-per-round"]) + 1)
    return {
        "serverapp-s": summary["wall-time-s"],
        "message-rounds": rounds,
        "s-per-round": summary["wall-time-s"] / rounds,
    }


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        config = {**EXPERIMENT, "epochs": args.epochs, "results-dir": str(root / "results")}
        started = time.time()
        simulated = flwr_run(
            {**config, "run-name": "simulation"},
            root / "flwr-home",
            "num-supernodes=3 client-resources-num-cpus=1",
            timeout=1800,
        )
        simulation_total = time.time() - started
        federation = start_federation(root / "federation", supernodes=3, tls=args.tls)
        try:
            started = time.time()
            output = federation.run({**config, "run-name": "deployment"}, timeout=1800)
            deployment_total = time.time() - started
        finally:
            federation.stop()
        rows = {}
        for name, total, text in (
            ("simulation", simulation_total, simulated.output),
            ("deployment" + (" (TLS)" if args.tls else ""), deployment_total, output),
        ):
            folder = root / "results" / name.split()[0]
            if not (folder / "summary.json").exists():
                raise SystemExit(f"{name} did not finish:\n{text[-3000:]}")
            rows[name] = {**_per_round(folder, args.epochs), "flwr-run-s": round(total, 1)}
        tables = [pd.read_csv(root / "results" / name / "metrics.csv") for name in ("simulation", "deployment")]
        columns = ["recall@10", "ndcg@10", "er@10"]
        same = (tables[0][columns] - tables[1][columns]).abs().max().max() < 1e-6
    print(pd.DataFrame(rows).T.round(2).to_string())
    print(f"\nmetrics identical in both runs: {same}")


if __name__ == "__main__":
    main()
