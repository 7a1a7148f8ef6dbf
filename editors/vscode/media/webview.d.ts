// What VS Code gives a webview's script (only what chat.js uses).
declare function acquireVsCodeApi(): {
  postMessage(message: unknown): void;
};
