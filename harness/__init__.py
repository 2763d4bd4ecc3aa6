"""Tooling around the app (not part of it): running it through Flower's own CLI for tests and benchmarks."""
