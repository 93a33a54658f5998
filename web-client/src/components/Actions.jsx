import { useEffect, useRef, useState } from 'preact/hooks';
import { useDismiss } from '../hooks.js';
import { SNOOZE_PRESETS, snoozeUntil } from '../lib/logic.js';
import { addTag, assign, linkCustomer, removeTag, searchCustomers, setStatus, snooze } from '../store.js';
import { TagPill } from './ConversationList.jsx';
import { Modal } from './Dialogs.jsx';
import { IconCheckCircle, IconLink, IconPlus, IconReopen, IconSearch, IconSnooze } from './icons.jsx';
import { Menu } from './Menu.jsx';

export function AssigneeSelect({ s, conv }) {
  const value = conv.assignee_user_id ? `u:${conv.assignee_user_id}` : conv.assignee_team_id ? `t:${conv.assignee_team_id}` : '';
  const users = Object.values(s.users).sort((a, b) => a.name.localeCompare(b.name));
  const teams = Object.values(s.teams).sort((a, b) => a.name.localeCompare(b.name));
  const onChange = (e) => {
    const v = e.currentTarget.value;
    if (v === value) return;
    const [kind, id] = v ? [v.slice(0, 1), v.slice(2)] : ['', ''];
    assign(conv.id, { userId: kind === 'u' ? id : null, teamId: kind === 't' ? id : null }).catch(() => {
      e.target.value = value;
    });
  };
  return (
    <label class="assignee">
      <span class="sr-only">Assignee</span>
      <select value={value} onChange={onChange} data-testid="assignee-select" aria-label="Assignee">
        <option value="">Unassigned</option>
        <optgroup label="People">
          {users.map((u) => (
            <option key={u.id} value={`u:${u.id}`}>
              {u.id === s.me.id ? `${u.name} (me)` : u.name}
            </option>
          ))}
        </optgroup>
        {teams.length ? (
          <optgroup label="Teams">
            {teams.map((t) => (
              <option key={t.id} value={`t:${t.id}`}>
                {t.name}
              </option>
            ))}
          </optgroup>
        ) : null}
      </select>
    </label>
  );
}

export function SnoozeMenu({ conv, tz }) {
  const fmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit', ...(tz ? safeTz(tz) : {}) });
  const items = SNOOZE_PRESETS.map((p) => ({
    key: p.preset,
    label: p.label,
    hint: fmt.format(snoozeUntil(p.preset)),
    testid: `snooze-${p.preset}`,
    onSelect: () => snooze(conv.id, p.preset).catch(() => {}),
  }));
  return (
    <Menu
      label={
        <>
          <IconSnooze />
          <span class="hide-narrow">Snooze</span>
        </>
      }
      items={items}
      menuLabel="Snooze until"
      header="Snooze until…"
      align="right"
      testid="snooze-menu"
      buttonClass="btn"
      buttonProps={{ 'data-testid': 'snooze-button', 'aria-label': 'Snooze', title: 'Snooze' }}
    />
  );
}

function safeTz(tz) {
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: tz });
    return { timeZone: tz };
  } catch {
    return {};
  }
}

export function StatusButtons({ conv }) {
  const resolved = conv.status === 'resolved';
  return (
    <>
      {conv.status === 'pending' || conv.status === 'snoozed' ? (
        <button type="button" class="btn" onClick={() => setStatus(conv.id, 'open').catch(() => {})} data-testid="reopen-button">
          <IconReopen />
          <span class="hide-narrow">Reopen</span>
        </button>
      ) : null}
      {resolved ? (
        <button type="button" class="btn" onClick={() => setStatus(conv.id, 'open').catch(() => {})} data-testid="reopen-button">
          <IconReopen />
          <span>Reopen</span>
        </button>
      ) : (
        <button type="button" class="btn btn-success" onClick={() => setStatus(conv.id, 'resolved').catch(() => {})} data-testid="resolve-button">
          <IconCheckCircle />
          <span>Resolve</span>
        </button>
      )}
    </>
  );
}

/** Tags on the conversation, with a combobox to add existing ones or create one inline. */
export function TagEditor({ s, conv }) {
  const [open, setOpen] = useState(false);
  const [q, setQ] = useState('');
  const [active, setActive] = useState(0);
  const rootRef = useRef(null);
  const btnRef = useRef(null);
  const inputRef = useRef(null);
  useDismiss(open, setOpen, rootRef, btnRef);
  useEffect(() => {
    if (open && inputRef.current) inputRef.current.focus();
    if (!open) {
      setQ('');
      setActive(0);
    }
  }, [open]);

  const applied = new Set(conv.tag_ids || []);
  const all = Object.values(s.tags).filter((t) => !t.deleted);
  const needle = q.trim().toLowerCase();
  const options = all
    .filter((t) => !applied.has(t.id) && (!needle || t.name.toLowerCase().includes(needle)))
    .sort((a, b) => {
      const ap = a.name.toLowerCase().startsWith(needle) ? 0 : 1;
      const bp = b.name.toLowerCase().startsWith(needle) ? 0 : 1;
      return ap - bp || a.name.localeCompare(b.name);
    })
    .map((t) => ({ key: t.id, tag: t }));
  const exact = all.some((t) => t.name.toLowerCase() === needle);
  if (needle && !exact) options.push({ key: '__create', create: q.trim() });

  const choose = (opt) => {
    if (!opt) return;
    if (opt.create) addTag(conv.id, { name: opt.create }).catch(() => {});
    else addTag(conv.id, { tagId: opt.tag.id }).catch(() => {});
    setQ('');
    setActive(0);
    if (inputRef.current) inputRef.current.focus();
  };

  const onKeyDown = (e) => {
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      setActive((a) => Math.min(a + 1, options.length - 1));
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      setActive((a) => Math.max(a - 1, 0));
    } else if (e.key === 'Enter') {
      e.preventDefault();
      choose(options[active]);
    }
  };

  return (
    <div class="tag-editor" ref={rootRef} data-testid="tag-editor">
      <div class="tag-list">
        {(conv.tag_ids || []).map((id) =>
          s.tags[id] ? <TagPill key={id} tag={s.tags[id]} onRemove={() => removeTag(conv.id, id).catch(() => {})} /> : null,
        )}
        <button
          type="button"
          class="btn btn-small btn-ghost"
          ref={btnRef}
          aria-haspopup="listbox"
          aria-expanded={open ? 'true' : 'false'}
          onClick={() => setOpen(!open)}
          data-testid="add-tag"
        >
          <IconPlus size={14} /> Add tag
        </button>
      </div>
      {open ? (
        <div class="popover">
          <input
            ref={inputRef}
            type="text"
            class="input"
            placeholder="Find or create a tag"
            value={q}
            onInput={(e) => {
              setQ(e.currentTarget.value);
              setActive(0);
            }}
            onKeyDown={onKeyDown}
            role="combobox"
            aria-expanded="true"
            aria-controls="tag-options"
            aria-autocomplete="list"
            aria-activedescendant={options[active] ? `tag-opt-${options[active].key}` : undefined}
            aria-label="Find or create a tag"
            data-testid="tag-input"
          />
          <ul id="tag-options" role="listbox" class="options" aria-label="Tags">
            {options.map((o, i) => (
              <li
                key={o.key}
                id={`tag-opt-${o.key}`}
                role="option"
                aria-selected={i === active ? 'true' : 'false'}
                class={`option ${i === active ? 'is-active' : ''}`}
                onMouseDown={(e) => e.preventDefault()}
                onClick={() => choose(o)}
                data-testid={o.create ? 'tag-create' : 'tag-option'}
              >
                {o.create ? (
                  <span>
                    Create tag “<strong>{o.create}</strong>”
                  </span>
                ) : (
                  <>
                    <span class="swatch" style={{ background: o.tag.color }} aria-hidden="true" />
                    {o.tag.name}
                  </>
                )}
              </li>
            ))}
            {options.length === 0 ? <li class="option muted">Type to create a tag</li> : null}
          </ul>
        </div>
      ) : null}
    </div>
  );
}

export function CustomerSection({ s, conv }) {
  const [open, setOpen] = useState(false);
  const customer = conv.customer_id ? s.customers[conv.customer_id] : null;
  const branch = customer && conv.branch_id ? (customer.branches || []).find((b) => b.id === conv.branch_id) : null;
  const salesman = customer && customer.salesman_id ? s.users[customer.salesman_id] : null;
  return (
    <section class="details-section" data-testid="customer-section">
      <h4>Customer</h4>
      {conv.customer_id ? (
        <div class="customer-card">
          <div class="customer-name" data-testid="linked-customer">
            {customer ? customer.name : 'Loading…'}
          </div>
          {branch ? <div class="muted">{branch.name}</div> : null}
          {salesman ? <div class="muted">Salesman: {salesman.name}</div> : null}
          <div class="row-gap">
            <button type="button" class="btn btn-small" onClick={() => setOpen(true)}>
              Change
            </button>
            <button type="button" class="btn btn-small btn-ghost" onClick={() => linkCustomer(conv.id, null).catch(() => {})} data-testid="unlink-customer">
              Unlink
            </button>
          </div>
        </div>
      ) : (
        <button type="button" class="btn btn-small" onClick={() => setOpen(true)} data-testid="link-customer">
          <IconLink size={14} /> Link a customer
        </button>
      )}
      {open ? <LinkCustomerDialog conv={conv} onClose={() => setOpen(false)} /> : null}
    </section>
  );
}

export function LinkCustomerDialog({ conv, onClose }) {
  const [q, setQ] = useState('');
  const [results, setResults] = useState([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    let cancelled = false;
    if (!q.trim()) {
      setResults([]);
      setBusy(false);
      return undefined;
    }
    setBusy(true);
    const t = setTimeout(() => {
      searchCustomers(q.trim())
        .then((r) => {
          if (!cancelled) {
            setResults(r);
            setError('');
          }
        })
        .catch((e) => !cancelled && setError(e.message))
        .finally(() => !cancelled && setBusy(false));
    }, 250);
    return () => {
      cancelled = true;
      clearTimeout(t);
    };
  }, [q]);

  const pick = async (customer, branchId) => {
    await linkCustomer(conv.id, customer.id, branchId).catch(() => {});
    onClose();
  };

  return (
    <Modal title="Link a customer" onClose={onClose} testid="link-customer-dialog">
      <label class="field search-field">
        <span class="sr-only">Search customers</span>
        <IconSearch />
        <input
          type="search"
          class="input"
          placeholder="Search customers by name"
          value={q}
          autofocus
          onInput={(e) => setQ(e.currentTarget.value)}
          data-testid="customer-search"
        />
      </label>
      <div aria-live="polite" class="muted small">
        {!q.trim()
          ? 'Type a customer or branch name.'
          : busy
            ? 'Searching…'
            : error || `${results.length} customer${results.length === 1 ? '' : 's'} found`}
      </div>
      <ul class="result-list" data-testid="customer-results">
        {results.map((c) => (
          <li key={c.id}>
            <button type="button" class="result" onClick={() => pick(c, null)} data-testid="customer-result">
              <span class="result-name">{c.name}</span>
              {c.branches && c.branches.length ? <span class="muted small">{c.branches.length} branches</span> : null}
            </button>
            {(c.branches || []).map((b) => (
              <button key={b.id} type="button" class="result result-branch" onClick={() => pick(c, b.id)}>
                ↳ {b.name}
                {b.address ? <span class="muted small"> · {b.address}</span> : null}
              </button>
            ))}
          </li>
        ))}
      </ul>
    </Modal>
  );
}
