"""Command line of the local launcher.

python -m deploy start runs/fed --supernodes 3 --attackers 1 [--tls] [--authenticate-nodes]
FLWR_HOME=runs/fed/flwr-home flwr run . fedrec-local --stream --run-config 'attack="a-ra"'
python -m deploy status runs/fed
python -m deploy kill-node runs/fed 2       # simulate a crashed machine
python -m deploy restart-node runs/fed 2    # it rejoins under a new node id
python -m deploy stop runs/fed
"""

import argparse
from pathlib import Path

from deploy.certificates import generate_node_keys, generate_server_certificates
from deploy.federation import CONNECTION, Federation, is_running, start_federation


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m deploy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start a SuperLink and SuperNodes in the background")
    start.add_argument("folder", type=Path, help="where PIDs, logs, certificates and the connection config go")
    start.add_argument("--supernodes", type=int, default=3)
    start.add_argument("--attackers", type=int, default=0, help="SuperNodes that host the malicious clients")
    start.add_argument("--tls", action="store_true", help="generate a CA and server certificate; serve over TLS")
    start.add_argument("--authenticate-nodes", action="store_true", help="SuperNode authentication (EC keys)")
    start.add_argument(
        "--install-dependencies",
        action="store_true",
        help="let Flower `uv sync` the app's dependencies (off: use this environment)",
    )
    start.add_argument("--host", action="append", default=[], help="extra name/IP for the server certificate")
    for name, text in (("status", "show the processes"), ("stop", "stop every process by PID")):
        commands.add_parser(name, help=text).add_argument("folder", type=Path)
    for name, text in (("kill-node", "SIGKILL one SuperNode"), ("restart-node", "start one SuperNode again")):
        command = commands.add_parser(name, help=text)
        command.add_argument("folder", type=Path)
        command.add_argument("index", type=int)
    certificates = commands.add_parser("certificates", help="write a CA and a SuperLink server certificate")
    certificates.add_argument("folder", type=Path)
    certificates.add_argument("--host", action="append", default=[], help="a name/IP SuperNodes dial (repeat)")
    node_key = commands.add_parser("node-key", help="write a SuperNode authentication key pair")
    node_key.add_argument("folder", type=Path)
    node_key.add_argument("name")
    args = parser.parse_args()

    if args.command == "certificates":
        paths = generate_server_certificates(args.folder, args.host)
        print(f"CA {paths.ca_cert}\nserver certificate {paths.server_cert}\nserver key {paths.server_key}")
        return
    if args.command == "node-key":
        private, public = generate_node_keys(args.folder, args.name)
        print(f"private key {private} (for flower-supernode)\npublic key {public} (for flwr supernode register)")
        return

    try:
        if args.command == "start":
            federation = start_federation(
                args.folder,
                args.supernodes,
                args.attackers,
                args.tls,
                args.authenticate_nodes,
                args.install_dependencies,
                args.host,
            )
        else:
            federation = Federation.load(args.folder)
    except (FileNotFoundError, ValueError, RuntimeError, TimeoutError) as error:
        raise SystemExit(f"deploy: {error}") from None
    if args.command == "stop":
        federation.stop()
        print(f"stopped {len(federation.processes())} process(es) of {federation.folder}")
        return
    if args.command in ("kill-node", "restart-node"):
        if not 0 <= args.index < len(federation.supernodes):
            raise SystemExit(f"deploy: SuperNode index must be 0..{len(federation.supernodes) - 1}")
        if args.command == "kill-node":
            federation.kill_supernode(args.index)
        else:
            federation.restart_supernode(args.index)
    for spec in federation.processes():
        state = "running" if is_running(spec.pid) else "stopped"
        extra = f"  {spec.node_config}" if hasattr(spec, "node_config") else f"  {federation.superlink_address}"
        print(f"{spec.name:14} pid {spec.pid:>7}  {state:8}{extra}  log {spec.log}")
    if args.command == "start":
        print(f"\nrun the app:  FLWR_HOME={federation.flwr_home} flwr run . {CONNECTION} --stream")
        print(f"stop it all:  python -m deploy stop {federation.folder}")


if __name__ == "__main__":
    main()
