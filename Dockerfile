# syntax=docker/dockerfile:1
#
# One image holding every binary of cmd/* (worker, scheduler, dashboard,
# the gustosync CLI, the gustosim simulator, and the local demo and chaos
# drivers) plus httpprobe, the health check for docker compose. The
# container's command picks the binary:
#
#   docker build -t gustosync:dev .
#   docker run --rm gustosync:dev gustosync --help
#
# Binaries are static (CGO_ENABLED=0) and the runtime image is distroless
# static: no shell, no package manager, CA certificates and tzdata only,
# running as the unprivileged user 65532 (nonroot).

# Keep at or above the go directive of go.mod (the deploy tests check it).
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Dependencies first, so a source change does not re-download them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
# Cross-compiles for the target platform (docker buildx --platform).
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} \
    go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/... ./cmd/httpprobe

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
ENV PATH=/usr/local/bin
USER 65532:65532
# worker /metrics+/healthz+/readyz, scheduler, dashboard, simulator.
EXPOSE 8080 8081 8082 8089
CMD ["worker"]
