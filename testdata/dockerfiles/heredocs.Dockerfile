# syntax=docker/dockerfile:1
FROM debian:bookworm
ARG GREETING=hello
RUN <<EOF
apt-get update
apt-get install -y curl
EOF
RUN <<'SCRIPT'
#!/usr/bin/env python3
print("no $expansion here")
SCRIPT
RUN python3 <<PY > /out.txt
print("$GREETING")
PY
COPY <<CONF /etc/app.conf
greeting=${GREETING}
CONF
COPY <<-"RAW" <<OTHER /etc/
	literal $GREETING
	RAW
other ${GREETING:-x}
OTHER
