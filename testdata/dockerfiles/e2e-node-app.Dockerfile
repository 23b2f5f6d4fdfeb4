# A Node-style app: dependencies installed with an npm cache mount in
# their own stage, the source copied with --link; "npm" is busybox here.
FROM busybox AS deps
WORKDIR /app
COPY package.json ./
RUN --mount=type=cache,target=/root/.npm \
    if [ -f /root/.npm/_cacache ]; then echo "npm cache: warm"; else echo "npm cache: cold"; fi > npm.log && \
    touch /root/.npm/_cacache && \
    mkdir -p node_modules/left-pad && cp package.json node_modules/left-pad/

FROM busybox
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/npm.log ./
COPY --link . .
ENV NODE_ENV=production PORT=3000
ENV GREETING="hello world" \
    EMPTY=
ENV LEGACY legacy form value
HEALTHCHECK --interval=30s --timeout=3s CMD wget -qO- http://localhost:$PORT/ || exit 1
VOLUME ["/data"]
EXPOSE 3000
CMD ["sh", "-c", "echo \"$GREETING from $NODE_ENV on $PORT\"; ls /app/node_modules"]
