# The balancer image: the static bin/lb that `make build` wrote, on scratch
# (no registry is needed). Build with `make images` (or docker build -t lblab/lb:dev .).
FROM scratch
# OCI image labels; `make images` passes the version (git describe), the
# commit and the repository's URL.
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/lblab/lblab
LABEL org.opencontainers.image.title="lblab lb" \
      org.opencontainers.image.description="lblab's load balancer (HTTP and TCP modes)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
LABEL org.lblab.image=lb
COPY bin/lb /lb
# lb.json (HTTP mode, the default) and lb-tcp.json (TCP mode, the lb-tcp service).
COPY lab/*.json /etc/lblab/
USER 65534:65534
EXPOSE 8080 9090
# A scratch image has no shell or curl: the binary checks itself. Without
# --url it reads the config PID 1 (the balancer) runs with and asks its admin
# listener (so TCP mode, lb-tcp.json, is checked right too), else the proxy
# port's /__health__.
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=3 \
  CMD ["/lb", "healthcheck"]
ENTRYPOINT ["/lb"]
CMD ["--config", "/etc/lblab/lb.json"]
