import { useState } from 'preact/hooks';
import { emailSrcdoc, formatBytes, formatClock, formatFull } from '../lib/logic.js';
import { discardSend, retrySend } from '../store.js';
import { IconAlert, IconCheck, IconCheckDouble, IconClock, IconDownload, IconFile, IconNote } from './icons.jsx';

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

/** HTML email, isolated: no scripts, no handlers, no network except images (CSP). */
export function EmailFrame({ html }) {
  const [tall, setTall] = useState(false);
  return (
    <div class="email">
      <iframe
        sandbox=""
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

export function MessageItem({ m, tz, convId }) {
  const kind = m.kind || 'inbound';
  if (kind === 'system') {
    return (
      <li class="msg msg-system" data-testid="message" data-kind="system" data-message-id={m.id}>
        <span class="msg-system-text">{m.text}</span>
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
