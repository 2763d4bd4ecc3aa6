"""Who is malicious: derived from the config alone, identically on every node and in the harness.

`injected` malicious clients are fake users appended after the N real ones (ids N..N+m-1, no data),
the setting of A-ra, A-hum, EB and the data-poisoning baselines, whose papers count rho against
the benign users. `compromised` ones are m real users, chosen with the seed, who keep their data
(FedAttack's setting). m = int(rho * N), as in the reference code.
"""

from dataclasses import dataclass

import numpy as np

_THREAT_STREAM = 0x7448


@dataclass(frozen=True)
class ThreatModel:
    num_real_users: int
    mode: str  # "injected" or "compromised"
    malicious_ids: np.ndarray  # sorted global user ids

    @property
    def num_users(self) -> int:
        """Clients in the federation: real users plus injected fake ones."""
        injected = len(self.malicious_ids) if self.mode == "injected" else 0
        return self.num_real_users + injected

    def is_malicious(self, users: np.ndarray) -> np.ndarray:
        return np.isin(users, self.malicious_ids)


def threat_model(num_real_users: int, fraction: float, mode: str, seed: int) -> ThreatModel:
    count = int(fraction * num_real_users)
    if mode == "injected":
        ids = np.arange(num_real_users, num_real_users + count, dtype=np.int64)
    else:
        rng = np.random.default_rng([seed, _THREAT_STREAM])
        ids = np.sort(rng.choice(num_real_users, size=count, replace=False)).astype(np.int64)
    return ThreatModel(num_real_users=num_real_users, mode=mode, malicious_ids=ids)
