/**
 * The slot request (XEP-0363 §4): `<request xmlns='urn:xmpp:http:upload:0' filename size
 * content-type/>` to the service answers `<slot><put url><header name='Authorization'>…</header>
 * </put><get url/></slot>`, or an error of §5 (too large with the maximum, quota with a retry
 * time, not-acceptable for a bad name, size or type, not-allowed for strangers).
 */
import { stanzaError } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { Jid } from '../../jid/index.js';
import { Element } from '../../xml/element.js';
import { newSlotId } from './files.js';
import { checkFilename, DEFAULT_CONTENT_TYPE, normaliseContentType, parseSize, typeAllowed } from './names.js';
import { NS_UPLOAD } from './ns.js';
import { DAY_MS } from './store.js';
import { pendingBytes, type RefusalReason, type UploadState } from './state.js';
import { makeToken } from './token.js';

export async function answerSlotRequest(state: UploadState, event: StanzaEvent, mayUpload: (from: Jid) => boolean): Promise<Element> {
  const { metrics, options } = state;
  const refuse = (reason: RefusalReason, err: Error): never => {
    metrics.refused(reason);
    state.log.debug({ from: event.from.bare, reason }, 'upload slot refused');
    throw err;
  };
  const request = event.stanza.elements[0] as Element;
  if (!mayUpload(event.from)) refuse('not_allowed', stanzaError('CANTO_ERR_UPLOAD_NOT_ALLOWED'));

  const name = checkFilename(request.attrs.filename);
  if (!name.ok) return refuse('bad_filename', stanzaError('CANTO_ERR_UPLOAD_BAD_FILENAME', `the file name is not acceptable: ${name.why}`));
  const size = parseSize(request.attrs.size);
  if (size === undefined) return refuse('bad_size', stanzaError('CANTO_ERR_UPLOAD_BAD_SIZE'));
  if (size > options.max_file_size) {
    const tooLarge = new Element('file-too-large', { xmlns: NS_UPLOAD }).c('max-file-size').t(String(options.max_file_size)).root();
    refuse('too_large', stanzaError('CANTO_ERR_UPLOAD_FILE_TOO_LARGE', `the file is too large: the maximum file size is ${options.max_file_size} bytes`, tooLarge));
  }
  const rawType = request.attrs['content-type'];
  const type = rawType === undefined || rawType.trim() === '' ? DEFAULT_CONTENT_TYPE : normaliseContentType(rawType);
  if (type === undefined) return refuse('bad_content_type', stanzaError('CANTO_ERR_UPLOAD_BAD_CONTENT_TYPE', 'the content type is not a media type'));
  if (!typeAllowed(type, options.allowed_types)) refuse('bad_content_type', stanzaError('CANTO_ERR_UPLOAD_BAD_CONTENT_TYPE', 'files of this type may not be uploaded here'));

  const owner = event.from.bare;
  const now = state.now();
  const usage = await state.records.usage(owner, now);
  const pending = pendingBytes(state, owner);
  if (usage.stored + pending + size > options.quota) {
    refuse('quota', stanzaError('CANTO_ERR_UPLOAD_QUOTA', `quota reached: ${usage.stored} of ${options.quota} bytes stored; files are deleted ${Math.round(options.expire_after / DAY_MS)} days after upload`));
  }
  if (usage.today + pending + size > options.daily_quota) {
    // §5: when the limit lifts — the oldest upload of the last 24 hours leaves the window.
    const retry = new Element('retry', { xmlns: NS_UPLOAD, stamp: new Date((usage.oldestToday ?? now) + DAY_MS).toISOString() });
    refuse('daily_quota', stanzaError('CANTO_ERR_UPLOAD_DAILY_QUOTA', `daily quota reached: ${options.daily_quota} bytes in 24 hours`, retry));
  }

  const base = state.baseUrl();
  if (base === undefined) throw stanzaError('CANTO_ERR_SERVICE_UNAVAILABLE', 'the HTTP server for uploads is not running');
  const id = newSlotId();
  const token = makeToken(state.secret, { id, name: name.name, size, type, owner, exp: now + options.slot_lifetime });
  const url = `${base}/${id}/${encodeURIComponent(name.name)}`;
  metrics.slot();
  state.log.debug({ from: owner, id, size, type }, 'upload slot given');
  return new Element('slot', { xmlns: NS_UPLOAD })
    .c('put', { url })
    .c('header', { name: 'Authorization' })
    .t(`Bearer ${token}`)
    .up()
    .up()
    .c('get', { url })
    .root();
}
