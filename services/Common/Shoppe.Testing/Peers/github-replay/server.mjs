// The recorded GitHub exchanges of @octokit/fixtures, served on loopback only (the package's own CLI binds every
// interface). Usage: node server.mjs PORT. POST /fixtures {"scenario": "release-assets"} returns {url} of one replay.
//
// Two things beyond the package:
// - Headers GitHub accepts in more than one spelling are put in the one the recordings hold (the recordings compare
//   them literally): the authorization scheme's case, the accept media type, a JSON body's content type. A client in another
//   process (the portal) cannot be given a handler that does it.
// - "report-issue": the recorded exchange of add-labels-to-issue (open an issue, then label it), GitHub's answers as
//   recorded, with the request bodies left unchecked (the recording opened an issue with a fixed title; a report's
//   title and text are its own). Method, path, order and the other headers are still checked.
import express from "express";
import fixtureServerMiddleware from "@octokit/fixtures-server";
import DEFAULTS from "@octokit/fixtures-server/lib/defaults.js";

const fixtures = { ...DEFAULTS.fixtures };
fixtures["report-issue"] = DEFAULTS.fixtures["add-labels-to-issue"].map((exchange) => {
  const copy = structuredClone(exchange);
  delete copy.body;
  delete copy.reqheaders["content-length"];
  return copy;
});

const port = Number.parseInt(process.argv[2] ?? "0", 10);
const app = express();
app.use((request, _response, next) => {
  const auth = request.headers.authorization;
  if (auth) {
    request.headers.authorization = auth.replace(/^token /i, "token ");
  }

  if (request.headers.accept) {
    request.headers.accept = "application/vnd.github.v3+json";
  }

  // Octokit labels its JSON bodies as form data; GitHub reads them as JSON either way.
  if (/^application\/(json|x-www-form-urlencoded)/.test(request.headers["content-type"] ?? "")) {
    request.headers["content-type"] = "application/json; charset=utf-8";
  }

  next();
});
const server = app.listen(port, "127.0.0.1", () => {
  const { port: bound } = server.address();
  app.use(fixtureServerMiddleware({ port: bound, fixturesUrl: `http://127.0.0.1:${bound}`, logLevel: "error", ttl: 600000, fixtures }));
  console.log(`github-replay listening on http://127.0.0.1:${bound}`);
});
