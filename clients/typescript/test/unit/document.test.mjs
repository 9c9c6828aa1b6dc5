// The document the client is generated from types every success: no route of the public
// API answers a 2xx whose body the client would only know as `unknown`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const document = JSON.parse(readFileSync(new URL("../../openapi.json", import.meta.url), "utf8"));
const METHODS = new Set(["get", "put", "post", "delete", "patch"]);

function successes() {
  const found = [];
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      if (!METHODS.has(method)) continue;
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (status.startsWith("2")) found.push({ route: `${method.toUpperCase()} ${path}`, status, response });
      }
    }
  }
  return found;
}

test("the document covers the public API and no internal route", () => {
  const paths = Object.keys(document.paths);
  assert.ok(paths.length > 80, `only ${paths.length} paths`);
  assert.ok(paths.every((p) => !p.startsWith("/internal")));
  assert.ok(paths.includes("/v1/chat/completions") && paths.includes("/api/tokens/balance"));
});

test("every 2xx answer has a typed body, except a 204 that has none", () => {
  const untyped = successes()
    .filter(({ status, response }) => {
      if (status === "204") return false;
      const media = Object.values(response.content ?? {});
      return media.length === 0 || media.some((m) => !m.schema || Object.keys(m.schema).length === 0);
    })
    .map(({ route, status }) => `${route} ${status}`);
  assert.deepEqual(untyped, []);
});

test("a chat completion is described both as JSON and as an event stream", () => {
  const answer = document.paths["/v1/chat/completions"].post.responses["200"].content;
  assert.ok(answer["application/json"]?.schema);
  assert.ok(answer["text/event-stream"]);
});
