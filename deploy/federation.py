"""A Flower federation of real processes on this machine: one SuperLink and N SuperNodes.

Every process is started in its own session (so its PID is also its process group, which takes
the `flower-superexec` and ClientApp processes it spawns along when stopped), logs to
`<folder>/logs/<name>.log`, and is recorded in `<folder>/federation.json`; `stop` ends them by PID,
also from another shell (`python -m deploy stop <folder>`). SuperNode i hosts users by its
node-config: with attacker nodes, the first N - a SuperNodes split the benign users
(`role="benign"`) and the last a split the malicious clients (`role="attacker"`); without, all N
split every client (`role="all"`, as in simulation). `<folder>/flwr-home/config.toml` holds the
connection, so the app runs with `FLWR_HOME=<folder>/flwr-home flwr run . fedrec-local --stream`.

The app is exactly the one that runs in simulation. Runtime dependency installation is off
unless asked for (it would `uv sync` a fresh environment; see the README's deployment section).
"""

import json
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from deploy.certificates import generate_node_keys, generate_server_certificates
from harness.flwr_local import (
    APP_DIR,
    environment,
    flwr_executable,
    free_port,
    run_config_argument,
    terminate,
    toml_value,
    venv_executable,
)

CONNECTION = "fedrec-local"
STATE_FILE = "federation.json"


@dataclass
class ProcessSpec:
    name: str
    command: list[str]
    env: dict[str, str]  # added to the launcher's environment
    log: str
    pid: int = 0


@dataclass
class NodeSpec(ProcessSpec):
    node_config: str = ""
    role: str = "all"


@dataclass
class Federation:
    folder: Path
    superlink_address: str
    tls: bool
    superlink: ProcessSpec
    supernodes: list[NodeSpec] = field(default_factory=list)

    @property
    def flwr_home(self) -> Path:
        return self.folder / "flwr-home"

    def save(self) -> None:
        state = asdict(self) | {"folder": str(self.folder)}
        (self.folder / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> "Federation":
        path = folder / STATE_FILE
        if not path.exists():
            raise FileNotFoundError(f"no federation was started in {folder} ({path} is missing)")
        state = json.loads(path.read_text())
        return cls(
            folder=Path(state["folder"]),
            superlink_address=state["superlink_address"],
            tls=state["tls"],
            superlink=ProcessSpec(**state["superlink"]),
            supernodes=[NodeSpec(**node) for node in state["supernodes"]],
        )

    def processes(self) -> list[ProcessSpec]:
        return [self.superlink, *self.supernodes]

    def kill_supernode(self, index: int) -> None:
        """Kill SuperNode `index` and its children at once (SIGKILL), as a crashed machine would stop."""
        _stop_group(self.supernodes[index].pid, grace=0)

    def restart_supernode(self, index: int) -> None:
        """Start SuperNode `index` again with the same command and node-config (it registers anew)."""
        node = self.supernodes[index]
        _stop_group(node.pid, grace=0)
        node.pid = _spawn(node)
        self.save()

    def stop(self, grace: float = 5.0) -> None:
        """Stop every process of the federation, SuperNodes first."""
        for spec in [*self.supernodes, self.superlink]:
            _stop_group(spec.pid, grace)

    def flwr(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """A `flwr` CLI command against this federation's connection, e.g. `flwr("ls")`."""
        return subprocess.run(
            [flwr_executable(), *args, CONNECTION],
            env=environment({"FLWR_HOME": str(self.flwr_home)}),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def submit(self, run_config: dict[str, object], app_dir: Path = APP_DIR) -> subprocess.Popen:
        """Start `flwr run <app> fedrec-local --stream` against this federation; stdout and stderr merged."""
        command = [flwr_executable(), "run", str(app_dir), CONNECTION, "--stream"]
        if run_config:
            command += ["--run-config", run_config_argument(run_config)]
        return subprocess.Popen(
            command,
            env=environment({"FLWR_HOME": str(self.flwr_home)}),
            cwd=app_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(self, run_config: dict[str, object], timeout: float, app_dir: Path = APP_DIR) -> str:
        """`submit` and wait for the run to end; its output."""
        with self.submit(run_config, app_dir) as process:
            try:
                output, _ = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
        return output


def _spawn(spec: ProcessSpec) -> int:
    with open(spec.log, "ab") as log:
        process = subprocess.Popen(
            spec.command,
            env=environment(spec.env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return process.pid


def _stop_group(pid: int, grace: float) -> None:
    """Terminate the process `pid` and every descendant; kill what outlives `grace`."""
    try:
        root = psutil.Process(pid)
        terminate([root, *root.children(recursive=True)], grace)
    except psutil.NoSuchProcess:
        return


def is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for_port(address: str, process: ProcessSpec, timeout: float) -> None:
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(process.pid):
            raise RuntimeError(f"{process.name} exited at start; see {process.log}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((host, int(port))) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{process.name} did not listen on {address} within {timeout:.0f}s; see {process.log}")


def node_configs(supernodes: int, attackers: int) -> list[tuple[str, str]]:
    """(role, node-config) per SuperNode: benign nodes split the benign users, attacker nodes the malicious ones."""
    if not 0 <= attackers < supernodes or supernodes < 1:
        raise ValueError(f"need at least one benign SuperNode: got {supernodes} SuperNode(s), {attackers} attacker(s)")
    if attackers == 0:
        return [("all", f'partition-id={i} num-partitions={supernodes} role="all"') for i in range(supernodes)]
    benign = supernodes - attackers
    return [("benign", f'partition-id={i} num-partitions={benign} role="benign"') for i in range(benign)] + [
        ("attacker", f'partition-id={i} num-partitions={attackers} role="attacker"') for i in range(attackers)
    ]


def _write_connection(flwr_home: Path, address: str, ca_cert: Path | None) -> None:
    flwr_home.mkdir(parents=True, exist_ok=True)
    security = f"root-certificates = {toml_value(str(ca_cert))}" if ca_cert else "insecure = true"
    (flwr_home / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\naddress = "{address}"\n{security}\n'
    )


def start_federation(
    folder: Path,
    supernodes: int = 3,
    attackers: int = 0,
    tls: bool = False,
    authenticate_nodes: bool = False,
    install_dependencies: bool = False,
    hosts: list[str] | None = None,
    start_timeout: float = 60.0,
    log_level: str | None = None,
) -> Federation:
    """Start a SuperLink and `supernodes` SuperNodes on loopback; every process is recorded for `stop`.

    `log_level` is Flower's `FLWR_LOG_LEVEL` for the SuperLink and the ServerApps it starts (DEBUG logs
    every message the ServerApp receives, server_app/grid.py).

    If anything fails to start, what was started is stopped again before the error propagates.
    """
    folder = folder.resolve()
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"127.0.0.1:{port}"
    install_env = {} if install_dependencies else {"FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1"}
    database = str(folder / "state.db")
    superlink_command = [venv_executable("flower-superlink"), "--port", str(port), "--database", database]
    ca_cert = None
    if tls:
        certificates = generate_server_certificates(folder / "certificates", hosts)
        ca_cert = certificates.ca_cert
        superlink_command += [
            "--ssl-ca-certfile",
            str(certificates.ca_cert),
            "--ssl-certfile",
            str(certificates.server_cert),
            "--ssl-keyfile",
            str(certificates.server_key),
        ]
    else:
        superlink_command.append("--insecure")
    if authenticate_nodes:
        superlink_command.append("--enable-supernode-auth")
    if not install_dependencies:
        superlink_command.append("--disable-runtime-dependency-installation")
    superlink = ProcessSpec(
        "superlink",
        superlink_command,
        {
            "FLWR_HOME": str(folder / "superlink-home"),
            **install_env,
            **({"FLWR_LOG_LEVEL": log_level} if log_level else {}),
        },
        str(folder / "logs" / "superlink.log"),
    )
    federation = Federation(folder=folder, superlink_address=address, tls=tls, superlink=superlink)
    try:
        superlink.pid = _spawn(superlink)
        federation.save()
        _wait_for_port(address, superlink, start_timeout)
        _write_connection(federation.flwr_home, address, ca_cert)
        for index, (role, node_config) in enumerate(node_configs(supernodes, attackers)):
            name = f"supernode-{index}"
            command = [
                venv_executable("flower-supernode"),
                "--superlink",
                address,
                "--node-config",
                node_config,
                "--port",
                str(free_port()),
                *(["--root-certificates", str(ca_cert)] if ca_cert else ["--insecure"]),
                *(["--allow-runtime-dependency-installation"] if install_dependencies else []),
            ]
            if authenticate_nodes:
                private_key, public_key = generate_node_keys(folder / "node-keys", name)
                registered = federation.flwr("supernode", "register", str(public_key))
                if registered.returncode != 0:
                    raise RuntimeError(f"registering {public_key} failed: {registered.stdout}{registered.stderr}")
                command += ["--auth-supernode-private-key", str(private_key)]
            node = NodeSpec(
                name,
                command,
                {"FLWR_HOME": str(folder / name), **install_env},
                str(folder / "logs" / f"{name}.log"),
                node_config=node_config,
                role=role,
            )
            node.pid = _spawn(node)
            federation.supernodes.append(node)
            federation.save()
    except BaseException:
        federation.stop(grace=1.0)
        raise
    return federation
