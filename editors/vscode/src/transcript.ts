/**
 * One chat's transcript: turns whose answers grow from streamed `$/progress`
 * pieces (`delta` for the answer, `reasoning` kept apart) until the command's
 * result settles them.
 */

import type { ChatResult, PartialValue } from './protocol';

export type TurnState = 'streaming' | 'done' | 'cancelled' | 'error';

export interface Turn {
  id: number;
  prompt: string;
  /** What the question was about, such as `app.py:3-9`. */
  context?: string;
  answer: string;
  reasoning: string;
  state: TurnState;
  /** The latest work-done report while streaming. */
  progress?: string;
  error?: string;
  model?: string;
}

export function newTurn(id: number, prompt: string, context?: string): Turn {
  return { id, prompt, context, answer: '', reasoning: '', state: 'streaming' };
}

/** Validates one partial-result value; undefined for anything else. */
export function parsePartial(value: unknown): PartialValue | undefined {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const v = value as Record<string, unknown>;
  const partial: PartialValue = {};
  if (typeof v.sessionId === 'string') {
    partial.sessionId = v.sessionId;
  }
  if (typeof v.delta === 'string') {
    partial.delta = v.delta;
  }
  if (typeof v.reasoning === 'string') {
    partial.reasoning = v.reasoning;
  }
  return partial.delta === undefined && partial.reasoning === undefined ? undefined : partial;
}

/** Appends one piece to a streaming turn; returns whether the turn changed. */
export function appendPartial(turn: Turn, value: unknown): boolean {
  const partial = parsePartial(value);
  if (turn.state !== 'streaming' || partial === undefined) {
    return false;
  }
  turn.answer += partial.delta ?? '';
  turn.reasoning += partial.reasoning ?? '';
  return (partial.delta ?? '') !== '' || (partial.reasoning ?? '') !== '';
}

export function reportProgress(turn: Turn, message: string | undefined): boolean {
  if (turn.state !== 'streaming' || message === undefined || message === turn.progress) {
    return false;
  }
  turn.progress = message;
  return true;
}

/**
 * Settles a turn with the command's result. The result's text is the answer of
 * record; it equals the streamed pieces when nothing was lost. Returns whether
 * the streamed text differed from it.
 */
export function finishTurn(turn: Turn, result: ChatResult): { streamedDiffered: boolean } {
  const streamedDiffered = turn.answer !== result.text;
  turn.answer = result.text;
  if (typeof result.reasoning === 'string' && result.reasoning !== '') {
    turn.reasoning = result.reasoning;
  }
  turn.model = result.model;
  turn.state = result.finishReason === 'cancelled' ? 'cancelled' : 'done';
  turn.progress = undefined;
  return { streamedDiffered };
}

/** Ends a turn whose request was cancelled without a result; what streamed stays. */
export function cancelTurn(turn: Turn): void {
  turn.state = 'cancelled';
  turn.progress = undefined;
}

export function failTurn(turn: Turn, message: string): void {
  turn.state = 'error';
  turn.error = message;
  turn.progress = undefined;
}

/** A short label for the code a question is about: `app.py:3-9`, lines counted from 1. */
export function contextLabel(
  fileName: string,
  range?: { start: { line: number }; end: { line: number; character: number } },
): string {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  if (range === undefined) {
    return base;
  }
  // A selection that ends at the start of a line does not include that line.
  const endLine =
    range.end.character === 0 && range.end.line > range.start.line
      ? range.end.line - 1
      : range.end.line;
  const first = range.start.line + 1;
  const last = endLine + 1;
  return first === last ? `${base}:${first}` : `${base}:${first}-${last}`;
}
