// A small stand-in for the `vscode` module (VS Code itself cannot run here): just what the
// sample uses, recording what a person would see and answering what they would choose.
"use strict";

class EventEmitter {
  constructor() {
    this.listeners = new Set();
    this.event = (listener) => {
      this.listeners.add(listener);
      return { dispose: () => this.listeners.delete(listener) };
    };
  }
  fire(value) {
    for (const listener of [...this.listeners]) listener(value);
  }
  dispose() {
    this.listeners.clear();
  }
}

class SecretStorage {
  constructor() {
    this.values = new Map();
    this.changed = new EventEmitter();
    this.onDidChange = this.changed.event;
  }
  async get(key) {
    return this.values.get(key);
  }
  async store(key, value) {
    this.values.set(key, value);
    this.changed.fire({ key });
  }
  async delete(key) {
    this.values.delete(key);
    this.changed.fire({ key });
  }
}

const seen = {
  messages: [], // [level, text]
  opened: [], // URLs given to env.openExternal
  output: "",
  statusBar: null,
};
const answers = { inputBox: [], choice: [] };
const commands = new Map();
const configuration = {};
let progressCancel = null; // a test calls it to press Cancel

function message(level) {
  return async (text, ...items) => {
    seen.messages.push([level, text]);
    const chosen = answers.choice.shift();
    return items.includes(chosen) ? chosen : undefined;
  };
}

module.exports = {
  EventEmitter,
  SecretStorage,
  seen,
  answers,
  configuration,
  cancelProgress: () => progressCancel?.(),
  reset() {
    seen.messages.length = 0;
    seen.opened.length = 0;
    seen.output = "";
    answers.inputBox.length = 0;
    answers.choice.length = 0;
    commands.clear();
  },
  StatusBarAlignment: { Left: 1, Right: 2 },
  ProgressLocation: { Notification: 15 },
  Uri: { parse: (value) => ({ toString: () => value, value }) },
  env: {
    openExternal: async (uri) => {
      seen.opened.push(uri.toString());
      return true;
    },
  },
  commands: {
    registerCommand: (name, handler) => {
      commands.set(name, handler);
      return { dispose: () => commands.delete(name) };
    },
    executeCommand: async (name, ...args) => commands.get(name)?.(...args),
  },
  workspace: {
    getConfiguration: () => ({ get: (name) => configuration[name] }),
  },
  window: {
    createOutputChannel: () => ({
      append: (text) => void (seen.output += text),
      appendLine: (text) => void (seen.output += `${text}\n`),
      show: () => {},
      dispose: () => {},
    }),
    createStatusBarItem: () => {
      const item = { text: "", tooltip: "", command: undefined, show: () => {}, dispose: () => {} };
      seen.statusBar = item;
      return item;
    },
    showInputBox: async () => answers.inputBox.shift(),
    showInformationMessage: message("info"),
    showWarningMessage: message("warning"),
    showErrorMessage: message("error"),
    withProgress: async (_options, task) => {
      const cancelled = new EventEmitter();
      const token = { isCancellationRequested: false, onCancellationRequested: cancelled.event };
      progressCancel = () => {
        token.isCancellationRequested = true;
        cancelled.fire();
      };
      try {
        return await task({ report: () => {} }, token);
      } finally {
        progressCancel = null;
      }
    },
  },
};
