# Payment service: build with the Go toolchain, ship only the static binary
# and CA certificates on scratch. The API key is mounted for the tests only:
#   DOCKER_BUILDKIT=1 docker build --secret id=api_key,src=api-private-key.pem .
FROM golang:1.22-alpine AS builder
WORKDIR /src

# Dependencies first, so source edits keep this layer cached.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
RUN --mount=type=secret,id=api_key,required \
    API_PRIVATE_KEY_FILE=/run/secrets/api_key go test ./...
RUN CGO_ENABLED=0 GOOS=linux \
    go build -trimpath -ldflags="-s -w" -o /out/payment-service ./cmd/server

FROM scratch
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=builder /out/payment-service /payment-service
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/payment-service"]
