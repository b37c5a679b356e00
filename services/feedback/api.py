"""feedback service HTTP API (FEEDBACK_PORT in .env). Internal: the gateway calls it.

Run: opentelemetry-instrument uvicorn services.feedback.api:app --port $FEEDBACK_PORT
"""

import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Path

from services import scenarios
from services.common.app import create_service_app, part, wire
from services.common.downstream import Downstream, connect
from services.feedback.cues import CueSender
from services.feedback.models import (
    Assessment,
    EvaluateRequest,
    Evaluation,
    Report,
    ReportRequest,
    Tip,
)
from services.feedback.report import build_report
from services.feedback.retry import with_retries
from services.feedback.rules import evaluate, findings
from services.feedback.scorer import score, score_batch
from services.scenarios.admin import install_admin
from services.session.client import SessionClient
from services.session.models import SESSION_ID_PATTERN
from services.watch.client import CuePublisher, broker_url

log = logging.getLogger("haptitalk.feedback")

# Recent segments read for trends (monotone pitch) and the cooldown.
HISTORY_WINDOW = 8
# Each read from session (every attempt of with_retries) gets this budget, shorter than
# the gateway's for the whole feedback call (see gateway/api.py). A session that fails
# fast surfaces as "session service unavailable" in feedback's 503; a hung one outlasts
# the retry, and the gateway's own budget names feedback (docs/reliability.md).
DEFAULT_TIMEOUT_S = 1.5


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with (connect(DEFAULT_TIMEOUT_S, "session") as reach,
                CuePublisher(broker_url()) as publisher):
        wire(app, **reach, cues=CueSender(publisher))
        yield


def sessions(session: Annotated[Downstream, Depends(part("session"))]) -> SessionClient:
    """How this service reads session history: flaky reads are retried (retry.py)."""
    return SessionClient(session)


Sessions = Annotated[SessionClient, Depends(sessions)]
# The watch, reached through RabbitMQ (services/watch/client.py).
Cues = Annotated[CueSender, Depends(part("cues"))]

app = create_service_app("feedback", "Haptic feedback rules and session reports.", lifespan)
install_admin(app, "feedback")


@app.post("/evaluate", response_model=Evaluation)
async def evaluate_segment(body: EvaluateRequest, sessions: Sessions, cues: Cues) -> Evaluation:
    """The haptic cue a stored segment earns. Takes ids: session owns the segment and
    serves it with the segments before it, in one read."""
    history = await with_retries(
        lambda: sessions.history(body.session_id, HISTORY_WINDOW, before=body.segment_id))
    segment = history.segment
    assert segment is not None  # asked `before` a segment, session returns it (or 404s)
    evaluation = evaluate(history.session.mode, segment, history.recent)
    evaluation.fluency = await score(segment)
    log_decision(body.session_id, segment.seq, evaluation)
    # To the watch: published, or kept in the outbox if the broker is away; never a
    # reason to fail or slow this call beyond the publisher's bound.
    await cues.evaluated(segment, evaluation.feedback)
    return evaluation


def log_decision(session_id: str, seq: int, evaluation: Evaluation) -> None:
    """The decision and its reason, one INFO line per segment, buzz or not: what someone
    asking "why did (or didn't) the watch buzz?" looks for under the trace id. Numbers
    and rule names only: the user's words never go into a log line."""
    cue = evaluation.feedback
    if cue is not None:
        log.info("haptic feedback for session %s segment %d: %s (intensity %d): %s",
                 session_id, seq, cue.pattern, cue.intensity, cue.reason)
    elif not evaluation.rules_fired:
        log.info("no haptic feedback for session %s segment %d: no rule fired",
                 session_id, seq)
    else:
        log.info("no haptic feedback for session %s segment %d: cooldown since the last "
                 "buzz holds back %s", session_id, seq, ", ".join(evaluation.rules_fired))


@app.post("/report", response_model=Report)
async def report(body: ReportRequest, cues: Cues) -> Report:
    segments = body.transcript.segments
    if scenarios.is_on("n_plus_one"):
        # Broken: one model call per segment, awaited in turn: under this span a staircase
        # of N "score segment" spans (batch 1), growing with the session's length.
        scenarios.mark("n_plus_one")
        scores = [await score(s) for s in segments]
    else:
        # Fixed: one model call scores the whole session (batch N).
        scores = await score_batch(segments) if segments else []
    assessments = [Assessment(seq=s.seq, fluency=f) for s, f in zip(segments, scores,
                                                                     strict=True)]
    await cues.ended(body.transcript)
    return build_report(body.transcript, assessments)


@app.get("/sessions/{session_id}/tip", response_model=Tip)
async def tip(
    session_id: Annotated[str, Path(pattern=SESSION_ID_PATTERN)], sessions: Sessions
) -> Tip:
    """The one thing to work on now: the most frequent finding in the recent segments."""
    history = await with_retries(lambda: sessions.history(session_id, HISTORY_WINDOW))
    counts: Counter[str] = Counter()
    for i, segment in enumerate(history.recent):
        for finding in findings(history.session.mode, segment, history.recent[:i]):
            counts[finding.pattern] += 1
    top = counts.most_common(1)[0][0] if counts else None
    return Tip(session_id=session_id, tip=top, based_on_segments=len(history.recent))
