// Pure helpers for the Performance Metrics dashboard: ranges, query strings, number formats,
// and the bar chart's geometry. No DOM, no fetch: unit-tested in test/metrics.test.js.

export const RANGES = [
  { id: 'today', label: 'Today' },
  { id: '7d', label: 'Last 7 days' },
  { id: '30d', label: 'Last 30 days' },
];

const DAY = 86400;

/** {since, until} in epoch seconds for a range preset; `today` starts at local midnight. */
export function rangeFor(preset, nowMs = Date.now()) {
  const until = Math.floor(nowMs / 1000);
  if (preset === 'today') {
    const midnight = new Date(nowMs);
    midnight.setHours(0, 0, 0, 0);
    return { since: Math.floor(midnight.getTime() / 1000), until };
  }
  const days = preset === '30d' ? 30 : 7;
  return { since: until - days * DAY, until };
}

/**
 * The query string of GET /api/metrics. Without `until` the server ends the range at its own
 * "now" (a browser clock a little behind would otherwise hide the newest messages).
 */
export function metricsQuery({ since, until, accountId = '', businessHours = false }) {
  const params = new URLSearchParams({ since: String(since) });
  if (until !== undefined && until !== null) params.set('until', String(until));
  if (accountId) params.set('account_id', accountId);
  if (businessHours) params.set('business_hours', 'true');
  return `/api/metrics?${params.toString()}`;
}

/** A duration in seconds, short and readable: 45s, 12m, 1h 05m, 2d 3h; null -> an em dash. */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const rest = s % 60;
    return m < 10 && rest ? `${m}m ${rest}s` : `${m}m`;
  }
  if (s < DAY) {
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return `${h}h ${String(m).padStart(2, '0')}m`;
  }
  const d = Math.floor(s / DAY);
  const h = Math.floor((s % DAY) / 3600);
  return h ? `${d}d ${h}h` : `${d}d`;
}

/** A rate between 0 and 1 as a whole percentage; null (nothing to rate) -> an em dash. */
export function formatPercent(rate) {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return '—';
  return `${Math.round(rate * 100)}%`;
}

/** A count with thousands separators (en-US style, independent of the browser's locale). */
export function formatCount(n) {
  return Number(n || 0).toLocaleString('en-US');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "2026-11-24" -> "Nov 24" (the server already bucketed the day in the user's zone). */
export function shortDate(iso) {
  const [, month, day] = String(iso).split('-').map(Number);
  if (!month || !day) return String(iso);
  return `${MONTHS[month - 1]} ${day}`;
}

/** A round axis maximum at or above `max`: 1, 2, 5, 10, 20, 50, ... (at least 1). */
export function niceMax(max) {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= max) return step * power;
  }
  return 10 * power;
}

/**
 * Geometry of the per-day chart: two bars per day (inbound, replies) scaled to `height`.
 * Returns {max, groups: [{date, label, x, bars: [{key, value, x, y, width, height}]}], slot}.
 */
export function chartLayout(days, { width = 640, height = 160, gap = 0.3 } = {}) {
  const list = days || [];
  const max = niceMax(Math.max(0, ...list.map((d) => Math.max(d.inbound || 0, d.replies || 0))));
  const slot = list.length ? width / list.length : width;
  const barWidth = (slot * (1 - gap)) / 2;
  const groups = list.map((d, i) => {
    const x = i * slot + (slot * gap) / 2;
    const bars = ['inbound', 'replies'].map((key, j) => {
      const value = d[key] || 0;
      const h = (value / max) * height;
      return { key, value, x: x + j * barWidth, y: height - h, width: barWidth, height: h };
    });
    return { date: d.date, label: shortDate(d.date), x: i * slot + slot / 2, bars };
  });
  return { max, slot, groups };
}

/** Which day labels to print under the chart so they do not overlap (every nth). */
export function labelEvery(count, maxLabels = 10) {
  return count <= maxLabels ? 1 : Math.ceil(count / maxLabels);
}
