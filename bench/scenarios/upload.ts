/**
 * upload (issue 16): C clients each ask the upload service (XEP-0363) for a slot over XMPP and
 * PUT one file of S bytes over HTTPS, all at once; then each GETs another client's file, all at
 * once, after an unmeasured warm-up round of one 200 kB file each. HTTP through Node's https client with one keep-alive agent (a PUT's connection serves
 * the GET after it). Every download is compared byte for byte with what was sent.
 *
 * Reports upload and download throughput (MB/s of file bytes over each phase), per-file upload
 * and download p50/p99 (slot request included in the upload), server CPU per GB moved, and the
 * server's RSS: before the uploads and its peak during them (sampled every 50 ms). Two file
 * sizes per size class on fresh servers show whether memory grows with file size (it must not:
 * bodies are streamed). Both servers' slots are valid for 5 minutes (Prosody's are fixed at
 * that): an upload phase slower than that fails on Prosody with 410.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { BenchClient } from '../load/client.js';
import { Latencies, nowMs, pool, round } from '../load/stats.js';
import { cpuSeconds, rssBytes } from '../servers/proc.js';
import { BENCH_UPLOAD_DOMAIN, type RunningServer } from '../servers/types.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

export interface UploadParams extends Record<string, number> {
  clients: number;
  /** Bytes per file (10 MB = 10,000,000). */
  fileBytes: number;
  maxSeconds: number;
}

const NS_UPLOAD = 'urn:xmpp:http:upload:0';
const TYPE = 'application/octet-stream';
/** The file each client uploads and downloads once before the measured phases. */
const WARM_UP_BYTES = 200_000;

interface Slot {
  put: string;
  get: string;
  headers: Record<string, string>;
}

function unescapeXml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e] ?? '');
}

/** The slot in an iq result (either quote style, as servers serialize differently). */
export function parseSlot(iq: string): Slot {
  const attr = (el: string, name: string) => new RegExp(`<${el}\\b[^>]*\\b${name}=(?:'([^']*)'|"([^"]*)")`).exec(iq);
  const put = attr('put', 'url');
  const get = attr('get', 'url');
  if (!put || !get) throw new Error(`no slot in ${iq.slice(0, 300)}`);
  const headers: Record<string, string> = {};
  for (const m of iq.matchAll(/<header\b[^>]*\bname=(?:'([^']*)'|"([^"]*)")[^>]*>([^<]*)<\/header>/g)) headers[m[1] ?? m[2] ?? ''] = unescapeXml(m[3] ?? '');
  return { put: unescapeXml(put[1] ?? put[2] ?? ''), get: unescapeXml(get[1] ?? get[2] ?? ''), headers };
}

/** One iq round trip on a logged-in client (results matched by id). */
function askSlot(c: BenchClient, domain: string, name: number | string, size: number): Promise<string> {
  const id = `slot${name}`;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no slot answer for ${id}`)), 30_000);
    c.listen((stanza) => {
      if (!stanza.includes(`'${id}'`) && !stanza.includes(`"${id}"`)) return;
      clearTimeout(timer);
      if (/type=['"]error['"]/.test(stanza.slice(0, stanza.indexOf('>')))) reject(new Error(`slot refused: ${stanza.slice(0, 400)}`));
      else resolve(stanza);
    });
    c.send(`<iq type='get' id='${id}' to='${domain}'><request xmlns='${NS_UPLOAD}' filename='file${name}.bin' size='${size}' content-type='${TYPE}'/></iq>`);
  });
}

/** An HTTPS request to a slot URL, connected to 127.0.0.1 (the URL's name is the server's, not in DNS). */
function send(agent: Agent, url: string, method: 'PUT' | 'GET', headers: Record<string, string>, body: Buffer | undefined, onResponse: (res: IncomingMessage, done: (err?: Error) => void) => void): Promise<void> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: '127.0.0.1', port: u.port, servername: u.hostname, path: u.pathname + u.search, method, headers: { Host: u.host, ...headers } }, (res) =>
      onResponse(res, (err) => (err ? reject(err) : resolve())),
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function put(agent: Agent, slot: Slot, data: Buffer): Promise<void> {
  await send(agent, slot.put, 'PUT', { ...slot.headers, 'Content-Type': TYPE, 'Content-Length': String(data.length) }, data, (res, done) => {
    res.resume();
    res.on('end', () => done(res.statusCode === 201 || res.statusCode === 200 ? undefined : new Error(`PUT answered ${res.statusCode}`)));
    res.on('error', done);
  });
}

/** GET, comparing each chunk with the bytes sent as it arrives (nothing kept). */
async function getAndCompare(agent: Agent, url: string, data: Buffer): Promise<void> {
  await send(agent, url, 'GET', {}, undefined, (res, done) => {
    if (res.statusCode !== 200) {
      res.resume();
      done(new Error(`GET answered ${res.statusCode}`));
      return;
    }
    let at = 0;
    let bad = false;
    res.on('data', (chunk: Buffer) => {
      if (!bad && data.compare(chunk, 0, chunk.length, at, at + chunk.length) !== 0) bad = true;
      at += chunk.length;
    });
    res.on('end', () => done(bad || at !== data.length ? new Error(`GET: ${at} bytes${bad ? ', not the bytes sent' : ''}`) : undefined));
    res.on('error', done);
  });
}

export const uploadScenario: Scenario<UploadParams> = {
  name: 'upload',
  description: 'C clients upload one file each over HTTPS at once (XEP-0363 slot first), then download another client\'s',
  sizes: {
    tiny: [{ clients: 4, fileBytes: 1_000_000, maxSeconds: 60 }],
    small: [
      { clients: 20, fileBytes: 1_000_000, maxSeconds: 120 },
      { clients: 20, fileBytes: 10_000_000, maxSeconds: 120 },
    ],
    full: [
      { clients: 100, fileBytes: 1_000_000, maxSeconds: 300 },
      { clients: 100, fileBytes: 10_000_000, maxSeconds: 300 },
    ],
  },
  setup: (p) => ({ accounts: p.clients, upload: { maxFileBytes: 16 * 1024 * 1024 } }),
  async run(server: RunningServer, p: UploadParams): Promise<ScenarioResult> {
    if (server.httpsPort === undefined) throw new Error('the server has no HTTPS port');
    const data = randomBytes(p.fileBytes);
    // Certificates are self-signed for the domain: trust is not what is measured.
    const agent = new Agent({ keepAlive: true, maxSockets: p.clients, rejectUnauthorized: false });
    const clients: BenchClient[] = [];
    const notes: string[] = [];
    let sampler: NodeJS.Timeout | undefined;
    try {
      await pool(p.clients, 50, nowMs() + 60_000, async (i) => {
        clients[i] = await BenchClient.login({ port: server.port, domain: server.domain, username: server.username(i), password: server.password });
      });
      if (clients.filter(Boolean).length < p.clients) throw new Error('not every client logged in');

      // Warm-up, not measured: every client uploads and downloads one small file first. Node
      // compiles its HTTP and TLS paths on first use (Lua has no such warm-up) and each client's
      // keep-alive connection is set up here, so the measured phases compare moving bytes.
      const warm = randomBytes(WARM_UP_BYTES);
      await pool(p.clients, p.clients, nowMs() + 60_000, async (i) => {
        const slot = parseSlot(await askSlot(clients[i]!, BENCH_UPLOAD_DOMAIN, `warm${i}`, WARM_UP_BYTES));
        await put(agent, slot, warm);
        await getAndCompare(agent, slot.get, warm);
      });

      const rssBefore = rssBytes(server.pid);
      let rssPeak = rssBefore;
      sampler = setInterval(() => {
        try {
          rssPeak = Math.max(rssPeak, rssBytes(server.pid));
        } catch {
          // The server is gone (the run failed and stops it): the failure is reported elsewhere.
        }
      }, 50);
      const cpu0 = cpuSeconds(server.pid);
      const clock = new GeneratorClock();
      const deadline = nowMs() + p.maxSeconds * 1000;

      const slots: Slot[] = [];
      const ups = new Latencies();
      const upStart = nowMs();
      const uploaded = await pool(p.clients, p.clients, deadline, async (i) => {
        const t0 = nowMs();
        const slot = parseSlot(await askSlot(clients[i]!, BENCH_UPLOAD_DOMAIN, i, p.fileBytes));
        await put(agent, slot, data);
        slots[i] = slot;
        ups.add(nowMs() - t0);
      });
      const upSeconds = (nowMs() - upStart) / 1000;
      const rssAfterUploads = rssPeak;

      const downs = new Latencies();
      const downStart = nowMs();
      const downloaded = await pool(p.clients, p.clients, deadline, async (i) => {
        const t0 = nowMs();
        await getAndCompare(agent, slots[(i + 1) % p.clients]!.get, data);
        downs.add(nowMs() - t0);
      });
      const downSeconds = (nowMs() - downStart) / 1000;
      clearInterval(sampler);
      rssPeak = Math.max(rssPeak, rssBytes(server.pid));
      const serverCpu = cpuSeconds(server.pid) - cpu0;
      if (uploaded < p.clients || downloaded < p.clients) notes.push(`time limit: ${uploaded} uploads, ${downloaded} downloads of ${p.clients}`);
      const mb = p.fileBytes / 1e6;
      const movedGB = ((uploaded + downloaded) * p.fileBytes) / 1e9;
      const mib = (b: number) => round(b / 2 ** 20, 1);
      notes.push(`RSS peak during the uploads ${mib(rssAfterUploads)} MiB, during both phases ${mib(rssPeak)} MiB`);
      return {
        scenario: 'upload',
        server: server.name,
        params: p,
        metrics: [
          { name: 'upload MB/s', value: round((uploaded * mb) / upSeconds), unit: 'MB/s', better: 'higher' },
          { name: 'download MB/s', value: round((downloaded * mb) / downSeconds), unit: 'MB/s', better: 'higher' },
          { name: 'upload p50', value: round(ups.quantile(0.5)), unit: 'ms', better: 'lower' },
          { name: 'upload p99', value: round(ups.quantile(0.99)), unit: 'ms', better: 'lower' },
          { name: 'download p50', value: round(downs.quantile(0.5)), unit: 'ms', better: 'lower' },
          { name: 'download p99', value: round(downs.quantile(0.99)), unit: 'ms', better: 'lower' },
          { name: 'server CPU per GB', value: round(serverCpu / movedGB, 2), unit: 's', better: 'lower' },
          { name: 'RSS before', value: mib(rssBefore), unit: 'MiB', better: 'lower' },
          { name: 'RSS peak', value: mib(rssPeak), unit: 'MiB', better: 'lower' },
          { name: 'RSS growth', value: mib(rssPeak - rssBefore), unit: 'MiB', better: 'lower' },
        ],
        generator: clock.read(),
        notes,
      };
    } finally {
      clearInterval(sampler);
      for (const c of clients) c?.close();
      agent.destroy();
    }
  },
};
