// Builds the admin page: admin/src/main.js (+ its CSS) -> www/__edgeseg/admin/{app.js,app.css,index.html}.
// `make worker` (so `make dev`, `make test` and `make deploy`) runs it when admin/, this file or the
// schema it embeds changed; `npm run build:admin` runs it by hand. The output is not committed (it
// is in .gitignore): the Worker serves it as static assets, and tests/e2e/admin-page.test.mjs fails
// when it is stale (bundle() compared with the files).
import { build } from 'esbuild';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const HERE = dirname(fileURLToPath(import.meta.url));
export const OUT = resolve(HERE, '..', 'www', '__edgeseg', 'admin');
/**
 * The budget of app.js as a browser downloads it (gzipped; the Worker's assets are served
 * compressed). It was 600 KB raw while the page had CodeMirror, uPlot and the builder; the
 * experiment, identity and content-review screens put it past that at ~200 KiB gzipped.
 */
export const LIMIT_GZIPPED = 256 * 1024;

/** Bundles in memory; returns { 'index.html': Uint8Array, 'app.js': ..., 'app.css': ... }. */
export async function bundle() {
  const result = await build({
    entryPoints: { app: join(HERE, 'src', 'main.js') },
    outdir: OUT,
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    legalComments: 'none',
    logLevel: 'warning',
    write: false,
  });
  const files = { 'index.html': await readFile(join(HERE, 'index.html')) };
  for (const f of result.outputFiles) files[f.path.slice(OUT.length + 1)] = f.contents;
  return files;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const files = await bundle();
  // Checked before writing: make takes fresh files for a good build and would not run this again.
  const gzipped = gzipSync(files['app.js'], { level: 9 }).length;
  if (gzipped > LIMIT_GZIPPED) {
    console.error(`app.js is ${gzipped} bytes gzipped, over the ${LIMIT_GZIPPED}-byte budget`);
    process.exit(1);
  }
  await mkdir(OUT, { recursive: true });
  for (const [name, data] of Object.entries(files)) {
    await writeFile(join(OUT, name), data);
    const zipped = name === 'app.js' ? ` (${(gzipped / 1024).toFixed(1)} KiB gzipped, budget ${LIMIT_GZIPPED / 1024})` : '';
    console.log(`${name.padEnd(11)} ${(data.length / 1024).toFixed(1)} KB${zipped}`);
  }
}
