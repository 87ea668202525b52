# Build args and targets: ARG defaults a request's build_args override, a
# global ARG in FROM, and a test stage that `target` can stop at.
ARG BASE=busybox
FROM ${BASE} AS base
ARG APP_VERSION=0.0.1
ARG CHANNEL=stable
RUN mkdir -p /app && echo "version=$APP_VERSION channel=$CHANNEL" > /app/build-info

FROM base AS test
RUN echo "tests passed for $(cat /app/build-info)" > /app/test-report

FROM base AS release
ARG CHANNEL
LABEL channel=${CHANNEL}
CMD ["sh", "-c", "cat /app/build-info; exec sleep 3600"]
