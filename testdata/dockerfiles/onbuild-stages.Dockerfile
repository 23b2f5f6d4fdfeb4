# ONBUILD in a stage: the stages built on it run the triggers first
# (BuildKit); a stage further down does not run them again.
FROM busybox AS base
ONBUILD ARG GREETING=hi
ONBUILD COPY --from=assets /a /a
ONBUILD RUN echo $GREETING
RUN echo base

FROM busybox AS assets
RUN touch /a

FROM base AS child
RUN echo child

FROM child AS grandchild
RUN echo grandchild
