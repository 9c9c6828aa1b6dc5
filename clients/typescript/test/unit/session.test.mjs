// The session's refresh rules against a small fake of auth's refresh route: rotation,
// a short grace for a token spent a moment ago, and revocation after it.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  InsufficientTokensError,
  MemoryTokenStore,
  NetworkError,
  RateLimitError,
  SecretStorageTokenStore,
  SessionEndedError,
  TollgateClient,
  TollgateSession,
  sessionCredentials,
} from "../../dist/index.js";

const BASE = "http://tollgate.test";

/** Auth's refresh route as the server keeps it: one family, rotation, reuse revokes. */
class FakeAuth {
  constructor() {
    this.serial = 0;
    this.live = new Set();
    this.spent = new Set();
    this.revoked = false;
    this.refreshCalls = 0;
    this.acceptedAccess = new Set();
  }

  issue() {
    this.serial += 1;
    const pair = { access_token: `at-${this.serial}`, refresh_token: `rt-${this.serial}`, expires_in: 900 };
    this.live.add(pair.refresh_token);
    this.acceptedAccess.add(pair.access_token);
    return pair;
  }

  fetch = async (input, init) => {
    const request = new Request(input, init);
    const path = new URL(request.url).pathname;
    if (path === "/api/auth/refresh") {
      this.refreshCalls += 1;
      await new Promise((r) => setTimeout(r, 5));
      const { refresh_token } = await request.json();
      if (this.revoked || this.spent.has(refresh_token)) {
        this.revoked = true;
        return problem(401, "refresh-token-reused", "Refresh token was already used; the session has been revoked");
      }
      if (!this.live.has(refresh_token)) return problem(401, "invalid-refresh-token", "Refresh token is not valid");
      this.live.delete(refresh_token);
      this.spent.add(refresh_token);
      return Response.json(this.issue());
    }
    if (path === "/api/tokens/balance") {
      const token = request.headers.get("authorization")?.slice(7);
      if (!this.acceptedAccess.has(token)) return problem(401, "invalid-token", "Token has expired");
      return Response.json({ available: 42 });
    }
    return problem(404, "not-found", "No such route");
  };
}

function problem(status, slug, detail, headers = {}) {
  return new Response(
    JSON.stringify({ type: `https://tollgate.dev/problems/${slug}`, title: slug, status, detail }),
    { status, headers: { "Content-Type": "application/problem+json", ...headers } },
  );
}

function expired(pair) {
  return { accessToken: pair.access_token, refreshToken: pair.refresh_token, expiresAt: Date.now() - 1 };
}

test("ten callers needing a token at once cause one refresh in a window", async () => {
  const auth = new FakeAuth();
  const store = new MemoryTokenStore(expired(auth.issue()));
  const session = new TollgateSession({ baseUrl: BASE, store, fetch: auth.fetch });

  const tokens = await Promise.all(Array.from({ length: 10 }, () => session.accessToken()));

  assert.equal(auth.refreshCalls, 1);
  assert.deepEqual(new Set(tokens), new Set(["at-2"]));
});

test("a second window finds the tokens the first one rotated and does not spend the old refresh token", async () => {
  const auth = new FakeAuth();
  const shared = new MemoryTokenStore(expired(auth.issue()));
  const first = new TollgateSession({ baseUrl: BASE, store: shared, fetch: auth.fetch });
  const second = new TollgateSession({ baseUrl: BASE, store: shared, fetch: auth.fetch });

  await first.accessToken();
  const token = await second.accessToken();

  assert.equal(token, "at-2");
  assert.equal(auth.refreshCalls, 1);
  assert.equal(auth.revoked, false);
});

test("a window that loses the rotation race re-reads the store instead of signing out", async () => {
  const auth = new FakeAuth();
  const pair = auth.issue();
  const shared = new MemoryTokenStore(expired(pair));
  // The loser read the store before the winner wrote: it still presents rt-1.
  const stale = { read: async () => expired(pair), write: (t) => shared.write(t), clear: () => shared.clear() };
  let reads = 0;
  const losing = {
    read: async () => (reads++ === 0 ? stale.read() : shared.read()),
    write: (t) => shared.write(t),
    clear: () => shared.clear(),
  };
  const winner = new TollgateSession({ baseUrl: BASE, store: shared, fetch: auth.fetch });
  await winner.refresh();
  let signedOut = false;
  const loser = new TollgateSession({
    baseUrl: BASE,
    store: losing,
    fetch: auth.fetch,
    onSignedOut: () => (signedOut = true),
  });

  const tokens = await loser.refresh("at-1");

  assert.equal(tokens.refreshToken, "rt-2");
  assert.equal(signedOut, false);
  assert.ok(await shared.read());
});

test("a refused refresh token with nothing newer in the store signs out cleanly", async () => {
  const auth = new FakeAuth();
  auth.issue();
  const store = new MemoryTokenStore({ accessToken: "at-x", refreshToken: "rt-unknown", expiresAt: 0 });
  let signedOut = false;
  const session = new TollgateSession({ baseUrl: BASE, store, fetch: auth.fetch, onSignedOut: () => (signedOut = true) });

  await assert.rejects(session.accessToken(), (error) => {
    assert.ok(error instanceof SessionEndedError);
    assert.equal(error.message, "Refresh token is not valid");
    return true;
  });
  assert.equal(await store.read(), undefined);
  assert.equal(signedOut, true);
});

test("being offline while refreshing keeps the tokens", async () => {
  const store = new MemoryTokenStore({ accessToken: "a", refreshToken: "r", expiresAt: 0 });
  const offline = async () => {
    throw new TypeError("fetch failed");
  };
  const session = new TollgateSession({ baseUrl: BASE, store, fetch: offline });

  await assert.rejects(session.accessToken(), NetworkError);
  assert.equal((await store.read())?.refreshToken, "r");
});

test("a call refused with 401 is renewed once and retried with the new token", async () => {
  const auth = new FakeAuth();
  const pair = auth.issue();
  auth.acceptedAccess.delete(pair.access_token); // revoked at the server, though not yet expired
  const store = new MemoryTokenStore({ ...expired(pair), expiresAt: Date.now() + 600_000 });
  const session = new TollgateSession({ baseUrl: BASE, store, fetch: auth.fetch });
  const client = new TollgateClient({ baseUrl: BASE, credentials: sessionCredentials(session), fetch: auth.fetch });

  const balance = await client.balance();

  assert.equal(balance.available, 42);
  assert.equal(auth.refreshCalls, 1);
});

test("a 402 and a 429 arrive as typed errors with what the caller needs", async () => {
  const answers = [
    new Response(
      JSON.stringify({ error: { message: "Not enough tokens for this request (12 available)", type: "insufficient_quota", code: "insufficient_quota", param: null } }),
      { status: 402, headers: { "Content-Type": "application/json" } },
    ),
    problem(429, "rate-limited", "Too many requests; slow down", { "Retry-After": "7" }),
  ];
  const fetch = async () => answers.shift();
  const credentials = { bearer: async () => "tg_key" };
  const client = new TollgateClient({ baseUrl: BASE, credentials, fetch });

  await assert.rejects(client.balance(), (error) => {
    assert.ok(error instanceof InsufficientTokensError);
    assert.equal(error.available, 12);
    assert.equal(error.getMoreUrl, `${BASE}/api/subscriptions/plans`);
    return true;
  });
  await assert.rejects(client.balance(), (error) => {
    assert.ok(error instanceof RateLimitError);
    assert.equal(error.retryAfterSeconds, 7);
    assert.equal(error.message, "Too many requests; slow down");
    return true;
  });
});

test("the SecretStorage store keeps tokens as one secret and ignores what it cannot read", async () => {
  const secrets = new Map();
  const storage = {
    get: async (k) => secrets.get(k),
    store: async (k, v) => void secrets.set(k, v),
    delete: async (k) => void secrets.delete(k),
  };
  const store = new SecretStorageTokenStore(storage);

  await store.write({ accessToken: "a", refreshToken: "r", expiresAt: 1 });
  assert.deepEqual(await store.read(), { accessToken: "a", refreshToken: "r", expiresAt: 1 });
  secrets.set("tollgate.tokens", "{not json");
  assert.equal(await store.read(), undefined);
  await store.clear();
  assert.equal(secrets.size, 0);
});
