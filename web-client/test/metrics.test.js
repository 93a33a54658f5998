import { describe, expect, it } from 'vitest';
import {
  chartLayout,
  formatCount,
  formatDuration,
  formatPercent,
  labelEvery,
  metricsQuery,
  niceMax,
  rangeFor,
  shortDate,
} from '../src/lib/metrics.js';

describe('dashboard formatting', () => {
  it('shows durations the way a team lead reads them', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(45)).toBe('45s');
    expect(formatDuration(150)).toBe('2m 30s');
    expect(formatDuration(12 * 60 + 5)).toBe('12m');
    expect(formatDuration(3600)).toBe('1h 00m');
    expect(formatDuration(3600 + 5 * 60)).toBe('1h 05m');
    expect(formatDuration(2 * 86400 + 3 * 3600)).toBe('2d 3h');
    expect(formatDuration(86400)).toBe('1d');
  });

  it('shows a dash when there is nothing to measure', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(undefined)).toBe('—');
    expect(formatPercent(null)).toBe('—');
  });

  it('rounds rates to whole percentages', () => {
    expect(formatPercent(0.5)).toBe('50%');
    expect(formatPercent(1 / 3)).toBe('33%');
    expect(formatPercent(1)).toBe('100%');
    expect(formatPercent(0)).toBe('0%');
  });

  it('groups thousands and prints short dates', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatCount(undefined)).toBe('0');
    expect(shortDate('2026-11-24')).toBe('Nov 24');
    expect(shortDate('2026-01-05')).toBe('Jan 5');
  });
});

describe('dashboard ranges and query', () => {
  it('computes the presets in epoch seconds', () => {
    const now = new Date(2026, 10, 26, 15, 30, 0).getTime(); // local time
    expect(rangeFor('7d', now)).toEqual({ since: now / 1000 - 7 * 86400, until: now / 1000 });
    expect(rangeFor('30d', now).since).toBe(now / 1000 - 30 * 86400);
    expect(rangeFor('today', now)).toEqual({
      since: new Date(2026, 10, 26, 0, 0, 0).getTime() / 1000,
      until: now / 1000,
    });
  });

  it('builds the API query with only the filters in use', () => {
    expect(metricsQuery({ since: 10, until: 20 })).toBe('/api/metrics?since=10&until=20');
    expect(metricsQuery({ since: 10 })).toBe('/api/metrics?since=10');
    expect(metricsQuery({ since: 10, until: 20, accountId: 'acc 1', businessHours: true })).toBe(
      '/api/metrics?since=10&until=20&account_id=acc+1&business_hours=true',
    );
  });
});

describe('dashboard chart geometry', () => {
  it('rounds the axis up to 1, 2 or 5 times a power of ten', () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(3)).toBe(5);
    expect(niceMax(7)).toBe(10);
    expect(niceMax(10)).toBe(10);
    expect(niceMax(11)).toBe(20);
    expect(niceMax(130)).toBe(200);
  });

  it('scales two bars per day to the chart height', () => {
    const layout = chartLayout(
      [
        { date: '2026-11-24', inbound: 4, replies: 2 },
        { date: '2026-11-25', inbound: 0, replies: 5 },
      ],
      { width: 200, height: 100, gap: 0 },
    );
    expect(layout.max).toBe(5);
    expect(layout.groups.map((g) => g.label)).toEqual(['Nov 24', 'Nov 25']);
    const [inbound, replies] = layout.groups[0].bars;
    expect(inbound).toMatchObject({ key: 'inbound', value: 4, x: 0, width: 50, height: 80, y: 20 });
    expect(replies).toMatchObject({ key: 'replies', value: 2, x: 50, height: 40 });
    expect(layout.groups[1].bars[0].height).toBe(0);
  });

  it('thins out day labels on long ranges', () => {
    expect(labelEvery(7)).toBe(1);
    expect(labelEvery(30)).toBe(3);
  });
});
