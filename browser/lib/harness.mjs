// What the browser suite needs around the browser: a fresh Convene on a free
// port with its own SQLite database, the API calls that set up the world,
// and chromium with axe-core. Nothing here fetches anything from the network
// except Convene itself on 127.0.0.1.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, readFileSync, rmSync, copyFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '..', '..');
export const SHOTS = join(ROOT, 'artifacts', 'screenshots');
export const DOCS_SHOTS = join(ROOT, 'docs', 'screenshots');
const BIN = resolve(ROOT, process.env.CONVENE_BIN || 'target/debug/convene');
const CHROMIUM = process.env.CONVENE_CHROMIUM || '/usr/bin/chromium';
const AXE = readFileSync(join(ROOT, 'browser', 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** A running Convene with one application and one admin. */
export async function startConvene({ ou, adminEmail, adminPassword }) {
  const dir = mkdtempSync(join(tmpdir(), 'convene-browser-'));
  const db = `sqlite://${join(dir, 'convene.db')}`;
  const cli = (args, input) =>
    execFileSync(BIN, [...args, '--database-url', db], {
      input,
      encoding: 'utf8',
      env: { ...process.env, CONVENE_LOG: 'warn' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
  // Where the authorize page's flow returns to: a page the suite serves.
  const redirectUri = 'http://127.0.0.1:9/oauth/callback';
  const app = JSON.parse(cli(['app', 'create', '--name', 'Browser suite', '--organizational-unit', ou, '--redirect-uri', redirectUri]));
  const admin = JSON.parse(cli(['admin', 'add', '--email', adminEmail, '--organizational-unit', ou], `${adminPassword}\n`));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  mkdirSync(join(ROOT, 'artifacts'), { recursive: true });
  const log = openSync(join(ROOT, 'artifacts', 'browser-server.log'), 'w');
  const proc = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--public-url', base, '--database-url', db], {
    stdio: ['ignore', log, log],
    env: { ...process.env, CONVENE_LOG: process.env.CONVENE_LOG || 'info,sqlx=warn' },
  });
  let exited = null;
  proc.on('exit', (code) => { exited = code; });
  for (let i = 0; ; i++) {
    if (exited !== null) throw new Error(`convene serve exited with ${exited}; see artifacts/browser-server.log`);
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (i > 300) throw new Error('convene serve did not answer /healthz within 30 s');
    await sleep(100);
  }
  return {
    base,
    app,
    admin,
    redirectUri,
    /** Registers another redirect URI for the application. */
    setRedirectUri(uri) {
      cli(['app', 'set-redirect-uri', '--client-id', app.client_id, '--redirect-uri', uri]);
    },
    async stop() {
      if (exited === null) {
        proc.kill('SIGTERM');
        for (let i = 0; i < 50 && exited === null; i++) await sleep(100);
        if (exited === null) proc.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A JSON call to Convene's API; answers [status, body]. */
export async function api(base, method, path, { bearer, body } = {}) {
  const headers = { accept: 'application/json' };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (body) headers['content-type'] = 'application/json';
  const r = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = text; }
  return [r.status, json];
}

export async function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Playwright gives each launch a fresh, throwaway user-data-dir.
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
  });
}

/**
 * Watches a page for what must never happen: script errors and console
 * errors (a CSP refusal of our own scripts shows up there).
 */
export function watch(page, problems) {
  page.on('pageerror', (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // The page's own status (401 for a refused sign-in, 422 for a rejected
    // form) is deliberate; a failing stylesheet or script is not.
    const own = m.text().startsWith('Failed to load resource') && m.location().url === page.url();
    if (!own) problems.push(`console error on ${page.url()}: ${m.text()}`);
  });
  return page;
}

/**
 * Runs axe-core in the page. The source is evaluated through the DevTools
 * protocol, which the pages' CSP does not apply to, so the pages are tested
 * with their real CSP in force. Returns the serious and critical violations.
 */
export async function axe(page) {
  const loaded = await page.evaluate(() => typeof window.axe === 'object');
  if (!loaded) await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ['violations'], runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } }),
  );
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`);
}

export async function screenshot(page, name, { fullPage = true } = {}) {
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}

/**
 * The README's screenshots: refreshed when asked (CONVENE_UPDATE_DOCS_
 * SCREENSHOTS=1) or when missing, so ordinary runs leave committed files
 * alone.
 */
export function publish(path, name) {
  const to = join(DOCS_SHOTS, `${name}.png`);
  if (process.env.CONVENE_UPDATE_DOCS_SCREENSHOTS === '1' || !existsSync(to)) {
    mkdirSync(DOCS_SHOTS, { recursive: true });
    copyFileSync(path, to);
  }
}

/** `HH:MM` of an instant in a zone, as the recipient page prints it. */
export function hhmm(iso, timeZone) {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(iso));
}
