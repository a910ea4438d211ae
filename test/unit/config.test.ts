import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigError, DEFAULT_MODULES_ENABLED, defaultConfig, loadConfig, parseConfig, type ConfigIssue,
} from '../../src/app/config.js';

// Compiled to dist-*/test/unit/, so the repo root is three levels up.
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function configError(text: string, file = 'canto.toml'): ConfigError {
  try {
    parseConfig(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the config to be rejected');
}

/** The issue for `key`, asserting it is on `line` and its message matches. */
function issue(err: ConfigError, key: string, line: number, message: RegExp): ConfigIssue {
  const found = err.issues.find((i) => i.key === key);
  assert.ok(found, `no issue for ${key}; got:\n${err.message}`);
  assert.equal(found.line, line, `line of ${key}`);
  assert.match(found.message, message);
  assert.ok(err.message.includes(`canto.toml, line ${line}: ${key}: `), `summary names ${key} at line ${line}:\n${err.message}`);
  return found;
}

test('defaults: serve localhost with the documented values', () => {
  const c = defaultConfig();
  assert.equal(c.data_dir, resolve(process.cwd(), 'data'));
  assert.equal(c.log_level, 'info');
  assert.equal(c.log_format, 'text');
  assert.deepEqual(c.admins, []);
  assert.deepEqual(c.modules_enabled, [...DEFAULT_MODULES_ENABLED]);
  assert.ok(c.modules_enabled.includes('roster') && c.modules_enabled.includes('register'));
  assert.deepEqual(c.storage, { driver: 'sqlite' });
  assert.deepEqual(c.auth, { scram_iterations: 4096, scram_hashes: ['SHA-1', 'SHA-256'], channel_binding: true });
  assert.deepEqual(c.limits, {
    max_stanza_size: 256 * 1024, max_depth: 64, max_attributes: 64, max_name_length: 256, max_send_buffer: 1024 * 1024,
  });
  assert.deepEqual(c.c2s, {
    interfaces: ['*'], ports: [5222], direct_tls_ports: [5223], require_encryption: true,
    auth_timeout: 60_000, max_unauthed_per_ip: 100,
  });
  assert.equal(c.s2s.ca_file, undefined);
  assert.deepEqual(c.s2s, {
    interfaces: ['*'], ports: [5269], direct_tls_ports: [], secure_auth: false, bidi: true, insecure_domains: [],
    secure_domains: [], idle_timeout: 300_000, dns_servers: [], hosts: {},
  });
  assert.deepEqual(c.component_listener, { interfaces: ['127.0.0.1'], ports: [5347] });
  assert.deepEqual(c.http, { interfaces: ['*'], ports: [5280], tls_ports: [5281], cors_origins: [], trusted_proxies: [] });
  assert.deepEqual(c.virtualhost, [{ domain: 'localhost', allow_registration: false, modules_enabled: [], modules_disabled: [] }]);
  // Chat rooms (issue 15) and file upload (issue 16) out of the box.
  assert.deepEqual(c.component, [{ domain: 'conference.localhost', module: 'muc' }, { domain: 'upload.localhost', module: 'upload' }]);
  assert.deepEqual(c.modules, {});
});

test('defaults: each call returns a fresh object', () => {
  const a = defaultConfig();
  a.c2s.ports.push(1);
  a.modules_enabled.length = 0;
  assert.deepEqual(defaultConfig().c2s.ports, [5222]);
  assert.equal(defaultConfig().modules_enabled.length, DEFAULT_MODULES_ENABLED.length);
});

test('the example file parses, with units converted and paths resolved', () => {
  const file = join(repoRoot, 'canto.example.toml');
  const c = parseConfig(readFileSync(file, 'utf8'), file);
  assert.equal(c.data_dir, join(repoRoot, 'data'));
  assert.deepEqual(c.admins, ['admin@example.com']);
  assert.equal(c.limits.max_stanza_size, 262_144);
  assert.equal(c.c2s.auth_timeout, 60_000);
  assert.equal(c.s2s.idle_timeout, 300_000);
  assert.deepEqual(c.s2s.hosts, { 'partner.example': 'xmpp.partner.example:5269' });
  assert.deepEqual(c.virtualhost.map((h) => h.domain), ['example.com', 'chat.example.org']);
  assert.equal(c.virtualhost[0]?.certificate, join(repoRoot, 'certs/example.com.crt'));
  assert.equal(c.virtualhost[0]?.key, join(repoRoot, 'certs/example.com.key'));
  assert.deepEqual(c.virtualhost[0]?.modules_disabled, ['register']);
  assert.equal(c.virtualhost[1]?.allow_registration, true);
  assert.deepEqual(c.component, [
    { domain: 'conference.example.com', module: 'muc' },
    { domain: 'gateway.example.com', secret: 'change-me' },
    { domain: 'upload.example.com', module: 'upload' },
  ]);
  assert.deepEqual(c.modules['mam'], { default_policy: 'roster', max_page_size: 250, archive_expires_after: '365 days' });
});

test('the example in docs/configuration.md is the example file', () => {
  const doc = readFileSync(join(repoRoot, 'docs/configuration.md'), 'utf8');
  const example = readFileSync(join(repoRoot, 'canto.example.toml'), 'utf8');
  assert.ok(doc.includes('```toml\n' + example + '```'), 'docs/configuration.md embeds canto.example.toml verbatim');
});

test('values are normalised: domains lower-cased, units converted', () => {
  const c = parseConfig(`
[c2s]
auth_timeout = 90
[s2s]
idle_timeout = "1h 30m"
[s2s.hosts]
"Partner.Example" = "[2001:db8::1]:5269"
[limits]
max_stanza_size = 65536
max_send_buffer = "2 MiB"
[[virtualhost]]
domain = "Example.COM"
[[component]]
domain = "MUC.example.com"
module = "muc"
`);
  assert.equal(c.c2s.auth_timeout, 90_000);
  assert.equal(c.s2s.idle_timeout, 5_400_000);
  assert.deepEqual(c.s2s.hosts, { 'partner.example': '[2001:db8::1]:5269' });
  assert.equal(c.limits.max_stanza_size, 65_536);
  assert.equal(c.limits.max_send_buffer, 2 * 1024 * 1024);
  assert.equal(c.virtualhost[0]?.domain, 'example.com');
  assert.equal(c.component[0]?.domain, 'muc.example.com');
});

test('empty port lists disable listeners and port 0 is allowed anywhere', () => {
  const c = parseConfig(`
[c2s]
ports = [0]
direct_tls_ports = []
[s2s]
ports = [0]
[http]
ports = []
tls_ports = []
`);
  assert.deepEqual(c.c2s.ports, [0]);
  assert.deepEqual(c.c2s.direct_tls_ports, []);
  assert.deepEqual(c.http.ports, []);
});

test('TOML syntax errors name file, line and column', () => {
  const err = configError('log_level = "info"\n\n[c2s]\nports = [5222,, 5223]\n');
  assert.equal(err.file, 'canto.toml');
  assert.equal(err.line, 4);
  assert.equal(typeof err.column, 'number');
  assert.match(err.message, /^canto\.toml, line 4, column \d+: TOML syntax error: /);
});

test('type errors name the key, its line and what was expected', () => {
  const err = configError(`# comment
[c2s]
require_encryption = "yes"
ports = [5222,
  70000]
`);
  issue(err, 'c2s.require_encryption', 3, /^expected a boolean \(true or false\), got "yes"$/);
  issue(err, 'c2s.ports[1]', 5, /^expected a port number \(0 to 65535\), got 70000$/);
  assert.equal(err.issues.length, 2);
  assert.equal(err.line, 3);
  assert.equal(err.key, 'c2s.require_encryption');
});

test('unknown keys are errors with a did-you-mean suggestion', () => {
  const err = configError(`
data_dirr = "/srv"
[c2s]
prots = [5222]
[[virtualhost]]
domain = "a.example"
[[virtualhost]]
domain = "b.example"
allow_registation = true
[http]
zzz = 1
`);
  issue(err, 'data_dirr', 2, /unknown key; did you mean `data_dir`\?/);
  issue(err, 'c2s.prots', 4, /did you mean `ports`\?/);
  issue(err, 'virtualhost[1].allow_registation', 9, /did you mean `allow_registration`\?/);
  issue(err, 'http.zzz', 11, /unknown key; known keys here: interfaces, ports/);
});

test('enum values get a suggestion too', () => {
  const err = configError('log_level = "warning"\nlog_format = "xml"\n');
  issue(err, 'log_level', 1, /expected one of "trace", .* \(did you mean "warn"\?\), got "warning"/);
  issue(err, 'log_format', 2, /expected one of "json", "text", "journald", got "xml"/);
});

test('lines are found for dotted keys, inline tables and nested tables', () => {
  const err = configError(`
c2s.auth_timeout = "5 parsecs"
limits = { max_depth = 64,
  max_attributes = "many" }
[s2s.hosts]
'a.example' = "nohost"
[modules.muc]
x = 1
[[component]]
domain = "c.example"
module = "m u c"
`);
  issue(err, 'c2s.auth_timeout', 2, /expected a duration .*unknown unit "parsecs"/);
  issue(err, 'limits.max_attributes', 4, /expected an integer >= 1, got "many"/);
  issue(err, 's2s.hosts."a.example"', 6, /expected a "host:port" address.*got "nohost"/);
  issue(err, 'component[0].module', 11, /expected a module name/);
});

test('line scanning is not fooled by strings, comments or CRLF line endings', () => {
  const text = [
    '# [c2s] in a comment: ports = "x"',
    '[modules.motd]',
    'text = """',
    '[c2s]',
    'ports = "not a key"',
    '"""',
    "literal = '''a ] } [ b'''",
    'list = [ [1, 2], { a = "]" }, # comment ]',
    '  "x" ]',
    '[ "c2s" ]   # quoted header with spaces',
    'direct_tls_ports = [5223]',
    'ports = "5222"',
    '[[virtualhost]]',
    'domain = "a.example"',
    '[[virtualhost]]',
    'domain = "b example"',
    '',
  ].join('\r\n');
  const err = configError(text);
  issue(err, 'c2s.ports', 12, /expected an array, got "5222"/);
  issue(err, 'virtualhost[1].domain', 16, /expected a domain name .*got "b example"/);
  assert.equal(err.issues.length, 2);
});

test('a single [table] where [[array]] is expected is explained', () => {
  const err = configError('\n[virtualhost]\ndomain = "x.example"\n');
  issue(err, 'virtualhost', 2, /expected an array of tables \(write \[\[virtualhost\]\]/);
});

test('cross-field: duplicate virtualhost domains (case-insensitive)', () => {
  const err = configError(`
[[virtualhost]]
domain = "a.example"
[[virtualhost]]
domain = "b.example"
[[virtualhost]]
domain = "A.Example"
`);
  issue(err, 'virtualhost[2].domain', 7, /duplicate virtualhost domain "a.example" \(already defined at virtualhost\[0\].domain, line 3\)/);
});

test('cross-field: a component domain that is also a virtualhost', () => {
  const err = configError(`
[[virtualhost]]
domain = "a.example"

[[component]]
domain = "muc.a.example"
module = "muc"

[[component]]
domain = "a.example"
secret = "s"
`);
  issue(err, 'component[1].domain', 10, /component domain "a.example" is also a virtualhost \(virtualhost\[0\].domain, line 3\)/);
  assert.equal(err.issues.length, 1);
});

test('cross-field: components need exactly one of secret and module', () => {
  const err = configError(`
[[component]]
domain = "both.example"
secret = "s"
module = "muc"

[[component]]
domain = "neither.example"
`);
  issue(err, 'component[0]', 2, /either secret .* or module .*, not both/);
  issue(err, 'component[1]', 7, /set secret .* or module/);
});

test('cross-field: certificate and key go together', () => {
  const err = configError(`
[[virtualhost]]
domain = "a.example"
certificate = "a.crt"

[[virtualhost]]
domain = "b.example"
key = "b.key"
`);
  issue(err, 'virtualhost[0].certificate', 4, /certificate is set but key is not/);
  issue(err, 'virtualhost[1].key', 8, /key is set but certificate is not/);
});

test('cross-field: invalid admin JIDs and too few SCRAM iterations', () => {
  const err = configError(`
admins = [
  "good@example.com",
  "nodomain@",
  "example.org",
  "with space@example.com",
]
[auth]
scram_iterations = 1000
`);
  issue(err, 'admins[1]', 4, /expected a bare JID such as "admin@example.com", got "nodomain@"/);
  issue(err, 'admins[3]', 6, /got "with space@example.com"/);
  issue(err, 'auth.scram_iterations', 9, /expected an integer >= 4096 .*got 1000/);
  assert.equal(err.issues.length, 3, 'a bare domain is a valid JID');
});

test('listeners: port clashes, proxies and interfaces are checked', () => {
  const err = configError(`
[c2s]
ports = [5269]
[http]
interfaces = []
trusted_proxies = ["10.0.0.0/8", "10.0.0.0/40", "::1", "proxy.local"]
cors_origins = ["https://ok.example", "https://bad.example/path"]
`);
  issue(err, 'c2s.ports[0]', 3, /port 5269 is also used by s2s.ports\[0\] \(by default\)/);
  issue(err, 'http.interfaces', 5, /expected at least one interface .*ports = \[\]/);
  issue(err, 'http.trusted_proxies[1]', 6, /expected an IP address or CIDR range.*got "10.0.0.0\/40"/);
  issue(err, 'http.trusted_proxies[3]', 6, /got "proxy.local"/);
  issue(err, 'http.cors_origins[1]', 7, /expected an origin/);
  // Different interfaces on the same port do not clash.
  const c = parseConfig('[c2s]\ninterfaces = ["127.0.0.1"]\nports = [5347]\n[component_listener]\ninterfaces = ["127.0.0.2"]\n');
  assert.deepEqual(c.c2s.ports, [5347]);
});

test('missing required keys point at the table header', () => {
  const err = configError('\n\n[[virtualhost]]\nallow_registration = true\n');
  issue(err, 'virtualhost[0].domain', 3, /^missing required key \(expected a domain name/);
});

test('all errors are reported, sorted by line, in one message', () => {
  const err = configError(`
log_level = 1
[limits]
max_depth = 0
[s2s]
secure_auth = "no"
`);
  assert.deepEqual(err.issues.map((i) => i.line), [2, 4, 6]);
  assert.match(err.message, /^3 problems in canto\.toml:\n {2}canto\.toml, line 2: log_level: .*\n {2}canto\.toml, line 4: limits\.max_depth: .*\n {2}canto\.toml, line 6: s2s\.secure_auth: expected a boolean/);
});

test('without a file name, messages say "line N"', () => {
  try {
    parseConfig('log_format = "xml"\n');
    assert.fail('should throw');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.file, undefined);
    assert.match(err.message, /^line 1: log_format: /);
  }
});

test('module option tables are free-form but must be tables', () => {
  const c = parseConfig('[modules.muc]\nmax_rooms = 10\nnested = { a = [1, 2] }\n[modules.mam]\n');
  // TOML tables may come back with a null prototype, so compare their JSON form.
  assert.deepEqual(JSON.parse(JSON.stringify(c.modules)), { muc: { max_rooms: 10, nested: { a: [1, 2] } }, mam: {} });
  const err = configError('[modules]\nmuc = 1\n');
  issue(err, 'modules.muc', 2, /expected a table, got 1/);
});

test('relative paths resolve against the config file directory', () => {
  const c = parseConfig(`
data_dir = "var/data"
[s2s]
ca_file = "../ca.pem"
[[virtualhost]]
domain = "a.example"
certificate = "/etc/canto/a.crt"
key = "a.key"
`, '/etc/canto/canto.toml');
  assert.equal(c.data_dir, '/etc/canto/var/data');
  assert.equal(c.s2s.ca_file, '/etc/ca.pem');
  assert.equal(c.virtualhost[0]?.certificate, '/etc/canto/a.crt');
  assert.equal(c.virtualhost[0]?.key, '/etc/canto/a.key');
  // Without a file, the cwd anchors them.
  assert.equal(parseConfig('data_dir = "d"\n').data_dir, resolve(process.cwd(), 'd'));
});

test('loadConfig: explicit path, ./canto.toml, defaults, and a missing file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'canto-config-'));
  const cwd = process.cwd();
  try {
    mkdirSync(join(dir, 'etc'));
    const file = join(dir, 'etc', 'server.toml');
    writeFileSync(file, 'data_dir = "state"\n[[virtualhost]]\ndomain = "loaded.example"\n');
    const loaded = loadConfig(file);
    assert.equal(loaded.file, file);
    assert.equal(loaded.config.data_dir, join(dir, 'etc', 'state'));
    assert.equal(loaded.config.virtualhost[0]?.domain, 'loaded.example');

    assert.throws(() => loadConfig(join(dir, 'nope.toml')), (err: unknown) =>
      err instanceof ConfigError && err.message === `config file not found: ${join(dir, 'nope.toml')}`);

    process.chdir(dir);
    const none = loadConfig();
    assert.equal(none.file, undefined);
    assert.deepEqual(none.config, defaultConfig());
    assert.equal(none.config.data_dir, join(dir, 'data'));

    writeFileSync(join(dir, 'canto.toml'), 'log_level = "debug"\n');
    const local = loadConfig();
    assert.equal(local.file, join(dir, 'canto.toml'));
    assert.equal(local.config.log_level, 'debug');

    // A relative explicit path is relative to the cwd; errors name it as given.
    writeFileSync(join(dir, 'bad.toml'), '\nlog_level = "loud"\n');
    assert.throws(() => loadConfig('bad.toml'), (err: unknown) =>
      err instanceof ConfigError && err.file === 'bad.toml' && err.line === 2 && /^bad\.toml, line 2: log_level: /.test(err.message));
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('[s2s] dns_servers takes IP addresses with optional ports, and names the key and line otherwise', () => {
  const ok = parseConfig('[s2s]\ndns_servers = ["127.0.0.1", "192.0.2.53:5353", "[::1]:53"]\n');
  assert.deepEqual(ok.s2s.dns_servers, ['127.0.0.1', '192.0.2.53:5353', '[::1]:53']);
  assert.throws(() => parseConfig('[s2s]\ndns_servers = ["ns1.example.com"]\n', 'canto.toml'), /canto\.toml, line 2: s2s\.dns_servers\[0\]: expected a DNS server's IP address/);
});

test('[acme]: a directory needs accept_terms; URLs and contacts are checked; defaults', () => {
  const ok = parseConfig(`
[acme]
directory = "https://acme.example/dir"
accept_terms = true
contact = ["admin@example.org"]
`);
  assert.equal(ok.acme.directory, 'https://acme.example/dir');
  assert.equal(ok.acme.challenge_port, 80);
  assert.equal(ok.acme.renew_before, 30 * 86_400_000);
  assert.equal(parseConfig('').acme.directory, undefined, 'off by default');
  assert.throws(
    () => parseConfig('[acme]\ndirectory = "https://acme.example/dir"\n'),
    (err: unknown) => err instanceof ConfigError && /accept_terms/.test(err.message) && /terms of service/.test(err.message),
  );
  assert.throws(() => parseConfig('[acme]\naccept_terms = true\ndirectory = "http://acme.example/dir"\n'), (err: unknown) => err instanceof ConfigError && err.line === 3 && /acme\.directory/.test(err.message));
  assert.throws(() => parseConfig('[acme]\ncontact = ["not an address"]\n'), (err: unknown) => err instanceof ConfigError && /e-mail/.test(err.message));
});

test('[cluster] redis and node_id: accepted when valid, errors name the key and line', () => {
  const c = parseConfig('[cluster]\nredis = "redis://127.0.0.1:6390/0"\nnode_id = "node-a.1"\n');
  assert.equal(c.cluster.redis, 'redis://127.0.0.1:6390/0');
  assert.equal(c.cluster.node_id, 'node-a.1');
  assert.equal(parseConfig('').cluster.redis, undefined);
  issue(configError('[cluster]\nredis = "http://127.0.0.1:6379"\n'), 'cluster.redis', 2, /expected a Redis URL/);
  issue(configError('[cluster]\nredis = "redis://127.0.0.1"\nnode_id = "a#b"\n'), 'cluster.node_id', 3, /expected a node id/);
  // workers = N with redis: N local nodes named {node_id}-1 … {node_id}-N, which must be valid ids too.
  const local = parseConfig('[cluster]\nworkers = 2\nredis = "redis://127.0.0.1"\nnode_id = "n"\n');
  assert.equal(local.cluster.workers, 2);
  assert.equal(local.cluster.redis, 'redis://127.0.0.1');
  parseConfig(`[cluster]\nworkers = 9\nredis = "redis://127.0.0.1"\nnode_id = "${'a'.repeat(61)}"\n`);
  issue(configError(`[cluster]\nworkers = 10\nredis = "redis://127.0.0.1"\nnode_id = "${'a'.repeat(61)}"\n`), 'cluster.node_id', 4, /longer than a node id may be/);
  issue(configError('[cluster]\nnode_id = "a"\n'), 'cluster.node_id', 2, /set \[cluster\] redis too/);
});

test('[cluster] lease: a duration from 2 s to 60 s, 6 s by default, only with redis', () => {
  assert.equal(parseConfig('').cluster.lease, 6000);
  assert.equal(parseConfig('[cluster]\nredis = "redis://127.0.0.1"\nlease = "15s"\n').cluster.lease, 15_000);
  assert.equal(parseConfig('[cluster]\nredis = "redis://127.0.0.1"\nlease = 2\n').cluster.lease, 2000);
  issue(configError('[cluster]\nredis = "redis://127.0.0.1"\nlease = "1s"\n'), 'cluster.lease', 3, /at least 2000/);
  issue(configError('[cluster]\nredis = "redis://127.0.0.1"\nlease = "2 minutes"\n'), 'cluster.lease', 3, /at most 60000/);
  issue(configError('[cluster]\nredis = "redis://127.0.0.1"\nlease = "soon"\n'), 'cluster.lease', 3, /expected a duration/);
  issue(configError('[cluster]\nlease = "10s"\n'), 'cluster.lease', 2, /set \[cluster\] redis too/);
});

test('[cluster] advertise_http: an http(s) base URL, only with redis', () => {
  const c = parseConfig('[cluster]\nredis = "redis://127.0.0.1"\nadvertise_http = "http://10.0.0.5:5280"\n');
  assert.equal(c.cluster.advertise_http, 'http://10.0.0.5:5280');
  assert.equal(parseConfig('[cluster]\nredis = "redis://127.0.0.1"\n').cluster.advertise_http, undefined);
  issue(configError('[cluster]\nredis = "redis://127.0.0.1"\nadvertise_http = "http://10.0.0.5:5280/http-bind"\n'), 'cluster.advertise_http', 3, /no path/);
  issue(configError('[cluster]\nredis = "redis://127.0.0.1"\nadvertise_http = "ftp://10.0.0.5"\n'), 'cluster.advertise_http', 3, /http\(s\) URL/);
  issue(configError('[cluster]\nadvertise_http = "http://10.0.0.5:5280"\n'), 'cluster.advertise_http', 2, /set \[cluster\] redis too/);
});
