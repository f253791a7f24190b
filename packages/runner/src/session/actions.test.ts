import { describe, expect, it } from 'vitest';
import { ActionGate } from './actions.js';

function gate(spanOpen = false) {
  const state = { spanOpen };
  const g = new ActionGate({
    spanOpen: () => state.spanOpen,
    requiresAction: (ids) => ({
      id: 'i',
      type: 'session.status_idle',
      stop_reason: { type: 'requires_action', event_ids: ids },
      stop_details: null,
    }),
    resumed: () => ({ id: 'r', type: 'session.status_running' }),
  });
  return { g, state };
}
const allow = { kind: 'confirm', result: 'allow', message: null } as const;

describe('ActionGate', () => {
  it('goes idle only after the model request ended, listing every unanswered call of the turn', () => {
    const { g, state } = gate(true);
    g.expect('t1', 'e1', 'confirm');
    void g.wait('t1', 'confirm');
    g.expect('t2', 'e2', 'confirm');
    expect(g.check()).toEqual([]); // still streaming
    state.spanOpen = false;
    expect(g.check()).toMatchObject([{ stop_reason: { event_ids: ['e1', 'e2'] } }]);
    expect(g.check()).toEqual([]); // announced once
  });

  it('waits for a call the CLI asked about before the SDK handed over its message', () => {
    const { g } = gate();
    void g.wait('t1', 'confirm');
    expect(g.check()).toEqual([]); // no event id yet
    g.expect('t1', 'e1', 'confirm');
    expect(g.check()).toMatchObject([{ stop_reason: { event_ids: ['e1'] } }]);
  });

  it('a partial answer re-emits the idle with the rest; the last releases every waiting call', async () => {
    const { g } = gate();
    g.expect('t1', 'e1', 'confirm');
    g.expect('t2', 'e2', 'custom');
    const first = g.wait('t1', 'confirm');
    g.check();
    expect(g.answer('e1', allow)).toMatchObject([{ stop_reason: { event_ids: ['e2'] } }]);
    let released = false;
    void first.then(() => (released = true));
    await Promise.resolve();
    expect(released).toBe(false);
    expect(g.answer('e2', { kind: 'custom', content: [], isError: false })).toMatchObject([
      { type: 'session.status_running' },
    ]);
    expect(await first).toEqual(allow);
    // The second call asks later: its answer is already there.
    expect(await g.wait('t2', 'custom')).toMatchObject({ kind: 'custom' });
  });

  it('refuses answers to unknown calls, to answered calls and of the wrong kind', () => {
    const { g } = gate();
    g.expect('t1', 'e1', 'confirm');
    expect(g.answer('nope', allow)).toBeNull();
    expect(g.answer('e1', { kind: 'custom', content: [], isError: false })).toBeNull();
    expect(g.answer('e1', allow)).toEqual([]);
    expect(g.answer('e1', allow)).toBeNull();
  });

  it('reset cancels every waiting call', async () => {
    const { g } = gate();
    g.expect('t1', 'e1', 'confirm');
    const w = g.wait('t1', 'confirm');
    g.reset('the turn was interrupted');
    expect(await w).toEqual({ kind: 'cancelled', reason: 'the turn was interrupted' });
    expect(g.waiting).toBe(false);
  });
});
