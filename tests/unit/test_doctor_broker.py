"""`make doctor`'s broker hop (stackctl/doctor.py), against a real RabbitMQ with its
management API (tests/support/rabbitmq.py) and the real watch app served on a free port:
publish a cue as feedback does, and the doctor finds it at the watch; stop the consumer,
pile cues up, stop the broker, and each is one sentence with what to do. Where the trace
breaks at the broker is judged on traces shaped as Jaeger's query API returns them."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace

import aio_pika
import pytest
import uvicorn

from services.watch.api import app as watch_app
from services.watch.client import CuePublisher, declare
from services.watch.models import CueMessage
from stackctl import doctor
from stackctl.jaeger import parse_trace
from stackctl.settings import endpoints
from stackctl.wait import wait_until
from tests.support.ports import free_port
from tests.support.rabbitmq import Broker

CUE = {"pattern": "double_short", "intensity": 2, "reason": "speaking fast: 200 wpm"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with Broker(tmp_path_factory.mktemp("rabbitmq"), management=True) as running:
        yield running


@pytest.fixture
def watch(broker: Broker, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The watch service on a free loopback port, consuming from the test broker."""
    monkeypatch.setenv("BROKER_URL", broker.url)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(watch_app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started and watch_app.state.parts["consumer"].consuming,
               "the watch to serve and consume", 20, 0.05,
               seen=lambda: f"the broker's log ends: {broker.log_tail()}")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def doctor_for(broker: Broker, watch_url: str, monkeypatch: pytest.MonkeyPatch,
               ) -> doctor.Doctor:
    monkeypatch.setenv("BROKER_URL", broker.url)
    # Jaeger on a port nobody holds: the trace check below says the trace is not there.
    return doctor.Doctor(replace(endpoints(), watch=watch_url, jaeger=f"http://127.0.0.1:"
                                 f"{free_port()}", rabbitmq_management=broker.management_url))


def hex32() -> str:
    return uuid.uuid4().hex


async def publish(url: str, *cues: CueMessage) -> None:
    """As feedback does: confirmed, persistent, through the named exchange."""
    async with CuePublisher(url) as publisher:
        await asyncio.to_thread(wait_until, lambda: publisher.connected,
                                "the publisher to connect", 20, 0.05)
        for cue in cues:
            assert await publisher.publish_cue(cue), "not confirmed"


def cue(session_id: str) -> CueMessage:
    return CueMessage(session_id=session_id, segment_id=hex32(), seq=1, cue=CUE)


def lines(results: list[doctor.Result]) -> list[tuple[str, str]]:
    """Each result as the doctor prints it: its mark and its sentence."""
    return [("✓" if r.ok else "!" if r.optional else "✗", r.what) for r in results]


def test_the_doctor_follows_the_probes_cue_to_the_watch(
        broker: Broker, watch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check = doctor_for(broker, watch, monkeypatch)
    probe = cue(hex32())
    check.probe_session_id, check.probe_segment_id = probe.session_id, probe.segment_id
    check.probe_trace_id = "a" * 32
    asyncio.run(publish(broker.url, probe))
    # The management API counts consumers every few seconds: a watch that has just
    # connected is seen within one such round.
    results = wait_until(
        lambda: (found := check.broker_hop(deadline_s=1))[1].what.startswith(
            "queue watch.cues: 1 consumer(s)") and found, "the watch's consumer counted", 20)
    said = lines(results)
    assert said[0] == ("✓", f"RabbitMQ answers AMQP on 127.0.0.1:{broker.port}"), said
    assert said[1][0] == "✓" and said[2] == ("✓", f"the watch is healthy ({watch})"), said
    assert said[3][0] == "✓" and said[3][1].startswith(
        f"probe cue (segment {probe.segment_id}) reached the watch after"), said
    # No Jaeger here: the cue arrived, and the trace check says what it could not find.
    assert said[4] == ("✗", f"the probe's trace {'a' * 32} breaks at the broker: the trace "
                            "is not in Jaeger"), said
    assert "queue.consume()" in results[4].fix
    # The e2e doctor tests find the Jaeger check by "probe trace": one line only.
    assert not [what for _, what in said if "probe trace" in what], said


def test_the_doctor_says_when_the_probes_cue_does_not_arrive(
        broker: Broker, watch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check = doctor_for(broker, watch, monkeypatch)
    check.probe_session_id, check.probe_segment_id = hex32(), hex32()  # never published
    (late,) = check.probe_cue(deadline_s=1)
    assert not late.ok and late.what == ("the probe's cue did not reach the watch in 1 s "
                                         "(the watch: 0 cue(s) delivered for the session)")
    assert "kept in the outbox" in late.fix and "consuming watch.cues" in late.fix


def test_the_doctor_names_a_queue_nobody_consumes(
        broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    watch_url = f"http://127.0.0.1:{free_port()}"  # no watch running
    check = doctor_for(broker, watch_url, monkeypatch)
    asyncio.run(publish(broker.url, cue(hex32()), cue(hex32())))
    (idle,) = wait_until(lambda: (found := check.queue_state())[0].what.startswith(
        "queue watch.cues: 0 consumer(s)") and found, "no consumer counted", 20)
    assert not idle.ok and not idle.optional and "cue(s) waiting" in idle.what
    assert "the watch is not connected to RabbitMQ" in idle.fix
    down = check.broker_hop(deadline_s=1)[-1]
    assert not down.ok and down.what == f"the watch does not answer /healthz at {watch_url}"


def test_the_doctor_warns_when_cues_pile_up_behind_a_stuck_consumer(
        broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    check = doctor_for(broker, f"http://127.0.0.1:{free_port()}", monkeypatch)

    async def stuck() -> list[doctor.Result]:
        # A consumer that takes one cue and never finishes it (prefetch 1): the rest wait.
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=1)
            _, queue = await declare(channel)
            await queue.consume(lambda message: asyncio.sleep(0))  # never acknowledged
            await publish(broker.url, *(cue(hex32()) for _ in range(doctor.BACKLOG + 20)))
            return await asyncio.to_thread(
                wait_until, lambda: len(found := check.queue_state()) == 2 and found,
                "the backlog counted", 20)

    counted, backlog = asyncio.run(stuck())
    assert counted.ok and counted.what.startswith("queue watch.cues: 1 consumer(s)")
    assert backlog.optional and not backlog.ok
    assert backlog.what.endswith("cues wait in watch.cues: the watch takes them slower than "
                                 "feedback publishes")
    assert "slow_consumer" in backlog.fix


def test_the_doctor_names_a_stopped_rabbitmq(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("BROKER_URL", f"amqp://guest:guest@127.0.0.1:{port}/")
    management = f"http://127.0.0.1:{free_port()}"
    check = doctor.Doctor(replace(endpoints(), rabbitmq_management=management))
    down = check.rabbitmq_answers()
    assert not down.ok and down.what == (f"RabbitMQ does not answer AMQP on 127.0.0.1:{port}: "
                                         "Connection refused")
    assert "outbox" in down.fix and "epmd" in down.fix
    (api,) = check.queue_state()
    assert api.optional and api.what == f"RabbitMQ's management API does not answer at " \
                                        f"{management}"


def test_a_port_held_by_another_program_is_not_taken_for_rabbitmq(watch: str) -> None:
    """An HTTP server (the watch itself) takes the connection but never answers AMQP."""
    port = int(watch.rsplit(":", 1)[1])
    problem = doctor.amqp_problem("127.0.0.1", port)
    assert problem is not None and problem.endswith(
        "holds the port, not RabbitMQ: change RABBITMQ_PORT in .env or stop it")


# --- where a buzzing segment's trace breaks on its way to the watch ----------------------

def jaeger_trace(consumer_parent: str | None, consumer_service: str = "watch") -> dict:
    """A segment call's trace as Jaeger's /api/traces/{id} returns it (the spans that
    matter here): the gateway's root, feedback's server and PRODUCER spans, the watch's
    CONSUMER span under `consumer_parent`."""
    def span(span_id: str, parent: str | None, process: str, name: str, kind: str) -> dict:
        return {"traceID": "t" * 32, "spanID": span_id, "operationName": name,
                "processID": process, "startTime": 0, "duration": 1,
                "references": [{"refType": "CHILD_OF", "traceID": "t" * 32, "spanID": parent}]
                if parent else [], "tags": [{"key": "span.kind", "value": kind}]}
    return {"traceID": "t" * 32,
            "processes": {"p1": {"serviceName": "gateway"}, "p2": {"serviceName": "feedback"},
                          "p3": {"serviceName": consumer_service}},
            "spans": [span("root", None, "p1", "POST /api/sessions/{session_id}/segments",
                           "server"),
                      span("fb", "root", "p2", "POST /evaluate", "server"),
                      span("prod", "fb", "p2", "haptitalk.cues,cue send", "producer"),
                      span("cons", consumer_parent, "p3", "watch.cues,cue receive",
                           "consumer")]}


def test_a_consumer_span_under_the_producer_span_is_a_whole_hop() -> None:
    assert doctor.cue_problem(parse_trace(jaeger_trace("prod"))) is None


@pytest.mark.parametrize(("parent", "service", "problem"), [
    # queue.iterator(): the consumer's span starts a trace of its own (Jaeger has it
    # elsewhere), so this trace ends at the PRODUCER span.
    ("prod", "gateway", "the watch's CONSUMER span is not in it"),
    ("fb", "watch", "the watch's CONSUMER span is not the child of feedback's PRODUCER span"),
])
def test_a_trace_that_breaks_at_the_broker_is_named(parent: str, service: str,
                                                    problem: str) -> None:
    assert doctor.cue_problem(parse_trace(jaeger_trace(parent, service))) == problem
    assert doctor.cue_problem(None) == "the trace is not in Jaeger"


def test_the_doctor_reads_the_broker_user_from_compose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKER_URL", raising=False)
    assert doctor.broker_login() == ("guest", "guest")
    monkeypatch.setenv("BROKER_URL", "amqp://haptitalk:s3cret@broker.example:5671/")
    assert doctor.broker_login() == ("haptitalk", "s3cret")
    assert doctor.broker_address() == ("broker.example", 5671)
