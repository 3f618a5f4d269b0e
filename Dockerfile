# syntax=docker/dockerfile:1
# The one ccx image: every role is a subcommand of the same binary.
#   docker build -t ccx:0.1.0 .
#   docker run --rm ccx:0.1.0 --help

# ---- builder ---------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder

# librdkafka is built from source by rdkafka's cmake-build feature; protoc comes vendored.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake libcurl4-openssl-dev libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# The cache mounts keep the registry and incremental builds between image builds; the binary is
# copied out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ccx \
 && install -D -m 0755 target/release/ccx /out/ccx

# ---- runtime ---------------------------------------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libcurl4 \
 && rm -rf /var/lib/apt/lists/*

# A fixed non-root uid/gid: the Helm chart's securityContext runs as 10001 too.
RUN groupadd --system --gid 10001 ccx \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/ccx --no-create-home \
      --shell /usr/sbin/nologin ccx \
 && mkdir -p /etc/ccx /var/lib/ccx/stream /var/lib/ccx/control \
 && chown -R 10001:10001 /var/lib/ccx

COPY --from=builder /out/ccx /usr/local/bin/ccx

USER 10001:10001
WORKDIR /var/lib/ccx

# collector gRPC, collector HTTP, stream timely peers, stream HTTP, control gRPC, control HTTP,
# wallboard HTTP
EXPOSE 50051 8088 2101 9090 50061 9091 8090

ENTRYPOINT ["ccx"]
CMD ["--help"]
