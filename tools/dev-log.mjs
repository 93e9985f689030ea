// `make dev` pipes wrangler dev's stderr through this. A visitor who closes the tab
// mid-page makes workerd report the lost connection as a red error block
// ("✘ [ERROR] Uncaught Error: Network connection lost." in wrangler 4.86, or a
// `kj ... Broken pipe` block with its stack); wrangler has no option to quiet only
// that (--log-level would hide every request line and the Worker's own logs).
// This folds exactly those blocks into one dim line and passes every other line
// through as it came, colours included.
import { createInterface } from 'node:readline';

// Ctrl-C reaches the whole process group: keep reading until wrangler's last line.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});

const ANSI = /\x1b\[[0-9;]*m/g;
const LOST = /^✘ \[ERROR\] Uncaught Error: Network connection lost\.\s*$/;
const BROKEN_PIPE = /\bkj\b.*Broken pipe|Broken pipe.*\bkj\//;
const QUIET = (what) => `\x1b[2m[edgeseg] a client closed its connection mid-response (${what})\x1b[0m`;

/** Lines after a folded block that belong to it: blanks, and for kj its indented stack. */
let swallow = null;

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  const plain = line.replace(ANSI, '');
  if (swallow) {
    if (plain.trim() === '' || (swallow === 'stack' && /^(\s|stack:)/.test(plain))) continue;
    swallow = null;
  }
  if (LOST.test(plain)) {
    console.error(QUIET('Network connection lost'));
    swallow = 'blank';
  } else if (BROKEN_PIPE.test(plain)) {
    console.error(QUIET('Broken pipe'));
    swallow = 'stack';
  } else {
    console.error(line);
  }
}
