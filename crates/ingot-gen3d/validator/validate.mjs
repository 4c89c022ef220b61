// Validates one .glb/.gltf file with the Khronos glTF-Validator.
// Prints the full report as JSON on stdout; exits 1 when the report has
// errors, 2 on usage or I/O problems.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));
const validator = require('gltf-validator');

const file = process.argv[2];
if (!file) {
  console.error('usage: node validate.mjs <file.glb>');
  process.exit(2);
}
let data;
try {
  data = new Uint8Array(await readFile(file));
} catch (e) {
  console.error(`cannot read ${file}: ${e.message}`);
  process.exit(2);
}
const report = await validator.validateBytes(data, {
  uri: path.basename(file),
  maxIssues: 0,
  writeTimestamp: false,
  externalResourceFunction: (uri) =>
    readFile(path.resolve(path.dirname(file), decodeURIComponent(uri))).then((b) => new Uint8Array(b)),
});
console.log(JSON.stringify(report, null, 2));
process.exit(report.issues.numErrors > 0 ? 1 : 0);
