import { describe, expect, it } from 'vitest';
import { highlightSegments, messageText, resultCountText, searchTerms, searchableQuery, snippet } from '../src/lib/search.js';

describe('search helpers', () => {
  it('needs at least two characters', () => {
    expect(searchableQuery(' a ')).toBe('');
    expect(searchableQuery(' ab ')).toBe('ab');
    expect(searchableQuery('')).toBe('');
  });

  it('splits words, drops punctuation-only ones, longest first', () => {
    expect(searchTerms('to order !! ORDER')).toEqual(['order', 'to']);
  });

  it('highlights every query word case-insensitively as plain text', () => {
    expect(highlightSegments('Where is my Order? order #1', 'order')).toEqual([
      { text: 'Where is my ', match: false },
      { text: 'Order', match: true },
      { text: '? ', match: false },
      { text: 'order', match: true },
      { text: ' #1', match: false },
    ]);
    expect(highlightSegments('zebrafish', 'zebra')).toEqual([
      { text: 'zebra', match: true },
      { text: 'fish', match: false },
    ]);
  });

  it('treats regex characters and markup in the query and text literally', () => {
    expect(highlightSegments('<b>a.b</b> axb', 'a.b')).toEqual([
      { text: '<b>', match: false },
      { text: 'a.b', match: true },
      { text: '</b> axb', match: false },
    ]);
    expect(highlightSegments('plain', '')).toEqual([{ text: 'plain', match: false }]);
    expect(highlightSegments('', 'x')).toEqual([]);
  });

  it('cuts a snippet around the first hit', () => {
    const long = `${'x '.repeat(100)}needle ${'y '.repeat(100)}`;
    const s = snippet(long, 'needle', 60);
    expect(s).toContain('needle');
    expect(s.startsWith('…')).toBe(true);
    expect(s.endsWith('…')).toBe(true);
    expect(snippet('short text', 'x')).toBe('short text');
  });

  it('uses text, else html without tags', () => {
    expect(messageText({ text: 'hi' })).toBe('hi');
    expect(messageText({ text: '', html: '<p>Hello <b>there</b></p>' })).toBe('Hello there');
    expect(messageText(null)).toBe('');
  });

  it('announces the count', () => {
    expect(resultCountText(0)).toBe('No messages match');
    expect(resultCountText(1)).toBe('1 message found');
    expect(resultCountText(3)).toBe('3 messages found');
  });
});
