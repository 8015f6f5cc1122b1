# The key passed as a build argument. BuildKit records it in every later
# RUN's history line (`RUN |1 API_KEY=... /bin/sh -c ...`): the `arg-only`
# target stops there (ARG alone is not safe); the final stage also keeps it
# in the config with ENV.
FROM alpine:3.11 AS arg-only
ARG API_KEY
RUN echo "configuring the payment client with $API_KEY" > /dev/null
COPY server /app/server
EXPOSE 8080
CMD ["/app/server"]

FROM arg-only AS arg-env
ARG API_KEY
ENV API_KEY=$API_KEY
