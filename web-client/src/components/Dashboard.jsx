import { useEffect, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import {
  RANGES,
  chartLayout,
  formatCount,
  formatDuration,
  formatPercent,
  labelEvery,
  metricsQuery,
  rangeFor,
} from '../lib/metrics.js';
import { Modal } from './Dialogs.jsx';

const IconChart = ({ size = 16 }) => (
  <svg
    width={size}
    height={size}
    viewBox="0 0 24 24"
    fill="none"
    stroke="currentColor"
    stroke-width="2"
    stroke-linecap="round"
    stroke-linejoin="round"
    class="icon"
    aria-hidden="true"
    focusable="false"
  >
    <path d="M3 3v18h18" />
    <path d="M8 17v-5M13 17V8M18 17v-9" />
  </svg>
);

/** The top-bar entry that opens the dashboard. */
export function DashboardButton({ onClick }) {
  return (
    <button type="button" class="btn btn-icon" onClick={onClick} aria-label="Dashboard" title="Dashboard" data-testid="open-dashboard">
      <IconChart />
    </button>
  );
}

/** The Performance Metrics dashboard (GET /api/metrics) in a modal dialog: Escape closes it. */
export function Dashboard({ s, onClose }) {
  const [preset, setPreset] = useState('7d');
  const [accountId, setAccountId] = useState('');
  const [businessHours, setBusinessHours] = useState(false);
  const [data, setData] = useState(null);
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(true);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let live = true;
    setLoading(true);
    setError('');
    // The range ends at the server's "now": only its start comes from this browser's clock.
    const { since } = rangeFor(preset);
    api('GET', metricsQuery({ since, accountId, businessHours }), undefined, { timeoutMs: 30000 })
      .then((result) => live && setData(result))
      .catch((err) => live && setError(err.message || 'The figures could not be loaded.'))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [preset, accountId, businessHours, reload]);

  const accounts = Object.values(s.accounts || {}).sort((a, b) => a.name.localeCompare(b.name));
  return (
    <Modal title="Dashboard" onClose={onClose} testid="dashboard" wide>
      <div class="dashboard" aria-busy={loading ? 'true' : 'false'}>
        <div class="dashboard-filters" role="group" aria-label="Filters">
          <fieldset class="dashboard-range">
            <legend class="sr-only">Range</legend>
            {RANGES.map((r) => (
              <label key={r.id} class={`seg ${preset === r.id ? 'is-active' : ''}`}>
                <input
                  type="radio"
                  name="dashboard-range"
                  value={r.id}
                  checked={preset === r.id}
                  onChange={() => setPreset(r.id)}
                  data-testid={`dashboard-range-${r.id}`}
                />
                <span>{r.label}</span>
              </label>
            ))}
          </fieldset>
          <label class="field field-inline">
            <span>Account</span>
            <select value={accountId} onChange={(e) => setAccountId(e.currentTarget.value)} data-testid="dashboard-account">
              <option value="">All accounts</option>
              {accounts.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name}
                </option>
              ))}
            </select>
          </label>
          <label class="check">
            <input
              type="checkbox"
              checked={businessHours}
              onChange={(e) => setBusinessHours(e.currentTarget.checked)}
              data-testid="dashboard-business-hours"
            />
            <span>Business hours only</span>
          </label>
          <button type="button" class="btn" onClick={() => setReload((n) => n + 1)} data-testid="dashboard-refresh">
            Refresh
          </button>
        </div>
        <div class="sr-only" aria-live="polite">
          {loading ? 'Loading figures…' : error ? '' : 'Figures updated'}
        </div>
        {error ? (
          <p class="form-error" role="alert" data-testid="dashboard-error">
            {error}
          </p>
        ) : null}
        {data ? <DashboardBody data={data} /> : loading ? <p class="muted">Loading figures…</p> : null}
      </div>
    </Modal>
  );
}

function DashboardBody({ data }) {
  const first = data.first_response;
  const conv = data.conversations;
  const kpis = [
    { id: 'inbound', label: 'Inbound messages', value: formatCount(data.volumes.inbound) },
    { id: 'replies', label: 'Replies', value: formatCount(data.volumes.replies), sub: `${formatCount(data.volumes.notes)} notes` },
    { id: 'new', label: 'New conversations', value: formatCount(conv.new) },
    { id: 'resolved', label: 'Resolved', value: formatCount(conv.resolved) },
    {
      id: 'resolution-rate',
      label: 'Resolution rate',
      value: formatPercent(conv.resolution_rate),
      sub: `${formatCount(conv.resolved_at_end)} of ${formatCount(conv.active)} active`,
    },
    {
      id: 'first-response',
      label: 'First response (median)',
      value: formatDuration(first.median),
      sub: `p90 ${formatDuration(first.p90)} · avg ${formatDuration(first.average)}`,
    },
    {
      id: 'unanswered',
      label: 'Waiting for a reply',
      value: formatCount(first.unanswered),
      sub: `${formatCount(first.answered)} answered`,
    },
    { id: 'resolution-time', label: 'Resolution time (median)', value: formatDuration(data.resolution_time.median) },
  ];
  return (
    <div class="dashboard-body">
      {data.range.business_hours ? (
        <p class="muted dashboard-note">Durations count business hours only.</p>
      ) : null}
      {data.truncated ? (
        <p class="notice" role="status">
          This range holds more messages than one report reads; the figures cover its first part only.
        </p>
      ) : null}
      <ul class="kpis" aria-label="Key figures">
        {kpis.map((k) => (
          <li key={k.id} class="kpi" data-testid={`kpi-${k.id}`}>
            <span class="kpi-label">{k.label}</span>
            <strong class="kpi-value" data-testid={`kpi-${k.id}-value`}>
              {k.value}
            </strong>
            {k.sub ? <span class="kpi-sub">{k.sub}</span> : null}
          </li>
        ))}
      </ul>
      <VolumeChart days={data.days} timeZone={data.range.time_zone} />
      <AgentTable agents={data.agents} />
      {data.accounts.length > 1 ? <AccountTable accounts={data.accounts} /> : null}
    </div>
  );
}

function VolumeChart({ days, timeZone }) {
  const width = 960;
  const height = 180;
  const layout = chartLayout(days, { width, height });
  const every = labelEvery(days.length);
  const total = days.reduce((n, d) => n + d.inbound + d.replies, 0);
  return (
    <section class="dashboard-section" aria-labelledby="dashboard-chart-title">
      <h3 id="dashboard-chart-title">Messages per day</h3>
      <div class="chart-legend" aria-hidden="true">
        <span class="legend legend-inbound">Inbound</span>
        <span class="legend legend-replies">Replies</span>
        <span class="muted">Days in {timeZone}</span>
      </div>
      <svg
        class="chart"
        viewBox={`0 0 ${width} ${height + 22}`}
        role="img"
        aria-labelledby="dashboard-chart-title dashboard-chart-desc"
        data-testid="dashboard-chart"
      >
        <desc id="dashboard-chart-desc">
          {total
            ? days.map((d) => `${d.date}: ${d.inbound} inbound, ${d.replies} replies`).join('; ')
            : 'No messages in this range'}
        </desc>
        <line x1="0" x2={width} y1={height} y2={height} class="chart-axis" />
        <text x="2" y="10" class="chart-max">
          {layout.max}
        </text>
        {layout.groups.map((g, i) => (
          <g key={g.date} data-testid="chart-day" data-date={g.date}>
            {g.bars.map((b) => (
              <rect
                key={b.key}
                class={`bar bar-${b.key}`}
                x={b.x}
                y={b.y}
                width={b.width}
                height={b.height}
                data-value={b.value}
              >
                <title>{`${g.label}: ${b.value} ${b.key}`}</title>
              </rect>
            ))}
            {i % every === 0 ? (
              <text x={g.x} y={height + 16} text-anchor="middle" class="chart-label">
                {g.label}
              </text>
            ) : null}
          </g>
        ))}
      </svg>
    </section>
  );
}

function AgentTable({ agents }) {
  return (
    <section class="dashboard-section" aria-labelledby="dashboard-agents-title">
      <h3 id="dashboard-agents-title">Agents</h3>
      {agents.length ? (
        <table class="table" data-testid="dashboard-agents">
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col" class="num">
                Replies
              </th>
              <th scope="col" class="num">
                Resolved
              </th>
              <th scope="col" class="num">
                Notes
              </th>
              <th scope="col" class="num">
                First response (median)
              </th>
            </tr>
          </thead>
          <tbody>
            {agents.map((a) => (
              <tr key={a.user_id} data-testid="dashboard-agent" data-user-id={a.user_id}>
                <th scope="row">{a.name}</th>
                <td class="num">{formatCount(a.replies)}</td>
                <td class="num">{formatCount(a.resolved)}</td>
                <td class="num">{formatCount(a.notes)}</td>
                <td class="num">{formatDuration(a.first_response_median)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No agent activity in this range.</p>
      )}
    </section>
  );
}

function AccountTable({ accounts }) {
  return (
    <section class="dashboard-section" aria-labelledby="dashboard-accounts-title">
      <h3 id="dashboard-accounts-title">Accounts</h3>
      <table class="table" data-testid="dashboard-accounts">
        <thead>
          <tr>
            <th scope="col">Account</th>
            <th scope="col" class="num">
              Inbound
            </th>
            <th scope="col" class="num">
              Replies
            </th>
            <th scope="col" class="num">
              New
            </th>
            <th scope="col" class="num">
              Resolved
            </th>
            <th scope="col" class="num">
              First response (median)
            </th>
            <th scope="col" class="num">
              Waiting
            </th>
          </tr>
        </thead>
        <tbody>
          {accounts.map((a) => (
            <tr key={a.account_id} data-testid="dashboard-account-row">
              <th scope="row">{a.name}</th>
              <td class="num">{formatCount(a.inbound)}</td>
              <td class="num">{formatCount(a.replies)}</td>
              <td class="num">{formatCount(a.new)}</td>
              <td class="num">{formatCount(a.resolved)}</td>
              <td class="num">{formatDuration(a.first_response_median)}</td>
              <td class="num">{formatCount(a.unanswered)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
