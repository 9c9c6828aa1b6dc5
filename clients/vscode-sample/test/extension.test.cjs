// The sample's commands with `vscode` replaced by test/fake-vscode.cjs and the gateway by a
// small local HTTP server that answers the routes the sample calls, as the gateway does.
"use strict";

const assert = require("node:assert/strict");
const http = require("node:http");
const Module = require("node:module");
const path = require("node:path");
const { after, before, beforeEach, test } = require("node:test");

const FAKE = path.join(__dirname, "fake-vscode.cjs");
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === "vscode" ? FAKE : resolve.call(this, request, ...rest);
};
const vscode = require("vscode");
const { activate } = require("../dist/extension.js");

const gateway = {
  approved: false,
  available: 1200,
  chat: "ok", // ok | slow | broke
  seen: [],
};

function send(res, status, body, headers = {}) {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

const server = http.createServer(async (req, res) => {
  let raw = "";
  for await (const piece of req) raw += piece;
  gateway.seen.push({ path: req.url, feature: req.headers["x-tollgate-feature"] });
  if (req.url === "/api/auth/device/code") {
    return send(res, 200, {
      device_code: "dc",
      user_code: "ABCD-EFGH",
      verification_uri: `${base()}/api/auth/device`,
      verification_uri_complete: `${base()}/device?user_code=ABCDEFGH`,
      expires_in: 60,
      interval: 1,
    });
  }
  if (req.url === "/api/auth/device/token") {
    if (!gateway.approved) {
      return send(res, 400, { type: "https://tollgate.dev/problems/authorization-pending", title: "Bad request", status: 400, detail: "Not approved yet", error: "authorization_pending" });
    }
    return send(res, 200, {
      access_token: "at",
      refresh_token: "rt",
      expires_in: 900,
      token_type: "bearer",
      user: { id: "u1", email: "ada@example.com", name: "Ada", role: "user", subscription_tier: "free" },
      api_endpoint: base(),
    });
  }
  if (req.url === "/api/auth/logout") return res.writeHead(204).end();
  if (req.url === "/api/tokens/balance") {
    return send(res, 200, { available: gateway.available, reserved: 0, used_this_period: 0, plan: "free" });
  }
  if (req.url === "/v1/chat/completions") {
    if (gateway.chat === "broke") {
      return send(res, 402, { error: { message: "Not enough tokens for this request (0 available)", type: "insufficient_quota", code: "insufficient_quota", param: null } });
    }
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    const words = gateway.chat === "slow" ? 40 : 3;
    for (let i = 0; i < words && !res.destroyed; i += 1) {
      const chunk = { id: "c", object: "chat.completion.chunk", created: 0, model: "m", choices: [{ index: 0, delta: { content: ` w${i}` }, finish_reason: null }] };
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      if (gateway.chat === "slow") await new Promise((r) => setTimeout(r, 50));
    }
    return res.end("data: [DONE]\n\n");
  }
  send(res, 404, { type: "https://tollgate.dev/problems/not-found", title: "Not found", status: 404, detail: "No such route" });
});

const base = () => `http://127.0.0.1:${server.address().port}`;
let extension;
let context;

before(async () => {
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  vscode.configuration.gatewayUrl = base();
});
after(() => server.close());

beforeEach(() => {
  vscode.reset();
  Object.assign(gateway, { approved: false, available: 1200, chat: "ok", seen: [] });
  context = { secrets: new vscode.SecretStorage(), subscriptions: [] };
  extension = activate(context);
});

async function signedIn() {
  gateway.approved = true;
  await vscode.commands.executeCommand("tollgate.signIn");
}

test("signing in opens the browser on the device page and keeps the tokens in SecretStorage only", async () => {
  setTimeout(() => (gateway.approved = true), 300);
  await vscode.commands.executeCommand("tollgate.signIn");

  assert.deepEqual(vscode.seen.opened, [`${base()}/device?user_code=ABCDEFGH`]);
  assert.deepEqual(vscode.seen.messages, [["info", "Signed in to Tollgate as ada@example.com"]]);
  assert.match(context.secrets.values.get("tollgate.tokens"), /"refreshToken":"rt"/);
  assert.equal(vscode.seen.statusBar.text, "$(pulse) 1,200 tokens");
});

test("cancelling a sign-in stops polling and shows no error", async () => {
  setTimeout(() => vscode.cancelProgress(), 200);
  await vscode.commands.executeCommand("tollgate.signIn");

  assert.deepEqual(vscode.seen.messages, []);
  assert.equal(context.secrets.values.size, 0);
  assert.equal(vscode.seen.statusBar.text, "$(account) Tollgate: sign in");
});

test("an answer streams into the output channel, tagged as the sample's feature", async () => {
  await signedIn();
  vscode.answers.inputBox.push("What is a tollgate?");

  await vscode.commands.executeCommand("tollgate.ask");

  assert.equal(vscode.seen.output, "> What is a tollgate?\n w0 w1 w2\n");
  const chat = gateway.seen.find((r) => r.path === "/v1/chat/completions");
  assert.equal(chat.feature, "sample-ask");
});

test("cancelling an answer stops the stream where it is", async () => {
  await signedIn();
  gateway.chat = "slow";
  vscode.answers.inputBox.push("Tell me a long story");
  setTimeout(() => vscode.cancelProgress(), 200);

  await vscode.commands.executeCommand("tollgate.ask");

  assert.match(vscode.seen.output, /\[cancelled\]\n$/);
  const words = vscode.seen.output.match(/ w\d+/g) ?? [];
  assert.ok(words.length > 0 && words.length < 40, `${words.length} words arrived`);
});

test("running out of tokens offers the plans page", async () => {
  await signedIn();
  gateway.chat = "broke";
  vscode.answers.inputBox.push("one more");
  vscode.answers.choice.push("See plans");

  await vscode.commands.executeCommand("tollgate.ask");

  assert.deepEqual(vscode.seen.messages.at(-1), ["warning", "Out of Tollgate tokens (0 left)."]);
  assert.equal(vscode.seen.opened.at(-1), `${base()}/api/subscriptions/plans`);
});

test("asking before signing in offers to sign in", async () => {
  vscode.answers.inputBox.push("hello");

  await vscode.commands.executeCommand("tollgate.ask");

  assert.deepEqual(vscode.seen.messages, [["warning", "Sign in to Tollgate first."]]);
});

test("signing out forgets the tokens and the status bar says so", async () => {
  await signedIn();

  await vscode.commands.executeCommand("tollgate.signOut");

  assert.equal(context.secrets.values.size, 0);
  assert.equal(vscode.seen.statusBar.text, "$(account) Tollgate: sign in");
  assert.ok(gateway.seen.some((r) => r.path === "/api/auth/logout"));
});
