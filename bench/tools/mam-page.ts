/**
 * The cost of one MAM page inside one process, without sockets, clients or the scheduler of a
 * shared machine: the mam module's query engine (src/modules/mam/queries.ts) over a real SQLite
 * archive filled like the `mam` scenario's, each result serialized as the stream would write it.
 *
 *   node --min-semi-space-size=16 --max-semi-space-size=16 dist/bench/tools/mam-page.js \
 *       [--items 100000] [--pages 6000]
 *
 * Reports per page: CPU (user + system), wall p50/p99, young-generation collections (scavenges)
 * and the bytes allocated, estimated as scavenges × the young generation's size (so fix the semi
 * space size as above: each scavenge then follows one semi space worth of allocation).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics } from 'node:v8';
import { Session } from 'node:inspector/promises';
import type { StanzaEvent } from '../../src/core/event-map.js';
import { parseJid } from '../../src/jid/jid.js';
import { ArchiveQueries } from '../../src/modules/mam/queries.js';
import { openSqliteStorage } from '../../src/storage/sqlite.js';
import { serialize } from '../../src/xml/element.js';
import { parseXmlFragment } from '../../src/xml/parse-fragment.js';
import { asClientStanza } from '../../src/xml/stanza.js';
import { fillItems, fillStartMs, ARCHIVE_FILL_END_MS } from '../servers/archive-fill.js';
import { Latencies, round, seededRandom } from '../load/stats.js';
import { BENCH_DOMAIN, benchUsername, type ArchiveFill } from '../servers/types.js';

const { values } = parseArgs({ options: { items: { type: 'string', default: '100000' }, pages: { type: 'string', default: '6000' }, 'alloc-top': { type: 'string' } } });
const fill: ArchiveFill = { owner: 0, items: Number(values.items), correspondents: 20, spanDays: 90 };
const pages = Number(values.pages);
const PAGE = 50;

const dir = mkdtempSync(join(tmpdir(), 'mam-page-'));
const storage = openSqliteStorage({ dataDir: dir });
try {
  const store = storage.archive<string>(BENCH_DOMAIN, 'mam');
  const owner = benchUsername(0);
  for (const item of fillItems(fill)) {
    const peer = `${benchUsername(item.peer)}@${BENCH_DOMAIN}`;
    await store.append(owner, { when: item.when, with: item.outgoing ? peer : `${peer}/phone`, value: asClientStanza(parseXmlFragment(item.xml)).toString() });
  }
  const queries = new ArchiveQueries({ store, limits: { defaultMax: 100, maxMax: 250 }, timeQuery: () => () => {}, warn: () => {} });

  let bytes = 0;
  const origin = { send: (el: Parameters<typeof serialize>[0]) => void (bytes += serialize(el, 'jabber:client').length) };
  const from = parseJid(`${owner}@${BENCH_DOMAIN}/bench`);
  const to = parseJid(`${owner}@${BENCH_DOMAIN}`);
  const random = seededRandom(7);
  const start = fillStartMs(fill);
  const field = (name: string, value: string) => `<field var='${name}'><value>${value}</value></field>`;
  const stamp = (ms: number) => new Date(ms).toISOString();
  const queryXml = (n: number): string => {
    const kind = n % 3;
    let fields = '';
    let rsm = `<max>${PAGE}</max>`;
    if (kind === 0) fields = field('with', `${benchUsername(1 + Math.floor(random() * fill.correspondents))}@${BENCH_DOMAIN}`);
    else if (kind === 1) {
      const window = Math.ceil((4 * PAGE * (ARCHIVE_FILL_END_MS - start)) / fill.items);
      const at = start + Math.floor(random() * (ARCHIVE_FILL_END_MS - start - window));
      fields = field('start', stamp(at)) + field('end', stamp(at + window));
    } else rsm += '<before/>';
    return `<iq type='set' id='q${n}'><query xmlns='urn:xmpp:mam:2' queryid='q${n}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>${fields}</x><set xmlns='http://jabber.org/protocol/rsm'>${rsm}</set></query></iq>`;
  };
  const run = async (n: number, latencies?: Latencies) => {
    const stanza = parseXmlFragment(queryXml(n));
    const t0 = performance.now();
    const fin = await queries.query({ stanza, from, to, origin } as unknown as StanzaEvent);
    bytes += serialize(fin, 'jabber:client').length;
    latencies?.add(performance.now() - t0);
  };

  for (let n = 0; n < 600; n++) await run(n); // warm-up: JIT and SQLite's page cache
  let scavenges = 0;
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
      gcMs += e.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const semiSpace = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size / 2;
  const latencies = new Latencies();
  bytes = 0;
  const sampler = values['alloc-top'] === undefined ? undefined : await startAllocationSampling();
  const cpu0 = process.cpuUsage();
  for (let n = 0; n < pages; n++) await run(600 + n, latencies);
  const cpu = process.cpuUsage(cpu0);
  if (sampler) console.log(await sampler.stop(Number(values['alloc-top'])));
  await new Promise((resolve) => setTimeout(resolve, 50)); // the observer's last entries
  observer.disconnect();
  const perPage = (x: number) => x / pages;
  console.log(
    JSON.stringify({
      items: fill.items,
      pages,
      cpuMsPerPage: round(perPage((cpu.user + cpu.system) / 1000), 3),
      p50Ms: round(latencies.quantile(0.5), 3),
      p99Ms: round(latencies.quantile(0.99), 3),
      scavengesPer1kPages: round(perPage(scavenges) * 1000, 1),
      gcMsPerPage: round(perPage(gcMs), 4),
      allocatedKiBPerPage: round(perPage(scavenges * semiSpace) / 1024, 1),
      outputBytesPerPage: round(perPage(bytes)),
    }),
  );
} finally {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
}

/**
 * `--alloc-top N`: V8's sampling heap profiler over the timed pages, counting objects the young
 * generation collected too (what a page allocates, not what it keeps): the N functions that
 * allocate most, by self size, as a share of all sampled bytes.
 */
async function startAllocationSampling(): Promise<{ stop: (top: number) => Promise<string> }> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
  return {
    async stop(top) {
      const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: SamplingNode } };
      session.disconnect();
      const bySite = new Map<string, number>();
      let total = 0;
      const walk = (node: SamplingNode) => {
        const { functionName, url, lineNumber } = node.callFrame;
        const site = `${functionName || '(anonymous)'} ${url.replace(/^.*\/dist\//, '')}:${lineNumber + 1}`;
        bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
        total += node.selfSize;
        node.children.forEach(walk);
      };
      walk(profile.head);
      return [...bySite]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([site, bytes]) => `${((100 * bytes) / total).toFixed(1).padStart(5)} %  ${site}`)
        .join('\n');
    },
  };
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}
