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

# Identity, stamped into every binary (internal/buildinfo, `--version`) and
# onto the images (OCI labels). `make image` passes them from git:
#   docker build --build-arg VERSION=v1.2.3 --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t gustosync:v1.2.3 .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown

# Base images, pinned by digest: a tag can move, a digest cannot (the deploy
# tests check every FROM has one). Keep the tags and the digests together;
# to update, read the new digest of the tag, e.g.
#   docker buildx imagetools inspect golang:1.26 --format '{{json .Manifest.Digest}}'
# The Go version stays at or above the go directive of go.mod (checked too).
ARG GO_VERSION=1.26
ARG GO_DIGEST=sha256:3aff6657219a4d9c14e27fb1d8976c49c29fddb70ba835014f477e1c70636647
ARG DISTROLESS=gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}@${GO_DIGEST} AS source
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
ARG VERSION
ARG COMMIT
ARG DATE
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} \
    go build -trimpath -ldflags="-s -w -X github.com/gustosync/gustosync/internal/buildinfo.Version=${VERSION} -X github.com/gustosync/gustosync/internal/buildinfo.Commit=${COMMIT} -X github.com/gustosync/gustosync/internal/buildinfo.Date=${DATE}" -o /out/ ./cmd/gustosim ./cmd/httpprobe

FROM ${DISTROLESS} AS gustosim
ARG VERSION
ARG COMMIT
ARG DATE
LABEL org.opencontainers.image.title="gustosim" \
      org.opencontainers.image.description="The Gusto API simulator (tests and demos only)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${DATE}" \
      org.opencontainers.image.source="https://github.com/gustosync/gustosync"
COPY --from=build-gustosim /out/ /usr/local/bin/
ENV PATH=/usr/local/bin
USER 65532:65532
EXPOSE 8089
CMD ["gustosim"]

# The product binaries.
FROM source AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION
ARG COMMIT
ARG DATE
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} \
    go build -trimpath -ldflags="-s -w -X github.com/gustosync/gustosync/internal/buildinfo.Version=${VERSION} -X github.com/gustosync/gustosync/internal/buildinfo.Commit=${COMMIT} -X github.com/gustosync/gustosync/internal/buildinfo.Date=${DATE}" -o /out/ ./cmd/worker ./cmd/scheduler ./cmd/dashboard ./cmd/gustosync ./cmd/httpprobe

# The product image: the default target, so it stays the last stage.
FROM ${DISTROLESS} AS gustosync
ARG VERSION
ARG COMMIT
ARG DATE
LABEL org.opencontainers.image.title="gustosync" \
      org.opencontainers.image.description="Syncs payroll data from Gusto: worker, scheduler, dashboard, CLI" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${DATE}" \
      org.opencontainers.image.source="https://github.com/gustosync/gustosync"
COPY --from=build /out/ /usr/local/bin/
ENV PATH=/usr/local/bin
USER 65532:65532
# worker /metrics+/healthz+/readyz, scheduler, dashboard.
EXPOSE 8080 8081 8082
CMD ["worker"]
