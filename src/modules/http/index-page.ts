/** The page at `/`: the server's name and version, and the titled endpoints mounted on it. */
import type { HttpRouter } from '../../net/http-router.js';
import { escapeAttr, escapeText } from '../../xml/escape.js';

export function indexPage(version: string, router: HttpRouter, scheme: 'http' | 'https', host: string | undefined): string {
  const items = router
    .index()
    .filter((e) => e.path !== '/')
    .map((e) => {
      if (!e.linkable) return `<li>${escapeText(e.title)}: <code>${escapeText(e.path)}</code></li>`;
      const href = e.upgrade && host ? `${scheme === 'https' ? 'wss' : 'ws'}://${host}${e.path}` : e.path;
      return `<li>${escapeText(e.title)}: <a href="${escapeAttr(href)}">${escapeText(href)}</a></li>`;
    })
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Canto</title></head>
<body>
<h1>Canto XMPP server ${escapeText(version)}</h1>
<p>This is an XMPP server. Use an XMPP client to connect; web clients use the endpoints below.</p>
<ul>
${items}
</ul>
</body></html>
`;
}
