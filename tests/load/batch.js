// Batch throughput of one Fluxo server: BATCH_RATE (default 100) batches per second of BATCH_SIZE
// (default 100) entries each, at a constant arrival rate for DURATION (default 60s): 10,000 entries
// a second by default. Reports requests and entries per second and the latency of a whole batch
// (p50/p99); every acknowledged entry is tallied for the audit.
//
//   k6 run --no-usage-report -e BASE_URL=... -e TOKEN=... -e ACCOUNTS=a,b tests/load/batch.js

import { batchLatency, createAccounts, fmt, outputs, postBatch, value, REFUSAL_CLASSES } from './lib.js';

const BATCH_RATE = Number(__ENV.BATCH_RATE || '100');
const BATCH_SIZE = Number(__ENV.BATCH_SIZE || '100');
const DURATION = __ENV.DURATION || '60s';

const thresholds = {
  'batch_latency{scenario:batches}': ['max>=0'],
  'http_reqs{scenario:batches}': ['count>=0'],
  'errors{scenario:batches}': ['rate>=0'],
  'batch_entries{result:201}': ['count>=0'],
};
for (const c of REFUSAL_CLASSES) {
  thresholds[`refusals{class:${c}}`] = ['count>=0'];
}

export const options = {
  scenarios: {
    batches: {
      executor: 'constant-arrival-rate',
      rate: BATCH_RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: Number(__ENV.PRE_VUS || '100'),
      maxVUs: Number(__ENV.MAX_VUS || '400'),
      exec: 'send',
    },
  },
  thresholds,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'p(99.9)', 'max', 'count'],
};

export function setup() {
  return createAccounts();
}

export function send() {
  postBatch({}, BATCH_SIZE);
}

export function handleSummary(data) {
  const refusals = {};
  for (const c of REFUSAL_CLASSES) {
    refusals[c] = value(data, `refusals{class:${c}}`, 'count') || 0;
  }
  const seconds = (data.state.testRunDurationMs || 1) / 1000;
  const recorded = value(data, 'batch_entries{result:201}', 'count') || 0;
  const figures = {
    name: 'batch',
    batches_per_s: BATCH_RATE,
    batch_size: BATCH_SIZE,
    duration: DURATION,
    requests: value(data, 'http_reqs{scenario:batches}', 'count') || 0,
    achieved_batches_per_s: value(data, 'http_reqs{scenario:batches}', 'rate'),
    entries_recorded: recorded,
    entries_per_s: recorded / seconds,
    errors: value(data, 'errors{scenario:batches}', 'passes') || 0,
    p50_ms: value(data, 'batch_latency{scenario:batches}', 'med'),
    p90_ms: value(data, 'batch_latency{scenario:batches}', 'p(90)'),
    p99_ms: value(data, 'batch_latency{scenario:batches}', 'p(99)'),
    max_ms: value(data, 'batch_latency{scenario:batches}', 'max'),
    refusals,
    dropped_iterations: value(data, 'dropped_iterations', 'count') || 0,
    unresolved_entries: value(data, 'entries_unresolved', 'count') || 0,
  };
  const lines = [
    `batch: ${BATCH_RATE} batches/s of ${BATCH_SIZE} entries for ${DURATION} at a constant arrival rate`,
    `batches  ${figures.requests} requests, ${fmt(figures.achieved_batches_per_s)}/s achieved, errors ${figures.errors}; ` +
      `entries recorded ${recorded} (${fmt(figures.entries_per_s, 0)}/s over the run); per batch p50 ${fmt(figures.p50_ms, 2)} ms  ` +
      `p90 ${fmt(figures.p90_ms, 2)} ms  p99 ${fmt(figures.p99_ms, 2)} ms  max ${fmt(figures.max_ms, 2)} ms`,
    `refusals ${JSON.stringify(refusals)}; dropped iterations ${figures.dropped_iterations}; unresolved entries ${figures.unresolved_entries}`,
  ];
  return outputs('batch', data, figures, lines);
}
