# Stand-in for rabbitmq:<RABBITMQ_VERSION>-management: Debian 12's rabbitmq-server (the
# same release, 3.10.8) with the management plugin it ships, run by local mode's
# entrypoint (infra/rabbitmq/entrypoint.sh), with the official image's user (rabbitmq,
# uid/gid 999) and data folder (/var/lib/rabbitmq). Configured by the environment
# docker-compose.yml sets, as the official image is.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG RABBITMQ_VERSION
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The user first, so the package keeps uid/gid 999. Unpinned on purpose: bookworm
# carries one release (3.10.8); the line after apt checks it is RABBITMQ_VERSION and fails
# the build otherwise.
# hadolint ignore=DL3008
RUN groupadd --system --gid 999 rabbitmq \
 && useradd --system --uid 999 --gid 999 --home-dir /var/lib/rabbitmq --shell /bin/bash \
      rabbitmq \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rabbitmq-server \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && dpkg-query --show --showformat '${Version}' rabbitmq-server | grep -q "^${RABBITMQ_VERSION}-" \
 && mkdir -p /var/lib/rabbitmq && chown -R 999:999 /var/lib/rabbitmq
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/rabbitmq/bin:$PATH HOME=/var/lib/rabbitmq
USER 999:999
VOLUME ["/var/lib/rabbitmq"]
EXPOSE 5672 15672
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["rabbitmq-server"]
