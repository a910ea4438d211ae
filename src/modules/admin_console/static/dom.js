// @ts-check
/**
 * Building the page without innerHTML: every value from the server goes in as text, so nothing
 * it says can become markup or script.
 */

/**
 * An element with attributes (`on<event>` keys become listeners) and children (strings become text).
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...(Node | string | number | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else if (key === 'className') el.className = String(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'object' ? child : String(child));
  }
  return el;
}

/**
 * A table: a header row and one row per item, cells from `columns`.
 * @template T
 * @param {string[]} headings
 * @param {T[]} items
 * @param {(item: T) => Array<Node | string | number | null | undefined>} cells
 * @param {string} [empty]
 */
export function table(headings, items, cells, empty = 'None.') {
  if (items.length === 0) return h('p', { className: 'muted' }, empty);
  return h('table', {},
    h('thead', {}, h('tr', {}, ...headings.map((t) => h('th', {}, t)))),
    h('tbody', {}, ...items.map((item) => h('tr', {}, ...cells(item).map((c) => (c instanceof HTMLElement && c.tagName === 'TD' ? c : h('td', {}, c)))))),
  );
}

/** @param {number} ms */
export function when(ms) {
  return new Date(ms).toLocaleString();
}
