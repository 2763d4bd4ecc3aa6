"""The model registry: every recommender model by its run-config name. Adding a model is a new file plus one
line here."""

from typing import Any

from fedrec.models.base import EMBEDDING_DIM, RecModel
from fedrec.models.mf import MatrixFactorization
from fedrec.models.ncf import NeuralCF
from fedrec.models.neumf import NeuMF
from fedrec.models.sasrec import SASRec
from fedrec.registry import Registry

MODELS: Registry[type[RecModel]] = Registry("model", key="model", help="Recommender model.", settings=(EMBEDDING_DIM,))
MODELS.register("ncf", NeuralCF)
MODELS.register("mf", MatrixFactorization)
MODELS.register("neumf", NeuMF)
MODELS.register("sasrec", SASRec)


def build_model(config: Any) -> RecModel:
    """The model the run config (`RunConfig`) names, built from its settings."""
    return MODELS.get(config.model).from_config(config)
