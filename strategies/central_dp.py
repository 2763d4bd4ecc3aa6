"""Central differential privacy with fixed server-side clipping: Flower's own
`flwr.serverapp.strategy.DifferentialPrivacyServerSideFixedClipping` around its FedAvg, on per-user updates.

DP-FedAvg (McMahan et al., "Learning Differentially Private Recurrent Language Models", ICLR 2018): each user's
whole update is clipped to L2 norm <= C (FlatClip), the clipped updates are averaged, and Gaussian noise of std
z·C/n is added to every coordinate of the mean of the round's n users (`compute_stdv` in Flower). As a defense it is
the anchor of norm clipping with noise at the server (Sun et al., "Can You Really Backdoor Federated Learning?",
2019, with noise). Flower's wrapper clips each reply's arrays against the model it sent; the project's replies are
already updates, so the wrapper is given zeros as that model and clips the updates themselves. Its mean is scaled by
n, like every rule here (the protocol's FedAvg is a sum): the sum of the clipped updates plus noise of std z·C.
"""

import numpy as np
import torch
from flwr.app import Array, ArrayRecord
from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping, FedAvg

from fedrec.config import RunConfig
from fedrec.errors import ConfigError
from fedrec.reporting.update_stats import user_update_norms
from fedrec.settings import Setting
from fedrec.updates import UserUpdates
from strategies.base import Aggregate
from strategies.flower_rule import flower_aggregate
from strategies.robust import RobustStrategy

CLIPPING_NORM = Setting(
    "central-dp-clip",
    float,
    "central-dp: C, the L2 bound on each user's whole update (Flower's clipping_norm).",
    minimum=0.0,
)
NOISE_MULTIPLIER = Setting(
    "central-dp-noise",
    float,
    "central-dp: z, the Gaussian noise's std on the sum of the clipped updates as a multiple of C (Flower's "
    "noise_multiplier; 0 clips without noise).",
    minimum=0.0,
)
#: Fine-tuning scenarios that freeze entries of Θ: noise on every coordinate would move the frozen ones.
_FREEZING = ("prompt-only", "frozen-items")


def central_dp_strategy(
    clipping_norm: float, noise_multiplier: float, users: int
) -> DifferentialPrivacyServerSideFixedClipping:
    """Flower's server-side fixed-clipping DP wrapper around FedAvg, for a round of `users` replies."""
    return DifferentialPrivacyServerSideFixedClipping(
        FedAvg(), noise_multiplier=noise_multiplier, clipping_norm=clipping_norm, num_sampled_clients=users
    )


class CentralDP(RobustStrategy):
    """`defense = "central-dp"`: DP-FedAvg's clipping and Gaussian noise (McMahan et al., ICLR 2018), computed by
    Flower's `DifferentialPrivacyServerSideFixedClipping` over FedAvg on the users' whole (dense) updates.

    The noise covers every coordinate of Θ, item rows no user sent included (a release that noised only the sent
    rows would tell which items were touched). Flower draws it from NumPy's global generator; each round seeds that
    generator from this rule's own, seeded by `seed`, and restores it after, so a run is reproducible. Users whose
    update was clipped are reported as flagged (for detection rates).
    """

    settings = (CLIPPING_NORM, NOISE_MULTIPLIER)

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.generator = torch.Generator().manual_seed(self.config.seed)

    @classmethod
    def check_run(cls, config: RunConfig) -> None:
        if config.central_dp_clip <= 0:
            raise ConfigError("run-config 'central-dp-clip' must be > 0 (Flower's clipping_norm)")
        if config.fine_tune in _FREEZING:
            raise ConfigError(
                f"defense 'central-dp' adds noise to every coordinate of Θ, which would move the entries "
                f"fine-tune = {config.fine_tune!r} freezes; use fine-tune = 'full'"
            )

    def aggregate(self, updates: UserUpdates) -> Aggregate:
        clip, noise = self.config.central_dp_clip, self.config.central_dp_noise
        flower, layout = central_dp_strategy(clip, noise, updates.num_users), self.layout()
        # The model the wrapper clips against (it sets it in configure_train, which the project's rounds bypass).
        flower.current_arrays = ArrayRecord({name: Array(np.zeros(shape)) for name, shape in layout})
        seed = int(torch.randint(2**31 - 1, (1,), generator=self.generator))
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            mean = flower_aggregate(flower, self.dense_matrix(updates), layout, inner=flower.strategy)
        finally:
            np.random.set_state(state)
        flagged = user_update_norms(updates) > clip
        return Aggregate(self.gradient_from_vector(mean * updates.num_users), flagged)
