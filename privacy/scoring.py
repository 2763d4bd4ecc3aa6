"""Scores of one recovery against the truth, the chance level they compare to, and their mean over uploads.

The task per upload is "which uploaded items are real interactions": precision, recall and F1 of the
attack's decision, AUC of its `interaction_scores`; and how close the recovered p_u is (cosine). The
chance level is a guess that knows only the count: n_pos of the n items drawn at random has expected
precision = recall = F1 = n_pos/n (with n_pos guesses precision and recall are the same number, so F1 is
too), and AUC 0.5.
"""

import math
from collections.abc import Sequence

import numpy as np
import torch

from privacy.observed import Recovered, Truth

METRICS = ("precision", "recall", "f1", "auc", "cosine", "chance_f1", "chance_auc")


def precision_recall_f1(predicted: torch.Tensor, actual: torch.Tensor) -> tuple[float, float, float]:
    """Of the decision `predicted` against `actual` (bool tensors); each is 0 where its denominator is."""
    hits = int((predicted & actual).sum())
    guessed, real = int(predicted.sum()), int(actual.sum())
    precision = hits / guessed if guessed else 0.0
    recall = hits / real if real else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def auc(scores: torch.Tensor, actual: torch.Tensor) -> float:
    """P(a random positive outscores a random negative), ties counting half; 0.5 if either class is absent.

    Mann-Whitney from ranks: tied scores share their average rank, which is what counts a tie as half.
    """
    values = scores.detach().double().numpy()
    positive = actual.numpy().astype(bool)
    num_pos, num_neg = int(positive.sum()), int((~positive).sum())
    if not num_pos or not num_neg:
        return 0.5
    _, group, counts = np.unique(values, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based ranks, each tie group at its mean
    positive_ranks = average_rank[group][positive].sum()
    return float((positive_ranks - num_pos * (num_pos + 1) / 2.0) / (num_pos * num_neg))


def chance_level(truth: Truth) -> float:
    """n_pos/n: expected precision, recall and F1 of marking n_pos of the n uploaded items at random."""
    return float(truth.is_interaction.sum()) / len(truth.is_interaction) if len(truth.is_interaction) else 0.0


def cosine(recovered: torch.Tensor | None, actual: torch.Tensor) -> float:
    """Cosine of the recovered and the true p_u; NaN if the attack recovered none (or either is zero)."""
    if recovered is None:
        return math.nan
    recovered, actual = recovered.double(), actual.double()
    norms = float(recovered.norm() * actual.norm())
    return float(recovered @ actual) / norms if norms else math.nan


def score_upload(recovered: Recovered, truth: Truth) -> dict[str, float]:
    """Every metric of `METRICS` for one upload."""
    precision, recall, f1 = precision_recall_f1(recovered.is_interaction, truth.is_interaction)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "auc": auc(recovered.interaction_scores, truth.is_interaction),
        "cosine": cosine(recovered.user_embedding, truth.user_embedding),
        "chance_f1": chance_level(truth),
        "chance_auc": 0.5,
    }


def aggregate(scores: Sequence[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over uploads (NaNs, i.e. no p_u recovered, left out; NaN if all are) and `count`."""
    summary: dict[str, float] = {}
    for metric in METRICS:
        values = [score[metric] for score in scores if not math.isnan(score[metric])]
        summary[metric] = float(np.mean(values)) if values else math.nan
    summary["count"] = float(len(scores))
    return summary
