/**
 * The official `openai` SDK pointed at Tollgate: `/v1` of the gateway, the session's
 * token on every call (renewed once on a 401), and a feature tag for usage stats.
 *
 *     const openai = openaiClient(OpenAI, { baseUrl, credentials, feature: "inline-edit" });
 *     const stream = await openai.chat.completions.create({ model, messages, stream: true });
 *
 * The SDK's class is passed in, so this package does not pin the SDK's version.
 * The SDK raises its own errors; `fromOpenAIError` turns one into ours.
 */

import { NetworkError, TollgateError, errorFromBody } from "./errors.js";
import { type Credentials, authorizedFetch } from "./transport.js";

/** The constructor options this helper sets; any `openai` 5.x or 6.x accepts them. */
export interface OpenAIOptions {
  baseURL: string;
  apiKey: string;
  fetch: typeof fetch;
  maxRetries?: number;
  timeout?: number;
}

export interface OpenAIHelperOptions {
  baseUrl: string;
  credentials: Credentials;
  feature?: string;
  /** The SDK's own retries (429, 5xx, connection errors); 2 by default, as the SDK's. */
  maxRetries?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export function openaiClient<T>(
  OpenAI: new (options: OpenAIOptions) => T,
  options: OpenAIHelperOptions,
): T {
  const transport: Parameters<typeof authorizedFetch>[0] = {
    baseUrl: options.baseUrl,
    credentials: options.credentials,
    passErrors: true, // the SDK reads error answers into its own classes
  };
  if (options.fetch !== undefined) transport.fetch = options.fetch;
  if (options.feature !== undefined) transport.feature = options.feature;
  const settings: OpenAIOptions = {
    baseURL: `${options.baseUrl.replace(/\/+$/, "")}/v1`,
    // The SDK insists on a key; the transport replaces it with a fresh token.
    apiKey: "set-per-request",
    fetch: authorizedFetch(transport),
  };
  if (options.maxRetries !== undefined) settings.maxRetries = options.maxRetries;
  if (options.timeoutMs !== undefined) settings.timeout = options.timeoutMs;
  return new OpenAI(settings);
}

interface OpenAIErrorLike {
  status?: number | undefined;
  error?: unknown;
  headers?: Headers | Record<string, string> | undefined;
  message: string;
}

/**
 * Our typed error for an error the `openai` SDK raised: `InsufficientTokensError` for
 * a 402, `RateLimitError` with its retry time for a 429, and so on. An error without
 * a status (connection lost, stream cut) becomes a `NetworkError`.
 */
export function fromOpenAIError(error: unknown, baseUrl: string): TollgateError {
  const e = error as OpenAIErrorLike & { cause?: unknown };
  // The SDK wraps what our fetch threw (not signed in, session ended) as a connection error.
  if (e?.cause instanceof TollgateError) {
    return e.cause;
  }
  if (typeof e?.status !== "number") {
    return new NetworkError(e?.message ?? String(error), { cause: error });
  }
  const headers = e.headers instanceof Headers ? e.headers : new Headers(e.headers ?? {});
  const body = e.error === undefined ? null : { error: e.error };
  return errorFromBody(e.status, body, headers, { baseUrl: baseUrl.replace(/\/+$/, "") });
}
