"""Free loopback ports for the programs tests start themselves (a private Jaeger,
VictoriaLogs, RabbitMQ, collector...), never the stack's.

A program with several ports gets them from one free_ports(n) call: the ports are held
open together while chosen, so they differ. One free_port() after another may hand out a
number twice, and a program given one port twice may answer on it and then fail (seen:
a test broker that answered AMQP, then lost it when its management listener could not
bind, tests/support/rabbitmq.py).
"""

from __future__ import annotations

import socket


def free_ports(count: int) -> list[int]:
    """`count` different ports nothing listens on now."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket()
            held.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def free_port() -> int:
    """One port nothing listens on now (for a URL nothing should answer, or a program
    with a single port)."""
    (port,) = free_ports(1)
    return port
