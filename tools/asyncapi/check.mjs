// The official AsyncAPI tools on the suite's document: `node check.mjs [path]` (default
// docs/asyncapi.json). Prints every diagnostic of @asyncapi/parser, then the models
// @asyncapi/modelina generates from the parsed document. Exit 1 on any error or warning
// (severity 0 or 1), on no document, or when the model of EscrowReleased's data lacks `gross`;
// info and hints (severity 2, 3) are printed and counted, never fatal: they are advice.
// The last line is one JSON summary the tests read.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser } from '@asyncapi/parser';
import { TypeScriptGenerator } from '@asyncapi/modelina';

const here = fileURLToPath(new URL('.', import.meta.url));
const path = resolve(process.argv[2] ?? resolve(here, '../../docs/asyncapi.json'));
const SEVERITY = ['error', 'warning', 'info', 'hint'];
// the message, the model generated for its data, and the field that model must have
const RELEASED = 'EscrowReleased';
const RELEASED_TYPE = 'escrow.EscrowReleased.v1';
const RELEASED_FIELD = 'gross';

const summary = { path, diagnostics: {}, document: false, models: [], problems: [] };
for (const name of SEVERITY) summary.diagnostics[name] = 0;

const parser = new Parser();
const { document, diagnostics } = await parser.parse(await readFile(path, 'utf8'), {
  source: path,
});
for (const d of diagnostics) {
  const name = SEVERITY[d.severity] ?? `severity ${d.severity}`;
  summary.diagnostics[name] = (summary.diagnostics[name] ?? 0) + 1;
  console.log(`${name} ${d.code}: ${d.message} at /${(d.path ?? []).join('/')}`);
}
console.log(
  `parser: ${SEVERITY.map((n) => `${summary.diagnostics[n]} ${n}s`).join(', ')}` +
    (document ? '' : '; no document'),
);
if (summary.diagnostics.error + summary.diagnostics.warning > 0) {
  summary.problems.push('the parser reports errors or warnings');
}

if (document) {
  summary.document = true;
  const generator = new TypeScriptGenerator({ modelType: 'interface' });
  const models = await generator.generate(document);
  summary.models = models.map((m) => m.modelName).sort();
  console.log(`modelina: ${models.length} models: ${summary.models.join(', ')}`);
  // each message's payload model (named by its title, the CloudEvents type) -> its data model
  summary.envelopes = {};
  for (const m of models) {
    const data = m.model.properties?.data?.property;
    if (data) summary.envelopes[m.model.originalInput?.title ?? m.modelName] = data.type;
  }
  for (const [type, data] of Object.entries(summary.envelopes).sort()) console.log(`  ${type}: data ${data}`);
  if (summary.models.includes('Data')) summary.problems.push('a shared Data model was generated');
  if (summary.envelopes[RELEASED_TYPE] !== RELEASED) {
    summary.problems.push(`the data of ${RELEASED_TYPE} is ${summary.envelopes[RELEASED_TYPE]}`);
  }
  const released = models.find((m) => m.modelName === RELEASED);
  if (!released) {
    summary.problems.push(`modelina generated no ${RELEASED} model`);
  } else {
    console.log(released.result);
    const fields = Object.keys(released.model.properties ?? {});
    summary.released = fields;
    if (!fields.includes(RELEASED_FIELD)) {
      summary.problems.push(`the ${RELEASED} model has no ${RELEASED_FIELD}: ${fields.join(', ')}`);
    }
  }
} else {
  summary.problems.push('the parser returned no document');
}

for (const p of summary.problems) console.log(`FAIL: ${p}`);
console.log(JSON.stringify(summary));
process.exit(summary.problems.length ? 1 : 0);
