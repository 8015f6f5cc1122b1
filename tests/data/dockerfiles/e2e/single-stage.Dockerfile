# The seed's single-stage build: the toolchain stays in the image. `go/` is a
# stand-in for golang:1.22 (the host's go binary and its src/fmt tree), `app/`
# is the service's source. The tests run with the key as a BuildKit secret,
# which leaves only empty /run/secrets directories behind.
FROM alpine:3.11
COPY go /usr/local/go
ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /app
COPY app/ /app/
RUN --mount=type=secret,id=api_key test -s /run/secrets/api_key
COPY server /app/server
EXPOSE 8080
CMD ["./server"]
