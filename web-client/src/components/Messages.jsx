import { useState } from 'preact/hooks';
import { SENTIMENT_LABELS, assistantAnalysis, quickActions, referenceLabel } from '../lib/assistant.js';
import { emailSrcdoc, formatBytes, formatClock, formatFull, systemLineText } from '../lib/logic.js';
import { addTag, assign, discardSend, retrySend, setStatus } from '../store.js';
import { LinkCustomerDialog } from './Actions.jsx';
import { IconAlert, IconBolt, IconCheck, IconCheckDouble, IconClock, IconDownload, IconFile, IconNote } from './icons.jsx';

const DELIVERY = {
  queued: { label: 'Queued', Icon: IconClock },
  sent: { label: 'Sent', Icon: IconCheck },
  delivered: { label: 'Delivered', Icon: IconCheckDouble },
  read: { label: 'Read', Icon: IconCheckDouble },
  failed: { label: 'Failed', Icon: IconAlert },
};

export function DeliveryStatus({ status, reason }) {
  const d = DELIVERY[status];
  if (!d) return null;
  const text = status === 'failed' ? `Failed${reason ? `: ${reason}` : ''}` : d.label;
  return (
    <span class={`delivery delivery-${status}`} data-testid="delivery-status" data-status={status} title={text}>
      <d.Icon size={14} />
      {status === 'failed' ? (
        <span class="delivery-text" data-testid="delivery-reason">
          {text}
        </span>
      ) : (
        <span class="sr-only">{text}</span>
      )}
    </span>
  );
}

function attachmentUrl(a) {
  return a.url || (a.id ? `/api/uploads/${encodeURIComponent(a.id)}` : '#');
}

function Attachments({ items }) {
  if (!items || items.length === 0) return null;
  return (
    <div class="attachments">
      {items.map((a) =>
        (a.content_type || '').startsWith('image/') ? (
          <a key={a.id || a.filename} class="att-image" href={attachmentUrl(a)} target="_blank" rel="noopener noreferrer" data-testid="attachment-image">
            <img src={attachmentUrl(a)} alt={a.filename || 'Image attachment'} loading="lazy" />
          </a>
        ) : (
          <a key={a.id || a.filename} class="att-card" href={attachmentUrl(a)} download={a.filename} target="_blank" rel="noopener noreferrer" data-testid="attachment-file">
            <span class="att-card-icon">
              <IconFile size={20} />
            </span>
            <span class="att-card-body">
              <span class="att-card-name">{a.filename || 'Attachment'}</span>
              <span class="att-card-meta">
                {(a.content_type || 'file').split('/').pop().toUpperCase()}
                {a.size ? ` · ${formatBytes(a.size)}` : ''}
              </span>
            </span>
            <IconDownload size={16} />
          </a>
        ),
      )}
    </div>
  );
}

/** HTML email, isolated: no scripts, no handlers, no same origin, no network except images
 * (CSP); links open in a new tab (`<base target="_blank">`, popups allowed out of the sandbox). */
export function EmailFrame({ html }) {
  const [tall, setTall] = useState(false);
  return (
    <div class="email">
      <iframe
        sandbox="allow-popups allow-popups-to-escape-sandbox"
        srcdoc={emailSrcdoc(html)}
        title="Email content"
        class={`email-frame ${tall ? 'is-tall' : ''}`}
        referrerpolicy="no-referrer"
        data-testid="email-frame"
      />
      <button type="button" class="btn btn-link btn-small" onClick={() => setTall(!tall)} aria-expanded={tall ? 'true' : 'false'}>
        {tall ? 'Show less' : 'Show more'}
      </button>
    </div>
  );
}

/** The assistant's analysis of a customer message: badges, references, tag suggestions and
 * quick actions that run the ordinary commands. Only the team sees it (it is a private note). */
function AssistantNote({ m, tz, conv, meId, tags }) {
  const [linking, setLinking] = useState(false);
  const [busy, setBusy] = useState('');
  const a = assistantAnalysis(m);
  const actions = quickActions(a, conv, meId, tags);
  const run = (action) => {
    if (!conv || busy) return;
    if (action.type === 'link_customer') {
      setLinking(true);
      return;
    }
    const go =
      action.type === 'add_tag'
        ? addTag(conv.id, { tagId: action.tag_id })
        : action.type === 'assign_to_me'
          ? assign(conv.id, { userId: meId })
          : setStatus(conv.id, 'pending');
    setBusy(action.type + (action.tag_id || ''));
    go.catch(() => {}).finally(() => setBusy(''));
  };
  return (
    <li class="msg msg-note msg-assistant" data-testid="message" data-kind="note" data-sender="assistant" data-message-id={m.id}>
      <div class="msg-meta">
        <span class="msg-sender" data-testid="message-sender">
          <IconBolt size={12} /> Assistant
        </span>
        <span class="note-label">
          <IconNote size={12} /> Private note
        </span>
        <time dateTime={new Date(m.created_at * 1000).toISOString()} title={formatFull(m.created_at, tz)}>
          {formatClock(m.created_at, tz)}
        </time>
      </div>
      <div class="bubble assistant-bubble" data-testid="assistant-note">
        <span class="sr-only">Private note from the assistant: </span>
        {a ? (
          <>
            <div class="assistant-badges">
              <span class={`badge sentiment sentiment-${a.sentiment}`} data-testid="assistant-sentiment" data-sentiment={a.sentiment}>
                {SENTIMENT_LABELS[a.sentiment]}
              </span>
              {a.urgent ? (
                <span class="badge urgent-flag" data-testid="assistant-urgent">
                  Needs attention now
                </span>
              ) : null}
            </div>
            {a.references.length ? (
              <div class="assistant-row">
                <span class="assistant-key">Mentions</span>
                <ul class="assistant-refs" data-testid="assistant-references">
                  {a.references.map((r) => (
                    <li key={`${r.kind}:${r.value}`} class="ref-chip" title={r.text}>
                      {referenceLabel(r)}
                    </li>
                  ))}
                </ul>
              </div>
            ) : null}
            {a.suggestedTags.length ? (
              <div class="assistant-row">
                <span class="assistant-key">Suggested tags</span>
                <span data-testid="assistant-tags">{a.suggestedTags.map((t) => (tags && tags[t.id] ? tags[t.id].name : t.name)).join(', ')}</span>
              </div>
            ) : null}
            {actions.length ? (
              <div class="assistant-actions" role="group" aria-label="Suggested actions">
                {actions.map((action) => (
                  <button
                    key={action.type + (action.tag_id || '')}
                    type="button"
                    class={`btn btn-small ${action.done ? 'is-done' : ''}`}
                    onClick={() => run(action)}
                    disabled={action.done || busy === action.type + (action.tag_id || '')}
                    data-testid="assistant-action"
                    data-action={action.type}
                  >
                    {action.done ? (
                      <>
                        <IconCheck size={12} /> {action.doneLabel}
                      </>
                    ) : (
                      action.label
                    )}
                  </button>
                ))}
              </div>
            ) : null}
            {a.signals.length ? (
              <div class="assistant-why muted small" title={a.analyzer ? `Rule-based analysis (${a.analyzer})` : undefined}>
                Why: {a.signals.join('; ')}
              </div>
            ) : null}
          </>
        ) : (
          <div class="msg-text" data-testid="message-text">
            {m.text}
          </div>
        )}
      </div>
      {linking && conv ? <LinkCustomerDialog conv={conv} onClose={() => setLinking(false)} /> : null}
    </li>
  );
}

export function MessageItem({ m, tz, convId, conv, meId, tags }) {
  const kind = m.kind || 'inbound';
  if (kind === 'note' && m.sender && m.sender.type === 'assistant') {
    return <AssistantNote m={m} tz={tz} conv={conv} meId={meId} tags={tags} />;
  }
  if (kind === 'system') {
    return (
      <li class="msg msg-system" data-testid="message" data-kind="system" data-message-id={m.id}>
        <span class="msg-system-text">{systemLineText(m, tz)}</span>
        <time dateTime={new Date(m.created_at * 1000).toISOString()} title={formatFull(m.created_at, tz)}>
          {formatClock(m.created_at, tz)}
        </time>
      </li>
    );
  }
  const sender = (m.sender && m.sender.name) || (kind === 'inbound' ? 'Contact' : 'Agent');
  return (
    <li
      class={`msg msg-${kind} ${m.html ? 'has-html' : ''} ${m.pending ? 'is-pending' : ''} ${m.sendState === 'error' ? 'is-error' : ''}`}
      data-testid="message"
      data-kind={kind}
      data-message-id={m.id}
      data-client-key={m.client_key || undefined}
    >
      <div class="msg-meta">
        <span class="msg-sender" data-testid="message-sender">
          {sender}
        </span>
        {kind === 'note' ? (
          <span class="note-label">
            <IconNote size={12} /> Private note
          </span>
        ) : null}
        <time dateTime={new Date(m.created_at * 1000).toISOString()} title={formatFull(m.created_at, tz)}>
          {formatClock(m.created_at, tz)}
        </time>
      </div>
      <div class="bubble">
        {kind === 'note' ? <span class="sr-only">Private note: </span> : null}
        {m.html ? (
          <EmailFrame html={m.html} />
        ) : m.text ? (
          <div class="msg-text" data-testid="message-text">
            {m.text}
          </div>
        ) : null}
        <Attachments items={m.attachments} />
      </div>
      {kind === 'outbound' || kind === 'note' ? (
        <div class="msg-foot">
          {m.pending ? (
            m.sendState === 'error' ? (
              <span class="send-error" role="alert" data-testid="send-error">
                Not sent: {m.sendError}{' '}
                <button type="button" class="btn btn-link btn-small" onClick={() => retrySend(convId, m.client_key)} data-testid="retry-send">
                  Retry
                </button>
                <button type="button" class="btn btn-link btn-small" onClick={() => discardSend(convId, m.client_key)}>
                  Discard
                </button>
              </span>
            ) : (
              <span class="delivery delivery-sending" data-testid="delivery-status" data-status="sending" title="Sending">
                <IconClock size={14} />
                <span class="sr-only">Sending</span>
              </span>
            )
          ) : kind === 'outbound' ? (
            <DeliveryStatus status={m.status} reason={m.status_reason} />
          ) : null}
        </div>
      ) : null}
    </li>
  );
}
