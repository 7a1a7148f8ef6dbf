import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  ChatSession,
  type ChatSink,
  type ChatTransport,
  type RunningRequest,
  type StreamHandlers,
} from '../src/chat';
import type { ErrorAdvice } from '../src/errors';
import type { ChatArgs, ChatResult } from '../src/protocol';
import type { Turn } from '../src/transcript';

/** A transport whose requests the test answers by hand. */
class FakeTransport implements ChatTransport {
  readonly sent: ChatArgs[] = [];
  readonly handlers: StreamHandlers[] = [];
  stops = 0;
  private resolvers: { resolve(r: ChatResult): void; reject(e: unknown): void }[] = [];

  chat(args: ChatArgs, handlers: StreamHandlers): RunningRequest<ChatResult> {
    this.sent.push(args);
    this.handlers.push(handlers);
    const result = new Promise<ChatResult>((resolve, reject) => {
      this.resolvers.push({ resolve, reject });
    });
    return { result, stop: () => (this.stops += 1) };
  }

  answer(result: ChatResult): void {
    this.resolvers.shift()?.resolve(result);
  }

  fail(error: unknown): void {
    this.resolvers.shift()?.reject(error);
  }

  get current(): StreamHandlers {
    const handlers = this.handlers.at(-1);
    assert.ok(handlers);
    return handlers;
  }
}

class RecordingSink implements ChatSink {
  readonly events: string[] = [];
  readonly snapshots: Turn[] = [];

  turnChanged(turn: Turn): void {
    this.snapshots.push({ ...turn });
    this.events.push(`turn ${turn.id} ${turn.state} ${JSON.stringify(turn.answer)}`);
  }

  reset(turns: readonly Turn[]): void {
    this.events.push(`reset ${turns.length}`);
  }

  busyChanged(busy: boolean): void {
    this.events.push(`busy ${busy}`);
  }
}

function setup(): {
  transport: FakeTransport;
  sink: RecordingSink;
  session: ChatSession;
  errors: ErrorAdvice[];
} {
  const transport = new FakeTransport();
  const sink = new RecordingSink();
  const errors: ErrorAdvice[] = [];
  const session = new ChatSession(transport, sink, (advice) => errors.push(advice));
  return { transport, sink, session, errors };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('a chat session', () => {
  it('streams an answer into the view and settles it with the result', async () => {
    const { transport, sink, session } = setup();
    const asked = session.ask('Write a haiku', { uri: 'file:///p/a.py' });
    transport.current.onPartial({ sessionId: 's-1', delta: 'Old ' });
    transport.current.onPartial({ sessionId: 's-1', reasoning: 'hmm' });
    transport.current.onPartial({ sessionId: 's-1', delta: 'pond' });
    transport.answer({ sessionId: 's-1', model: 'qwen3', text: 'Old pond', finishReason: 'stop' });
    const turn = await asked;
    assert.ok(turn);

    assert.equal(turn.answer, 'Old pond');
    assert.equal(turn.reasoning, 'hmm');
    assert.deepEqual(sink.events, [
      'turn 1 streaming ""',
      'busy true',
      'turn 1 streaming "Old "',
      'turn 1 streaming "Old "',
      'turn 1 streaming "Old pond"',
      'turn 1 done "Old pond"',
      'busy false',
    ]);
    assert.deepEqual(transport.sent, [{ prompt: 'Write a haiku', uri: 'file:///p/a.py' }]);
  });

  it("follow-ups carry the session id and the first question's document", async () => {
    const { transport, session } = setup();
    const first = session.ask('Explain this code.', {
      uri: 'file:///p/a.py',
      range: { start: { line: 0, character: 0 }, end: { line: 3, character: 0 } },
    });
    transport.answer({ sessionId: 's-1', model: 'm', text: 'It adds.', finishReason: 'stop' });
    await first;
    const second = session.ask('And why?');
    transport.answer({ sessionId: 's-1', model: 'm', text: 'Because.', finishReason: 'stop' });
    await second;

    assert.deepEqual(transport.sent, [
      {
        prompt: 'Explain this code.',
        uri: 'file:///p/a.py',
        range: { start: { line: 0, character: 0 }, end: { line: 3, character: 0 } },
      },
      { prompt: 'And why?', uri: 'file:///p/a.py', sessionId: 's-1' },
    ]);
  });

  it('a fallback uri applies only when nothing else chose a document', async () => {
    const { transport, session } = setup();
    const first = session.ask('hi', { fallbackUri: 'file:///p' });
    transport.answer({ sessionId: 's-1', model: 'm', text: 'hello', finishReason: 'stop' });
    await first;
    const second = session.ask('again', { fallbackUri: 'file:///q' });
    transport.answer({ sessionId: 's-1', model: 'm', text: 'hello', finishReason: 'stop' });
    await second;
    assert.deepEqual(
      transport.sent.map((a) => a.uri),
      ['file:///p', 'file:///p'],
    );
  });

  it('a new chat forgets the session', async () => {
    const { transport, sink, session } = setup();
    const first = session.ask('hi');
    transport.answer({ sessionId: 's-1', model: 'm', text: 'hello', finishReason: 'stop' });
    await first;
    session.newChat();
    const second = session.ask('hi again');
    transport.answer({ sessionId: 's-2', model: 'm', text: 'hello', finishReason: 'stop' });
    await second;

    assert.deepEqual(transport.sent[1], { prompt: 'hi again' });
    assert.equal(session.currentSessionId, 's-2');
    assert.ok(sink.events.includes('reset 0'));
    assert.equal(session.transcript.length, 1);
  });

  it('newSession on ask starts over', async () => {
    const { transport, session } = setup();
    const first = session.ask('hi');
    transport.answer({ sessionId: 's-1', model: 'm', text: 'hello', finishReason: 'stop' });
    await first;
    const second = session.ask('Explain this code.', { uri: 'file:///p/b.py', newSession: true });
    transport.answer({ sessionId: 's-2', model: 'm', text: 'ok', finishReason: 'stop' });
    await second;
    assert.deepEqual(transport.sent[1], { prompt: 'Explain this code.', uri: 'file:///p/b.py' });
  });

  it('remembers the session from the first piece, so a stopped first answer can be followed up', async () => {
    const { transport, session } = setup();
    const first = session.ask('long question');
    transport.current.onPartial({ sessionId: 's-9', delta: 'Par' });
    transport.fail({ code: -32800, message: 'Request cancelled' });
    const turn = await first;
    assert.ok(turn);
    assert.equal(turn.state, 'cancelled');
    assert.equal(turn.answer, 'Par');

    const second = session.ask('go on');
    transport.answer({ sessionId: 's-9', model: 'm', text: 'tial', finishReason: 'stop' });
    await second;
    assert.equal(transport.sent[1]?.sessionId, 's-9');
  });

  it('stop asks the transport to stop; a cancelled result keeps the text', async () => {
    const { transport, session } = setup();
    const asked = session.ask('q');
    transport.current.onPartial({ sessionId: 's', delta: 'so far' });
    session.stop();
    assert.equal(transport.stops, 1);
    transport.answer({ sessionId: 's', model: 'm', text: 'so far', finishReason: 'cancelled' });
    const turn = await asked;
    assert.ok(turn);
    assert.equal(turn.state, 'cancelled');
    assert.equal(turn.answer, 'so far');
    assert.equal(session.busy, false);
  });

  it('refuses a second question while one is streaming', async () => {
    const { transport, session } = setup();
    const first = session.ask('one');
    assert.equal(session.busy, true);
    assert.equal(await session.ask('two'), undefined);
    assert.equal(transport.sent.length, 1);
    transport.answer({ sessionId: 's', model: 'm', text: '', finishReason: 'stop' });
    await first;
  });

  it('a failure shows in the turn and goes to the error callback', async () => {
    const { transport, session, errors } = setup();
    const asked = session.ask('q');
    transport.fail({
      code: -32803,
      message: 'The endpoint rejected the API key (401). Sign in again.',
      data: { kind: 'auth', status: 401 },
    });
    const turn = await asked;
    assert.ok(turn);
    assert.equal(turn.state, 'error');
    assert.equal(turn.error, 'The endpoint rejected the API key (401). Sign in again.');
    assert.deepEqual(errors, [
      {
        cancelled: false,
        message: 'The endpoint rejected the API key (401). Sign in again.',
        action: { title: 'Sign In', command: 'qwen.signIn' },
      },
    ]);
  });

  it('a turn cleared by New chat while streaming does not come back', async () => {
    const { transport, sink, session } = setup();
    const asked = session.ask('q');
    session.newChat();
    assert.equal(transport.stops, 1);
    sink.events.length = 0;
    transport.current.onPartial({ sessionId: 's-old', delta: 'late' });
    transport.answer({ sessionId: 's-old', model: 'm', text: 'late', finishReason: 'cancelled' });
    await asked;
    await flush();
    assert.deepEqual(sink.events, ['busy false']);
    assert.equal(session.currentSessionId, undefined);
    assert.equal(session.transcript.length, 0);
  });
});
