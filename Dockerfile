# Build a static binary, then ship it alone on a minimal base as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/fibergate ./cmd/fibergate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/fibergate /usr/local/bin/fibergate
USER nonroot:nonroot
# 8080: validators (listen); 9100: metrics and health (admin_listen).
EXPOSE 8080 9100
# Mount the config at run time, e.g. -v $PWD/config.yaml:/etc/fibergate/config.yaml:ro
ENTRYPOINT ["/usr/local/bin/fibergate"]
CMD ["serve", "--config", "/etc/fibergate/config.yaml"]
