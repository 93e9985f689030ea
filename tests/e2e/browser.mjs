// Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by
// playwright-core (never `npx playwright install`, which downloads a browser).
import { mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT } from './harness.mjs';

export const CHROMIUM = process.env.EDGESEG_CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOTS = join(ROOT, 'test-output', 'screenshots');

const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

/** Why the browser tests cannot run here, or null when they can. */
export function browserMissing() {
  return existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`;
}

/** Saves a full-page PNG to test-output/screenshots/NAME.png; returns the path. */
export async function screenshot(page, name) {
  await mkdir(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name.replace(/[^A-Za-z0-9_.-]+/g, '-')}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Launches Chromium. Returns { browser, newPage(viewport), screenshot(page, name), close() }.
 * newPage gets its own context (its own cookie jar). close() is idempotent and is also
 * run on process exit, so a failing test never leaves a browser behind.
 */
export async function launchBrowser() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
  const contexts = [];
  let closed = false;
  const pid = browser.process?.()?.pid;
  const onExit = () => { if (!closed && pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } } };
  process.once('exit', onExit);
  const close = async () => {
    if (closed) return;
    closed = true;
    process.removeListener('exit', onExit);
    for (const c of contexts) await c.close().catch(() => {});
    await browser.close().catch(() => {});
  };
  const newPage = async (viewport = { width: 1280, height: 800 }) => {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (err) => { page.__errors = [...(page.__errors || []), err]; });
    return page;
  };
  return { browser, newPage, screenshot, close };
}

/** Runs fn({browser, newPage, screenshot}) with a fresh browser, closing it however fn ends. */
export async function withBrowser(fn) {
  const b = await launchBrowser();
  try {
    return await fn(b);
  } finally {
    await b.close();
  }
}
