/** XEP-0004 data forms as pubsub uses them: the shared implementation in src/xml/data-forms.ts. */
export { buildForm, findForm, parseBoolean, parseForm, type FieldSpec, type FieldType, type ParsedForm } from '../../../xml/data-forms.js';
