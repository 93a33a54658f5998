import { useEffect, useState } from 'preact/hooks';
import { formatFull } from '../lib/logic.js';
import {
  MAX_DESCRIPTION,
  MAX_PARTICIPANTS,
  MAX_SUBJECT,
  canManage,
  groupApi,
  inviteTemplates,
  participantLabel,
  splitNumbers,
} from '../lib/groups.js';
import { toast } from '../store.js';
import { CustomerSection, TagEditor } from './Actions.jsx';
import { Modal } from './Dialogs.jsx';

/** Runs a group call; its refusal becomes a toast with the server's words. */
async function attempt(what, run) {
  try {
    return await run();
  } catch (e) {
    toast(`${what}: ${e.message}`, 'error');
    return null;
  }
}

/** The right panel of a group conversation (replaces the contact view). */
export function GroupPanel({ s, conv }) {
  const g = conv.group;
  const manage = canManage(s.me);
  const live = g.state === 'active';
  const tz = s.me.time_zone;
  return (
    <div class="group-panel" data-testid="group-panel" data-group-state={g.state}>
      {g.suspended && g.state !== 'deleted' ? (
        <div class="group-banner group-banner-danger" role="alert" data-testid="group-suspended">
          WhatsApp suspended this group. Outgoing messages are blocked until the suspension is lifted.
        </div>
      ) : null}
      {g.state === 'deleted' ? (
        <div class="group-banner" role="status" data-testid="group-archived">
          Deleted by {g.deleted_by || 'WhatsApp'}
          {g.deleted_at ? ` on ${formatFull(g.deleted_at, tz)}` : ''}. This conversation is a read-only archive.
        </div>
      ) : null}
      {g.state === 'creating' ? (
        <div class="group-banner" role="status">
          WhatsApp is creating the group…
        </div>
      ) : null}
      {g.state === 'failed' ? (
        <div class="group-banner group-banner-danger" role="alert">
          WhatsApp could not create the group: {g.failure_reason}
        </div>
      ) : null}
      <GroupSettings conv={conv} editable={manage && live} />
      {live ? <InviteLink conv={conv} manage={manage} templates={inviteTemplates(s.templates, conv)} /> : null}
      <Participants conv={conv} manage={manage && live} />
      {g.join_approval || g.join_requests.length ? <JoinRequests conv={conv} manage={manage && live} /> : null}
      <CustomerSection s={s} conv={conv} />
      <section class="details-section">
        <h4 id="tags-heading">Tags</h4>
        <TagEditor s={s} conv={conv} />
      </section>
      {manage && live ? <DeleteGroup conv={conv} /> : null}
    </div>
  );
}

function GroupSettings({ conv, editable }) {
  const g = conv.group;
  const [editing, setEditing] = useState(false);
  const [subject, setSubject] = useState(g.subject);
  const [description, setDescription] = useState(g.description);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!editing) {
      setSubject(g.subject);
      setDescription(g.description);
    }
  }, [g.subject, g.description, editing]);
  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    const done = await attempt('Could not change the group', () =>
      groupApi.update(conv.id, { subject: subject.trim(), description: description.trim() }),
    );
    setBusy(false);
    if (done) setEditing(false);
  };
  if (editing) {
    return (
      <section class="details-section">
        <h4>Subject & description</h4>
        <form class="form" onSubmit={save}>
          <label>
            Subject
            <input value={subject} maxLength={MAX_SUBJECT} required onInput={(e) => setSubject(e.currentTarget.value)} data-testid="group-edit-subject" />
          </label>
          <label>
            Description
            <textarea value={description} maxLength={MAX_DESCRIPTION} rows={3} onInput={(e) => setDescription(e.currentTarget.value)} data-testid="group-edit-description" />
          </label>
          <div class="form-actions">
            <button type="button" class="btn btn-small" onClick={() => setEditing(false)}>
              Cancel
            </button>
            <button type="submit" class="btn btn-small btn-primary" disabled={busy || !subject.trim()} data-testid="group-edit-save">
              Save
            </button>
          </div>
        </form>
      </section>
    );
  }
  return (
    <section class="details-section">
      <h4>Subject & description</h4>
      <p class="group-subject" data-testid="group-subject-text">
        {g.subject}
      </p>
      <p class="muted group-description">{g.description || 'No description'}</p>
      {editable ? (
        <button type="button" class="btn btn-link btn-small" onClick={() => setEditing(true)} data-testid="group-edit">
          Edit
        </button>
      ) : null}
    </section>
  );
}

function InviteLink({ conv, manage, templates }) {
  const link = conv.group.invite_link;
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(link);
      toast('Invite link copied', 'success');
    } catch {
      toast('Copy the link by hand: the browser refused the clipboard', 'error');
    }
  };
  const refresh = () => {
    if (!confirm('Reset the invite link? The old link stops working.')) return;
    attempt('Could not reset the invite link', () => groupApi.inviteLink(conv.id, true));
  };
  const [inviting, setInviting] = useState(false);
  return (
    <section class="details-section">
      <h4>Invite link</h4>
      <p class="group-link" data-testid="group-invite-link">
        {link || '—'}
      </p>
      <div class="group-actions">
        <button type="button" class="btn btn-small" onClick={copy} disabled={!link} data-testid="group-copy-link">
          Copy
        </button>
        {manage ? (
          <>
            <button type="button" class="btn btn-small" onClick={refresh} data-testid="group-reset-link">
              Refresh
            </button>
            <button type="button" class="btn btn-small btn-primary" onClick={() => setInviting(true)} data-testid="group-invite">
              Invite participants
            </button>
          </>
        ) : null}
      </div>
      {inviting ? <InviteForm conv={conv} templates={templates} onClose={() => setInviting(false)} /> : null}
    </section>
  );
}

function Participants({ conv, manage }) {
  const g = conv.group;
  const remove = (p) => {
    if (!confirm(`Remove ${participantLabel(p)} from the group?`)) return;
    attempt('Could not remove the participant', () => groupApi.removeParticipant(conv.id, p.wa_id));
  };
  return (
    <section class="details-section">
      <h4>
        Participants{' '}
        <span class="muted" data-testid="group-count">
          {g.participants.length}/{MAX_PARTICIPANTS}
        </span>
      </h4>
      <ul class="group-list" data-testid="group-participants">
        {g.participants.map((p) => (
          <li key={p.wa_id} data-testid="group-participant" data-wa-id={p.wa_id}>
            <span>{p.role === 'admin' && p.wa_id === g.host_number ? `Host number (+${p.wa_id})` : participantLabel(p)}</span>
            <span class={`role role-${p.role}`}>{p.role}</span>
            {manage && !(p.role === 'admin' && p.wa_id === g.host_number) ? (
              <button type="button" class="btn btn-link btn-small" onClick={() => remove(p)} aria-label={`Remove ${participantLabel(p)}`}>
                Remove
              </button>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}

function JoinRequests({ conv, manage }) {
  const requests = conv.group.join_requests;
  return (
    <section class="details-section">
      <h4>Pending join requests</h4>
      {requests.length ? null : <p class="muted">None</p>}
      <ul class="group-list" data-testid="group-join-requests">
        {requests.map((r) => (
          <li key={r.id} data-testid="group-join-request">
            <span>{participantLabel(r)}</span>
            {manage ? (
              <>
                <button type="button" class="btn btn-small" onClick={() => attempt('Could not approve', () => groupApi.answer(conv.id, r.id, true))}>
                  Approve
                </button>
                <button type="button" class="btn btn-link btn-small" onClick={() => attempt('Could not reject', () => groupApi.answer(conv.id, r.id, false))}>
                  Reject
                </button>
              </>
            ) : null}
          </li>
        ))}
      </ul>
      {manage ? (
        <button type="button" class="btn btn-link btn-small" onClick={() => attempt('Could not list the requests', () => groupApi.joinRequests(conv.id))}>
          Refresh from WhatsApp
        </button>
      ) : null}
    </section>
  );
}

function DeleteGroup({ conv }) {
  const remove = () => {
    if (!confirm('Delete this group in WhatsApp for every member? The conversation stays here as a read-only archive.')) return;
    attempt('Could not delete the group', () => groupApi.remove(conv.id));
  };
  return (
    <section class="details-section group-delete">
      <button type="button" class="btn btn-danger" onClick={remove} data-testid="group-delete">
        Delete Group
      </button>
    </section>
  );
}

export function InviteForm({ conv, onClose, templates }) {
  const [mode, setMode] = useState('numbers');
  const [templateId, setTemplateId] = useState(templates.length ? templates[0].id : '');
  const [numbers, setNumbers] = useState('');
  const [suggestions, setSuggestions] = useState([]);
  const [picked, setPicked] = useState({});
  const [results, setResults] = useState(null);
  const [busy, setBusy] = useState(false);

  const lastNumber = splitNumbers(numbers).slice(-1)[0] || '';
  useEffect(() => {
    if (mode !== 'numbers' || lastNumber.length < 2) {
      setSuggestions([]);
      return undefined;
    }
    const timer = setTimeout(() => {
      groupApi
        .recipients(lastNumber)
        .then((res) => setSuggestions((res && res.recipients) || []))
        .catch(() => setSuggestions([]));
    }, 200);
    return () => clearTimeout(timer);
  }, [lastNumber, mode]);

  const pickSuggestion = (row) => {
    const parts = splitNumbers(numbers);
    parts[parts.length - 1] = row.phone;
    setNumbers(parts.join(', ') + ', ');
    setSuggestions([]);
  };

  const send = async (e) => {
    e.preventDefault();
    setBusy(true);
    const body = { template_id: templateId };
    if (mode === 'numbers') body.phones = splitNumbers(numbers);
    else body.conversation_ids = Object.keys(picked).filter((id) => picked[id]);
    const res = await attempt('Could not send the invites', () => groupApi.invite(conv.id, body));
    setBusy(false);
    if (res) setResults(res.results || []);
  };

  return (
    <Modal title="Invite participants" onClose={onClose} testid="group-invite-dialog" wide>
      <form class="form" onSubmit={send}>
        <div class="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={mode === 'numbers' ? 'true' : 'false'} class={`tab ${mode === 'numbers' ? 'is-active' : ''}`} onClick={() => setMode('numbers')}>
            Type numbers
          </button>
          <button type="button" role="tab" aria-selected={mode === 'pick' ? 'true' : 'false'} class={`tab ${mode === 'pick' ? 'is-active' : ''}`} onClick={() => setMode('pick')} data-testid="group-invite-pick">
            Pick from existing conversations
          </button>
        </div>
        {mode === 'numbers' ? (
          <label>
            Phone numbers (comma separated; type a name to search customers, branches and contacts)
            <textarea rows={2} value={numbers} onInput={(e) => setNumbers(e.currentTarget.value)} data-testid="group-invite-numbers" />
            {suggestions.length ? (
              <ul class="group-suggestions" role="listbox">
                {suggestions.map((row) => (
                  <li key={row.phone}>
                    <button type="button" class="btn btn-link" onClick={() => pickSuggestion(row)}>
                      {row.name} · {row.phone} <span class="muted">({row.source})</span>
                    </button>
                  </li>
                ))}
              </ul>
            ) : null}
          </label>
        ) : (
          <ConversationPicker conv={conv} picked={picked} setPicked={setPicked} />
        )}
        <label>
          Approved invite template
          <select value={templateId} onChange={(e) => setTemplateId(e.currentTarget.value)} data-testid="group-invite-template">
            {templates.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
          </select>
        </label>
        {!templates.length ? <p class="muted">No approved template on this number yet.</p> : null}
        {results ? (
          <ul class="group-list" data-testid="group-invite-results">
            {results.map((r, i) => (
              <li key={i}>
                {r.to || r.conversation_id}: {r.ok ? 'sent' : r.error.message}
              </li>
            ))}
          </ul>
        ) : null}
        <div class="form-actions">
          <button type="button" class="btn" onClick={onClose}>
            Close
          </button>
          <button type="submit" class="btn btn-primary" disabled={busy || !templateId} data-testid="group-invite-send">
            {busy ? 'Sending…' : 'Send invites'}
          </button>
        </div>
      </form>
    </Modal>
  );
}

function ConversationPicker({ conv, picked, setPicked }) {
  const [q, setQ] = useState('');
  const [rows, setRows] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [loading, setLoading] = useState(false);
  const load = async (query, from) => {
    setLoading(true);
    const res = await attempt('Could not list conversations', () => groupApi.candidates(conv.id, query, from));
    setLoading(false);
    if (!res) return;
    setRows((prev) => (from ? [...prev, ...res.candidates] : res.candidates));
    setCursor(res.cursor);
  };
  useEffect(() => {
    const timer = setTimeout(() => load(q.trim(), null), 200);
    return () => clearTimeout(timer);
  }, [q]);
  return (
    <div class="group-picker">
      <input type="search" placeholder="Search by name or number" value={q} onInput={(e) => setQ(e.currentTarget.value)} aria-label="Search conversations" />
      <ul class="group-list" data-testid="group-candidates">
        {rows.map((row) => (
          <li key={row.conversation_id}>
            <label class="check">
              <input
                type="checkbox"
                checked={!!picked[row.conversation_id]}
                onChange={(e) => setPicked({ ...picked, [row.conversation_id]: e.currentTarget.checked })}
              />
              {row.name} · {row.phone}
            </label>
          </li>
        ))}
      </ul>
      {cursor ? (
        <button type="button" class="btn btn-link btn-small" disabled={loading} onClick={() => load(q.trim(), cursor)}>
          {loading ? 'Loading…' : 'More'}
        </button>
      ) : null}
    </div>
  );
}
