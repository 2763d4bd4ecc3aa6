"""Benchmarks: the app against a plain loop, deployment against simulation, pre-training time.

Run each as a module from the project's root, e.g. `python -m bench.ml1m_flower_vs_plain --data-dir DIR`."""
