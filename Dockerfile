# The balancer image: the static bin/lb that `make build` wrote, on scratch
# (no registry is needed). Build with `make images` (or docker build -t lblab/lb:dev .).
FROM scratch
LABEL org.lblab.image=lb
COPY bin/lb /lb
# lb.json (HTTP mode, the default) and lb-tcp.json (TCP mode, the lb-tcp service).
COPY lab/*.json /etc/lblab/
USER 65534:65534
EXPOSE 8080 9090
# A scratch image has no shell or curl: the binary checks itself.
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=3 \
  CMD ["/lb", "healthcheck", "--url", "http://127.0.0.1:8080/__health__"]
ENTRYPOINT ["/lb"]
CMD ["--config", "/etc/lblab/lb.json"]
