import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import {
  SEND_KEY_LABELS,
  THEN_ACTIONS,
  checkFileSize,
  composerKeyAction,
  fileLimit,
  formatBytes,
  searchTemplates,
  templateQuery,
  thenApplies,
} from '../lib/logic.js';
import { composerActivity, renderTemplate, sendMessage, stopTyping, toast, uploadFile } from '../store.js';
import { IconBolt, IconChevronDown, IconFile, IconNote, IconPaperclip, IconSend, IconX } from './icons.jsx';
import { Menu } from './Menu.jsx';
import { EmailSubject } from './EmailSubject.jsx';

// Unsent drafts survive switching conversations (not reloads).
const drafts = new Map();
let attSeq = 0;

const SEND_HINT = { enter: 'Enter', ctrl_enter: 'Ctrl+Enter', none: '' };

export function Composer({ s, conv, notesOnly = false }) {
  const saved = drafts.get(conv.id) || { text: '', note: false, atts: [] };
  const [text, setText] = useState(saved.text);
  const [note, setNote] = useState(saved.note);
  // Uploads still running when the agent switched away are not resumed: keep finished ones.
  const [atts, setAtts] = useState(() => saved.atts.filter((a) => a.state === 'done'));
  const [pickerIndex, setPickerIndex] = useState(0);
  const [dismissed, setDismissed] = useState(null);
  const [inserting, setInserting] = useState(false);
  const [dragging, setDragging] = useState(false);
  const [fileError, setFileError] = useState('');
  const taRef = useRef(null);
  const fileRef = useRef(null);
  const sendKey = (s.me && s.me.send_key) || 'enter';

  useEffect(() => {
    drafts.set(conv.id, { text, note, atts });
  }, [text, note, atts, conv.id]);

  useEffect(() => () => stopTyping(conv.id), [conv.id]);

  // WhatsApp outside its 24-hour window: replies go out as templates only, notes still work.
  useEffect(() => {
    if (notesOnly && !note) setNote(true);
  }, [notesOnly, note]);

  useLayoutEffect(() => {
    const ta = taRef.current;
    if (!ta) return;
    ta.style.height = 'auto';
    ta.style.height = `${Math.min(ta.scrollHeight, 240)}px`;
  }, [text]);

  const q = templateQuery(text);
  const pickerOpen = q !== null && dismissed !== text;
  const results = pickerOpen ? searchTemplates(s.templates, conv.account_id, q).slice(0, 8) : [];
  const activeIdx = Math.min(pickerIndex, Math.max(results.length - 1, 0));

  const uploading = atts.some((a) => a.state === 'uploading');
  const ready = atts.filter((a) => a.state === 'done');
  const canSend = !uploading && (text.trim().length > 0 || ready.length > 0);

  const setDraft = (v) => {
    setText(v);
    setPickerIndex(0);
    composerActivity(conv.id, v.trim().length > 0);
  };

  const submit = (then) => {
    if (uploading) {
      toast('Wait for the attachments to finish uploading.', 'info');
      return;
    }
    if (!canSend) return;
    const effective = then && thenApplies(then, conv.status) ? then : null;
    if (then && !effective) toast(`The conversation is already ${conv.status}; sent without changing it.`, 'info');
    sendMessage(conv.id, {
      text: text.trim(),
      note,
      attachments: ready.map((a) => a.attachment),
      then: effective,
    });
    setText('');
    setAtts([]);
    setFileError('');
    drafts.delete(conv.id);
    if (taRef.current) taRef.current.focus();
  };

  const insertTemplate = async (t) => {
    if (!t || inserting) return;
    setInserting(true);
    try {
      const rendered = await renderTemplate(conv.id, t.id);
      setDraft(rendered || t.content || '');
    } catch (e) {
      setDraft(t.content || '');
      toast(`Inserted the template without filling its variables (${e.message}).`, 'info');
    } finally {
      setInserting(false);
      setDismissed(null);
      const ta = taRef.current;
      if (ta) {
        ta.focus();
        requestAnimationFrame(() => ta.setSelectionRange(ta.value.length, ta.value.length));
      }
    }
  };

  const onKeyDown = (e) => {
    if (pickerOpen) {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        setDismissed(text);
        return;
      }
      if (results.length) {
        if (e.key === 'ArrowDown') {
          e.preventDefault();
          setPickerIndex((activeIdx + 1) % results.length);
          return;
        }
        if (e.key === 'ArrowUp') {
          e.preventDefault();
          setPickerIndex((activeIdx - 1 + results.length) % results.length);
          return;
        }
        if ((e.key === 'Enter' && !e.shiftKey && !e.ctrlKey && !e.metaKey && !e.altKey) || e.key === 'Tab') {
          e.preventDefault();
          insertTemplate(results[activeIdx]);
          return;
        }
      }
    }
    const action = composerKeyAction(e, sendKey);
    if (action) {
      e.preventDefault();
      submit(action.then);
    }
  };

  const addFiles = (fileList) => {
    const files = [...(fileList || [])];
    if (!files.length) return;
    const errors = [];
    const added = [];
    for (const file of files) {
      const err = checkFileSize(file, conv.channel);
      if (err) {
        errors.push(err);
        continue;
      }
      added.push({ key: `att${++attSeq}`, name: file.name, size: file.size, type: file.type, state: 'uploading', progress: 0, file });
    }
    setFileError(errors.join(' '));
    if (!added.length) return;
    setAtts((cur) => [...cur, ...added]);
    for (const a of added) {
      uploadFile(a.file, (p) => setAtts((cur) => cur.map((x) => (x.key === a.key ? { ...x, progress: p } : x))))
        .then((attachment) =>
          setAtts((cur) => cur.map((x) => (x.key === a.key ? { ...x, state: 'done', progress: 1, attachment, file: undefined } : x))),
        )
        .catch((err) => setAtts((cur) => cur.map((x) => (x.key === a.key ? { ...x, state: 'error', error: err.message } : x))));
    }
  };

  const onDrop = (e) => {
    e.preventDefault();
    setDragging(false);
    if (e.dataTransfer && e.dataTransfer.files) addFiles(e.dataTransfer.files);
  };

  const sendItems = [
    {
      key: 'send',
      label: note ? 'Add note' : 'Send',
      hint: SEND_HINT[sendKey] || 'Button only',
      testid: 'send-plain',
      onSelect: () => submit(null),
    },
    ...THEN_ACTIONS.map((a) => {
      const applies = thenApplies(a.then, conv.status);
      return {
        key: a.then,
        label: applies ? a.label : `${a.label} (already ${conv.status})`,
        hint: a.keys,
        disabled: !applies || !canSend,
        testid: `send-then-${a.then}`,
        description: applies ? `${a.label}: ${a.keys}` : `Not available: the conversation is ${conv.status}`,
        onSelect: () => submit(a.then),
      };
    }),
  ];

  const placeholder = note
    ? 'Private note: only your team sees it…'
    : `Reply… ${sendKey === 'enter' ? '(Enter to send, Shift+Enter for a new line' : sendKey === 'ctrl_enter' ? '(Ctrl+Enter to send' : '(use the Send button'}; / for templates)`;

  return (
    <div
      class={`composer ${note ? 'is-note' : ''} ${dragging ? 'is-dragging' : ''}`}
      data-testid="composer"
      onDragEnter={(e) => {
        if (e.dataTransfer && [...(e.dataTransfer.types || [])].includes('Files')) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragOver={(e) => {
        e.preventDefault();
        if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
      }}
      onDragLeave={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget)) setDragging(false);
      }}
      onDrop={onDrop}
    >
      {dragging ? (
        <div class="drop-overlay" aria-hidden="true">
          Drop files to attach (up to {formatBytes(fileLimit(conv.channel))} each)
        </div>
      ) : null}
      {pickerOpen ? (
        <div class="template-picker" data-testid="template-picker">
          <div class="picker-head">
            <IconBolt size={14} /> Templates{q ? <span class="muted"> matching “{q}”</span> : null}
            <span class="muted small picker-keys">↑↓ to choose · Enter to insert · Esc to close</span>
          </div>
          <ul role="listbox" id={`tpl-list-${conv.id}`} aria-label="Quick templates" class="options">
            {results.map((t, i) => (
              <li
                key={t.id}
                id={`tpl-${t.id}`}
                role="option"
                aria-selected={i === activeIdx ? 'true' : 'false'}
                class={`option template-option ${i === activeIdx ? 'is-active' : ''}`}
                data-testid="template-option"
                data-template-id={t.id}
                onMouseDown={(e) => e.preventDefault()}
                onMouseEnter={() => setPickerIndex(i)}
                onClick={() => insertTemplate(t)}
              >
                <span class="template-name">{t.name}</span>
                <span class="template-labels">
                  {(t.labels || []).map((l) => (
                    <span key={l} class="label-chip">
                      {l}
                    </span>
                  ))}
                </span>
                <span class="template-preview">{t.content}</span>
              </li>
            ))}
            {results.length === 0 ? (
              <li class="option muted" data-testid="template-empty">
                No templates match “{q}”.
              </li>
            ) : null}
          </ul>
        </div>
      ) : null}
      {atts.length ? (
        <ul class="att-chips" aria-label="Attachments">
          {atts.map((a) => (
            <li key={a.key} class={`att-chip is-${a.state}`} data-testid="attachment-chip" data-state={a.state}>
              <IconFile size={14} />
              <span class="att-chip-name">{a.name}</span>
              <span class="muted small">
                {a.state === 'uploading' ? `${Math.round(a.progress * 100)}%` : a.state === 'error' ? a.error : formatBytes(a.size)}
              </span>
              <button type="button" class="chip-x" aria-label={`Remove ${a.name}`} onClick={() => setAtts((cur) => cur.filter((x) => x.key !== a.key))}>
                <IconX size={12} />
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      {fileError ? (
        <p class="form-error" role="alert" data-testid="file-error">
          {fileError}
        </p>
      ) : null}
      {conv.channel === 'email' && !note ? <EmailSubject conv={conv} /> : null}
      <label class="sr-only" for={`composer-${conv.id}`}>
        {note ? 'Private note' : 'Reply'}
      </label>
      <textarea
        id={`composer-${conv.id}`}
        ref={taRef}
        class="composer-input"
        rows={2}
        value={text}
        placeholder={placeholder}
        onInput={(e) => setDraft(e.currentTarget.value)}
        onKeyDown={onKeyDown}
        onBlur={() => stopTyping(conv.id)}
        onFocus={() => text.trim() && composerActivity(conv.id, true)}
        onPaste={(e) => {
          if (e.clipboardData && e.clipboardData.files && e.clipboardData.files.length) {
            e.preventDefault();
            addFiles(e.clipboardData.files);
          }
        }}
        data-testid="composer-input"
        aria-describedby={`composer-help-${conv.id}`}
        aria-controls={pickerOpen ? `tpl-list-${conv.id}` : undefined}
        aria-expanded={pickerOpen ? 'true' : 'false'}
        aria-autocomplete="list"
        aria-activedescendant={pickerOpen && results[activeIdx] ? `tpl-${results[activeIdx].id}` : undefined}
      />
      <span id={`composer-help-${conv.id}`} class="sr-only">
        {SEND_KEY_LABELS[sendKey]}. Ctrl+Shift+Enter sends and resolves, Ctrl+Alt+Enter sends and marks pending, Alt+Shift+Enter sends and reopens. Type
        slash for quick templates.
      </span>
      <div class="composer-bar">
        <div class="composer-tools">
          <button
            type="button"
            class={`btn btn-ghost btn-small ${note ? 'is-on' : ''}`}
            aria-pressed={note ? 'true' : 'false'}
            onClick={() => setNote(!note)}
            disabled={notesOnly}
            data-testid="note-toggle"
            title="Private note: only your team sees it"
          >
            <IconNote size={16} />
            <span>Private note</span>
          </button>
          <button
            type="button"
            class="btn btn-ghost btn-small"
            onClick={() => fileRef.current && fileRef.current.click()}
            data-testid="attach-button"
            aria-label="Attach files"
            title={`Attach files (up to ${formatBytes(fileLimit(conv.channel))} each)`}
          >
            <IconPaperclip size={16} />
          </button>
          <input
            ref={fileRef}
            type="file"
            multiple
            hidden
            onChange={(e) => {
              addFiles(e.currentTarget.files);
              e.currentTarget.value = '';
            }}
            data-testid="file-input"
          />
          <button
            type="button"
            class="btn btn-ghost btn-small"
            onClick={() => {
              if (!text.startsWith('/')) setDraft(`/${text}`);
              setDismissed(null);
              if (taRef.current) taRef.current.focus();
            }}
            aria-label="Insert a template"
            title="Templates (type / at the start)"
            data-testid="template-button"
          >
            <IconBolt size={16} />
          </button>
        </div>
        <div class="send-group">
          <button
            type="button"
            class={`btn ${note ? 'btn-note' : 'btn-primary'} send-button`}
            onClick={() => submit(null)}
            disabled={!canSend}
            data-testid="send-button"
          >
            <IconSend size={15} />
            <span>{note ? 'Add note' : 'Send'}</span>
          </button>
          <Menu
            label={<IconChevronDown size={15} />}
            items={sendItems}
            buttonClass={`btn ${note ? 'btn-note' : 'btn-primary'} send-more`}
            buttonProps={{ 'aria-label': 'More send options', title: 'Send and change status', 'data-testid': 'send-menu-button' }}
            menuLabel="Send options"
            header={`Conversation is ${conv.status}`}
            align="right"
            testid="send-menu"
          />
        </div>
      </div>
    </div>
  );
}
