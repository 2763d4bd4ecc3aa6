"""Recommender models: the registry. Adding a model is a new file plus one line here."""

from fedrec.models.base import EMBEDDING_DIM, ITEM_EMBEDDING, RecModel
from fedrec.models.mf import MatrixFactorization
from fedrec.models.ncf import NeuralCF
from fedrec.models.neumf import NeuMF
from fedrec.registry import Registry

MODELS: Registry[type[RecModel]] = Registry("model", key="model", help="Recommender model.", settings=(EMBEDDING_DIM,))
MODELS.register("ncf", NeuralCF)
MODELS.register("mf", MatrixFactorization)
MODELS.register("neumf", NeuMF)

__all__ = ["ITEM_EMBEDDING", "MODELS", "RecModel", "MatrixFactorization", "NeuralCF", "NeuMF"]
