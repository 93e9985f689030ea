// A line diff (Myers' O(ND) algorithm after trimming the common prefix and suffix)
// and its rendering as unified hunks with a few lines of context.

/**
 * Diffs two texts by lines. Returns [{op: ' ' | '-' | '+', text, a, b}], where a / b are the
 * 1-based line numbers in the old / new text (null on the side the line is not in).
 */
export function diffLines(oldText, newText) {
  const a = splitLines(oldText);
  const b = splitLines(newText);
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const midA = a.slice(pre, a.length - suf);
  const midB = b.slice(pre, b.length - suf);
  const ops = [];
  for (let i = 0; i < pre; i++) ops.push(' ');
  ops.push(...myers(midA, midB));
  for (let i = 0; i < suf; i++) ops.push(' ');
  const out = [];
  let i = 0;
  let j = 0;
  for (const op of ops) {
    if (op === ' ') { out.push({ op, text: a[i], a: i + 1, b: j + 1 }); i++; j++; }
    else if (op === '-') { out.push({ op, text: a[i], a: i + 1, b: null }); i++; }
    else { out.push({ op, text: b[j], a: null, b: j + 1 }); j++; }
  }
  return out;
}

function splitLines(text) {
  if (text === '' || text == null) return [];
  const lines = String(text).split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

// Shortest edit script as a list of ' ', '-', '+'; deletions before insertions in a change.
function myers(a, b) {
  const n = a.length;
  const m = b.length;
  if (n === 0) return Array(m).fill('+');
  if (m === 0) return Array(n).fill('-');
  const max = n + m;
  const off = max + 1;
  let v = new Int32Array(2 * max + 3);
  const trace = [];
  let found = -1;
  for (let d = 0; d <= max && found < 0; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = (k === -d || (k !== d && v[off + k - 1] < v[off + k + 1])) ? v[off + k + 1] : v[off + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) { x++; y++; }
      v[off + k] = x;
      if (x >= n && y >= m) { found = d; break; }
    }
  }
  // Walk the trace back from (n, m).
  const ops = [];
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    const pv = trace[d];
    const k = x - y;
    const prevK = (k === -d || (k !== d && pv[off + k - 1] < pv[off + k + 1])) ? k + 1 : k - 1;
    const prevX = pv[off + prevK];
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) { ops.push(' '); x--; y--; }
    if (x === prevX) { ops.push('+'); y--; } else { ops.push('-'); x--; }
  }
  while (x > 0 && y > 0) { ops.push(' '); x--; y--; }
  return ops.reverse();
}

/** Counts of added and removed lines. */
export function diffStats(lines) {
  let added = 0;
  let removed = 0;
  for (const l of lines) {
    if (l.op === '+') added++;
    else if (l.op === '-') removed++;
  }
  return { added, removed };
}

/**
 * Renders a diff as an element: changed lines with `context` unchanged lines around them,
 * longer unchanged runs folded into a "… N unchanged lines" row.
 */
export function renderDiff(lines, { oldLabel = 'old', newLabel = 'new', context = 3 } = {}) {
  const wrap = document.createElement('div');
  wrap.className = 'diff';
  const { added, removed } = diffStats(lines);
  const head = document.createElement('div');
  head.className = 'diff-head';
  head.innerHTML = `<span class="diff-del">− ${esc(oldLabel)}</span> <span class="diff-add">+ ${esc(newLabel)}</span>
    <span class="diff-count">${added ? `+${added}` : ''} ${removed ? `−${removed}` : ''}</span>`;
  wrap.append(head);
  const table = document.createElement('div');
  table.className = 'diff-body';
  wrap.append(table);
  if (!added && !removed) {
    const same = document.createElement('div');
    same.className = 'diff-same';
    same.textContent = 'No differences.';
    table.append(same);
    return wrap;
  }
  const keep = new Uint8Array(lines.length);
  lines.forEach((l, i) => {
    if (l.op !== ' ') for (let j = Math.max(0, i - context); j <= Math.min(lines.length - 1, i + context); j++) keep[j] = 1;
  });
  let skipped = 0;
  const flush = () => {
    if (!skipped) return;
    const row = document.createElement('div');
    row.className = 'diff-fold';
    row.textContent = `… ${skipped} unchanged line${skipped === 1 ? '' : 's'}`;
    table.append(row);
    skipped = 0;
  };
  lines.forEach((l, i) => {
    if (!keep[i]) { skipped++; return; }
    flush();
    const row = document.createElement('div');
    row.className = `diff-line ${l.op === '+' ? 'diff-add' : l.op === '-' ? 'diff-del' : 'diff-ctx'}`;
    row.innerHTML = `<span class="ln">${l.a ?? ''}</span><span class="ln">${l.b ?? ''}</span><span class="op">${l.op === ' ' ? '' : l.op === '-' ? '−' : '+'}</span><code></code>`;
    row.querySelector('code').textContent = l.text;
    table.append(row);
  });
  flush();
  return wrap;
}

export function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
