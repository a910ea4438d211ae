#!/usr/bin/env bash
# Installs the Debian packages the test suite uses beyond npm (real peers and clients).
# Idempotent: does nothing when everything is present. Needs root (CI and dev machines are).
set -euo pipefail
need=()
# Packages are added here as the suite starts using them (prosody, chromium, nginx).
# python3-slixmpp: the second client stack (test/interop/slixmpp*.test.ts, run with /usr/bin/python3).
# nginx: the reverse proxy in test/integration/nginx-proxy.test.ts (the test runs its own instance
# on a loopback port; the package's system service is not needed and may stay stopped).
# chromium: Debian's headless browser for test/browser/converse.test.ts (driven by playwright-core
# with executablePath=/usr/bin/chromium; playwright never downloads a browser of its own).
# prosody: the federation peer in test/interop/prosody-federation.test.ts (the test runs its own
# instance with a temp config on loopback; the package's system service may stay stopped).
# dnsmasq-base: a private DNS server on loopback for the s2s resolution tests
# (test/integration/s2s-dns.test.ts; the binary only, no system service).
# ejabberd: the second federation peer in test/interop/ejabberd-federation.test.ts, and the source
# of a real XEP-0227 export in test/interop/ejabberd-migration.test.ts (each test runs its own
# Erlang VM with a private config, spool and log on loopback; the system service and epmd are
# never needed, and are kept from starting at install time, below).
# coturn: the TURN server of test/interop/coturn.test.ts (the test runs its own turnserver on
# loopback with private ports and a temp dir, and turnutils_uclient; the system service may stay
# stopped).
# postgresql: the PostgreSQL storage driver's conformance suite and the cluster tests (each test
# runs its own initdb + pg_ctl on a loopback port in a temp dir; the system cluster stays stopped).
# redis-server: the cluster engine in the cluster tests (private instances on loopback ports, no
# persistence; the system service may stay stopped).
# pebble: the ACME test CA of test/integration/acme.test.ts (a private instance on loopback ports
# with its own temp config; no service).
# libjemalloc2: the allocator bin/canto preloads when the system has it (test/unit/runtime-flags.test.ts
# checks the launcher picks it; docs/configuration.md, "memory allocator").
# lua-dbi-sqlite3: Prosody's SQL storage on SQLite, for the --from prosody-sql importer test
# (test/interop/prosody-migration.test.ts).
PACKAGES=(openssl libjemalloc2 python3-slixmpp nginx chromium prosody dnsmasq-base ejabberd coturn postgresql redis-server pebble lua-dbi-sqlite3)
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "install-test-deps: installing ${need[*]}"
  # Packages with a system service (prosody, ejabberd, nginx) would start it on the default
  # ports from their postinst; a policy-rc.d that denies starting keeps them stopped. An existing
  # policy (containers often have one) is left as it is.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# Written by canto scripts/install-test-deps.sh for the install only.\nexit 101\n' > "$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
