// Settings › Accounts: the connected channel accounts with their status, Pause/Resume, and the
// three ways to add one (Email over IMAP, a WhatsApp number, an API channel).
import { useState } from 'preact/hooks';
import { post } from '../lib/api.js';
import {
  EMAIL_PROVIDERS,
  WHATSAPP_PROVIDERS,
  accountStatus,
  apiPayload,
  providerLabel,
  emailForm,
  emailPayload,
  validateApiForm,
  validateEmailForm,
  validateWhatsAppForm,
  whatsappForm,
  whatsappPayload,
} from '../lib/settings.js';
import { announce, reloadWorkspace } from '../store.js';
import { AccountDetail, EmailFields, TestResults, WhatsAppFields, webhookUrls } from './SettingsAccountDetail.jsx';
import { FormError, Loading, StatusBadge, TextField, useChecked, useList, useSubmit } from './SettingsCommon.jsx';
import { ChannelIcon } from './icons.jsx';

export function SettingsAccounts({ s }) {
  const { items, setItems, error } = useList('/api/accounts', 'accounts');
  const [view, setView] = useState({ mode: 'list' });
  const pause = useSubmit();

  if (!items) return <Loading error={error} what="accounts" />;
  const accounts = items.slice().sort((a, b) => a.name.localeCompare(b.name));

  const replace = (acc) => {
    setItems((l) => [...l.filter((a) => a.id !== acc.id), acc]);
    reloadWorkspace().catch(() => {});
  };

  const togglePause = (acc) =>
    pause.run(async () => {
      const paused = acc.status === 'paused';
      const res = await post(`/api/accounts/${encodeURIComponent(acc.id)}/${paused ? 'resume' : 'pause'}`, {});
      if (res && res.account) {
        replace(res.account);
        announce(`${acc.name} ${paused ? 'resumed' : 'paused'}`);
      }
    });

  if (view.mode === 'detail') {
    const acc = items.find((a) => a.id === view.id);
    if (acc) {
      return (
        <AccountDetail
          s={s}
          account={acc}
          autoTest={view.autoTest}
          onChanged={replace}
          onBack={() => setView({ mode: 'list' })}
          onTogglePause={() => togglePause(acc)}
          pauseBusy={pause.busy}
          pauseError={pause.formError}
        />
      );
    }
  }
  if (view.mode === 'add-email') {
    return (
      <AddEmail
        onCancel={() => setView({ mode: 'list' })}
        onCreated={(acc) => {
          replace(acc);
          setView({ mode: 'detail', id: acc.id, autoTest: true });
        }}
      />
    );
  }
  if (view.mode === 'add-whatsapp') {
    return (
      <AddWhatsApp
        onCancel={() => setView({ mode: 'list' })}
        onCreated={(acc) => {
          replace(acc);
          setView({ mode: 'detail', id: acc.id });
        }}
      />
    );
  }
  if (view.mode === 'add-api') {
    return <AddApi onDone={(acc) => setView(acc ? { mode: 'detail', id: acc.id } : { mode: 'list' })} onCreated={replace} />;
  }

  return (
    <div class="settings-section" data-testid="settings-accounts">
      <div class="settings-toolbar">
        <h3>Accounts</h3>
        <div class="settings-toolbar-actions">
          <button type="button" class="btn" onClick={() => setView({ mode: 'add-email' })} data-testid="account-add-email">
            Add Email
          </button>
          <button type="button" class="btn" onClick={() => setView({ mode: 'add-whatsapp' })} data-testid="account-add-whatsapp">
            Add WhatsApp Number
          </button>
          <button type="button" class="btn" onClick={() => setView({ mode: 'add-api' })} data-testid="account-add-api">
            Add API channel
          </button>
        </div>
      </div>
      <p class="muted small">Every connected channel. Each account is configured on its own: open it for its settings and authorized users.</p>
      <FormError message={pause.formError} />
      <ul class="settings-list" aria-label="Accounts">
        {accounts.map((a) => {
          const st = accountStatus(a);
          return (
            <li key={a.id} class="settings-item settings-item-col" data-testid="account-row" data-account-id={a.id}>
              <div class="settings-item-line">
                <span class={`row-icon channel-icon channel-${a.kind}`} aria-hidden="true">
                  <ChannelIcon kind={a.kind} />
                </span>
                <span class="settings-item-main">
                  <strong>{a.name}</strong> <span class="muted small">{providerLabel(a)}</span>
                </span>
                <StatusBadge account={a} />
                <span class="settings-item-actions">
                  <button
                    type="button"
                    class="btn btn-small"
                    disabled={pause.busy}
                    onClick={() => togglePause(a)}
                    aria-label={`${a.status === 'paused' ? 'Resume' : 'Pause'} ${a.name}`}
                    data-testid="account-pause"
                  >
                    {a.status === 'paused' ? 'Resume' : 'Pause'}
                  </button>
                  <button type="button" class="btn btn-small btn-primary" onClick={() => setView({ mode: 'detail', id: a.id })} aria-label={`Settings of ${a.name}`} data-testid="account-open">
                    Settings
                  </button>
                </span>
              </div>
              {st.reason ? (
                <p class="acct-reason small" data-testid="account-reason">
                  {st.reason}
                </p>
              ) : null}
            </li>
          );
        })}
      </ul>
      {accounts.length === 0 ? <p class="muted">No accounts yet: add one above.</p> : null}
    </div>
  );
}

function AddHeader({ title, onCancel }) {
  return (
    <div class="settings-toolbar">
      <h3>{title}</h3>
      <button type="button" class="btn btn-small" onClick={onCancel}>
        Back to accounts
      </button>
    </div>
  );
}

const EMAIL_FIELDS = ['name', 'address', 'sender_name', 'imap_host', 'imap_port', 'imap_security', 'smtp_host', 'smtp_port', 'smtp_security', 'username', 'password'];

function AddEmail({ onCancel, onCreated }) {
  const [provider, setProvider] = useState('imap');
  const [f, setF] = useState(() => emailForm(null));
  const { errors, check } = useChecked(() => validateEmailForm(f, { isNew: true }));
  const sub = useSubmit();
  const tester = useSubmit();
  const [test, setTest] = useState(null);

  const runTest = async () => {
    const errs = check();
    if (Object.keys(errs).length) return;
    setTest(null);
    const res = await tester.run(() => post('/api/accounts/test', emailPayload(f, null)), EMAIL_FIELDS);
    if (res) {
      setTest(res);
      announce(`IMAP ${res.imap && res.imap.ok ? 'connected' : 'failed'}, SMTP ${res.smtp && res.smtp.ok ? 'connected' : 'failed'}`);
    }
  };

  const submit = async (e) => {
    e.preventDefault();
    const errs = check();
    if (Object.keys(errs).length) return;
    const res = await sub.run(() => post('/api/accounts', emailPayload(f, null)), EMAIL_FIELDS);
    if (res && res.account) {
      announce(`${res.account.name} added; testing the connection`);
      onCreated(res.account);
    }
  };

  return (
    <div class="settings-section" data-testid="add-email">
      <AddHeader title="Add Email" onCancel={onCancel} />
      <fieldset class="field">
        <legend>Provider</legend>
        <div class="seg-row">
          {EMAIL_PROVIDERS.map((p) => (
            <label key={p.id} class={`radio radio-inline ${p.available ? '' : 'is-unavailable'}`}>
              <input type="radio" name="email-provider" value={p.id} checked={provider === p.id} disabled={!p.available} onChange={() => setProvider(p.id)} />
              <span>
                <strong>{p.label}</strong> <span class="muted small">{p.auth}</span>
                {p.available ? null : <span class="small unavailable-note"> — not available yet</span>}
              </span>
            </label>
          ))}
        </div>
        <span class="muted small">Connecting with Google or Microsoft sign-in is not built yet: use IMAP with an app password for those mailboxes.</span>
      </fieldset>
      <form class="form settings-form" onSubmit={submit} aria-label="IMAP account" noValidate>
        <EmailFields f={f} setF={setF} err={(k) => errors[k] || sub.fieldError(k) || tester.fieldError(k)} isNew />
        <FormError message={sub.formError || tester.formError} />
        <TestResults result={test} />
        <div class="form-actions">
          <button type="button" class="btn" onClick={onCancel}>
            Cancel
          </button>
          <button type="button" class="btn" onClick={runTest} disabled={tester.busy} data-testid="email-test-unsaved">
            {tester.busy ? 'Testing…' : 'Test connection'}
          </button>
          <button type="submit" class="btn btn-primary" disabled={sub.busy} data-testid="email-create">
            {sub.busy ? 'Saving…' : 'Save and test connection'}
          </button>
        </div>
      </form>
    </div>
  );
}

function AddWhatsApp({ onCancel, onCreated }) {
  const [f, setF] = useState(() => whatsappForm(null, 'cloud'));
  const { errors, check } = useChecked(() => validateWhatsAppForm(f, null));
  const sub = useSubmit();

  const submit = async (e) => {
    e.preventDefault();
    const errs = check();
    if (Object.keys(errs).length) return;
    const res = await sub.run(() => post('/api/accounts', whatsappPayload(f, null)), Object.keys(f).concat(['access_token', 'app_secret', 'verify_token', 'auth_token']));
    if (res && res.account) {
      announce(`${res.account.name} added`);
      onCreated(res.account);
    }
  };

  return (
    <div class="settings-section" data-testid="add-whatsapp">
      <AddHeader title="Add WhatsApp Number" onCancel={onCancel} />
      <fieldset class="field">
        <legend>Provider</legend>
        <div class="seg-row">
          {WHATSAPP_PROVIDERS.map((p) => (
            <label key={p.id} class="radio radio-inline">
              <input type="radio" name="wa-provider" value={p.id} checked={f.provider === p.id} onChange={() => setF((x) => ({ ...x, provider: p.id, secrets: {} }))} data-testid={`wa-provider-${p.id}`} />
              <span>
                <strong>{p.label}</strong>
              </span>
            </label>
          ))}
        </div>
        <span class="muted small">
          Meta’s embedded signup is not built in: create the WhatsApp Business Account and number at {f.provider === 'cloud' ? 'Meta' : 'Twilio'} first, then enter their
          ids and tokens here.
        </span>
      </fieldset>
      <form class="form settings-form" onSubmit={submit} aria-label="WhatsApp number" noValidate>
        <WhatsAppFields f={f} setF={setF} err={(k) => errors[k] || errors[`secret_${k}`] || sub.fieldError(k)} account={null} />
        <FormError message={sub.formError} />
        <div class="form-actions">
          <button type="button" class="btn" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" disabled={sub.busy} data-testid="whatsapp-create">
            {sub.busy ? 'Saving…' : 'Save'}
          </button>
        </div>
      </form>
    </div>
  );
}

function AddApi({ onDone, onCreated }) {
  const [f, setF] = useState({ name: '', webhook_url: '' });
  const { errors, check } = useChecked(() => validateApiForm(f));
  const [created, setCreated] = useState(null); // {account, credentials}: shown once
  const sub = useSubmit();

  const submit = async (e) => {
    e.preventDefault();
    const errs = check();
    if (Object.keys(errs).length) return;
    const res = await sub.run(() => post('/api/accounts', apiPayload(f)), ['name', 'webhook_url']);
    if (res && res.account) {
      setCreated({ account: res.account, credentials: res.credentials || {} });
      onCreated(res.account);
      announce(`${res.account.name} added. Copy its token now: it is shown only once.`);
    }
  };

  if (created) {
    const { account, credentials } = created;
    const urls = webhookUrls(account);
    return (
      <div class="settings-section" data-testid="api-created">
        <div class="settings-toolbar">
          <h3>{account.name} is connected</h3>
        </div>
        <div class="once-box" role="region" aria-label="Credentials, shown once" data-testid="api-credentials">
          <p class="notice">
            <strong>Copy these now.</strong> They are shown only this once: the server never shows them again (it lists only that they are set).
          </p>
          <CopyValue label="Channel token (Authorization: Bearer …)" value={credentials.token} testid="api-token" />
          <CopyValue label="Webhook secret (verifies X-Conversations-Signature)" value={credentials.webhook_secret} testid="api-webhook-secret" />
          {urls.map((u) => (
            <CopyValue key={u.label} label={u.label} value={u.url} />
          ))}
        </div>
        <div class="form-actions">
          <button type="button" class="btn" onClick={() => onDone(null)} data-testid="api-done">
            Done
          </button>
          <button type="button" class="btn btn-primary" onClick={() => onDone(account)}>
            Open its settings
          </button>
        </div>
      </div>
    );
  }

  return (
    <div class="settings-section" data-testid="add-api">
      <AddHeader title="Add API channel" onCancel={() => onDone(null)} />
      <p class="muted small">An external system (a web chat, a shop) posts customer messages with a token and receives replies at its webhook.</p>
      <form class="form settings-form" onSubmit={submit} aria-label="API channel" noValidate>
        <TextField label="Name" value={f.name} onInput={(v) => setF((x) => ({ ...x, name: v }))} error={errors.name || sub.fieldError('name')} testid="api-name" />
        <TextField
          label="Webhook URL (optional)"
          hint="Where replies are POSTed, signed with the webhook secret"
          type="url"
          value={f.webhook_url}
          onInput={(v) => setF((x) => ({ ...x, webhook_url: v }))}
          error={errors.webhook_url || sub.fieldError('webhook_url')}
          testid="api-webhook"
        />
        <FormError message={sub.formError} />
        <div class="form-actions">
          <button type="button" class="btn" onClick={() => onDone(null)}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" disabled={sub.busy} data-testid="api-create">
            {sub.busy ? 'Creating…' : 'Create channel'}
          </button>
        </div>
      </form>
    </div>
  );
}

export function CopyValue({ label, value, testid }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div class="copy-value">
      <span class="small muted">{label}</span>
      <div class="copy-row">
        <code class="copy-code" data-testid={testid}>
          {value}
        </code>
        <button type="button" class="btn btn-small" onClick={copy} aria-label={`Copy ${label}`}>
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
    </div>
  );
}
