"""fedrec: the pure core of fedrec-arena.

Model math, the run-config schema, user updates, sampling and metrics. Nothing in here imports Flower
except `fedrec.protocol`, which builds and parses every message of the ServerApp and the ClientApp.
"""
