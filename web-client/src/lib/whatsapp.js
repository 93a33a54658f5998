// WhatsApp's 24-hour window, as the server computes it (server/domain/whatsapp_window.py).

/** 'none' (not WhatsApp), 'open', 'closing' (under an hour left), 'closed' or 'never' (the
 * customer has not written yet). `nowMs` is the store's clock. */
export function windowState(conv, nowMs) {
  if (!conv || conv.channel !== 'whatsapp') return 'none';
  const expires = conv.window_expires_at;
  if (!expires) return 'never';
  const left = expires * 1000 - nowMs;
  if (left <= 0) return 'closed';
  return left < 3600 * 1000 ? 'closing' : 'open';
}

/** Only templates go out while the window is closed (or before it ever opened). */
export function templateOnly(conv, nowMs) {
  const state = windowState(conv, nowMs);
  return state === 'closed' || state === 'never';
}

/** Approved templates of this account that may be sent in this state, by name. */
export function sendableTemplates(templates, conv, nowMs) {
  const state = windowState(conv, nowMs);
  const types = state === 'never' ? ['start'] : state === 'closed' ? ['window', 'start'] : null;
  return (templates || [])
    .filter((t) => t.account_id === conv.account_id && t.approval === 'approved')
    .filter((t) => !types || types.includes(t.type))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** "3 h 12 min" / "12 min" until the window closes. */
export function timeLeft(conv, nowMs) {
  const minutes = Math.max(0, Math.floor((conv.window_expires_at * 1000 - nowMs) / 60000));
  const h = Math.floor(minutes / 60);
  return h ? `${h} h ${minutes % 60} min` : `${minutes} min`;
}
