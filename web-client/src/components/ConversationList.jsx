import { memo } from 'preact/compat';
import { useEffect, useRef } from 'preact/hooks';
import { CHANNEL_LABELS, STATUSES, STATUS_LABELS, TABS, contrastText, formatFull, formatListTime } from '../lib/logic.js';
import { ensureTags, loadList, loadMore, selectConversation, setQuery } from '../store.js';
import { Avatar } from './App.jsx';
import { ChannelIcon } from './icons.jsx';
import { GroupCreateButton, GroupIcon } from './GroupCreate.jsx';
import { SearchBox, SearchResults, useMessageSearch } from './Search.jsx';

export function displayName(conv, s) {
  if (!conv) return '';
  if (conv.group) return conv.group.subject || conv.subject || 'WhatsApp group';
  const customer = conv.customer_id ? s.customers[conv.customer_id] : null;
  if (customer && customer.name) return customer.name;
  const contact = s.contacts[conv.contact_id];
  if (contact) return contact.name || contact.email || contact.phone || 'Unknown contact';
  return conv.subject || 'Loading…';
}

export function TagPill({ tag, onRemove }) {
  if (!tag) return null;
  const color = tag.color || '#6b7280';
  return (
    <span class="tag-pill" style={{ background: color, color: contrastText(color) }} data-testid="tag-pill" title={tag.description || tag.name}>
      {tag.name}
      {onRemove ? (
        <button type="button" class="tag-remove" aria-label={`Remove tag ${tag.name}`} onClick={onRemove} style={{ color: contrastText(color) }}>
          ×
        </button>
      ) : null}
    </span>
  );
}

export function StatusBadge({ status }) {
  return (
    <span class={`status-badge status-${status}`} data-testid="status-badge" data-status={status}>
      {STATUS_LABELS[status] || status}
    </span>
  );
}

const Row = memo(function Row({ conv, name, selected, tags, tz, assignee, typing }) {
  return (
    <li>
      <button
        type="button"
        class={`conv-row ${selected ? 'is-selected' : ''}`}
        aria-current={selected ? 'true' : undefined}
        data-testid="conversation-row"
        data-conversation-id={conv.id}
        data-status={conv.status}
        onClick={() => selectConversation(conv.id)}
      >
        <span class="row-icon">
          {conv.group ? <GroupIcon /> : <ChannelIcon kind={conv.channel} />}
        </span>
        <span class="row-main">
          <span class="row-top">
            <span class="row-name" data-testid="row-name">
              {name}
            </span>
            <time class="row-time" dateTime={new Date((conv.last_activity_at || 0) * 1000).toISOString()} title={formatFull(conv.last_activity_at, tz)}>
              {formatListTime(conv.last_message_at || conv.last_activity_at, tz)}
            </time>
          </span>
          {conv.subject ? <span class="row-subject">{conv.subject}</span> : null}
          <span class={`row-preview ${typing ? 'is-typing' : ''}`} data-testid="row-preview">
            {typing || conv.last_message_preview || 'No messages yet'}
          </span>
          <span class="row-bottom">
            <span class="row-tags">
              {tags.map((t) => (
                <TagPill key={t.id} tag={t} />
              ))}
            </span>
            <span class="row-meta">
              <StatusBadge status={conv.status} />
              {assignee ? (
                <span title={`Assigned to ${assignee}`} class="row-assignee">
                  <Avatar name={assignee} size={20} />
                  <span class="sr-only">Assigned to {assignee}</span>
                </span>
              ) : null}
            </span>
          </span>
        </span>
      </button>
    </li>
  );
});

function Filters({ s }) {
  const q = s.query;
  const accounts = Object.values(s.accounts);
  const kinds = [...new Set(accounts.map((a) => a.kind))];
  const tags = Object.values(s.tags).filter((t) => !t.deleted);
  return (
    <div class="filters" role="group" aria-label="Filters">
      <label class="filter">
        <span class="sr-only">Status</span>
        <select value={q.status || 'all'} onChange={(e) => setQuery({ status: e.currentTarget.value })} data-testid="filter-status" aria-label="Status">
          {STATUSES.map((st) => (
            <option key={st} value={st}>
              {STATUS_LABELS[st]}
            </option>
          ))}
          <option value="all">All statuses</option>
        </select>
      </label>
      <label class="filter">
        <span class="sr-only">Channel or account</span>
        <select value={q.source || ''} onChange={(e) => setQuery({ source: e.currentTarget.value })} data-testid="filter-source" aria-label="Channel or account">
          <option value="">Channels</option>
          <optgroup label="Channels">
            {kinds.map((k) => (
              <option key={k} value={`channel:${k}`}>
                {CHANNEL_LABELS[k] || k}
              </option>
            ))}
          </optgroup>
          <optgroup label="Accounts">
            {accounts.map((a) => (
              <option key={a.id} value={`account:${a.id}`}>
                {a.name}
              </option>
            ))}
          </optgroup>
        </select>
      </label>
      <label class="filter">
        <span class="sr-only">Tag</span>
        <select value={q.tag || ''} onChange={(e) => setQuery({ tag: e.currentTarget.value })} data-testid="filter-tag" aria-label="Tag">
          <option value="">Tags</option>
          {tags.map((t) => (
            <option key={t.id} value={t.id}>
              {t.name}
            </option>
          ))}
        </select>
      </label>
    </div>
  );
}

export function ConversationList({ s }) {
  const { list, query } = s;
  const scrollRef = useRef(null);
  const sentinelRef = useRef(null);
  const tz = s.me && s.me.time_zone;
  const search = useMessageSearch();

  useEffect(() => {
    const el = sentinelRef.current;
    if (!el || typeof IntersectionObserver === 'undefined') return undefined;
    const io = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) loadMore();
      },
      { root: scrollRef.current, rootMargin: '200px' },
    );
    io.observe(el);
    return () => io.disconnect();
  }, [list.hasMore, list.ids.length]);

  const rows = list.ids.map((id) => s.convs[id]).filter(Boolean);
  const missingTags = [];
  for (const c of rows) for (const t of c.tag_ids || []) if (!s.tags[t]) missingTags.push(t);
  useEffect(() => {
    if (missingTags.length) ensureTags(missingTags);
  }, [missingTags.join(',')]);

  const onKeyDown = (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const buttons = [...scrollRef.current.querySelectorAll('.conv-row')];
    const idx = buttons.indexOf(document.activeElement);
    if (idx < 0) return;
    e.preventDefault();
    const next = buttons[e.key === 'ArrowDown' ? Math.min(idx + 1, buttons.length - 1) : Math.max(idx - 1, 0)];
    next.focus();
  };

  const now = s.clock;
  const me = s.me.id;
  return (
    <section class="list-pane" aria-labelledby="list-title">
      <div class="list-header">
        <h1 id="list-title" class="list-title">
          Inbox
        </h1>
        <GroupCreateButton s={s} />
        <SearchBox search={search} />
        <div class="tabs" role="tablist" aria-label="Conversation views">
          {TABS.map((t) => (
            <button
              key={t.id}
              type="button"
              role="tab"
              id={`tab-${t.id}`}
              aria-selected={query.tab === t.id ? 'true' : 'false'}
              aria-controls="conversation-panel"
              tabIndex={query.tab === t.id ? 0 : -1}
              class={`tab ${query.tab === t.id ? 'is-active' : ''}`}
              data-testid={`tab-${t.id}`}
              onClick={() => setQuery({ tab: t.id })}
              onKeyDown={(e) => {
                if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
                  const i = TABS.findIndex((x) => x.id === query.tab);
                  const n = TABS[(i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length];
                  setQuery({ tab: n.id });
                  setTimeout(() => document.getElementById(`tab-${n.id}`)?.focus(), 0);
                }
              }}
            >
              {t.label}
            </button>
          ))}
        </div>
        <Filters s={s} />
      </div>
      {search.active ? <SearchResults s={s} search={search} /> : null}
      <div
        hidden={search.active}
        class="list-scroll"
        ref={scrollRef}
        id="conversation-panel"
        role="tabpanel"
        aria-labelledby={`tab-${query.tab}`}
        aria-busy={list.loading ? 'true' : 'false'}
        onKeyDown={onKeyDown}
      >
        {list.error ? (
          <div class="list-error" role="alert">
            {list.error}{' '}
            <button type="button" class="btn btn-link" onClick={() => loadList()}>
              Try again
            </button>
          </div>
        ) : null}
        {list.loading && rows.length === 0 ? <ListSkeleton /> : null}
        {!list.loading && list.loaded && rows.length === 0 && !list.error ? (
          <div class="list-empty" data-testid="list-empty">
            <p>No conversations here.</p>
            <p class="muted">New ones appear by themselves.</p>
          </div>
        ) : null}
        <ul class="conv-list" data-testid="conversation-list" aria-label="Conversations">
          {rows.map((c) => {
            const typers = Object.entries(s.typing[c.id] || {}).filter(([uid, v]) => uid !== me && v.until > now);
            const assignee = c.assignee_user_id
              ? s.users[c.assignee_user_id] && s.users[c.assignee_user_id].name
              : c.assignee_team_id && s.teams[c.assignee_team_id]
                ? s.teams[c.assignee_team_id].name
                : null;
            return (
              <Row
                key={c.id}
                conv={c}
                name={displayName(c, s)}
                selected={s.selectedId === c.id}
                tags={(c.tag_ids || []).map((t) => s.tags[t]).filter(Boolean)}
                tz={tz}
                assignee={assignee}
                typing={typers.length ? `${typers[0][1].name} is replying…` : ''}
              />
            );
          })}
        </ul>
        {list.hasMore ? (
          <div ref={sentinelRef} class="list-more">
            <button type="button" class="btn btn-link" onClick={() => loadMore()} disabled={list.loadingMore} data-testid="load-more">
              {list.loadingMore ? 'Loading…' : 'Load more'}
            </button>
          </div>
        ) : null}
      </div>
    </section>
  );
}

function ListSkeleton() {
  return (
    <div class="skeleton" aria-hidden="true">
      {[0, 1, 2, 3, 4].map((i) => (
        <div key={i} class="skeleton-row">
          <span class="sk sk-circle" />
          <span class="sk-lines">
            <span class="sk sk-line" />
            <span class="sk sk-line short" />
          </span>
        </div>
      ))}
    </div>
  );
}
