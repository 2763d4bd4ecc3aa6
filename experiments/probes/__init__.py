"""Research probes: one-off measurements behind findings in the docs, run as `python -m experiments.probes.<name>`."""
