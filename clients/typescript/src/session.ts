/**
 * A signed-in person: sign-in (password or device code), an access token that is
 * always fresh, and sign-out.
 *
 * Refresh tokens rotate and a spent one presented again (after the server's short
 * grace) revokes the whole session. Two rules keep several windows sharing one
 * store out of that trap:
 * - inside a window, one refresh at a time (callers that need a token meanwhile
 *   wait for the same promise);
 * - across windows, the store is read just before refreshing, and a refresh the
 *   server refuses is followed by a second read: if another window rotated the
 *   token meanwhile, its tokens are used and nobody is signed out.
 */

import { NetworkError, NotSignedInError, SessionEndedError, errorFromResponse } from "./errors.js";
import type { components } from "./generated/api.js";
import type { StoredTokens, TokenStore } from "./tokens.js";

export type LoginResponse = components["schemas"]["LoginResponse"];
export type TokenPair = components["schemas"]["TokenPair"];
export type DeviceCode = components["schemas"]["DeviceCodeOut"];

const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

export interface SessionOptions {
  /** The gateway, e.g. `https://api.tollgate.dev` (no trailing slash needed). */
  baseUrl: string;
  store: TokenStore;
  /** Refresh this long before the access token expires (default 30 s). */
  refreshMarginMs?: number;
  fetch?: typeof fetch;
  /** Told when the session ends for good (refresh refused, sign-out). */
  onSignedOut?: () => void;
}

export interface DeviceSignIn {
  /** Show this to the person. */
  userCode: string;
  /** Open this in a browser: the code is already filled in. */
  verificationUriComplete: string;
  verificationUri: string;
  expiresInSeconds: number;
  /** Polls until the person approves; rejects if they deny, the code expires or `signal` aborts. */
  approved(signal?: AbortSignal): Promise<LoginResponse>;
}

export interface OAuthSignIn {
  /** Open this in the browser; the provider returns there, the gateway then to `redirectUri`. */
  authorizeUrl: string;
  /** Finishes with the URI your handler received (`redirectUri?code=…&state=…`). */
  complete(callback: string | URL): Promise<LoginResponse>;
}

export class TollgateSession {
  readonly baseUrl: string;
  readonly store: TokenStore;
  private readonly marginMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly onSignedOut: (() => void) | undefined;
  private inflight: Promise<StoredTokens> | undefined;

  constructor(options: SessionOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.store = options.store;
    this.marginMs = options.refreshMarginMs ?? 30_000;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.onSignedOut = options.onSignedOut;
  }

  async isSignedIn(): Promise<boolean> {
    return (await this.store.read()) !== undefined;
  }

  /** Email and password (`POST /api/auth/login-json`). */
  async signInWithPassword(email: string, password: string): Promise<LoginResponse> {
    const answer = await this.post<LoginResponse>("/api/auth/login-json", { email, password });
    await this.keep(answer);
    return answer;
  }

  /** Starts a device sign-in (RFC 8628); the person approves it in a browser. */
  async startDeviceSignIn(): Promise<DeviceSignIn> {
    const code = await this.post<DeviceCode>("/api/auth/device/code", undefined);
    return {
      userCode: code.user_code,
      verificationUri: code.verification_uri,
      verificationUriComplete: code.verification_uri_complete,
      expiresInSeconds: code.expires_in,
      approved: (signal) => this.pollDevice(code, signal),
    };
  }

  /**
   * Starts "Sign in with <provider>" (authorization code with PKCE). `redirectUri` must be
   * registered at auth (`AUTH_OAUTH_REDIRECT_URIS`), e.g. `vscode://publisher.name/auth-callback`.
   */
  async startOAuthSignIn(provider: string, redirectUri: string): Promise<OAuthSignIn> {
    const verifier = randomToken(48);
    const state = randomToken(16);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    const query = new URLSearchParams({
      redirect_uri: redirectUri,
      code_challenge: base64url(new Uint8Array(digest)),
      code_challenge_method: "S256",
      state,
    });
    return {
      authorizeUrl: `${this.baseUrl}/api/auth/oauth/${encodeURIComponent(provider)}/authorize?${query}`,
      complete: (callback) => this.completeOAuth(new URL(String(callback)), state, verifier, redirectUri),
    };
  }

  /** Adopts tokens obtained elsewhere (the OAuth code flow, a test). */
  async keep(pair: TokenPair): Promise<StoredTokens> {
    const tokens = {
      accessToken: pair.access_token,
      refreshToken: pair.refresh_token,
      expiresAt: Date.now() + pair.expires_in * 1000,
    };
    await this.store.write(tokens);
    return tokens;
  }

  /** A valid access token, refreshed first when it is about to expire. */
  async accessToken(): Promise<string> {
    const tokens = await this.store.read();
    if (tokens === undefined) throw new NotSignedInError();
    if (tokens.expiresAt - this.marginMs > Date.now()) return tokens.accessToken;
    return (await this.refresh(tokens.accessToken)).accessToken;
  }

  /**
   * New tokens, once per window however many callers ask at the same time.
   * `rejected` is the access token the server refused or that expired: if the
   * store already holds another one, another window has refreshed and it is used.
   */
  refresh(rejected?: string): Promise<StoredTokens> {
    this.inflight ??= this.rotate(rejected).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Ends this session at the server (best effort) and forgets its tokens. */
  async signOut(): Promise<void> {
    const tokens = await this.store.read();
    await this.store.clear();
    if (tokens !== undefined) {
      try {
        await this.fetchImpl(`${this.baseUrl}/api/auth/logout`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: tokens.refreshToken }),
        });
      } catch {
        // Offline: the tokens are gone from this machine, the session expires on its own.
      }
    }
    this.onSignedOut?.();
  }

  private async rotate(rejected: string | undefined): Promise<StoredTokens> {
    const current = await this.store.read();
    if (current === undefined) throw new NotSignedInError();
    const fresh = current.expiresAt - this.marginMs > Date.now();
    if (rejected !== undefined && current.accessToken !== rejected && fresh) return current;
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}/api/auth/refresh`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: current.refreshToken }),
      });
    } catch (cause) {
      // Offline is not signed out: the tokens stay for the next try.
      throw new NetworkError("Could not reach Tollgate to renew the session", { cause });
    }
    if (response.ok) return this.keep((await response.json()) as TokenPair);
    const error = await errorFromResponse(response, {
      baseUrl: this.baseUrl,
      refreshing: response.status === 401,
    });
    if (!(error instanceof SessionEndedError)) throw error;
    // Another window may have spent this refresh token a moment ago and stored its
    // successor: that window won the race, and its tokens serve this one too.
    const again = await this.store.read();
    if (again !== undefined && again.refreshToken !== current.refreshToken) return again;
    await this.store.clear();
    this.onSignedOut?.();
    throw error;
  }

  private async completeOAuth(
    callback: URL,
    state: string,
    verifier: string,
    redirectUri: string,
  ): Promise<LoginResponse> {
    const refused = (code: string, message: string): SessionEndedError =>
      new SessionEndedError({ status: 400, code, message, body: null, headers: new Headers() });
    if (callback.searchParams.get("state") !== state) {
      throw refused("state_mismatch", "The sign-in answer does not belong to this attempt");
    }
    const error = callback.searchParams.get("error");
    if (error !== null) throw refused(error, `Sign-in was not completed (${error})`);
    const code = callback.searchParams.get("code");
    if (code === null) throw refused("invalid_request", "The sign-in answer has no code");
    const response = await this.send("/api/auth/oauth/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        code_verifier: verifier,
        redirect_uri: redirectUri,
      }),
    });
    if (!response.ok) throw await errorFromResponse(response, { baseUrl: this.baseUrl });
    const answer = (await response.json()) as LoginResponse;
    await this.keep(answer);
    return answer;
  }

  private async pollDevice(code: DeviceCode, signal?: AbortSignal): Promise<LoginResponse> {
    let interval = Math.max(1, code.interval) * 1000;
    const deadline = Date.now() + code.expires_in * 1000;
    while (Date.now() < deadline) {
      await sleep(interval, signal);
      const response = await this.send("/api/auth/device/token", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: code.device_code }),
        signal: signal ?? null,
      });
      if (response.ok) {
        const answer = (await response.json()) as LoginResponse;
        await this.keep(answer);
        return answer;
      }
      const error = await errorFromResponse(response, { baseUrl: this.baseUrl });
      if (error.code === "authorization_pending") continue;
      if (error.code === "slow_down") {
        interval += 5000; // RFC 8628 §3.5
        continue;
      }
      throw error;
    }
    throw new SessionEndedError({
      status: 400,
      code: "expired_token",
      message: "The sign-in code expired before it was approved",
      body: null,
      headers: new Headers(),
    });
  }

  private async post<T>(path: string, body: unknown): Promise<T> {
    const init: RequestInit = { method: "POST" };
    if (body !== undefined) {
      init.headers = { "Content-Type": "application/json" };
      init.body = JSON.stringify(body);
    }
    const response = await this.send(path, init);
    if (!response.ok) throw await errorFromResponse(response, { baseUrl: this.baseUrl });
    return (await response.json()) as T;
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchImpl(`${this.baseUrl}${path}`, init);
    } catch (cause) {
      if (init.signal?.aborted) throw cause;
      throw new NetworkError(`Could not reach Tollgate at ${this.baseUrl}`, { cause });
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function randomToken(bytes: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
