# Stand-in for jaegertracing/jaeger:<JAEGER_VERSION>: the Jaeger that `make tools` builds
# from Go module github.com/jaegertracing/jaeger at the same release, at the official
# image's path, user and entrypoint. The official binary embeds the UI; ours is given the
# same jaeger-ui release as files (ui/, empty when it has not been built).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY jaeger /cmd/jaeger/jaeger-linux
COPY ui/ /cmd/jaeger/ui/
USER 10001
EXPOSE 4317 4318 5778 9411 13133 16686
VOLUME ["/tmp"]
ENTRYPOINT ["/cmd/jaeger/jaeger-linux"]
