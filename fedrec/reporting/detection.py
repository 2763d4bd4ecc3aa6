"""Detection rates of a defense that rejects (or clips) users, against the simulation's ground truth."""

from dataclasses import dataclass

import numpy as np


@dataclass
class DetectionCounts:
    """Flagged-vs-malicious counts accumulated over the rounds of an epoch."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    rounds: int = 0

    def add(self, flagged: np.ndarray, malicious: np.ndarray) -> None:
        self.true_positives += int((flagged & malicious).sum())
        self.false_positives += int((flagged & ~malicious).sum())
        self.false_negatives += int((~flagged & malicious).sum())
        self.rounds += 1

    def reset(self) -> None:
        self.true_positives = self.false_positives = self.false_negatives = self.rounds = 0

    def metrics(self) -> dict[str, float]:
        """detection-precision / -recall (NaN where undefined); empty if the rule never flags."""
        if not self.rounds:
            return {}
        flagged = self.true_positives + self.false_positives
        malicious = self.true_positives + self.false_negatives
        return {
            "detection-precision": self.true_positives / flagged if flagged else float("nan"),
            "detection-recall": self.true_positives / malicious if malicious else float("nan"),
            "flagged-users": float(flagged),
        }
