"""Interaction data: the dataset every loader returns, user profiles and the splits."""
