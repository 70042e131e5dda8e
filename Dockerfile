# syntax=docker/dockerfile:1
# Multi-stage build of a static bridge binary on a distroless base, running
# as a non-root user. bridge.yaml is mounted at run time:
#   docker build -t cxone-bridge .
#   docker run --rm -v "$PWD/bridge.yaml:/etc/bridge/bridge.yaml:ro" \
#     -e CXONE_CLIENT_ID -e CXONE_CLIENT_SECRET cxone-bridge
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bridge ./cmd/bridge

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bridge /usr/local/bin/bridge
COPY --from=build /src/schemas /etc/bridge/schemas
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/bridge"]
CMD ["run", "--config", "/etc/bridge/bridge.yaml"]
