# syntax=docker/dockerfile:1
#
# Two images from one Dockerfile:
#
#   docker build -t gustosync:dev .                            # the product
#   docker build --target gustosim -t gustosim:dev .           # the simulator
#   docker run --rm gustosync:dev gustosync --help
#
# The product image (the default target, the last stage) holds the product
# binaries only: worker, scheduler, dashboard, the gustosync CLI, and
# httpprobe, the health check for docker compose. The container's command
# picks the binary. The Gusto simulator, whose admin endpoints have no
# authentication, gets its own image (target gustosim) for docker compose
# and the demo overlay; the proof tools under proof/ (demo, chaos, bench)
# are in no image. Each `go build` names its binaries one by one, and the
# tests in deploy/ check the sets.
#
# Binaries are static (CGO_ENABLED=0) and the runtime images are distroless
# static: no shell, no package manager, CA certificates and tzdata only,
# running as the unprivileged user 65532 (nonroot).

# Keep at or above the go directive of go.mod (the deploy tests check it).
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS source
WORKDIR /src
# Dependencies first, so a source change does not re-download them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .

# The simulator and the probe of its health check; built only for
# --target gustosim.
FROM source AS build-gustosim
# Cross-compiles for the target platform (docker buildx --platform).
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} \
    go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/gustosim ./cmd/httpprobe

FROM gcr.io/distroless/static-debian12:nonroot AS gustosim
COPY --from=build-gustosim /out/ /usr/local/bin/
ENV PATH=/usr/local/bin
USER 65532:65532
EXPOSE 8089
CMD ["gustosim"]

# The product binaries.
FROM source AS build
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} \
    go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/worker ./cmd/scheduler ./cmd/dashboard ./cmd/gustosync ./cmd/httpprobe

# The product image: the default target, so it stays the last stage.
FROM gcr.io/distroless/static-debian12:nonroot AS gustosync
COPY --from=build /out/ /usr/local/bin/
ENV PATH=/usr/local/bin
USER 65532:65532
# worker /metrics+/healthz+/readyz, scheduler, dashboard.
EXPOSE 8080 8081 8082
CMD ["worker"]
