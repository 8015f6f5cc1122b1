# The key COPY'd in and rm'd by the next instruction: gone from the final
# filesystem, still in the layer that COPY wrote.
FROM alpine:3.11
COPY api-private-key.pem /app/key.pem
RUN rm /app/key.pem
COPY server /app/server
EXPOSE 8080
CMD ["/app/server"]
