# Multi-stage and secret mount done right, but the binary was linked with
# `-ldflags "-X main.apiKey=sk_live_..."`: the key is in the binary's data
# and in its build info.
FROM alpine:3.11 AS builder
WORKDIR /src
COPY server /src/server
RUN --mount=type=secret,id=api_key test -s /run/secrets/api_key

FROM alpine:3.11
COPY --from=builder /src/server /app/server
EXPOSE 8080
USER 65534
ENTRYPOINT ["/app/server"]
