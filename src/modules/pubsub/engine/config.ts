/**
 * The node configuration form (`pubsub#node_config`, XEP-0060 §8.2 and §16.4.3): the form a
 * owner fills in, reading a submitted form into a NodeConfig (validated, against the service's
 * limits), the `pubsub#meta-data` form of node disco#info (§5.4), and the publish-options
 * preconditions (§7.1.5). Pure functions.
 */
import type { Element } from '../../../xml/element.js';
import { FORM_META_DATA, FORM_NODE_CONFIG } from '../ns.js';
import { pubsubError } from './errors.js';
import { buildForm, parseBoolean, type FieldSpec, type ParsedForm } from './forms.js';
import {
  ACCESS_MODELS,
  ITEMREPLY_MODES,
  NOTIFICATION_TYPES,
  PUBLISH_MODELS,
  SEND_LAST_MODES,
  type NodeConfig,
} from './types.js';

type Key = keyof NodeConfig;
type Kind = 'boolean' | 'text' | 'max_items' | 'list' | 'groups';

/** Each configurable field: its kind, label and (for lists) the choices with labels. */
const FIELDS: ReadonlyArray<{ key: Key; kind: Kind; label: string; options?: ReadonlyArray<readonly [string, string]> }> = [
  { key: 'title', kind: 'text', label: 'A friendly name for the node' },
  { key: 'description', kind: 'text', label: 'A description of the node' },
  { key: 'type', kind: 'text', label: 'The type of node data, usually specified by the namespace of the payload' },
  { key: 'max_items', kind: 'max_items', label: 'Max # of items to persist (a number, or "max")' },
  {
    key: 'access_model',
    kind: 'list',
    label: 'Who may subscribe and retrieve items',
    options: [
      ['authorize', 'Subscription requests must be approved and only subscribers may retrieve items'],
      ['open', 'Anyone may subscribe and retrieve items'],
      ['presence', 'Anyone with a presence subscription of both or from may subscribe and retrieve items'],
      ['roster', 'Anyone in the specified roster group(s) may subscribe and retrieve items'],
      ['whitelist', 'Only those on a whitelist may subscribe and retrieve items'],
    ],
  },
  { key: 'roster_groups_allowed', kind: 'groups', label: 'Roster groups allowed to subscribe' },
  {
    key: 'publish_model',
    kind: 'list',
    label: 'Who may publish items',
    options: [
      ['publishers', 'Only publishers may publish'],
      ['subscribers', 'Subscribers may publish'],
      ['open', 'Anyone may publish'],
    ],
  },
  { key: 'persist_items', kind: 'boolean', label: 'Persist items to storage' },
  { key: 'deliver_payloads', kind: 'boolean', label: 'Deliver payloads with event notifications' },
  { key: 'deliver_notifications', kind: 'boolean', label: 'Deliver event notifications' },
  { key: 'notify_retract', kind: 'boolean', label: 'Notify subscribers when items are removed from the node' },
  { key: 'notify_delete', kind: 'boolean', label: 'Notify subscribers when the node is deleted' },
  { key: 'notify_config', kind: 'boolean', label: 'Notify subscribers when the node configuration changes' },
  { key: 'notify_sub', kind: 'boolean', label: 'Notify owners about new subscribers and unsubscribes' },
  {
    key: 'send_last_published_item',
    kind: 'list',
    label: 'When to send the last published item',
    options: [
      ['never', 'Never'],
      ['on_sub', 'When a new subscription is processed'],
      ['on_sub_and_presence', 'When a new subscription is processed and whenever a subscriber comes online'],
    ],
  },
  {
    key: 'itemreply',
    kind: 'list',
    label: 'Whom to address replies to',
    options: [
      ['owner', 'The node owner'],
      ['publisher', 'The item publisher'],
    ],
  },
  {
    key: 'notification_type',
    kind: 'list',
    label: 'The message type of event notifications',
    options: [
      ['headline', 'headline'],
      ['normal', 'normal'],
    ],
  },
];

const CHOICES: Partial<Record<Key, readonly string[]>> = {
  access_model: ACCESS_MODELS,
  publish_model: PUBLISH_MODELS,
  send_last_published_item: SEND_LAST_MODES,
  itemreply: ITEMREPLY_MODES,
  notification_type: NOTIFICATION_TYPES,
};

/** The field values of a config, as the form writes them. */
function values(config: NodeConfig, key: Key, kind: Kind): string[] {
  const v = config[key];
  if (kind === 'boolean') return [v ? 'true' : 'false'];
  if (kind === 'groups') return [...(v as string[])];
  if (kind === 'text' && v === '') return [];
  return [String(v)];
}

function fieldType(kind: Kind): FieldSpec['type'] {
  switch (kind) {
    case 'boolean':
      return 'boolean';
    case 'list':
      return 'list-single';
    case 'groups':
      return 'list-multi';
    default:
      return 'text-single';
  }
}

function fieldsOf(config: NodeConfig): FieldSpec[] {
  return FIELDS.map((f) => ({ var: `pubsub#${f.key}`, type: fieldType(f.kind), label: f.label, values: values(config, f.key, f.kind), options: f.options }));
}

/** The form an owner fills in (configure get, default get), with the current values. */
export function configForm(config: NodeConfig): Element {
  return buildForm('form', FORM_NODE_CONFIG, fieldsOf(config));
}

/** The configuration as a result form (configuration notifications, §8.2.5.1). */
export function configResult(config: NodeConfig): Element {
  return buildForm('result', FORM_NODE_CONFIG, fieldsOf(config));
}

/** The `pubsub#meta-data` form of a node's disco#info (XEP-0060 §5.4). */
export function metadataForm(config: NodeConfig, meta: { owners: string[]; publishers: string[]; created: number }): Element {
  const fields: FieldSpec[] = [
    { var: 'pubsub#title', type: 'text-single', values: config.title === '' ? [] : [config.title] },
    { var: 'pubsub#description', type: 'text-single', values: config.description === '' ? [] : [config.description] },
    { var: 'pubsub#type', type: 'text-single', values: config.type === '' ? [] : [config.type] },
    { var: 'pubsub#access_model', type: 'list-single', values: [config.access_model] },
    { var: 'pubsub#publish_model', type: 'list-single', values: [config.publish_model] },
    { var: 'pubsub#max_items', type: 'text-single', values: [String(config.max_items)] },
    { var: 'pubsub#persist_items', type: 'boolean', values: [config.persist_items ? 'true' : 'false'] },
    { var: 'pubsub#owner', type: 'jid-multi', values: meta.owners },
    { var: 'pubsub#publisher', type: 'jid-multi', values: meta.publishers },
    { var: 'pubsub#creation_date', type: 'text-single', values: [new Date(meta.created).toISOString()] },
  ];
  return buildForm('result', FORM_META_DATA, fields);
}

/** What a submitted form may ask for, checked against the service. */
export interface ConfigLimits {
  /** The most items a node may keep (also what 'max' means). */
  maxItems: number;
}

/** One field's value from a submitted form, or a thrown not-acceptable naming the field. */
function readField(key: Key, kind: Kind, raw: string[], limits: ConfigLimits): NodeConfig[Key] {
  const bad = (why: string) => pubsubError('CANTO_ERR_PUBSUB_INVALID_CONFIG', `pubsub#${key}: ${why}`);
  const one = raw[0] ?? '';
  switch (kind) {
    case 'boolean': {
      const b = parseBoolean(one);
      if (b === undefined) throw bad('expected a boolean');
      return b;
    }
    case 'text':
      return raw.join('\n');
    case 'groups':
      return raw.filter((g) => g !== '');
    case 'list': {
      const choices = CHOICES[key] ?? [];
      if (!choices.includes(one)) throw bad(`expected one of ${choices.join(', ')}`);
      return one as NodeConfig[Key];
    }
    case 'max_items': {
      if (one === 'max') return 'max';
      if (!/^[0-9]{1,9}$/.test(one) || Number(one) < 1) throw bad('expected a positive number or "max"');
      const n = Number(one);
      if (n > limits.maxItems) throw pubsubError('CANTO_ERR_PUBSUB_MAX_ITEMS_EXCEEDED', `pubsub#max_items: at most ${limits.maxItems} items per node`);
      return n;
    }
  }
}

/**
 * The config a submitted node_config form asks for, on top of `base`. Fields this engine does
 * not know are ignored (clients send fields of other servers' forms); a known field with a bad
 * value, or a form of another FORM_TYPE, is not-acceptable.
 */
export function applyConfigForm(base: NodeConfig, form: ParsedForm, limits: ConfigLimits, formType = FORM_NODE_CONFIG): NodeConfig {
  if (form.formType !== undefined && form.formType !== formType) {
    throw pubsubError('CANTO_ERR_PUBSUB_INVALID_CONFIG', `the form is of type ${form.formType}, not ${formType}`);
  }
  const next: NodeConfig = { ...base, roster_groups_allowed: [...base.roster_groups_allowed] };
  for (const f of FIELDS) {
    const raw = form.fields.get(`pubsub#${f.key}`);
    if (raw === undefined) continue;
    (next as unknown as Record<Key, unknown>)[f.key] = readField(f.key, f.kind, raw, limits);
  }
  return next;
}

/** Whether `pubsub#<name>` is a field of the node_config form. */
export function isConfigField(name: string): boolean {
  return FIELDS.some((f) => `pubsub#${f.key}` === name);
}

/**
 * Publish-options preconditions (XEP-0060 §7.1.5): every field of the form must equal the node's
 * configuration. Returns the first field that differs (or that this engine does not know), or
 * undefined when all match. 'max' for max_items matches a node at the limit and 'max' itself.
 */
export function unmetPrecondition(config: NodeConfig, form: ParsedForm, limits: ConfigLimits): string | undefined {
  for (const [name, raw] of form.fields) {
    const f = FIELDS.find((x) => `pubsub#${x.key}` === name);
    if (!f) return name;
    const have = config[f.key];
    if (f.kind === 'max_items') {
      const want = raw[0] ?? '';
      const effective = (v: string | number) => (v === 'max' ? limits.maxItems : Number(v));
      if (effective(want) !== effective(have as number | 'max')) return name;
      continue;
    }
    if (f.kind === 'boolean') {
      if (parseBoolean(raw[0]) !== have) return name;
      continue;
    }
    if (f.kind === 'groups') {
      const a = [...new Set(raw)].sort().join('\n');
      const b = [...new Set(have as string[])].sort().join('\n');
      if (a !== b) return name;
      continue;
    }
    if ((f.kind === 'text' ? raw.join('\n') : (raw[0] ?? '')) !== have) return name;
  }
  return undefined;
}

/** The number of items a node keeps. */
export function effectiveMaxItems(config: NodeConfig, limits: ConfigLimits): number {
  return config.max_items === 'max' ? limits.maxItems : Math.min(config.max_items, limits.maxItems);
}
