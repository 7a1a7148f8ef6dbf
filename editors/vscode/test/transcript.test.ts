import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  appendPartial,
  cancelTurn,
  contextLabel,
  failTurn,
  finishTurn,
  newTurn,
  parsePartial,
  reportProgress,
} from '../src/transcript';

describe('streamed pieces', () => {
  it('accumulate in order; the final text equals their concatenation', () => {
    const turn = newTurn(1, 'Write a haiku');
    const pieces = ['Old ', 'pond', '—\na frog ', 'jumps in', '', '\nsound of water'];
    for (const delta of pieces) {
      appendPartial(turn, { sessionId: 's-1', delta });
    }
    assert.equal(turn.answer, pieces.join(''));

    const { streamedDiffered } = finishTurn(turn, {
      sessionId: 's-1',
      model: 'qwen3-coder-plus',
      text: pieces.join(''),
      finishReason: 'stop',
    });
    assert.equal(streamedDiffered, false);
    assert.equal(turn.answer, 'Old pond—\na frog jumps in\nsound of water');
    assert.equal(turn.state, 'done');
    assert.equal(turn.model, 'qwen3-coder-plus');
  });

  it('merged pieces (several deltas in one notification) land the same', () => {
    const one = newTurn(1, 'q');
    const merged = newTurn(2, 'q');
    for (const delta of ['a', 'b', 'c', 'd']) {
      appendPartial(one, { sessionId: 's', delta });
    }
    appendPartial(merged, { sessionId: 's', delta: 'ab' });
    appendPartial(merged, { sessionId: 's', delta: 'cd' });
    assert.equal(one.answer, merged.answer);
  });

  it('keeps reasoning apart from the answer', () => {
    const turn = newTurn(1, 'q');
    appendPartial(turn, { sessionId: 's', reasoning: 'Let me think. ' });
    appendPartial(turn, { sessionId: 's', reasoning: 'A frog.' });
    appendPartial(turn, { sessionId: 's', delta: 'Answer' });
    assert.equal(turn.reasoning, 'Let me think. A frog.');
    assert.equal(turn.answer, 'Answer');
  });

  it('reports whether a piece changed anything', () => {
    const turn = newTurn(1, 'q');
    assert.equal(appendPartial(turn, { sessionId: 's', delta: 'x' }), true);
    assert.equal(appendPartial(turn, { sessionId: 's', delta: '' }), false);
    assert.equal(appendPartial(turn, { sessionId: 's' }), false);
    assert.equal(appendPartial(turn, 'not an object'), false);
    assert.equal(appendPartial(turn, { delta: 5 }), false);
    assert.equal(turn.answer, 'x');
  });

  it('ignores pieces that arrive after the turn settled', () => {
    const turn = newTurn(1, 'q');
    finishTurn(turn, { sessionId: 's', model: 'm', text: 'done', finishReason: 'stop' });
    assert.equal(appendPartial(turn, { sessionId: 's', delta: 'late' }), false);
    assert.equal(turn.answer, 'done');
  });

  it('the result is the answer of record when pieces were lost', () => {
    const turn = newTurn(1, 'q');
    appendPartial(turn, { sessionId: 's', delta: 'Hel' });
    const { streamedDiffered } = finishTurn(turn, {
      sessionId: 's',
      model: 'm',
      text: 'Hello',
      reasoning: 'thought',
      finishReason: 'stop',
    });
    assert.equal(streamedDiffered, true);
    assert.equal(turn.answer, 'Hello');
    assert.equal(turn.reasoning, 'thought');
  });
});

describe('how a turn ends', () => {
  it('a cancelled result keeps what arrived', () => {
    const turn = newTurn(1, 'q');
    appendPartial(turn, { sessionId: 's', delta: 'partial' });
    finishTurn(turn, { sessionId: 's', model: 'm', text: 'partial', finishReason: 'cancelled' });
    assert.equal(turn.state, 'cancelled');
    assert.equal(turn.answer, 'partial');
  });

  it('a cancelled request keeps what arrived', () => {
    const turn = newTurn(1, 'q');
    appendPartial(turn, { sessionId: 's', delta: 'partial' });
    reportProgress(turn, 'partial');
    cancelTurn(turn);
    assert.equal(turn.state, 'cancelled');
    assert.equal(turn.answer, 'partial');
    assert.equal(turn.progress, undefined);
  });

  it('a failure keeps its message', () => {
    const turn = newTurn(1, 'q');
    failTurn(turn, 'No API key for /home/ana/project: set OPENAI_API_KEY.');
    assert.equal(turn.state, 'error');
    assert.equal(turn.error, 'No API key for /home/ana/project: set OPENAI_API_KEY.');
  });

  it('progress reports show while streaming only', () => {
    const turn = newTurn(1, 'q');
    assert.equal(reportProgress(turn, 'Waiting for the model'), true);
    assert.equal(reportProgress(turn, 'Waiting for the model'), false);
    assert.equal(turn.progress, 'Waiting for the model');
    finishTurn(turn, { sessionId: 's', model: 'm', text: '', finishReason: 'stop' });
    assert.equal(reportProgress(turn, 'late'), false);
    assert.equal(turn.progress, undefined);
  });
});

describe('parsePartial', () => {
  it('takes the protocol shapes', () => {
    assert.deepEqual(parsePartial({ sessionId: 's', delta: 'd' }), { sessionId: 's', delta: 'd' });
    assert.deepEqual(parsePartial({ sessionId: 's', reasoning: 'r' }), {
      sessionId: 's',
      reasoning: 'r',
    });
  });

  it('rejects values without a piece', () => {
    assert.equal(parsePartial({ sessionId: 's' }), undefined);
    assert.equal(parsePartial(null), undefined);
    assert.equal(parsePartial([1]), undefined);
  });
});

describe('contextLabel', () => {
  it('names the file and the lines, counted from 1', () => {
    const range = { start: { line: 2, character: 4 }, end: { line: 8, character: 1 } };
    assert.equal(contextLabel('/home/ana/project/app.py', range), 'app.py:3-9');
    assert.equal(contextLabel('C:\\src\\app.py', range), 'app.py:3-9');
  });

  it('a selection ending at the start of a line does not count that line', () => {
    const range = { start: { line: 2, character: 0 }, end: { line: 5, character: 0 } };
    assert.equal(contextLabel('app.py', range), 'app.py:3-5');
  });

  it('one line, or no range at all', () => {
    const range = { start: { line: 4, character: 0 }, end: { line: 4, character: 9 } };
    assert.equal(contextLabel('app.py', range), 'app.py:5');
    assert.equal(contextLabel('/a/app.py'), 'app.py');
  });
});
