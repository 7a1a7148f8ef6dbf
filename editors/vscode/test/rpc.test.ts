/**
 * runCommand and runStreamed over a real JSON-RPC connection to an in-process
 * fake server, checking the messages on the wire.
 */

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';

import {
  createProtocolConnection,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  type CancellationToken,
  type ExecuteCommandParams,
  type ProtocolConnection,
} from 'vscode-languageserver-protocol/node';

import { ChatSession, type ChatSink } from '../src/chat';
import type { ChatResult } from '../src/protocol';
import { runCommand, runStreamed, type StreamOptions } from '../src/rpc';

type Handler = (
  params: ExecuteCommandParams,
  token: CancellationToken,
  server: ProtocolConnection,
) => Promise<unknown>;

interface Wire {
  client: ProtocolConnection;
  server: ProtocolConnection;
  /** Notifications the server got, as `method token`. */
  notifications: string[];
  requests: ExecuteCommandParams[];
  handle(handler: Handler): void;
  close(): void;
}

function connect(): Wire {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const client = createProtocolConnection(
    new StreamMessageReader(toClient),
    new StreamMessageWriter(toServer),
  );
  const server = createProtocolConnection(
    new StreamMessageReader(toServer),
    new StreamMessageWriter(toClient),
  );
  const notifications: string[] = [];
  const requests: ExecuteCommandParams[] = [];
  let handler: Handler = () => Promise.resolve(null);
  server.onRequest(
    'workspace/executeCommand',
    (params: ExecuteCommandParams, token: CancellationToken) => {
      requests.push(params);
      return handler(params, token, server);
    },
  );
  server.onNotification('window/workDoneProgress/cancel', (params: { token: string }) => {
    notifications.push(`window/workDoneProgress/cancel ${params.token}`);
  });
  client.listen();
  server.listen();
  return {
    client,
    server,
    notifications,
    requests,
    handle: (h) => (handler = h),
    close: () => {
      client.dispose();
      server.dispose();
    },
  };
}

function sequentialTokens(): StreamOptions['newToken'] {
  let n = 0;
  return () => `token-${++n}`;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function progress(server: ProtocolConnection, token: unknown, value: unknown): Promise<void> {
  return server.sendNotification('$/progress', { token, value });
}

function chatTokens(params: ExecuteCommandParams): { partial: string; work: string } {
  const arg = params.arguments?.[0] as { partialResultToken: string };
  return { partial: arg.partialResultToken, work: params.workDoneToken as string };
}

/** Waits until `token` is cancelled (or `ms` passes) and says which. */
function cancelledWithin(token: CancellationToken, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (token.isCancellationRequested) {
      resolve(true);
      return;
    }
    const timer = setTimeout(() => resolve(false), ms);
    token.onCancellationRequested(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('commands over JSON-RPC', () => {
  let wire: Wire;
  beforeEach(() => {
    wire = connect();
  });
  afterEach(() => {
    wire.close();
  });

  it('a plain command sends its argument object and no token', async () => {
    wire.handle(() => Promise.resolve({ signedIn: true }));
    const result = await runCommand(wire.client, 'qwen.status', { uri: 'file:///p' });
    assert.deepEqual(result, { signedIn: true });
    assert.deepEqual(wire.requests, [
      { command: 'qwen.status', arguments: [{ uri: 'file:///p' }] },
    ]);
  });

  it('a server error arrives as code, message and data', async () => {
    wire.handle(() =>
      Promise.reject(
        new ResponseError(-32803, 'No API key for /p: set OPENAI_API_KEY.', { kind: 'config' }),
      ),
    );
    await assert.rejects(runCommand(wire.client, 'qwen.listModels', {}), {
      code: -32803,
      message: 'No API key for /p: set OPENAI_API_KEY.',
      data: { kind: 'config' },
    });
  });

  it('a streamed chat: both tokens on the wire, pieces and reports in order', async () => {
    wire.handle(async (params, _token, server) => {
      const { partial, work } = chatTokens(params);
      await progress(server, work, { kind: 'begin', title: 'Qwen', cancellable: true });
      await progress(server, partial, { sessionId: 's-1', reasoning: 'hmm' });
      await progress(server, partial, { sessionId: 's-1', delta: 'Hello' });
      await progress(server, work, { kind: 'report', message: 'Hello' });
      await progress(server, partial, { sessionId: 's-1', delta: ', world' });
      await progress(server, work, { kind: 'end' });
      return { sessionId: 's-1', model: 'm', text: 'Hello, world', finishReason: 'stop' };
    });
    const partials: unknown[] = [];
    const reports: string[] = [];
    const running = runStreamed<ChatResult>(
      wire.client,
      { command: 'qwen.chat', args: { prompt: 'hi', uri: 'file:///p/a.py' } },
      { onPartial: (v) => partials.push(v), onProgress: (m) => reports.push(m) },
      { newToken: sequentialTokens() },
    );
    const result = await running.result;

    assert.deepEqual(wire.requests, [
      {
        command: 'qwen.chat',
        arguments: [{ prompt: 'hi', uri: 'file:///p/a.py', partialResultToken: 'token-1' }],
        workDoneToken: 'token-2',
      },
    ]);
    assert.deepEqual(partials, [
      { sessionId: 's-1', reasoning: 'hmm' },
      { sessionId: 's-1', delta: 'Hello' },
      { sessionId: 's-1', delta: ', world' },
    ]);
    assert.deepEqual(reports, ['Hello']);
    assert.equal(result.text, 'Hello, world');
  });

  it('pieces that arrive after the answer are not delivered', async () => {
    let server: ProtocolConnection | undefined;
    let partialToken = '';
    wire.handle((params, _token, s) => {
      server = s;
      partialToken = chatTokens(params).partial;
      return Promise.resolve({ sessionId: 's', model: 'm', text: '', finishReason: 'stop' });
    });
    const partials: unknown[] = [];
    await runStreamed(
      wire.client,
      { command: 'qwen.chat', args: { prompt: 'hi' } },
      {
        onPartial: (v) => partials.push(v),
        onProgress: () => undefined,
      },
    ).result;
    assert.ok(server);
    await progress(server, partialToken, { sessionId: 's', delta: 'late' });
    await sleep(20);
    assert.deepEqual(partials, []);
  });

  it('Stop sends window/workDoneProgress/cancel on the work-done token', async () => {
    let release: () => void = () => undefined;
    const cancelled = new Promise<void>((resolve) => (release = resolve));
    let requestCancelled = false;
    wire.server.onNotification('window/workDoneProgress/cancel', () => release());
    wire.handle(async (params, token, server) => {
      const { partial } = chatTokens(params);
      await progress(server, partial, { sessionId: 's', delta: 'so far' });
      await cancelled;
      requestCancelled = token.isCancellationRequested;
      return { sessionId: 's', model: 'm', text: 'so far', finishReason: 'cancelled' };
    });
    const partials: unknown[] = [];
    const running = runStreamed<ChatResult>(
      wire.client,
      { command: 'qwen.chat', args: { prompt: 'long' } },
      { onPartial: (v) => partials.push(v), onProgress: () => undefined },
      { newToken: sequentialTokens(), stopGraceMs: 30 },
    );
    while (partials.length === 0) {
      await sleep(5);
    }
    running.stop();
    running.stop();
    const result = await running.result;
    await sleep(60);

    assert.equal(result.finishReason, 'cancelled');
    assert.equal(result.text, 'so far');
    assert.equal(requestCancelled, false);
  });

  it('when the server ignores the work-done cancel, the request is cancelled', async () => {
    wire.handle(async (_params, token) => {
      const cancelled = await cancelledWithin(token, 2_000);
      throw new ResponseError(-32800, cancelled ? 'Request cancelled' : 'not cancelled');
    });
    const running = runStreamed(
      wire.client,
      { command: 'qwen.chat', args: { prompt: 'long' } },
      { onPartial: () => undefined, onProgress: () => undefined },
      { newToken: sequentialTokens(), stopGraceMs: 20 },
    );
    await sleep(10);
    running.stop();
    await assert.rejects(running.result, { code: -32800, message: 'Request cancelled' });
    assert.deepEqual(wire.notifications, ['window/workDoneProgress/cancel token-2']);
  });

  it('a chat session over the wire keeps its session id across turns', async () => {
    let turn = 0;
    wire.handle(async (params, _token, server) => {
      turn += 1;
      const { partial } = chatTokens(params);
      const text = `answer ${turn}`;
      for (const piece of [text.slice(0, 3), text.slice(3)]) {
        await progress(server, partial, { sessionId: 'sess', delta: piece });
      }
      return { sessionId: 'sess', model: 'm', text, finishReason: 'stop' };
    });
    const sink: ChatSink = {
      turnChanged: () => undefined,
      reset: () => undefined,
      busyChanged: () => undefined,
    };
    const session = new ChatSession(
      {
        chat: (args, handlers) =>
          runStreamed<ChatResult>(wire.client, { command: 'qwen.chat', args }, handlers),
      },
      sink,
    );
    const first = await session.ask('one', { uri: 'file:///p/a.py' });
    const second = await session.ask('two');

    assert.equal(first?.answer, 'answer 1');
    assert.equal(second?.answer, 'answer 2');
    const args = wire.requests.map((r) => {
      const { partialResultToken, ...rest } = r.arguments?.[0] as Record<string, unknown>;
      assert.equal(typeof partialResultToken, 'string');
      return rest;
    });
    assert.deepEqual(args, [
      { prompt: 'one', uri: 'file:///p/a.py' },
      { prompt: 'two', uri: 'file:///p/a.py', sessionId: 'sess' },
    ]);
  });
});
