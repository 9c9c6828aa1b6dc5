// The client against the whole running system. Started by tests-e2e/test_typescript_client.py,
// which passes the gateway's URL and the administrator's credentials.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import OpenAI from "openai";

import {
  InsufficientTokensError,
  MemoryTokenStore,
  RateLimitError,
  SessionEndedError,
  TollgateClient,
  TollgateSession,
  apiKeyCredentials,
  fromOpenAIError,
  openaiClient,
  sessionCredentials,
} from "../../dist/index.js";

const GATEWAY = process.env.TOLLGATE_GATEWAY_URL;
const PASSWORD = "a long and unusual passphrase 42";
assert.ok(GATEWAY, "TOLLGATE_GATEWAY_URL must name the running gateway");

async function register(name) {
  const email = `${name}-${randomUUID().slice(0, 8)}@example.com`;
  const response = await fetch(`${GATEWAY}/api/auth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password: PASSWORD, name }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return email;
}

async function signedIn(name, store = new MemoryTokenStore()) {
  const email = await register(name);
  const session = new TollgateSession({ baseUrl: GATEWAY, store });
  await session.signInWithPassword(email, PASSWORD);
  const client = new TollgateClient({ baseUrl: GATEWAY, credentials: sessionCredentials(session) });
  return { email, session, client, store };
}

async function eventually(probe, until, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (until(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what} not reached; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const funded = (client) =>
  eventually(() => client.balance().catch(() => ({})), (b) => (b.allocation ?? 0) > 0, "free allocation");

test("a device sign-in approved in the browser gives the extension a working session", async () => {
  const { client: browser } = await signedIn("browser");
  const window = new TollgateSession({ baseUrl: GATEWAY, store: new MemoryTokenStore() });

  const device = await window.startDeviceSignIn();
  assert.match(device.verificationUriComplete, /\/device\?user_code=/);
  const approval = browser.api.POST("/api/auth/device/approve", { body: { user_code: device.userCode } });
  const [answer] = await Promise.all([device.approved(), approval]);

  const me = await new TollgateClient({ baseUrl: GATEWAY, credentials: sessionCredentials(window) }).me();
  assert.equal(me.id, answer.user.id);
});

test("Sign in with GitHub goes through the gateway to the extension's redirect URI, with PKCE", async () => {
  const session = new TollgateSession({ baseUrl: GATEWAY, store: new MemoryTokenStore() });
  const attempt = await session.startOAuthSignIn("github", "vscode://tollgate.tollgate/auth-callback");

  // What the browser does: follow the redirects until VS Code's own URI.
  let url = attempt.authorizeUrl;
  for (let hop = 0; hop < 5 && !url.startsWith("vscode://"); hop += 1) {
    const response = await fetch(url, { redirect: "manual" });
    assert.equal(response.status, 302, await response.text());
    url = new URL(response.headers.get("location"), url).toString();
  }
  await assert.rejects(attempt.complete(url.replace(/state=[^&]+/, "state=forged")), SessionEndedError);
  const answer = await attempt.complete(url);

  assert.equal(answer.user.email, process.env.TOLLGATE_OAUTH_EMAIL);
  assert.ok(await session.isSignedIn());
});

test("two windows refreshing at once both stay signed in", async () => {
  const shared = new MemoryTokenStore();
  const { store } = await signedIn("windows", shared);
  const first = new TollgateSession({ baseUrl: GATEWAY, store });
  const second = new TollgateSession({ baseUrl: GATEWAY, store });

  const [a, b] = await Promise.all([first.refresh(), second.refresh()]);
  assert.ok(a.accessToken && b.accessToken);

  // Later, each window renews again from what the store holds: nobody was signed out.
  await first.refresh();
  const again = await second.refresh();
  const client = new TollgateClient({ baseUrl: GATEWAY, credentials: sessionCredentials(second) });
  assert.ok((await client.me()).id);
  assert.equal((await store.read())?.refreshToken, again.refreshToken);
});

test("a signed-out session's refresh token ends cleanly as SessionEndedError", async () => {
  const { session, store } = await signedIn("leaver");
  const kept = await store.read();
  await session.signOut();
  await store.write({ ...kept, expiresAt: 0 });

  await assert.rejects(session.accessToken(), SessionEndedError);
  assert.equal(await store.read(), undefined);
});

test("vscode-config lists the served models and the sign-in methods; me has the real figures", async () => {
  const { client } = await signedIn("config");
  await funded(client);

  const config = await client.vscodeConfig();
  // The free plan's models: gpt-4o-mini is among them, gpt-4o (pro and enterprise only) is
  // not. Which others depends on the plan as billing last announced it, which other
  // journeys of the suite may have edited.
  const ids = config.models?.map((m) => m.id) ?? [];
  assert.ok(ids.includes("gpt-4o-mini"), `free models: ${ids}`);
  assert.ok(!ids.includes("gpt-4o"), `free models: ${ids}`);
  const mini = config.models?.find((m) => m.id === "gpt-4o-mini");
  assert.equal(mini?.context_window, 128000);
  assert.deepEqual(mini?.price, { input_per_million: "0.15", output_per_million: "0.6" });
  assert.equal(config.sign_in_methods.device_code, true);
  assert.deepEqual(config.sign_in_methods.oauth_providers, ["github", "google"]);
  assert.deepEqual((await client.me()).monthly_usage, { api_calls: 0, tokens_used: 0 });
});

test("a chat streams through the OpenAI SDK, is tagged with its feature and can be aborted", async () => {
  const { client, session } = await signedIn("streamer");
  await funded(client);
  const openai = openaiClient(OpenAI, {
    baseUrl: GATEWAY,
    credentials: sessionCredentials(session),
    feature: "inline-edit",
    maxRetries: 0,
  });

  const stream = await openai.chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "hello [[words:5]]" }],
    stream: true,
  });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
  assert.equal(text.trim().split(/\s+/).length, 5);

  const controller = new AbortController();
  const slow = await openai.chat.completions.create(
    { model: "gpt-4o-mini", messages: [{ role: "user", content: "[[words:50]] [[delay:100]]" }], stream: true },
    { signal: controller.signal },
  );
  let pieces = 0;
  for await (const _ of slow) {
    pieces += 1;
    if (pieces === 2) controller.abort(); // the SDK ends the loop quietly on abort
  }
  assert.ok(pieces >= 2 && pieces < 50, `${pieces} pieces arrived after the abort`);

  // An upstream cut mid-answer ends the stream with an error, never a hang or a quiet end.
  const cut = await openai.chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "[[words:20]] [[drop:3]]" }],
    stream: true,
  });
  await assert.rejects(async () => {
    for await (const _ of cut);
  }, /interrupted|upstream/i);

  const stats = await eventually(
    () => client.stats("feature"),
    (s) => s.items.some((row) => row.key === "inline-edit" && row.requests >= 1),
    "the feature in the stats",
  );
  assert.ok(stats.items.every((row) => !/E-/.test(row.cost_usd)));
  const rows = (await client.usage()).items;
  assert.ok(rows.some((row) => row.feature === "inline-edit"));
  assert.ok(rows.every((row) => !/E/.test(row.cost_usd)), JSON.stringify(rows.map((r) => r.cost_usd)));

  const me = await eventually(() => client.me(), (m) => (m.monthly_usage?.api_calls ?? 0) >= 3, "the period's calls");
  assert.ok(me.monthly_usage.tokens_used > 0);
});

test("an API key works as credentials for the typed client", async () => {
  const { client } = await signedIn("keyholder");
  await funded(client);
  const created = await client.createApiKey("ci");

  const byKey = new TollgateClient({ baseUrl: GATEWAY, credentials: apiKeyCredentials(created.key) });
  assert.ok((await byKey.balance()).allocation > 0);
});

test("running out of tokens is an InsufficientTokensError with the balance and where to get more", async () => {
  const { client, session } = await signedIn("spender");
  await funded(client);
  const openai = openaiClient(OpenAI, { baseUrl: GATEWAY, credentials: sessionCredentials(session), maxRetries: 0 });
  await openai.chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "[[prompt:150000]] [[words:3]]" }],
  });
  await eventually(() => client.balance(), (b) => b.available === 0 && b.reserved === 0, "allocation spent");

  const refusal = await openai.chat.completions
    .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "one more" }] })
    .then(() => null, (error) => fromOpenAIError(error, GATEWAY));

  assert.ok(refusal instanceof InsufficientTokensError, String(refusal));
  assert.equal(refusal.available, 0);
  assert.equal(refusal.getMoreUrl, `${GATEWAY}/api/subscriptions/plans`);
});

test("too many LLM calls in a minute is a RateLimitError that says when to retry", async () => {
  const { client, session } = await signedIn("hurried");
  await funded(client);
  const openai = openaiClient(OpenAI, { baseUrl: GATEWAY, credentials: sessionCredentials(session), maxRetries: 0 });
  // Reading the catalog is not an LLM call: a model picker cannot use up the budget.
  for (let i = 0; i < 12; i += 1) await openai.models.list();

  let limited = null;
  for (let i = 0; i < 15 && limited === null; i += 1) {
    await openai.chat.completions
      .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "[[words:1]]" }], max_tokens: 5 })
      .catch((error) => {
        const typed = fromOpenAIError(error, GATEWAY);
        if (typed instanceof RateLimitError) limited = { typed, at: i };
      });
  }
  assert.ok(limited, "no 429 within 15 calls");
  assert.equal(limited.at, 10); // the free plan's 10 a minute, none spent by the catalog reads
  assert.ok(limited.typed.retryAfterSeconds > 0);
  assert.ok(limited.typed.message.length > 0);
});
