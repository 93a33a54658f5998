// WhatsApp groups (server/transports/http_groups.py). Every change to a group comes back as a
// conversation event over Socket.IO, so these calls only return what the panel needs now.

import { api } from './api.js';

const base = (convId) => `/api/conversations/${encodeURIComponent(convId)}/group`;

export const MAX_PARTICIPANTS = 8;
export const MAX_SUBJECT = 128;
export const MAX_DESCRIPTION = 2048;

/** Whether the conversation is a WhatsApp group, and in which state. */
export function groupOf(conv) {
  return (conv && conv.group) || null;
}

export function isArchived(conv) {
  const g = groupOf(conv);
  return !!g && g.state === 'deleted';
}

/** Why nothing can be sent into this group now ('' when it can). */
export function sendBlock(conv) {
  const g = groupOf(conv);
  if (!g) return '';
  if (g.state === 'deleted') return 'This group was deleted: the conversation is a read-only archive.';
  if (g.state === 'failed') return `WhatsApp could not create this group: ${g.failure_reason || 'no reason given'}`;
  if (g.state === 'creating') return 'WhatsApp is still creating this group…';
  if (g.suspended) return 'WhatsApp suspended this group: outgoing messages are blocked until the suspension is lifted.';
  return '';
}

export function canManage(me) {
  return !!(me && me.can_manage_groups);
}

export function participantLabel(p) {
  const number = `+${p.wa_id}`;
  return p.name && p.name !== number ? `${p.name} (${number})` : number;
}

/** Approved templates of the group's account (the invite template is one of them). */
export function inviteTemplates(templates, conv) {
  return Object.values(templates || {})
    .filter((t) => t && t.account_id === conv.account_id && t.approval === 'approved')
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** "+49 151…, 0049…" typed in a box -> the distinct entries, trimmed. */
export function splitNumbers(text) {
  const seen = new Set();
  for (const part of (text || '').split(/[,;\n]+/)) {
    const v = part.trim();
    if (v) seen.add(v);
  }
  return [...seen];
}

export const groupApi = {
  senders: () => api('GET', '/api/groups/senders'),
  recipients: (q) => api('GET', `/api/groups/recipients?q=${encodeURIComponent(q)}`),
  create: (body) => api('POST', '/api/groups', body),
  update: (convId, body) => api('PATCH', base(convId), body),
  remove: (convId) => api('DELETE', base(convId)),
  inviteLink: (convId, reset = false) => api(reset ? 'POST' : 'GET', `${base(convId)}/invite-link`),
  removeParticipant: (convId, waId) => api('DELETE', `${base(convId)}/participants/${encodeURIComponent(waId)}`),
  joinRequests: (convId) => api('GET', `${base(convId)}/join-requests`),
  answer: (convId, requestId, approve) =>
    api('POST', `${base(convId)}/join-requests/${encodeURIComponent(requestId)}/${approve ? 'approve' : 'reject'}`),
  invite: (convId, body) => api('POST', `${base(convId)}/invites`, body),
  candidates: (convId, q, cursor) => {
    const params = new URLSearchParams();
    if (q) params.set('q', q);
    if (cursor) params.set('cursor', cursor);
    return api('GET', `${base(convId)}/invite-candidates?${params}`);
  },
};
