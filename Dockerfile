# syntax=docker/dockerfile:1
# artifactapi container image: built in a Rust image, run from debian-slim as a non-root user.
#   docker build -t artifactapi .
#   docker run -p 8000:8000 -e DBHOST=... artifactapi        (variables: README.md)
# compose/compose.yaml runs it with PostgreSQL, Redis and an S3 server.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /src
COPY . .
# The caches keep the registry and the build between image builds; the binary is copied out of
# the cache mount so the next stage can take it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p artifactapi \
 && install -D -m 0755 target/release/artifactapi /out/artifactapi

FROM debian:${DEBIAN_RELEASE}-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/artifactapi --create-home \
      --shell /usr/sbin/nologin artifactapi
COPY --from=builder /out/artifactapi /usr/local/bin/artifactapi
USER artifactapi:artifactapi
WORKDIR /var/lib/artifactapi
# DATA_DIR holds the blobs with STORAGE_BACKEND=fs and the staging files with either backend.
ENV LISTEN_ADDR=:8000 \
    DATA_DIR=/var/lib/artifactapi/data \
    RUST_LOG=info
VOLUME ["/var/lib/artifactapi/data"]
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/artifactapi"]
CMD ["serve"]
