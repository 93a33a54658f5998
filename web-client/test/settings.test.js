import { describe, expect, it } from 'vitest';
import {
  accountStatus,
  addGrant,
  addHoliday,
  automationForm,
  automationPayload,
  cleanAttribute,
  cleanStyle,
  copyToWeekdays,
  emailForm,
  emailPayload,
  errorField,
  filterTemplates,
  grantsPayload,
  hoursForm,
  hoursPayload,
  insertVariable,
  moveItem,
  parseLabels,
  providerLabel,
  removeGrant,
  removeHoliday,
  safeImage,
  safeLink,
  secretStates,
  setDay,
  setGrantFlag,
  tagPayload,
  tagPolicy,
  templatePayload,
  unknownVariables,
  userPayload,
  validateAutomation,
  validateEmailForm,
  validateHours,
  validateTagForm,
  validateTemplateForm,
  validateUserForm,
  validateWhatsAppForm,
  variablesIn,
  whatsappForm,
  whatsappPayload,
} from '../src/lib/settings.js';

const emailAccount = {
  id: 'acc_1',
  kind: 'email',
  name: 'Support mail',
  status: 'active',
  secrets: ['password'],
  settings: {
    address: 'support@shop.example',
    imap_host: 'imap.shop.example',
    imap_port: 993,
    imap_security: 'tls',
    smtp_host: 'smtp.shop.example',
    smtp_port: 587,
    smtp_security: 'starttls',
    username: 'support@shop.example',
    assignment_rules: [{ type: 'workload' }],
    company_name: 'WiseParts',
  },
  authorized: [{ user_id: 'u1', handles_conversations: true, auto_assign: true }],
};

describe('account status and secrets', () => {
  it('shows Active, Paused, or Error with the server reason', () => {
    expect(accountStatus({ status: 'active' }).label).toBe('Active');
    expect(accountStatus({ status: 'paused' }).label).toBe('Paused');
    const err = accountStatus({ status: 'error', status_reason: 'IMAP login failed for a@b.c' });
    expect(err).toMatchObject({ key: 'error', label: 'Error', reason: 'IMAP login failed for a@b.c' });
  });

  it('names the provider an account is connected through', () => {
    expect(providerLabel(emailAccount)).toBe('IMAP');
    expect(providerLabel({ kind: 'whatsapp', settings: { provider: 'twilio' } })).toBe('Twilio');
    expect(providerLabel({ kind: 'whatsapp', settings: { provider: 'cloud' } })).toBe('Meta Cloud API');
    expect(providerLabel({ kind: 'api', settings: {} })).toBe('API');
  });

  it('says which secrets are set from the names the API lists, never a value', () => {
    const states = secretStates({ kind: 'whatsapp', settings: { provider: 'cloud' }, secrets: ['access_token'] });
    expect(states.map((x) => [x.name, x.set])).toEqual([
      ['access_token', true],
      ['app_secret', false],
      ['verify_token', false],
    ]);
    expect(secretStates({ kind: 'api', secrets: ['token', 'webhook_secret'] }).every((x) => x.set)).toBe(true);
  });
});

describe('API errors land next to the field they name', () => {
  const fields = ['address', 'imap_host', 'imap_port', 'smtp_host', 'password'];
  it('finds the field in the server message', () => {
    expect(errorField('settings.imap_host must be a host name or IP address, e.g. imap.example.com', fields)).toBe('imap_host');
    expect(errorField('secrets.password is required for an email account', fields)).toBe('password');
  });
  it('does not match a field inside a longer word, and falls back to the form', () => {
    expect(errorField('settings.imap_port_x is odd', ['imap_port'])).toBe('');
    expect(errorField('Only admins can add channel accounts', fields)).toBe('');
  });
});

describe('email account form', () => {
  it('never pre-fills the password and requires it only for a new account', () => {
    const f = emailForm(emailAccount);
    expect(f.password).toBe('');
    expect(validateEmailForm(f, { isNew: false })).toEqual({});
    expect(validateEmailForm(f, { isNew: true }).password).toBeTruthy();
  });

  it('flags the guide’s fields that are wrong', () => {
    const f = { ...emailForm(null), name: '', address: 'not-an-address', imap_host: 'bad host', smtp_host: 'smtp.x.io', imap_port: '99999' };
    const e = validateEmailForm(f);
    expect(Object.keys(e).sort()).toEqual(['address', 'imap_host', 'imap_port', 'name', 'password']);
  });

  it('maps to the API body with numeric ports, keeping the account’s other settings', () => {
    const f = { ...emailForm(emailAccount), sender_name: 'Shop Support', smtp_port: '465', smtp_security: 'tls' };
    const body = emailPayload(f, emailAccount);
    expect(body.kind).toBeUndefined();
    expect(body.secrets).toBeUndefined(); // nothing typed: the stored password stays
    expect(body.settings).toMatchObject({ smtp_port: 465, smtp_security: 'tls', sender_name: 'Shop Support', company_name: 'WiseParts' });
    expect(body.settings.assignment_rules).toEqual([{ type: 'workload' }]);
    const created = emailPayload({ ...emailForm(null), name: 'New', address: 'a@b.io', imap_host: 'i.b.io', smtp_host: 's.b.io', password: 'pw' });
    expect(created).toMatchObject({ kind: 'email', secrets: { password: 'pw' } });
    expect(created.settings.imap_port).toBe(993);
  });
});

describe('WhatsApp account form', () => {
  it('requires each provider’s ids and the secrets the account does not hold yet', () => {
    const cloud = { ...whatsappForm(null, 'cloud'), name: 'Sales', phone_number_id: '123', waba_id: '456' };
    expect(Object.keys(validateWhatsAppForm(cloud)).sort()).toEqual(['secret_access_token', 'secret_app_secret', 'secret_verify_token']);
    const held = { kind: 'whatsapp', settings: { provider: 'cloud' }, secrets: ['access_token', 'app_secret', 'verify_token'] };
    expect(validateWhatsAppForm(cloud, held)).toEqual({});
    const twilio = { ...whatsappForm(null, 'twilio'), name: 'T', account_sid: 'AC123', sender: '+1555', webhook_url: 'ftp://x' };
    expect(Object.keys(validateWhatsAppForm(twilio)).sort()).toEqual(['account_sid', 'secret_auth_token', 'sender', 'webhook_url']);
  });

  it('sends only the typed secrets and the chosen provider’s settings', () => {
    const f = { ...whatsappForm(null, 'twilio'), name: 'T', account_sid: 'AC' + 'a'.repeat(32), sender: 'whatsapp:+15551230000', webhook_url: 'https://h/x', secrets: { auth_token: ' tok ' } };
    const body = whatsappPayload(f);
    expect(body).toEqual({
      kind: 'whatsapp',
      name: 'T',
      settings: { provider: 'twilio', account_sid: 'AC' + 'a'.repeat(32), sender: 'whatsapp:+15551230000', webhook_url: 'https://h/x' },
      secrets: { auth_token: 'tok' },
    });
  });
});

describe('business hours', () => {
  it('reads the API shape, closed days included', () => {
    const f = hoursForm({ time_zone: 'Europe/Berlin', days: { mon: ['09:00', '17:00'], sat: null }, holidays: ['2026-12-25'] });
    expect(f.enabled).toBe(true);
    expect(f.days.mon).toEqual({ open: true, start: '09:00', end: '17:00' });
    expect(f.days.sat.open).toBe(false);
    expect(f.days.tue.open).toBe(false); // not listed: closed
    expect(hoursForm(null)).toMatchObject({ enabled: false, time_zone: 'UTC' });
    expect(hoursForm(null).days.mon.open).toBe(true);
    expect(hoursForm(null).days.sun.open).toBe(false);
  });

  it('edits days, copies Monday to the weekdays, and writes null for closed days', () => {
    let f = hoursForm(null);
    f = { ...f, enabled: true, time_zone: 'Europe/Berlin' };
    f = setDay(f, 'mon', { start: '08:00', end: '16:30' });
    f = copyToWeekdays(f);
    const body = hoursPayload(f);
    expect(body.days.fri).toEqual(['08:00', '16:30']);
    expect(body.days.sat).toBeNull();
    expect(body.time_zone).toBe('Europe/Berlin');
    expect(hoursPayload({ ...f, enabled: false })).toBeNull();
  });

  it('keeps holidays sorted and unique, and refuses a day that ends before it starts', () => {
    let f = { ...hoursForm(null), enabled: true };
    f = addHoliday(addHoliday(addHoliday(f, '2026-12-26'), '2026-12-25'), '2026-12-25');
    expect(f.holidays).toEqual(['2026-12-25', '2026-12-26']);
    expect(addHoliday(f, 'christmas')).toBe(f);
    expect(removeHoliday(f, '2026-12-25').holidays).toEqual(['2026-12-26']);
    expect(validateHours(setDay(f, 'wed', { start: '18:00', end: '09:00' })).wed).toMatch(/end after it starts/);
    expect(validateHours(setDay(f, 'sat', { start: '18:00', end: '09:00' }))).toEqual({}); // closed: not checked
  });
});

describe('automation settings', () => {
  it('sends the whole settings object (the API replaces it) with the edited parts', () => {
    const form = automationForm(emailAccount);
    expect(form.assistant).toBe(true);
    form.auto_reply = { enabled: true, trigger: 'always', message: 'Thanks, we will answer soon.' };
    form.rules = moveItem([...form.rules, { type: 'team', team_id: 'team_1' }], 1, -1);
    form.assistant = false;
    const { settings } = automationPayload(emailAccount, form);
    expect(settings.address).toBe('support@shop.example'); // connection settings survive
    expect(settings.assignment_rules).toEqual([{ type: 'team', team_id: 'team_1' }, { type: 'workload' }]);
    expect(settings.auto_reply).toEqual({ enabled: true, trigger: 'always', message: 'Thanks, we will answer soon.' });
    expect(settings.assistant).toEqual({ enabled: false });
    expect(settings.business_hours).toBeUndefined();
  });

  it('asks for an auto-reply text and a rule’s parameters before saving', () => {
    const form = automationForm(emailAccount);
    form.auto_reply.enabled = true;
    form.rules = [{ type: 'customer_field', field: ' ' }, { type: 'team', team_id: '' }];
    const e = validateAutomation(form);
    expect(e.auto_reply).toBeTruthy();
    expect(Object.keys(e.rules)).toEqual(['0', '1']);
  });

  it('moves rules within bounds only', () => {
    const l = ['a', 'b', 'c'];
    expect(moveItem(l, 2, 1)).toBe(l);
    expect(moveItem(l, 0, 1)).toEqual(['b', 'a', 'c']);
  });
});

describe('authorized users', () => {
  it('adds with "handles conversations" on, toggles flags and sends every flag', () => {
    let g = addGrant([], 'u2');
    g = addGrant(g, 'u2');
    expect(g).toHaveLength(1);
    g = setGrantFlag(g, 'u2', 'can_resolve_all', true);
    expect(grantsPayload(g).authorized[0]).toEqual({
      user_id: 'u2',
      handles_conversations: true,
      can_reassign: false,
      can_clear_assignment: false,
      can_resolve_all: true,
      auto_assign: false,
    });
    expect(removeGrant(g, 'u2')).toEqual([]);
  });
});

describe('signature sanitizing policy', () => {
  it('keeps formatting, drops code-running tags with their content, unwraps the rest', () => {
    expect(tagPolicy('strong')).toBe('keep');
    expect(tagPolicy('SCRIPT')).toBe('drop');
    expect(tagPolicy('iframe')).toBe('drop');
    expect(tagPolicy('section')).toBe('unwrap');
  });
  it('keeps safe links and images only', () => {
    expect(safeLink('https://shop.example')).toBe(true);
    expect(safeLink('javascript:alert(1)')).toBe(false);
    expect(safeImage('data:image/png;base64,AAA')).toBe(true);
    expect(safeImage('data:text/html,<script>')).toBe(false);
    expect(cleanAttribute('a', 'onclick', 'x()')).toBeNull();
    expect(cleanAttribute('img', 'src', 'https://x/logo.png')).toBe('https://x/logo.png');
  });
  it('keeps layout styles, drops url() and unknown properties', () => {
    expect(cleanStyle('color: red; background-image: url(x); position: fixed; font-weight:bold')).toBe('color: red; font-weight:bold');
    expect(cleanStyle('color: expression(alert(1))')).toBe('');
  });
});

describe('templates', () => {
  it('lists variables once and flags unknown ones', () => {
    const c = 'Hello {{customer_name}}, quote {{ quote_number }} — {{customer_name}} {{discount}}';
    expect(variablesIn(c)).toEqual(['customer_name', 'quote_number', 'discount']);
    expect(unknownVariables(c)).toEqual(['discount']);
  });
  it('inserts a variable at the caret', () => {
    expect(insertVariable('Hi , bye', 'contact_name', 3)).toEqual({ content: 'Hi {{contact_name}}, bye', caret: 19 });
  });
  it('maps labels and WhatsApp fields to the API body', () => {
    expect(parseLabels(' Quotes, quotes ,, Greetings ')).toEqual(['Quotes', 'Greetings']);
    const form = { account_id: 'acc_w', name: 'Hi', content: 'Hello', labels: 'A', type: 'window', language: 'en_US', category: 'MARKETING', content_sid: '' };
    const wa = { kind: 'whatsapp', settings: { provider: 'cloud' } };
    expect(templatePayload(form, wa)).toEqual({ account_id: 'acc_w', name: 'Hi', content: 'Hello', labels: ['A'], type: 'window', language: 'en_US', category: 'MARKETING' });
    expect(templatePayload(form, { kind: 'api' }).language).toBeUndefined();
    expect(validateTemplateForm(form, { kind: 'whatsapp', settings: { provider: 'twilio' } }).content_sid).toBeTruthy();
    expect(validateTemplateForm({ ...form, language: 'english' }, wa).language).toBeTruthy();
  });
  it('filters by account, type and name or label', () => {
    const list = [
      { id: 1, account_id: 'a', type: 'reply', name: 'Quote ready', labels: ['Quotes'] },
      { id: 2, account_id: 'a', type: 'start', name: 'Welcome', labels: ['Greetings'] },
      { id: 3, account_id: 'b', type: 'reply', name: 'Order shipped', labels: [] },
    ];
    expect(filterTemplates(list, { accountId: 'a' }).map((t) => t.id)).toEqual([1, 2]);
    expect(filterTemplates(list, { type: 'reply' }).map((t) => t.id)).toEqual([3, 1]);
    expect(filterTemplates(list, { q: 'greet' }).map((t) => t.id)).toEqual([2]);
  });
});

describe('tags and users', () => {
  it('refuses a duplicate tag name (case-insensitive) and a bad colour', () => {
    const tags = [{ id: 't1', name: 'Urgent' }];
    expect(validateTagForm({ name: 'urgent', description: '', color: '#ff0000' }, tags).name).toMatch(/already exists/);
    expect(validateTagForm({ name: 'urgent', description: '', color: '#ff0000' }, tags, 't1')).toEqual({});
    expect(validateTagForm({ name: 'X', description: '', color: 'red' }, tags).color).toBeTruthy();
    expect(tagPayload({ name: ' VIP ', description: ' Key ', color: '#AABBCC' })).toEqual({ name: 'VIP', description: 'Key', color: '#aabbcc' });
  });
  it('sends a new user whole and an edit as what changed', () => {
    const f = { name: 'Cara', email: 'Cara@Shop.io', role: 'agent', can_manage_groups: true, password: 'longenough' };
    expect(validateUserForm(f)).toEqual({});
    expect(validateUserForm({ ...f, password: 'short' }).password).toBeTruthy();
    expect(userPayload(f)).toEqual({ name: 'Cara', email: 'cara@shop.io', role: 'agent', can_manage_groups: true, password: 'longenough' });
    const original = { id: 'u', name: 'Cara', email: 'cara@shop.io', role: 'agent', can_manage_groups: false };
    expect(userPayload(f, original)).toEqual({ can_manage_groups: true });
  });
});
