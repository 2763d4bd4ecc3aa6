"""fedrec: the pure core of fedrec-arena.

Model math, the run-config schema, the wire format of a user update, sampling and metrics. Nothing in
here imports Flower except `fedrec.wire`, which translates updates to and from Flower records.
"""
