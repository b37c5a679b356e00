"""How `opentelemetry-instrument` is tuned for this suite: the project's distro.

Nothing here is imported by the services; `opentelemetry-instrument` loads it by its entry
point (pyproject.toml) when OTEL_PYTHON_DISTRO=haptitalk (docker-compose.yml).
"""
