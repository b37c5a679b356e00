"""Small helpers shared by the three services, one job per module (like HotROD's pkg/).

- app.py:          the FastAPI app factory every service uses (handlers, middleware, /healthz)
- errors.py:       the one JSON error shape, and the handlers that produce it
- tracecontext.py: the trace id of the current request, and the X-Trace-Id header
- downstream.py:   calling another service with a timeout; failures become 503s naming it
- limits.py:       the request body size limit (413 in the shared error shape)
"""
