"""FLAME (Nguyen et al., USENIX Security 2022): fedrec/robust/flame.py, users weighed as in strategies/weighted.py."""

import torch

from fedrec.robust.flame import majority_cluster, median_norm_clipping
from fedrec.settings import Setting
from strategies.weighted import UserWeights, WeightedStrategy

FLAME_NOISE = Setting(
    "flame-noise",
    float,
    "FLAME: lambda, the noise std as a multiple of the clipping bound S (FLAME's image-classification value: 0.001).",
    minimum=0.0,
)


class FLAME(WeightedStrategy):
    """Admits the majority HDBSCAN cluster of the users' whole updates by cosine distance (the others are flagged),
    clips the admitted updates to the median norm S of all the round's updates, averages them and adds Gaussian
    noise of std λ·S to every coordinate of the mean (per item: of each aggregated item row and of the MLP part),
    drawn from a generator seeded by `seed`. The paper clusters and clips model weights after local training; here
    the users' gradients, which differ from them by the shared Θ only."""

    settings = (*WeightedStrategy.settings, FLAME_NOISE)

    def weigh(self, matrix: torch.Tensor, user_ids: torch.Tensor) -> UserWeights:
        admitted = majority_cluster(matrix)
        clip, bound = median_norm_clipping(matrix)
        return UserWeights(admitted.double(), clip, ~admitted, noise=self.config.flame_noise * bound)
