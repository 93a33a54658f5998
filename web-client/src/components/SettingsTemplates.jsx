// Settings › Templates: list and filter by account and type, create and edit with the
// `{{variables}}` help, WhatsApp approval badges, resubmit when rejected, Sync with Meta.
import { Fragment } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { api, patch, post } from '../lib/api.js';
import { CHANNEL_LABELS } from '../lib/logic.js';
import {
  TEMPLATE_TYPES,
  TEMPLATE_VARIABLES,
  WHATSAPP_CATEGORIES,
  approvalInfo,
  filterTemplates,
  insertVariable,
  templateForm,
  templatePayload,
  unknownVariables,
  validateTemplateForm,
} from '../lib/settings.js';
import { announce, reloadWorkspace } from '../store.js';
import { ConfirmButton, Field, FormError, Loading, SelectField, TextField, useChecked, useList, useSubmit } from './SettingsCommon.jsx';

const TYPE_LABEL = Object.fromEntries(TEMPLATE_TYPES.map((t) => [t.value, t.label]));

export function ApprovalBadge({ template }) {
  const info = approvalInfo(template);
  if (!info) return null;
  return (
    <span class={`approval approval-${info.key}`} data-testid="approval-badge" data-approval={info.key} title={info.reason || undefined}>
      {info.label}
    </span>
  );
}

export function SettingsTemplates({ s }) {
  const { items, setItems, error } = useList('/api/templates', 'templates');
  const accounts = useList('/api/accounts', 'accounts');
  const [filter, setFilter] = useState({ accountId: '', type: '', q: '' });
  const [editing, setEditing] = useState(null); // null | 'new' | {id, resubmit}
  const del = useSubmit();
  const sync = useSubmit();
  const [syncNote, setSyncNote] = useState('');

  if (!items || !accounts.items) return <Loading error={error || accounts.error} what="templates" />;
  const accountList = accounts.items.slice().sort((a, b) => a.name.localeCompare(b.name));
  const accById = Object.fromEntries(accountList.map((a) => [a.id, a]));
  const rows = filterTemplates(items, filter);
  const syncable = accountList.filter((a) => a.kind === 'whatsapp' && (a.settings || {}).provider === 'cloud');

  const saved = (t) => {
    setItems((l) => [...l.filter((x) => x.id !== t.id), t]);
    setEditing(null);
    reloadWorkspace().catch(() => {});
  };

  const runSync = (account) =>
    sync.run(async () => {
      setSyncNote('');
      const res = await post(`/api/accounts/${encodeURIComponent(account.id)}/whatsapp/templates/sync`, {});
      const fresh = (res && res.templates) || [];
      setItems((l) => [...l.filter((t) => t.account_id !== account.id), ...fresh]);
      const n = ((res && res.changed) || []).length;
      setSyncNote(`${account.name}: ${n ? `${n} template${n === 1 ? '' : 's'} changed status` : 'every status is up to date'}.`);
      reloadWorkspace().catch(() => {});
    });

  return (
    <div class="settings-section" data-testid="settings-templates">
      <div class="settings-toolbar">
        <h3>Templates</h3>
        <button type="button" class="btn btn-primary" onClick={() => setEditing('new')} disabled={editing === 'new' || !accountList.length} data-testid="template-new">
          Create message template
        </button>
      </div>
      <div class="settings-filters" role="group" aria-label="Filter templates">
        <SelectField
          label="Account"
          value={filter.accountId}
          onChange={(v) => setFilter((x) => ({ ...x, accountId: v }))}
          options={[{ value: '', label: 'All accounts' }, ...accountList.map((a) => ({ value: a.id, label: a.name }))]}
          testid="template-filter-account"
        />
        <SelectField
          label="Type"
          value={filter.type}
          onChange={(v) => setFilter((x) => ({ ...x, type: v }))}
          options={[{ value: '', label: 'All types' }, ...TEMPLATE_TYPES.map((t) => ({ value: t.value, label: t.label }))]}
          testid="template-filter-type"
        />
        <TextField label="Search" type="search" placeholder="Name or label" value={filter.q} onInput={(v) => setFilter((x) => ({ ...x, q: v }))} testid="template-filter-q" />
      </div>
      {syncable.length ? (
        <div class="settings-sync">
          {syncable.map((a) => (
            <button key={a.id} type="button" class="btn btn-small" disabled={sync.busy} onClick={() => runSync(a)} data-testid="template-sync">
              Sync statuses with Meta: {a.name}
            </button>
          ))}
          <span role="status" class="muted small">
            {sync.busy ? 'Asking Meta…' : syncNote}
          </span>
          <FormError message={sync.formError} />
        </div>
      ) : null}
      {editing === 'new' ? <TemplateForm accounts={accountList} defaultAccount={filter.accountId} onSaved={saved} onCancel={() => setEditing(null)} /> : null}
      <FormError message={del.formError} />
      <ul class="settings-list" aria-label="Templates">
        {rows.map((t) => {
          const acc = accById[t.account_id];
          const info = approvalInfo(t);
          return (
            <li key={t.id} class="settings-item settings-item-col" data-testid="template-row" data-template-id={t.id}>
              {editing && editing.id === t.id ? (
                <TemplateForm template={t} resubmit={editing.resubmit} accounts={accountList} onSaved={saved} onCancel={() => setEditing(null)} />
              ) : (
                <>
                  <div class="settings-item-line">
                    <span class="settings-item-main">
                      <strong>{t.name}</strong>{' '}
                      <span class="muted small">
                        {acc ? `${acc.name} (${CHANNEL_LABELS[acc.kind] || acc.kind})` : t.account_id}
                      </span>
                    </span>
                    <span class="type-badge">{TYPE_LABEL[t.type] || t.type}</span>
                    <ApprovalBadge template={t} />
                    <span class="settings-item-actions">
                      {info && info.key === 'rejected' ? (
                        <button type="button" class="btn btn-small btn-primary" onClick={() => setEditing({ id: t.id, resubmit: true })} data-testid="template-resubmit">
                          Fix and resubmit
                        </button>
                      ) : null}
                      <button type="button" class="btn btn-small" onClick={() => setEditing({ id: t.id })} aria-label={`Edit template ${t.name}`} data-testid="template-edit">
                        Edit
                      </button>
                      <ConfirmButton
                        label="Delete"
                        question={`Delete the template “${t.name}”?`}
                        busy={del.busy}
                        onConfirm={() =>
                          del.run(async () => {
                            await api('DELETE', `/api/templates/${encodeURIComponent(t.id)}`);
                            setItems((l) => l.filter((x) => x.id !== t.id));
                            announce(`Template ${t.name} deleted`);
                            reloadWorkspace().catch(() => {});
                          })
                        }
                        testid="template-delete"
                      />
                    </span>
                  </div>
                  {info && info.reason ? <p class="small approval-reason">Meta’s reason: {info.reason}</p> : null}
                  <p class="template-snippet muted small">{t.content}</p>
                  {(t.labels || []).length ? (
                    <span class="settings-labels">
                      {t.labels.map((l) => (
                        <span key={l} class="label-chip">
                          {l}
                        </span>
                      ))}
                    </span>
                  ) : null}
                </>
              )}
            </li>
          );
        })}
      </ul>
      {rows.length === 0 ? <p class="muted">No templates match.</p> : null}
    </div>
  );
}

function TemplateForm({ template = null, resubmit = false, accounts, defaultAccount = '', onSaved, onCancel }) {
  const [f, setF] = useState(() => templateForm(template, defaultAccount || (accounts[0] && accounts[0].id) || ''));
  const sub = useSubmit();
  const contentRef = useRef(null);
  const upd = (k) => (v) => setF((x) => ({ ...x, [k]: v }));
  const account = accounts.find((a) => a.id === f.account_id);
  const isWhatsApp = account && account.kind === 'whatsapp';
  const isTwilio = isWhatsApp && (account.settings || {}).provider === 'twilio';
  const unknown = unknownVariables(f.content);
  const { errors, check } = useChecked(() => validateTemplateForm(f, account));
  const err = (k) => errors[k] || sub.fieldError(k);

  const insert = (name) => {
    const el = contentRef.current;
    const start = el ? el.selectionStart : f.content.length;
    const end = el ? el.selectionEnd : start;
    const next = insertVariable(f.content, name, start, end);
    setF((x) => ({ ...x, content: next.content }));
    requestAnimationFrame(() => {
      if (el) {
        el.focus();
        el.setSelectionRange(next.caret, next.caret);
      }
    });
  };

  const submit = async (e) => {
    e.preventDefault();
    const errs = check();
    if (Object.keys(errs).length) return;
    const body = templatePayload(f, account);
    const res = await sub.run(
      () => (template ? patch(`/api/templates/${encodeURIComponent(template.id)}`, body) : post('/api/templates', body)),
      ['account_id', 'name', 'content', 'labels', 'type', 'language', 'category', 'content_sid'],
    );
    if (res && res.template) {
      announce(template ? `Template ${res.template.name} saved` : `Template ${res.template.name} created`);
      onSaved(res.template);
    }
  };

  return (
    <form class="form settings-form" onSubmit={submit} aria-label={template ? `Edit template ${template.name}` : 'New template'} data-testid="template-form" noValidate>
      {resubmit ? (
        <p class="notice small">
          Meta rejected this template{template.approval_reason ? `: ${template.approval_reason}` : ''}. Change its content, language or category
          and save: it is submitted for review again and shows Pending until Meta answers.
        </p>
      ) : null}
      <div class="form-grid">
        <SelectField
          label="Account"
          hint="Which account can use this template"
          value={f.account_id}
          onChange={upd('account_id')}
          options={accounts.map((a) => ({ value: a.id, label: `${a.name} (${CHANNEL_LABELS[a.kind] || a.kind})` }))}
          error={err('account_id')}
          testid="template-account"
        />
        <TextField label="Name" hint="Internal name for finding the template" value={f.name} onInput={upd('name')} error={err('name')} testid="template-name" />
      </div>
      <fieldset class="field">
        <legend>Type</legend>
        <div class="seg-row">
          {TEMPLATE_TYPES.map((t) => (
            <label key={t.value} class="radio radio-inline">
              <input type="radio" name={`tpl-type-${template ? template.id : 'new'}`} value={t.value} checked={f.type === t.value} onChange={() => upd('type')(t.value)} data-testid={`template-type-${t.value}`} />
              <span>
                <strong>{t.label}</strong> <span class="muted small">{t.hint}</span>
              </span>
            </label>
          ))}
        </div>
        {err('type') ? <span class="field-error">{err('type')}</span> : null}
      </fieldset>
      <Field label="Content" error={err('content')} hint="Type {{ to add a variable, or pick one below.">
        {(a) => <textarea ref={contentRef} class="input" rows={6} value={f.content} onInput={(e) => upd('content')(e.currentTarget.value)} data-testid="template-content" {...a} />}
      </Field>
      <div class="variables" role="group" aria-label="Insert a variable">
        <span class="muted small">Variables:</span>
        {TEMPLATE_VARIABLES.map((v) => (
          <button key={v.name} type="button" class="btn btn-small variable-chip" onClick={() => insert(v.name)} title={v.inserts} aria-label={`Insert {{${v.name}}}: ${v.inserts}`}>
            {`{{${v.name}}}`}
          </button>
        ))}
      </div>
      <details class="variables-help">
        <summary>What the variables insert</summary>
        <dl class="kv">
          {TEMPLATE_VARIABLES.map((v) => (
            <Fragment key={v.name}>
              <dt>
                <code>{`{{${v.name}}}`}</code>
              </dt>
              <dd>{v.inserts}</dd>
            </Fragment>
          ))}
        </dl>
      </details>
      {unknown.length ? (
        <p class="notice small" role="status">
          Not a known variable: {unknown.map((u) => `{{${u}}}`).join(', ')} — it stays as written unless a value is given when sending.
        </p>
      ) : null}
      <TextField label="Labels" hint="Comma separated, e.g. Quotes, Greetings" value={f.labels} onInput={upd('labels')} error={err('labels')} testid="template-labels" />
      {isWhatsApp ? (
        <div class="form-grid">
          <TextField label="Language" hint="WhatsApp language code, e.g. en or en_US" value={f.language} onInput={upd('language')} error={err('language')} testid="template-language" />
          <SelectField label="Category" value={f.category} onChange={upd('category')} options={WHATSAPP_CATEGORIES.map((c) => ({ value: c, label: c }))} error={err('category')} testid="template-category" />
          {isTwilio ? (
            <TextField label="Twilio ContentSid" hint="HX… of the template approved in Twilio’s Content Template Builder" value={f.content_sid} onInput={upd('content_sid')} error={err('content_sid')} testid="template-content-sid" />
          ) : null}
        </div>
      ) : null}
      {isWhatsApp && !isTwilio ? <p class="muted small">Saving submits the template to Meta for review; it is Pending until Meta answers.</p> : null}
      <FormError message={sub.formError} />
      <div class="form-actions">
        <button type="button" class="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="btn btn-primary" disabled={sub.busy} data-testid="template-save">
          {sub.busy ? 'Saving…' : resubmit ? 'Save and resubmit' : template ? 'Save template' : 'Create template'}
        </button>
      </div>
    </form>
  );
}
