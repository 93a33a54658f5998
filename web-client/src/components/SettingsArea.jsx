// The admin Settings area: Accounts, Templates, Tags, Users & teams, as tabs in a wide modal.
// Agents never get here (no top-bar entry; the area refuses too, and so does the API).
import { useRef, useState } from 'preact/hooks';
import { Modal } from './Dialogs.jsx';
import { SettingsAccounts } from './SettingsAccounts.jsx';
import { SettingsTags } from './SettingsTags.jsx';
import { SettingsTemplates } from './SettingsTemplates.jsx';
import { SettingsUsers } from './SettingsUsers.jsx';

const TABS = [
  { id: 'accounts', label: 'Accounts' },
  { id: 'templates', label: 'Templates' },
  { id: 'tags', label: 'Tags' },
  { id: 'users', label: 'Users & teams' },
];

const IconSliders = ({ size = 16 }) => (
  <svg width={size} height={size} viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" class="icon" aria-hidden="true" focusable="false">
    <path d="M4 6h10M18 6h2M4 12h4M12 12h8M4 18h12M20 18h0" />
    <circle cx="16" cy="6" r="2" />
    <circle cx="10" cy="12" r="2" />
    <circle cx="18" cy="18" r="2" />
  </svg>
);

/** The top-bar entry, for admins only. */
export function SettingsButton({ me, onClick }) {
  if (!me || me.role !== 'admin') return null;
  return (
    <button type="button" class="btn btn-icon" onClick={onClick} aria-label="Workspace settings" title="Workspace settings" data-testid="open-admin-settings">
      <IconSliders />
    </button>
  );
}

export function SettingsArea({ s, onClose }) {
  const [tab, setTab] = useState('accounts');
  const tabRefs = useRef({});
  const isAdmin = s.me && s.me.role === 'admin';

  const onKeyDown = (e) => {
    const i = TABS.findIndex((t) => t.id === tab);
    let next = null;
    if (e.key === 'ArrowRight') next = TABS[(i + 1) % TABS.length];
    else if (e.key === 'ArrowLeft') next = TABS[(i - 1 + TABS.length) % TABS.length];
    else if (e.key === 'Home') next = TABS[0];
    else if (e.key === 'End') next = TABS[TABS.length - 1];
    if (!next) return;
    e.preventDefault();
    setTab(next.id);
    const el = tabRefs.current[next.id];
    if (el) el.focus();
  };

  return (
    <Modal title="Workspace settings" onClose={onClose} testid="admin-settings" wide>
      {!isAdmin ? (
        <p class="notice" role="alert" data-testid="settings-forbidden">
          Only admins can change workspace settings. Your own profile is under “Settings”.
        </p>
      ) : (
        <div class="settings">
          <div class="settings-tabs" role="tablist" aria-label="Settings sections" onKeyDown={onKeyDown}>
            {TABS.map((t) => (
              <button
                key={t.id}
                ref={(el) => (tabRefs.current[t.id] = el)}
                type="button"
                role="tab"
                id={`settings-tab-${t.id}`}
                aria-selected={tab === t.id ? 'true' : 'false'}
                aria-controls={`settings-panel-${t.id}`}
                tabIndex={tab === t.id ? 0 : -1}
                class={`settings-tab ${tab === t.id ? 'is-active' : ''}`}
                onClick={() => setTab(t.id)}
                data-testid={`settings-tab-${t.id}`}
              >
                {t.label}
              </button>
            ))}
          </div>
          <section class="settings-panel" role="tabpanel" id={`settings-panel-${tab}`} aria-labelledby={`settings-tab-${tab}`} tabIndex={0}>
            {tab === 'accounts' ? <SettingsAccounts s={s} /> : null}
            {tab === 'templates' ? <SettingsTemplates s={s} /> : null}
            {tab === 'tags' ? <SettingsTags /> : null}
            {tab === 'users' ? <SettingsUsers s={s} /> : null}
          </section>
        </div>
      )}
    </Modal>
  );
}
