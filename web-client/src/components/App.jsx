import { useEffect, useRef, useState } from 'preact/hooks';
import { useStore } from '../hooks.js';
import { avatarHue, initials, isOnline } from '../lib/logic.js';
import { dismissToast, login, logout, selectConversation } from '../store.js';
import { ConversationList } from './ConversationList.jsx';
import { Dashboard, DashboardButton } from './Dashboard.jsx';
import { NewConversationDialog, SettingsDialog } from './Dialogs.jsx';
import { SettingsArea, SettingsButton } from './SettingsArea.jsx';
import { IconInbox, IconLogout, IconPlus, IconSettings, IconWifiOff } from './icons.jsx';
import { Thread } from './Thread.jsx';

export function App() {
  const s = useStore();
  if (s.phase === 'loading') {
    return (
      <div class="splash" role="status" aria-live="polite">
        <div class="spinner" aria-hidden="true" />
        <span>Loading your inbox…</span>
      </div>
    );
  }
  if (s.phase === 'login') return <Login message={s.loginMessage} />;
  return <Shell s={s} />;
}

function Login({ message }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const emailRef = useRef(null);
  useEffect(() => emailRef.current && emailRef.current.focus(), []);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await login(email.trim(), password);
    } catch (err) {
      setError(err.status === 401 || err.code === 'unauthenticated' ? 'Wrong email or password.' : err.message);
      setBusy(false);
    }
  };

  return (
    <main class="login-page">
      <form class="login-card" onSubmit={submit} data-testid="login-form" aria-labelledby="login-title">
        <div class="brand brand-large">
          <span class="brand-mark" aria-hidden="true">
            <IconInbox size={20} />
          </span>
          <span>Conversations</span>
        </div>
        <h1 id="login-title">Sign in to your inbox</h1>
        {message && !error ? (
          <p class="notice" role="status">
            {message}
          </p>
        ) : null}
        <label class="field">
          <span>Email</span>
          <input
            ref={emailRef}
            type="email"
            name="email"
            autocomplete="username"
            required
            value={email}
            onInput={(e) => setEmail(e.currentTarget.value)}
            data-testid="login-email"
          />
        </label>
        <label class="field">
          <span>Password</span>
          <input
            type="password"
            name="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
            data-testid="login-password"
          />
        </label>
        {error ? (
          <p class="form-error" role="alert" data-testid="login-error">
            {error}
          </p>
        ) : null}
        <button class="btn btn-primary btn-block" type="submit" disabled={busy} data-testid="login-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

export function Avatar({ user, name, size = 28, status }) {
  const label = name || (user && user.name) || '?';
  const hue = avatarHue((user && user.id) || label);
  return (
    <span
      class="avatar"
      style={{ width: `${size}px`, height: `${size}px`, fontSize: `${Math.round(size * 0.4)}px`, background: `hsl(${hue} 55% 88%)`, color: `hsl(${hue} 45% 28%)` }}
      aria-hidden="true"
    >
      {initials(label)}
      {status ? <span class={`presence-dot ${isOnline(status) ? 'is-online' : 'is-offline'}`} /> : null}
    </span>
  );
}

function TopBar({ s, onNew, onSettings, onDashboard, onAdmin }) {
  const online = Object.values(s.users).filter((u) => isOnline(s.presence[u.id]));
  online.sort((a, b) => (a.id === s.me.id ? -1 : b.id === s.me.id ? 1 : a.name.localeCompare(b.name)));
  return (
    <header class="topbar">
      <div class="brand">
        <span class="brand-mark" aria-hidden="true">
          <IconInbox size={16} />
        </span>
        <span>Conversations</span>
      </div>
      <div class="topbar-presence" data-testid="presence" aria-label="Teammates online">
        <span class="presence-label">
          {online.length} online
        </span>
        <ul class="presence-list">
          {online.slice(0, 6).map((u) => (
            <li key={u.id} title={`${u.name} is online`} data-testid="presence-user" data-user-id={u.id}>
              <Avatar user={u} size={26} status={s.presence[u.id]} />
              <span class="sr-only">{u.name} is online</span>
            </li>
          ))}
          {online.length > 6 ? <li class="presence-more">+{online.length - 6}</li> : null}
        </ul>
      </div>
      <div class="topbar-actions">
        <button type="button" class="btn btn-primary" onClick={onNew} data-testid="new-conversation" aria-label="New conversation">
          <IconPlus />
          <span class="hide-narrow">New</span>
        </button>
        <DashboardButton onClick={onDashboard} />
        <SettingsButton me={s.me} onClick={onAdmin} />
        <button type="button" class="btn btn-icon" onClick={onSettings} aria-label="Settings" title="Settings" data-testid="open-settings">
          <IconSettings />
        </button>
        <span class="me" title={s.me.email}>
          <Avatar user={s.me} size={28} status={s.presence[s.me.id] || 'online'} />
          <span class="me-name hide-narrow" data-testid="me-name">
            {s.me.name}
          </span>
        </span>
        <button type="button" class="btn btn-icon" onClick={logout} aria-label="Sign out" title="Sign out" data-testid="logout">
          <IconLogout />
        </button>
      </div>
    </header>
  );
}

function ConnectionBanner({ s }) {
  const show = s.everConnected && s.connection !== 'online';
  return (
    <div class="banner-slot" role="status" aria-live="polite">
      {show ? (
        <div class="banner banner-warn" data-testid="reconnecting-banner">
          <IconWifiOff />
          <span>
            <strong>Reconnecting…</strong> The connection to the server was lost. Messages and changes made meanwhile will appear
            as soon as it is back.
          </span>
          <span class="spinner spinner-small" aria-hidden="true" />
        </div>
      ) : null}
    </div>
  );
}

function Toasts({ toasts }) {
  return (
    <div class="toasts" aria-live="polite" data-testid="toasts">
      {toasts.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'} data-testid="toast">
          {t.conversationId ? (
            <button
              type="button"
              class="toast-link"
              onClick={() => {
                selectConversation(t.conversationId);
                dismissToast(t.id);
              }}
            >
              {t.text}
            </button>
          ) : (
            <span>{t.text}</span>
          )}
          <button type="button" class="toast-close" aria-label="Dismiss" onClick={() => dismissToast(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

function Shell({ s }) {
  const [dialog, setDialog] = useState(null);
  const [detailsOpen, setDetailsOpen] = useState(() => window.innerWidth >= 1280);
  useEffect(() => {
    // The details panel sits beside the thread on wide screens and over it on narrow ones:
    // open it by default only where it does not cover the conversation.
    const mq = window.matchMedia('(min-width: 1280px)');
    const onChange = () => setDetailsOpen(mq.matches);
    mq.addEventListener('change', onChange);
    return () => mq.removeEventListener('change', onChange);
  }, []);
  const conv = s.selectedId ? s.convs[s.selectedId] : null;
  return (
    <div class="app" data-testid="app">
      <a class="skip-link" href="#thread-main">
        Skip to conversation
      </a>
      <TopBar s={s} onNew={() => setDialog('new')} onSettings={() => setDialog('settings')} onDashboard={() => setDialog('dashboard')} onAdmin={() => setDialog('admin')} />
      <ConnectionBanner s={s} />
      <div class={`workspace ${s.selectedId ? 'has-thread' : 'no-thread'}`}>
        <ConversationList s={s} />
        <main id="thread-main" class="thread-pane" tabIndex={-1} aria-label="Conversation">
          {s.selectedId ? (
            <Thread s={s} id={s.selectedId} conv={conv} detailsOpen={detailsOpen} setDetailsOpen={setDetailsOpen} />
          ) : (
            <div class="empty-thread" data-testid="empty-thread">
              <IconInbox size={40} />
              <h2>No conversation selected</h2>
              <p>Pick one from the list, or start a new one.</p>
            </div>
          )}
        </main>
      </div>
      <Toasts toasts={s.toasts} />
      <div class="sr-only" aria-live="polite" data-testid="announcer">
        {s.announcement}
      </div>
      {dialog === 'settings' ? <SettingsDialog s={s} onClose={() => setDialog(null)} /> : null}
      {dialog === 'new' ? <NewConversationDialog s={s} onClose={() => setDialog(null)} /> : null}
      {dialog === 'dashboard' ? <Dashboard s={s} onClose={() => setDialog(null)} /> : null}
      {dialog === 'admin' ? <SettingsArea s={s} onClose={() => setDialog(null)} /> : null}
    </div>
  );
}
