"""FLTrust (Cao, Fang, Liu & Gong, "FLTrust: Byzantine-robust Federated Learning via Trust Bootstrapping", NDSS 2021).

The server trains its own reference update g_0 on a small clean root dataset. Each client's trust score is
TS_i = ReLU(cos(g_i, g_0)); each update is rescaled to the reference's norm, ||g_0|| / ||g_i|| * g_i; the aggregate is
Σ TS_i · rescaled g_i / Σ TS_i (no step when every score is 0, as in the paper).
"""

import torch


def fltrust_weights(matrix: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(trust scores [U], rescaling factors [U]) of the updates [U, D] against the server's reference [D]; a zero
    update gets trust 0."""
    updates, reference = matrix.double(), reference.double()
    norms = updates.norm(dim=1)
    reference_norm = reference.norm()
    cosine = updates @ reference / (norms * reference_norm).clamp(min=1e-300)
    return cosine.clamp(min=0.0), reference_norm / norms.clamp(min=1e-300)
