"""A real RabbitMQ for in-process tests: Debian's rabbitmq-server, run by the test on
loopback, on free ports (never 5672), with its data in a temporary folder.

    with Broker(tmp_path) as broker:   # started, answering AMQP
        broker.url                     # amqp://guest:guest@127.0.0.1:<port>/
        broker.stop(); broker.start()  # an outage, the same data kept
    Broker(tmp_path, management=True)  # with the management API at broker.management_url

The project's config (infra/rabbitmq/rabbitmq.conf), no plugins unless asked. Starting takes ~6-9 s:
the waits poll with a deadline (stackctl.wait), nothing sleeps.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from stackctl.settings import ROOT
from stackctl.wait import wait_until
from tests.support.ports import free_ports

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
START_TIMEOUT_S = 60.0


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Broker:
    def __init__(self, folder: Path, management: bool = False) -> None:
        if not SERVER.exists():
            raise RuntimeError(f"{SERVER} is missing: apt-get install -y rabbitmq-server "
                               "(Debian's package; .ci/run installs it)")
        self.folder = folder
        self.port, self.dist_port, self.epmd_port, management_port = free_ports(4)
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.management_port = management_port if management else None
        self.management_url = f"http://127.0.0.1:{self.management_port}"
        self.proc: subprocess.Popen | None = None
        (folder / "enabled_plugins").write_text(
            "[rabbitmq_management].\n" if management else "[].\n")

    def environment(self) -> dict[str, str]:
        extra = {} if self.management_port is None else {
            # As docker-compose.yml sets it: the listener's port is not in the config file.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-rabbitmq_management tcp_config "
            f'[{{ip,"127.0.0.1"}},{{port,{self.management_port}}}]'}
        return {**extra,
            "PATH": os.environ["PATH"], "HOME": str(self.folder),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_NODENAME": f"test{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(ROOT / "infra/rabbitmq/rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            # Its own epmd, on loopback and on a free port: stopped with the broker.
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
        }

    def start(self) -> None:
        log = open(self.folder / "server.log", "a")  # the child keeps it open
        self.proc = subprocess.Popen([str(SERVER)], env=self.environment(), stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: self.proc.poll() is not None or answers(self.port),
                   f"RabbitMQ to listen on 127.0.0.1:{self.port}", START_TIMEOUT_S, 0.1)
        if self.management_port is not None:
            wait_until(lambda: self.proc.poll() is not None or answers(self.management_port),
                       f"its management API on 127.0.0.1:{self.management_port}",
                       START_TIMEOUT_S, 0.1)
        if self.proc.poll() is not None:
            raise RuntimeError(f"RabbitMQ exited: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the broker's own log, for a failure message."""
        log = self.folder / "server.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None
        # epmd daemonises out of the process group: stop the one this broker started.
        subprocess.run(["epmd", "-port", str(self.epmd_port), "-kill"], capture_output=True,
                       env={**os.environ, "ERL_EPMD_PORT": str(self.epmd_port)}, timeout=10)
        wait_until(lambda: not answers(self.port), f"127.0.0.1:{self.port} to close", 10, 0.1)

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
