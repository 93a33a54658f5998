// The subject line an email reply goes out with (the server adds "Re: " the same way:
// server/transports/email/mime_build.py, reply_subject).
const REPLY_PREFIXES = ['re:', 're :', 'aw:', 'sv:'];

export function replySubject(subject, isReply) {
  const clean = (subject || '').split(/\s+/).filter(Boolean).join(' ') || '(no subject)';
  if (isReply && !REPLY_PREFIXES.some((p) => clean.toLowerCase().startsWith(p))) return `Re: ${clean}`;
  return clean;
}

export function EmailSubject({ conv }) {
  return (
    <div class="email-subject muted small" data-testid="email-subject">
      <span>Subject:</span> <span class="email-subject-text">{replySubject(conv.subject, conv.last_inbound_at > 0)}</span>
    </div>
  );
}
