// Bundles the dashboard (web/dashboard, plain ES modules with Preact and htm) into dist/dashboard:
// one minified script, its stylesheet and page; no CDN, nothing fetched at run time.
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(root, 'dist/dashboard');
await mkdir(out, { recursive: true });
await build({
  entryPoints: [resolve(root, 'web/dashboard/app.js')],
  outfile: resolve(out, 'app.js'),
  bundle: true,
  format: 'esm',
  minify: true,
  sourcemap: true,
  target: ['chrome110', 'firefox110', 'safari16'],
  logLevel: 'warning',
});
for (const file of ['index.html', 'style.css']) await copyFile(resolve(root, 'web/dashboard', file), resolve(out, file));
