/**
 * A chat conversation: sends each question as `qwen.chat` with the session id the
 * server gave the first answer, grows the current turn from streamed pieces, and
 * stops it on request. The transport (LSP) and the view are passed in.
 */

import { chatArgs } from './args';
import { describeError, type ErrorAdvice } from './errors';
import type { ChatArgs, ChatResult, Range } from './protocol';
import {
  appendPartial,
  cancelTurn,
  failTurn,
  finishTurn,
  newTurn,
  parsePartial,
  reportProgress,
  type Turn,
} from './transcript';

export interface StreamHandlers {
  onPartial(value: unknown): void;
  onProgress(message: string): void;
}

export interface RunningRequest<R> {
  result: Promise<R>;
  /** Asks the server to stop; `result` still settles. */
  stop(): void;
}

export interface ChatTransport {
  chat(args: ChatArgs, handlers: StreamHandlers): RunningRequest<ChatResult>;
}

export interface ChatSink {
  turnChanged(turn: Turn): void;
  reset(turns: readonly Turn[]): void;
  busyChanged(busy: boolean): void;
}

export interface AskOptions {
  uri?: string;
  range?: Range;
  /** A short label for what the question is about, such as `app.py:3-9`. */
  context?: string;
  /** The URI sent when neither `uri` nor the conversation's first question gave one. */
  fallbackUri?: string;
  /** Forget the current conversation first. */
  newSession?: boolean;
}

export class ChatSession {
  private turns: Turn[] = [];
  private sessionId: string | undefined;
  private uri: string | undefined;
  private running: RunningRequest<ChatResult> | undefined;
  private nextId = 1;

  constructor(
    private readonly transport: ChatTransport,
    private readonly sink: ChatSink,
    private readonly onError: (advice: ErrorAdvice) => void = () => undefined,
  ) {}

  get busy(): boolean {
    return this.running !== undefined;
  }

  get transcript(): readonly Turn[] {
    return this.turns;
  }

  get currentSessionId(): string | undefined {
    return this.sessionId;
  }

  /** Asks one question; undefined (and nothing sent) while an answer is still streaming. */
  async ask(prompt: string, options: AskOptions = {}): Promise<Turn | undefined> {
    if (this.busy) {
      return undefined;
    }
    if (options.newSession) {
      this.newChat();
    }

    // The first question's document keeps choosing the workspace folder for follow-ups.
    this.uri = options.uri ?? this.uri ?? options.fallbackUri;
    const args = chatArgs({
      prompt,
      uri: this.uri,
      range: options.uri !== undefined ? options.range : undefined,
      sessionId: this.sessionId,
    });
    const turn = newTurn(this.nextId++, args.prompt, options.context);
    this.turns.push(turn);
    this.changed(turn);

    const request = this.transport.chat(args, {
      onPartial: (value) => this.onPartial(turn, value),
      onProgress: (message) => {
        if (reportProgress(turn, message)) {
          this.changed(turn);
        }
      },
    });
    this.running = request;
    this.sink.busyChanged(true);

    try {
      const result = await request.result;
      if (this.turns.includes(turn)) {
        this.sessionId = result.sessionId;
      }
      finishTurn(turn, result);
    } catch (err) {
      this.settleFailure(turn, err);
    } finally {
      this.running = undefined;
      this.changed(turn);
      this.sink.busyChanged(false);
    }
    return turn;
  }

  stop(): void {
    this.running?.stop();
  }

  newChat(): void {
    this.stop();
    this.turns = [];
    this.sessionId = undefined;
    this.uri = undefined;
    this.sink.reset(this.turns);
  }

  private onPartial(turn: Turn, value: unknown): void {
    // Remember the session at once, so a follow-up continues it even if this
    // answer never completes.
    const sessionId = parsePartial(value)?.sessionId;
    if (this.sessionId === undefined && sessionId !== undefined && this.turns.includes(turn)) {
      this.sessionId = sessionId;
    }
    if (appendPartial(turn, value)) {
      this.changed(turn);
    }
  }

  private settleFailure(turn: Turn, err: unknown): void {
    const advice = describeError(err);
    if (advice.cancelled) {
      cancelTurn(turn);
      return;
    }
    failTurn(turn, advice.message);
    this.onError(advice);
  }

  private changed(turn: Turn): void {
    // A turn of a conversation that was cleared meanwhile is no longer shown.
    if (this.turns.includes(turn)) {
      this.sink.turnChanged(turn);
    }
  }
}
