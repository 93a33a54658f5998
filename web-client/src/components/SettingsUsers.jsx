// Settings › Users & teams (admin): add and edit users, reset a password, teams and members.
import { useState } from 'preact/hooks';
import { api, patch, post } from '../lib/api.js';
import { teamPayload, userForm, userPayload, validatePassword, validateUserForm } from '../lib/settings.js';
import { announce, reloadWorkspace } from '../store.js';
import { Check, ConfirmButton, FormError, Loading, SelectField, TextField, useChecked, useList, useSubmit } from './SettingsCommon.jsx';

const ROLES = [
  { value: 'agent', label: 'Agent' },
  { value: 'admin', label: 'Admin' },
];

export function SettingsUsers({ s }) {
  const users = useList('/api/users', 'users');
  const teams = useList('/api/teams', 'teams');
  const [editing, setEditing] = useState(null); // null | 'new' | user id
  const [resetting, setResetting] = useState(null);
  const [teamEdit, setTeamEdit] = useState(null); // null | 'new' | team id
  const delTeam = useSubmit();

  if (!users.items || !teams.items) return <Loading error={users.error || teams.error} what="users and teams" />;
  const list = users.items.slice().sort((a, b) => a.name.localeCompare(b.name));
  const byId = Object.fromEntries(users.items.map((u) => [u.id, u]));

  const userSaved = (u) => {
    users.setItems((l) => [...l.filter((x) => x.id !== u.id), u]);
    setEditing(null);
    reloadWorkspace().catch(() => {});
  };
  const teamSaved = (t) => {
    teams.setItems((l) => [...l.filter((x) => x.id !== t.id), t]);
    setTeamEdit(null);
    reloadWorkspace().catch(() => {});
  };

  return (
    <div class="settings-section" data-testid="settings-users">
      <div class="settings-toolbar">
        <h3>Users</h3>
        <button type="button" class="btn btn-primary" onClick={() => setEditing('new')} disabled={editing === 'new'} data-testid="user-new">
          Add user
        </button>
      </div>
      {editing === 'new' ? <UserForm onSaved={userSaved} onCancel={() => setEditing(null)} /> : null}
      <ul class="settings-list" aria-label="Users">
        {list.map((u) => (
          <li key={u.id} class="settings-item settings-item-col" data-testid="user-row" data-user-id={u.id}>
            {editing === u.id ? (
              <UserForm user={u} isMe={s.me.id === u.id} onSaved={userSaved} onCancel={() => setEditing(null)} />
            ) : (
              <div class="settings-item-line">
                <span class="settings-item-main">
                  <strong>{u.name}</strong> <span class="muted small">{u.email}</span>
                </span>
                <span class={`role-badge role-${u.role}`}>{u.role === 'admin' ? 'Admin' : 'Agent'}</span>
                {u.can_manage_groups ? <span class="role-badge">Manages WhatsApp groups</span> : null}
                <span class="settings-item-actions">
                  <button type="button" class="btn btn-small" onClick={() => setEditing(u.id)} aria-label={`Edit ${u.name}`} data-testid="user-edit">
                    Edit
                  </button>
                  <button type="button" class="btn btn-small" onClick={() => setResetting(resetting === u.id ? null : u.id)} aria-expanded={resetting === u.id ? 'true' : 'false'} aria-label={`Reset the password of ${u.name}`} data-testid="user-reset">
                    Reset password
                  </button>
                </span>
              </div>
            )}
            {resetting === u.id ? <ResetPassword user={u} isMe={s.me.id === u.id} onDone={() => setResetting(null)} /> : null}
          </li>
        ))}
      </ul>

      <div class="settings-toolbar">
        <h3>Teams</h3>
        <button type="button" class="btn" onClick={() => setTeamEdit('new')} disabled={teamEdit === 'new'} data-testid="team-new">
          Add team
        </button>
      </div>
      {teamEdit === 'new' ? <TeamForm users={list} onSaved={teamSaved} onCancel={() => setTeamEdit(null)} /> : null}
      <FormError message={delTeam.formError} />
      <ul class="settings-list" aria-label="Teams">
        {teams.items
          .slice()
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((t) => (
            <li key={t.id} class="settings-item settings-item-col" data-testid="team-row">
              {teamEdit === t.id ? (
                <TeamForm team={t} users={list} onSaved={teamSaved} onCancel={() => setTeamEdit(null)} />
              ) : (
                <div class="settings-item-line">
                  <span class="settings-item-main">
                    <strong>{t.name}</strong>{' '}
                    <span class="muted small">{(t.member_ids || []).map((id) => (byId[id] ? byId[id].name : id)).join(', ') || 'No members'}</span>
                  </span>
                  <span class="settings-item-actions">
                    <button type="button" class="btn btn-small" onClick={() => setTeamEdit(t.id)} aria-label={`Edit team ${t.name}`}>
                      Edit
                    </button>
                    <ConfirmButton
                      label="Delete"
                      question={`Delete the team “${t.name}”?`}
                      busy={delTeam.busy}
                      onConfirm={() =>
                        delTeam.run(async () => {
                          await api('DELETE', `/api/teams/${encodeURIComponent(t.id)}`);
                          teams.setItems((l) => l.filter((x) => x.id !== t.id));
                          announce(`Team ${t.name} deleted`);
                          reloadWorkspace().catch(() => {});
                        })
                      }
                      testid="team-delete"
                    />
                  </span>
                </div>
              )}
            </li>
          ))}
      </ul>
    </div>
  );
}

function UserForm({ user = null, isMe = false, onSaved, onCancel }) {
  const [f, setF] = useState(() => userForm(user));
  const { errors, check } = useChecked(() => validateUserForm(f, { isNew: !user }));
  const sub = useSubmit();
  const upd = (k) => (v) => setF((x) => ({ ...x, [k]: v }));
  const err = (k) => errors[k] || sub.fieldError(k);

  const submit = async (e) => {
    e.preventDefault();
    const errs = check();
    if (Object.keys(errs).length) return;
    const body = userPayload(f, user);
    if (user && Object.keys(body).length === 0) {
      onCancel();
      return;
    }
    const res = await sub.run(
      () => (user ? patch(`/api/users/${encodeURIComponent(user.id)}`, body) : post('/api/users', body)),
      ['name', 'email', 'password', 'role', 'can_manage_groups'],
    );
    if (res && res.user) {
      announce(user ? `${res.user.name} saved` : `${res.user.name} added`);
      onSaved(res.user);
    }
  };

  return (
    <form class="form settings-form" onSubmit={submit} aria-label={user ? `Edit ${user.name}` : 'New user'} data-testid="user-form" noValidate>
      <div class="form-grid">
        <TextField label="Name" value={f.name} onInput={upd('name')} error={err('name')} testid="user-name" autocomplete="off" />
        <TextField label="Email" type="email" value={f.email} onInput={upd('email')} error={err('email')} testid="user-email" autocomplete="off" />
        <SelectField
          label="Role"
          value={f.role}
          onChange={upd('role')}
          options={ROLES}
          error={err('role')}
          hint={isMe ? 'You cannot take away your own admin role if you are the only admin.' : 'Admins can change workspace settings.'}
          testid="user-role"
        />
        {!user ? (
          <TextField label="Password" type="password" autocomplete="new-password" value={f.password} onInput={upd('password')} error={err('password')} hint="At least 8 characters; they can change it later." testid="user-password" />
        ) : null}
      </div>
      <Check label="Can manage WhatsApp groups" hint="Create and delete groups, edit participants" checked={f.can_manage_groups} onChange={upd('can_manage_groups')} testid="user-groups" />
      <FormError message={sub.formError} />
      <div class="form-actions">
        <button type="button" class="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="btn btn-primary" disabled={sub.busy} data-testid="user-save">
          {sub.busy ? 'Saving…' : user ? 'Save user' : 'Add user'}
        </button>
      </div>
    </form>
  );
}

function ResetPassword({ user, isMe, onDone }) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const sub = useSubmit();
  const submit = async (e) => {
    e.preventDefault();
    const msg = validatePassword(password);
    setError(msg);
    if (msg) return;
    const res = await sub.run(() => patch(`/api/users/${encodeURIComponent(user.id)}`, { password }), ['password']);
    if (res) {
      announce(`Password of ${user.name} reset`);
      onDone();
    }
  };
  return (
    <form class="form settings-form" onSubmit={submit} aria-label={`Reset the password of ${user.name}`} data-testid="reset-form" noValidate>
      <p class="notice small">
        Resetting the password signs {isMe ? 'you' : user.name} out everywhere: every open session ends{isMe ? ', including this one' : ''}.
      </p>
      <TextField label="New password" type="password" autocomplete="new-password" value={password} onInput={setPassword} error={error || sub.fieldError('password')} testid="reset-password" />
      <FormError message={sub.formError} />
      <div class="form-actions">
        <button type="button" class="btn" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" class="btn btn-primary" disabled={sub.busy} data-testid="reset-save">
          Reset password
        </button>
      </div>
    </form>
  );
}

function TeamForm({ team = null, users, onSaved, onCancel }) {
  const [f, setF] = useState(() => ({ name: (team && team.name) || '', member_ids: [...((team && team.member_ids) || [])] }));
  const [error, setError] = useState('');
  const sub = useSubmit();
  const toggle = (id, on) => setF((x) => ({ ...x, member_ids: on ? [...x.member_ids, id] : x.member_ids.filter((m) => m !== id) }));
  const submit = async (e) => {
    e.preventDefault();
    if (!f.name.trim()) {
      setError('Give the team a name');
      return;
    }
    setError('');
    const body = teamPayload(f);
    const res = await sub.run(
      () => (team ? patch(`/api/teams/${encodeURIComponent(team.id)}`, body) : post('/api/teams', body)),
      ['name', 'member_ids'],
    );
    if (res && res.team) {
      announce(`Team ${res.team.name} saved`);
      onSaved(res.team);
    }
  };
  return (
    <form class="form settings-form" onSubmit={submit} aria-label={team ? `Edit team ${team.name}` : 'New team'} data-testid="team-form" noValidate>
      <TextField label="Team name" value={f.name} onInput={(v) => setF((x) => ({ ...x, name: v }))} error={error || sub.fieldError('name')} testid="team-name" />
      <fieldset class="field">
        <legend>Members</legend>
        <div class="check-grid">
          {users.map((u) => (
            <Check key={u.id} label={u.name} checked={f.member_ids.includes(u.id)} onChange={(on) => toggle(u.id, on)} />
          ))}
        </div>
        {sub.fieldError('member_ids') ? <span class="field-error">{sub.fieldError('member_ids')}</span> : null}
      </fieldset>
      <FormError message={sub.formError} />
      <div class="form-actions">
        <button type="button" class="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="btn btn-primary" disabled={sub.busy} data-testid="team-save">
          {team ? 'Save team' : 'Add team'}
        </button>
      </div>
    </form>
  );
}
