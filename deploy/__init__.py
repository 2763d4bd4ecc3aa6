"""Deployment with real Flower processes: a local launcher (SuperLink + SuperNodes on loopback) and
the TLS / node-authentication material a multi-machine deployment needs. See the README's
deployment section; `python -m deploy --help` for the command line."""
