// Building blocks of the Settings area: labelled fields with inline errors, status badges,
// write-only secret inputs, inline confirmations, and a loader for one API list.
import { useEffect, useId, useState } from 'preact/hooks';
import { get } from '../lib/api.js';
import { accountStatus, errorField } from '../lib/settings.js';

/** A label, the control (given `id` and `aria-describedby`), a hint and the field's error. */
export function Field({ label, hint, error, children, class: cls = '' }) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errId = error ? `${id}-err` : undefined;
  const describedBy = [hintId, errId].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field ${cls}`}>
      <label for={id}>{label}</label>
      {children({ id, 'aria-describedby': describedBy, 'aria-invalid': error ? 'true' : undefined })}
      {hint ? (
        <span id={hintId} class="muted small field-hint">
          {hint}
        </span>
      ) : null}
      {error ? (
        <span id={errId} class="field-error" data-testid="field-error">
          {error}
        </span>
      ) : null}
    </div>
  );
}

export function TextField({ label, hint, error, value, onInput, testid, class: cls, ...rest }) {
  return (
    <Field label={label} hint={hint} error={error} class={cls}>
      {(a) => <input class="input" value={value} onInput={(e) => onInput(e.currentTarget.value)} data-testid={testid} {...a} {...rest} />}
    </Field>
  );
}

export function SelectField({ label, hint, error, value, onChange, options, testid, ...rest }) {
  return (
    <Field label={label} hint={hint} error={error}>
      {(a) => (
        <select class="input" value={value} onChange={(e) => onChange(e.currentTarget.value)} data-testid={testid} {...a} {...rest}>
          {options.map((o) => (
            <option key={o.value} value={o.value} disabled={o.disabled}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

export function Check({ label, hint, checked, onChange, testid, disabled }) {
  return (
    <label class="check-row">
      <input type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onChange(e.currentTarget.checked)} data-testid={testid} />
      <span>
        {label}
        {hint ? <span class="muted small"> — {hint}</span> : null}
      </span>
    </label>
  );
}

/** A write-only secret: never pre-filled; says whether the server holds one. */
export function SecretField({ label, isSet, value, onInput, error, testid, required }) {
  return (
    <Field
      label={
        <span>
          {label}{' '}
          <span class={`secret-state ${isSet ? 'is-set' : 'is-unset'}`} data-testid="secret-state">
            {isSet ? 'set' : 'not set'}
          </span>
        </span>
      }
      hint={isSet ? 'Leave empty to keep the stored value.' : required ? 'Required.' : ''}
      error={error}
    >
      {(a) => (
        <input
          class="input"
          type="password"
          autocomplete="new-password"
          spellcheck={false}
          value={value}
          onInput={(e) => onInput(e.currentTarget.value)}
          data-testid={testid}
          {...a}
        />
      )}
    </Field>
  );
}

export function FormError({ message, testid = 'form-error' }) {
  if (!message) return null;
  return (
    <p class="form-error" role="alert" data-testid={testid}>
      {message}
    </p>
  );
}

/** A polite "Saved." next to the form's buttons. */
export function Saved({ message, testid = 'saved' }) {
  return (
    <span class="saved-note" role="status" data-testid={testid}>
      {message || ''}
    </span>
  );
}

export function StatusBadge({ account }) {
  const st = accountStatus(account);
  return (
    <span class={`acct-status acct-${st.key}`} data-testid="account-status" data-status={st.key} title={st.reason || undefined}>
      {st.label}
    </span>
  );
}

/** A button that asks once more, inline (no browser dialog), before doing something final. */
export function ConfirmButton({ label, question, confirmLabel, onConfirm, testid, busy }) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" class="btn btn-small btn-danger-ghost" onClick={() => setAsking(true)} data-testid={testid}>
        {label}
      </button>
    );
  }
  return (
    <span class="confirm" role="group" aria-label={question}>
      <span class="confirm-q">{question}</span>
      <button
        type="button"
        class="btn btn-small btn-danger"
        disabled={busy}
        ref={(el) => el && !el.dataset.focused && ((el.dataset.focused = '1'), el.focus())}
        onClick={async () => {
          await onConfirm();
          setAsking(false);
        }}
        data-testid={`${testid}-confirm`}
      >
        {confirmLabel || label}
      </button>
      <button type="button" class="btn btn-small" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

/** Client-side checks that show after the first submit and then follow every edit, so a
 *  corrected field loses its error at once. `check()` (in submit) returns the errors. */
export function useChecked(validate) {
  const [tried, setTried] = useState(false);
  const errors = tried ? validate() : {};
  return {
    errors,
    check: () => {
      setTried(true);
      return validate();
    },
  };
}

/** GET `path` once, picking `key` from the answer; `reload()` fetches again. */
export function useList(path, key) {
  const [items, setItems] = useState(null);
  const [error, setError] = useState('');
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setError('');
    get(path)
      .then((res) => live && setItems((res && res[key]) || []))
      .catch((e) => live && setError(e.message || 'Could not load.'));
    return () => {
      live = false;
    };
  }, [path, n]);
  return { items, setItems, error, reload: () => setN((x) => x + 1) };
}

/** Run an API write. The server's error message lands next to the field it names (one of
 *  `fields`), else above the form's buttons: `fieldError(name)` and `formError`. */
export function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState({ message: '', field: '' });
  const run = async (fn, fields = []) => {
    setBusy(true);
    setError({ message: '', field: '' });
    try {
      return await fn();
    } catch (e) {
      const message = e.message || 'Something went wrong.';
      setError({ message, field: errorField(message, fields) });
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return {
    busy,
    run,
    formError: error.field ? '' : error.message,
    fieldError: (name) => (error.field === name ? error.message : ''),
    clear: () => setError({ message: '', field: '' }),
  };
}

export function Loading({ error, what }) {
  if (error)
    return (
      <p class="form-error" role="alert">
        {error}
      </p>
    );
  return (
    <p class="muted" role="status">
      Loading {what}…
    </p>
  );
}
