/**
 * Open one listening socket per (interface, port). `"*"` means every address: a single
 * dual-stack socket on `::` where the machine has IPv6, else `0.0.0.0`.
 */
import type { Server as NetServer } from 'node:net';
import type { Logger } from '../core/logging.js';

export class ListenError extends Error {}

export async function listenAll(interfaces: string[], ports: number[], make: () => NetServer, log: Logger): Promise<NetServer[]> {
  const servers: NetServer[] = [];
  try {
    for (const port of ports) {
      for (const iface of interfaces) {
        const server = make();
        await listenOne(server, iface, port);
        servers.push(server);
      }
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }
  for (const s of servers) log.debug({ address: s.address() }, 'listening');
  return servers;
}

function listenOne(server: NetServer, iface: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (iface === '*' && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL')) {
        // No IPv6 on this machine: fall back to IPv4 only.
        server.once('error', (e: NodeJS.ErrnoException) => reject(describe(e, '0.0.0.0', port)));
        server.listen({ host: '0.0.0.0', port }, () => resolve());
        return;
      }
      reject(describe(err, iface, port));
    };
    server.once('error', onError);
    server.listen({ host: iface === '*' ? '::' : iface, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function describe(err: NodeJS.ErrnoException, iface: string, port: number): ListenError {
  const where = `${iface.includes(':') ? `[${iface}]` : iface}:${port}`;
  if (err.code === 'EADDRINUSE') return new ListenError(`cannot listen on ${where}: the port is already in use (is another server running?)`);
  if (err.code === 'EACCES') return new ListenError(`cannot listen on ${where}: permission denied (ports below 1024 need privileges)`);
  if (err.code === 'EADDRNOTAVAIL') return new ListenError(`cannot listen on ${where}: this machine has no such address`);
  return new ListenError(`cannot listen on ${where}: ${err.message}`);
}
