"""A RabbitMQ node of the test's own (Debian's rabbitmq-server), to stop and start at will.

Never the machine's shared node: its own node name, AMQP and distribution ports picked free,
its own data, log, cookie (``HOME``), config and empty plugin list under a temporary directory,
so ``/etc/rabbitmq`` is not read. It registers with the machine's epmd (loopback) like any
Erlang node. ``stop``/``start`` keep the data and the ports, so a test can take the broker away
and bring it back.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Final

import pika

from phoenix.dev.launcher import Process
from phoenix.dev.probes import free_port
from tests.harness.processes import restartable_port

SCRIPT: Final = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


class PrivateRabbitMQ:
    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="phoenix-rabbitmq-"))
        self.port = restartable_port()  # stop() and start() keep it
        self.node = f"phoenix{self.port}@localhost"
        self.process: Process | None = None
        (self.directory / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
        )
        (self.directory / "rabbitmq-env.conf").write_text("")
        (self.directory / "enabled_plugins").write_text("[].\n")
        self.env = {
            **os.environ,
            "HOME": str(self.directory),
            "RABBITMQ_CONF_ENV_FILE": str(self.directory / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.directory / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.directory / "enabled_plugins"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.directory / "log"),
            "RABBITMQ_PID_FILE": str(self.directory / "node.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    @staticmethod
    def available() -> bool:
        return SCRIPT.is_file()

    def start(self, timeout: float = 60.0) -> PrivateRabbitMQ:
        self.process = Process(
            [str(SCRIPT)],
            env=self.env,
            cwd=self.directory,
            log=self.directory / "stdout.log",
            append=True,
        )
        self.process.wait_ready(self._answers, timeout, "rabbitmq-server", interval=0.2)
        return self

    def stop(self) -> None:
        """SIGTERM to the start script, which stops the node gracefully and waits for it."""
        if self.process is not None:
            self.process.stop(grace=60)
        self.process = None

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def logs(self) -> str:
        path = self.directory / "stdout.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def _answers(self) -> bool:
        parameters = pika.URLParameters(self.url)
        parameters.connection_attempts = 1
        parameters.socket_timeout = 1
        try:
            pika.BlockingConnection(parameters).close()
        except pika.exceptions.AMQPError:
            return False
        return True
