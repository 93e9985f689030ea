// Builds the admin page: admin/src/main.js (+ its CSS) -> www/__edgeseg/admin/{app.js,app.css,index.html}.
// Run with `npm run build:admin`. The output is committed: the Worker serves it as static assets.
import { build } from 'esbuild';
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = resolve(HERE, '..', 'www', '__edgeseg', 'admin');
const LIMIT = 600 * 1024;

await mkdir(OUT, { recursive: true });
await build({
  entryPoints: { app: join(HERE, 'src', 'main.js') },
  outdir: OUT,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile(join(HERE, 'index.html'), join(OUT, 'index.html'));

for (const f of ['index.html', 'app.js', 'app.css']) {
  const { size } = await stat(join(OUT, f));
  console.log(`${f.padEnd(11)} ${(size / 1024).toFixed(1)} KB`);
}
const { size: js } = await stat(join(OUT, 'app.js'));
if (js > LIMIT) {
  console.error(`app.js is ${js} bytes, over the ${LIMIT}-byte budget`);
  process.exit(1);
}
