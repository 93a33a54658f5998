import { useEffect, useRef, useState } from 'preact/hooks';
import { formatFull, formatListTime } from '../lib/logic.js';
import { SEARCH_DEBOUNCE_MS, SEARCH_MAX, SEARCH_PAGE, highlightSegments, messageText, resultCountText, searchableQuery, snippet } from '../lib/search.js';
import { searchMessages, selectConversation } from '../store.js';
import { StatusBadge, displayName } from './ConversationList.jsx';
import { ChannelIcon } from './icons.jsx';

/** Search state for the list header: the typed text plus debounced results of /api/search. */
export function useMessageSearch() {
  const [text, setText] = useState('');
  const [result, setResult] = useState({ q: '', hits: [], loading: false, error: null });
  const [limit, setLimit] = useState(SEARCH_PAGE);
  const q = searchableQuery(text);

  useEffect(() => setLimit(SEARCH_PAGE), [q]);

  useEffect(() => {
    if (!q) {
      setResult({ q: '', hits: [], loading: false, error: null });
      return undefined;
    }
    let live = true;
    setResult((r) => ({ ...r, loading: true, error: null }));
    const timer = setTimeout(() => {
      searchMessages(q, { limit })
        .then((hits) => live && setResult({ q, hits, loading: false, error: null, limit }))
        .catch((e) => live && setResult({ q, hits: [], loading: false, error: (e && e.message) || 'Search failed.' }));
    }, SEARCH_DEBOUNCE_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [q, limit]);

  // The page came back full: there may be more (up to the server's cap).
  const more = result.q === q && result.hits.length >= (result.limit || 0) && limit < SEARCH_MAX;
  const showMore = () => setLimit(SEARCH_MAX);
  return { text, setText, q, active: Boolean(q), ...result, query: result.q, more, showMore };
}

export function SearchBox({ search }) {
  const inputRef = useRef(null);
  const clear = () => {
    search.setText('');
    if (inputRef.current) inputRef.current.focus();
  };
  return (
    <form role="search" class="search-box" aria-label="Search messages" onSubmit={(e) => e.preventDefault()} data-testid="search-form">
      <label class="sr-only" for="message-search">
        Search messages
      </label>
      <input
        ref={inputRef}
        id="message-search"
        type="search"
        class="search-input"
        placeholder="Search messages"
        autocomplete="off"
        value={search.text}
        onInput={(e) => search.setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape' && search.text) {
            e.preventDefault();
            e.stopPropagation();
            search.setText('');
          }
        }}
        aria-controls="search-results"
        data-testid="search-input"
      />
      {search.text ? (
        <button type="button" class="search-clear" aria-label="Clear search" title="Clear search" onClick={clear} data-testid="search-clear">
          ×
        </button>
      ) : null}
    </form>
  );
}

function Highlighted({ text, q }) {
  return highlightSegments(text, q).map((seg, i) => (seg.match ? <mark key={i}>{seg.text}</mark> : <span key={i}>{seg.text}</span>));
}

function ResultRow({ hit, s, q, tz }) {
  const conv = s.convs[hit.conversation.id] && s.convs[hit.conversation.id].version >= (hit.conversation.version || 0) ? s.convs[hit.conversation.id] : hit.conversation;
  const msg = hit.message;
  const at = msg.created_at || conv.last_activity_at || 0;
  const selected = s.selectedId === conv.id;
  return (
    <li>
      <button
        type="button"
        class={`conv-row search-row ${selected ? 'is-selected' : ''}`}
        aria-current={selected ? 'true' : undefined}
        data-testid="search-result"
        data-conversation-id={conv.id}
        data-message-id={msg.id}
        data-status={conv.status}
        onClick={() => selectConversation(conv.id)}
      >
        <span class="row-icon">
          <ChannelIcon kind={conv.channel} />
        </span>
        <span class="row-main">
          <span class="row-top">
            <span class="row-name" data-testid="search-result-name">
              {displayName(conv, s)}
            </span>
            <time class="row-time" dateTime={new Date(at * 1000).toISOString()} title={formatFull(at, tz)}>
              {formatListTime(at, tz)}
            </time>
          </span>
          {conv.subject ? <span class="row-subject">{conv.subject}</span> : null}
          <span class="row-preview search-snippet" data-testid="search-result-text">
            <Highlighted text={snippet(messageText(msg), q)} q={q} />
          </span>
          <span class="row-bottom">
            <span class="row-tags" />
            <span class="row-meta">
              <StatusBadge status={conv.status} />
            </span>
          </span>
        </span>
      </button>
    </li>
  );
}

export function SearchResults({ s, search }) {
  const tz = s.me && s.me.time_zone;
  const listRef = useRef(null);
  const settled = !search.loading && search.query === search.q;
  const onKeyDown = (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const buttons = [...listRef.current.querySelectorAll('.search-row')];
    const idx = buttons.indexOf(document.activeElement);
    if (idx < 0) return;
    e.preventDefault();
    buttons[e.key === 'ArrowDown' ? Math.min(idx + 1, buttons.length - 1) : Math.max(idx - 1, 0)].focus();
  };
  return (
    <div class="list-scroll search-results" id="search-results" ref={listRef} aria-busy={settled ? 'false' : 'true'} onKeyDown={onKeyDown} data-testid="search-results">
      <p class="sr-only" role="status" aria-live="polite" data-testid="search-status">
        {settled && !search.error ? resultCountText(search.hits.length) : ''}
      </p>
      {search.error ? (
        <div class="list-error" role="alert">
          {search.error}
        </div>
      ) : null}
      {!settled && search.hits.length === 0 ? <p class="list-empty muted">Searching…</p> : null}
      {settled && !search.error && search.hits.length === 0 ? (
        <div class="list-empty" data-testid="search-empty">
          <p>No messages match</p>
          <p class="muted">Try other words.</p>
        </div>
      ) : null}
      <ul class="conv-list" aria-label="Search results">
        {search.hits.map((h) => (
          <ResultRow key={h.message.id} hit={h} s={s} q={search.query} tz={tz} />
        ))}
      </ul>
      {settled && search.more ? (
        <button type="button" class="btn btn-link search-more" onClick={search.showMore} data-testid="search-more">
          Show more results
        </button>
      ) : null}
    </div>
  );
}
