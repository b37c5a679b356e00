"""feedback service HTTP API (port 8002). Internal: the gateway calls it.

Run: opentelemetry-instrument uvicorn services.feedback.api:app --port 8002
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from services.common.app import create_service_app
from services.common.downstream import Downstream, new_http_client, timeout_from_env
from services.feedback.models import EvaluateRequest, Evaluation, Report, ReportRequest
from services.feedback.report import build_report
from services.feedback.rules import evaluate
from services.session.client import SessionClient

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


@app.post("/evaluate", response_model=Evaluation)
async def evaluate_segment(body: EvaluateRequest, request: Request) -> Evaluation:
    sessions: SessionClient = request.app.state.sessions
    history = await sessions.history(body.session_id, HISTORY_WINDOW + 1)
    previous = [s for s in history.recent if s.segment_id != body.segment.segment_id]
    return evaluate(history.session.mode, body.segment, previous[-HISTORY_WINDOW:])


@app.post("/report", response_model=Report)
async def report(body: ReportRequest) -> Report:
    return build_report(body.transcript)
