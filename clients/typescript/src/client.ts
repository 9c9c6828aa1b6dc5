/**
 * The whole API, typed from the gateway's OpenAPI document, plus the calls an
 * extension makes most (balance, usage, its configuration, API keys).
 *
 * Every method resolves with the answer's data or throws a typed error
 * (see `errors.ts`); none returns an `{ error }` to check.
 */

import createClient, { type Client } from "openapi-fetch";

import type { components, paths } from "./generated/api.js";
import type { TollgateSession } from "./session.js";
import { type Credentials, authorizedFetch } from "./transport.js";

export type Balance = components["schemas"]["BalanceOut"];
export type UsagePage = components["schemas"]["UsagePage"];
export type UsageStats = components["schemas"]["StatsOut"];
export type StatsGrouping = components["schemas"]["StatsOut"]["group_by"];
export type User = components["schemas"]["UserOut"];
export type VscodeConfig = components["schemas"]["VscodeConfig"];
export type ApiKeyCreated = components["schemas"]["ApiKeyCreated"];
export type ApiKey = components["schemas"]["ApiKeyOut"];

export interface ClientOptions {
  baseUrl: string;
  /** A session (renewed on 401) or `apiKeyCredentials(key)`. */
  credentials: Credentials;
  /** Tags every call for usage stats (`X-Tollgate-Feature`). */
  feature?: string;
  fetch?: typeof fetch;
}

/** A session's credentials: fresh tokens, renewed once when the server refuses one. */
export function sessionCredentials(session: TollgateSession): Credentials {
  return {
    bearer: () => session.accessToken(),
    renew: async (refused) => (await session.refresh(refused)).accessToken,
  };
}

export class TollgateClient {
  /** Every route of the API, typed (`api.GET("/api/tokens/balance")`). */
  readonly api: Client<paths>;
  readonly baseUrl: string;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    const transport: Parameters<typeof authorizedFetch>[0] = {
      baseUrl: this.baseUrl,
      credentials: options.credentials,
    };
    if (options.fetch !== undefined) transport.fetch = options.fetch;
    if (options.feature !== undefined) transport.feature = options.feature;
    const signed = authorizedFetch(transport);
    this.api = createClient<paths>({ baseUrl: this.baseUrl, fetch: (request) => signed(request) });
  }

  /** Spendable tokens, what is held, what this period used. */
  async balance(): Promise<Balance> {
    return data(await this.api.GET("/api/tokens/balance"));
  }

  /** Metered calls, newest first. */
  async usage(page = 1, pageSize = 50): Promise<UsagePage> {
    const query = { page, page_size: pageSize };
    return data(await this.api.GET("/api/tokens/usage", { params: { query } }));
  }

  /** Usage between two dates (`YYYY-MM-DD`, inclusive), by day, model, provider or feature. */
  async stats(groupBy: StatsGrouping = "day", start?: string, end?: string): Promise<UsageStats> {
    const query: { group_by: StatsGrouping; start?: string; end?: string } = { group_by: groupBy };
    if (start !== undefined) query.start = start;
    if (end !== undefined) query.end = end;
    return data(await this.api.GET("/api/usage/stats", { params: { query } }));
  }

  async me(): Promise<User> {
    return data(await this.api.GET("/api/auth/me"));
  }

  /** The gateway's URLs, the models the plan can call and the enabled sign-in methods. */
  async vscodeConfig(): Promise<VscodeConfig> {
    return data(await this.api.GET("/api/auth/vscode-config"));
  }

  /** A new API key; its secret is in `key` and is shown only this once. */
  async createApiKey(name: string, expiresInDays?: number): Promise<ApiKeyCreated> {
    const body = { name, expires_in_days: expiresInDays ?? null };
    return data(await this.api.POST("/api/api-keys", { body }));
  }

  async apiKeys(): Promise<ApiKey[]> {
    return data(await this.api.GET("/api/api-keys"));
  }

  async revokeApiKey(id: string): Promise<void> {
    await this.api.DELETE("/api/api-keys/{key_id}", { params: { path: { key_id: id } } });
  }
}

/** The transport throws on every error status, so an answer here always has data. */
function data<T>(result: { data?: T; response: Response }): T {
  if (result.data === undefined) {
    throw new TypeError(`No body in the ${result.response.status} answer`);
  }
  return result.data;
}
