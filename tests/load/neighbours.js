// Noisy neighbour: one merchant writes at its normal rate (STEADY_RATE entries/s, default 50, on the
// second account) through four phases of PHASE (default 30s): quiet, noisy, quiet, noisy. In the noisy
// phases another merchant (the first account) floods at FLOOD_RATE (default 1,000/s, ten times the
// default limit of 100/s per caller and account). The steady merchant must keep every entry (0 errors)
// and a p99 within 20% of its quiet phases'; the flood's excess is refused with 429 and writes
// nothing, which the audit after the run checks. Quiet and noisy alternate so a drift of the machine
// shows in both.
//
//   k6 run --no-usage-report -e BASE_URL=... -e TOKEN=... -e ACCOUNTS=flooder,steady tests/load/neighbours.js

import { createAccounts, fmt, outputs, postEntry, value, REFUSAL_CLASSES } from './lib.js';

const PHASE = __ENV.PHASE || '30s';
const PHASE_S = Number.parseInt(PHASE, 10);
const STEADY_RATE = Number(__ENV.STEADY_RATE || '50');
const FLOOD_RATE = Number(__ENV.FLOOD_RATE || '1000');
/// How much the steady merchant's p99 may grow under the flood.
const P99_GROWTH_MAX = 0.2;
const FLOODER = 0;
const STEADY = 1;

const thresholds = {
  'errors{phase:quiet}': ['rate==0'],
  'errors{phase:noisy}': ['rate==0'],
  'entry_latency{phase:quiet}': ['max>=0'],
  'entry_latency{phase:noisy}': ['max>=0'],
  'http_reqs{phase:quiet}': ['count>=0'],
  'http_reqs{phase:noisy}': ['count>=0'],
  'http_reqs{phase:flood}': ['count>=0'],
  'http_reqs{phase:flood,status:429}': ['count>=0'],
  'http_reqs{phase:flood,status:201}': ['count>=0'],
};
for (const c of REFUSAL_CLASSES) {
  thresholds[`refusals{class:${c}}`] = ['count>=0'];
}

const steady = (phase, start) => ({
  executor: 'constant-arrival-rate',
  rate: STEADY_RATE,
  timeUnit: '1s',
  duration: PHASE,
  startTime: `${start * PHASE_S}s`,
  preAllocatedVUs: 10,
  maxVUs: 200,
  exec: phase,
});
const flooding = (start) => ({
  executor: 'constant-arrival-rate',
  rate: FLOOD_RATE,
  timeUnit: '1s',
  duration: PHASE,
  startTime: `${start * PHASE_S}s`,
  preAllocatedVUs: 50,
  maxVUs: 500,
  exec: 'flood',
});

export const options = {
  scenarios: {
    quiet_1: steady('quiet', 0),
    noisy_1: steady('noisy', 1),
    flood_1: flooding(1),
    quiet_2: steady('quiet', 2),
    noisy_2: steady('noisy', 3),
    flood_2: flooding(3),
  },
  thresholds,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
};

export function setup() {
  if (__ENV.ACCOUNTS.split(',').length !== 2) {
    throw new Error('ACCOUNTS must be two: the flooder, then the steady merchant');
  }
  return createAccounts();
}

export function quiet() {
  postEntry({ phase: 'quiet' }, STEADY);
}

export function noisy() {
  postEntry({ phase: 'noisy' }, STEADY);
}

export function flood() {
  postEntry({ phase: 'flood' }, FLOODER);
}

export function handleSummary(data) {
  const steadyIn = (phase) => ({
    requests: value(data, `http_reqs{phase:${phase}}`, 'count') || 0,
    error_rate: value(data, `errors{phase:${phase}}`, 'rate') || 0,
    p50_ms: value(data, `entry_latency{phase:${phase}}`, 'med'),
    p95_ms: value(data, `entry_latency{phase:${phase}}`, 'p(95)'),
    p99_ms: value(data, `entry_latency{phase:${phase}}`, 'p(99)'),
    max_ms: value(data, `entry_latency{phase:${phase}}`, 'max'),
  });
  const [quietFigures, noisyFigures] = [steadyIn('quiet'), steadyIn('noisy')];
  const growth = quietFigures.p99_ms ? noisyFigures.p99_ms / quietFigures.p99_ms - 1 : null;
  const figures = {
    name: 'neighbours',
    phase: PHASE,
    steady_per_s: STEADY_RATE,
    flood_per_s: FLOOD_RATE,
    quiet: quietFigures,
    noisy: noisyFigures,
    p99_growth: growth,
    flood: {
      requests: value(data, 'http_reqs{phase:flood}', 'count') || 0,
      recorded: value(data, 'http_reqs{phase:flood,status:201}', 'count') || 0,
      throttled: value(data, 'http_reqs{phase:flood,status:429}', 'count') || 0,
    },
    dropped_iterations: value(data, 'dropped_iterations', 'count') || 0,
  };
  const met = quietFigures.error_rate === 0 && noisyFigures.error_rate === 0 && growth !== null && growth <= P99_GROWTH_MAX;
  const line = (label, r) =>
    `${label.padEnd(6)} ${String(r.requests).padStart(6)} entries  errors ${fmt(100 * r.error_rate, 2)}%  ` +
    `p50 ${fmt(r.p50_ms, 2)} ms  p95 ${fmt(r.p95_ms, 2)} ms  p99 ${fmt(r.p99_ms, 2)} ms  max ${fmt(r.max_ms, 2)} ms`;
  const lines = [
    `neighbours: the steady merchant at ${STEADY_RATE}/s through quiet and noisy phases of ${PHASE}; ` +
      `in the noisy ones another floods at ${FLOOD_RATE}/s`,
    line('quiet', quietFigures),
    line('noisy', noisyFigures),
    `flood  ${figures.flood.requests} requests: ${figures.flood.recorded} recorded, ${figures.flood.throttled} refused with 429`,
    `steady p99 under the flood: ${growth === null ? '-' : `${fmt(100 * growth, 1)}%`} against quiet (at most +20%), ` +
      `errors 0 required: ${met ? 'met' : 'MISSED'}; dropped iterations ${figures.dropped_iterations}`,
  ];
  return outputs('neighbours', data, figures, lines);
}
