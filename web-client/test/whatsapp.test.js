import { describe, expect, it } from 'vitest';
import { sendableTemplates, templateOnly, timeLeft, windowState } from '../src/lib/whatsapp.js';

const NOW = 1_800_000_000_000;
const conv = (expires) => ({ id: 'c', account_id: 'a', channel: 'whatsapp', window_expires_at: expires });

describe('WhatsApp window', () => {
  it('tells open, closing, closed and never-opened apart', () => {
    expect(windowState({ channel: 'email' }, NOW)).toBe('none');
    expect(windowState(conv(NOW / 1000 + 5 * 3600), NOW)).toBe('open');
    expect(windowState(conv(NOW / 1000 + 600), NOW)).toBe('closing');
    expect(windowState(conv(NOW / 1000 - 1), NOW)).toBe('closed');
    expect(windowState(conv(null), NOW)).toBe('never');
    expect(templateOnly(conv(NOW / 1000 - 1), NOW)).toBe(true);
    expect(templateOnly(conv(NOW / 1000 + 600), NOW)).toBe(false);
    expect(timeLeft(conv(NOW / 1000 + 3 * 3600 + 12 * 60), NOW)).toBe('3 h 12 min');
  });

  it('offers only approved templates of the right type', () => {
    const templates = [
      { id: '1', account_id: 'a', name: 'B window', type: 'window', approval: 'approved' },
      { id: '2', account_id: 'a', name: 'A start', type: 'start', approval: 'approved' },
      { id: '3', account_id: 'a', name: 'Pending', type: 'window', approval: 'pending' },
      { id: '4', account_id: 'a', name: 'Reply', type: 'reply', approval: 'approved' },
      { id: '5', account_id: 'other', name: 'Other', type: 'window', approval: 'approved' },
    ];
    expect(sendableTemplates(templates, conv(NOW / 1000 - 1), NOW).map((t) => t.id)).toEqual(['2', '1']);
    expect(sendableTemplates(templates, conv(null), NOW).map((t) => t.id)).toEqual(['2']);
    expect(sendableTemplates(templates, conv(NOW / 1000 + 99), NOW).map((t) => t.id)).toEqual(['2', '1', '4']);
  });
});
