# syntax=docker/dockerfile:1
# The operator's image: `docker build -t ghcr.io/spark-operator-rs/spark-operator:0.1.0 .`
# (the chart's default image.registry/repository, with its appVersion as the tag).

# Builder: the binaries of the `dist` profile (release, optimised as one unit: see Cargo.toml)
# from the committed Cargo.lock. The rust image's version is the workspace's rust-version, the
# oldest toolchain it supports.
FROM docker.io/library/rust:1.89-bookworm AS builder
WORKDIR /src
COPY . .
# The registry and target caches survive between builds; the binaries are copied out of the
# cache mount because it is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile dist --locked --bin spark-operator --bin sparkctl \
 && mkdir -p /out \
 && cp target/dist/spark-operator target/dist/sparkctl /out/

# Runtime: glibc and CA certificates only, no shell or package manager. The nonroot user is
# 65532, the UID and GID the chart's podSecurityContext runs as; the chart's read-only root
# filesystem is fine because the operator writes nothing to disk.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="spark-operator" \
      org.opencontainers.image.description="Runs Apache Spark applications on Kubernetes; drop-in compatible with the Kubeflow Spark Operator's API" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/spark-operator /out/sparkctl /usr/local/bin/
USER 65532:65532
# Metrics (--metrics-bind-address), health probes (--health-probe-bind-address), webhooks.
EXPOSE 8080 8081 9443
# The chart passes `controller start` and its flags as the container's args.
ENTRYPOINT ["/usr/local/bin/spark-operator"]
CMD ["controller", "start"]
