"""Write ML-1M's published split as a GroupLens `ratings.dat`, for ClusterAttack-UNION's reference code.

    python -m experiments.reference_data --data-dir ML1M --out DIR/ml-1m/ratings.dat

ML1M holds the published split (`train.dat`, `test.dat`: one line per user, `user item item ...`,
0-based; line i is MovieLens UserID i+1). ClusterAttack-UNION reads `ml-1m/ratings.dat`
(`uid::iid::rating::timestamp`), sorts each user's items by timestamp and holds out the last one for
test and the one before for validation. The split carries no ratings or timestamps, so each line's
timestamp is its line number: a user's train.dat items in file order, then their test.dat items, so the
reference's held-out items are the last two of test.dat's line. The rating field is 1 (implicit
feedback; the reference ignores it). Users are written in line order, uid = line + 1; iid = the split's
item index. The project reads the same file (ml-1m from a data-dir with `ratings.dat` and no
`train.dat`), so both codes hold out the same items.
"""

from pathlib import Path

from harness.arguments import add_data_dir, script_parser

SPLIT_FILES = ("train.dat", "test.dat")


def read_split(path: Path) -> list[list[str]]:
    """Each line's item indices (as text), in line order."""
    return [line.split()[1:] for line in path.read_text().splitlines()]


def ratings_lines(train: list[list[str]], test: list[list[str]]) -> list[str]:
    """`uid::iid::1::timestamp` lines, timestamp = line number, each user's train items then test items."""
    if len(train) != len(test):
        raise ValueError(f"train.dat has {len(train)} users, test.dat {len(test)}")
    lines = []
    for user, (train_items, test_items) in enumerate(zip(train, test)):
        for item in train_items + test_items:
            lines.append(f"{user + 1}::{item}::1::{len(lines)}")
    return lines


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    add_data_dir(parser, required=True, help_text="the folder of ML-1M's published split (train.dat, test.dat)")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="the ratings.dat to write")
    args = parser.parse_args()
    folder = Path(args.data_dir)
    for name in SPLIT_FILES:
        if not (folder / name).is_file():
            parser.error(f"--data-dir {folder}: no {name} (ML-1M's published split)")
    try:
        lines = ratings_lines(read_split(folder / "train.dat"), read_split(folder / "test.dat"))
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: {error}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"{args.out}: {len(lines)} interactions of {lines[-1].split('::')[0]} users")


if __name__ == "__main__":
    main()
