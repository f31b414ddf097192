// Throughput of one Fluxo server: RATE (default 1000) entries per second at a constant arrival rate
// for DURATION (default 60s), with p50/p99 of the answer; beside it a probe writes PROBE_RATE
// (default 2) entries per second on PROBE_ACCOUNT alone and polls that account's daily balance until
// each shows, which is the consolidation lag a client sees. Every acknowledged entry is tallied for
// the audit. The server-side lag (`consolidation_lag_ms` at /metrics) is read by the driver.
//
//   k6 run --no-usage-report -e BASE_URL=... -e TOKEN=... -e ACCOUNTS=a,b,probe -e PROBE_ACCOUNT=probe tests/load/throughput.js

import { createAccounts, fmt, outputs, postEntry, probe, value, REFUSAL_CLASSES } from './lib.js';

const RATE = Number(__ENV.RATE || '1000');
const DURATION = __ENV.DURATION || '60s';
const PROBE_RATE = Number(__ENV.PROBE_RATE || '2');

const thresholds = {
  'entry_latency{scenario:entries}': ['max>=0'],
  'http_reqs{scenario:entries}': ['count>=0'],
  'errors{scenario:entries}': ['rate>=0'],
  probe_lag: ['max>=0'],
};
for (const c of REFUSAL_CLASSES) {
  thresholds[`refusals{class:${c}}`] = ['count>=0'];
}

const scenarios = {
  entries: {
    executor: 'constant-arrival-rate',
    rate: RATE,
    timeUnit: '1s',
    duration: DURATION,
    // VUs started mid-run come late and drop arrivals: allocate enough for a latency spike up front.
    preAllocatedVUs: Number(__ENV.PRE_VUS || '300'),
    maxVUs: Number(__ENV.MAX_VUS || '1000'),
    exec: 'write',
  },
};
if (__ENV.PROBE_ACCOUNT) {
  // One VU, so the probe's entries are sequential and its expected entry count exact.
  scenarios.probe = {
    executor: 'constant-arrival-rate',
    rate: PROBE_RATE,
    timeUnit: '1s',
    duration: DURATION,
    preAllocatedVUs: 1,
    maxVUs: 1,
    exec: 'lag',
  };
}

export const options = {
  scenarios,
  thresholds,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'p(99.9)', 'max', 'count'],
};

export function setup() {
  return createAccounts();
}

export function write() {
  postEntry({});
}

const probeState = { expected: 0 };

export function lag() {
  probe(probeState);
}

export function handleSummary(data) {
  const refusals = {};
  for (const c of REFUSAL_CLASSES) {
    refusals[c] = value(data, `refusals{class:${c}}`, 'count') || 0;
  }
  const figures = {
    name: 'throughput',
    target_per_s: RATE,
    duration: DURATION,
    requests: value(data, 'http_reqs{scenario:entries}', 'count') || 0,
    achieved_per_s: value(data, 'http_reqs{scenario:entries}', 'rate'),
    errors: value(data, 'errors{scenario:entries}', 'passes') || 0,
    error_rate: value(data, 'errors{scenario:entries}', 'rate') || 0,
    p50_ms: value(data, 'entry_latency{scenario:entries}', 'med'),
    p90_ms: value(data, 'entry_latency{scenario:entries}', 'p(90)'),
    p99_ms: value(data, 'entry_latency{scenario:entries}', 'p(99)'),
    p999_ms: value(data, 'entry_latency{scenario:entries}', 'p(99.9)'),
    max_ms: value(data, 'entry_latency{scenario:entries}', 'max'),
    probe_lag: {
      samples: value(data, 'probe_lag', 'count') || 0,
      p50_ms: value(data, 'probe_lag', 'med'),
      p99_ms: value(data, 'probe_lag', 'p(99)'),
      max_ms: value(data, 'probe_lag', 'max'),
      timeouts: value(data, 'probe_timeouts', 'count') || 0,
    },
    refusals,
    dropped_iterations: value(data, 'dropped_iterations', 'count') || 0,
    unresolved_entries: value(data, 'entries_unresolved', 'count') || 0,
  };
  const p = figures.probe_lag;
  const lines = [
    `throughput: ${RATE} entries/s for ${DURATION} at a constant arrival rate`,
    `entries  ${figures.requests} requests, ${fmt(figures.achieved_per_s)}/s achieved, errors ${figures.errors}; ` +
      `p50 ${fmt(figures.p50_ms, 2)} ms  p90 ${fmt(figures.p90_ms, 2)} ms  p99 ${fmt(figures.p99_ms, 2)} ms  ` +
      `p99.9 ${fmt(figures.p999_ms, 2)} ms  max ${fmt(figures.max_ms, 2)} ms`,
    `probe    consolidation lag seen by a client: ${p.samples} samples, p50 ${fmt(p.p50_ms)} ms, ` +
      `p99 ${fmt(p.p99_ms)} ms, max ${fmt(p.max_ms)} ms, timeouts ${p.timeouts}`,
    `refusals ${JSON.stringify(refusals)}; dropped iterations ${figures.dropped_iterations}; unresolved entries ${figures.unresolved_entries}`,
  ];
  return outputs('throughput', data, figures, lines);
}
