"""The embedding model family: a user is a private embedding p_u, scored against every item's embedding.

MF, NCF and NeuMF share how a node evaluates and trains their users: ranking from the users' embeddings
(`fedrec.evaluation.ranking`), and each user's samples of the epoch through the run's update rule
(`fedrec.training.local`). Only the scoring function differs.
"""

import numpy as np
import torch

# Modules, not names: the model registry loads every model while those modules may still be importing
# the model base, so their functions are looked up when called.
from fedrec.data.dataset import RecDataset
from fedrec.evaluation import ranking
from fedrec.evaluation.metrics import EvalCounts
from fedrec.evaluation.sampled import SampledRanking
from fedrec.models.base import RecModel, Theta
from fedrec.training import local, sampling


class EmbeddingModel(RecModel):
    """Base of the models that score (user embedding, item embedding) pairs."""

    def evaluate_counts(
        self,
        theta: Theta,
        dataset: RecDataset,
        users: np.ndarray,
        embeddings: torch.Tensor,
        ks: tuple[int, ...],
        targets: tuple[int, ...],
        sampled: SampledRanking | None = None,
        exposure_masks_test: bool = True,
    ) -> EvalCounts:
        """Ranking counts of `users` (rows of `dataset`), scored from their private embeddings [U, d]."""
        return ranking.evaluate_users(
            self,
            theta,
            users,
            embeddings,
            dataset.ranking_mask,
            dataset.test,
            ks,
            targets,
            sampled,
            exposure_masks_test,
        )

    def honest_updates(
        self, theta: Theta, dataset: RecDataset, users: np.ndarray, embeddings: torch.Tensor, step: local.LocalStep
    ) -> local.LocalResult:
        """The benign users' updates: each user's samples of the epoch through the run's update rule."""
        config, epoch = step.config, step.epoch
        samples = sampling.dataset_samples(dataset, users, config, epoch)
        return step.update_rule(self, theta, users, embeddings, samples, config, epoch)
