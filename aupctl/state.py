"""Where a local stack's server records itself (pid, port, stack name), and how to tell it is alive.

One JSON file per port in the state directory (``$AUPCTL_STATE_DIR``, else ``.aupctl/`` in the
project root): ``local-<port>.json``, written only by the server process, plus its log file.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from aupctl.stack import DEFAULT_STACK, ROOT, TEMPLATE

DEFAULT_PORT = 4566
HOST = "127.0.0.1"


def state_dir() -> Path:
    path = Path(os.environ.get("AUPCTL_STATE_DIR") or ROOT / ".aupctl")
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_file(port: int) -> Path:
    return state_dir() / f"local-{port}.json"


def log_file(port: int) -> Path:
    return state_dir() / f"local-{port}.log"


def endpoint(port: int) -> str:
    return f"http://{HOST}:{port}"


@dataclass
class ServerState:
    pid: int
    port: int
    status: str  # starting | ready | failed
    stack: str = DEFAULT_STACK
    template: str = str(TEMPLATE)
    dispatcher: bool = True
    started_at: str = ""
    error: str = ""

    @property
    def endpoint(self) -> str:
        return endpoint(self.port)

    def save(self) -> None:
        path = state_file(self.port)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        tmp.replace(path)  # atomic: a reader never sees half a file


def load_state(port: int) -> ServerState | None:
    try:
        raw = json.loads(state_file(port).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return ServerState(**{k: v for k, v in raw.items() if k in ServerState.__dataclass_fields__})


def all_states() -> list[ServerState]:
    out = []
    for path in sorted(state_dir().glob("local-*.json")):
        port = path.stem.removeprefix("local-")
        if port.isdigit() and (st := load_state(int(port))) is not None:
            out.append(st)
    return out


def pid_alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def endpoint_answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False
