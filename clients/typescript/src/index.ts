export * from "./errors.js";
export * from "./tokens.js";
export * from "./session.js";
export * from "./transport.js";
export * from "./client.js";
export * from "./openai.js";
export type { components, paths } from "./generated/api.js";
