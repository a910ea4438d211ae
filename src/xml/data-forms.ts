/**
 * XEP-0004 data forms: read a submitted form into field values, build a form or result from
 * field descriptions. Pure functions over Elements, shared by the modules that speak forms.
 */
import { Element } from './element.js';

export const NS_DATA = 'jabber:x:data';

export interface ParsedForm {
  /** 'form' | 'submit' | 'cancel' | 'result' */
  type: string;
  /** The hidden FORM_TYPE field's value, if any. */
  formType: string | undefined;
  /** Every field except FORM_TYPE, var → values (in order). */
  fields: Map<string, string[]>;
}

/** Read an `<x xmlns='jabber:x:data'/>`; fields without `var` are ignored. */
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

/** The data form child of `parent`, if any. */
export function findForm(parent: Element | undefined): Element | undefined {
  return parent?.getChild('x', NS_DATA);
}

export type FieldType = 'boolean' | 'text-single' | 'text-private' | 'text-multi' | 'list-single' | 'list-multi' | 'jid-single' | 'jid-multi' | 'hidden' | 'fixed';

export interface FieldSpec {
  var: string;
  type: FieldType;
  label?: string;
  values: string[];
  /** list-single / list-multi options: value → label. */
  options?: ReadonlyArray<readonly [string, string]>;
}

/** A form (type 'form' to fill in, 'result' to read) with FORM_TYPE first; labels and options only on type 'form'. */
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

/** XEP-0004 §3.3 booleans: '1'/'true' and '0'/'false'; anything else is undefined. */
export function parseBoolean(value: string | undefined): boolean | undefined {
  if (value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  return undefined;
}
