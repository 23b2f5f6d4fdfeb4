FROM base-with-triggers
ONBUILD RUN echo built on top
ONBUILD COPY . /app/src
LABEL "com.example.vendor"="ACME Inc" version="1.0" description="multi \
line"
MAINTAINER someone@example.com
STOPSIGNAL SIGTERM
VOLUME ["/data", "/logs"]
VOLUME /cache /tmp/x
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN --network=none --security=sandbox echo isolated
HEALTHCHECK NONE
ENTRYPOINT exec top -b
