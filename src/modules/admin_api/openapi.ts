/**
 * The OpenAPI 3.1 description of the admin API, made from the route table (routes.ts) and its
 * zod schemas, so the two cannot drift: docs/admin-api.openapi.json is this function's output,
 * written by `node scripts/admin-api-openapi.mjs`, and a test fails when the file is stale.
 * The server serves the file (index.ts), not a fresh build, so what operators read in the repo
 * is byte for byte what they get.
 */
import { z } from 'zod';
import { PROBLEM_TYPES } from './problem.js';
import { ROUTES, type ApiRoute } from './routes.js';
import { AREAS } from './tokens.js';

type Json = Record<string, unknown>;

/** A zod schema as JSON Schema: inputs as a request may write them, responses as the server writes them. */
function schemaOf(schema: z.ZodType, io: 'input' | 'output' = 'input'): Json {
  const s = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Json;
  delete s.$schema;
  return s;
}

function parameters(route: ApiRoute): Json[] {
  const out: Json[] = [];
  for (const m of route.path.matchAll(/\{([a-z]+)\}/g)) {
    const name = m[1] as string;
    out.push({ name, in: 'path', required: true, schema: { type: 'string' }, description: PATH_PARAMS[name] ?? name });
  }
  if (route.query) {
    const q = schemaOf(route.query) as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, s] of Object.entries(q.properties ?? {})) out.push({ name, in: 'query', required: (q.required ?? []).includes(name), schema: s });
  }
  return out;
}

const PATH_PARAMS: Record<string, string> = {
  host: 'A virtual host of this server',
  username: 'An account\'s local part, in its normalised (PRECIS) form',
  service: 'A chat room service (a [[component]] served by the muc module), e.g. conference.example.org',
  room: 'A room\'s local part',
  token: 'An invite token',
};

const problemRef = (description: string): Json => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });

function operation(route: ApiRoute): Json {
  const responses: Json = {};
  const ok = route.method === 'POST' && /\/(users|invites)$|^\/rooms\/\{service\}$/.test(route.path) ? '201' : route.method === 'GET' || route.path.endsWith('/sessions') || route.path.endsWith('/announcements') ? '200' : '204';
  if (ok !== '204' && route.response === undefined) throw new Error(`admin API route ${route.method} ${route.path} answers ${ok} but declares no response schema`);
  responses[ok] = ok === '204' || route.response === undefined ? { description: 'Done' } : { description: 'Success', content: { 'application/json': { schema: schemaOf(route.response, 'output') } } };
  if (route.query || route.body) responses['400'] = problemRef('Malformed input (unknown fields included)');
  responses['401'] = problemRef('No token, or not a valid one');
  responses['403'] = problemRef(route.scope ? `The token lacks ${route.scope.area}:${route.scope.access}` : 'The address is not allowed');
  if (route.path.includes('{')) responses['404'] = problemRef('No such host, account, room, invite or session');
  if (route.conflict !== undefined) responses['409'] = problemRef(route.conflict);
  if (route.body) {
    responses['413'] = problemRef('The body is larger than max_body_size');
    responses['415'] = problemRef('The body is not application/json');
  }
  responses['429'] = { ...problemRef('Rate limited'), headers: { 'Retry-After': { schema: { type: 'integer' } } } };
  responses['500'] = problemRef('The server failed; its log has the details');
  if (route.path.startsWith('/hosts/{host}/')) responses['503'] = problemRef('The module this endpoint needs is not loaded on that host');
  const op: Json = {
    operationId: `${route.method.toLowerCase()}${route.path.replace(/\{([a-z])([a-z]*)\}/g, (_m, a: string, b: string) => `By${a.toUpperCase()}${b}`).replace(/[/-]([a-z])/g, (_m, c: string) => c.toUpperCase())}`,
    summary: route.summary,
    parameters: parameters(route),
    responses,
  };
  if (route.scope) {
    op.security = [{ bearer: [`${route.scope.area}:${route.scope.access}`] }];
    op['x-canto-scope'] = `${route.scope.area}:${route.scope.access}`;
  } else op.security = [{ bearer: [] }];
  if (route.body) op.requestBody = { required: true, content: { 'application/json': { schema: schemaOf(route.body) } } };
  return op;
}

export function buildOpenApi(version: string): Json {
  const paths: Record<string, Json> = {
    '/openapi.json': { get: { operationId: 'getOpenapi', summary: 'This description (no token needed)', security: [], responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } } } },
  };
  for (const r of ROUTES) (paths[r.path] ??= {})[r.method.toLowerCase()] = operation(r);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Canto admin API',
      version,
      description: 'Administration of a Canto XMPP server. Bearer tokens come from `canto token create --scope <area>:read|write`; write implies read. Errors are RFC 9457 problem details. docs/admin-api.md in the repository explains it.',
    },
    servers: [{ url: '/admin/api/v1' }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: `Scopes: ${AREAS.map((a) => `${a}:read, ${a}:write`).join('; ')}` },
      },
      schemas: {
        Problem: {
          type: 'object',
          description: 'RFC 9457 problem details (application/problem+json)',
          required: ['type', 'title', 'status', 'detail'],
          properties: {
            type: { type: 'string', description: `One of: ${Object.keys(PROBLEM_TYPES).map((t) => `/docs/admin-api.md#${t}`).join(', ')}` },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            errors: { type: 'array', description: 'bad-request: each invalid field', items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } } },
          },
        },
      },
    },
  };
}
