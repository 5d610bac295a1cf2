// Drives the dashboard (/ui) in Debian's chromium through playwright-core, for
// tests/integration/ui_test.sh. Prints one "PASS name" or "FAIL name: why" line
// per check (counted by scripts/run-tests.sh) and "# screenshot PATH" lines.
//
// Environment: UI_BASE (https://127.0.0.1:PORT), UI_OP_TOKEN, UI_OP_NAME,
// UI_VENDOR_TOKEN, UI_VENDOR_MFR, UI_DEVICE (an active device with one valid
// certificate), UI_HOSTILE (a device whose location is markup), UI_EXPECT (JSON:
// {"total":N,"active":N,...,"valid_certs":N}), UI_ARTIFACTS (screenshot dir),
// UI_CERT_DIR/UI_CERT_NAME (an operator certificate: NAME.pem, NAME.key),
// UI_PIDFILE (where the browser's pid goes, so the shell can kill it),
// CHROMIUM (default /usr/bin/chromium).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (k, d) => {
	const v = process.env[k] ?? d;
	if (v === undefined)
		throw new Error(`dashboard.mjs: ${k} is not set`);
	return v;
};
const BASE = env('UI_BASE');
const OP_TOKEN = env('UI_OP_TOKEN');
const OP_NAME = env('UI_OP_NAME');
const VENDOR_TOKEN = env('UI_VENDOR_TOKEN');
const VENDOR_MFR = env('UI_VENDOR_MFR');
const DEVICE = env('UI_DEVICE');
const HOSTILE = env('UI_HOSTILE');
const EXPECT = JSON.parse(env('UI_EXPECT'));
const ART = env('UI_ARTIFACTS');
const CERT_DIR = env('UI_CERT_DIR');
const CERT_NAME = env('UI_CERT_NAME');
const STEP_MS = 10000;

let failed = 0;
const pass = (n) => console.log(`PASS ui: ${n}`);
const fail = (n, why) => {
	failed++;
	console.log(`FAIL ui: ${n}: ${String(why).split('\n')[0].slice(0, 400)}`);
};
// check(name, async fn): fn throws (or returns a string) to fail.
async function check(name, fn) {
	try {
		const r = await fn();
		if (typeof r === 'string')
			fail(name, r);
		else
			pass(name);
		return typeof r !== 'string';
	} catch (e) {
		fail(name, e.message || e);
		return false;
	}
}
function eq(what, want, got) {
	if (String(want) !== String(got))
		throw new Error(`${what}: want '${want}', got '${got}'`);
}

mkdirSync(ART, { recursive: true });
async function shot(page, name) {
	const p = join(ART, name);
	await page.screenshot({ path: p, fullPage: true });
	console.log(`# screenshot ${p}`);
}

// Every page reports script errors, CSP violations and alert()s: none may happen.
const problems = [];
function watch(page, who) {
	page.on('pageerror', (e) => problems.push(`${who}: page error: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() === 'error' && !/status of 401/.test(m.text()))
			problems.push(`${who}: console: ${m.text()}`);
	});
	page.on('dialog', (d) => {
		problems.push(`${who}: a native ${d.type()} dialog opened: ${d.message()}`);
		d.dismiss().catch(() => {});
	});
}

const server = await chromium.launchServer({
	executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
	args: ['--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
	timeout: 60000,
});
if (process.env.UI_PIDFILE && server.process())
	writeFileSync(process.env.UI_PIDFILE, String(server.process().pid));
const browser = await chromium.connect(server.wsEndpoint());

try {
	// The server's certificate chains to the test's own root: not the browser's.
	const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
	ctx.setDefaultTimeout(STEP_MS);
	const page = await ctx.newPage();
	watch(page, 'operator');

	await check('the dashboard loads and asks to sign in', async () => {
		const r = await page.goto(`${BASE}/ui/`);
		eq('status', 200, r.status());
		if (!/default-src 'self'/.test(r.headers()['content-security-policy'] || ''))
			return 'no strict Content-Security-Policy header';
		await page.locator('form#signin input#token').waitFor();
	});
	await shot(page, 'signin.png');

	await check('a wrong token is refused with a message', async () => {
		await page.fill('#token', 'dta_0000000000000000_' + '0'.repeat(64));
		await page.click('#signin-submit');
		await page.locator('#signin-error', { hasText: /not accepted/ }).waitFor();
		eq('token stored', null, await page.evaluate(() => sessionStorage.getItem('devtrust.token')));
	});

	await check('sign in with an operator token', async () => {
		await page.fill('#token', OP_TOKEN);
		await page.click('#signin-submit');
		await page.locator('#who-name', { hasText: OP_NAME }).waitFor();
		await page.locator('#who [data-value=operator]').waitFor();
		eq('token in sessionStorage', OP_TOKEN, await page.evaluate(() => sessionStorage.getItem('devtrust.token')));
	});

	await check('the overview shows device counts by state', async () => {
		await page.waitForURL(/#\/overview$/);
		await page.locator('#overview').waitFor();
		for (const k of ['total', 'registered', 'active', 'suspended', 'retired', 'compromised'])
			eq(`count-${k}`, EXPECT[k] ?? 0, await page.locator(`#count-${k} .tile-n`).textContent());
	});

	await check('the overview counts devices by class', async () => {
		for (const [cls, n] of Object.entries(EXPECT.by_class)) {
			const row = page.locator('#overview tr', { has: page.locator(`a[href="#/devices?class=${cls}"]`) });
			eq(`class ${cls} total`, n, (await row.locator('td').last().textContent()).trim());
		}
	});

	await check('the expiry chart has 13 weekly bars holding the valid certificates', async () => {
		const bars = page.locator('#expiry-chart g.bar');
		eq('bars', 13, await bars.count());
		const counts = await bars.evaluateAll((gs) => gs.map((g) => Number(g.getAttribute('data-count'))));
		eq('certificates in the chart', EXPECT.valid_certs, counts.reduce((a, b) => a + b, 0));
	});

	await check('open findings list the silent active devices, most critical first', async () => {
		const rows = page.locator('#findings tbody tr');
		const kinds = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-kind')));
		if (!kinds.includes('silent'))
			return `no silent finding among [${kinds.join(', ')}]`;
		const rank = { 'life-critical': 3, high: 2, medium: 1, low: 0 };
		const crits = await rows.evaluateAll((trs) => trs.map((tr) => tr.querySelector('[data-value]').getAttribute('data-value')));
		for (let i = 1; i < crits.length; i++)
			if (rank[crits[i]] > rank[crits[i - 1]])
				return `not ranked by criticality: ${crits.join(', ')}`;
		await page.click('#overview button[data-group=silent]');
		eq('silent filter rows', EXPECT.silent, await rows.count());
	});
	await page.click('#findings [data-group=all]').catch(() => {});
	await shot(page, 'overview.png');

	await check('a reload keeps the session (token in sessionStorage)', async () => {
		await page.reload();
		await page.locator('#who-name', { hasText: OP_NAME }).waitFor();
		await page.locator('#overview').waitFor();
	});

	await check('the device list links to the device page', async () => {
		await page.click('nav a[data-section=devices]');
		await page.locator('#devices').waitFor();
		eq('rows', EXPECT.total, await page.locator('#devices tbody tr').count());
		await page.click(`#devices tr[data-device="${DEVICE}"] a`);
		await page.waitForURL(new RegExp(`#/devices/${DEVICE}$`));
		await page.locator(`#device[data-id="${DEVICE}"]`).waitFor();
	});

	await check('the device page shows state, certificate and lifecycle', async () => {
		eq('state', 'active', await page.locator('#device-state [data-value]').getAttribute('data-value'));
		eq('certificates', 1, await page.locator('#device tbody tr[data-serial]').count());
		eq('certificate status', 'valid', await page.locator('#device tbody tr[data-serial] [data-value]').getAttribute('data-value'));
		const events = await page.locator('#timeline li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-action')));
		for (const a of ['device.add', 'device.activate'])
			if (!events.includes(a))
				return `timeline lacks ${a}: [${events.join(', ')}]`;
		await page.locator('#last-seen').waitFor();
	});

	await check('the operator is offered suspend, retire, compromised and a token', async () => {
		const acts = await page.locator('#device-actions button').evaluateAll((bs) => bs.map((b) => b.getAttribute('data-action')));
		eq('actions', 'suspend,retire,compromised,token', acts.join(','));
	});

	await check('cancelling the confirmation changes nothing', async () => {
		await page.click('#device-actions [data-action=suspend]');
		await page.locator('dialog#confirm[open]').waitFor();
		await page.click('#confirm-cancel');
		await page.locator('dialog#confirm[open]').waitFor({ state: 'detached' });
		await page.waitForTimeout(300);
		eq('state', 'active', await page.locator('#device-state [data-value]').getAttribute('data-value'));
	});

	await check('suspend through the page: confirm, and the page shows suspended', async () => {
		await page.click('#device-actions [data-action=suspend]');
		await page.locator('dialog#confirm[open]').waitFor();
		const title = await page.locator('#confirm-title').textContent();
		if (!title.includes(DEVICE))
			return `the confirmation does not name the device: '${title}'`;
		await page.fill('#confirm-fields input[name=reason]', 'ui test: maintenance');
		await page.click('#confirm-ok');
		await page.locator('#device-state [data-value=suspended]').waitFor();
		eq('certificate status', 'on-hold', await page.locator('#device tbody tr[data-serial] [data-value]').getAttribute('data-value'));
		await page.locator('#timeline li[data-action="device.suspend"]', { hasText: 'ui test: maintenance' }).waitFor();
		const acts = await page.locator('#device-actions button').evaluateAll((bs) => bs.map((b) => b.getAttribute('data-action')));
		eq('actions now', 'resume,retire,compromised', acts.join(','));
	});
	await shot(page, 'device-suspended.png');

	await check('markup in device data is shown as text', async () => {
		await page.goto(`${BASE}/ui/#/devices/${encodeURIComponent(HOSTILE)}`);
		await page.locator(`#device[data-id="${HOSTILE}"]`).waitFor();
		const loc = await page.locator('#device dd', { hasText: '<img' }).first().textContent();
		if (!loc.includes('<img src=x onerror=alert(1)>'))
			return `location shown as '${loc}'`;
		eq('img elements in the page', 0, await page.locator('#view img').count());
	});

	await check('certificates page lists and filters by status', async () => {
		await page.click('nav a[data-section=certificates]');
		await page.locator('#certificates').waitFor();
		eq('certificates', EXPECT.certs, await page.locator('#certificates tbody tr').count());
		await page.click('#certificates .chips a:has-text("On hold")');
		await page.locator('#certificates .chips a[aria-pressed=true]', { hasText: 'On hold' }).waitFor();
		eq('on hold', EXPECT.held_after, await page.locator('#certificates tbody tr').count());
	});
	await shot(page, 'certificates.png');

	await check('a policy is added and removed through the page', async () => {
		await page.click('nav a[data-section=policies]');
		await page.locator('#policies').waitFor();
		const rows = page.locator('#policies tbody tr');
		eq('policies before', 0, await rows.count());
		await page.selectOption('#policy-add select[name=class]', 'pump');
		await page.fill('#policy-add input[name=service]', 'telemetry');
		await page.fill('#policy-add input[name=pattern]', '/v1/*');
		await page.fill('#policy-add input[name=methods]', 'GET,POST');
		await page.click('#policy-add button[type=submit]');
		await page.locator('#policies td', { hasText: 'telemetry' }).waitFor();
		eq('policies after adding', 1, await rows.count());
		await shot(page, 'policies.png');
		await rows.first().locator('button').click();
		await page.locator('dialog#confirm[open]').waitFor();
		await page.click('#confirm-ok');
		await page.locator('#policies td', { hasText: 'telemetry' }).waitFor({ state: 'detached' });
	});

	await check('the audit log shows the suspension (filtered by object)', async () => {
		await page.click('nav a[data-section=audit]');
		await page.locator('#audit tbody tr').first().waitFor();
		await page.fill('#audit input[name=object]', DEVICE);
		await page.click('#audit form button[type=submit]');
		await page.locator(`#audit[data-object="${DEVICE}"] td`, { hasText: 'device.suspend' }).waitFor();
		const objects = await page.locator('#audit tbody tr td:nth-child(5)').evaluateAll((tds) => tds.map((td) => td.textContent));
		if (objects.some((o) => o !== DEVICE))
			return `the filter let through other objects: ${objects.join(', ')}`;
	});
	await shot(page, 'audit.png');

	await check('sign out forgets the token', async () => {
		await page.click('#signout');
		await page.locator('form#signin').waitFor();
		eq('token in sessionStorage', null, await page.evaluate(() => sessionStorage.getItem('devtrust.token')));
	});
	await ctx.close();

	// A vendor, in a fresh browser context (its own sessionStorage).
	const vctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
	vctx.setDefaultTimeout(STEP_MS);
	const vpage = await vctx.newPage();
	watch(vpage, 'vendor');
	await check('a vendor signs in and lands on its devices', async () => {
		await vpage.goto(`${BASE}/ui/`);
		await vpage.fill('#token', VENDOR_TOKEN);
		await vpage.click('#signin-submit');
		await vpage.locator('#who [data-value=vendor]').waitFor();
		await vpage.waitForURL(/#\/devices$/);
		await vpage.locator('#devices').waitFor();
		const nav = await vpage.locator('#nav a').evaluateAll((as) => as.map((a) => a.getAttribute('data-section')));
		eq('sections', 'devices', nav.join(','));
	});
	await check(`the vendor's device list holds only ${VENDOR_MFR}'s devices`, async () => {
		const rows = vpage.locator('#devices tbody tr');
		eq('rows', EXPECT.vendor_devices, await rows.count());
		const mfrs = await rows.evaluateAll((trs) => trs.map((tr) => tr.children[4].textContent));
		const others = mfrs.filter((m) => m !== VENDOR_MFR);
		if (others.length)
			return `other manufacturers shown: ${others.join(', ')}`;
	});
	await shot(vpage, 'vendor-devices.png');
	await check('the vendor may resume but not retire', async () => {
		await vpage.click(`#devices tr[data-device="${DEVICE}"] a`);
		await vpage.locator(`#device[data-id="${DEVICE}"]`).waitFor();
		const acts = await vpage.locator('#device-actions button').evaluateAll((bs) => bs.map((b) => b.getAttribute('data-action')));
		eq('actions', 'resume', acts.join(','));
	});
	await vctx.close();

	// An operator certificate the browser presents signs in without a token.
	const cctx = await browser.newContext({
		ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 },
		clientCertificates: [{
			origin: BASE, certPath: join(CERT_DIR, `${CERT_NAME}.pem`), keyPath: join(CERT_DIR, `${CERT_NAME}.key`),
		}],
	});
	cctx.setDefaultTimeout(STEP_MS);
	const cpage = await cctx.newPage();
	watch(cpage, 'certificate');
	await check('an operator certificate signs in without a token', async () => {
		await cpage.goto(`${BASE}/ui/`);
		await cpage.locator('#who-name', { hasText: CERT_NAME }).waitFor();
		await cpage.locator('#overview').waitFor();
		eq('sign-in form', 0, await cpage.locator('form#signin').count());
		eq('token in sessionStorage', null, await cpage.evaluate(() => sessionStorage.getItem('devtrust.token')));
	});
	await cctx.close();

	await check('no script errors, CSP violations or native dialogs', async () => {
		if (problems.length)
			return problems.join(' | ');
	});
} catch (e) {
	fail('browser session', e.stack || e);
} finally {
	await browser.close().catch(() => {});
	await server.close().catch(() => {});
}
process.exit(failed ? 1 : 0);
