// Public face of the JID layer: import from 'src/jid/index.js' (or 'src/jid/jid.js', same API).
export {
  Jid,
  JidError,
  type JidErrorReason,
  MAX_PART_BYTES,
  jid,
  parseJid,
  prepareDomain,
  prepareLocalpart,
  prepareResource,
  tryParseJid,
} from './jid.js';
