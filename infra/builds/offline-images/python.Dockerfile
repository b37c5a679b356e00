# Stand-in for python:<PYTHON_IMAGE tag> (services/Dockerfile's base): Debian 12's own
# Python 3.11 on the offline Debian base. `python` (python-is-python3) because
# services/Dockerfile and the compose healthchecks call it by that name; python3-venv
# because services/Dockerfile builds a venv; passwd for its `useradd`.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# Unpinned on purpose: Debian 12's one python3.11 (3.11.2), whatever the day's point release.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3.11 python3-venv python-is-python3 passwd \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
# The build machine's CA bundle, after apt (the ca-certificates postinst rewrites it):
# services/Dockerfile runs `pip install`, and where registry traffic passes a
# TLS-intercepting proxy only the host's bundle trusts it.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
