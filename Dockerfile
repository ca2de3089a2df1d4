# Verdict: runs the TypeScript sources with tsx (a runtime dependency), as `npm start` does.
FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# Dev dependencies (test MCP servers, vitest, typescript) are not needed to serve.
RUN npm ci --omit=dev --no-audit --no-fund
COPY src ./src
COPY migrations ./migrations
COPY schema ./schema
COPY policies ./policies
COPY bin ./bin
COPY tsconfig.json ./
# In a container Verdict must listen on every interface; PGlite data (when DATABASE_URL is unset)
# goes to a volume-friendly path.
ENV HOST=0.0.0.0 PORT=8700 VERDICT_DATA_DIR=/data
EXPOSE 8700
# What `npm start` runs, without npm in between: npm (and the shell it starts) do not pass
# SIGTERM on to Verdict (measured: npm exits and leaves Verdict running), so `docker stop`
# would wait and then kill it instead of letting it drain in-flight requests.
CMD ["node", "--import", "tsx", "src/index.ts"]
