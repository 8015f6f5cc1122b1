# The seed's multi-stage build done right. The Go binary is built on the host
# (no Go builder image can be pulled offline) and COPY'd into the builder
# stage, which runs the "integration tests" with the key mounted as a BuildKit
# secret. Only the binary reaches the final stage: the key must be found nowhere.
FROM alpine:3.11 AS builder
WORKDIR /src
COPY server /src/server
RUN --mount=type=secret,id=api_key \
    test -s /run/secrets/api_key && grep -q "PRIVATE KEY" /run/secrets/api_key

FROM alpine:3.11
COPY --from=builder /src/server /app/server
EXPOSE 8080
USER 65534
ENTRYPOINT ["/app/server"]
