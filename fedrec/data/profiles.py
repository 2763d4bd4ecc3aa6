"""User profiles (gender, age bucket, occupation) and the user groups they define.

Profiles come from a dataset's user file (ML-100K's u.user, ML-1M's users.dat; `synthetic` draws them)
as a `RecDataset.profiles` frame, one row per user index. Ages are bucketed as ML-1M publishes them, so
a group such as `age=18-24` means the same on every dataset.

A `UserGroup` (`target-group = "gender=F"`) names the users that group-targeted attacks aim at and that
evaluation reports separately, and that `fedrec.data.splits.provider_split` stratifies by.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fedrec.errors import ConfigError

ATTRIBUTES = ("gender", "age", "occupation")
GENDERS = ("F", "M")
# ML-1M's age buckets; ML-1M codes them by their lower bound (1 for under 18), ML-100K gives years.
AGE_BUCKETS = ("<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")
_AGE_LOWER_BOUNDS = np.array([18, 25, 35, 45, 50, 56])


def age_buckets(ages: np.ndarray) -> np.ndarray:
    """The bucket label of each age in years (or ML-1M age code), e.g. 17 -> "<18", 30 -> "25-34"."""
    return np.asarray(AGE_BUCKETS, dtype=object)[np.searchsorted(_AGE_LOWER_BOUNDS, ages, side="right")]


def profile_frame(gender: np.ndarray, age: np.ndarray, occupation: np.ndarray) -> pd.DataFrame:
    """A profiles frame: string columns gender ("M"/"F"), age (bucket label of `age` in years), occupation."""
    return pd.DataFrame(
        {
            "gender": np.asarray(gender, dtype=object),
            "age": age_buckets(np.asarray(age)),
            "occupation": np.asarray(occupation, dtype=object),
        }
    )


@dataclass(frozen=True)
class UserGroup:
    """The users whose profile `attribute` equals `value`, e.g. gender=F."""

    attribute: str
    value: str

    @classmethod
    def parse(cls, name: str, text: str) -> "UserGroup | None":
        """`attribute=value` as a run-config value (a `Setting` convert); "" means no group."""
        text = text.strip()
        if not text:
            return None
        attribute, equals, value = text.partition("=")
        attribute, value = attribute.strip().lower(), value.strip()
        example = f"use attribute=value with attribute one of {', '.join(ATTRIBUTES)}, e.g. 'gender=F' or 'age=18-24'"
        if not equals or not value or attribute not in ATTRIBUTES:
            raise ConfigError(f"run-config '{name}' = {text!r} is invalid: {example}")
        if attribute == "gender" and value.upper() not in GENDERS:
            raise ConfigError(f"run-config '{name}' = {text!r} is invalid: gender is one of {', '.join(GENDERS)}")
        if attribute == "age" and value not in AGE_BUCKETS:
            buckets = ", ".join(AGE_BUCKETS)
            raise ConfigError(f"run-config '{name}' = {text!r} is invalid: age is one of the buckets {buckets}")
        return cls(attribute, value.upper() if attribute == "gender" else value)

    def members(self, profiles: pd.DataFrame) -> np.ndarray:
        """A bool per profile row: is this user in the group. A value no user has is an error, not an empty group."""
        if self.attribute not in profiles.columns:
            raise ConfigError(f"user group '{self}': the profiles have no {self.attribute} column")
        column = profiles[self.attribute].astype(str).to_numpy()
        inside = column == self.value
        if not inside.any():
            observed = ", ".join(sorted(set(column.tolist())))
            raise ConfigError(f"user group '{self}' matches no user; observed {self.attribute} values: {observed}")
        return inside

    def __str__(self) -> str:
        return f"{self.attribute}={self.value}"
