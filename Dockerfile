# dsql-proxy image: the proxy is the entrypoint, settings are DSQL_PROXY_* variables (every flag --foo-bar is
# DSQL_PROXY_FOO_BAR), so `docker run -e`, compose and Kubernetes change them without touching the command line.
#   docker build -t dsql-proxy .
#   docker run --rm dsql-proxy --help

# Build stage: dev dependencies (TypeScript) and the compiled dist/.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the "prepare" script builds, and the sources are not copied yet.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Final stage: production dependencies only, the compiled code and the launcher.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: "prepare" would run tsc, which --omit=dev does not install; dist/ comes from the build stage.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && rm -rf /root/.npm
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY LICENSE ./

# Clients come from other containers or a published port, so listen on every interface; a listener beyond loopback
# needs client authentication (DSQL_PROXY_AUTH_FILE, DSQL_PROXY_TLS_CLIENT_CA) or an explicit
# DSQL_PROXY_ALLOW_UNAUTHENTICATED=true where nothing untrusted can reach the port (see docker-compose.yml).
ENV DSQL_PROXY_LISTEN=0.0.0.0:5432 \
    DSQL_PROXY_HTTP_LISTEN=127.0.0.1:9801 \
    DSQL_PROXY_MAX_SIGTERM_DELAY=30 \
    DSQL_PROXY_LOG_LEVEL=info

USER node
EXPOSE 5432
# SIGTERM starts draining: readiness turns 503, sessions in flight finish, then exit 0 (at most
# DSQL_PROXY_MAX_SIGTERM_DELAY seconds). Give `docker stop` a longer --time than that delay.
STOPSIGNAL SIGTERM
# No curl in the image: the proxy asks its own /readiness (DSQL_PROXY_HTTP_LISTEN) and exits 0 or 1.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/bin/dsql-proxy.js", "healthcheck"]
ENTRYPOINT ["node", "/app/bin/dsql-proxy.js"]
CMD ["serve"]
