// The assistant's private notes: reading the analysis a note carries (message.data, see
// docs/api.md "Assistant notes") and deciding which quick actions still make sense.

export const SENTIMENT_LABELS = {
  positive: 'Positive',
  neutral: 'Neutral',
  frustrated: 'Frustrated',
  urgent: 'Urgent',
};

export const REFERENCE_LABELS = { order: 'Order', quote: 'Quote', invoice: 'Invoice' };

const ACTION_TYPES = new Set(['assign_to_me', 'set_pending', 'link_customer', 'add_tag']);

const list = (v) => (Array.isArray(v) ? v : []);

export function isAssistantNote(m) {
  return !!(m && m.kind === 'note' && m.sender && m.sender.type === 'assistant');
}

/** The analysis on an assistant note, cleaned up; null for any other message. */
export function assistantAnalysis(m) {
  if (!isAssistantNote(m) || !m.data || typeof m.data !== 'object') return null;
  const d = m.data;
  return {
    sentiment: SENTIMENT_LABELS[d.sentiment] ? d.sentiment : 'neutral',
    urgent: d.urgent === true,
    references: list(d.references).filter((r) => r && typeof r.value === 'string' && r.value),
    suggestedTags: list(d.suggested_tags).filter((t) => t && typeof t.id === 'string'),
    actions: list(d.actions).filter((a) => a && ACTION_TYPES.has(a.type) && (a.type !== 'add_tag' || a.tag_id)),
    signals: list(d.signals).filter((s) => typeof s === 'string'),
    analyzer: typeof d.analyzer === 'string' ? d.analyzer : '',
  };
}

export function referenceLabel(ref) {
  const kind = REFERENCE_LABELS[ref.kind] || 'Reference';
  return /^\d/.test(ref.value) ? `${kind} #${ref.value}` : `${kind} ${ref.value}`;
}

/**
 * The note's quick actions as buttons for this agent, now: `done` when the conversation
 * already is that way (tagged, assigned to me, pending, customer linked), so the button shows
 * it instead of offering it again. An action on a tag that was deleted since is dropped.
 */
export function quickActions(analysis, conv, meId, tags) {
  if (!analysis || !conv) return [];
  const out = [];
  for (const a of analysis.actions) {
    if (a.type === 'add_tag') {
      const tag = tags && tags[a.tag_id];
      if (!tag || tag.deleted) continue;
      const done = (conv.tag_ids || []).includes(a.tag_id);
      out.push({ ...a, label: `Add tag ${tag.name}`, done, doneLabel: `Tagged ${tag.name}` });
    } else if (a.type === 'assign_to_me') {
      out.push({ ...a, label: 'Assign to me', done: !!meId && conv.assignee_user_id === meId, doneLabel: 'Assigned to you' });
    } else if (a.type === 'set_pending') {
      out.push({ ...a, label: 'Set pending', done: conv.status === 'pending', doneLabel: 'Pending' });
    } else if (a.type === 'link_customer') {
      out.push({ ...a, label: 'Link customer', done: !!conv.customer_id, doneLabel: 'Customer linked' });
    }
  }
  return out;
}
