/**
 * A `fetch` that signs each request, renews the session once on a 401 and turns
 * every error answer into a typed error. The generated client and the OpenAI
 * SDK helper both go through it.
 */

import { NetworkError, errorFromResponse } from "./errors.js";

/** Whatever can put a bearer token on a request: a session or an API key. */
export interface Credentials {
  bearer(): Promise<string>;
  /** Called once after a 401 with the refused token; absent for credentials that cannot renew. */
  renew?(refused: string): Promise<string>;
}

/** A `tg_` API key: sent as it is, never renewed. */
export function apiKeyCredentials(key: string): Credentials {
  return { bearer: async () => key };
}

export interface TransportOptions {
  baseUrl: string;
  credentials: Credentials;
  fetch?: typeof fetch;
  /** Sent as `X-Tollgate-Feature` so usage is broken down by what the extension did. */
  feature?: string;
  /** Leave error answers as they are (the OpenAI SDK reads them itself). */
  passErrors?: boolean;
}

export function authorizedFetch(options: TransportOptions): typeof fetch {
  const base = options.fetch ?? globalThis.fetch.bind(globalThis);
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  return async (input, init) => {
    const request = new Request(input, init);
    const retry = request.clone(); // a body can be read once; the retry needs its own
    const token = await options.credentials.bearer();
    let response = await send(base, sign(request, token, options.feature));
    if (response.status === 401 && options.credentials.renew !== undefined) {
      await response.body?.cancel();
      const renewed = await options.credentials.renew(token);
      response = await send(base, sign(retry, renewed, options.feature));
    }
    if (response.ok || options.passErrors === true) return response;
    throw await errorFromResponse(response, { baseUrl });
  };
}

function sign(request: Request, token: string, feature: string | undefined): Request {
  const headers = new Headers(request.headers);
  headers.set("Authorization", `Bearer ${token}`);
  if (feature !== undefined && !headers.has("X-Tollgate-Feature")) {
    headers.set("X-Tollgate-Feature", feature);
  }
  return new Request(request, { headers });
}

async function send(base: typeof fetch, request: Request): Promise<Response> {
  try {
    return await base(request);
  } catch (cause) {
    if (request.signal.aborted) throw cause;
    throw new NetworkError(`Could not reach Tollgate at ${new URL(request.url).origin}`, { cause });
  }
}
