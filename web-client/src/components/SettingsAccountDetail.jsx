// One account's settings: connection (with write-only secrets and the email test), sender and
// signature, business hours, auto-reply, assignment rules, the assistant, authorized users.
import { useEffect, useState } from 'preact/hooks';
import { patch, post } from '../lib/api.js';
import {
  AUTO_REPLY_TRIGGERS,
  DAYS,
  DAY_LABELS,
  GRANT_FLAGS,
  RULE_TYPES,
  addGrant,
  addHoliday,
  automationForm,
  automationPayload,
  copyToWeekdays,
  emailForm,
  emailPayload,
  grantsForm,
  grantsPayload,
  moveItem,
  newRule,
  providerLabel,
  removeGrant,
  removeHoliday,
  sanitizeHtml,
  secretStates,
  setDay,
  setGrantFlag,
  timeZones,
  validateApiForm,
  validateAutomation,
  validateEmailForm,
  validateWhatsAppForm,
  whatsappForm,
  whatsappPayload,
} from '../lib/settings.js';
import { announce } from '../store.js';
import { Check, Field, FormError, Saved, SecretField, SelectField, StatusBadge, TextField, useChecked, useSubmit } from './SettingsCommon.jsx';
import { ChannelIcon } from './icons.jsx';

/** The URLs an admin configures at the provider for this account. */
export function webhookUrls(account) {
  const origin = typeof window !== 'undefined' ? window.location.origin : '';
  const id = encodeURIComponent(account.id);
  if (account.kind === 'api') return [{ label: 'Inbound messages URL', url: `${origin}/channels/api/${id}/messages` }];
  if (account.kind === 'whatsapp') {
    return (account.settings || {}).provider === 'twilio'
      ? [{ label: 'Twilio webhook URL (messages and status callbacks)', url: `${origin}/channels/twilio/${id}/webhook` }]
      : [{ label: 'Meta webhook callback URL', url: `${origin}/channels/whatsapp/${id}/webhook` }];
  }
  return [];
}

/** Scroll a section into view and move focus to its heading (no URL hash: the inbox owns it). */
function jumpTo(id) {
  const el = document.getElementById(id);
  if (!el) return;
  el.setAttribute('tabindex', '-1');
  el.scrollIntoView({ block: 'start' });
  el.focus();
}

export function AccountDetail({ s, account, autoTest, onChanged, onBack, onTogglePause, pauseBusy, pauseError }) {
  const paused = account.status === 'paused';
  const reason = account.status === 'error' ? account.status_reason : '';
  return (
    <div class="settings-section account-detail" data-testid="account-detail" data-account-id={account.id}>
      <div class="settings-toolbar">
        <button type="button" class="btn btn-small" onClick={onBack} data-testid="account-back">
          ← All accounts
        </button>
      </div>
      <div class="account-head">
        <span class={`row-icon channel-icon channel-${account.kind}`} aria-hidden="true">
          <ChannelIcon kind={account.kind} size={18} />
        </span>
        <h3>{account.name}</h3>
        <span class="muted small">{providerLabel(account)}</span>
        <StatusBadge account={account} />
        <button type="button" class="btn btn-small" disabled={pauseBusy} onClick={onTogglePause} data-testid="account-pause">
          {paused ? 'Resume' : 'Pause'}
        </button>
      </div>
      {reason ? (
        <p class="form-error" data-testid="account-reason">
          {reason}
        </p>
      ) : null}
      {paused ? <p class="notice small">Paused: incoming messages are refused and replies wait until it is resumed.</p> : null}
      <FormError message={pauseError} />
      <nav class="detail-nav" aria-label="Account settings sections">
        {[
          ['acct-connection-h', 'Connection'],
          ['acct-automation-h', account.kind === 'email' ? 'Sender, signature & automation' : 'Automation'],
          ['acct-users-h', 'Authorized users'],
        ].map(([id, label]) => (
          <button key={id} type="button" class="btn btn-link btn-small" onClick={() => jumpTo(id)}>
            {label}
          </button>
        ))}
      </nav>
      <Connection account={account} autoTest={autoTest} onChanged={onChanged} />
      <Automation s={s} account={account} onChanged={onChanged} />
      <Grants s={s} account={account} onChanged={onChanged} />
    </div>
  );
}

// --------------------------------------------------------------------------- connection

export function EmailFields({ f, setF, err, account = null, isNew = false }) {
  const upd = (k) => (v) => setF((x) => ({ ...x, [k]: v }));
  const held = new Set((account && account.secrets) || []);
  return (
    <>
      <TextField label="Account name" hint="How the account is listed, e.g. Support mail" value={f.name} onInput={upd('name')} error={err('name')} testid="email-name" />
      <div class="form-grid">
        <TextField label="Email address" type="email" hint="Your full email address" value={f.address} onInput={upd('address')} error={err('address')} testid="email-address" />
        <TextField label="Sender name (optional)" hint="Shown as From: “Sender name” <address>" value={f.sender_name} onInput={upd('sender_name')} error={err('sender_name')} testid="email-sender" />
        <TextField label="IMAP server" placeholder="imap.example.com" hint="Incoming mail server" value={f.imap_host} onInput={upd('imap_host')} error={err('imap_host')} testid="email-imap-host" />
        <div class="form-grid form-grid-tight">
          <TextField label="IMAP port" inputMode="numeric" hint="Usually 993 for SSL" value={f.imap_port} onInput={upd('imap_port')} error={err('imap_port')} testid="email-imap-port" />
          <SelectField
            label="IMAP security"
            value={f.imap_security}
            onChange={(v) => setF((x) => ({ ...x, imap_security: v, imap_port: v === 'tls' ? '993' : '143' }))}
            options={[
              { value: 'tls', label: 'SSL/TLS' },
              { value: 'none', label: 'None (local servers only)' },
            ]}
            hint="STARTTLS is not supported for IMAP"
            error={err('imap_security')}
          />
        </div>
        <TextField label="SMTP server" placeholder="smtp.example.com" hint="Outgoing mail server" value={f.smtp_host} onInput={upd('smtp_host')} error={err('smtp_host')} testid="email-smtp-host" />
        <div class="form-grid form-grid-tight">
          <TextField label="SMTP port" inputMode="numeric" hint="Usually 587 for TLS or 465 for SSL" value={f.smtp_port} onInput={upd('smtp_port')} error={err('smtp_port')} testid="email-smtp-port" />
          <SelectField
            label="SMTP security"
            value={f.smtp_security}
            onChange={(v) => setF((x) => ({ ...x, smtp_security: v, smtp_port: v === 'tls' ? '465' : v === 'starttls' ? '587' : '25' }))}
            options={[
              { value: 'starttls', label: 'STARTTLS' },
              { value: 'tls', label: 'SSL/TLS' },
              { value: 'none', label: 'None' },
            ]}
            error={err('smtp_security')}
          />
        </div>
        <TextField label="Username (optional)" hint="Defaults to the email address" value={f.username} onInput={upd('username')} error={err('username')} autocomplete="off" testid="email-username" />
        <SecretField label="Password" isSet={held.has('password')} required={isNew} value={f.password} onInput={upd('password')} error={err('password')} testid="email-password" />
      </div>
    </>
  );
}

export function WhatsAppFields({ f, setF, err, account }) {
  const upd = (k) => (v) => setF((x) => ({ ...x, [k]: v }));
  const setSecret = (k) => (v) => setF((x) => ({ ...x, secrets: { ...x.secrets, [k]: v } }));
  const held = new Set((account && account.secrets) || []);
  const secret = (name, label) => (
    <SecretField key={name} label={label} isSet={held.has(name)} required={!held.has(name)} value={f.secrets[name] || ''} onInput={setSecret(name)} error={err(name)} testid={`wa-secret-${name}`} />
  );
  return (
    <>
      <TextField label="Name" hint="E.g. Sales WhatsApp" value={f.name} onInput={upd('name')} error={err('name')} testid="wa-name" />
      {f.provider === 'cloud' ? (
        <div class="form-grid">
          <TextField label="Phone number id" inputMode="numeric" hint="The numeric id Meta shows for the number" value={f.phone_number_id} onInput={upd('phone_number_id')} error={err('phone_number_id')} testid="wa-phone-id" />
          <TextField label="WhatsApp Business Account id" inputMode="numeric" value={f.waba_id} onInput={upd('waba_id')} error={err('waba_id')} testid="wa-waba-id" />
          <TextField label="Graph API base URL (optional)" placeholder="https://graph.facebook.com" value={f.graph_base_url} onInput={upd('graph_base_url')} error={err('graph_base_url')} />
          <TextField label="API version (optional)" placeholder="v21.0" value={f.api_version} onInput={upd('api_version')} error={err('api_version')} />
          {secret('access_token', 'Access token')}
          {secret('app_secret', 'App secret (verifies webhooks)')}
          {secret('verify_token', 'Verify token (webhook handshake)')}
        </div>
      ) : (
        <div class="form-grid">
          <TextField label="Account SID" placeholder="AC…" value={f.account_sid} onInput={upd('account_sid')} error={err('account_sid')} testid="wa-sid" />
          <TextField label="Sender" placeholder="whatsapp:+15551234567" value={f.sender} onInput={upd('sender')} error={err('sender')} testid="wa-sender" />
          <TextField
            label="Webhook URL"
            hint="The public URL of this server’s Twilio webhook for this account (Twilio signs it)"
            value={f.webhook_url}
            onInput={upd('webhook_url')}
            error={err('webhook_url')}
            testid="wa-webhook"
          />
          <TextField label="Twilio API base URL (optional)" placeholder="https://api.twilio.com" value={f.base_url} onInput={upd('base_url')} error={err('base_url')} />
          {secret('auth_token', 'Auth token')}
        </div>
      )}
    </>
  );
}

export function TestResults({ result }) {
  if (!result) return null;
  const row = (label, r) => (
    <li class={`test-row ${r.ok ? 'is-ok' : 'is-bad'}`} data-testid={`test-${label.toLowerCase()}`}>
      <strong>{label}:</strong> {r.ok ? 'connected' : `failed — ${r.error || 'no reason given'}`}
    </li>
  );
  return (
    <ul class="test-results" role="status" aria-label="Connection test results" data-testid="test-results">
      {row('IMAP', result.imap || {})}
      {row('SMTP', result.smtp || {})}
    </ul>
  );
}

const EMAIL_FIELDS = ['name', 'address', 'sender_name', 'imap_host', 'imap_port', 'imap_security', 'smtp_host', 'smtp_port', 'smtp_security', 'username', 'password'];

function Connection({ account, autoTest, onChanged }) {
  const [f, setF] = useState(() => (account.kind === 'email' ? emailForm(account) : account.kind === 'whatsapp' ? whatsappForm(account) : { name: account.name, webhook_url: (account.settings || {}).webhook_url || '' }));
  const { errors, check } = useChecked(() =>
    account.kind === 'email' ? validateEmailForm(f, { isNew: false }) : account.kind === 'whatsapp' ? validateWhatsAppForm(f, account) : validateApiForm(f),
  );
  const [saved, setSaved] = useState('');
  const [test, setTest] = useState(null);
  const sub = useSubmit();
  const tester = useSubmit();
  const err = (k) => errors[k] || errors[`secret_${k}`] || sub.fieldError(k);

  const runTest = () =>
    tester.run(async () => {
      setTest(null);
      const res = await post(`/api/accounts/${encodeURIComponent(account.id)}/test`, {});
      setTest(res);
      announce(`IMAP ${res.imap && res.imap.ok ? 'connected' : 'failed'}, SMTP ${res.smtp && res.smtp.ok ? 'connected' : 'failed'}`);
    });

  useEffect(() => {
    if (autoTest && account.kind === 'email') runTest();
  }, []);

  const submit = async (e) => {
    e.preventDefault();
    setSaved('');
    const errs = check();
    if (Object.keys(errs).length) return;
    let body;
    if (account.kind === 'email') body = emailPayload(f, account);
    else if (account.kind === 'whatsapp') body = whatsappPayload(f, account);
    else {
      const settings = { ...(account.settings || {}) };
      if (f.webhook_url.trim()) settings.webhook_url = f.webhook_url.trim();
      else delete settings.webhook_url;
      body = { name: f.name.trim(), settings };
    }
    const fields = account.kind === 'email' ? EMAIL_FIELDS : Object.keys(f).concat(['access_token', 'app_secret', 'verify_token', 'auth_token']);
    const res = await sub.run(() => patch(`/api/accounts/${encodeURIComponent(account.id)}`, body), fields);
    if (res && res.account) {
      onChanged(res.account);
      // Secrets are write-only: clear what was typed; the "set" badges now come from the server.
      setF((x) => (account.kind === 'email' ? { ...x, password: '' } : account.kind === 'whatsapp' ? { ...x, secrets: {} } : x));
      setSaved('Connection saved.');
    }
  };

  const urls = webhookUrls(account);
  return (
    <section class="detail-section" id="acct-connection" aria-labelledby="acct-connection-h">
      <h4 id="acct-connection-h">Connection</h4>
      <form class="form settings-form" onSubmit={submit} aria-label="Connection" noValidate>
        {account.kind === 'email' ? <EmailFields f={f} setF={setF} err={err} account={account} /> : null}
        {account.kind === 'whatsapp' ? <WhatsAppFields f={f} setF={setF} err={err} account={account} /> : null}
        {account.kind === 'api' ? (
          <>
            <TextField label="Name" value={f.name} onInput={(v) => setF((x) => ({ ...x, name: v }))} error={err('name')} testid="api-edit-name" />
            <TextField label="Webhook URL" hint="Where replies are POSTed" value={f.webhook_url} onInput={(v) => setF((x) => ({ ...x, webhook_url: v }))} error={err('webhook_url')} />
            <ul class="secret-list" aria-label="Secrets">
              {secretStates(account).map((x) => (
                <li key={x.name}>
                  {x.label}:{' '}
                  <span class={`secret-state ${x.set ? 'is-set' : 'is-unset'}`} data-testid="secret-state">
                    {x.set ? 'set' : 'not set'}
                  </span>
                </li>
              ))}
            </ul>
            <p class="muted small">The token and webhook secret were shown once when the channel was created; the server never shows them again.</p>
          </>
        ) : null}
        {urls.map((u) => (
          <p key={u.label} class="small">
            <span class="muted">{u.label}:</span> <code class="copy-code">{u.url}</code>
          </p>
        ))}
        <FormError message={sub.formError} />
        <div class="form-actions">
          <Saved message={saved} testid="connection-saved" />
          {account.kind === 'email' ? (
            <button type="button" class="btn" onClick={runTest} disabled={tester.busy} data-testid="email-test">
              {tester.busy ? 'Testing…' : 'Test connection'}
            </button>
          ) : null}
          <button type="submit" class="btn btn-primary" disabled={sub.busy} data-testid="connection-save">
            {sub.busy ? 'Saving…' : 'Save connection'}
          </button>
        </div>
        {account.kind === 'email' ? <p class="muted small">The test uses the saved settings: save changes first.</p> : null}
        <FormError message={tester.formError} />
        <TestResults result={test} />
      </form>
    </section>
  );
}

// --------------------------------------------------------------------------- automation

function SignaturePreview({ html }) {
  const clean = sanitizeHtml(html);
  const doc = `<!doctype html><html><head><meta charset="utf-8"><style>body{font:14px/1.45 system-ui,sans-serif;margin:8px;color:#111827}img{max-width:100%}</style></head><body>${clean}</body></html>`;
  return (
    <div class="signature-preview">
      <span class="small muted" id="sig-preview-label">
        Preview (sanitized: scripts, styles and unsafe links removed, as the server does on save)
      </span>
      <iframe title="Signature preview" sandbox="" srcdoc={doc} aria-labelledby="sig-preview-label" data-testid="signature-preview" />
    </div>
  );
}

function Hours({ form, setForm, errors }) {
  const h = form.hours;
  const setH = (fn) => setForm((x) => ({ ...x, hours: fn(x.hours) }));
  const [holiday, setHoliday] = useState('');
  const zones = timeZones();
  if (!zones.includes(h.time_zone)) zones.unshift(h.time_zone);
  const e = errors.hours || {};
  return (
    <fieldset class="field detail-sub" aria-describedby="hours-help">
      <legend>Business hours</legend>
      <p id="hours-help" class="muted small">
        Used by the “outside business hours” auto-reply and by business-hours metrics. Without business hours the account counts as always open.
      </p>
      <Check label="Set business hours for this account" checked={h.enabled} onChange={(on) => setH((x) => ({ ...x, enabled: on }))} testid="hours-enabled" />
      {h.enabled ? (
        <>
          <SelectField label="Time zone" value={h.time_zone} onChange={(v) => setH((x) => ({ ...x, time_zone: v }))} options={zones.map((z) => ({ value: z, label: z }))} error={e.time_zone} testid="hours-tz" />
          <table class="hours-table">
            <caption class="sr-only">Opening hours per weekday</caption>
            <thead>
              <tr>
                <th scope="col">Day</th>
                <th scope="col">Open</th>
                <th scope="col">From</th>
                <th scope="col">Until</th>
              </tr>
            </thead>
            <tbody>
              {DAYS.map((d) => {
                const day = h.days[d];
                return (
                  <tr key={d} data-testid={`hours-${d}`}>
                    <th scope="row">{DAY_LABELS[d]}</th>
                    <td>
                      <label class="check-row">
                        <input type="checkbox" checked={day.open} onChange={(ev) => setH((x) => setDay(x, d, { open: ev.currentTarget.checked }))} aria-label={`${DAY_LABELS[d]} open`} />
                        <span class="small">{day.open ? 'Open' : 'Closed'}</span>
                      </label>
                    </td>
                    <td>
                      <input type="time" class="input" value={day.start} disabled={!day.open} onInput={(ev) => setH((x) => setDay(x, d, { start: ev.currentTarget.value }))} aria-label={`${DAY_LABELS[d]} opens at`} />
                    </td>
                    <td>
                      <input type="time" class="input" value={day.end} disabled={!day.open} onInput={(ev) => setH((x) => setDay(x, d, { end: ev.currentTarget.value }))} aria-label={`${DAY_LABELS[d]} closes at`} />
                      {e[d] ? <span class="field-error">{e[d]}</span> : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <button type="button" class="btn btn-small" onClick={() => setH((x) => copyToWeekdays(x))}>
            Use Monday’s hours for every weekday
          </button>
          <div class="holidays">
            <Field label="Holidays (closed all day)">
              {(a) => (
                <div class="copy-row">
                  <input type="date" class="input" value={holiday} onInput={(ev) => setHoliday(ev.currentTarget.value)} {...a} />
                  <button
                    type="button"
                    class="btn btn-small"
                    disabled={!holiday}
                    onClick={() => {
                      setH((x) => addHoliday(x, holiday));
                      setHoliday('');
                    }}
                  >
                    Add holiday
                  </button>
                </div>
              )}
            </Field>
            <ul class="chip-list" aria-label="Holidays">
              {h.holidays.map((d) => (
                <li key={d} class="label-chip">
                  {d}
                  <button type="button" class="chip-x" aria-label={`Remove holiday ${d}`} onClick={() => setH((x) => removeHoliday(x, d))}>
                    ×
                  </button>
                </li>
              ))}
              {h.holidays.length === 0 ? <li class="muted small">No holidays.</li> : null}
            </ul>
          </div>
        </>
      ) : null}
    </fieldset>
  );
}

function Rules({ s, form, setForm, errors }) {
  const rules = form.rules;
  const setRules = (fn) => setForm((x) => ({ ...x, rules: fn(x.rules) }));
  const [adding, setAdding] = useState(RULE_TYPES[0].type);
  const teams = Object.values(s.teams || {}).sort((a, b) => a.name.localeCompare(b.name));
  const e = errors.rules || {};
  const label = (type) => (RULE_TYPES.find((r) => r.type === type) || { label: type }).label;
  return (
    <fieldset class="field detail-sub">
      <legend>Assignment rules</legend>
      <p class="muted small">
        Run in order on each new message of an unassigned conversation: the first rule that finds an eligible user assigns it. If none does, the conversation
        stays unassigned. Rotation rules only pick users marked “Auto-assignment target”.
      </p>
      <ol class="rule-list" data-testid="rules">
        {rules.map((r, i) => (
          <li key={i} class="rule-item" data-testid="rule">
            <span class="rule-n" aria-hidden="true">
              {i + 1}
            </span>
            <span class="rule-main">
              <strong>{label(r.type)}</strong>
              {r.type === 'customer_field' ? (
                <TextField label="Custom field name" value={r.field || ''} onInput={(v) => setRules((l) => l.map((x, j) => (j === i ? { ...x, field: v } : x)))} error={e[i]} placeholder="account_manager" />
              ) : null}
              {r.type === 'team' ? (
                <SelectField
                  label="Team"
                  value={r.team_id || ''}
                  onChange={(v) => setRules((l) => l.map((x, j) => (j === i ? { ...x, team_id: v } : x)))}
                  options={[{ value: '', label: 'Choose a team…' }, ...teams.map((t) => ({ value: t.id, label: t.name }))]}
                  error={e[i]}
                />
              ) : null}
            </span>
            <span class="rule-actions">
              <button type="button" class="btn btn-small" disabled={i === 0} onClick={() => setRules((l) => moveItem(l, i, -1))} aria-label={`Move rule ${i + 1} (${label(r.type)}) up`}>
                ↑
              </button>
              <button type="button" class="btn btn-small" disabled={i === rules.length - 1} onClick={() => setRules((l) => moveItem(l, i, 1))} aria-label={`Move rule ${i + 1} (${label(r.type)}) down`}>
                ↓
              </button>
              <button type="button" class="btn btn-small" onClick={() => setRules((l) => l.filter((_, j) => j !== i))} aria-label={`Remove rule ${i + 1} (${label(r.type)})`}>
                Remove
              </button>
            </span>
          </li>
        ))}
      </ol>
      {rules.length === 0 ? <p class="muted small">No rules: conversations wait unassigned until someone takes them.</p> : null}
      <div class="copy-row">
        <SelectField label="Add a rule" value={adding} onChange={setAdding} options={RULE_TYPES.map((r) => ({ value: r.type, label: `${r.label} — ${r.hint}` }))} testid="rule-type" />
        <button type="button" class="btn btn-small" onClick={() => setRules((l) => [...l, newRule(adding)])} disabled={rules.length >= 20} data-testid="rule-add">
          Add rule
        </button>
      </div>
    </fieldset>
  );
}

function Automation({ s, account, onChanged }) {
  const [form, setForm] = useState(() => automationForm(account));
  const { errors, check } = useChecked(() => validateAutomation(form));
  const [saved, setSaved] = useState('');
  const sub = useSubmit();
  const upd = (k) => (v) => setForm((x) => ({ ...x, [k]: v }));

  const submit = async (e) => {
    e.preventDefault();
    setSaved('');
    const errs = check();
    if (Object.keys(errs).length) return;
    const res = await sub.run(() => patch(`/api/accounts/${encodeURIComponent(account.id)}`, automationPayload(account, form)), ['signature_html', 'sender_name', 'business_hours', 'auto_reply', 'assignment_rules', 'assistant']);
    if (res && res.account) {
      onChanged(res.account);
      setForm(automationForm(res.account));
      setSaved('Settings saved.');
      announce('Account settings saved');
    }
  };

  return (
    <section class="detail-section" id="acct-automation" aria-labelledby="acct-automation-h">
      <h4 id="acct-automation-h">{account.kind === 'email' ? 'Sender, signature & automation' : 'Automation'}</h4>
      <form class="form settings-form" onSubmit={submit} aria-label="Account settings" noValidate>
        {account.kind === 'email' ? (
          <fieldset class="field detail-sub">
            <legend>Sender &amp; signature</legend>
            <TextField label="Sender name" hint="Shown as the From name of replies" value={form.sender_name} onInput={upd('sender_name')} error={sub.fieldError('sender_name')} testid="auto-sender" />
            <Field label="Signature (HTML)" hint="Appended to every reply; as text after a “-- ” line in the plain part." error={sub.fieldError('signature_html')}>
              {(a) => <textarea class="input mono" rows={4} value={form.signature_html} onInput={(ev) => upd('signature_html')(ev.currentTarget.value)} data-testid="signature-html" {...a} />}
            </Field>
            <SignaturePreview html={form.signature_html} />
          </fieldset>
        ) : null}
        <TextField label="Company name" hint="Fills {{company_name}} in this account’s templates" value={form.company_name} onInput={upd('company_name')} testid="auto-company" />
        <Hours form={form} setForm={setForm} errors={errors} />
        {sub.fieldError('business_hours') ? <span class="field-error">{sub.fieldError('business_hours')}</span> : null}
        <fieldset class="field detail-sub">
          <legend>Auto-reply</legend>
          <Check label="Send an automatic reply" checked={form.auto_reply.enabled} onChange={(on) => setForm((x) => ({ ...x, auto_reply: { ...x.auto_reply, enabled: on } }))} testid="auto-reply-enabled" />
          <div class="radio-stack" role="radiogroup" aria-label="When to send it">
            {AUTO_REPLY_TRIGGERS.map((t) => (
              <label key={t.value} class="radio">
                <input
                  type="radio"
                  name={`auto-reply-${account.id}`}
                  value={t.value}
                  checked={form.auto_reply.trigger === t.value}
                  onChange={() => setForm((x) => ({ ...x, auto_reply: { ...x.auto_reply, trigger: t.value } }))}
                />
                <span>
                  <strong>{t.label}</strong> <span class="muted small">— {t.hint}</span>
                </span>
              </label>
            ))}
          </div>
          <Field label="Message" error={errors.auto_reply || sub.fieldError('auto_reply')}>
            {(a) => (
              <textarea
                class="input"
                rows={3}
                value={form.auto_reply.message}
                onInput={(ev) => {
                  const v = ev.currentTarget.value;
                  setForm((x) => ({ ...x, auto_reply: { ...x.auto_reply, message: v } }));
                }}
                data-testid="auto-reply-message"
                {...a}
              />
            )}
          </Field>
        </fieldset>
        <Rules s={s} form={form} setForm={setForm} errors={errors} />
        {sub.fieldError('assignment_rules') ? <span class="field-error">{sub.fieldError('assignment_rules')}</span> : null}
        <fieldset class="field detail-sub">
          <legend>Assistant</legend>
          <Check label="Analyze incoming messages into assistant notes" hint="Sentiment, order/quote references, suggested tags" checked={form.assistant} onChange={upd('assistant')} testid="assistant-enabled" />
        </fieldset>
        <FormError message={sub.formError} />
        <div class="form-actions">
          <Saved message={saved} testid="automation-saved" />
          <button type="submit" class="btn btn-primary" disabled={sub.busy} data-testid="automation-save">
            {sub.busy ? 'Saving…' : 'Save settings'}
          </button>
        </div>
      </form>
    </section>
  );
}

// --------------------------------------------------------------------------- authorized users

function Grants({ s, account, onChanged }) {
  const [grants, setGrants] = useState(() => grantsForm(account));
  const [adding, setAdding] = useState('');
  const [saved, setSaved] = useState('');
  const sub = useSubmit();
  const users = Object.values(s.users || {}).sort((a, b) => a.name.localeCompare(b.name));
  const name = (id) => (s.users[id] ? s.users[id].name : id);
  const granted = new Set(grants.map((g) => g.user_id));
  const candidates = users.filter((u) => !granted.has(u.id));

  const submit = async (e) => {
    e.preventDefault();
    setSaved('');
    const res = await sub.run(() => patch(`/api/accounts/${encodeURIComponent(account.id)}`, grantsPayload(grants)), ['authorized', 'user_id']);
    if (res && res.account) {
      onChanged(res.account);
      setGrants(grantsForm(res.account));
      setSaved('Authorized users saved.');
      announce('Authorized users saved');
    }
  };

  return (
    <section class="detail-section" id="acct-users" aria-labelledby="acct-users-h">
      <h4 id="acct-users-h">Authorized users</h4>
      <p class="muted small">Users not authorized here (or who do not handle conversations) do not see this account’s conversations. Admins see every account.</p>
      <form class="form settings-form" onSubmit={submit} aria-label="Authorized users" noValidate>
        <div class="grants-scroll">
          <table class="grants-table" data-testid="grants">
            <caption class="sr-only">Permission flags per authorized user</caption>
            <thead>
              <tr>
                <th scope="col">User</th>
                {GRANT_FLAGS.map((f) => (
                  <th key={f.key} scope="col" title={f.hint}>
                    {f.label}
                  </th>
                ))}
                <th scope="col">
                  <span class="sr-only">Remove</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {grants.map((g) => (
                <tr key={g.user_id} data-testid="grant-row" data-user-id={g.user_id}>
                  <th scope="row">{name(g.user_id)}</th>
                  {GRANT_FLAGS.map((f) => (
                    <td key={f.key}>
                      <input
                        type="checkbox"
                        checked={!!g[f.key]}
                        onChange={(ev) => setGrants((l) => setGrantFlag(l, g.user_id, f.key, ev.currentTarget.checked))}
                        aria-label={`${f.label}: ${name(g.user_id)}`}
                        data-testid={`grant-${f.key}`}
                      />
                    </td>
                  ))}
                  <td>
                    <button type="button" class="btn btn-small" onClick={() => setGrants((l) => removeGrant(l, g.user_id))} aria-label={`Remove ${name(g.user_id)} from this account`}>
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {grants.length === 0 ? <p class="muted small">Nobody is authorized yet: only admins see this account.</p> : null}
        <div class="copy-row">
          <SelectField
            label="Add a user"
            value={adding}
            onChange={setAdding}
            options={[{ value: '', label: candidates.length ? 'Choose a user…' : 'Everyone is authorized' }, ...candidates.map((u) => ({ value: u.id, label: `${u.name} (${u.email})` }))]}
            testid="grant-user"
          />
          <button
            type="button"
            class="btn btn-small"
            disabled={!adding}
            onClick={() => {
              setGrants((l) => addGrant(l, adding));
              setAdding('');
            }}
            data-testid="grant-add"
          >
            Add
          </button>
        </div>
        <FormError message={sub.formError} />
        <div class="form-actions">
          <Saved message={saved} testid="grants-saved" />
          <button type="submit" class="btn btn-primary" disabled={sub.busy} data-testid="grants-save">
            {sub.busy ? 'Saving…' : 'Save authorized users'}
          </button>
        </div>
      </form>
    </section>
  );
}
