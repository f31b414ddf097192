// Report capacity: GET today's daily balance at a stepped, rising constant arrival rate while entries
// are written at WRITE_RATE per second (default 50) beside it, until a read step shows errors or a
// p99 over P99_MS; the summary reports the highest read rate sustained. With TARGET=health the ramp
// reads `GET /health` instead, which touches neither token nor store: the ceiling of the load
// generator and the HTTP stack on the machine, to read the other figures against.
//
//   k6 run --no-usage-report -e BASE_URL=... -e TOKEN=... -e ACCOUNTS=a,b,c tests/load/report.js

import { createAccounts, postEntry, readBalance, readHealth } from './lib.js';
import { rampOptions, rampSeconds, rampSummary, stepNow, steps } from './ramp.js';

const TARGET = __ENV.TARGET || 'balances';
if (TARGET !== 'balances' && TARGET !== 'health') {
  throw new Error('TARGET is balances or health');
}
const RATES = steps('100,250,500,1000,1500,2000,3000,4000,6000,8000,10000,12000');
const WRITE_RATE = Number(__ENV.WRITE_RATE || (TARGET === 'health' ? '0' : '50'));

const writes =
  WRITE_RATE > 0
    ? {
        writes: {
          executor: 'constant-arrival-rate',
          rate: WRITE_RATE,
          timeUnit: '1s',
          duration: `${rampSeconds(RATES)}s`,
          preAllocatedVUs: 10,
          maxVUs: 200,
          exec: 'write',
        },
      }
    : {};

export const options = rampOptions('reads', RATES, 'read_latency', writes);

export function setup() {
  return createAccounts();
}

export default function () {
  (TARGET === 'health' ? readHealth : readBalance)({ step: stepNow() });
}

export function write() {
  postEntry({ step: 'writes' });
}

export function handleSummary(data) {
  return rampSummary(TARGET === 'health' ? 'health' : 'report', data, RATES, 'read_latency', 'reads');
}
