/**
 * XEP-0363 HTTP File Upload as an internal component
 * (`[[component]] domain = "upload.example.com" module = "upload"`): users of the domain above it
 * ask the component for a slot over XMPP (slot.ts) and PUT the file to Canto's HTTP server
 * (http-put.ts), which serves it back (http-get.ts) until it expires (cleanup.ts). README.md.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { defineModule, type ModuleApi } from '../../core/modules.js';
import type { Jid } from '../../jid/index.js';
import { Element } from '../../xml/element.js';
import { Cleaner } from './cleanup.js';
import { UploadDir } from './files.js';
import { preflight } from './http-common.js';
import { getHandler } from './http-get.js';
import { authorise, CHALLENGE, putHandler } from './http-put.js';
import { NS_DATA, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_UPLOAD } from './ns.js';
import { uploadOptions, type UploadOptions } from './options.js';
import { answerSlotRequest } from './slot.js';
import type { UploadMetrics, UploadState } from './state.js';
import { FileRecords, type FileRecord } from './store.js';

export { NS_UPLOAD } from './ns.js';

export default defineModule({
  name: 'upload',
  description: 'XEP-0363 HTTP File Upload service',
  uses: ['http'],
  options: uploadOptions,
  async setup(mod) {
    const server = mod.server;
    if (server.components.get(mod.host)?.kind !== 'internal') {
      mod.log.error({ host: mod.host }, 'the upload module serves a [[component]] (domain = "upload.…", module = "upload"), not a virtual host: not started here');
      return;
    }
    if (server.config.data_dir === '') {
      mod.log.error('the upload service keeps files under data_dir, which is not set: not started');
      return;
    }
    const options = mod.options;
    const domains = allowedDomains(mod.host, options, [...server.hosts.keys()]);
    const mayUpload = (from: Jid) => from.local !== '' && server.hosts.has(from.domain) && (domains === '*' || domains.includes(from.domain));
    const path = `/upload/${mod.host}`;
    const dir = new UploadDir(join(server.config.data_dir, 'upload', mod.host));
    const leftovers = await dir.prepare();
    if (leftovers > 0) mod.log.info({ files: leftovers }, 'unfinished uploads of an earlier run removed');

    // The http module is in `uses`: loaded first when configured (it listens once every module is loaded).
    const http = mod.optional('http');
    const state: UploadState = {
      domain: mod.host,
      options,
      secret: await secretOf(mod, options),
      records: new FileRecords(mod.archive<FileRecord>('upload_files')),
      dir,
      inProgress: new Map(),
      metrics: uploadMetrics(mod),
      log: mod.log,
      now: () => mod.now(),
      path,
      baseUrl: () => baseUrl(mod, options, path, http !== undefined, domains === '*' ? undefined : domains[0]),
      corsOrigins: server.config.http.cors_origins,
    };
    mod.measure.gauge('upload_files', 'Files stored by the upload service (read at scrape time)', [], async (g) => g.set(await state.records.count()));

    // The HTTP routes, mounted in setup: no request can arrive before they exist.
    if (http) {
      const route = `${path}/:id/:filename`;
      mod.onUnload(http.route({ path: route, methods: ['GET'], handler: getHandler(state) }));
      mod.onUnload(http.route({ path: route, methods: ['PUT'], stream: true, idleTimeoutMs: options.idle_timeout, maxBodyBytes: options.max_file_size, auth: authorise(state), challenge: CHALLENGE, handler: putHandler(state) }));
      mod.onUnload(http.route({ path: route, methods: ['OPTIONS'], handler: preflight(state) }));
      mod.log.debug({ path }, 'upload routes mounted');
    } else {
      mod.log.error('the upload service needs the HTTP server: add "http" (or websocket/bosh) to modules_enabled; slots are refused until then');
    }

    // Disco (no disco module on a component): identity store/file, the feature, max-file-size (XEP-0128).
    mod.iq('get', NS_DISCO_INFO, 'query', ({ stanza }) => {
      if (stanza.elements[0]?.attrs.node) return new Element('query', { xmlns: NS_DISCO_INFO, node: stanza.elements[0].attrs.node });
      return discoInfo(options.max_file_size);
    });
    mod.iq('get', NS_DISCO_ITEMS, 'query', () => new Element('query', { xmlns: NS_DISCO_ITEMS }));
    mod.iq('get', NS_UPLOAD, 'request', (event) => answerSlotRequest(state, event, mayUpload));

    const cleaner = new Cleaner(state);
    const expire = () => {
      cleaner.expire().catch((err: unknown) => mod.log.error({ err }, 'upload clean-up failed'));
    };
    mod.setInterval(expire, options.cleanup_interval);
    expire();

    // An account's files go with it. The event is the user's host's: listen on each host whose users may upload.
    for (const [host, ctx] of server.hosts) {
      if (domains !== '*' && !domains.includes(host)) continue;
      mod.onUnload(
        ctx.events.on('user-deleted', ({ username }) => {
          // Not returned: a promise would claim the event from the other modules listening.
          cleaner.removeOwner(`${username}@${host}`).catch((err: unknown) => mod.log.error({ err, host, username }, 'deleting the uploads of a deleted account failed'));
          return false;
        }),
      );
    }
    mod.log.info({ domains, max_file_size: options.max_file_size, quota: options.quota, expire_after: options.expire_after }, 'upload service ready');
  },
});

/** Whose users may upload: the option, else the domain above the component's when it is served, else every served domain. */
export function allowedDomains(component: string, options: UploadOptions, hosts: readonly string[]): string[] | '*' {
  if (options.allowed_domains.includes('*')) return '*';
  if (options.allowed_domains.length > 0) return options.allowed_domains.map((d) => d.toLowerCase());
  const parent = component.slice(component.indexOf('.') + 1);
  return hosts.includes(parent) ? [parent] : '*';
}

/**
 * The URL base of slots: `external_url`; else `[http] public_url` with the path; else this
 * server's HTTPS listener (plain HTTP only when there is none) at the served domain's name.
 */
function baseUrl(mod: ModuleApi, options: UploadOptions, path: string, mounted: boolean, urlHost: string | undefined): string | undefined {
  if (options.external_url !== undefined) return options.external_url.replace(/\/+$/, '');
  if (!mounted) return undefined;
  const publicUrl = mod.server.config.http.public_url;
  if (publicUrl !== undefined) return `${publicUrl.replace(/\/+$/, '')}${path}`;
  const host = urlHost ?? mod.server.config.virtualhost[0]?.domain ?? 'localhost';
  for (const [kind, scheme, dflt] of [['https', 'https', 443], ['http', 'http', 80]] as const) {
    const port = mod.server.addresses(kind)[0]?.port;
    if (port !== undefined) return `${scheme}://${host}${port === dflt ? '' : `:${port}`}${path}`;
  }
  return undefined;
}

/** The configured secret, or the one stored on first start (one atomic write: every process agrees). */
async function secretOf(mod: ModuleApi, options: UploadOptions): Promise<Buffer> {
  if (options.secret !== undefined) return Buffer.from(options.secret, 'utf8');
  const made = randomBytes(32).toString('base64');
  const stored = await mod.keyval<{ secret: string }>('upload_secret').update('', (cur) => cur ?? { secret: made });
  return Buffer.from(stored?.secret ?? made, 'base64');
}

function discoInfo(maxFileSize: number): Element {
  const q = new Element('query', { xmlns: NS_DISCO_INFO });
  q.c('identity', { category: 'store', type: 'file', name: 'HTTP File Upload' });
  q.c('feature', { var: NS_DISCO_INFO });
  q.c('feature', { var: NS_UPLOAD });
  const x = q.c('x', { xmlns: NS_DATA, type: 'result' });
  x.c('field', { var: 'FORM_TYPE', type: 'hidden' }).c('value').t(NS_UPLOAD);
  x.c('field', { var: 'max-file-size' }).c('value').t(String(maxFileSize));
  return q;
}

function uploadMetrics(mod: ModuleApi): UploadMetrics {
  const m = mod.measure;
  const slots = m.counter('upload_slots_total', 'Upload slots handed out');
  const refusals = m.counter('upload_refusals_total', 'Slot requests and uploads refused, by reason', ['reason']);
  const uploaded = m.counter('upload_bytes_uploaded_total', 'Bytes received in uploads (also of uploads that did not complete)');
  const stored = m.counter('upload_files_uploaded_total', 'Uploads completed and stored');
  const served = m.counter('upload_bytes_served_total', 'Bytes of files sent to downloaders');
  const removed = m.counter('upload_files_deleted_total', 'Stored files deleted, by why', ['why']);
  return {
    slot: () => slots.inc(),
    refused: (reason) => refusals.inc({ reason }),
    uploaded: (n) => uploaded.inc(undefined, n),
    stored: () => stored.inc(),
    served: (n) => served.inc(undefined, n),
    expired: (n) => removed.inc({ why: 'expired' }, n),
    deleted: (n) => removed.inc({ why: 'account_deleted' }, n),
  };
}
