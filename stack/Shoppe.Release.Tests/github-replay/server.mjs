// The recorded GitHub exchanges of @octokit/fixtures, served on loopback only (the package's own CLI binds every
// interface). Usage: node server.mjs PORT. POST /fixtures {"scenario": "release-assets"} returns {url} of one replay.
import express from "express";
import fixtureServerMiddleware from "@octokit/fixtures-server";

const port = Number.parseInt(process.argv[2] ?? "0", 10);
const app = express();
const server = app.listen(port, "127.0.0.1", () => {
  const { port: bound } = server.address();
  app.use(fixtureServerMiddleware({ port: bound, fixturesUrl: `http://127.0.0.1:${bound}`, logLevel: "error", ttl: 600000 }));
  console.log(`github-replay listening on http://127.0.0.1:${bound}`);
});
