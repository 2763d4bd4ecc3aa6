"""Tooling around the app (not part of it): running it through Flower's own CLI for tests and benchmarks, and
the plain single-process loop they compare the app against."""
