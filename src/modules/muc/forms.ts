/** XEP-0004 data forms as the MUC forms use them: the shared implementation in src/xml/data-forms.ts. */
export { buildForm, parseBoolean, parseForm, type FieldSpec, type FieldType, type ParsedForm } from '../../xml/data-forms.js';
