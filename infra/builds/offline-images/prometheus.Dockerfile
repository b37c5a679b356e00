# Stand-in for prom/prometheus:v<PROMETHEUS_VERSION>: Debian 12's prometheus package
# (exactly 2.42.0, the release .env pins), laid out like the official image: Debian 12
# merges /bin into /usr/bin, so /bin/prometheus is already the official path.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG PROMETHEUS_VERSION
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Unpinned on purpose: bookworm carries one prometheus release; the line after apt checks
# it is PROMETHEUS_VERSION and fails the build otherwise.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && prometheus --version 2>&1 | grep -q "version ${PROMETHEUS_VERSION}[+ ]" \
 && mkdir -p /usr/share/prometheus /prometheus \
 && cp -r /etc/prometheus/consoles /etc/prometheus/console_libraries /usr/share/prometheus/ \
 && chown -R nobody:nogroup /etc/prometheus /prometheus
# nobody:nogroup, as in the official image.
USER 65534:65534
EXPOSE 9090
VOLUME ["/prometheus"]
WORKDIR /prometheus
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", \
     "--web.console.libraries=/usr/share/prometheus/console_libraries", \
     "--web.console.templates=/usr/share/prometheus/consoles"]
