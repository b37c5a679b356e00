# Stand-in for victoriametrics/victoria-logs:v<VICTORIALOGS_VERSION>: the VictoriaLogs that
# `make tools` installs (the release binary, or the build from Go module
# github.com/VictoriaMetrics/VictoriaLogs at the same release; both embed the web UI),
# static like the official one, at the official image's path and entrypoint. The official
# image is distroless/static (a CA bundle, no shell): FROM scratch plus the CA bundle here.
ARG BASE_IMAGE
FROM ${BASE_IMAGE} AS certs

FROM scratch
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY victoria-logs-prod /victoria-logs-prod
EXPOSE 9428
ENTRYPOINT ["/victoria-logs-prod"]
