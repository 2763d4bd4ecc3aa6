"""FLTrust (Cao et al., NDSS 2021): fedrec/robust/fltrust.py, users weighed as in strategies/weighted.py."""

from collections.abc import Iterable

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message
from flwr.serverapp import Grid

from datasets import load_dataset
from fedrec.config import RunConfig
from fedrec.data.public import public_interactions
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.embedding import EmbeddingModel
from fedrec.models.registry import build_model
from fedrec.robust.dense import to_dense
from fedrec.robust.fltrust import fltrust_weights
from fedrec.training.local import Objective, compute_user_updates
from fedrec.training.sampling import user_samples
from strategies.weighted import UserWeights, WeightedStrategy


class FLTrust(WeightedStrategy):
    """Trust-weighted mean of the users' updates, each rescaled to the norm of the server's reference update.

    The root dataset is the provider's public share of the interactions (`public-fraction` ξ: the data's public part
    file where it has one, e.g. ml-100k-loo and steam, else each interaction public with probability ξ, the same
    share an attacker with `attacker-knowledge = "public-interactions"` knows: fedrec/data/public.py). So the server
    reads the dataset itself (`dataset`, `data-dir`). Its root users are the users with a public interaction; the
    server keeps its own embedding for each (started as a client starts its own, then trained on the public items
    only, with `user-lr`). Each round it computes their updates on the round's Θ under the run's objective (the
    public items as positives, `negatives` sampled per positive among the items not public for the user) and takes
    their mean as the reference g_0: one update of the same kind as a user's, from clean data.

    A user is flagged when its trust score is 0 (its update points away from the reference). Embedding models
    only (MF, NCF, NeuMF): the server trains no sequential model.
    """

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        config = self.config
        self.check_run(config)
        self.model = build_model(config)
        dataset = load_dataset(config)
        public = public_interactions(dataset, config.public_fraction, config.seed)
        self.root_users = np.flatnonzero(np.diff(public.indptr))
        if len(self.root_users) == 0:
            raise ConfigError(
                f"defense 'fltrust': public-fraction {config.public_fraction} leaves no public interaction"
            )
        self.root_items = [public.indices[public.indptr[user] : public.indptr[user + 1]] for user in self.root_users]
        self.root_embeddings = self.model.init_user_embeddings(self.root_users, config.seed, dataset.num_users)
        self.objective = Objective.of(config)
        self.epoch = 0

    @classmethod
    def check_run(cls, config: RunConfig) -> None:
        if not isinstance(build_model(config), EmbeddingModel):
            raise ConfigError(
                f"defense 'fltrust' trains a reference update for embedding models only, not '{config.model}'"
            )
        if config.public_fraction <= 0:
            raise ConfigError("defense 'fltrust' needs a root dataset: set run-config public-fraction > 0")
        if config.user_optimizer != "sgd":
            raise ConfigError(
                "defense 'fltrust' steps its root users' rows by SGD: set run-config user-optimizer = 'sgd'"
            )

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self.epoch = self.epoch_and_round(server_round)[0]
        return super().configure_train(server_round, arrays, config, grid)

    def reference_update(self) -> torch.Tensor:
        """g_0 [M*d + P]: the mean whole update of the root users on the round's Θ; trains their embeddings."""
        config, num_items = self.config, self.theta[ITEM_EMBEDDING].shape[0]
        negative_epoch = self.epoch if config.resample_negatives else 0
        samples = [
            user_samples(user, items, num_items, config.negatives, config.seed, negative_epoch)
            for user, items in zip(self.root_users, self.root_items)
        ]
        result = compute_user_updates(
            self.model, self.theta, self.root_users, self.root_embeddings, samples, self.objective
        )
        self.root_embeddings -= config.user_lr * result.user_emb_grad
        return to_dense(result.updates, self.theta).mean(0)

    def weigh(self, matrix: torch.Tensor, user_ids: torch.Tensor) -> UserWeights:
        trust, scale = fltrust_weights(matrix, self.reference_update())
        return UserWeights(weight=trust, scale=scale, flagged=trust <= 0)
