import { describe, expect, it } from 'vitest';
import { assistantAnalysis, isAssistantNote, quickActions, referenceLabel } from '../src/lib/assistant.js';

const note = (data, extra = {}) => ({
  id: 'msg_1',
  kind: 'note',
  sender: { type: 'assistant', id: 'assistant', name: 'Assistant' },
  text: 'Sentiment: frustrated',
  data,
  ...extra,
});

const DATA = {
  version: 1,
  analyzer: 'rules-v1',
  sentiment: 'frustrated',
  urgent: true,
  references: [{ kind: 'order', value: '4411', text: 'order #4411' }],
  suggested_tags: [{ id: 'tag_order', name: 'Order' }],
  actions: [
    { type: 'assign_to_me', label: 'Assign to me' },
    { type: 'set_pending', label: 'Set pending' },
    { type: 'link_customer', label: 'Link customer' },
    { type: 'add_tag', label: 'Add tag Order', tag_id: 'tag_order' },
  ],
  signals: ['negative: unacceptable'],
};

describe('assistant notes', () => {
  it('recognizes only the assistant’s notes', () => {
    expect(isAssistantNote(note(DATA))).toBe(true);
    expect(isAssistantNote(note(DATA, { sender: { type: 'user', id: 'usr_a', name: 'Ann' } }))).toBe(false);
    expect(isAssistantNote(note(DATA, { kind: 'inbound' }))).toBe(false);
    expect(assistantAnalysis({ kind: 'note', sender: { type: 'user' }, data: DATA })).toBeNull();
  });

  it('reads the analysis and drops what it cannot act on', () => {
    const a = assistantAnalysis(
      note({ ...DATA, sentiment: 'elated', actions: [...DATA.actions, { type: 'delete_everything' }, { type: 'add_tag' }] }),
    );
    expect(a.sentiment).toBe('neutral');
    expect(a.urgent).toBe(true);
    expect(a.references).toEqual(DATA.references);
    expect(a.actions.map((x) => x.type)).toEqual(['assign_to_me', 'set_pending', 'link_customer', 'add_tag']);
    expect(assistantAnalysis(note(undefined))).toBeNull();
  });

  it('labels references as agents write them', () => {
    expect(referenceLabel({ kind: 'order', value: '4411' })).toBe('Order #4411');
    expect(referenceLabel({ kind: 'invoice', value: 'INV-0042' })).toBe('Invoice INV-0042');
    expect(referenceLabel({ kind: 'quote', value: 'Q-2024-17' })).toBe('Quote Q-2024-17');
  });

  it('shows which quick actions are already done for this agent', () => {
    const a = assistantAnalysis(note(DATA));
    const tags = { tag_order: { id: 'tag_order', name: 'Orders' } };
    const fresh = quickActions(a, { id: 'c1', status: 'open', tag_ids: [] }, 'usr_me', tags);
    expect(fresh.map((x) => [x.type, x.label, x.done])).toEqual([
      ['assign_to_me', 'Assign to me', false],
      ['set_pending', 'Set pending', false],
      ['link_customer', 'Link customer', false],
      ['add_tag', 'Add tag Orders', false], // the tag's current name
    ]);
    const handled = quickActions(
      a,
      { id: 'c1', status: 'pending', tag_ids: ['tag_order'], assignee_user_id: 'usr_me', customer_id: 'cus_1' },
      'usr_me',
      tags,
    );
    expect(handled.every((x) => x.done)).toBe(true);
    // Assigned to someone else: "Assign to me" is still on offer.
    const other = quickActions(a, { id: 'c1', status: 'open', tag_ids: [], assignee_user_id: 'usr_x' }, 'usr_me', tags);
    expect(other[0]).toMatchObject({ type: 'assign_to_me', done: false });
    // A tag deleted since the analysis is not offered.
    expect(quickActions(a, { id: 'c1', status: 'open', tag_ids: [] }, 'usr_me', {}).map((x) => x.type)).not.toContain('add_tag');
  });
});
