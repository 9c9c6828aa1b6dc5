/**
 * Every error the API documents, as a class a caller can `instanceof`.
 *
 *     TollgateError                  anything this client throws
 *     ├── NetworkError               no answer (connection refused, reset, aborted mid-stream)
 *     ├── NotSignedInError           no tokens in the store: sign in first
 *     └── ApiError                   the server answered with an error status
 *         ├── BadRequestError        400, 413, 422: the request must change
 *         ├── AuthenticationError    401
 *         │   └── SessionEndedError  the refresh token is spent, revoked or expired
 *         ├── InsufficientTokensError 402: `available`, and where to get more
 *         ├── ForbiddenError         403
 *         ├── NotFoundError          404
 *         ├── ConflictError          409
 *         ├── RateLimitError         429: `retryAfterSeconds`
 *         └── ServiceError           5xx: `retryAfterSeconds` when the server gave one
 *
 * The server speaks two shapes: problem+json (`{type, title, status, detail}`) on
 * `/api`, OpenAI's (`{error: {message, type, code}}`) on `/v1`. Both become the same
 * classes, carrying the server's own message.
 */

export class TollgateError extends Error {
  override name = "TollgateError";
}

export class NetworkError extends TollgateError {
  override name = "NetworkError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class NotSignedInError extends TollgateError {
  override name = "NotSignedInError";
  constructor(message = "Not signed in to Tollgate") {
    super(message);
  }
}

export interface ApiErrorDetails {
  status: number;
  /** A stable machine-readable code: the problem type's last segment, or OpenAI's `code`. */
  code: string;
  /** The server's own message. */
  message: string;
  /** The whole decoded body, for fields this client does not name. */
  body: unknown;
  headers: Headers;
}

export class ApiError extends TollgateError {
  override name = "ApiError";
  readonly status: number;
  readonly code: string;
  readonly body: unknown;
  readonly headers: Headers;

  constructor(details: ApiErrorDetails) {
    super(details.message);
    this.status = details.status;
    this.code = details.code;
    this.body = details.body;
    this.headers = details.headers;
  }
}

export class BadRequestError extends ApiError {
  override name = "BadRequestError";
}

export class AuthenticationError extends ApiError {
  override name = "AuthenticationError";
}

/** The session cannot be renewed: the person must sign in again. */
export class SessionEndedError extends AuthenticationError {
  override name = "SessionEndedError";
}

export class InsufficientTokensError extends ApiError {
  override name = "InsufficientTokensError";
  /** Tokens the account can still spend, when the server said. */
  readonly available: number | null;
  /** Where a person can see plans and buy more (the plans page of this gateway). */
  readonly getMoreUrl: string | null;

  constructor(details: ApiErrorDetails, getMoreUrl: string | null) {
    super(details);
    const field = numberField(details.body, "available");
    this.available = field ?? availableFromMessage(details.message);
    this.getMoreUrl = getMoreUrl;
  }
}

export class ForbiddenError extends ApiError {
  override name = "ForbiddenError";
}

export class NotFoundError extends ApiError {
  override name = "NotFoundError";
}

export class ConflictError extends ApiError {
  override name = "ConflictError";
}

export class RateLimitError extends ApiError {
  override name = "RateLimitError";
  /** Seconds to wait before trying again (the `Retry-After` header). */
  readonly retryAfterSeconds: number | null;

  constructor(details: ApiErrorDetails) {
    super(details);
    this.retryAfterSeconds = retryAfter(details.headers);
  }
}

export class ServiceError extends ApiError {
  override name = "ServiceError";
  readonly retryAfterSeconds: number | null;

  constructor(details: ApiErrorDetails) {
    super(details);
    this.retryAfterSeconds = retryAfter(details.headers);
  }
}

/** Codes of a 401 from the refresh route that mean "sign in again". */
const SESSION_OVER = new Set([
  "invalid-refresh-token",
  "refresh-token-reused",
  "session-ended",
  "account-disabled",
]);

export interface ErrorContext {
  /** The gateway's base URL, used to say where more tokens can be had. */
  baseUrl: string | null;
  /** The request was a refresh: a 401 then means the session is over. */
  refreshing?: boolean;
}

/** The typed error for an error answer; reads the body itself. */
export async function errorFromResponse(
  response: Response,
  context: ErrorContext,
): Promise<ApiError> {
  let body: unknown = null;
  const text = await response.text().catch(() => "");
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  return errorFromBody(response.status, body, response.headers, context);
}

export function errorFromBody(
  status: number,
  body: unknown,
  headers: Headers,
  context: ErrorContext,
): ApiError {
  const { code, message } = describe(status, body);
  const details: ApiErrorDetails = { status, code, message, body, headers };
  if (status === 401) {
    const over = context.refreshing === true || SESSION_OVER.has(code.replaceAll("_", "-"));
    return over ? new SessionEndedError(details) : new AuthenticationError(details);
  }
  if (status === 402) {
    const plans = context.baseUrl ? `${context.baseUrl}/api/subscriptions/plans` : null;
    return new InsufficientTokensError(details, plans);
  }
  if (status === 403) return new ForbiddenError(details);
  if (status === 404) return new NotFoundError(details);
  if (status === 409) return new ConflictError(details);
  if (status === 429) return new RateLimitError(details);
  if (status >= 500) return new ServiceError(details);
  if (status >= 400) return new BadRequestError(details);
  return new ApiError(details);
}

function describe(status: number, body: unknown): { code: string; message: string } {
  if (isRecord(body)) {
    const openai = body["error"];
    if (isRecord(openai)) {
      const code = stringField(openai, "code") ?? stringField(openai, "type") ?? `http_${status}`;
      return { code, message: stringField(openai, "message") ?? `HTTP ${status}` };
    }
    const type = stringField(body, "type");
    if (type !== null) {
      const code = stringField(body, "error") ?? type.split("/").pop() ?? type;
      const message = stringField(body, "detail") ?? stringField(body, "title") ?? `HTTP ${status}`;
      return { code, message };
    }
  }
  const text = typeof body === "string" && body.trim() ? body.trim().slice(0, 300) : null;
  return { code: `http_${status}`, message: text ?? `HTTP ${status}` };
}

function retryAfter(headers: Headers): number | null {
  const value = headers.get("retry-after");
  if (value === null) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function availableFromMessage(message: string): number | null {
  const match = /\((\d+) available\)/.exec(message);
  return match?.[1] !== undefined ? Number(match[1]) : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringField(record: Record<string, unknown>, key: string): string | null {
  const value = record[key];
  return typeof value === "string" ? value : null;
}

function numberField(body: unknown, key: string): number | null {
  if (!isRecord(body)) return null;
  const direct = body[key];
  if (typeof direct === "number") return direct;
  const inner = body["error"];
  if (isRecord(inner) && typeof inner[key] === "number") return inner[key];
  return null;
}
