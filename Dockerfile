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

# Both base images are pinned by digest (a tag can be moved to another image,
# a digest cannot), with the tag kept beside it for people: the tag says what
# the image is, the digest decides which image it is. deploy/deploy_test.go
# checks that every FROM is pinned.
#
# To update (e.g. monthly, or when the distroless or Go images get a security
# fix), resolve each tag to the digest of its multi-platform index and
# replace it below:
#   docker buildx imagetools inspect golang:1.26.8 --format '{{json .Manifest.Digest}}'
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot --format '{{json .Manifest.Digest}}'
#   (or: crane digest <image:tag>)
# or let Renovate/Dependabot (docker ecosystem) keep them current. Keep the
# golang tag in step with the go directive of go.mod: the image sets
# GOTOOLCHAIN=local and will not download a newer toolchain.
#
# NOTE: these two digests were NOT resolved against the registries: the
# environment in which they were written could not reach docker.io or
# gcr.io. They are the digests that public, independently maintained
# Dockerfiles pin for the same tags (golang:1.26.8 multi-platform builders;
# distroless/static-debian12:nonroot, pinned identically by many projects).
# A digest cannot point at an image other than the one it hashes, so a
# wrong one fails the build rather than changing it; still, verify both
# with the commands above before the first release build, and replace them
# if they differ from what the registries answer today.

# The build stage runs on the builder's own platform and cross-compiles
# (pure Go, so no emulation is needed for multi-arch images).
FROM --platform=$BUILDPLATFORM golang:1.26.8@sha256:3c3e25a4da13fd0478eed2df1eb35a0e667094a7124d3993a6a1d30f71c17e79 AS build
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

FROM gcr.io/distroless/static-debian12:nonroot@sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639
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
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot" \
      org.opencontainers.image.base.digest="sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639"
COPY --from=build /out/bridge /usr/local/bin/bridge
# The shipped schemas, so that a bridge.yaml mounted alone can refer to
# schemas/order.json. A ConfigMap mounted over /etc/bridge replaces them.
COPY --from=build /src/schemas /etc/bridge/schemas
# Metrics, /healthz and /readyz (metrics.listen).
EXPOSE 9090
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/bridge"]
CMD ["run", "--config", "/etc/bridge/bridge.yaml"]
