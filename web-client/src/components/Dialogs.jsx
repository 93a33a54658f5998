import { useEffect, useRef, useState } from 'preact/hooks';
import { CHANNEL_LABELS, SEND_KEY_LABELS } from '../lib/logic.js';
import { createConversation, selectConversation, toast, updateMe } from '../store.js';
import { IconX } from './icons.jsx';

let modalSeq = 0;

/** A native modal <dialog>: focus is trapped by the browser, Escape closes. */
export function Modal({ title, onClose, children, testid, wide = false }) {
  const ref = useRef(null);
  const [titleId] = useState(() => `modal-title-${++modalSeq}`);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open && typeof d.showModal === 'function') d.showModal();
    const onCancel = (e) => {
      e.preventDefault();
      onClose();
    };
    d.addEventListener('cancel', onCancel);
    return () => d.removeEventListener('cancel', onCancel);
  }, []);
  return (
    <dialog
      ref={ref}
      class={`modal ${wide ? 'modal-wide' : ''}`}
      aria-labelledby={titleId}
      data-testid={testid}
      onClick={(e) => {
        if (e.target === ref.current) onClose();
      }}
    >
      <div class="modal-body">
        <header class="modal-head">
          <h2 id={titleId}>{title}</h2>
          <button type="button" class="btn btn-icon" aria-label="Close" onClick={onClose}>
            <IconX />
          </button>
        </header>
        {children}
      </div>
    </dialog>
  );
}

function timeZones() {
  try {
    if (typeof Intl.supportedValuesOf === 'function') return Intl.supportedValuesOf('timeZone');
  } catch {
    /* old browser */
  }
  return ['UTC'];
}

export function SettingsDialog({ s, onClose }) {
  const [name, setName] = useState(s.me.name || '');
  const [tz, setTz] = useState(s.me.time_zone || 'UTC');
  const [sendKey, setSendKey] = useState(s.me.send_key || 'enter');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const zones = timeZones();
  if (!zones.includes(tz)) zones.unshift(tz);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await updateMe({ name: name.trim(), time_zone: tz, send_key: sendKey });
      toast('Settings saved.', 'success');
      onClose();
    } catch (err) {
      setError(err.message);
      setBusy(false);
    }
  };

  return (
    <Modal title="Your settings" onClose={onClose} testid="settings-dialog">
      <form onSubmit={submit} class="form">
        <label class="field">
          <span>Name</span>
          <input class="input" value={name} required onInput={(e) => setName(e.currentTarget.value)} data-testid="settings-name" />
        </label>
        <label class="field">
          <span>Time zone</span>
          <select class="input" value={tz} onChange={(e) => setTz(e.currentTarget.value)} data-testid="settings-tz">
            {zones.map((z) => (
              <option key={z} value={z}>
                {z}
              </option>
            ))}
          </select>
        </label>
        <fieldset class="field radio-group">
          <legend>Send messages with</legend>
          {['enter', 'ctrl_enter', 'none'].map((k) => (
            <label key={k} class="radio">
              <input
                type="radio"
                name="send_key"
                value={k}
                checked={sendKey === k}
                onChange={() => setSendKey(k)}
                data-testid={`send-key-${k}`}
              />
              <span>
                <strong>{k === 'enter' ? 'Enter' : k === 'ctrl_enter' ? 'Ctrl+Enter' : 'None'}</strong>
                <span class="muted small"> — {SEND_KEY_LABELS[k]}</span>
              </span>
            </label>
          ))}
        </fieldset>
        {error ? (
          <p class="form-error" role="alert">
            {error}
          </p>
        ) : null}
        <div class="form-actions">
          <button type="button" class="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" disabled={busy} data-testid="settings-save">
            {busy ? 'Saving…' : 'Save'}
          </button>
        </div>
      </form>
    </Modal>
  );
}

const RECIPIENT = {
  email: { label: 'Email address', type: 'email', placeholder: 'name@example.com' },
  whatsapp: { label: 'Phone number', type: 'tel', placeholder: '+15551234567' },
  api: { label: 'Recipient id', type: 'text', placeholder: 'The external system’s contact id' },
};

export function NewConversationDialog({ s, onClose }) {
  const accounts = Object.values(s.accounts).filter((a) => a.status !== 'paused');
  const [accountId, setAccountId] = useState(accounts[0] ? accounts[0].id : '');
  const [to, setTo] = useState('');
  const [name, setName] = useState('');
  const [subject, setSubject] = useState('');
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const account = s.accounts[accountId];
  const kind = account ? account.kind : 'api';
  const r = RECIPIENT[kind] || RECIPIENT.api;
  const startTemplates = s.templates.filter((t) => t.account_id === accountId && (t.type === 'start' || kind !== 'whatsapp'));

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const conv = await createConversation({ accountId, to: to.trim(), name: name.trim(), subject: subject.trim(), text: text.trim() });
      toast('Conversation started.', 'success');
      onClose();
      if (conv && conv.id) selectConversation(conv.id);
    } catch (err) {
      setError(err.message);
      setBusy(false);
    }
  };

  const pickTemplate = (id) => {
    const t = s.templates.find((x) => x.id === id);
    if (!t) return;
    // Rendering needs a conversation; until one exists the raw content is the starting point.
    setText(t.content || '');
  };

  return (
    <Modal title="New conversation" onClose={onClose} testid="new-conversation-dialog">
      <form onSubmit={submit} class="form">
        <label class="field">
          <span>From account</span>
          <select class="input" value={accountId} onChange={(e) => setAccountId(e.currentTarget.value)} required data-testid="new-account">
            {accounts.map((a) => (
              <option key={a.id} value={a.id}>
                {a.name} ({CHANNEL_LABELS[a.kind] || a.kind})
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>{r.label}</span>
          <input class="input" type={r.type} value={to} placeholder={r.placeholder} required onInput={(e) => setTo(e.currentTarget.value)} data-testid="new-to" />
        </label>
        <label class="field">
          <span>
            Name <span class="muted">(optional)</span>
          </span>
          <input class="input" value={name} onInput={(e) => setName(e.currentTarget.value)} data-testid="new-name" />
        </label>
        {kind === 'email' ? (
          <label class="field">
            <span>Subject</span>
            <input class="input" value={subject} onInput={(e) => setSubject(e.currentTarget.value)} data-testid="new-subject" />
          </label>
        ) : null}
        {kind === 'whatsapp' ? (
          <p class="notice small">WhatsApp needs an approved template to contact someone for the first time.</p>
        ) : null}
        {startTemplates.length ? (
          <label class="field">
            <span>
              Start from a template <span class="muted">(optional)</span>
            </span>
            <select class="input" value="" onChange={(e) => pickTemplate(e.currentTarget.value)} data-testid="new-template">
              <option value="">Choose…</option>
              {startTemplates.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        <label class="field">
          <span>Message</span>
          <textarea class="input" rows={5} value={text} required onInput={(e) => setText(e.currentTarget.value)} data-testid="new-text" />
        </label>
        {error ? (
          <p class="form-error" role="alert" data-testid="new-error">
            {error}
          </p>
        ) : null}
        <div class="form-actions">
          <button type="button" class="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" disabled={busy || !accountId} data-testid="new-submit">
            {busy ? 'Starting…' : 'Start conversation'}
          </button>
        </div>
      </form>
    </Modal>
  );
}
