"""The provider's public share of the training interactions: what an attacker with `public-interactions`
knowledge knows (attacks/threat.py), and FLTrust's root dataset on the server (strategies/fltrust.py).

Both read the same share, drawn from the same random stream: the data's own public part file for N = 100 ξ percent
where it has one (FedRecAttack's train.part-N%.txt), else each training interaction public with probability ξ,
seeded by the run's seed.
"""

import math

import numpy as np
import scipy.sparse as sp

from fedrec.data.dataset import RecDataset

_PUBLIC_STREAM = 0x5055


def public_interactions(dataset: RecDataset, fraction: float, seed: int) -> sp.csr_array:
    """Users x items: the training interactions public under `public-fraction` ξ = `fraction`."""
    percent = fraction * 100
    if math.isclose(percent, round(percent)) and round(percent) in dataset.public_parts:
        return dataset.public_parts[round(percent)]
    rng = np.random.default_rng([seed, _PUBLIC_STREAM])
    train = dataset.train.tocoo()
    public = rng.random(train.nnz) < fraction
    return sp.csr_array((train.data[public], (train.row[public], train.col[public])), shape=train.shape)
