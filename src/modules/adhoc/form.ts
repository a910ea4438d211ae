/**
 * XEP-0004 data forms as the ad-hoc commands use them: a form is described by a spec (fields
 * with types), rendered to `<x xmlns='jabber:x:data'/>`, and a submitted form is read back and
 * checked against the spec of the stage it answers, so every command gets the same checks
 * (required fields, JIDs that parse, booleans, list options) and the same error for a bad one.
 */
import { Element } from '../../xml/element.js';
import { tryParseJid } from '../../jid/index.js';

export const NS_DATA = 'jabber:x:data';

export type FieldType = 'boolean' | 'fixed' | 'hidden' | 'jid-multi' | 'jid-single' | 'list-multi' | 'list-single' | 'text-multi' | 'text-private' | 'text-single';

export interface FieldSpec {
  var?: string;
  type: FieldType;
  label?: string;
  required?: boolean;
  value?: string | string[];
  options?: Array<{ value: string; label?: string }>;
}

export interface FormSpec {
  title?: string;
  instructions?: string;
  /** A hidden FORM_TYPE field (XEP-0068), e.g. 'http://jabber.org/protocol/admin' for XEP-0133. */
  formType?: string;
  fields: FieldSpec[];
}

/** What a submitted form carries: each field's values (a single-valued field has one). */
export type FormValues = Map<string, string[]>;

export function renderForm(spec: FormSpec, type: 'form' | 'result'): Element {
  const x = new Element('x', { xmlns: NS_DATA, type });
  if (spec.title !== undefined) x.c('title').t(spec.title);
  if (spec.instructions !== undefined) x.c('instructions').t(spec.instructions);
  if (spec.formType !== undefined) x.c('field', { var: 'FORM_TYPE', type: 'hidden' }).c('value').t(spec.formType);
  for (const f of spec.fields) {
    const field = x.c('field', { var: f.var, type: f.type, label: f.label });
    if (f.required) field.c('required');
    for (const o of f.options ?? []) field.c('option', { label: o.label }).c('value').t(o.value);
    const values = f.value === undefined ? [] : typeof f.value === 'string' ? [f.value] : f.value;
    for (const v of values) field.c('value').t(v);
  }
  return x;
}

/** Why a submitted form does not fit its spec (answered bad-request + bad-payload). */
export class FormProblem extends Error {}

/** Read a submitted form and check it against `spec`; throws FormProblem. */
export function readSubmission(x: Element | undefined, spec: FormSpec): FormValues {
  if (!x) throw new FormProblem('this stage needs the submitted form');
  const type = x.attrs.type;
  if (type !== 'submit') throw new FormProblem(`the form must be of type "submit" (got "${type ?? ''}")`);
  const values: FormValues = new Map();
  for (const field of x.getChildren('field', NS_DATA)) {
    const name = field.attrs.var;
    if (name === undefined || name === '') continue;
    values.set(name, field.getChildren('value', NS_DATA).map((v) => v.getText()));
  }
  if (spec.formType !== undefined) {
    const ft = values.get('FORM_TYPE');
    if (ft !== undefined && ft[0] !== spec.formType) throw new FormProblem(`FORM_TYPE must be ${spec.formType}`);
  }
  for (const f of spec.fields) {
    if (f.var === undefined || f.type === 'fixed') continue;
    const got = (values.get(f.var) ?? []).filter((v) => v !== '' || f.type === 'text-multi');
    if (got.length === 0) {
      if (f.required) throw new FormProblem(`the field "${f.label ?? f.var}" is required`);
      continue;
    }
    const multi = f.type === 'jid-multi' || f.type === 'list-multi' || f.type === 'text-multi';
    if (!multi && got.length > 1) throw new FormProblem(`the field "${f.var}" takes one value`);
    if (f.type === 'boolean' && !['0', '1', 'true', 'false'].includes(got[0] ?? '')) throw new FormProblem(`the field "${f.var}" is a boolean`);
    if (f.type === 'jid-single' || f.type === 'jid-multi') {
      for (const v of got) if (!tryParseJid(v)) throw new FormProblem(`"${v}" is not a valid JID`);
    }
    if ((f.type === 'list-single' || f.type === 'list-multi') && f.options !== undefined) {
      for (const v of got) if (!f.options.some((o) => o.value === v)) throw new FormProblem(`"${v}" is not an option of "${f.var}"`);
    }
    values.set(f.var, got);
  }
  return values;
}

/** Helpers for command code. */
export function one(values: FormValues, name: string): string | undefined {
  return values.get(name)?.[0];
}
export function bool(values: FormValues, name: string): boolean {
  const v = one(values, name);
  return v === '1' || v === 'true';
}
