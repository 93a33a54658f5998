import { useEffect, useState } from 'preact/hooks';
import { MAX_DESCRIPTION, MAX_SUBJECT, canManage, groupApi } from '../lib/groups.js';
import { selectConversation, toast } from '../store.js';
import { Modal } from './Dialogs.jsx';

/** "Create Group" in the conversations header: only for users with the permission. */
export function GroupCreateButton({ s }) {
  const [open, setOpen] = useState(false);
  if (!canManage(s.me)) return null;
  return (
    <>
      <button type="button" class="btn btn-small" data-testid="create-group" onClick={() => setOpen(true)}>
        Create Group
      </button>
      {open ? <GroupCreateDialog onClose={() => setOpen(false)} /> : null}
    </>
  );
}

export function GroupCreateDialog({ onClose }) {
  const [senders, setSenders] = useState(null);
  const [accountId, setAccountId] = useState('');
  const [subject, setSubject] = useState('');
  const [description, setDescription] = useState('');
  const [approval, setApproval] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');

  useEffect(() => {
    groupApi
      .senders()
      .then((res) => {
        const rows = (res && res.senders) || [];
        setSenders(rows);
        if (rows.length) setAccountId(rows[0].account_id);
      })
      .catch((e) => setError(e.message));
  }, []);

  const submit = async (e) => {
    e.preventDefault();
    if (!accountId || !subject.trim()) return;
    setBusy(true);
    setError('');
    try {
      const res = await groupApi.create({
        account_id: accountId,
        subject: subject.trim(),
        description: description.trim(),
        join_approval: approval,
      });
      toast('Group requested: WhatsApp is creating it', 'success');
      onClose();
      if (res && res.conversation) selectConversation(res.conversation.id);
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title="Create WhatsApp group" onClose={onClose} testid="group-create-dialog">
      <form class="form" onSubmit={submit}>
        <label>
          Sender (hosts the group)
          <select
            value={accountId}
            onChange={(e) => setAccountId(e.currentTarget.value)}
            data-testid="group-sender"
            disabled={!senders || !senders.length}
          >
            {(senders || []).map((row) => (
              <option key={row.account_id} value={row.account_id}>
                {row.name}
                {row.phone ? ` (${row.phone})` : ''}
              </option>
            ))}
          </select>
        </label>
        {senders && !senders.length ? (
          <p class="muted" role="status" data-testid="group-no-senders">
            None of your WhatsApp numbers can host groups: only Cloud API numbers that are Official Business Accounts can.
          </p>
        ) : null}
        <label>
          Subject
          <input
            value={subject}
            maxLength={MAX_SUBJECT}
            required
            onInput={(e) => setSubject(e.currentTarget.value)}
            data-testid="group-subject"
          />
        </label>
        <label>
          Description (optional)
          <textarea
            value={description}
            maxLength={MAX_DESCRIPTION}
            rows={3}
            onInput={(e) => setDescription(e.currentTarget.value)}
            data-testid="group-description"
          />
        </label>
        <label class="check">
          <input type="checkbox" checked={approval} onChange={(e) => setApproval(e.currentTarget.checked)} data-testid="group-approval" />
          Join Request Approval (review new members before they join)
        </label>
        {error ? (
          <p class="form-error" role="alert">
            {error}
          </p>
        ) : null}
        <div class="form-actions">
          <button type="button" class="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" disabled={busy || !accountId || !subject.trim()} data-testid="group-create-submit">
            {busy ? 'Creating…' : 'Create'}
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** The group icon shown in the list and the thread header. */
export function GroupIcon({ size = 16 }) {
  return (
    <svg width={size} height={size} viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-label="WhatsApp group" role="img" data-testid="group-icon">
      <circle cx="9" cy="8" r="3" />
      <circle cx="17" cy="9" r="2.5" />
      <path d="M3 19c0-3 3-5 6-5s6 2 6 5" />
      <path d="M15 14.5c2.5 0 6 1.2 6 4.5" />
    </svg>
  );
}
