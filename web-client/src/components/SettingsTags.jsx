// Settings › Tags: create, edit (name, description, colour), delete with a confirmation.
import { useState } from 'preact/hooks';
import { api, patch, post } from '../lib/api.js';
import { contrastText } from '../lib/logic.js';
import { TAG_COLORS, tagForm, tagPayload, validateTagForm } from '../lib/settings.js';
import { announce, reloadWorkspace } from '../store.js';
import { ConfirmButton, Field, FormError, Loading, TextField, useChecked, useList, useSubmit } from './SettingsCommon.jsx';

export function SettingsTags() {
  const { items: tags, setItems, error } = useList('/api/tags', 'tags');
  const [editing, setEditing] = useState(null); // null | 'new' | tag id
  const del = useSubmit();

  if (!tags) return <Loading error={error} what="tags" />;
  const sorted = tags.slice().sort((a, b) => a.name.localeCompare(b.name));

  const saved = (tag) => {
    setItems((list) => [...list.filter((t) => t.id !== tag.id), tag]);
    setEditing(null);
    reloadWorkspace().catch(() => {});
  };

  const remove = (tag) =>
    del.run(async () => {
      await api('DELETE', `/api/tags/${encodeURIComponent(tag.id)}`);
      setItems((list) => list.filter((t) => t.id !== tag.id));
      announce(`Tag ${tag.name} deleted`);
      reloadWorkspace().catch(() => {});
    });

  return (
    <div class="settings-section" data-testid="settings-tags">
      <div class="settings-toolbar">
        <h3>Tags</h3>
        <button type="button" class="btn btn-primary" onClick={() => setEditing('new')} disabled={editing === 'new'} data-testid="tag-new">
          Create tag
        </button>
      </div>
      <p class="muted small">Tags appear as coloured pills in the conversation list and can be used to filter it.</p>
      {editing === 'new' ? <TagForm tags={tags} onSaved={saved} onCancel={() => setEditing(null)} /> : null}
      <FormError message={del.formError} />
      <ul class="settings-list" aria-label="Tags">
        {sorted.map((t) =>
          editing === t.id ? (
            <li key={t.id} class="settings-item">
              <TagForm tag={t} tags={tags} onSaved={saved} onCancel={() => setEditing(null)} />
            </li>
          ) : (
            <li key={t.id} class="settings-item" data-testid="tag-row" data-tag-id={t.id}>
              <span class="tag-pill" style={{ background: t.color, color: contrastText(t.color) }}>
                {t.name}
              </span>
              <span class="settings-item-main muted small">{t.description}</span>
              <span class="settings-item-actions">
                <button type="button" class="btn btn-small" onClick={() => setEditing(t.id)} aria-label={`Edit tag ${t.name}`} data-testid="tag-edit">
                  Edit
                </button>
                <ConfirmButton
                  label="Delete"
                  question={`Delete “${t.name}”? Conversations keep their tag history; the tag is no longer offered.`}
                  onConfirm={() => remove(t)}
                  busy={del.busy}
                  testid="tag-delete"
                />
              </span>
            </li>
          ),
        )}
      </ul>
      {sorted.length === 0 ? <p class="muted">No tags yet.</p> : null}
    </div>
  );
}

function TagForm({ tag = null, tags, onSaved, onCancel }) {
  const [f, setF] = useState(() => tagForm(tag));
  const { errors, check } = useChecked(() => validateTagForm(f, tags, tag && tag.id));
  const sub = useSubmit();
  const upd = (k) => (v) => setF((x) => ({ ...x, [k]: v }));
  const fields = ['name', 'description', 'color'];

  const submit = async (e) => {
    e.preventDefault();
    const errs = check();
    if (Object.keys(errs).length) return;
    const res = await sub.run(
      () => (tag ? patch(`/api/tags/${encodeURIComponent(tag.id)}`, tagPayload(f)) : post('/api/tags', tagPayload(f))),
      fields,
    );
    if (res && res.tag) {
      announce(tag ? 'Tag saved' : `Tag ${res.tag.name} created`);
      onSaved(res.tag);
    }
  };
  const err = (k) => errors[k] || sub.fieldError(k);

  return (
    <form class="form settings-form" onSubmit={submit} aria-label={tag ? `Edit tag ${tag.name}` : 'New tag'} data-testid="tag-form" noValidate>
      <div class="form-grid">
        <TextField label="Name" hint="E.g. Urgent, Quote sent" value={f.name} onInput={upd('name')} error={err('name')} maxLength={64} testid="tag-name" />
        <TextField label="Description (optional)" hint="When to use this tag" value={f.description} onInput={upd('description')} error={err('description')} testid="tag-description" />
      </div>
      <Field label="Colour" error={err('color')}>
        {(a) => (
          <div class="color-row">
            <input type="color" value={f.color} onInput={(e) => upd('color')(e.currentTarget.value)} data-testid="tag-color" {...a} />
            <div class="swatches" role="group" aria-label="Suggested colours">
              {TAG_COLORS.map((c) => (
                <button
                  key={c}
                  type="button"
                  class={`swatch-btn ${f.color.toLowerCase() === c ? 'is-on' : ''}`}
                  style={{ background: c }}
                  aria-label={`Colour ${c}`}
                  aria-pressed={f.color.toLowerCase() === c ? 'true' : 'false'}
                  onClick={() => upd('color')(c)}
                />
              ))}
            </div>
            <span class="tag-pill" style={{ background: f.color, color: contrastText(f.color) }} aria-label="Preview">
              {f.name || 'Preview'}
            </span>
          </div>
        )}
      </Field>
      <FormError message={sub.formError} />
      <div class="form-actions">
        <button type="button" class="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="btn btn-primary" disabled={sub.busy} data-testid="tag-save">
          {sub.busy ? 'Saving…' : tag ? 'Save tag' : 'Create tag'}
        </button>
      </div>
    </form>
  );
}
