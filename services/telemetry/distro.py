"""The project's OpenTelemetry distro: the stock one, minus the ASGI `http send` /
`http receive` spans.

The FastAPI instrumentation opens an INTERNAL span around every ASGI `send` and
`receive` message: ~4 of the ~10 spans a session request makes, each created, exported
and stored, while saying nothing a reader of the trace needs (the server span already
has the status code and the duration). Contrib 0.66b1 turns them off only in code
(`instrument_app(exclude_spans=[...])`), not through an environment variable; a distro
is the hook `opentelemetry-instrument` gives for passing instrumentor arguments, so the
services keep no tracing code.

Selected with OTEL_PYTHON_DISTRO=haptitalk (entry point in pyproject.toml); everything
else (exporters, sampler, resource) is the stock distro's, configured by OTEL_* variables.
What it saves is measured in docs/benchmarks.md.
"""

from opentelemetry.distro import OpenTelemetryDistro

# Per instrumentation entry point name: the keyword arguments its instrument() gets.
INSTRUMENT_KWARGS = {
    "fastapi": {"exclude_spans": ["send", "receive"]},
}


class HaptiTalkDistro(OpenTelemetryDistro):
    def load_instrumentor(self, entry_point, **kwargs):
        kwargs.update(INSTRUMENT_KWARGS.get(entry_point.name, {}))
        super().load_instrumentor(entry_point, **kwargs)
