"""feedback service HTTP API (port 8002). Internal: the gateway calls it.

Run: opentelemetry-instrument uvicorn services.feedback.api:app --port 8002
"""

import logging
import os
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Path, Request

from services import scenarios
from services.common.app import create_service_app
from services.common.downstream import Downstream, new_http_client, timeout_from_env
from services.feedback.models import (
    Assessment,
    AssessRequest,
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
from services.session.models import SESSION_ID_PATTERN, SessionHistory

log = logging.getLogger("haptitalk.feedback")

# Recent segments read for trends (monotone pitch) and the cooldown.
HISTORY_WINDOW = 8
# Shorter than the gateway's budget for the whole feedback call (see gateway/api.py), so a
# slow session service surfaces as "session unavailable" from here, not as a gateway
# timeout on feedback.
DEFAULT_TIMEOUT_S = 1.5


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    timeout = timeout_from_env(DEFAULT_TIMEOUT_S)
    async with new_http_client(timeout) as http:
        session_url = os.environ.get("SESSION_URL", "http://127.0.0.1:8001")
        app.state.sessions = SessionClient(Downstream("session", session_url, http, timeout))
        yield


app = create_service_app("feedback", "Haptic feedback rules and session reports.", lifespan)
install_admin(app)


async def _history(request: Request, session_id: str, limit: int) -> SessionHistory:
    sessions: SessionClient = request.app.state.sessions
    return await with_retries(lambda: sessions.history(session_id, limit))


@app.post("/evaluate", response_model=Evaluation)
async def evaluate_segment(body: EvaluateRequest, request: Request) -> Evaluation:
    history = await _history(request, body.session_id, HISTORY_WINDOW + 1)
    previous = [s for s in history.recent if s.segment_id != body.segment.segment_id]
    evaluation = evaluate(history.session.mode, body.segment, previous[-HISTORY_WINDOW:])
    evaluation.fluency = await score(body.segment)
    if evaluation.feedback is not None:
        log.info("haptic feedback for session %s segment %d: %s (intensity %d): %s",
                 body.session_id, body.segment.seq, evaluation.feedback.pattern,
                 evaluation.feedback.intensity, evaluation.feedback.reason)
    return evaluation


@app.post("/assess", response_model=Assessment)
async def assess(body: AssessRequest) -> Assessment:
    """One segment's fluency. The fixed report path never calls this (see /report)."""
    if scenarios.is_on("n_plus_one"):
        scenarios.mark("n_plus_one")
    return Assessment(seq=body.segment.seq, fluency=await score(body.segment))


@app.post("/report", response_model=Report)
async def report(body: ReportRequest) -> Report:
    assessments = body.assessments
    if assessments is None:
        segments = body.transcript.segments
        scores = await score_batch(segments) if segments else []
        assessments = [Assessment(seq=s.seq, fluency=f) for s, f in zip(segments, scores,
                                                                         strict=True)]
    return build_report(body.transcript, assessments)


@app.get("/sessions/{session_id}/tip", response_model=Tip)
async def tip(
    session_id: Annotated[str, Path(pattern=SESSION_ID_PATTERN)], request: Request
) -> Tip:
    """The one thing to work on now: the most frequent finding in the recent segments."""
    history = await _history(request, session_id, HISTORY_WINDOW)
    counts: Counter[str] = Counter()
    for i, segment in enumerate(history.recent):
        for finding in findings(history.session.mode, segment, history.recent[:i]):
            counts[finding.pattern] += 1
    top = counts.most_common(1)[0][0] if counts else None
    return Tip(session_id=session_id, tip=top, based_on_segments=len(history.recent))
