"""PSMU's hierarchical gradient clipping (Yin et al., KDD 2023, "Manipulating Federated Recommender Systems:
Poisoning with Synthetic Users and Its Countermeasures"), as built here without the authors' code (none is
public) and without the paper's full text (only its abstract could be read on this machine).

What is implemented (fedrec/robust/hierarchical_clipping.py): two levels of L2 clipping, then FedAvg's sum.
Level 1, each uploaded item row is scaled to norm <= `hgc-item-bound` (a poisoned row cannot outweigh a
benign one on its item, whatever its magnitude); level 2, each client's whole update (its clipped item rows
and its dense gradients) is scaled to norm <= `hgc-client-bound` (a client cannot push many items at full
strength). Clients that either level clipped are reported as flagged, for detection precision and recall.

What is assumed: the two levels and their order (item rows first, then the client), L2 norms, scaling
(not dropping) what exceeds a bound, and the sum as the aggregation afterwards (the project's FedAvg, as
the PSMU paper's FedRecs sum their clients' gradients). The bounds are settings: the paper's values are not
known here. Not implemented: the "sparsified updating" the abstract pairs with the clipping, whose exact
form could not be read.
"""

from fedrec.robust.hierarchical_clipping import hierarchical_clip
from fedrec.settings import Setting
from fedrec.training.server_step import ThetaGradient
from fedrec.updates import UserUpdates
from strategies.base import Aggregate, FedRecStrategy


class HierarchicalClip(FedRecStrategy):
    """Each item row clipped, then each client's whole update clipped, then summed."""

    settings = (
        Setting("hgc-item-bound", float, "Hierarchical clipping: L2 bound on each uploaded item row.", minimum=0.0),
        Setting(
            "hgc-client-bound",
            float,
            "Hierarchical clipping: L2 bound on each client's whole update, after its rows are clipped.",
            minimum=0.0,
        ),
    )

    def aggregate(self, updates: UserUpdates) -> Aggregate:
        clipped, flagged = hierarchical_clip(updates, self.config.hgc_item_bound, self.config.hgc_client_bound)
        gradient = ThetaGradient(
            item_ids=clipped.item_ids,
            item_rows=clipped.item_grads,
            dense={name: grads.sum(0) for name, grads in clipped.dense_grads.items()},
        )
        return Aggregate(gradient, flagged=flagged)
