"""Small helpers shared by the three services, one job per module (like HotROD's pkg/).

- errors.py:     the one JSON error shape, and the handlers that produce it
- tracecontext.py: the trace id of the current request, and the X-Trace-Id header
- downstream.py: calling another service with a timeout; failures become 503s naming it
- app.py:        the FastAPI app factory every service uses (lifespan, handlers, /healthz)
"""
