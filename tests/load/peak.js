// Peak: READ_RATE (default 50) daily-balance reads per second for DURATION (default 3m) while
// WRITE_RATE (default 50) entries per second are written, both at constant arrival rates. Every
// answer but 200 for a read or 201 for an entry is an error (404 and 5xx always); the run fails at
// 5% errors on either route, and 0 is the goal. Fresh accounts are created in setup(); every
// acknowledged entry is tallied for the audit that follows the run.
//
//   k6 run --no-usage-report -e BASE_URL=... -e TOKEN=... -e ACCOUNTS=a,b,c tests/load/peak.js
//
// Against a deployed stage (.github/workflows/deploy.yml) add -e P95_MS=500 -e ACCOUNTS_MAY_EXIST=1.

import { createAccounts, fmt, outputs, postEntry, readBalance, value, REFUSAL_CLASSES } from './lib.js';

const DURATION = __ENV.DURATION || '3m';
const READ_RATE = Number(__ENV.READ_RATE || '50');
const WRITE_RATE = Number(__ENV.WRITE_RATE || '50');
const ERROR_RATE_MAX = 0.05;

const thresholds = {
  'errors{scenario:balances}': [`rate<${ERROR_RATE_MAX}`],
  'errors{scenario:entries}': [`rate<${ERROR_RATE_MAX}`],
  'read_latency{scenario:balances}': ['max>=0'],
  'entry_latency{scenario:entries}': ['max>=0'],
  'http_reqs{scenario:balances}': ['count>=0'],
  'http_reqs{scenario:entries}': ['count>=0'],
};
for (const c of REFUSAL_CLASSES) {
  thresholds[`refusals{class:${c}}`] = ['count>=0'];
}
// Against a deployed stage (P95_MS=500): the latency objective is a threshold too.
if (__ENV.P95_MS) {
  thresholds['read_latency{scenario:balances}'] = [`p(95)<${Number(__ENV.P95_MS)}`];
  thresholds['entry_latency{scenario:entries}'] = [`p(95)<${Number(__ENV.P95_MS)}`];
}

export const options = {
  scenarios: {
    balances: {
      executor: 'constant-arrival-rate',
      rate: READ_RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: 20,
      maxVUs: 500,
      exec: 'read',
    },
    entries: {
      executor: 'constant-arrival-rate',
      rate: WRITE_RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: 20,
      maxVUs: 500,
      exec: 'write',
    },
  },
  thresholds,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
};

export function setup() {
  return createAccounts();
}

export function read() {
  readBalance({});
}

export function write() {
  postEntry({});
}

export function handleSummary(data) {
  const route = (scenario, trend, expected) => ({
    expected_per_s: expected,
    requests: value(data, `http_reqs{scenario:${scenario}}`, 'count') || 0,
    achieved_per_s: value(data, `http_reqs{scenario:${scenario}}`, 'rate'),
    error_rate: value(data, `errors{scenario:${scenario}}`, 'rate') || 0,
    errors: value(data, `errors{scenario:${scenario}}`, 'passes') || 0,
    p50_ms: value(data, `${trend}{scenario:${scenario}}`, 'med'),
    p95_ms: value(data, `${trend}{scenario:${scenario}}`, 'p(95)'),
    p99_ms: value(data, `${trend}{scenario:${scenario}}`, 'p(99)'),
    max_ms: value(data, `${trend}{scenario:${scenario}}`, 'max'),
  });
  const refusals = {};
  for (const c of REFUSAL_CLASSES) {
    refusals[c] = value(data, `refusals{class:${c}}`, 'count') || 0;
  }
  const figures = {
    name: 'peak',
    duration: DURATION,
    balances: route('balances', 'read_latency', READ_RATE),
    entries: route('entries', 'entry_latency', WRITE_RATE),
    refusals,
    dropped_iterations: value(data, 'dropped_iterations', 'count') || 0,
    unresolved_entries: value(data, 'entries_unresolved', 'count') || 0,
  };
  const line = (label, r) =>
    `${label.padEnd(9)} ${String(r.expected_per_s).padStart(5)}/s  ${String(r.requests).padStart(7)} requests  ` +
    `errors ${r.errors} (${fmt(100 * r.error_rate, 2)}%)  p50 ${fmt(r.p50_ms, 2)} ms  p95 ${fmt(r.p95_ms, 2)} ms  ` +
    `p99 ${fmt(r.p99_ms, 2)} ms  max ${fmt(r.max_ms, 2)} ms`;
  const lines = [
    `peak: ${DURATION} at constant arrival rates; an error rate of 5% fails the run, 0 is the goal`,
    line('balances', figures.balances),
    line('entries', figures.entries),
    `refusals ${JSON.stringify(refusals)}; dropped iterations ${figures.dropped_iterations}; unresolved entries ${figures.unresolved_entries}`,
  ];
  return outputs('peak', data, figures, lines);
}
