import { useState } from 'preact/hooks';
import { post } from '../lib/api.js';
import { formatFull } from '../lib/logic.js';
import { sendableTemplates, timeLeft, windowState } from '../lib/whatsapp.js';
import { toast } from '../store.js';

/** The 24-hour window of a WhatsApp conversation: how long free-form replies are allowed
 * and, once it closed, the approved templates that may still go out. */
export function WhatsAppWindow({ s, conv }) {
  const [templateId, setTemplateId] = useState('');
  const [sending, setSending] = useState(false);
  const state = windowState(conv, s.clock);
  if (state === 'none') return null;
  const tz = s.me.time_zone;

  if (state === 'open' || state === 'closing') {
    return (
      <div class={`banner wa-window ${state === 'closing' ? 'banner-warn' : ''}`} data-testid="wa-window" data-state={state}>
        WhatsApp window open: free-form replies until {formatFull(conv.window_expires_at, tz)} ({timeLeft(conv, s.clock)} left).
      </div>
    );
  }

  const choices = sendableTemplates(s.templates, conv, s.clock);
  const chosen = choices.find((t) => t.id === templateId) || choices[0];
  const send = async () => {
    if (!chosen || sending) return;
    setSending(true);
    try {
      await post(`/api/conversations/${conv.id}/messages`, {
        template_id: chosen.id,
        idempotency_key: `tpl-${conv.id}-${chosen.id}-${Date.now()}`,
      });
      toast(`Template "${chosen.name}" sent.`, 'info');
    } catch (err) {
      toast(err.message || 'The template could not be sent.', 'error');
    } finally {
      setSending(false);
    }
  };

  return (
    <div class="banner banner-warn wa-window" role="status" data-testid="wa-window" data-state={state}>
      <span>
        {state === 'never'
          ? 'This customer has not written yet: start with an approved Start template.'
          : 'The 24-hour WhatsApp window is closed: only an approved template can be sent. Notes still work.'}
      </span>
      {choices.length ? (
        <>
          <select
            aria-label="Approved template"
            value={chosen ? chosen.id : ''}
            onChange={(e) => setTemplateId(e.currentTarget.value)}
            data-testid="wa-template-select"
          >
            {choices.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
          </select>
          <button type="button" class="btn btn-primary btn-small" onClick={send} disabled={sending} data-testid="wa-template-send">
            {sending ? 'Sending…' : 'Send template'}
          </button>
        </>
      ) : (
        <span class="muted">No approved template for this account yet.</span>
      )}
    </div>
  );
}
