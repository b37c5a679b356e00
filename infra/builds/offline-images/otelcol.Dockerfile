# Stand-in for otel/opentelemetry-collector-contrib:<OTELCOL_VERSION>: our OCB build of
# the same release (infra/builds/otelcol/manifest.yaml: the components this suite uses,
# not all of contrib), static like the official binary, in an image built FROM scratch
# like the official one: CA bundle, binary and default config at its paths, its user.
ARG BASE_IMAGE
FROM ${BASE_IMAGE} AS certs

FROM scratch
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY otelcol-contrib /otelcol-contrib
COPY config.yaml /etc/otelcol-contrib/config.yaml
USER 10001:10001
EXPOSE 4317 4318 55678 55679
ENTRYPOINT ["/otelcol-contrib"]
CMD ["--config", "/etc/otelcol-contrib/config.yaml"]
