# Verdict's image: compiled in a build stage, then run with plain node on the compiled files
# (dist/src/index.js), as the unprivileged `node` user, on Node 22 LTS.

# --- build: all dependencies, then `npm run build` (the packages, then the server into dist/)
FROM node:22-slim AS build
WORKDIR /app
# The workspaces' package.json files come before `npm ci`, which installs and links them.
COPY package.json package-lock.json ./
COPY packages/sdk/package.json packages/sdk/
COPY packages/mcp/package.json packages/mcp/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# --- runtime: production dependencies and the built server, nothing else
FROM node:22-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY packages/sdk/package.json packages/sdk/
COPY packages/mcp/package.json packages/mcp/
# No dev dependencies (typescript, vitest, the test MCP servers); no install scripts (none of
# the production dependencies needs one).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Read at run time from the package root (src/paths.ts): the SQL migrations; and, as the
# defaults of VERDICT_POLICY_DIR and VERDICT_SCHEMA_DIR (relative to /app), the example
# policy set.
COPY migrations ./migrations
COPY schema ./schema
COPY policies ./policies
# In a container Verdict must listen on every interface; PGlite data (when DATABASE_URL is unset)
# goes to /data, owned by the user Verdict runs as (mount a volume there to keep it).
ENV HOST=0.0.0.0 PORT=8700 VERDICT_DATA_DIR=/data
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8700
# node itself as the command, without npm in between: npm (and the shell it starts) do not pass
# SIGTERM on to Verdict (measured: npm exits and leaves Verdict running), so `docker stop` would
# wait and then kill it instead of letting it drain in-flight requests. The CLI in the image:
# `node dist/src/cli/index.js <command>`.
CMD ["node", "dist/src/index.js"]
