// Pure helpers of the admin Settings area: labels, form <-> API payload mapping, validation,
// business-hours editing, template variables, the signature preview's sanitizer policy.
// Nothing here touches the store or the network, so all of it is unit-tested.

// --------------------------------------------------------------------------- labels

export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
export const DAY_LABELS = { mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday', sat: 'Saturday', sun: 'Sunday' };

/** The guide's permission flags of an authorized user, in the order it names them. */
export const GRANT_FLAGS = [
  { key: 'handles_conversations', label: 'Handles conversations', hint: 'Can view and respond' },
  { key: 'can_reassign', label: 'Can reassign', hint: 'May assign conversations to others' },
  { key: 'can_clear_assignment', label: 'Can clear assignment', hint: 'May unassign conversations' },
  { key: 'can_resolve_all', label: 'Can resolve all', hint: 'May resolve conversations assigned to others' },
  { key: 'auto_assign', label: 'Auto-assignment target', hint: 'Rotation rules may assign new conversations to them' },
];

export const RULE_TYPES = [
  { type: 'customer_salesman', label: "Customer's salesman", hint: 'The salesman on the linked customer record' },
  { type: 'customer_field', label: 'Customer custom field', hint: 'The user named in a custom field of the customer', needs: 'field' },
  { type: 'latest_assignee', label: 'Latest assigned user', hint: 'Whoever handled this contact last' },
  { type: 'team', label: 'Team', hint: 'Members of a team, in rotation', needs: 'team_id' },
  { type: 'workload', label: 'Workload rotation', hint: 'The auto-assignment target with the fewest open conversations' },
  { type: 'random', label: 'Random user', hint: 'A random auto-assignment target' },
];

export const AUTO_REPLY_TRIGGERS = [
  { value: 'outside_hours', label: 'Outside business hours', hint: 'A message arrives when the team is unavailable' },
  { value: 'first_contact', label: 'First contact', hint: 'The contact’s first conversation on this account' },
  { value: 'always', label: 'Always', hint: 'Every incoming message (use sparingly)' },
];

export const TEMPLATE_TYPES = [
  { value: 'start', label: 'Start', hint: 'Can initiate new conversations' },
  { value: 'reply', label: 'Reply', hint: 'Used within existing conversations' },
  { value: 'window', label: 'Window', hint: 'WhatsApp: for use outside the 24-hour window' },
];

/** The variables the server fills in (server/domain/templates.py VARIABLES). */
export const TEMPLATE_VARIABLES = [
  { name: 'customer_name', inserts: 'The linked customer’s name' },
  { name: 'contact_name', inserts: 'The contact’s name' },
  { name: 'quote_number', inserts: 'The related quote number (asked for when sending)' },
  { name: 'user_name', inserts: 'Your name (the sending agent)' },
  { name: 'company_name', inserts: 'Your company name (the account’s company_name setting)' },
];

export const WHATSAPP_CATEGORIES = ['UTILITY', 'MARKETING', 'AUTHENTICATION'];

export const APPROVAL_LABELS = { pending: 'Pending', approved: 'Approved', rejected: 'Rejected', paused: 'Paused', disabled: 'Disabled' };

/** The guide's email providers; OAuth ones are listed honestly as not available yet. */
export const EMAIL_PROVIDERS = [
  { id: 'imap', label: 'IMAP', auth: 'Username and password', available: true },
  { id: 'gmail', label: 'Gmail', auth: 'Google OAuth', available: false },
  { id: 'office365', label: 'Office 365', auth: 'Microsoft OAuth', available: false },
];

export const WHATSAPP_PROVIDERS = [
  { id: 'cloud', label: 'Meta Cloud API' },
  { id: 'twilio', label: 'Twilio' },
];

export const SECRET_NAMES = {
  email: ['password'],
  api: ['token', 'webhook_secret'],
  cloud: ['access_token', 'app_secret', 'verify_token'],
  twilio: ['auth_token'],
};

const SECRET_LABELS = {
  password: 'Password',
  token: 'Channel token',
  webhook_secret: 'Webhook secret',
  access_token: 'Access token',
  app_secret: 'App secret',
  verify_token: 'Verify token',
  auth_token: 'Auth token',
};

export const TAG_COLORS = ['#dc2626', '#d97706', '#16a34a', '#0891b2', '#2563eb', '#7c3aed', '#db2777', '#6b7280'];

// --------------------------------------------------------------------------- accounts

/** Status badge of an account: Active / Error (with the reason) / Paused. */
export function accountStatus(account) {
  const status = (account && account.status) || 'active';
  if (status === 'paused') return { key: 'paused', label: 'Paused', reason: '' };
  if (status === 'error') return { key: 'error', label: 'Error', reason: (account && account.status_reason) || 'The connection failed.' };
  return { key: 'active', label: 'Active', reason: '' };
}

/** "IMAP", "Meta Cloud API", "Twilio" or "API": how the account is connected. */
export function providerLabel(account) {
  if (!account) return '';
  if (account.kind === 'email') return 'IMAP';
  if (account.kind === 'whatsapp') {
    const p = (account.settings || {}).provider;
    return p === 'twilio' ? 'Twilio' : p === 'cloud' ? 'Meta Cloud API' : 'WhatsApp';
  }
  return 'API';
}

/** The secrets an account of this kind holds, each "set" or "not set" from the names the API lists. */
export function secretStates(account) {
  if (!account) return [];
  const key = account.kind === 'whatsapp' ? (account.settings || {}).provider || 'cloud' : account.kind;
  const held = new Set(account.secrets || []);
  const names = SECRET_NAMES[key] || [];
  const extra = [...held].filter((n) => !names.includes(n)).sort();
  return [...names, ...extra].map((name) => ({ name, label: SECRET_LABELS[name] || name, set: held.has(name) }));
}

/** Which of `fields` an API error message names (`settings.imap_host must be…` -> imap_host), or ''. */
export function errorField(message, fields) {
  const text = String(message || '');
  let best = '';
  let at = Infinity;
  for (const f of fields) {
    const re = new RegExp(`(^|[^A-Za-z0-9_])${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([^A-Za-z0-9_]|$)`);
    const m = re.exec(text);
    if (m && m.index < at) {
      at = m.index;
      best = f;
    }
  }
  return best;
}

const EMAIL_RE = /^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$/;
const HOST_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$|^\[?[0-9a-fA-F:.]+\]?$/;

export function isEmail(value) {
  return EMAIL_RE.test(String(value || '').trim());
}

function portError(value) {
  if (value === '' || value == null) return '';
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? '' : 'A port number between 1 and 65535';
}

function portValue(value) {
  return value === '' || value == null ? undefined : Number(value);
}

export const DEFAULT_IMAP_PORT = { tls: 993, none: 143 };
export const DEFAULT_SMTP_PORT = { tls: 465, starttls: 587, none: 25 };

export function emailForm(account) {
  const s = (account && account.settings) || {};
  return {
    name: (account && account.name) || '',
    address: s.address || '',
    sender_name: s.sender_name || '',
    imap_host: s.imap_host || '',
    imap_port: s.imap_port != null ? String(s.imap_port) : '993',
    imap_security: s.imap_security || 'tls',
    smtp_host: s.smtp_host || '',
    smtp_port: s.smtp_port != null ? String(s.smtp_port) : '587',
    smtp_security: s.smtp_security || 'starttls',
    username: s.username || '',
    password: '', // write-only: never pre-filled
  };
}

/** Field errors of the IMAP form; `isNew` makes the password required. */
export function validateEmailForm(f, { isNew = true } = {}) {
  const e = {};
  if (!f.name.trim()) e.name = 'Give the account a name';
  if (!isEmail(f.address)) e.address = 'A full email address, e.g. support@example.com';
  if (!HOST_RE.test(f.imap_host.trim())) e.imap_host = 'A host name such as imap.example.com';
  if (!HOST_RE.test(f.smtp_host.trim())) e.smtp_host = 'A host name such as smtp.example.com';
  if (portError(f.imap_port)) e.imap_port = portError(f.imap_port);
  if (portError(f.smtp_port)) e.smtp_port = portError(f.smtp_port);
  if (isNew && !f.password) e.password = 'The email password or an app-specific password';
  return e;
}

/** POST/PATCH body of an email account. Other settings (hours, rules…) of `account` are kept. */
export function emailPayload(f, account = null) {
  const settings = {
    ...((account && account.settings) || {}),
    address: f.address.trim(),
    sender_name: f.sender_name.trim(),
    imap_host: f.imap_host.trim(),
    imap_port: portValue(f.imap_port),
    imap_security: f.imap_security,
    smtp_host: f.smtp_host.trim(),
    smtp_port: portValue(f.smtp_port),
    smtp_security: f.smtp_security,
    username: f.username.trim(),
  };
  for (const k of ['imap_port', 'smtp_port']) if (settings[k] === undefined) delete settings[k];
  const body = { name: f.name.trim(), settings };
  if (!account) body.kind = 'email';
  if (f.password) body.secrets = { password: f.password };
  return body;
}

export function whatsappForm(account, provider = 'cloud') {
  const s = (account && account.settings) || {};
  return {
    name: (account && account.name) || '',
    provider: s.provider || provider,
    phone_number_id: s.phone_number_id || '',
    waba_id: s.waba_id || '',
    graph_base_url: s.graph_base_url || '',
    api_version: s.api_version || '',
    account_sid: s.account_sid || '',
    sender: s.sender || '',
    base_url: s.base_url || '',
    webhook_url: s.webhook_url || '',
    secrets: {}, // write-only: what the admin types, never what is stored
  };
}

export function validateWhatsAppForm(f, account = null) {
  const e = {};
  const held = new Set((account && account.secrets) || []);
  if (!f.name.trim()) e.name = 'Give the number a name';
  if (f.provider === 'cloud') {
    if (!/^[0-9]{1,32}$/.test(f.phone_number_id.trim())) e.phone_number_id = 'The numeric id Meta shows for the number';
    if (!/^[0-9]{1,32}$/.test(f.waba_id.trim())) e.waba_id = 'The numeric WhatsApp Business Account id';
    if (f.api_version.trim() && !/^v[0-9]{1,3}\.[0-9]{1,2}$/.test(f.api_version.trim())) e.api_version = 'Like v21.0';
  } else {
    if (!/^AC[0-9a-fA-F]{32}$/.test(f.account_sid.trim())) e.account_sid = 'AC followed by 32 hexadecimal characters';
    if (!/^whatsapp:\+?[0-9 ()-]{7,20}$/.test(f.sender.trim())) e.sender = 'whatsapp:+ and the number in international format';
    if (!/^https?:\/\//.test(f.webhook_url.trim())) e.webhook_url = 'The public URL of this server’s Twilio webhook';
  }
  for (const name of SECRET_NAMES[f.provider] || []) {
    if (!held.has(name) && !(f.secrets[name] || '').trim()) e[`secret_${name}`] = 'Required';
  }
  return e;
}

export function whatsappPayload(f, account = null) {
  const settings = { ...((account && account.settings) || {}), provider: f.provider };
  const fields = f.provider === 'cloud' ? ['phone_number_id', 'waba_id', 'graph_base_url', 'api_version'] : ['account_sid', 'sender', 'base_url', 'webhook_url'];
  for (const k of fields) {
    const v = (f[k] || '').trim();
    if (v) settings[k] = v;
    else delete settings[k];
  }
  const body = { name: f.name.trim(), settings };
  if (!account) body.kind = 'whatsapp';
  const secrets = {};
  for (const name of SECRET_NAMES[f.provider] || []) if ((f.secrets[name] || '').trim()) secrets[name] = f.secrets[name].trim();
  if (Object.keys(secrets).length) body.secrets = secrets;
  return body;
}

export function apiPayload(f) {
  const settings = {};
  if (f.webhook_url && f.webhook_url.trim()) settings.webhook_url = f.webhook_url.trim();
  return { kind: 'api', name: f.name.trim(), settings };
}

export function validateApiForm(f) {
  const e = {};
  if (!f.name.trim()) e.name = 'Give the channel a name';
  if (f.webhook_url.trim() && !/^https?:\/\/\S+$/.test(f.webhook_url.trim())) e.webhook_url = 'An http(s) URL';
  return e;
}

// --------------------------------------------------------------------------- business hours

/** Editable business hours: `enabled` false means none configured (always open). */
export function hoursForm(hours) {
  const h = hours || null;
  const days = {};
  for (const d of DAYS) {
    const span = h && h.days ? h.days[d] : undefined;
    if (Array.isArray(span)) days[d] = { open: true, start: span[0], end: span[1] };
    else days[d] = { open: !h && !['sat', 'sun'].includes(d), start: '09:00', end: '17:00' };
  }
  return {
    enabled: !!h,
    time_zone: (h && h.time_zone) || 'UTC',
    days,
    holidays: [...((h && h.holidays) || [])].sort(),
  };
}

export function setDay(form, day, changes) {
  return { ...form, days: { ...form.days, [day]: { ...form.days[day], ...changes } } };
}

/** Monday's hours for every open weekday. */
export function copyToWeekdays(form, from = 'mon') {
  const src = form.days[from];
  const days = { ...form.days };
  for (const d of DAYS.slice(0, 5)) days[d] = { open: src.open, start: src.start, end: src.end };
  return { ...form, days };
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

export function addHoliday(form, date) {
  if (!DATE_RE.test(date || '') || form.holidays.includes(date)) return form;
  return { ...form, holidays: [...form.holidays, date].sort() };
}

export function removeHoliday(form, date) {
  return { ...form, holidays: form.holidays.filter((d) => d !== date) };
}

const CLOCK_RE = /^([01]\d|2[0-3]):[0-5]\d$/;

export function validateHours(form) {
  const e = {};
  if (!form.enabled) return e;
  if (!form.time_zone) e.time_zone = 'Choose a time zone';
  for (const d of DAYS) {
    const day = form.days[d];
    if (!day.open) continue;
    if (!CLOCK_RE.test(day.start) || !CLOCK_RE.test(day.end)) e[d] = 'Times like 09:00';
    else if (day.start >= day.end) e[d] = `${DAY_LABELS[d]} must end after it starts`;
  }
  return e;
}

/** API shape (`{time_zone, days: {mon: ["09:00","17:00"], sat: null}, holidays}`) or null. */
export function hoursPayload(form) {
  if (!form.enabled) return null;
  const days = {};
  for (const d of DAYS) days[d] = form.days[d].open ? [form.days[d].start, form.days[d].end] : null;
  return { time_zone: form.time_zone, days, holidays: [...form.holidays] };
}

// --------------------------------------------------------------------------- automation settings

export function moveItem(list, index, delta) {
  const to = index + delta;
  if (to < 0 || to >= list.length) return list;
  const out = list.slice();
  const [item] = out.splice(index, 1);
  out.splice(to, 0, item);
  return out;
}

export function newRule(type) {
  const def = RULE_TYPES.find((r) => r.type === type) || RULE_TYPES[0];
  if (def.needs === 'field') return { type: def.type, field: '' };
  if (def.needs === 'team_id') return { type: def.type, team_id: '' };
  return { type: def.type };
}

export function validateRules(rules) {
  const e = {};
  rules.forEach((r, i) => {
    if (r.type === 'customer_field' && !(r.field || '').trim()) e[i] = 'Name the custom field, e.g. account_manager';
    if (r.type === 'team' && !r.team_id) e[i] = 'Choose a team';
  });
  return e;
}

/** Everything the account's settings screen edits, from the account record. */
export function automationForm(account) {
  const s = (account && account.settings) || {};
  const ar = s.auto_reply || {};
  return {
    sender_name: s.sender_name || '',
    signature_html: s.signature_html || '',
    company_name: s.company_name || '',
    hours: hoursForm(s.business_hours),
    auto_reply: { enabled: !!ar.enabled, trigger: ar.trigger || 'outside_hours', message: ar.message || '' },
    rules: (s.assignment_rules || []).map((r) => ({ ...r })),
    assistant: !s.assistant || s.assistant.enabled !== false,
  };
}

export function validateAutomation(form) {
  const e = {};
  const hours = validateHours(form.hours);
  if (Object.keys(hours).length) e.hours = hours;
  if (form.auto_reply.enabled && !form.auto_reply.message.trim()) e.auto_reply = 'Write the message to send';
  const rules = validateRules(form.rules);
  if (Object.keys(rules).length) e.rules = rules;
  return e;
}

/** PATCH body: the whole settings object (the API replaces it), this form's parts changed. */
export function automationPayload(account, form) {
  const settings = { ...((account && account.settings) || {}) };
  const put = (k, v) => {
    if (v === '' || v == null) delete settings[k];
    else settings[k] = v;
  };
  if (account.kind === 'email') {
    settings.sender_name = form.sender_name.trim();
    settings.signature_html = form.signature_html;
  }
  put('company_name', form.company_name.trim());
  put('business_hours', hoursPayload(form.hours));
  settings.auto_reply = { enabled: form.auto_reply.enabled, trigger: form.auto_reply.trigger, message: form.auto_reply.message };
  settings.assignment_rules = form.rules.map((r) => {
    if (r.type === 'customer_field') return { type: r.type, field: r.field.trim() };
    if (r.type === 'team') return { type: r.type, team_id: r.team_id };
    return { type: r.type };
  });
  settings.assistant = { enabled: !!form.assistant };
  return { settings };
}

// --------------------------------------------------------------------------- authorized users

export function grantDefaults(userId) {
  return { user_id: userId, handles_conversations: true, can_reassign: false, can_clear_assignment: false, can_resolve_all: false, auto_assign: false };
}

export function grantsForm(account) {
  return ((account && account.authorized) || []).map((g) => ({ ...grantDefaults(g.user_id), ...g }));
}

export function addGrant(grants, userId) {
  if (!userId || grants.some((g) => g.user_id === userId)) return grants;
  return [...grants, grantDefaults(userId)];
}

export function removeGrant(grants, userId) {
  return grants.filter((g) => g.user_id !== userId);
}

export function setGrantFlag(grants, userId, flag, value) {
  return grants.map((g) => (g.user_id === userId ? { ...g, [flag]: !!value } : g));
}

export function grantsPayload(grants) {
  return {
    authorized: grants.map((g) => {
      const out = { user_id: g.user_id };
      for (const f of GRANT_FLAGS) out[f.key] = !!g[f.key];
      return out;
    }),
  };
}

// --------------------------------------------------------------------------- signature preview

const KEEP_TAGS = new Set(
  ('a abbr b blockquote br caption center cite code col colgroup dd del div dl dt em figcaption figure font h1 h2 h3 h4 h5 h6 ' +
    'hr i img ins kbd li mark ol p pre q s small span strike strong sub sup table tbody td tfoot th thead tr u ul').split(' '),
);
const DROP_TAGS = new Set(
  'script style iframe frame frameset object embed applet noscript template title head svg math select textarea button link meta base form input'.split(' '),
);
const KEEP_ATTRS = new Set(['style', 'title', 'dir', 'lang', 'href', 'src', 'alt', 'width', 'height', 'align', 'valign', 'color', 'face', 'size', 'colspan', 'rowspan', 'bgcolor', 'border', 'cellpadding', 'cellspacing', 'start', 'type', 'span']);
const STYLE_PROPS = new Set(
  ('color background-color font-weight font-style font-size font-family text-align text-decoration vertical-align line-height ' +
    'white-space margin margin-left margin-right margin-top margin-bottom padding padding-left padding-right padding-top padding-bottom ' +
    'border border-collapse width height max-width').split(' '),
);

/** What happens to an element of this tag: 'keep', 'drop' (with its content) or 'unwrap'. */
export function tagPolicy(tag) {
  const t = String(tag).toLowerCase();
  if (KEEP_TAGS.has(t)) return 'keep';
  if (DROP_TAGS.has(t)) return 'drop';
  return 'unwrap';
}

export function safeLink(url) {
  return /^\s*(https?:|mailto:|tel:|#)/i.test(url || '');
}

export function safeImage(url) {
  return /^\s*(https?:|cid:|data:image\/(png|gif|jpe?g|webp|bmp)[;,])/i.test(url || '');
}

/** An inline style with only layout/emphasis properties and no url() or expressions. */
export function cleanStyle(style) {
  return String(style || '')
    .split(';')
    .map((d) => d.trim())
    .filter((d) => {
      const i = d.indexOf(':');
      if (i < 1) return false;
      const prop = d.slice(0, i).trim().toLowerCase();
      const value = d.slice(i + 1).toLowerCase();
      return STYLE_PROPS.has(prop) && !/url\(|expression|javascript:|@import|\\/.test(value);
    })
    .join('; ');
}

/** Attribute value to keep (a string) or null to drop it. */
export function cleanAttribute(tag, name, value) {
  const n = String(name).toLowerCase();
  if (!KEEP_ATTRS.has(n)) return null;
  if (n === 'href') return safeLink(value) ? value : null;
  if (n === 'src') return tag === 'img' && safeImage(value) ? value : null;
  if (n === 'style') return cleanStyle(value) || null;
  return value;
}

/** Sanitized HTML of `html`, parsed by the browser (`DOMParser`): the live signature preview. */
export function sanitizeHtml(html, Parser = typeof DOMParser !== 'undefined' ? DOMParser : null) {
  if (!Parser) return '';
  const doc = new Parser().parseFromString(`<body>${html || ''}</body>`, 'text/html');
  const walk = (parent) => {
    for (const node of [...parent.childNodes]) {
      if (node.nodeType === 8) {
        node.remove();
        continue;
      }
      if (node.nodeType !== 1) continue;
      const tag = node.tagName.toLowerCase();
      const policy = tagPolicy(tag);
      if (policy === 'drop') {
        node.remove();
        continue;
      }
      walk(node);
      if (policy === 'unwrap') {
        node.replaceWith(...node.childNodes);
        continue;
      }
      for (const attr of [...node.attributes]) {
        const v = cleanAttribute(tag, attr.name, attr.value);
        if (v == null) node.removeAttribute(attr.name);
        else if (v !== attr.value) node.setAttribute(attr.name, v);
      }
      if (tag === 'a') {
        node.setAttribute('rel', 'noopener noreferrer');
        node.setAttribute('target', '_blank');
      }
    }
  };
  walk(doc.body);
  return doc.body.innerHTML;
}

// --------------------------------------------------------------------------- templates

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Variable names in `content`, each once, in order. */
export function variablesIn(content) {
  const seen = [];
  for (const m of String(content || '').matchAll(PLACEHOLDER)) if (!seen.includes(m[1])) seen.push(m[1]);
  return seen;
}

export function unknownVariables(content) {
  const known = new Set(TEMPLATE_VARIABLES.map((v) => v.name));
  return variablesIn(content).filter((v) => !known.has(v));
}

/** `content` with `{{name}}` put at [start, end) (the selection), and where the caret goes after. */
export function insertVariable(content, name, start = content.length, end = start) {
  const token = `{{${name}}}`;
  return { content: content.slice(0, start) + token + content.slice(end), caret: start + token.length };
}

export function parseLabels(text) {
  const out = [];
  for (const part of String(text || '').split(',')) {
    const v = part.trim();
    if (v && !out.some((x) => x.toLowerCase() === v.toLowerCase())) out.push(v);
  }
  return out;
}

export function templateForm(t, accountId = '') {
  return {
    account_id: (t && t.account_id) || accountId,
    name: (t && t.name) || '',
    content: (t && t.content) || '',
    labels: ((t && t.labels) || []).join(', '),
    type: (t && t.type) || 'reply',
    language: (t && t.language) || 'en',
    category: (t && t.category) || 'UTILITY',
    content_sid: (t && t.approval && t.provider_template_id) || '',
  };
}

export function validateTemplateForm(f, account) {
  const e = {};
  if (!f.account_id) e.account_id = 'Choose the account that may use it';
  if (!f.name.trim()) e.name = 'Give it a name to find it by';
  if (!f.content.trim()) e.content = 'Write the message';
  const labels = parseLabels(f.labels);
  if (labels.length > 20 || labels.some((l) => l.length > 64)) e.labels = 'At most 20 labels of at most 64 characters';
  if (account && account.kind === 'whatsapp') {
    if (!/^[a-z]{2,3}(_[A-Z]{2})?$/.test(f.language)) e.language = 'A language code such as en or en_US';
    if ((account.settings || {}).provider === 'twilio' && !/^HX[0-9a-fA-F]{32}$/.test(f.content_sid.trim())) {
      e.content_sid = 'The ContentSid (HX + 32 hex characters) from Twilio’s Content Template Builder';
    }
  }
  return e;
}

export function templatePayload(f, account) {
  const body = { account_id: f.account_id, name: f.name.trim(), content: f.content, labels: parseLabels(f.labels), type: f.type };
  if (account && account.kind === 'whatsapp') {
    body.language = f.language;
    body.category = f.category;
    if ((account.settings || {}).provider === 'twilio') body.content_sid = f.content_sid.trim();
  }
  return body;
}

export function filterTemplates(list, { accountId = '', type = '', q = '' } = {}) {
  const needle = q.trim().toLowerCase();
  return list
    .filter((t) => (!accountId || t.account_id === accountId) && (!type || t.type === type))
    .filter((t) => !needle || t.name.toLowerCase().includes(needle) || (t.labels || []).some((l) => l.toLowerCase().includes(needle)))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The approval badge of a WhatsApp template (null for other channels). */
export function approvalInfo(t) {
  if (!t || !t.approval) return null;
  return { key: t.approval, label: APPROVAL_LABELS[t.approval] || t.approval, reason: t.approval_reason || '' };
}

// --------------------------------------------------------------------------- tags

export function tagForm(t) {
  return { name: (t && t.name) || '', description: (t && t.description) || '', color: (t && t.color) || TAG_COLORS[4] };
}

export function validateTagForm(f, tags = [], ownId = null) {
  const e = {};
  const name = f.name.trim();
  if (!name) e.name = 'Give the tag a name';
  else if (name.length > 64) e.name = 'At most 64 characters';
  else if (tags.some((t) => t.id !== ownId && !t.deleted && t.name.toLowerCase() === name.toLowerCase())) e.name = `A tag named “${name}” already exists`;
  if (f.description.length > 500) e.description = 'At most 500 characters';
  if (!/^#[0-9a-fA-F]{6}$/.test(f.color)) e.color = 'A colour like #2563eb';
  return e;
}

export function tagPayload(f) {
  return { name: f.name.trim(), description: f.description.trim(), color: f.color.toLowerCase() };
}

// --------------------------------------------------------------------------- users & teams

export function userForm(u) {
  return {
    name: (u && u.name) || '',
    email: (u && u.email) || '',
    role: (u && u.role) || 'agent',
    can_manage_groups: !!(u && u.can_manage_groups),
    password: '',
  };
}

export function validateUserForm(f, { isNew = true } = {}) {
  const e = {};
  if (!f.name.trim()) e.name = 'Their name, as teammates see it';
  if (!isEmail(f.email)) e.email = 'A valid email address';
  if (isNew && f.password.length < 8) e.password = 'At least 8 characters';
  return e;
}

/** POST body for a new user, or the PATCH body of what changed on `original`. */
export function userPayload(f, original = null) {
  const now = { name: f.name.trim(), email: f.email.trim().toLowerCase(), role: f.role, can_manage_groups: !!f.can_manage_groups };
  if (!original) return { ...now, password: f.password };
  const out = {};
  for (const k of Object.keys(now)) if (now[k] !== (k === 'can_manage_groups' ? !!original[k] : original[k])) out[k] = now[k];
  return out;
}

export function validatePassword(p) {
  return p.length >= 8 ? '' : 'At least 8 characters';
}

export function teamPayload(f) {
  return { name: f.name.trim(), member_ids: [...new Set(f.member_ids)] };
}

// --------------------------------------------------------------------------- misc

export function timeZones() {
  try {
    if (typeof Intl.supportedValuesOf === 'function') return Intl.supportedValuesOf('timeZone');
  } catch {
    /* old browser */
  }
  return ['UTC'];
}
