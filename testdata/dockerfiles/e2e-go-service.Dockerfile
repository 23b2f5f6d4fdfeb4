# syntax=docker/dockerfile:1
# A Go-style service: cross-compiling builder stage on the build platform,
# a small runtime stage. "go build" is a shell script here (busybox only).
ARG BASE_IMAGE=busybox
ARG BASE_TAG=latest

FROM --platform=$BUILDPLATFORM ${BASE_IMAGE}:${BASE_TAG} AS build
RUN echo "undeclared=[$TARGETOS/$TARGETARCH]" > /undeclared.txt
ARG TARGETOS TARGETARCH
ARG TARGETVARIANT
WORKDIR /src
COPY go.mod main.sh ./
RUN --mount=type=cache,target=/root/.cache/go-build \
    echo "GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=$TARGETVARIANT" > /build-env.txt && \
    cp main.sh /server && chmod 0755 /server

FROM ${BASE_IMAGE}:${BASE_TAG}
ARG BUILDPLATFORM TARGETPLATFORM BUILDOS BUILDARCH
RUN echo "$BUILDOS/$BUILDARCH $BUILDPLATFORM -> $TARGETPLATFORM" > /platforms.txt
COPY --from=build /server /usr/local/bin/server
COPY --from=build /build-env.txt /undeclared.txt /
USER 4242:4242
EXPOSE 8080/udp
ENTRYPOINT ["/usr/local/bin/server"]
