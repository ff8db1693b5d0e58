# syntax=docker/dockerfile:1
#
# One image for every Clinical Copilot process; the command picks the role:
#   node dist/src/main.js      API pod (the default)
#   node dist/worker/main.js   diagnosis worker
#   node dist/ml-server/main.js   reference model server
#   node dist/src/migrate.js   database migrations (one-shot)
#   node dist/src/token.js     a signed development token (needs JWT_SECRET)
# Commands run node directly, never `npm run`: npm's shell does not forward SIGTERM, so the drain
# on shutdown would never start.

ARG NODE_VERSION=24

# --- build: every dependency, compile TypeScript and the console to dist/ ------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No dependency needs an install script (npm 11, which CI uses, blocks them anyway).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY worker ./worker
COPY ml-server ./ml-server
COPY migrations ./migrations
# The clinician console (Vite) and the typed client it imports: built into dist/console/.
COPY client ./client
COPY console ./console
RUN npm run build

# --- prod-deps: runtime dependencies only -----------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ----------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the process: the app writes nothing to disk outside the
# embedded mode (which containers do not use), so the root filesystem can be mounted read-only.
# package.json is needed at run time: its "type": "module" makes dist/**/*.js ES modules.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
# The image's `node` user (uid/gid 1000); Kubernetes' runAsNonRoot needs the numeric form.
USER 1000:1000
# API, model server, worker health.
EXPOSE 4000 8081 8082
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
