// The rules editor: CodeMirror 6 with line numbers, JSON highlighting, and the
// server's validation errors shown as lint diagnostics at their lines.
import { basicSetup } from 'codemirror';
import { EditorView, keymap } from '@codemirror/view';
import { EditorState } from '@codemirror/state';
import { json } from '@codemirror/lang-json';
import { lintGutter, setDiagnostics, forEachDiagnostic } from '@codemirror/lint';

export function createEditor(parent, { onChange, onSave } = {}) {
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: '',
      extensions: [
        basicSetup,
        json(),
        lintGutter(),
        keymap.of([
          { key: 'Mod-s', preventDefault: true, run: () => { onSave?.(); return true; } },
        ]),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ 'aria-label': 'Rules document (JSON)' }),
        EditorView.updateListener.of((u) => { if (u.docChanged) onChange?.(); }),
      ],
    }),
  });

  return {
    view,
    getText: () => view.state.doc.toString(),
    /** Replaces the whole text (clears diagnostics). */
    setText(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
      view.dispatch(setDiagnostics(view.state, []));
    },
    /**
     * Shows errors [{path, message, line, column, severity?}] as diagnostics (severity 'warning'
     * for what a save only warns about). Errors without a line get
     * no marker (the list below the editor shows them). Returns the errors with resolved offsets.
     */
    showErrors(errors) {
      const doc = view.state.doc;
      const diagnostics = [];
      const placed = errors.map((e) => {
        if (!Number.isInteger(e.line) || e.line < 1) return { ...e, from: null };
        const line = doc.line(Math.min(e.line, doc.lines));
        let from = line.from;
        if (Number.isInteger(e.column) && e.column >= 1) from = Math.min(line.to, line.from + e.column - 1);
        // Underline from the column to the end of the line (trimmed), or the whole line.
        let to = line.from + line.text.replace(/[\s,]+$/, '').length;
        if (to <= from) { from = line.from + (line.text.length - line.text.trimStart().length); to = line.to; }
        if (to <= from) to = Math.min(doc.length, from + 1);
        const message = e.path ? `${e.path}: ${e.message}` : e.message;
        diagnostics.push({ from, to, severity: e.severity === 'warning' ? 'warning' : 'error', message, source: 'edgeseg' });
        return { ...e, from };
      });
      view.dispatch(setDiagnostics(view.state, diagnostics));
      const first = placed.find((p) => p.from !== null);
      if (first) view.dispatch({ effects: EditorView.scrollIntoView(first.from, { y: 'center' }) });
      return placed;
    },
    clearErrors() { view.dispatch(setDiagnostics(view.state, [])); },
    diagnosticCount() {
      let n = 0;
      forEachDiagnostic(view.state, () => { n++; });
      return n;
    },
    /** Moves the cursor to an offset, scrolls there and focuses the editor. */
    goTo(pos) {
      view.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: 'center' }) });
      view.focus();
    },
  };
}
