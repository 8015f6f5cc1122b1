FROM golang:1.22 AS builder
ARG API_KEY
ENV PAYMENT_API_TOKEN=$API_KEY
WORKDIR /app
COPY api-private-key.pem /app/key.pem
COPY . .
RUN --mount=type=secret,id=api_key cp /run/secrets/api_key /app/api_key && go build -o app

FROM alpine:3.19
COPY --from=builder /app /app
CMD /app/app
