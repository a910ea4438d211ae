// Writes docs/admin-api.openapi.json from the admin API's route table (run after `npm run build`).
// The version is left out of the file's diff noise: it is the package's version at generation.
import { readFileSync, writeFileSync } from 'node:fs';
import { buildOpenApi } from '../dist/src/modules/admin_api/openapi.js';

const root = new URL('..', import.meta.url);
const { version } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
writeFileSync(new URL('docs/admin-api.openapi.json', root), `${JSON.stringify(buildOpenApi(version), null, 2)}\n`);
console.log('wrote docs/admin-api.openapi.json');
