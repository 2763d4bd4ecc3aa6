"""The numbers a generated seed-by-seed claim carries, read back from its text.

Reports state a comparison of two conditions as `experiments.seeds.Paired.evidence()` words it
(`in 2 of 3 seeds, equal in 1 (seed 1 +0.3000, ...; mean +0.1333)`); tests check the numbers this
reads from a report, not the wording around them.
"""

import re
from dataclasses import dataclass, field

_EVIDENCE = re.compile(r"in (?:no seed|(\d+) of (\d+) seeds?)(?:, equal in (\d+))? \(([^()]*)\)")
_SEED_DIFFERENCE = re.compile(r"seed (\d+) ([+-]\d+(?:\.\d+)?)")
_MEAN = re.compile(r"mean ([+-]\d+(?:\.\d+)?)")


@dataclass
class Evidence:
    """In how many of the `n` seeds both conditions ran a > b held (`ties` more had a == b), the
    per-seed differences a - b as printed, and their mean (absent for fewer than two seeds)."""

    holds: int
    n: int
    ties: int = 0
    differences: dict[int, float] = field(default_factory=dict)
    mean: float | None = None


def evidences(text: str) -> list[Evidence]:
    """Every seed-by-seed comparison stated in `text`, in order."""
    found = []
    for match in _EVIDENCE.finditer(text):
        holds, n, ties, inside = match.groups()
        mean = _MEAN.search(inside)
        found.append(
            Evidence(
                holds=int(holds or 0),
                n=int(n or 0),
                ties=int(ties or 0),
                differences={int(seed): float(value) for seed, value in _SEED_DIFFERENCE.findall(inside)},
                mean=float(mean.group(1)) if mean else None,
            )
        )
    return found


def claims(text: str) -> dict[str, Evidence]:
    """The report's bullet claims (`- <subject> in k of n seeds (...).`), each as its subject and evidence."""
    found = {}
    for line in text.splitlines():
        match = _EVIDENCE.search(line)
        if line.startswith("- ") and match:
            found[line[2 : match.start()].strip()] = evidences(line)[0]
    return found


def claim(text: str, *words: str) -> Evidence:
    """The one claim of `text` whose subject names all of `words` (runs, metric, rho)."""
    matching = {
        subject: evidence for subject, evidence in claims(text).items() if all(word in subject for word in words)
    }
    assert len(matching) == 1, f"claims naming {words}: {list(matching)}"
    return next(iter(matching.values()))
