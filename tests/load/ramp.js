// A stepped ramp at constant arrival rates, shared by ingest.js and report.js: each step ramps to its
// rate over RAMP_S seconds, then holds it for HOLD_S seconds. Requests started during a hold carry
// the tag `step:<index>`, so the summary has each step's latency, errors and achieved rate. The run
// stops itself at the first step whose p99 exceeds P99_MS or whose error rate exceeds 1%; the
// sustained rate is the highest step, from the first on, with no error, p99 within P99_MS and at
// least 95% of its target rate achieved.
//
// Environment, besides lib.js's:
//   STEPS    comma-separated rates per second
//   HOLD_S   seconds each rate is held (default 15)
//   RAMP_S   seconds to move from one rate to the next (default 3)
//   P99_MS   the latency limit of a sustained step (default 100)
//   PRE_VUS, MAX_VUS  VUs allocated up front and at most (default 100, 1000)

import exec from 'k6/execution';
import { fmt, outputs, value, REFUSAL_CLASSES } from './lib.js';

const HOLD_S = Number(__ENV.HOLD_S || '15');
const RAMP_S = Number(__ENV.RAMP_S || '3');
const P99_MS = Number(__ENV.P99_MS || '100');
/// A step whose achieved rate falls below this share of its target did not sustain it.
const ACHIEVED_MIN = 0.95;
/// A step with more errors than this stops the ramp (a step with any error is not sustained).
const ABORT_ERROR_RATE = 0.01;

/// The rates of the ramp: STEPS, or `fallback`.
export function steps(fallback) {
  return (__ENV.STEPS || fallback).split(',').map(Number).filter((r) => r > 0);
}

/// The k6 options of a ramp named `scenario` over `rates`, whose request latency is the Trend `trend`;
/// `extra` scenarios run beside it for the whole ramp.
export function rampOptions(scenario, rates, trend, extra = {}) {
  const stages = [];
  for (const rate of rates) {
    stages.push({ duration: `${RAMP_S}s`, target: rate });
    stages.push({ duration: `${HOLD_S}s`, target: rate });
  }
  const thresholds = {};
  rates.forEach((_, i) => {
    // A threshold on a tagged sub-metric is what makes k6 keep it for the summary: the first two
    // stop the ramp at its first broken step, the always-true third keeps the step's request count.
    thresholds[`${trend}{step:${i}}`] = [{ threshold: `p(99)<${P99_MS}`, abortOnFail: true }];
    thresholds[`errors{step:${i}}`] = [{ threshold: `rate<${ABORT_ERROR_RATE}`, abortOnFail: true }];
    thresholds[`http_reqs{step:${i}}`] = ['count>=0'];
  });
  for (const c of REFUSAL_CLASSES) {
    thresholds[`refusals{class:${c}}`] = ['count>=0'];
  }
  return {
    scenarios: {
      [scenario]: {
        executor: 'ramping-arrival-rate',
        startRate: rates[0],
        timeUnit: '1s',
        preAllocatedVUs: Number(__ENV.PRE_VUS || '100'),
        maxVUs: Number(__ENV.MAX_VUS || '1000'),
        stages,
      },
      ...extra,
    },
    thresholds,
    summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'max', 'count'],
    // A ramp measures capacity: connections are reused, as any client in front of Fluxo does.
    noConnectionReuse: false,
  };
}

/// The total length of a ramp over `rates`, for scenarios that run beside it.
export function rampSeconds(rates) {
  return rates.length * (RAMP_S + HOLD_S);
}

/// The step a request started now belongs to: its index during a hold, `ramp` between holds.
export function stepNow() {
  const elapsed = (Date.now() - exec.scenario.startTime) / 1000;
  const slot = Math.floor(elapsed / (RAMP_S + HOLD_S));
  return elapsed - slot * (RAMP_S + HOLD_S) < RAMP_S ? 'ramp' : String(slot);
}

/// The per-step table, the sustained rate, and the usual output files.
export function rampSummary(name, data, rates, trend, unit) {
  const rows = [];
  let sustained = 0;
  let broken = false;
  const ran = rates.filter((_, i) => (value(data, `http_reqs{step:${i}}`, 'count') || 0) > 0).length;
  const crossed = (name) => Object.values((data.metrics[name] || {}).thresholds || {}).some((t) => !t.ok);
  const stopped = rates.some((_, i) => crossed(`${trend}{step:${i}}`) || crossed(`errors{step:${i}}`));
  rates.forEach((target, i) => {
    const requests = value(data, `http_reqs{step:${i}}`, 'count') || 0;
    if (requests === 0) {
      broken = true;
      return;
    }
    // The step the ramp stopped in did not last its hold: its rate is unknown, and it is not sustained.
    const partial = stopped && i === ran - 1;
    const errorRate = value(data, `errors{step:${i}}`, 'rate') || 0;
    const errorCount = value(data, `errors{step:${i}}`, 'passes') || 0;
    const p50 = value(data, `${trend}{step:${i}}`, 'med');
    const p99 = value(data, `${trend}{step:${i}}`, 'p(99)');
    const achieved = partial ? null : requests / HOLD_S;
    const ok = !partial && errorCount === 0 && p99 !== null && p99 <= P99_MS && achieved >= ACHIEVED_MIN * target;
    if (ok && !broken) {
      sustained = target;
    } else {
      broken = true;
    }
    rows.push({ step: i, target, achieved, requests, errors: errorCount, error_rate: errorRate, p50_ms: p50, p99_ms: p99, ok });
  });
  const refusals = {};
  for (const c of REFUSAL_CLASSES) {
    refusals[c] = value(data, `refusals{class:${c}}`, 'count') || 0;
  }
  const figures = {
    name,
    sustained_per_s: sustained,
    p99_limit_ms: P99_MS,
    hold_s: HOLD_S,
    steps: rows,
    refusals,
    dropped_iterations: value(data, 'dropped_iterations', 'count') || 0,
    unresolved_entries: value(data, 'entries_unresolved', 'count') || 0,
  };
  const lines = [
    `${name}: stepped ramp, ${HOLD_S}s holds, p99 limit ${P99_MS} ms`,
    'step  target/s  achieved/s  requests  errors   p50 ms   p99 ms  sustained',
    ...rows.map(
      (r) =>
        `${String(r.step).padStart(4)}  ${String(r.target).padStart(8)}  ${fmt(r.achieved).padStart(10)}  ` +
        `${String(r.requests).padStart(8)}  ${String(r.errors).padStart(6)}  ${fmt(r.p50_ms, 2).padStart(7)}  ` +
        `${fmt(r.p99_ms, 2).padStart(7)}  ${r.ok ? 'yes' : r.achieved === null ? 'no (stopped here)' : 'no'}`,
    ),
    `sustained: ${sustained} ${unit}/s; refusals ${JSON.stringify(refusals)}; dropped iterations ${figures.dropped_iterations}`,
  ];
  return outputs(name, data, figures, lines);
}
