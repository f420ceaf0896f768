# syntax=docker/dockerfile:1
# budget-gateway container image.
#   docker build -t budget-gateway .
#   docker run -p 8080:8080 -e ADMIN_API_KEY=... -e LITELLM_BASE_URL=http://litellm:4000 budget-gateway

# ---- build: compile TypeScript into dist/ (needs the dev dependencies) ----
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies + compiled code only ----
FROM node:24-slim AS runtime
# HOST defaults to 127.0.0.1 outside a container (CONTRACT §1); here it must listen on all
# interfaces. DATA_DIR is where the embedded PostgreSQL (PGlite) lives when DATABASE_URL is unset.
# MALLOC_ARENA_MAX is glibc's, not the gateway's: two malloc arenas instead of one per thread, so
# memory one thread frees can serve another, and RSS holds steadier (bench/README.md, "Memory").
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/data \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no production dependency has an install script, and a lifecycle script
# such as `prepare` would try to build without sources here.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY drizzle ./drizzle
COPY config ./config
# `budget-gateway` (migrate for an init container, the admin commands) runs dist/ here.
COPY bin ./bin
RUN ln -s /app/bin/budget-gateway.js /usr/local/bin/budget-gateway
# The app files stay root-owned (read-only for the process); only /data is writable.
# Mount a volume at /data to keep the embedded database across container restarts.
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
# node:24-slim ships neither curl nor wget, so node itself probes /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The server drains in-flight requests and settles reservations on SIGTERM.
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/server.js"]
