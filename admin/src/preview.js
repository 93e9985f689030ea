// Rendered previews of block content: `{{attribute|fallback}}` placeholders filled with
// sample values, always HTML-escaped (as the Worker does), shown in an iframe with
// `sandbox=""` (no scripts, no forms, an opaque origin), so content being edited can
// never run in the admin page.

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ESC[c]);

/** Sample values for the preview, by attribute; signals get a small number. */
export function sampleValues(doc = {}) {
  const s = {
    utm_campaign: 'spring', utm_source: 'newsletter', utm_medium: 'email', utm_term: 'boots', utm_content: 'hero',
    path: '/products/trail-runner', url: 'https://shop.example/products/trail-runner', referrer_host: 'www.example.com',
    referrer: 'https://www.example.com/', device: 'mobile', country: 'DE', language: 'de', hour: 9, weekday: 1, id: '3f2a9c',
  };
  for (const name of Object.keys(doc.signals || {})) s[name] = 3;
  return s;
}

/**
 * Fills placeholders the way src/template.rs does: `{{ name }}` or `{{ name | fallback }}`,
 * trimmed; an unclosed `{{` stays as it is. A name with no sample shows its fallback.
 */
export function renderTemplate(text, samples = {}, { escape = true } = {}) {
  let out = '';
  let rest = String(text ?? '');
  for (;;) {
    const start = rest.indexOf('{{');
    if (start < 0) break;
    const len = rest.slice(start + 2).indexOf('}}');
    if (len < 0) break;
    out += rest.slice(0, start);
    const inner = rest.slice(start + 2, start + 2 + len);
    const bar = inner.indexOf('|');
    const name = (bar < 0 ? inner : inner.slice(0, bar)).trim();
    const fallback = bar < 0 ? '' : inner.slice(bar + 1).trim();
    const value = name.split('.').reduce((o, k) => (o == null ? undefined : o[k]), samples);
    const v = value === undefined || value === null ? fallback : typeof value === 'object' ? JSON.stringify(value) : value;
    out += escape ? escapeHtml(v) : String(v);
    rest = rest.slice(start + 2 + len + 2);
  }
  return out + rest;
}

/** The document shown in the preview frame: the store's stylesheet, then the content. */
export function previewDocument(html, { stylesheet = '/styles.css' } = {}) {
  return `<!doctype html><html><head><meta charset="utf-8"><base href="/" target="_blank">`
    + (stylesheet ? `<link rel="stylesheet" href="${escapeHtml(stylesheet)}">` : '')
    + '<style>body{margin:8px;font:14px system-ui,sans-serif}</style></head><body>'
    + `${html}</body></html>`;
}

/** A sandboxed iframe showing `html` (already rendered); update(html) replaces it. */
export function previewFrame(title) {
  const frame = document.createElement('iframe');
  frame.className = 'content-preview';
  frame.setAttribute('sandbox', '');
  frame.setAttribute('title', title);
  frame.setAttribute('referrerpolicy', 'no-referrer');
  return {
    el: frame,
    update(html) { frame.srcdoc = previewDocument(html); },
  };
}

/** What a content spec puts on the page, as one HTML string for the preview. */
export function contentPreviewHtml(spec, samples, defaultHtml = '<p><em>(the block’s default content)</em></p>') {
  if (!spec || typeof spec !== 'object') return '';
  const r = (t) => renderTemplate(t, samples);
  if (spec.remove) return '<p><em>(the block is removed)</em></p>';
  let middle;
  if (typeof spec.outer_html === 'string') middle = r(spec.outer_html);
  else {
    const attrs = spec.set_attributes && typeof spec.set_attributes === 'object'
      ? Object.entries(spec.set_attributes).map(([k, v]) => ` ${escapeHtml(k)}="${escapeHtml(renderTemplate(v, samples, { escape: false }))}"`).join('') : '';
    middle = `<div${attrs}>${typeof spec.inner_html === 'string' ? r(spec.inner_html) : defaultHtml}</div>`;
  }
  return `${typeof spec.before === 'string' ? r(spec.before) : ''}${middle}${typeof spec.after === 'string' ? r(spec.after) : ''}`;
}
