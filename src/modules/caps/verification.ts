/**
 * XEP-0115 §5: the verification string of a disco#info result, and the §5.4 checks that decide
 * whether a result may be hashed at all. Pure functions: no server, no I/O.
 *
 *   const info = parseDiscoInfo(queryElement);          // identities, features, forms
 *   const problem = illFormed(info);                     // §5.4: duplicates make it untrustworthy
 *   const ver = computeVer(info, 'sha-1');               // base64 of the hash of S
 */
import { createHash } from 'node:crypto';
import type { Element } from '../../xml/element.js';

export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_DATA_FORMS = 'jabber:x:data';

export interface CapsIdentity {
  category: string;
  type: string;
  lang: string;
  name: string;
}

/** A XEP-0128 form as far as the verification string needs it. */
export interface CapsForm {
  /** The FORM_TYPE values (more than one distinct value makes the result ill-formed). */
  formType: string[];
  /** Whether the FORM_TYPE field is type='hidden' (§5.4: a form whose FORM_TYPE is not is ignored). */
  hidden: boolean;
  fields: Array<{ var: string; values: string[] }>;
}

export interface DiscoInfo {
  identities: CapsIdentity[];
  features: string[];
  forms: CapsForm[];
}

/**
 * The hash names of the IANA "Hash Function Textual Names" registry that node's crypto has and
 * that are not broken (md2 and md5 are left out). XEP-0115 §8.1: sha-1 is mandatory.
 */
const HASHES: ReadonlyMap<string, string> = new Map([
  ['sha-1', 'sha1'],
  ['sha-224', 'sha224'],
  ['sha-256', 'sha256'],
  ['sha-384', 'sha384'],
  ['sha-512', 'sha512'],
]);

export function isSupportedHash(name: string): boolean {
  return HASHES.has(name);
}

/** Read identities, features and data forms from a disco#info <query/>. */
export function parseDiscoInfo(query: Element): DiscoInfo {
  const identities: CapsIdentity[] = [];
  const features: string[] = [];
  const forms: CapsForm[] = [];
  for (const child of query.elements) {
    if (child.xmlns === NS_DISCO_INFO && child.name === 'identity') {
      identities.push({
        category: child.attrs.category ?? '',
        type: child.attrs.type ?? '',
        lang: child.attrs['xml:lang'] ?? '',
        name: child.attrs.name ?? '',
      });
    } else if (child.xmlns === NS_DISCO_INFO && child.name === 'feature') {
      const v = child.attrs.var;
      if (v !== undefined) features.push(v);
    } else if (child.xmlns === NS_DATA_FORMS && child.name === 'x') {
      forms.push(parseForm(child));
    }
  }
  return { identities, features, forms };
}

function parseForm(x: Element): CapsForm {
  let formType: string[] = [];
  let hidden = false;
  let sawFormType = false;
  const fields: CapsForm['fields'] = [];
  for (const field of x.getChildren('field', NS_DATA_FORMS)) {
    const values = field.getChildren('value', NS_DATA_FORMS).map((v) => v.getText());
    const name = field.attrs.var;
    if (name === 'FORM_TYPE' && !sawFormType) {
      sawFormType = true;
      formType = values;
      hidden = field.attrs.type === 'hidden';
    } else if (name !== undefined) {
      fields.push({ var: name, values });
    }
  }
  // No FORM_TYPE field at all: `formType` stays empty and the form is ignored (§5.4 6).
  return { formType: sawFormType ? formType : [], hidden: sawFormType && hidden, fields };
}

/** A form that takes part in the verification string: a hidden FORM_TYPE with a value (§5.4 6). */
function counted(form: CapsForm): boolean {
  return form.hidden && form.formType.length > 0;
}

/**
 * §5.4 steps 3–5: why the result cannot be trusted (duplicate identity, feature or FORM_TYPE, or
 * a FORM_TYPE with different values), or undefined when it is well-formed.
 */
export function illFormed(info: DiscoInfo): string | undefined {
  const ids = new Set<string>();
  for (const id of info.identities) {
    const key = identityString(id);
    if (ids.has(key)) return `duplicate identity ${key}`;
    ids.add(key);
  }
  const features = new Set<string>();
  for (const f of info.features) {
    if (features.has(f)) return `duplicate feature ${f}`;
    features.add(f);
  }
  const types = new Set<string>();
  for (const form of info.forms) {
    if (new Set(form.formType).size > 1) return 'a FORM_TYPE with different values';
    // Step 5 speaks of forms with the same FORM_TYPE, ignored ones included.
    const type = form.formType[0];
    if (type === undefined) continue;
    if (types.has(type)) return `duplicate form ${type}`;
    types.add(type);
  }
  return undefined;
}

function identityString(id: CapsIdentity): string {
  return `${id.category}/${id.type}/${id.lang}/${id.name}`;
}

/**
 * "i;octet" collation (RFC 4790 §9.3): compare the UTF-8 bytes. JavaScript's `<` compares UTF-16
 * code units, which orders characters above U+FFFF differently, so compare the bytes.
 */
export function octetCompare(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const sorted = (list: readonly string[]): string[] => [...list].sort(octetCompare);

/** §5.1 steps 1–8: the string S that is hashed. */
export function verificationString(info: DiscoInfo): string {
  let s = '';
  // Sort by category, type, lang (then name, for a stable order: they form a unique key anyway).
  const identities = [...info.identities].sort(
    (a, b) => octetCompare(a.category, b.category) || octetCompare(a.type, b.type) || octetCompare(a.lang, b.lang) || octetCompare(a.name, b.name),
  );
  for (const id of identities) s += identityString(id) + '<';
  for (const f of sorted(info.features)) s += f + '<';
  const forms = info.forms.filter(counted).sort((a, b) => octetCompare(a.formType[0] ?? '', b.formType[0] ?? ''));
  for (const form of forms) {
    s += (form.formType[0] ?? '') + '<';
    const fields = [...form.fields].sort((a, b) => octetCompare(a.var, b.var));
    for (const field of fields) {
      s += field.var + '<';
      for (const v of sorted(field.values)) s += v + '<';
    }
  }
  return s;
}

/** §5.1 step 9: hash S with the named algorithm, base64. Throws for a hash that is not supported. */
export function hashVerificationString(s: string, hash: string): string {
  const algorithm = HASHES.get(hash);
  if (algorithm === undefined) throw new Error(`unsupported caps hash: ${hash}`);
  return createHash(algorithm).update(s, 'utf8').digest('base64');
}

export function computeVer(info: DiscoInfo, hash: string): string {
  return hashVerificationString(verificationString(info), hash);
}

export type Verdict = { ok: true } | { ok: false; reason: 'ill-formed' | 'mismatch'; detail: string };

/** §5.4: whether a disco#info result proves `ver` under `hash`. */
export function verify(info: DiscoInfo, hash: string, ver: string): Verdict {
  const problem = illFormed(info);
  if (problem !== undefined) return { ok: false, reason: 'ill-formed', detail: problem };
  const computed = computeVer(info, hash);
  if (computed !== ver) return { ok: false, reason: 'mismatch', detail: `computed ${computed}` };
  return { ok: true };
}
