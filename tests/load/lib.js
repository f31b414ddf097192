// What every Fluxo load script shares: configuration from the environment, fresh accounts created in
// setup(), the two requests under load (record an entry, read a daily balance), the per-account
// tallies the audit compares with the consolidated balances, and the summary files written after a run.
//
// Environment (every script):
//   BASE_URL         where Fluxo answers, e.g. http://127.0.0.1:3000 or a deployed stage's URL ending in /api
//   TOKEN            bearer token granting ledger:read and ledger:write on every account in ACCOUNTS
//   ACCOUNTS         comma-separated account ids, fresh: setup() creates them and refuses existing ones
//   OUT_DIR          where the summary and the audit's expectations are written (default: .)
//   RUN_NAME         file prefix of those outputs (default: the script's own name)
//   ZONE             time zone of the created accounts (default America/Sao_Paulo)
//   ZONE_OFFSET_MIN  that zone's UTC offset in minutes, to read "today" (default -180: Brazil keeps no
//                    daylight saving time since 2019)
//   REQUEST_TIMEOUT  per-request timeout (default 10s)

import http from 'k6/http';
import exec from 'k6/execution';
import { sleep } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';

export const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:3000').replace(/\/+$/, '');
export const TOKEN = __ENV.TOKEN || '';
export const ACCOUNTS = (__ENV.ACCOUNTS || '').split(',').map((a) => a.trim()).filter((a) => a.length > 0);
export const OUT_DIR = (__ENV.OUT_DIR || '.').replace(/\/+$/, '');
const ZONE = __ENV.ZONE || 'America/Sao_Paulo';
const ZONE_OFFSET_MIN = Number(__ENV.ZONE_OFFSET_MIN || '-180');
const REQUEST_TIMEOUT = __ENV.REQUEST_TIMEOUT || '10s';
/// Retries of one entry after a timeout or a 5xx, with the same Idempotency-Key, as a client should.
const ENTRY_RETRIES = 2;
/// Entry amounts are 1..AMOUNT_MAX minor units: sums stay far below 2^53, so k6's float counters are exact.
const AMOUNT_MAX = 100000;

if (!TOKEN || ACCOUNTS.length === 0) {
  throw new Error('set TOKEN and ACCOUNTS (comma-separated fresh account ids the token grants)');
}

const AUTH = { Authorization: `Bearer ${TOKEN}` };
const JSON_WRITE = { ...AUTH, 'Content-Type': 'application/json' };

// Every request's outcome, by route: any answer but the expected one (201 for an entry, 200 for a
// read) is an error, 404 and 5xx included; a request that never got an answer counts too.
export const errors = new Rate('errors');
export const entryLatency = new Trend('entry_latency', true);
export const readLatency = new Trend('read_latency', true);
// Entries that got no definite answer after every retry: the audit cannot know whether they exist.
const unresolved = new Counter('entries_unresolved');
// Errors by kind of answer: `timeout` (no answer), `404`, `5xx`, `4xx` (any other refusal).
export const refusals = new Counter('refusals');
export const REFUSAL_CLASSES = ['timeout', '404', '4xx', '5xx'];

function refusalClass(status) {
  if (status === 0) return 'timeout';
  if (status === 404) return '404';
  return status >= 500 ? '5xx' : '4xx';
}

/// Counts one answer in `errors` and, when it is not `expected`, in `refusals` by its class.
function outcome(status, expected, tags) {
  errors.add(status !== expected, tags);
  if (status !== expected) {
    refusals.add(1, { ...tags, class: refusalClass(status) });
  }
}

// Per-account tallies, created in the init context because k6 sums counters only per metric: of the
// entries the server acknowledged (`acked`), which the audit compares with the consolidated
// balances; of those sent (`sent`), and of those refused with nothing written (`refused`). An entry
// sent but neither acknowledged nor refused is in doubt: its request was cut (a ramp stopping itself
// abandons the requests in flight) or never answered, so the ledger may or may not hold it.
function tally(kind, i) {
  return {
    entries: new Counter(`audit_${kind}_entries_${i}`),
    credits: new Counter(`audit_${kind}_credits_${i}`),
    debits: new Counter(`audit_${kind}_debits_${i}`),
  };
}
const tallies = ACCOUNTS.map((_, i) => ({ acked: tally('acked', i), sent: tally('sent', i), refused: tally('refused', i) }));

function count(t, credit, amount) {
  t.entries.add(1);
  (credit ? t.credits : t.debits).add(amount);
}

/// Creates every account of ACCOUNTS and aborts the run when one exists already: the audit relies
/// on accounts whose only entries are this run's.
// A run against a deployed stage reuses the accounts its token grants (ACCOUNTS_MAY_EXIST=1): they
// answer 200 from the second run on. A local run always starts from fresh accounts.
const ACCOUNT_STATUSES = __ENV.ACCOUNTS_MAY_EXIST === '1' ? [200, 201] : [201];

export function createAccounts() {
  for (const account of ACCOUNTS) {
    const body = JSON.stringify({ name: `Load ${account}`, currency: 'BRL', timezone: ZONE });
    const res = http.put(`${BASE_URL}/v1/accounts/${account}`, body, { headers: JSON_WRITE, timeout: REQUEST_TIMEOUT });
    if (!ACCOUNT_STATUSES.includes(res.status)) {
      exec.test.abort(`account ${account}: PUT answered ${res.status}, expected ${ACCOUNT_STATUSES.join(' or ')}`);
    }
  }
  return { startedAt: new Date().toISOString() };
}

/// Today's date in the accounts' zone, as the daily balance route takes it.
export function today() {
  return new Date(Date.now() + ZONE_OFFSET_MIN * 60000).toISOString().slice(0, 10);
}

// The account the lag probe writes to alone (throughput.js), when set: the other requests leave it be,
// so its entry count tells the probe when its own entry reached the balance.
const PROBE_ACCOUNT = __ENV.PROBE_ACCOUNT || '';
const PROBE_INDEX = ACCOUNTS.indexOf(PROBE_ACCOUNT);
if (PROBE_ACCOUNT && (PROBE_INDEX < 0 || ACCOUNTS.length < 2)) {
  throw new Error('PROBE_ACCOUNT must be one of ACCOUNTS, and ACCOUNTS must hold another');
}
const SHARED = ACCOUNTS.map((_, i) => i).filter((i) => i !== PROBE_INDEX);

/// A random account of this run (never the probe's), and its index in ACCOUNTS.
function pick() {
  const i = SHARED[Math.floor(Math.random() * SHARED.length)];
  return [i, ACCOUNTS[i]];
}

function uniqueKey() {
  return `${exec.vu.idInTest}-${exec.scenario.iterationInTest}-${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
}

/// Records one random entry on a random account and tallies it when the server acknowledged it:
/// 201, or 200 with Idempotent-Replayed on a retry (an earlier attempt was written but its answer lost).
/// Returns whether it was acknowledged.
export function postEntry(tags, index) {
  const [i, account] = index === undefined ? pick() : [index, ACCOUNTS[index]];
  const credit = Math.random() < 0.7;
  const amount = 1 + Math.floor(Math.random() * AMOUNT_MAX);
  const body = JSON.stringify({ type: credit ? 'credit' : 'debit', amount, description: 'load test' });
  const headers = { ...JSON_WRITE, 'Idempotency-Key': uniqueKey() };
  const url = `${BASE_URL}/v1/accounts/${account}/entries`;
  count(tallies[i].sent, credit, amount);
  for (let attempt = 0; attempt <= ENTRY_RETRIES; attempt++) {
    // Only first attempts carry the caller's tags, so per-step figures count arrivals, not retries.
    const attemptTags = attempt === 0 ? { ...tags, route: 'entries' } : { step: 'retry', route: 'entries' };
    const res = http.post(url, body, { headers, tags: attemptTags, timeout: REQUEST_TIMEOUT });
    const acknowledged =
      res.status === 201 || (attempt > 0 && res.status === 200 && res.headers['Idempotent-Replayed'] === 'true');
    outcome(res.status, 201, attemptTags);
    if (res.status !== 0) {
      entryLatency.add(res.timings.duration, attemptTags);
    }
    if (acknowledged) {
      count(tallies[i].acked, credit, amount);
      return true;
    }
    // A timeout or a 5xx may or may not have written the entry: retry with the same key. Any other
    // refusal wrote nothing, by the contract.
    if (res.status !== 0 && res.status < 500) {
      count(tallies[i].refused, credit, amount);
      return false;
    }
    sleep(0.05 * (attempt + 1));
  }
  unresolved.add(1);
  return false;
}

export const batchLatency = new Trend('batch_latency', true);
// Entries of batches, by result: each entry of a batch counts once, whatever its batch's retries.
const batchEntries = new Counter('batch_entries');

/// Records `size` random entries on a random account in one batch, each under a key of its own, and
/// tallies each entry the server acknowledged (201, or 200 replayed on a resend: an earlier attempt
/// wrote it). A timeout or a 5xx resends the whole batch with the same keys; a 503 result resends
/// that entry. Returns how many entries were acknowledged.
export function postBatch(tags, size) {
  const [i, account] = pick();
  const entries = [];
  for (let n = 0; n < size; n++) {
    const credit = Math.random() < 0.7;
    const amount = 1 + Math.floor(Math.random() * AMOUNT_MAX);
    entries.push({ idempotency_key: `${uniqueKey()}-${n}`, type: credit ? 'credit' : 'debit', amount, description: 'load test' });
    count(tallies[i].sent, credit, amount);
  }
  const url = `${BASE_URL}/v1/accounts/${account}/entries/batch`;
  let pending = entries;
  let acknowledged = 0;
  for (let attempt = 0; attempt <= ENTRY_RETRIES && pending.length > 0; attempt++) {
    const attemptTags = attempt === 0 ? { ...tags, route: 'batch' } : { step: 'retry', route: 'batch' };
    const res = http.post(url, JSON.stringify({ entries: pending }), { headers: JSON_WRITE, tags: attemptTags, timeout: REQUEST_TIMEOUT });
    outcome(res.status, 200, attemptTags);
    if (res.status !== 0) {
      batchLatency.add(res.timings.duration, attemptTags);
    }
    if (res.status !== 200) {
      // No answer or a 5xx: any of them may be written; resend all. Any other refusal wrote nothing.
      if (res.status !== 0 && res.status < 500) {
        pending.forEach((e) => count(tallies[i].refused, e.type === 'credit', e.amount));
        return acknowledged;
      }
      sleep(0.05 * (attempt + 1));
      continue;
    }
    const results = res.json('results');
    const again = [];
    pending.forEach((e, n) => {
      const status = results[n].status;
      const credit = e.type === 'credit';
      if (status === 201 || status === 200) {
        count(tallies[i].acked, credit, e.amount);
        acknowledged += 1;
        batchEntries.add(1, { result: String(status) });
      } else if (status >= 500) {
        again.push(e);
      } else {
        count(tallies[i].refused, credit, e.amount);
        batchEntries.add(1, { result: String(status) });
      }
    });
    pending = again;
  }
  unresolved.add(pending.length);
  return acknowledged;
}

/// Consolidation lag as a client sees it: from the 201 of an entry on the probe account until that
/// account's balance counts it, polled every PROBE_POLL_MS. One VU runs the probe, so `state.expected`
/// (entries acknowledged so far on the probe account) is exact.
export const probeLag = new Trend('probe_lag', true);
const probeTimeouts = new Counter('probe_timeouts');
const PROBE_POLL_MS = Number(__ENV.PROBE_POLL_MS || '10');
/// How long the probe waits for one entry to show before it counts a timeout.
const PROBE_WAIT_MS = 30000;

export function probe(state) {
  if (PROBE_INDEX < 0 || !postEntry({ step: 'probe' }, PROBE_INDEX)) {
    return;
  }
  state.expected += 1;
  const acknowledgedAt = Date.now();
  const url = `${BASE_URL}/v1/accounts/${PROBE_ACCOUNT}/balances/daily/${today()}`;
  while (Date.now() - acknowledgedAt < PROBE_WAIT_MS) {
    const res = http.get(url, { headers: AUTH, tags: { step: 'probe', route: 'probe' }, timeout: REQUEST_TIMEOUT });
    if (res.status === 200 && res.json('entry_count') >= state.expected) {
      probeLag.add(Date.now() - acknowledgedAt);
      return;
    }
    sleep(PROBE_POLL_MS / 1000);
  }
  probeTimeouts.add(1);
}

/// Reads today's daily balance of a random account.
export function readBalance(tags) {
  const [, account] = pick();
  const res = http.get(`${BASE_URL}/v1/accounts/${account}/balances/daily/${today()}`, {
    headers: AUTH,
    tags: { ...tags, route: 'balances' },
    timeout: REQUEST_TIMEOUT,
  });
  outcome(res.status, 200, { ...tags, route: 'balances' });
  if (res.status !== 0) {
    readLatency.add(res.timings.duration, { ...tags, route: 'balances' });
  }
}

/// `GET /health`: no store, no token; a ramp on it measures the ceiling of the load generator and
/// the HTTP stack on this machine.
export function readHealth(tags) {
  const res = http.get(`${BASE_URL}/health`, { tags: { ...tags, route: 'health' }, timeout: REQUEST_TIMEOUT });
  outcome(res.status, 200, { ...tags, route: 'health' });
  if (res.status !== 0) {
    readLatency.add(res.timings.duration, { ...tags, route: 'health' });
  }
}

/// What the server acknowledged per account, for the audit: entries, and credits and debits in minor
/// units; and what is in doubt (sent, neither acknowledged nor refused), in the same units.
export function expectations(data) {
  const total = (name) => {
    const m = data.metrics[name];
    return m ? m.values.count : 0;
  };
  const read = (kind, i) => ({
    entries: total(`audit_${kind}_entries_${i}`),
    credits: total(`audit_${kind}_credits_${i}`),
    debits: total(`audit_${kind}_debits_${i}`),
  });
  const accounts = {};
  ACCOUNTS.forEach((account, i) => {
    const [acked, sent, refused] = [read('acked', i), read('sent', i), read('refused', i)];
    const doubt = {};
    for (const k of ['entries', 'credits', 'debits']) {
      doubt[k] = sent[k] - acked[k] - refused[k];
    }
    accounts[account] = { ...acked, in_doubt: doubt };
  });
  return { base_url: BASE_URL, accounts, unresolved: total('entries_unresolved') };
}

/// A metric's value, or null when the run recorded none.
export function value(data, name, stat) {
  const m = data.metrics[name];
  return m && m.values[stat] !== undefined ? m.values[stat] : null;
}

export function fmt(x, digits = 1) {
  return x === null || x === undefined ? '-' : Number(x).toFixed(digits);
}

/// The files every script writes after its run: the full k6 summary, the figures it reports, and
/// the audit's expectations; `lines` go to stdout.
export function outputs(name, data, figures, lines) {
  const run = __ENV.RUN_NAME || name;
  return {
    stdout: lines.join('\n') + '\n',
    [`${OUT_DIR}/${run}.summary.json`]: JSON.stringify(data, null, 2),
    [`${OUT_DIR}/${run}.figures.json`]: JSON.stringify(figures, null, 2),
    [`${OUT_DIR}/${run}.expected.json`]: JSON.stringify(expectations(data), null, 2),
  };
}
