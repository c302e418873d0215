// Evaluate one boolean flag of a flagd flag-definition file with the
// official evaluator, @openfeature/flagd-core (what flagd's in-process
// providers run), for N targeting keys and once without a key.
//
//   node eval.js FILE FLAG N PREFIX
//
// The file is validated strictly against flagd's schema first (exit 2 when
// it is not valid). Prints one JSON line:
//   {"keys": N, "on": [indices of the keys PREFIX0..PREFIX{N-1} that got
//    true], "no_key": {"value": ..., "reason": ..., "variant": ...}}
'use strict';

const fs = require('fs');
const { FlagdCore, MemoryStorage } = require('@openfeature/flagd-core');

const [file, flag, n, prefix] = process.argv.slice(2);
const keys = Number.parseInt(n, 10);
if (!file || !flag || !Number.isInteger(keys) || keys < 0 || prefix === undefined) {
  process.stderr.write('usage: node eval.js FILE FLAG N PREFIX\n');
  process.exit(64);
}

const quiet = { error() {}, warn() {}, info() {}, debug() {} };
const storage = new MemoryStorage(quiet);
try {
  // strictValidation: the schema check flagd itself makes of a file.
  storage.setConfigurations(fs.readFileSync(file, 'utf8'), true);
} catch (e) {
  process.stderr.write(`${file} is not a valid flagd file: ${e.message}\n`);
  process.exit(2);
}
const core = new FlagdCore(storage, quiet);

const on = [];
for (let i = 0; i < keys; i++) {
  const r = core.resolveBooleanEvaluation(flag, false, { targetingKey: `${prefix}${i}` });
  if (r.value === true) on.push(i);
}
const nk = core.resolveBooleanEvaluation(flag, false, {});
process.stdout.write(
  JSON.stringify({
    keys,
    on,
    no_key: { value: nk.value, reason: nk.reason, variant: nk.variant ?? null },
  }) + '\n',
);
