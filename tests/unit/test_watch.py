"""The watch and the broker hop, against a real RabbitMQ (tests/support/rabbitmq.py):
start the broker, send segments through the gateway (in process), find the cue at the
watch, check the trace: feedback's PRODUCER span and the watch's CONSUMER span in the
segment call's trace, the consumer the child of the producer. Then the broker goes
down: the watch answers 503 naming it at once, a segment call still answers 200 at once
with its cue, and the cue reaches the watch once the broker is back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.feedback.api import app as feedback_app
from services.feedback.cues import CueSender
from services.watch.api import app as watch_app
from services.watch.client import PUBLISH_TIMEOUT_S, CuePublisher
from services.watch.consumer import BUZZ_MS
from stackctl.wait import wait_until
from tests.support.rabbitmq import Broker

# Presentation mode: 230 wpm is "slow down"; 130 wpm at 65 dB, unvoiced, earns nothing
# and, 9 s long, lets the cooldown (8 s of speech) pass.
FAST = {"text": "fast", "duration_ms": 4000, "words_per_minute": 230.0, "volume_db": 65.0,
        "pitch_hz": 0.0, "filler_words": 0}
CALM = {**FAST, "duration_ms": 9000, "words_per_minute": 130.0}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with Broker(tmp_path_factory.mktemp("rabbitmq")) as running:
        yield running


@pytest.fixture
def stack(wired: TestClient, broker: Broker, monkeypatch: pytest.MonkeyPatch,
          ) -> Iterator[tuple[TestClient, TestClient, CuePublisher]]:
    """The gateway (feedback publishing to the broker) and the watch (consuming)."""
    if broker.proc is None:
        broker.start()
    monkeypatch.setenv("BROKER_URL", broker.url)
    publisher = CuePublisher(broker.url)
    # Feedback runs in the gateway's event loop here (in-process hops): so does its
    # publisher, as in the service, where it lives as long as the app.
    wired.portal.call(publisher.__aenter__)
    feedback_app.state.parts["cues"] = CueSender(publisher)
    with TestClient(watch_app) as watch:
        wait_until(lambda: publisher.connected and watch_app.state.parts["consumer"].consuming,
                   "feedback and the watch to connect to RabbitMQ", 20, 0.05,
                   seen=lambda: f"the broker's log ends: {broker.log_tail()}")
        yield wired, watch, publisher
    wired.portal.call(publisher.__aexit__, None, None, None)


def start(gateway: TestClient) -> str:
    response = gateway.post("/api/sessions", json={"user_id": "u-1", "mode": "presentation"})
    assert response.status_code == 201, response.text
    return response.json()["session_id"]


def send(gateway: TestClient, sid: str, segment: dict) -> dict:
    response = gateway.post(f"/api/sessions/{sid}/segments", json=segment)
    assert response.status_code == 200, response.text
    return {**response.json(), "trace_id": response.headers["x-trace-id"]}


def delivered(watch: TestClient, sid: str, count: int) -> dict:
    def enough() -> dict | None:
        response = watch.get(f"/watch/{sid}/delivered")
        body = response.json() if response.status_code == 200 else None
        return body if body and len(body["cues"]) >= count else None

    return wait_until(enough, f"{count} cue(s) at the watch for {sid}", 20, 0.05,
                      seen=lambda: watch.get(f"/watch/{sid}/delivered").text)


def test_a_cue_is_one_trace_from_the_segment_call_to_the_watch(stack, spans) -> None:
    gateway, watch, _ = stack
    sid = start(gateway)
    result = send(gateway, sid, FAST)
    assert result["feedback"]["pattern"] == "slow_down"
    body = delivered(watch, sid, 1)
    assert [c["segment_id"] for c in body["cues"]] == [result["segment_id"]]
    assert body["cues"][0]["cue"] == result["feedback"]

    def hop() -> tuple | None:
        finished = spans.get_finished_spans()
        producers = [s for s in finished if s.kind.name == "PRODUCER"]
        consumers = [s for s in finished if s.kind.name == "CONSUMER"]
        return (producers, consumers) if producers and consumers else None

    producers, consumers = wait_until(hop, "the PRODUCER and CONSUMER spans", 10, 0.05)
    (producer,), (consumer,) = producers, consumers
    assert producer.name == "haptitalk.cues,cue send"  # a named exchange, not ",cues send"
    assert consumer.name == "haptitalk.cues receive"
    trace_id = int(result["trace_id"], 16)
    assert producer.context.trace_id == consumer.context.trace_id == trace_id, \
        "the trace breaks at the broker"
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    # Published from feedback's /evaluate, inside the segment call.
    (evaluate,) = [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"
                   and s.attributes.get("http.route") == "/evaluate"]
    assert producer.parent.span_id == evaluate.context.span_id
    assert producer.attributes["messaging.message.id"] == result["segment_id"]
    # The buzz (BUZZ_MS) happens inside the CONSUMER span. With queue.iterator() the
    # span would cover only the hand-over to the iterator, and the work would run in no
    # trace at all.
    handle_ns = BUZZ_MS * 1e6
    assert consumer.end_time - consumer.start_time >= handle_ns, \
        "the consumer's work runs outside its CONSUMER span"


def test_the_session_summary_starts_a_new_trace_linked_to_each_segment(stack, spans) -> None:
    gateway, watch, _ = stack
    sid = start(gateway)
    segments = [send(gateway, sid, segment) for segment in (FAST, CALM, FAST)]
    delivered(watch, sid, 2)
    spans.clear()
    end = gateway.post(f"/api/sessions/{sid}/end")
    assert end.status_code == 200, end.text
    body = wait_until(lambda: watch.get(f"/watch/{sid}/delivered").json()["summary"],
                      "the summary at the watch", 20, 0.05)
    assert body == {"session_id": sid, "segments": 3, "cues": 2}

    (consumer,) = wait_until(lambda: [s for s in spans.get_finished_spans()
                                      if s.kind.name == "CONSUMER"], "its CONSUMER span", 10)
    (producer,) = [s for s in spans.get_finished_spans() if s.kind.name == "PRODUCER"]
    assert consumer.parent is None, "the summary's CONSUMER span must start a new trace"
    assert consumer.context.trace_id not in {int(s["trace_id"], 16) for s in segments}
    linked = {link.context.trace_id: link.attributes["haptitalk.link"]
              for link in consumer.links}
    assert linked == {**{int(s["trace_id"], 16): "summarised" for s in segments},
                      producer.context.trace_id: "sent by"}
    assert producer.context.trace_id == int(end.headers["x-trace-id"], 16)


def test_the_sse_stream_sends_each_cue_as_it_comes_then_the_summary(stack) -> None:
    gateway, watch, _ = stack
    sid = start(gateway)
    received: dict = {}

    def listen() -> None:
        response = watch.get(f"/watch/{sid}/cues")
        received.update(status=response.status_code, type=response.headers["content-type"],
                        text=response.text)

    listener = threading.Thread(target=listen)
    listener.start()
    # The stream is open (its listener registered) before the first cue is sent.
    store = watch_app.state.parts["cues"]
    wait_until(lambda: store._sessions.get(sid) and store._sessions[sid].listeners,
               "the SSE stream to listen", 10, 0.02)
    first = send(gateway, sid, FAST)
    send(gateway, sid, CALM)
    assert gateway.post(f"/api/sessions/{sid}/end").status_code == 200
    listener.join(timeout=20)
    assert not listener.is_alive(), "the stream did not end with the summary"
    assert received["status"] == 200
    assert received["type"].startswith("text/event-stream")
    events = [block.splitlines() for block in received["text"].strip().split("\n\n")]
    assert [e[0] for e in events] == ["event: cue", "event: summary"], received["text"]
    assert events[0][1] == f"id: {first['segment_id']}"


def test_broker_down_the_watch_says_so_and_segment_calls_keep_their_cues(
    stack, broker: Broker
) -> None:
    gateway, watch, publisher = stack
    sid = start(gateway)
    broker.stop()
    consumer = watch_app.state.parts["consumer"]
    wait_until(lambda: not consumer.consuming and not publisher.connected,
               "both sides to notice the broker is gone", 10, 0.05)

    started = time.monotonic()
    response = watch.get(f"/watch/{sid}/delivered")
    assert time.monotonic() - started < 1.0, "the watch must not wait for the broker"
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["dependency"] == "rabbitmq" and "rabbitmq" in error["message"], error
    assert str(broker.port) in error["message"], "the 503 names the broker's address"

    started = time.monotonic()
    result = send(gateway, sid, FAST)
    took = time.monotonic() - started
    assert result["feedback"]["pattern"] == "slow_down", "session keeps the cue as before"
    assert took < 1.0 + PUBLISH_TIMEOUT_S, f"the segment call took {took:.2f}s"
    assert publisher.pending == 1

    broker.start()
    body = delivered(watch, sid, 1)
    assert [c["segment_id"] for c in body["cues"]] == [result["segment_id"]]
    assert publisher.pending == 0
    assert len(watch.get(f"/watch/{sid}/delivered").json()["cues"]) == 1
