# escape=`
# check=skip=LegacyKeyValueFormat
# A Python-style app with the escape directive (a Windows habit) and a
# pipefail shell; "pip" is busybox here.
FROM busybox
SHELL ["/bin/sh", "-o", "pipefail", "-c"]
ENV WINPATH=C:\data\bin
ENV PYTHONUNBUFFERED 1
WORKDIR /srv/app
RUN --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt `
    sort /tmp/requirements.txt | tr A-Z a-z > installed.txt
RUN set -o | grep pipefail | tr -s ' \t' ' ' > /shell-options.txt
COPY --chmod=755 run.sh ./
COPY app/ ./app/
RUN --network=none cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' > /interfaces.txt
CMD ./run.sh
