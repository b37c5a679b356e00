"""The services of the suite and who calls whom: the one table the tests, `make doctor`
and `make bench` read (the OpenTelemetry Demo's telemetry tests work from such a table).

A segment (POST /api/sessions/{id}/segments) crosses every edge:

    gateway -> session    store the segment; record the buzz
    gateway -> feedback   pick a haptic pattern
    feedback -> session   recent segments, for trends and the cooldown
"""

from __future__ import annotations

SERVICES = ("gateway", "session", "feedback")
# (caller, callee): every service-to-service call edge of the suite.
EDGES = (("gateway", "session"), ("gateway", "feedback"), ("feedback", "session"))
# Published in every mode; the others are internal in compose (not published).
PUBLIC = ("gateway",)
# Through RabbitMQ, not HTTP: feedback publishes each cue, the watch consumes it (the
# trace runs on through a PRODUCER and a CONSUMER span). Nothing calls the watch, so it
# is published too (the watch app's stream), and tools reach it directly.
BROKER_EDGES = (("feedback", "watch"),)
WATCH = "watch"
BROKER = "rabbitmq"  # the broker, as the compose services name it


def reached_from(service: str) -> set[str]:
    """`service` and every service its calls reach, hop after hop (EDGES): the services
    whose admin API the gateway routes to."""
    reached, frontier = {service}, [service]
    while frontier:
        caller = frontier.pop()
        for edge_caller, callee in EDGES:
            if edge_caller == caller and callee not in reached:
                reached.add(callee)
                frontier.append(callee)
    return reached
# The telemetry backend, as the compose services name them: the collector, Jaeger (traces)
# and VictoriaLogs (log records). `make bench` counts their CPU and memory together.
BACKEND = ("jaeger", "otel-collector", "victorialogs")

# The server spans of a segment call: gateway, session (store), feedback, session
# (history), and session again when the segment earns a buzz.
SEGMENT_SERVER_SPANS_MIN = 4
