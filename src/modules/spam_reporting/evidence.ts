/**
 * The message a report is about, looked up where the reporter's server has it: the reporter's
 * message archive (MAM: a stanza-id by the reporter is the archive id; an origin-id is looked for
 * among recent messages with the reported JID), then the held message requests (stranger module).
 * Without ids, the latest message from the reported JID is taken.
 */
import type { ModuleApi } from '../../core/modules.js';
import { parseJid } from '../../jid/index.js';
import type { ArchiveItem, ArchiveStore } from '../../storage/types.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';
import { messageIds } from '../stranger/requests.js';
import type { ParsedReport } from './parse.js';
import type { ReportEvidence } from './store.js';

/** The MAM module's archive store name. */
const MAM_STORE = 'mam';
/** How far back, per reported JID, an origin-id or the latest message is looked for. */
const SCAN = 200;

function fromReported(item: ArchiveItem<string>, reported: string): boolean {
  try {
    const from = parseXmlFragment(item.value).attrs.from;
    return from !== undefined && parseJid(from).bare === reported;
  } catch {
    return false;
  }
}

export async function findEvidence(mod: ModuleApi, username: string, report: ParsedReport): Promise<ReportEvidence | undefined> {
  const reporter = `${username}@${mod.host}`;
  const reported = parseJid(report.jid).bare;
  const archive: ArchiveStore<string> = mod.archive<string>(MAM_STORE);
  const archiveIds = report.refs.filter((r) => r.kind === 'stanza-id' && (r.by === undefined || r.by === reporter)).map((r) => r.id);
  const allIds = report.refs.map((r) => r.id);

  if (archiveIds.length > 0) {
    const [hit] = await archive.find(username, { ids: archiveIds, limit: 1 });
    if (hit) return { source: 'archive', stanza: hit.value, when: hit.when };
  }
  const recent = await archive.find(username, { with: reported, reverse: true, limit: SCAN });
  const byOrigin = allIds.length > 0 ? recent.find((i) => messageIds(i.value).some((id) => allIds.includes(id))) : recent.find((i) => fromReported(i, reported));
  if (byOrigin) return { source: 'archive', stanza: byOrigin.value, when: byOrigin.when };

  const stranger = mod.optional('stranger');
  if (!stranger) return undefined;
  const held = await stranger.findHeld(username, allIds, reported);
  return held ? { source: 'message-requests', stanza: held.xml, when: held.when } : undefined;
}
