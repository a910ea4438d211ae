/**
 * Node configuration given as values (the `pep` service's `PepPublishOptions.config`) turned into
 * the form the engine reads, so a server-side publish goes through exactly the checks and
 * preconditions of a client's publish-options (XEP-0060 §7.1.5).
 */
import type { ParsedForm } from '../pubsub/engine/forms.js';
import type { NodeConfig } from '../pubsub/engine/types.js';
import { FORM_NODE_CONFIG, FORM_PUBLISH_OPTIONS } from '../pubsub/ns.js';

function fieldValues(value: NodeConfig[keyof NodeConfig]): string[] {
  if (typeof value === 'boolean') return [value ? 'true' : 'false'];
  if (Array.isArray(value)) return [...value];
  return [String(value)];
}

/** `config` as a submitted form: publish-options (preconditions) or node_config (reconfigure). */
export function configAsForm(config: Partial<NodeConfig>, kind: 'publish-options' | 'node_config'): ParsedForm {
  const fields = new Map<string, string[]>();
  for (const [key, value] of Object.entries(config) as Array<[keyof NodeConfig, NodeConfig[keyof NodeConfig] | undefined]>) {
    if (value !== undefined) fields.set(`pubsub#${key}`, fieldValues(value));
  }
  return { type: 'submit', formType: kind === 'publish-options' ? FORM_PUBLISH_OPTIONS : FORM_NODE_CONFIG, fields };
}
