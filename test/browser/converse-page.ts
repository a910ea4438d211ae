/**
 * The page the Converse.js browser test serves: Converse from node_modules (served under
 * `assetsPath`), logging in automatically over one connection method. Nothing is fetched
 * from the internet: assets come from our own server and avatars/previews are off.
 */
import { escapeAttr } from '../../src/xml/escape.js';

export interface ConversePageOptions {
  /** URL prefix where node_modules/converse.js/dist is served, ending in "/". */
  assetsPath: string;
  jid: string;
  password: string;
  /** Exactly one of these. */
  websocketUrl?: string;
  boshUrl?: string;
}

export function conversePage(o: ConversePageOptions): string {
  const settings: Record<string, unknown> = {
    assets_path: o.assetsPath,
    view_mode: 'fullscreen',
    auto_login: true,
    jid: o.jid,
    password: o.password,
    discover_connection_methods: false,
    loglevel: 'debug',
    allow_non_roster_messaging: true,
    i18n: 'en',
    // Keep the page self-contained and quiet.
    show_images_inline: false,
    embed_3rd_party_media_players: false,
    allowed_image_domains: [],
    allowed_video_domains: [],
    allowed_audio_domains: [],
    fetch_url_headers: false,
    show_client_info: false,
    play_sounds: false,
    show_desktop_notifications: false,
    persistent_store: 'sessionStorage',
    clear_cache_on_logout: true,
    ...(o.websocketUrl !== undefined ? { websocket_url: o.websocketUrl } : {}),
    ...(o.boshUrl !== undefined ? { bosh_service_url: o.boshUrl } : {}),
  };
  // JSON inside <script>: escape "<" so no string can close the element.
  const json = JSON.stringify(settings).replace(/</g, '\\u003c');
  const css = escapeAttr(`${o.assetsPath}converse.min.css`);
  const js = `${o.assetsPath}converse.min.js`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Canto × Converse.js</title>
<link rel="stylesheet" href="${css}">
</head>
<body class="converse-fullscreen">
<script type="module">
  // converse.js 14 is an ES module whose default export is the converse object.
  import converse from ${JSON.stringify(js)};
  converse.initialize(${json}).catch((e) => { window.conversePageError = String(e && e.stack || e); });
</script>
</body>
</html>
`;
}
