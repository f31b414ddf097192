// Ingest capacity: POST entries at a stepped, rising constant arrival rate until a step shows errors
// or a p99 over P99_MS (default 100 ms); the summary reports the highest rate sustained. Fresh
// accounts are created in setup(); every acknowledged entry is tallied for the audit.
//
//   k6 run --no-usage-report -e BASE_URL=... -e TOKEN=... -e ACCOUNTS=a,b,c tests/load/ingest.js
//
// STEPS overrides the rates (entries per second); see ramp.js for the other knobs.

import { createAccounts, postEntry } from './lib.js';
import { rampOptions, rampSummary, stepNow, steps } from './ramp.js';

const RATES = steps('100,250,500,750,1000,1500,2000,3000,4000,6000,8000,10000,12000');

export const options = rampOptions('ingest', RATES, 'entry_latency');

export function setup() {
  return createAccounts();
}

export default function () {
  postEntry({ step: stepNow() });
}

export function handleSummary(data) {
  return rampSummary('ingest', data, RATES, 'entry_latency', 'entries');
}
