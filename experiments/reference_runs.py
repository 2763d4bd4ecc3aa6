"""Run the reference code of A-ra / A-hum (PoisonFedDLRS) over seeds, one log per attack and seed, resuming.

    python -m experiments.reference_runs --reference DIR --data-dir DIR \
        --seeds 20220110 1 2 3 4 --attacks A-hum A-ra None --jobs 2

`--reference` is the reference's code, `--data-dir` the published ML-1M split both codes read. The
reference fixes its seed in `main.py` (`setup_seed(20220110)`), so each seed runs from its own
copy of the code, in `--work` (outside the project: the reference is third-party code, read and run
beside the project, never part of it), with only that line changed and `Data/ML` linked to
`--data-dir`. Each run writes `<logs>/<attack>-seed<k>.log` as the reference prints it, with a last
line `DONE` once it has finished; finished logs are skipped, unfinished ones redone from scratch.
`--jobs` runs that many at once, each on one thread. `python -m experiments.reference_comparison` reads
the logs.
"""

import os
import re
import shutil
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.arguments import add_data_dir, existing_dir, script_parser

PROJECT = Path(__file__).resolve().parents[1]
ATTACKS = ("A-hum", "A-ra", "None")
_SEED_LINE = re.compile(r"setup_seed\(\d+\)")


def finished(log: Path) -> bool:
    return log.exists() and log.read_text().rstrip().endswith("DONE")


def seeded_copy(reference: Path, data_dir: Path, work: Path, seed: int) -> Path:
    """A copy of the reference code that seeds itself with `seed` and reads `data_dir` as its ML data."""
    code = work / f"code-seed{seed}"
    if code.exists():
        return code
    shutil.copytree(reference, code)
    for path in code.rglob("*"):  # the shared copy is read-only
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    code.chmod(code.stat().st_mode | stat.S_IWUSR)
    main = code / "main.py"
    text, replaced = _SEED_LINE.subn(f"setup_seed({seed})", main.read_text())
    if replaced != 1:
        raise SystemExit(f"{main}: expected one `setup_seed(...)` call to set the seed, found {replaced}")
    main.write_text(text)
    (code / "Data").mkdir(exist_ok=True)
    (code / "Data" / "ML").symlink_to(data_dir.resolve())
    return code


def run(code: Path, attack: str, epochs: int, rho: float, log: Path) -> str:
    command = [
        sys.executable,
        "-u",
        "main.py",
        "--dataset=ML",
        f"--attack={attack}",
        f"--clients_limit={rho}",
        f"--epochs={epochs}",
        "--device=cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(log, "w") as out:
        code_ok = subprocess.run(command, cwd=code, stdout=out, stderr=subprocess.STDOUT, env=env).returncode == 0
    if code_ok:
        with open(log, "a") as out:
            out.write("DONE\n")
    return f"{log.name}: {'finished' if code_ok else 'FAILED (see the log)'}"


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--reference", type=existing_dir, required=True, metavar="DIR", help="PoisonFedDLRS's code")
    add_data_dir(parser, required=True, help_text="the folder of ML-1M's published split (train.dat, test.dat)")
    parser.add_argument("--work", type=Path, default=PROJECT.parent / "reference-runs")
    parser.add_argument("--logs", type=Path, default=PROJECT / "results" / "reference-logs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[20220110, 1, 2, 3, 4])
    parser.add_argument("--attacks", nargs="+", choices=ATTACKS, default=list(ATTACKS))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--rho", type=float, default=0.001, help="malicious clients per benign one")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    reference, data_dir = Path(args.reference), Path(args.data_dir)
    for option, path, what in (
        ("--reference", reference / "main.py", "the reference code's main.py"),
        ("--data-dir", data_dir / "train.dat", "ML-1M's published split"),
    ):
        if not path.is_file():
            parser.error(f"{option} {path.parent}: no {path.name} ({what})")
    args.logs.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    todo = [
        (attack, seed)
        for attack in args.attacks
        for seed in args.seeds
        if not finished(args.logs / f"{attack}-seed{seed}.log")
    ]
    codes = {seed: seeded_copy(reference, data_dir, args.work, seed) for seed in {seed for _, seed in todo}}
    print(f"{len(todo)} reference run(s) to do, {args.jobs} at a time", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        jobs = [
            pool.submit(run, codes[seed], attack, args.epochs, args.rho, args.logs / f"{attack}-seed{seed}.log")
            for attack, seed in todo
        ]
        for job in jobs:
            print(job.result(), flush=True)


if __name__ == "__main__":
    main()
