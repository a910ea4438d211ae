/** XEP-0004 data forms as the MUC forms use them: read a submission, build a form or a result. */
import { Element } from '../../xml/element.js';
import { NS_DATA } from './ns.js';

export interface ParsedForm {
  /** 'form' | 'submit' | 'cancel' | 'result' */
  type: string;
  formType: string | undefined;
  /** var → values, FORM_TYPE excluded; fields without `var` are ignored. */
  fields: Map<string, string[]>;
}

export function parseForm(x: Element): ParsedForm {
  const fields = new Map<string, string[]>();
  let formType: string | undefined;
  for (const field of x.getChildren('field', NS_DATA)) {
    const name = field.attrs.var;
    if (name === undefined) continue;
    const values = field.getChildren('value', NS_DATA).map((v) => v.getText());
    if (name === 'FORM_TYPE') formType = values[0];
    else fields.set(name, values);
  }
  return { type: x.attrs.type ?? 'form', formType, fields };
}

export type FieldType = 'boolean' | 'text-single' | 'text-private' | 'text-multi' | 'list-single' | 'list-multi' | 'jid-single' | 'jid-multi' | 'hidden' | 'fixed';

export interface FieldSpec {
  var: string;
  type: FieldType;
  label?: string;
  values: string[];
  options?: ReadonlyArray<readonly [string, string]>;
}

/** A form with FORM_TYPE first; labels and options only on type 'form'. */
export function buildForm(type: 'form' | 'result' | 'submit', formType: string, fields: FieldSpec[], title?: string): Element {
  const x = new Element('x', { xmlns: NS_DATA, type });
  if (title !== undefined) x.c('title').t(title);
  x.c('field', { var: 'FORM_TYPE', type: 'hidden' }).c('value').t(formType);
  for (const f of fields) {
    const el = x.c('field', { var: f.var, type: f.type, label: type === 'form' ? f.label : undefined });
    if (type === 'form') for (const [value, label] of f.options ?? []) el.c('option', { label }).c('value').t(value);
    for (const v of f.values) el.c('value').t(v);
  }
  return x;
}

/** XEP-0004 §3.3 booleans; anything else is undefined. */
export function parseBoolean(value: string | undefined): boolean | undefined {
  if (value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  return undefined;
}
