// The one rules document that the builder, the overview and the JSON editor share. The
// editor's text is the source of truth: the builder reads it (parseDoc) and writes a change
// back as text (serialize, applied to the editor as the smallest edit), so a change in
// one shows in the other and the editor's undo still works.
//
// Decision: the builder writes the document as JSON.stringify(doc, null, 2), the layout of
// examples/rules.json. A document laid out otherwise is re-laid out on the builder's first
// change (the values and key order stay; the Versions diff shows the new layout once).

/** The text the builder writes for a document. */
export function serialize(doc) {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** { doc, error: null } or { doc: null, error: { message, line, column } }. */
export function parseDoc(text) {
  try {
    return { doc: JSON.parse(text), error: null };
  } catch (e) {
    const m = /position (\d+)/.exec(e.message);
    let line = null;
    let column = null;
    if (m) {
      const before = text.slice(0, Number(m[1]));
      line = before.split('\n').length;
      column = Number(m[1]) - before.lastIndexOf('\n');
    } else {
      const lc = /line (\d+) column (\d+)/.exec(e.message);
      if (lc) { line = Number(lc[1]); column = Number(lc[2]); }
    }
    return { doc: null, error: { message: e.message, line, column } };
  }
}

/** The smallest single change turning `a` into `b`: { from, to, insert } (null when equal). */
export function textChange(a, b) {
  if (a === b) return null;
  let start = 0;
  const max = Math.min(a.length, b.length);
  while (start < max && a.charCodeAt(start) === b.charCodeAt(start)) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a.charCodeAt(endA - 1) === b.charCodeAt(endB - 1)) { endA--; endB--; }
  return { from: start, to: endA, insert: b.slice(start, endB) };
}

/**
 * The shared document over the rules editor: read() parses the editor's text; write(doc)
 * puts the document back as the smallest edit; onChange(fn) is called after either side
 * changed it (debounced for typing in the editor).
 */
export function sharedDocument(editor) {
  const listeners = new Set();
  let writing = false;
  let timer = null;
  const notify = (source) => { for (const fn of listeners) fn(source); };
  return {
    text: () => editor.getText(),
    read: () => parseDoc(editor.getText()),
    write(doc) {
      const change = textChange(editor.getText(), serialize(doc));
      if (!change) return false;
      writing = true;
      try { editor.view.dispatch({ changes: change }); } finally { writing = false; }
      notify('builder');
      return true;
    },
    /** Called by the editor's update listener for every text change. */
    editorChanged() {
      if (writing) return;
      clearTimeout(timer);
      timer = setTimeout(() => notify('editor'), 250);
    },
    onChange(fn) { listeners.add(fn); return () => listeners.delete(fn); },
  };
}
