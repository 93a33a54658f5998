import { Fragment } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { CHANNEL_LABELS, activeTypers, formatDay, formatFull, joinNames, sameDay } from '../lib/logic.js';
import { loadDetail, loadOlder, loadThread, selectConversation } from '../store.js';
import { AssigneeSelect, CustomerSection, SnoozeMenu, StatusButtons, TagEditor } from './Actions.jsx';
import { Composer } from './Composer.jsx';
import { StatusBadge, displayName } from './ConversationList.jsx';
import { ChannelIcon, IconChevronLeft, IconPanel, IconX } from './icons.jsx';
import { MessageItem } from './Messages.jsx';
import { WhatsAppWindow } from './WhatsAppWindow.jsx';
import { templateOnly } from '../lib/whatsapp.js';
import { sendBlock } from '../lib/groups.js';
import { GroupPanel } from './GroupPanel.jsx';

export function Thread({ s, id, conv, detailsOpen, setDetailsOpen }) {
  const thread = s.threads[id] || { messages: [], loading: true };
  const tz = s.me.time_zone;
  const me = s.me.id;
  const account = conv ? s.accounts[conv.account_id] : null;
  const contact = conv ? s.contacts[conv.contact_id] : null;
  const typers = activeTypers(s.typing, id, s.clock, me);
  const viewers = (s.viewers[id] || []).filter((v) => v.user_id !== me);

  if (!conv) {
    return (
      <div class="thread thread-loading" data-testid="thread">
        {thread.error || thread.detailError ? (
          <div class="thread-error" role="alert" data-testid="thread-error">
            {thread.error || thread.detailError}{' '}
            {thread.error ? null : (
              <button type="button" class="btn btn-link" onClick={() => loadDetail(id)}>
                Try again
              </button>
            )}{' '}
            <button type="button" class="btn btn-link" onClick={() => selectConversation(null)}>
              Close
            </button>
          </div>
        ) : (
          <div class="splash" role="status">
            <div class="spinner" aria-hidden="true" /> Loading conversation…
          </div>
        )}
      </div>
    );
  }

  const name = displayName(conv, s);
  const handle = contact ? contact.email || contact.phone || '' : '';
  return (
    <div class={`thread-wrap ${detailsOpen ? 'details-open' : ''}`}>
      <div class="thread" data-testid="thread" data-conversation-id={id} data-status={conv.status}>
        <header class="thread-header">
          <button type="button" class="btn btn-icon back-button" onClick={() => selectConversation(null)} aria-label="Back to the list">
            <IconChevronLeft />
          </button>
          <div class="thread-title">
            <h2 data-testid="thread-title">{name}</h2>
            <div class="thread-subtitle">
              <ChannelIcon kind={conv.channel} size={14} />
              <span>{account ? account.name : CHANNEL_LABELS[conv.channel]}</span>
              {handle ? <span class="muted">· {handle}</span> : null}
              {conv.subject && !conv.group ? <span class="muted">· {conv.subject}</span> : null}
              <StatusBadge status={conv.status} />
            </div>
          </div>
          <div class="thread-actions">
            <AssigneeSelect s={s} conv={conv} />
            <SnoozeMenu conv={conv} tz={tz} />
            <StatusButtons conv={conv} />
            <button
              type="button"
              class={`btn btn-icon ${detailsOpen ? 'is-on' : ''}`}
              aria-pressed={detailsOpen ? 'true' : 'false'}
              aria-label="Conversation details"
              title="Conversation details"
              onClick={() => setDetailsOpen(!detailsOpen)}
              data-testid="toggle-details"
            >
              <IconPanel />
            </button>
          </div>
        </header>
        <MessageList key={id} thread={thread} tz={tz} convId={id} conv={conv} meId={me} tags={s.tags} />
        <div class="activity-line" aria-live="polite" data-testid="activity-line">
          {viewers.length ? (
            <span class="viewing" data-testid="viewing-indicator">
              <span class="eye-dot" aria-hidden="true" />
              {joinNames(viewers.map((v) => v.name))} {viewers.length === 1 ? 'is' : 'are'} viewing
            </span>
          ) : null}
          {typers.length ? (
            <span class="typing" data-testid="typing-indicator">
              <span class="typing-dots" aria-hidden="true">
                <i />
                <i />
                <i />
              </span>
              {joinNames(typers.map((t) => t.name))} {typers.length === 1 ? 'is' : 'are'} replying…
            </span>
          ) : null}
        </div>
        {conv.group ? (
          sendBlock(conv) ? (
            <div class={`group-send-block ${conv.group.suspended ? 'is-danger' : ''}`} role="status" data-testid="group-send-block">
              {sendBlock(conv)}
            </div>
          ) : null
        ) : (
          <WhatsAppWindow s={s} conv={conv} />
        )}
        {conv.group && conv.group.state === 'deleted' ? null : (
          <Composer key={id} s={s} conv={conv} notesOnly={conv.group ? !!sendBlock(conv) : templateOnly(conv, s.clock)} />
        )}
      </div>
      {detailsOpen ? (
        <aside class="details" aria-label="Conversation details" data-testid="details">
          <div class="details-head">
            <h3>Details</h3>
            <button type="button" class="btn btn-icon" aria-label="Close details" onClick={() => setDetailsOpen(false)}>
              <IconX />
            </button>
          </div>
          {conv.group ? <GroupPanel s={s} conv={conv} /> : null}
          {conv.group ? null : <section class="details-section">
            <h4>Contact</h4>
            <dl class="kv">
              <dt>Name</dt>
              <dd>{contact ? contact.name || '—' : '…'}</dd>
              {contact && contact.email ? (
                <>
                  <dt>Email</dt>
                  <dd>{contact.email}</dd>
                </>
              ) : null}
              {contact && contact.phone ? (
                <>
                  <dt>Phone</dt>
                  <dd>{contact.phone}</dd>
                </>
              ) : null}
            </dl>
          </section>}
          {conv.group ? null : <CustomerSection s={s} conv={conv} />}
          {conv.group ? null : (
            <section class="details-section">
              <h4 id="tags-heading">Tags</h4>
              <TagEditor s={s} conv={conv} />
            </section>
          )}
          <section class="details-section">
            <h4>Conversation</h4>
            <dl class="kv">
              <dt>Account</dt>
              <dd>{account ? account.name : conv.account_id}</dd>
              <dt>Started</dt>
              <dd>{formatFull(conv.created_at, tz)}</dd>
              {conv.status === 'snoozed' && conv.snooze_until ? (
                <>
                  <dt>Snoozed until</dt>
                  <dd>{formatFull(conv.snooze_until, tz)}</dd>
                </>
              ) : null}
            </dl>
          </section>
        </aside>
      ) : null}
    </div>
  );
}

function MessageList({ thread, tz, convId, conv, meId, tags }) {
  const ref = useRef(null);
  const atBottom = useRef(true);
  const topRef = useRef(null);
  const prevHeight = useRef(0);
  const prevFirst = useRef(null);
  const prevLast = useRef(null);
  const [newBelow, setNewBelow] = useState(false);
  const messages = thread.messages || [];

  useEffect(() => {
    atBottom.current = true;
    prevLast.current = null;
    setNewBelow(false);
  }, [convId]);

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const first = messages[0] && messages[0].id;
    const lastMsg = messages[messages.length - 1];
    const last = lastMsg && lastMsg.id;
    const appended = !!(prevLast.current && lastMsg && last !== prevLast.current);
    if (appended && lastMsg.pending) atBottom.current = true; // what I just sent: show it
    if (prevFirst.current && first !== prevFirst.current && !atBottom.current) {
      // Older messages were prepended: keep what the reader was looking at in place.
      el.scrollTop += el.scrollHeight - prevHeight.current;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    } else if (appended) {
      setNewBelow(true);
    }
    prevFirst.current = first;
    prevLast.current = last;
    prevHeight.current = el.scrollHeight;
  });

  useEffect(() => {
    const el = topRef.current;
    if (!el || typeof IntersectionObserver === 'undefined') return undefined;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadOlder(convId);
    }, { root: ref.current });
    io.observe(el);
    return () => io.disconnect();
  }, [convId, thread.hasMore]);

  const onScroll = () => {
    const el = ref.current;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
    if (atBottom.current && newBelow) setNewBelow(false);
  };

  const toBottom = () => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
    atBottom.current = true;
    setNewBelow(false);
  };

  return (
    <div class="messages-wrap">
      {newBelow ? (
        <button type="button" class="new-below" onClick={toBottom} data-testid="new-messages-below">
          New messages ↓
        </button>
      ) : null}
      <div class="messages" ref={ref} onScroll={onScroll} tabIndex={0} aria-label="Messages">
        {thread.hasMore ? (
          <div ref={topRef} class="load-older">
            <button type="button" class="btn btn-link btn-small" onClick={() => loadOlder(convId)} disabled={thread.loadingOlder}>
              {thread.loadingOlder ? 'Loading…' : 'Load earlier messages'}
            </button>
          </div>
        ) : null}
        {thread.loading && messages.length === 0 ? (
          <div class="splash" role="status">
            <div class="spinner" aria-hidden="true" /> Loading messages…
          </div>
        ) : null}
        {thread.error ? (
          <div class="thread-error" role="alert">
            {thread.error}{' '}
            <button type="button" class="btn btn-link" onClick={() => loadThread(convId)}>
              Try again
            </button>
          </div>
        ) : null}
        <ol class="message-list" role="log" aria-live="polite" aria-relevant="additions" aria-label="Message history" data-testid="message-list">
          {messages.map((m, i) => (
            <Fragment key={m.id}>
              {i === 0 || !sameDay(messages[i - 1].created_at, m.created_at, tz) ? (
                <li class="day-sep" aria-hidden="false">
                  <span>{formatDay(m.created_at, tz)}</span>
                </li>
              ) : null}
              <MessageItem m={m} tz={tz} convId={convId} conv={conv} meId={meId} tags={tags} />
            </Fragment>
          ))}
        </ol>
      </div>
    </div>
  );
}
