# ARG scoping traps from Docker's reference.
ARG VERSION=latest
ARG UNUSED_GLOBAL=x
FROM busybox:$VERSION AS first
# VERSION is not in scope here until redeclared.
RUN echo "version=[$VERSION]"
ARG VERSION
RUN echo "version=[$VERSION]"
ARG CONT_IMG_VER
ENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}
RUN echo $CONT_IMG_VER
ENV OVERRIDE=from-env
ARG OVERRIDE=from-arg
RUN echo $OVERRIDE

FROM first
# A stage built FROM another keeps its ARGs (as BuildKit does) and ENV.
RUN echo "[$VERSION] $CONT_IMG_VER"
WORKDIR rel
WORKDIR ../abs/$CONT_IMG_VER
COPY --chmod=0755 --chown=1000:1000 --link --exclude=*.md app/ ./
