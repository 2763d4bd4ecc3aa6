"""Recommender models, one file each; `fedrec.models.registry` names them for the run config.

The package itself imports nothing, so that the evaluation and training code the models call can import
the model base (`fedrec.models.base`) without loading every model.
"""
