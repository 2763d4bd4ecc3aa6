"""Write ML-1M's published split as a GroupLens `ratings.dat`, for the protocols that order each user's items by time.

    python -m experiments.reference_data --data-dir ML1M --out DIR/ml-1m/ratings.dat
    python -m experiments.reference_data --data-dir ML1M --out DIR/ratings.dat --order shuffled --seed 0

ML1M holds the published split (`train.dat`, `test.dat`: one line per user, `user item item ...`,
0-based; line i is MovieLens UserID i+1). The split carries no ratings or timestamps, so each line's
timestamp is its line number in the file written here; the rating field is 1 (implicit feedback). Users are
written in line order, uid = line + 1; iid = the split's item index. The project reads the file as `ml-1m`
from a data-dir with `ratings.dat` and no `train.dat`; `users.dat`, if beside the split, is copied beside the
file written, so profiles (e.g. `target-group = "age=18-24"`) keep working.

- `--order file` (the default; for ClusterAttack-UNION's reference code, which reads `ml-1m/ratings.dat`,
  sorts each user's items by timestamp and holds out the last one for test and the one before for
  validation): a user's train.dat items in file order, then their test.dat items, so the held-out items are
  the last two of test.dat's line. Those are concentrated on few items (docs/notes-cluster-gap.md).
- `--order shuffled` (for the sequential protocol of docs/pretrained-backdoor.md): each user's items, train
  and test together, in an order drawn from `--seed`, so a leave-last-out test item is a uniformly random
  item of the user. Not a time order: the split has none to recover.
"""

import shutil
from pathlib import Path

import numpy as np

from harness.arguments import add_data_dir, script_parser

SPLIT_FILES = ("train.dat", "test.dat")
PROFILES = "users.dat"
ORDERS = ("file", "shuffled")


def read_split(path: Path) -> list[list[str]]:
    """Each line's item indices (as text), in line order."""
    return [line.split()[1:] for line in path.read_text().splitlines()]


def ratings_lines(train: list[list[str]], test: list[list[str]], shuffle_seed: int | None = None) -> list[str]:
    """`uid::iid::1::timestamp` lines, timestamp = line number: each user's train items then test items, or, with
    `shuffle_seed`, both together in an order drawn from it (one generator, users in line order)."""
    if len(train) != len(test):
        raise ValueError(f"train.dat has {len(train)} users, test.dat {len(test)}")
    rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
    lines = []
    for user, (train_items, test_items) in enumerate(zip(train, test)):
        items = train_items + test_items
        if rng is not None:
            items = [items[i] for i in rng.permutation(len(items))]
        for item in items:
            lines.append(f"{user + 1}::{item}::1::{len(lines)}")
    return lines


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    add_data_dir(parser, required=True, help_text="the folder of ML-1M's published split (train.dat, test.dat)")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="the ratings.dat to write")
    parser.add_argument("--order", choices=ORDERS, default="file", help="each user's item order (default: file)")
    parser.add_argument("--seed", type=int, default=None, help="the shuffled order's seed (only with --order shuffled)")
    args = parser.parse_args()
    if (args.order == "shuffled") != (args.seed is not None):
        parser.error("--seed goes with --order shuffled, and --order shuffled needs --seed")
    folder = Path(args.data_dir)
    for name in SPLIT_FILES:
        if not (folder / name).is_file():
            parser.error(f"--data-dir {folder}: no {name} (ML-1M's published split)")
    try:
        lines = ratings_lines(read_split(folder / "train.dat"), read_split(folder / "test.dat"), args.seed)
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: {error}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    if (folder / PROFILES).is_file():
        shutil.copyfile(folder / PROFILES, args.out.parent / PROFILES)
    print(f"{args.out}: {len(lines)} interactions of {lines[-1].split('::')[0]} users ({args.order} order)")


if __name__ == "__main__":
    main()
