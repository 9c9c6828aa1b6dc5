/**
 * Where a session's tokens live. Several VS Code windows share one store (the
 * extension's SecretStorage), so the session reads it before every use instead of
 * trusting a copy in memory: another window may have rotated the refresh token.
 */

export interface StoredTokens {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, in milliseconds since the epoch. */
  expiresAt: number;
}

export interface TokenStore {
  read(): Promise<StoredTokens | undefined>;
  write(tokens: StoredTokens): Promise<void>;
  clear(): Promise<void>;
}

/** Tokens kept in this process only (tests, scripts, a CLI run). */
export class MemoryTokenStore implements TokenStore {
  private tokens: StoredTokens | undefined;

  constructor(initial?: StoredTokens) {
    this.tokens = initial;
  }

  async read(): Promise<StoredTokens | undefined> {
    return this.tokens ? { ...this.tokens } : undefined;
  }

  async write(tokens: StoredTokens): Promise<void> {
    this.tokens = { ...tokens };
  }

  async clear(): Promise<void> {
    this.tokens = undefined;
  }
}

/**
 * The part of VS Code's `SecretStorage` this adapter uses, so the client needs no
 * `vscode` dependency: pass `context.secrets`.
 */
export interface SecretStorageLike {
  get(key: string): PromiseLike<string | undefined>;
  store(key: string, value: string): PromiseLike<void>;
  delete(key: string): PromiseLike<void>;
}

/** Tokens in VS Code's SecretStorage, shared by every window of the same extension. */
export class SecretStorageTokenStore implements TokenStore {
  constructor(
    private readonly secrets: SecretStorageLike,
    readonly key = "tollgate.tokens",
  ) {}

  async read(): Promise<StoredTokens | undefined> {
    const raw = await this.secrets.get(this.key);
    if (!raw) return undefined;
    try {
      const parsed: unknown = JSON.parse(raw);
      return isStoredTokens(parsed) ? parsed : undefined;
    } catch {
      return undefined; // a value we cannot read is no session
    }
  }

  async write(tokens: StoredTokens): Promise<void> {
    await this.secrets.store(this.key, JSON.stringify(tokens));
  }

  async clear(): Promise<void> {
    await this.secrets.delete(this.key);
  }
}

function isStoredTokens(value: unknown): value is StoredTokens {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v["accessToken"] === "string" &&
    typeof v["refreshToken"] === "string" &&
    typeof v["expiresAt"] === "number"
  );
}
