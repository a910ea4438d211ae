/**
 * XEP-0092 Software Version: the server's name (Canto), its version from package.json and,
 * only when `hide_os = false`, the operating system. `hide_version = true` answers
 * service-unavailable and stops advertising the feature. Options in `[modules.version]`.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type as osType, release as osRelease } from 'node:os';
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { stanzaError } from '../../core/errors.js';
import { Element } from '../../xml/element.js';

export const NS_VERSION = 'jabber:iq:version';

/** Canto's version: the nearest package.json above this file that is Canto's own. */
export function cantoVersion(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; ) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'canto' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // No (readable) package.json here: look further up.
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

export default defineModule({
  name: 'version',
  description: 'XEP-0092 Software Version',
  options: z.object({
    hide_version: z.boolean().default(false),
    hide_os: z.boolean().default(true),
  }),
  setup(mod) {
    const { hide_version: hideVersion, hide_os: hideOs } = mod.options;
    if (hideVersion) {
      mod.iq('get', NS_VERSION, 'query', () => {
        throw stanzaError('CANTO_ERR_SERVICE_UNAVAILABLE', ''); // no <text/>: as if there were no such module
      });
      return;
    }
    const version = cantoVersion();
    const os = hideOs ? undefined : `${osType()} ${osRelease()}`;
    mod.addFeature(NS_VERSION);
    mod.iq('get', NS_VERSION, 'query', () => {
      const query = new Element('query', { xmlns: NS_VERSION });
      query.c('name').t('Canto');
      query.c('version').t(version);
      if (os !== undefined) query.c('os').t(os);
      return query;
    });
  },
});
