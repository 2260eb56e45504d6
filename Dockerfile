# chatd in a container: a static musl binary (make static) on an empty image.
#   docker build -t chatd .
#   docker run -d -p 8000:8000 -v chatd-data:/data chatd
# Extra flags go after the image name (e.g. `chatd --max-conns 4096`). The image holds only
# /chatd and an empty /data owned by 65532; a bind-mounted host directory must be writable
# by uid 65532.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY scripts/deploy.mk scripts/webgen.sh scripts/
COPY src/ src/
RUN make static \
 && install -D -m 755 chatd-static /out/chatd \
 && install -d -m 700 -o 65532 -g 65532 /out/data

FROM scratch
COPY --from=build /out/chatd /chatd
# scratch has no mkdir: /data comes from the build stage, owned by the runtime user
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8000
# no shell or curl here: the binary probes itself (GET /healthz, exit 0 on 200)
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/chatd", "--health-check", "http://127.0.0.1:8000/healthz"]
ENTRYPOINT ["/chatd", "--data-dir", "/data"]
