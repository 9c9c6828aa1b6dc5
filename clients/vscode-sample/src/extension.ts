/**
 * A minimal Tollgate extension: Sign in (device code, in the browser), Ask (streamed
 * into an output channel, cancellable), the balance in the status bar, Sign out.
 *
 * Tokens live only in SecretStorage, which every window of the extension shares; the
 * client re-reads it before each refresh, so windows never sign each other out.
 */

import {
  InsufficientTokensError,
  NotSignedInError,
  RateLimitError,
  SecretStorageTokenStore,
  SessionEndedError,
  TollgateClient,
  TollgateError,
  TollgateSession,
  fromOpenAIError,
  openaiClient,
  sessionCredentials,
} from "@tollgate/client";
import OpenAI from "openai";
import * as vscode from "vscode";

export function activate(context: vscode.ExtensionContext): TollgateExtension {
  const extension = new TollgateExtension(context);
  context.subscriptions.push(
    vscode.commands.registerCommand("tollgate.signIn", () => extension.signIn()),
    vscode.commands.registerCommand("tollgate.ask", () => extension.ask()),
    vscode.commands.registerCommand("tollgate.refreshBalance", () => extension.refreshBalance()),
    vscode.commands.registerCommand("tollgate.signOut", () => extension.signOut()),
    // Another window signed in, refreshed or signed out: show what the store now says.
    context.secrets.onDidChange((event) => {
      if (event.key === extension.store.key) void extension.refreshBalance();
    }),
    extension.output,
    extension.statusBar,
  );
  void extension.refreshBalance();
  return extension;
}

export function deactivate(): void {}

export class TollgateExtension {
  readonly store: SecretStorageTokenStore;
  readonly output: vscode.OutputChannel;
  readonly statusBar: vscode.StatusBarItem;
  private readonly session: TollgateSession;
  private readonly client: TollgateClient;

  constructor(context: vscode.ExtensionContext) {
    const baseUrl = setting("gatewayUrl", "http://127.0.0.1:8000");
    this.store = new SecretStorageTokenStore(context.secrets);
    this.session = new TollgateSession({
      baseUrl,
      store: this.store,
      onSignedOut: () => this.showSignedOut(),
    });
    this.client = new TollgateClient({ baseUrl, credentials: sessionCredentials(this.session) });
    this.output = vscode.window.createOutputChannel("Tollgate");
    this.statusBar = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
    this.statusBar.command = "tollgate.refreshBalance";
    this.statusBar.show();
  }

  async signIn(): Promise<void> {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: "Tollgate", cancellable: true },
      async (progress, cancel) => {
        const aborter = abortOn(cancel);
        try {
          const device = await this.session.startDeviceSignIn();
          progress.report({ message: `Approve code ${device.userCode} in your browser…` });
          await vscode.env.openExternal(vscode.Uri.parse(device.verificationUriComplete));
          const signedIn = await device.approved(aborter.signal);
          void vscode.window.showInformationMessage(
            `Signed in to Tollgate as ${signedIn.user.email ?? signedIn.user.id}`,
          );
        } catch (error) {
          if (!cancel.isCancellationRequested) await this.report(error);
        } finally {
          aborter.dispose();
        }
      },
    );
    await this.refreshBalance();
  }

  async ask(): Promise<void> {
    const question = await vscode.window.showInputBox({ prompt: "Ask Tollgate" });
    if (!question) return;
    if (!(await this.session.isSignedIn())) {
      await this.report(new NotSignedInError());
      return;
    }
    const openai = openaiClient(OpenAI, {
      baseUrl: this.client.baseUrl,
      credentials: sessionCredentials(this.session),
      feature: "sample-ask",
    });
    this.output.show(true);
    this.output.appendLine(`> ${question}`);
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: "Tollgate is answering", cancellable: true },
      async (_progress, cancel) => {
        const aborter = abortOn(cancel);
        try {
          const stream = await openai.chat.completions.create(
            {
              model: setting("model", "gpt-4o-mini"),
              messages: [{ role: "user", content: question }],
              stream: true,
            },
            { signal: aborter.signal },
          );
          for await (const chunk of stream) this.output.append(chunk.choices[0]?.delta?.content ?? "");
          this.output.appendLine(cancel.isCancellationRequested ? "\n[cancelled]" : "");
        } catch (error) {
          this.output.appendLine("");
          if (cancel.isCancellationRequested) this.output.appendLine("[cancelled]");
          else await this.report(fromOpenAIError(error, this.client.baseUrl));
        } finally {
          aborter.dispose();
        }
      },
    );
    await this.refreshBalance();
  }

  async refreshBalance(): Promise<void> {
    if (!(await this.session.isSignedIn())) {
      this.showSignedOut();
      return;
    }
    try {
      const balance = await this.client.balance();
      this.statusBar.text = `$(pulse) ${balance.available.toLocaleString("en")} tokens`;
      this.statusBar.tooltip = `Tollgate ${balance.plan} plan: ${balance.reserved} held, ${balance.used_this_period} used this period`;
    } catch (error) {
      if (error instanceof NotSignedInError || error instanceof SessionEndedError) this.showSignedOut();
      else this.statusBar.text = "$(warning) Tollgate";
    }
  }

  async signOut(): Promise<void> {
    await this.session.signOut();
    void vscode.window.showInformationMessage("Signed out of Tollgate");
  }

  private showSignedOut(): void {
    this.statusBar.text = "$(account) Tollgate: sign in";
    this.statusBar.tooltip = "Sign in to Tollgate";
    this.statusBar.command = "tollgate.signIn";
  }

  /** Every error the API documents, told the way a person can act on it. */
  private async report(error: unknown): Promise<void> {
    if (error instanceof InsufficientTokensError) {
      const more = "See plans";
      const choice = await vscode.window.showWarningMessage(
        `Out of Tollgate tokens (${error.available ?? 0} left).`,
        more,
      );
      if (choice === more && error.getMoreUrl) {
        await vscode.env.openExternal(vscode.Uri.parse(error.getMoreUrl));
      }
    } else if (error instanceof RateLimitError) {
      const wait = error.retryAfterSeconds ?? 60;
      void vscode.window.showWarningMessage(`Tollgate: too many requests; try again in ${wait} s.`);
    } else if (error instanceof NotSignedInError || error instanceof SessionEndedError) {
      const signIn = "Sign in";
      const choice = await vscode.window.showWarningMessage("Sign in to Tollgate first.", signIn);
      if (choice === signIn) await vscode.commands.executeCommand("tollgate.signIn");
    } else if (error instanceof TollgateError) {
      void vscode.window.showErrorMessage(`Tollgate: ${error.message}`);
    } else {
      void vscode.window.showErrorMessage(`Tollgate: ${String(error)}`);
    }
  }
}

function setting(name: string, fallback: string): string {
  return vscode.workspace.getConfiguration("tollgate").get<string>(name) ?? fallback;
}

function abortOn(cancel: vscode.CancellationToken): AbortController & { dispose(): void } {
  const controller = new AbortController();
  const listener = cancel.onCancellationRequested(() => controller.abort());
  return Object.assign(controller, { dispose: () => listener.dispose() });
}
