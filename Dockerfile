# syntax=docker/dockerfile:1
# mesa container image: `docker build -t mesa .` (BuildKit, the default since Docker 23).

# --- build -----------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The cargo registry and target/ live in BuildKit cache mounts: a rebuild after a source change
# recompiles mesa only, not its ~300 dependencies. (A dummy-main dependency layer would break
# as soon as Cargo.toml names a bench or test file that is not copied yet.)
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin mesa \
    && install -m 0755 target/release/mesa /usr/local/bin/mesa

# --- runtime ---------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime-base
# libssl3: ssh2 (NETCONF) links OpenSSL; ca-certificates: Mist, CSO and chat APIs over HTTPS;
# curl: the health check. Versions are not pinned so a rebuild picks up Debian security fixes.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 mesa \
    && useradd --system --uid 10001 --gid mesa --home-dir /var/lib/mesa --shell /usr/sbin/nologin mesa \
    && install -d -o mesa -g mesa -m 0750 /var/lib/mesa \
    && install -d -m 0755 /etc/mesa

ENV MESA_CONFIG=/etc/mesa/config.toml
VOLUME ["/var/lib/mesa"]
WORKDIR /var/lib/mesa
# Numeric, so runtimes can tell it is not root without reading /etc/passwd.
USER 10001:10001
EXPOSE 51360
# Plain HTTP, or HTTPS when server.tls_cert/tls_key are set (any certificate: -k).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/bin/sh", "-c", "curl -fsS -o /dev/null http://127.0.0.1:51360/healthz || curl -fsSk -o /dev/null https://127.0.0.1:51360/healthz"]
ENTRYPOINT ["mesa"]
CMD ["serve"]

# --- runtime on a prebuilt binary ------------------------------------------------------------
# `--target prebuilt` with a build context holding only a `mesa` binary built on Debian
# bookworm (glibc must match): the container test uses it to skip the Rust build. BuildKit
# skips this stage in a normal build.
FROM runtime-base AS prebuilt
COPY mesa /usr/local/bin/mesa

# --- runtime (the default target) ------------------------------------------------------------
FROM runtime-base
COPY --from=builder /usr/local/bin/mesa /usr/local/bin/mesa
