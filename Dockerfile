# syntax=docker/dockerfile:1
#
# Image of the Kafka → NICE CXone bridge: a static Go binary (CGO_ENABLED=0)
# on distroless/static, running as the distroless "nonroot" user (65532).
#
#   docker build -t cxone-bridge .
#   docker build -t cxone-bridge:1.2.3 \
#     --build-arg VERSION=1.2.3 \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#
# bridge.yaml is NOT baked in: mount it at /etc/bridge/bridge.yaml (in
# Kubernetes, from a ConfigMap: deploy/kubernetes/). Secrets come from the
# environment (or cxone.auth.client_secret_file), never from the image.
#
#   docker run --rm -p 9090:9090 \
#     -v "$PWD/bridge.yaml:/etc/bridge/bridge.yaml:ro" \
#     -e CXONE_CLIENT_ID -e CXONE_CLIENT_SECRET -e KAFKA_BROKERS \
#     cxone-bridge
#
# No HEALTHCHECK: distroless has no shell, curl or wget to run one, and
# Kubernetes ignores Docker's HEALTHCHECK anyway. Health is served over HTTP
# on :9090 (/healthz liveness, /readyz readiness) and checked by the
# orchestrator's probes (deploy/kubernetes/deployment.yaml).

ARG GO_VERSION=1.26

# The build stage runs on the builder's own platform and cross-compiles
# (pure Go, so no emulation is needed for multi-arch images).
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" \
      -o /out/bridge ./cmd/bridge

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
# OCI image annotations (https://github.com/opencontainers/image-spec/blob/main/annotations.md).
LABEL org.opencontainers.image.title="cxone-bridge" \
      org.opencontainers.image.description="Kafka to NICE CXone event bridge: at-least-once, idempotent, with a dead-letter topic" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/cxone-bridge/bridge" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /out/bridge /usr/local/bin/bridge
# The shipped schemas, so that a bridge.yaml mounted alone can refer to
# schemas/order.json. A ConfigMap mounted over /etc/bridge replaces them.
COPY --from=build /src/schemas /etc/bridge/schemas
# Metrics, /healthz and /readyz (metrics.listen).
EXPOSE 9090
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/bridge"]
CMD ["run", "--config", "/etc/bridge/bridge.yaml"]
