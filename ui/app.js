/*
 * The devtrust dashboard: a hash-routed single page on /api/v1. Plain DOM, no
 * framework, nothing fetched from elsewhere (the server's CSP is default-src
 * 'self'). Every value from the API reaches the page through textContent or an
 * attribute set by el(); never through innerHTML.
 */
'use strict';

(function () {
	const API = '/api/v1';
	const TOKEN_KEY = 'devtrust.token';
	const STATES = ['registered', 'active', 'suspended', 'retired', 'compromised'];
	const CRITICALITY = ['life-critical', 'high', 'medium', 'low'];
	/* Who may do what: mirrors the route table in src/api/api.c. */
	const ROLES = {
		overview: ['admin', 'operator', 'auditor'],
		certificates: ['admin', 'operator', 'auditor'],
		revoke: ['admin', 'operator'],
		classes: ['admin', 'operator', 'auditor'],
		reports: ['admin', 'operator', 'auditor'],
		policies: ['admin', 'operator', 'auditor'],
		policyEdit: ['admin', 'operator'],
		audit: ['admin', 'operator', 'auditor'],
		auditVerify: ['admin', 'auditor'],
		suspend: ['admin', 'operator', 'vendor'],
		resume: ['admin', 'operator', 'vendor'],
		retire: ['admin', 'operator'],
		compromised: ['admin', 'operator'],
		token: ['admin', 'operator', 'vendor'],
	};
	/* The lifecycle (DESIGN.md section 4): the states each action starts from. */
	const ACTIONS = [
		{
			name: 'suspend', label: 'Suspend', from: ['active'], danger: false,
			title: 'Suspend device',
			what: 'Its certificates are put on hold (CRL and OCSP say certificateHold) until it is resumed.',
		},
		{
			name: 'resume', label: 'Resume', from: ['suspended'], danger: false,
			title: 'Resume device',
			what: 'The hold on its certificates is lifted.',
		},
		{
			name: 'retire', label: 'Retire', from: ['registered', 'active', 'suspended'], danger: true,
			title: 'Retire device',
			what: 'All its certificates are revoked (cessationOfOperation). This cannot be undone.',
		},
		{
			name: 'compromised', label: 'Mark compromised', from: ['registered', 'active', 'suspended'],
			danger: true, title: 'Mark device compromised',
			what: 'All its certificates are revoked (keyCompromise). This cannot be undone.',
		},
		{
			name: 'token', label: 'New enrollment token', from: ['registered', 'active'], danger: false,
			title: 'New enrollment token',
			what: 'A fresh one-time token replaces any pending one; it is shown once.',
		},
	];
	const REVOKE_REASONS = ['keyCompromise', 'superseded', 'affiliationChanged',
		'cessationOfOperation', 'privilegeWithdrawn', 'unspecified'];
	/* The overview's findings, grouped as the issue names them. */
	const FINDING_GROUPS = [
		{ key: 'drift', label: 'Drift', kinds: ['certificate-on-inactive-device', 'active-without-certificate'] },
		{ key: 'duplicates', label: 'Duplicate keys', kinds: ['duplicate-key'] },
		{ key: 'weak', label: 'Weak keys', kinds: ['weak-key'] },
		{ key: 'clones', label: 'Clones', kinds: ['clone'] },
		{ key: 'silent', label: 'Silent', kinds: ['silent'] },
	];
	const PAGE = 50;

	const app = { me: null, token: null, gen: 0 };

	/* ---- DOM ---- */

	/* el('a', {href: '#/x', class: 'c', onclick: fn}, 'text', child...): props are
	 * attributes (never innerHTML), children are nodes or text. */
	function el(tag, props, ...kids) {
		return build(document.createElement(tag), props, kids);
	}

	function svg(tag, props, ...kids) {
		return build(document.createElementNS('http://www.w3.org/2000/svg', tag), props, kids);
	}

	function build(node, props, kids) {
		for (const [k, v] of Object.entries(props || {})) {
			if (v === null || v === undefined || v === false)
				continue;
			if (k.startsWith('on'))
				node.addEventListener(k.slice(2), v);
			else if (k === 'class')
				node.setAttribute('class', v);
			else
				node.setAttribute(k, v === true ? '' : String(v));
		}
		for (const kid of kids.flat(Infinity)) {
			if (kid === null || kid === undefined || kid === false)
				continue;
			node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
		}
		return node;
	}

	function $(id) {
		return document.getElementById(id);
	}

	function link(href, text, props) {
		return el('a', Object.assign({ href }, props || {}), text);
	}

	function deviceLink(id) {
		return id ? link('#/devices/' + encodeURIComponent(id), id) : '';
	}

	function certLink(serial, text) {
		return serial ? link('#/certificates/' + encodeURIComponent(serial), text || shortSerial(serial),
			{ title: serial, class: 'mono' }) : '';
	}

	function shortSerial(s) {
		return s.length > 16 ? s.slice(0, 8) + '…' + s.slice(-8) : s;
	}

	function badge(kind, value) {
		return el('span', { class: 'badge ' + kind + '-' + String(value).replace(/[^a-z-]/gi, ''), 'data-value': value }, value);
	}

	function panel(title, ...kids) {
		return el('section', { class: 'panel' }, title ? el('h2', null, title) : null, kids);
	}

	function table(headers, rows, empty) {
		if (!rows.length)
			return el('p', { class: 'muted empty' }, empty || 'Nothing here.');
		return el('div', { class: 'table-wrap' },
			el('table', null,
				el('thead', null, el('tr', null, headers.map((t) => el('th', { scope: 'col' }, t)))),
				el('tbody', null, rows)));
	}

	function field(label, input) {
		return el('label', { class: 'field' }, el('span', null, label), input);
	}

	function select(name, options, value, props) {
		return el('select', Object.assign({ name }, props || {}),
			options.map((o) => {
				const [v, t] = Array.isArray(o) ? o : [o, o];
				return el('option', { value: v, selected: v === value }, t);
			}));
	}

	function dl(pairs) {
		return el('dl', { class: 'facts' }, pairs.filter((p) => p).map(([k, v]) => [
			el('dt', null, k),
			el('dd', null, v === '' || v === null || v === undefined ? '—' : v),
		]));
	}

	/* ---- time ---- */

	function parseTime(t) {
		if (!t || t === '-')
			return null;
		const d = new Date(t);
		return isNaN(d) ? null : d;
	}

	function fmtTime(t) {
		const d = parseTime(t);
		return d ? d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC' : '—';
	}

	function fmtDate(d) {
		return d.toISOString().slice(0, 10);
	}

	function relTime(t) {
		const d = parseTime(t);
		if (!d)
			return '';
		const s = (d.getTime() - Date.now()) / 1000, a = Math.abs(s);
		const [n, u] = a < 90 ? [Math.round(a), 's'] : a < 5400 ? [Math.round(a / 60), 'min']
			: a < 129600 ? [Math.round(a / 3600), 'h'] : [Math.round(a / 86400), 'd'];
		return s >= 0 ? 'in ' + n + ' ' + u : n + ' ' + u + ' ago';
	}

	function timeCell(t) {
		const d = parseTime(t);
		return d ? el('time', { datetime: t, title: relTime(t) }, fmtTime(t)) : '—';
	}

	/* ---- API ---- */

	class ApiError extends Error {
		constructor(status, code, message) {
			super(message);
			this.status = status;
			this.code = code;
		}
	}

	async function api(method, path, body, token) {
		const headers = { Accept: 'application/json' };
		const tok = token === undefined ? app.token : token;
		const init = { method, headers, cache: 'no-store', credentials: 'same-origin' };
		let res, data = null;

		if (tok)
			headers.Authorization = 'Bearer ' + tok;
		if (body !== undefined) {
			headers['Content-Type'] = 'application/json';
			init.body = JSON.stringify(body);
		}
		try {
			res = await fetch(API + path, init);
		} catch (e) {
			throw new ApiError(0, 'network', 'the server did not answer (' + e.message + ')');
		}
		try {
			data = await res.json();
		} catch (e) {
			data = null;
		}
		if (!res.ok) {
			const err = (data && data.error) || {};
			const e = new ApiError(res.status, err.code || 'http_' + res.status,
				err.message || 'HTTP ' + res.status);
			if (res.status === 401 && app.me && token === undefined)
				signedOut('Your session ended: ' + e.message);
			throw e;
		}
		return data;
	}

	function qs(params) {
		const q = new URLSearchParams();
		for (const [k, v] of Object.entries(params))
			if (v !== null && v !== undefined && v !== '')
				q.set(k, v);
		const s = q.toString();
		return s ? '?' + s : '';
	}

	function can(what) {
		return !!app.me && ROLES[what].includes(app.me.role);
	}

	/* ---- feedback ---- */

	let flashTimer = null;

	function flash(message, kind) {
		const f = $('flash');
		f.textContent = message;
		f.className = 'flash ' + (kind || 'ok');
		f.hidden = false;
		clearTimeout(flashTimer);
		flashTimer = setTimeout(() => { f.hidden = true; }, kind === 'error' ? 12000 : 6000);
	}

	function errorBox(e) {
		return el('div', { class: 'error-box', role: 'alert' },
			el('strong', null, e.status === 403 ? 'Not allowed' : e.status === 404 ? 'Not found' : 'Error'),
			' ', e.message, e.code ? el('span', { class: 'muted' }, ' (' + e.code + ')') : '');
	}

	/* confirmDialog({title, message, ok, danger, fields}) -> values or null.
	 * fields: [{name, label, type: 'text'|'select', options, value}]. */
	function confirmDialog(opts) {
		const dlg = $('confirm'), form = $('confirm-form'), ok = $('confirm-ok');
		const inputs = {};

		$('confirm-title').textContent = opts.title;
		$('confirm-message').textContent = opts.message;
		ok.textContent = opts.ok;
		ok.className = 'btn ' + (opts.danger ? 'danger' : 'primary');
		$('confirm-fields').replaceChildren(...(opts.fields || []).map((f) => {
			inputs[f.name] = f.type === 'select'
				? select(f.name, f.options, f.value)
				: el('input', { name: f.name, type: 'text', value: f.value || '', placeholder: f.placeholder || '', autocomplete: 'off' });
			return field(f.label, inputs[f.name]);
		}));
		return new Promise((resolve) => {
			let result = null;
			function onSubmit(e) {
				e.preventDefault();
				/* Enter in a field submits through the first button, which is OK. */
				if (!e.submitter || e.submitter.value === 'ok') {
					result = {};
					for (const [k, i] of Object.entries(inputs))
						result[k] = i.value.trim();
				}
				dlg.close();
			}
			function onClose() {
				form.removeEventListener('submit', onSubmit);
				dlg.removeEventListener('close', onClose);
				resolve(result);
			}
			form.addEventListener('submit', onSubmit);
			dlg.addEventListener('close', onClose);
			dlg.showModal();
			const first = Object.values(inputs)[0];
			(first || $('confirm-cancel')).focus();
		});
	}

	/* ---- sign-in ---- */

	async function start() {
		app.token = sessionStorage.getItem(TOKEN_KEY);
		try {
			/* With no token, a client certificate the browser presented may do. */
			app.me = await api('GET', '/me', undefined, app.token || null);
		} catch (e) {
			const hadToken = !!app.token;
			if (hadToken && e.status === 401)
				sessionStorage.removeItem(TOKEN_KEY);
			app.token = null;
			showSignIn(e.status !== 401 ? e.message
				: hadToken ? 'Your token is no longer accepted: ' + e.message : null);
			return;
		}
		signedIn();
	}

	function signedIn() {
		renderChrome();
		if (!location.hash || location.hash === '#/' || location.hash === '#/signin')
			location.hash = can('overview') ? '#/overview' : '#/devices';
		else
			route();
	}

	function signedOut(message, info) {
		app.me = null;
		app.token = null;
		sessionStorage.removeItem(TOKEN_KEY);
		renderChrome();
		showSignIn(message, info);
	}

	function showSignIn(message, info) {
		const input = el('input', {
			id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false',
			placeholder: 'dta_…', required: true,
		});
		const err = el('p', { id: 'signin-error', class: info ? 'info' : 'error-text', role: 'alert' }, message || '');
		const button = el('button', { type: 'submit', class: 'btn primary', id: 'signin-submit' }, 'Sign in');
		const form = el('form', { id: 'signin', class: 'signin', onsubmit: onSignIn },
			el('h1', null, 'Sign in to devtrust'),
			el('p', null, 'Paste an API token (', el('code', null, 'devtrust admin add NAME --role ROLE --token'),
				'). It is kept in this tab only, until you sign out or close it.'),
			field('API token', input),
			err,
			el('div', { class: 'buttons' }, button),
			el('p', { class: 'muted small' }, 'With an operator certificate (',
				el('code', null, 'devtrust admin add NAME --role ROLE --out DIR'),
				') installed in the browser, you are signed in without a token: reload the page and choose it when asked.'));

		async function onSignIn(e) {
			e.preventDefault();
			const tok = input.value.trim();
			button.disabled = true;
			err.textContent = '';
			try {
				const me = await api('GET', '/me', undefined, tok);
				app.me = me;
				app.token = tok;
				sessionStorage.setItem(TOKEN_KEY, tok);
				signedIn();
			} catch (ex) {
				err.className = 'error-text';
				err.textContent = ex.status === 401 ? 'That token was not accepted: ' + ex.message : ex.message;
				button.disabled = false;
				input.select();
			}
		}

		app.gen++;
		$('view').replaceChildren(form);
		document.title = 'Sign in · devtrust';
		input.focus();
	}

	function renderChrome() {
		const nav = $('nav'), who = $('who');
		if (!app.me) {
			nav.hidden = true;
			who.hidden = true;
			nav.replaceChildren();
			who.replaceChildren();
			return;
		}
		const items = [
			['overview', 'Overview', can('overview')],
			['devices', 'Devices', true],
			['certificates', 'Certificates', can('certificates')],
			['policies', 'Policies', can('policies')],
			['audit', 'Audit log', can('audit')],
		];
		nav.replaceChildren(...items.filter((i) => i[2]).map(([k, t]) =>
			link('#/' + k, t, { 'data-section': k })));
		nav.hidden = false;
		who.replaceChildren(
			el('span', { id: 'who-name', class: 'who-name' }, app.me.name),
			' ', badge('role', app.me.role),
			app.me.manufacturer ? el('span', { class: 'muted' }, ' ' + app.me.manufacturer) : '',
			el('span', { class: 'muted small' }, app.me.kind === 'certificate' ? ' (certificate)' : ''),
			app.token ? el('button', {
				type: 'button', class: 'btn small', id: 'signout',
				onclick: () => {
					history.replaceState(null, '', '#/signin');
					signedOut('Signed out.', true);
				},
			}, 'Sign out') : '');
		who.hidden = false;
	}

	/* ---- routing ---- */

	const ROUTES = [
		[/^\/overview$/, viewOverview, 'Overview', 'overview'],
		[/^\/devices$/, viewDevices, 'Devices', 'devices'],
		[/^\/devices\/([^/]+)$/, viewDevice, 'Device', 'devices'],
		[/^\/certificates$/, viewCertificates, 'Certificates', 'certificates'],
		[/^\/certificates\/([^/]+)$/, viewCertificate, 'Certificate', 'certificates'],
		[/^\/policies$/, viewPolicies, 'Policies', 'policies'],
		[/^\/audit$/, viewAudit, 'Audit log', 'audit'],
	];

	function parseHash() {
		const raw = location.hash.replace(/^#/, '') || '/';
		const i = raw.indexOf('?');
		return {
			path: i < 0 ? raw : raw.slice(0, i),
			params: new URLSearchParams(i < 0 ? '' : raw.slice(i + 1)),
		};
	}

	function go(path, params) {
		location.hash = '#' + path + (params ? qs(params) : '');
	}

	async function route() {
		if (!app.me) {
			showSignIn();
			return;
		}
		const { path, params } = parseHash();
		if (path === '/' || path === '/signin') {
			location.hash = can('overview') ? '#/overview' : '#/devices';
			return;
		}
		const gen = ++app.gen;
		const view = $('view');
		/* A confirmation belongs to the page it was asked on. */
		if ($('confirm').open)
			$('confirm').close();
		const r = ROUTES.find(([re]) => re.test(path));
		for (const a of $('nav').querySelectorAll('a'))
			a.classList.toggle('current', !!r && a.getAttribute('data-section') === r[3]);
		if (!r) {
			view.replaceChildren(errorBox(new ApiError(404, 'not_found', 'no such page: ' + path)));
			return;
		}
		const args = path.match(r[0]).slice(1).map(decodeURIComponent);
		document.title = r[2] + (args[0] ? ' ' + args[0] : '') + ' · devtrust';
		view.setAttribute('aria-busy', 'true');
		const alive = () => gen === app.gen;
		try {
			const content = await r[1](params, alive, ...args);
			if (alive() && content)
				view.replaceChildren(content);
		} catch (e) {
			if (alive() && app.me)
				view.replaceChildren(errorBox(e));
		}
		if (alive()) {
			view.removeAttribute('aria-busy');
			view.setAttribute('data-view', r[3]);
		}
	}

	/* Re-renders the current view (after an action). */
	function refresh() {
		route();
	}

	/* ---- overview ---- */

	async function viewOverview() {
		if (!can('overview'))
			throw new ApiError(403, 'forbidden', 'the overview is for admins, operators and auditors');
		const o = await api('GET', '/overview');
		return el('div', { class: 'page', id: 'overview' },
			el('h1', null, 'Fleet overview'),
			stateTiles(o),
			el('div', { class: 'grid-2' },
				panel('Certificates expiring in the next 90 days', expiryChart(o.expiring_weekly || [])),
				panel('Devices by class', classTable(o.by_class || {}))),
			findingsPanel(o.findings || []));
	}

	function stateTiles(o) {
		const by = o.by_state || {};
		return el('div', { class: 'tiles' },
			el('a', { class: 'tile total', href: '#/devices', id: 'count-total' },
				el('span', { class: 'tile-n' }, String(o.devices || 0)), el('span', null, 'devices')),
			STATES.map((s) => el('a', {
				class: 'tile state-' + s, href: '#/devices' + qs({ state: s }), id: 'count-' + s,
			}, el('span', { class: 'tile-n' }, String(by[s] || 0)), el('span', null, s))));
	}

	function classTable(byClass) {
		const names = Object.keys(byClass).sort();
		return table(['Class'].concat(STATES, ['Total']), names.map((c) => {
			const counts = byClass[c] || {};
			const total = STATES.reduce((n, s) => n + (counts[s] || 0), 0);
			return el('tr', null,
				el('td', null, link('#/devices' + qs({ class: c }), c)),
				STATES.map((s) => el('td', { class: 'num' + (counts[s] ? '' : ' zero') },
					counts[s] ? link('#/devices' + qs({ class: c, state: s }), String(counts[s])) : '0')),
				el('td', { class: 'num' }, String(total)));
		}), 'No devices yet.');
	}

	/* A bar per week, drawn as inline SVG. */
	function expiryChart(weeks) {
		const W = 560, H = 220, L = 36, R = 8, T = 16, B = 42;
		const max = Math.max(1, ...weeks);
		const step = niceStep(max);
		const top = Math.ceil(max / step) * step;
		const bw = (W - L - R) / Math.max(1, weeks.length);
		const y = (v) => T + (H - T - B) * (1 - v / top);
		const now = Date.now();
		const total = weeks.reduce((a, b) => a + b, 0);
		const chart = svg('svg', {
			viewBox: '0 0 ' + W + ' ' + H, class: 'chart', id: 'expiry-chart', role: 'img',
			'aria-label': total + ' certificates expire in the next 13 weeks',
		});
		for (let v = 0; v <= top; v += step) {
			chart.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }),
				svg('text', { x: L - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(v)));
		}
		weeks.forEach((n, i) => {
			const from = new Date(now + i * 7 * 86400e3), to = new Date(now + (i + 1) * 7 * 86400e3);
			const x = L + i * bw + bw * 0.15, w = bw * 0.7;
			const g = svg('g', { class: 'bar' + (i < 2 ? ' soon' : ''), 'data-week': i, 'data-count': n },
				svg('title', null, n + ' expiring ' + fmtDate(from) + ' to ' + fmtDate(to)),
				svg('rect', { x, y: y(n), width: w, height: Math.max(0, y(0) - y(n)) }));
			if (n)
				g.append(svg('text', { x: x + w / 2, y: y(n) - 4, class: 'value', 'text-anchor': 'middle' }, String(n)));
			if (i % 2 === 0)
				g.append(svg('text', { x: x + w / 2, y: H - B + 16, class: 'axis', 'text-anchor': 'middle' },
					from.toISOString().slice(5, 10)));
			chart.append(g);
		});
		chart.append(svg('text', { x: L, y: H - 6, class: 'axis' }, 'week starting (UTC), from today'));
		return el('div', { class: 'chart-wrap' }, chart,
			el('p', { class: 'muted small' }, total + ' certificate' + (total === 1 ? '' : 's') +
				' expire in the next 91 days; the first two weeks are highlighted.'));
	}

	function niceStep(max) {
		const raw = max / 4, p = Math.pow(10, Math.floor(Math.log10(raw)));
		const n = raw / p;
		return Math.max(1, (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * p);
	}

	function findingDetail(f) {
		if (f.kind === 'silent')
			return f.last_seen ? 'last seen ' + fmtTime(f.last_seen) + (f.last_addr ? ' from ' + f.last_addr : '')
				: 'never seen by a verifier';
		if (f.kind === 'clone')
			return 'certificate ' + shortSerial(f.serial || '') + ' used from ' + f.first_addr + ' and ' +
				f.second_addr + ' (' + fmtTime(f.seen) + ')';
		return f.detail || '';
	}

	function findingsPanel(findings) {
		const counts = {};
		for (const g of FINDING_GROUPS)
			counts[g.key] = findings.filter((f) => g.kinds.includes(f.kind)).length;
		const body = el('div', { id: 'findings' });
		let current = 'all';
		const chips = el('div', { class: 'chips', role: 'group', 'aria-label': 'Filter findings' });
		function chip(key, label, n) {
			return el('button', {
				type: 'button', class: 'chip', 'data-group': key, 'aria-pressed': String(key === current),
				onclick: () => { current = key; draw(); },
			}, label + ' ', el('span', { class: 'chip-n', id: 'findings-' + key }, String(n)));
		}
		function draw() {
			chips.replaceChildren(chip('all', 'All', findings.length),
				...FINDING_GROUPS.map((g) => chip(g.key, g.label, counts[g.key])));
			const g = FINDING_GROUPS.find((x) => x.key === current);
			const shown = g ? findings.filter((f) => g.kinds.includes(f.kind)) : findings;
			body.replaceChildren(table(['Criticality', 'Finding', 'Device', 'Class', 'State', 'Detail'],
				shown.map((f) => el('tr', { 'data-kind': f.kind },
					el('td', null, badge('crit', f.criticality || 'medium')),
					el('td', null, f.kind),
					el('td', null, deviceLink(f.device)),
					el('td', null, f.class || ''),
					el('td', null, f.state ? badge('state', f.state) : ''),
					el('td', { class: 'detail' }, findingDetail(f), f.serial && f.kind !== 'clone'
						? [' ', certLink(f.serial)] : ''))),
				'No open findings. Good.'));
		}
		draw();
		return panel('Open findings, most critical devices first', chips, body);
	}

	/* ---- devices ---- */

	async function viewDevices(params) {
		const f = {
			state: params.get('state') || '', class: params.get('class') || '',
			manufacturer: params.get('manufacturer') || '', owner: params.get('owner') || '',
			cursor: params.get('cursor') || '',
		};
		const [list, classes] = await Promise.all([
			api('GET', '/devices' + qs(Object.assign({ limit: PAGE }, f))),
			can('classes') ? api('GET', '/classes').catch(() => ({ items: [] })) : { items: [] },
		]);
		const form = el('form', { class: 'filters', id: 'device-filters', onsubmit: onFilter },
			field('State', select('state', [['', 'any']].concat(STATES), f.state)),
			classes.items.length
				? field('Class', select('class', [['', 'any']].concat(classes.items.map((c) => c.name)), f.class))
				: field('Class', el('input', { name: 'class', value: f.class })),
			app.me.role === 'vendor' ? '' : field('Manufacturer', el('input', { name: 'manufacturer', value: f.manufacturer })),
			field('Owner', el('input', { name: 'owner', value: f.owner })),
			el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'btn primary' }, 'Filter'),
				link('#/devices', 'Clear', { class: 'btn' })));
		function onFilter(e) {
			e.preventDefault();
			const data = new FormData(form);
			go('/devices', Object.fromEntries([...data.entries()].filter(([, v]) => v)));
		}
		const rows = list.items.map((d) => el('tr', { 'data-device': d.id },
			el('td', null, deviceLink(d.id)),
			el('td', null, badge('state', d.state)),
			el('td', { class: 'nowrap' }, d.class),
			el('td', null, badge('crit', d.criticality)),
			el('td', null, d.manufacturer),
			el('td', null, d.model),
			el('td', null, d.firmware),
			el('td', null, d.owner),
			el('td', null, d.location)));
		return el('div', { class: 'page', id: 'devices' },
			el('h1', null, 'Devices', app.me.role === 'vendor' ? el('span', { class: 'muted' }, ' of ' + app.me.manufacturer) : ''),
			form,
			panel(null, table(['Device', 'State', 'Class', 'Criticality', 'Manufacturer', 'Model', 'Firmware', 'Owner', 'Location'],
				rows, 'No devices match.'),
			pager('/devices', f, list.next_cursor)));
	}

	function pager(path, params, next) {
		return el('div', { class: 'pager' },
			params.cursor ? link('#' + path + qs(Object.assign({}, params, { cursor: '' })), '« First page', { class: 'btn' }) : '',
			next ? link('#' + path + qs(Object.assign({}, params, { cursor: next })), 'Next page »', { class: 'btn', id: 'next-page' }) : '');
	}

	async function lastSeen(d) {
		/* The API has no per-device last-seen field; the silent report (every active
		 * device not seen for 1 s, with its last sighting) stands in. */
		if (d.state !== 'active' || !can('reports'))
			return null;
		try {
			const r = await api('GET', '/reports/silent' + qs({ silent: '1s' }));
			const s = r.items.find((x) => x.device === d.id);
			if (!s)
				return 'within the last second';
			return s.last_seen ? fmtTime(s.last_seen) + ' (' + relTime(s.last_seen) + ')' +
				(s.last_addr ? ' from ' + s.last_addr : '') : 'never seen by a verifier';
		} catch (e) {
			return null;
		}
	}

	async function viewDevice(params, alive, id) {
		const enc = encodeURIComponent(id);
		const [d, audit] = await Promise.all([
			api('GET', '/devices/' + enc),
			api('GET', '/devices/' + enc + '/audit').catch((e) => ({ error: e })),
		]);
		const seen = await lastSeen(d);
		const certs = d.certificates || [];
		const live = certs.filter((c) => c.status !== 'revoked').length;
		const actions = ACTIONS.filter((a) => can(a.name) && a.from.includes(d.state));
		const reveal = el('div', { id: 'token-reveal' });

		async function act(a) {
			const fields = a.name === 'token' ? [] : [{ name: 'reason', label: 'Reason (recorded in the audit log)', type: 'text', placeholder: 'optional' }];
			const ans = await confirmDialog({
				title: a.title + ' ' + d.id,
				message: a.what + (a.name === 'retire' || a.name === 'compromised' || a.name === 'suspend'
					? ' It has ' + live + ' unrevoked certificate' + (live === 1 ? '' : 's') + '.' : ''),
				ok: a.label, danger: a.danger, fields,
			});
			if (!ans)
				return;
			try {
				const body = ans.reason ? { reason: ans.reason } : undefined;
				const r = await api('POST', '/devices/' + enc + '/' + a.name, body);
				if (a.name === 'token') {
					flash('New enrollment token issued for ' + d.id + '.');
					showToken(reveal, r);
					return;
				}
				flash(d.id + ' is now ' + r.state + (r.certificates_changed
					? ' (' + r.certificates_changed + ' certificate' + (r.certificates_changed === 1 ? '' : 's') + ' changed)' : '') + '.');
				refresh();
			} catch (e) {
				flash(a.label + ' failed: ' + e.message, 'error');
			}
		}

		return el('div', { class: 'page', id: 'device', 'data-id': d.id },
			el('div', { class: 'page-head' },
				el('h1', null, el('span', { class: 'mono' }, d.id), ' ', el('span', { id: 'device-state' }, badge('state', d.state))),
				el('div', { class: 'actions', id: 'device-actions' },
					actions.map((a) => el('button', {
						type: 'button', class: 'btn' + (a.danger ? ' danger' : ''), 'data-action': a.name,
						onclick: () => act(a),
					}, a.label)),
					actions.length ? '' : el('span', { class: 'muted small' },
						d.state === 'retired' || d.state === 'compromised' ? 'A ' + d.state + ' device is final.'
							: 'Your role has no actions on this device.'))),
			reveal,
			el('div', { class: 'grid-2' },
				panel('Device', dl([
					['Class', d.class], ['Serial', d.serial], ['Criticality', badge('crit', d.criticality)],
					['Manufacturer', d.manufacturer], ['Model', d.model], ['Firmware', d.firmware],
					['Owner', d.owner], ['Location', d.location],
					['Registered', timeCell(d.created_at)], ['Last change', timeCell(d.updated_at)],
					d.token_expires ? ['Enrollment token until', timeCell(d.token_expires)] : null,
					seen ? ['Last seen', el('span', { id: 'last-seen' }, seen)] : null,
				])),
				panel('Lifecycle', timeline(audit))),
			panel('Certificates (' + certs.length + ')', certTable(certs, { device: false })));
	}

	function showToken(box, r) {
		const code = el('code', { id: 'enrollment-token', class: 'secret' }, r.enrollment_token);
		box.replaceChildren(el('div', { class: 'notice' },
			el('p', null, el('strong', null, 'Enrollment token for ' + r.id), ' — shown once; valid until ',
				fmtTime(r.expires), '. Give it to the device (EST password, or ',
				el('code', null, 'devtrust-agent'), ').'),
			el('p', null, code, ' ', el('button', {
				type: 'button', class: 'btn small',
				onclick: () => {
					const range = document.createRange();
					range.selectNodeContents(code);
					const sel = window.getSelection();
					sel.removeAllRanges();
					sel.addRange(range);
					if (navigator.clipboard)
						navigator.clipboard.writeText(r.enrollment_token).then(() => flash('Token copied.'), () => {});
				},
			}, 'Copy'), ' ', el('button', { type: 'button', class: 'btn small', onclick: () => box.replaceChildren() }, 'Done'))));
	}

	function timeline(audit) {
		if (audit.error)
			return errorBox(audit.error);
		const items = (audit.items || []).slice().reverse();
		if (!items.length)
			return el('p', { class: 'muted empty' }, 'No events.');
		return el('ol', { class: 'timeline', id: 'timeline' }, items.map((e) => el('li', { 'data-action': e.action },
			el('div', { class: 'tl-head' },
				el('span', { class: 'tl-action' }, e.action), ' ', el('span', { class: 'muted small' }, fmtTime(e.time))),
			el('div', { class: 'small' }, 'by ', el('span', { class: 'mono' }, e.actor || '?'),
				e.reason ? [' — ', el('em', null, e.reason)] : ''),
			detailsText(e.details) ? el('div', { class: 'muted small details' }, detailsText(e.details)) : '')));
	}

	/* An audit event's details (a JSON text: before, after, and more) in a line. */
	function detailsText(s) {
		if (!s)
			return '';
		let v;
		try {
			v = JSON.parse(s);
		} catch (e) {
			return s;
		}
		if (!v || typeof v !== 'object')
			return String(v);
		return Object.entries(v).map(([k, x]) => k + ': ' + (x && typeof x === 'object' ? compact(x) : String(x))).join('; ');
	}

	function compact(o) {
		return Object.entries(o).map(([k, x]) => k + '=' + (x && typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ');
	}

	/* ---- certificates ---- */

	function certTable(certs, opts) {
		const show = opts || {};
		return table(['Serial'].concat(show.device === false ? [] : ['Device'],
			['CA', 'Key', 'Status', 'Not before', 'Not after', 'Revocation'], can('revoke') ? [''] : []),
		certs.map((c) => el('tr', { 'data-serial': c.serial },
			el('td', null, certLink(c.serial)),
			show.device === false ? '' : el('td', null, deviceLink(c.device)),
			el('td', { class: 'nowrap' }, c.ca),
			el('td', { class: 'nowrap' }, c.key_type),
			el('td', null, badge('cert', c.status)),
			el('td', null, timeCell(c.not_before)),
			el('td', { class: 'nowrap' }, timeCell(c.not_after), c.status === 'valid' && parseTime(c.not_after)
				? el('span', { class: 'muted small' }, ' ' + relTime(c.not_after)) : ''),
			el('td', null, c.status === 'valid' ? '' : [c.reason, ' ', el('span', { class: 'muted small' }, fmtTime(c.revoked_at))]),
			can('revoke') ? el('td', null, c.status === 'revoked' ? '' : el('button', {
				type: 'button', class: 'btn small danger', 'data-revoke': c.serial, onclick: () => revokeCert(c),
			}, 'Revoke')) : '')),
		'No certificates.');
	}

	async function revokeCert(c) {
		const ans = await confirmDialog({
			title: 'Revoke certificate',
			message: 'Revoke ' + c.serial + ' of ' + c.device + '? CRL and OCSP say so from now on; this cannot be undone.',
			ok: 'Revoke', danger: true,
			fields: [
				{ name: 'reason', label: 'Reason (RFC 5280)', type: 'select', options: REVOKE_REASONS, value: 'superseded' },
				{ name: 'why', label: 'Note (recorded in the audit log)', type: 'text', placeholder: 'optional' },
			],
		});
		if (!ans)
			return;
		try {
			const body = { reason: ans.reason };
			if (ans.why)
				body.why = ans.why;
			await api('POST', '/certificates/' + encodeURIComponent(c.serial) + '/revoke', body);
			flash('Certificate ' + shortSerial(c.serial) + ' revoked (' + ans.reason + ').');
			refresh();
		} catch (e) {
			flash('Revocation failed: ' + e.message, 'error');
		}
	}

	async function viewCertificates(params) {
		const f = {
			status: params.get('status') || '', device: params.get('device') || '',
			ca: params.get('ca') || '', class: params.get('class') || '', cursor: params.get('cursor') || '',
		};
		if (!can('certificates') && !f.device)
			throw new ApiError(403, 'forbidden', 'a vendor sees certificates on each device\'s page');
		const [list, classes, cas] = await Promise.all([
			api('GET', '/certificates' + qs(Object.assign({ limit: PAGE }, f))),
			can('classes') ? api('GET', '/classes').catch(() => ({ items: [] })) : { items: [] },
			can('classes') ? api('GET', '/cas').catch(() => ({ items: [] })) : { items: [] },
		]);
		const form = el('form', { class: 'filters', id: 'cert-filters', onsubmit: onFilter },
			field('Status', select('status', [['', 'any'], ['valid', 'valid'], ['hold', 'on hold'], ['revoked', 'revoked']], f.status)),
			field('Device', el('input', { name: 'device', value: f.device })),
			field('CA', select('ca', [['', 'any']].concat(cas.items.filter((c) => c.kind !== 'admin').map((c) => c.name)), f.ca)),
			field('Class', select('class', [['', 'any']].concat(classes.items.map((c) => c.name)), f.class)),
			el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'btn primary' }, 'Filter'),
				link('#/certificates', 'Clear', { class: 'btn' })));
		function onFilter(e) {
			e.preventDefault();
			go('/certificates', Object.fromEntries([...new FormData(form).entries()].filter(([, v]) => v)));
		}
		const tabs = el('div', { class: 'chips' }, [['', 'All'], ['valid', 'Valid'], ['hold', 'On hold'], ['revoked', 'Revoked']].map(([s, t]) =>
			link('#/certificates' + qs(Object.assign({}, f, { status: s, cursor: '' })), t,
				{ class: 'chip', 'aria-pressed': String(f.status === s) })));
		return el('div', { class: 'page', id: 'certificates' },
			el('h1', null, 'Certificates and revocations'),
			tabs, form,
			panel(null, certTable(list.items), pager('/certificates', f, list.next_cursor)));
	}

	async function viewCertificate(params, alive, serial) {
		const c = await api('GET', '/certificates/' + encodeURIComponent(serial));
		return el('div', { class: 'page', id: 'certificate' },
			el('div', { class: 'page-head' },
				el('h1', null, 'Certificate ', badge('cert', c.status)),
				el('div', { class: 'actions' }, can('revoke') && c.status !== 'revoked'
					? el('button', { type: 'button', class: 'btn danger', onclick: () => revokeCert(c) }, 'Revoke') : '')),
			panel(null, dl([
				['Serial', el('span', { class: 'mono' }, c.serial)], ['Device', deviceLink(c.device)], ['CA', c.ca],
				['Key type', c.key_type], ['Status', c.status], ['Not before', timeCell(c.not_before)],
				['Not after', timeCell(c.not_after)], ['Issued', timeCell(c.issued_at)],
				c.status !== 'valid' ? ['Reason', c.reason] : null,
				c.status !== 'valid' ? ['Since', timeCell(c.revoked_at)] : null,
				['SPKI SHA-256', el('span', { class: 'mono wrap' }, c.spki_sha256)],
			])),
			c.pem ? panel('PEM', el('pre', { class: 'pem' }, c.pem)) : '');
	}

	/* ---- policies ---- */

	async function viewPolicies(params) {
		const f = { class: params.get('class') || '', service: params.get('service') || '' };
		const [list, classes] = await Promise.all([
			api('GET', '/policies' + qs(f)),
			api('GET', '/classes').catch(() => ({ items: [] })),
		]);
		const edit = can('policyEdit');
		const classNames = classes.items.map((c) => c.name);
		const filter = el('form', { class: 'filters', onsubmit: (e) => {
			e.preventDefault();
			go('/policies', Object.fromEntries([...new FormData(filter).entries()].filter(([, v]) => v)));
		} },
		field('Class', select('class', [['', 'any']].concat(classNames), f.class)),
		field('Service', el('input', { name: 'service', value: f.service })),
		el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'btn primary' }, 'Filter'),
			link('#/policies', 'Clear', { class: 'btn' })));
		const add = el('form', { class: 'filters', id: 'policy-add', onsubmit: onAdd },
			field('Class', select('class', classNames, f.class || classNames[0])),
			field('Service', el('input', { name: 'service', required: true, placeholder: 'e.g. telemetry' })),
			field('Path pattern', el('input', { name: 'pattern', value: '/*' })),
			field('Methods', el('input', { name: 'methods', value: '*', placeholder: 'GET,POST or *' })),
			el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'btn primary' }, 'Allow')));
		async function onAdd(e) {
			e.preventDefault();
			const v = Object.fromEntries(new FormData(add).entries());
			try {
				await api('POST', '/policies', v);
				flash('Class ' + v.class + ' may now call ' + v.service + ' ' + v.pattern + '.');
				refresh();
			} catch (ex) {
				flash('Policy not added: ' + ex.message, 'error');
			}
		}
		async function remove(p) {
			const ok = await confirmDialog({
				title: 'Remove policy',
				message: 'Class ' + p.class + ' will no longer be allowed ' + p.methods + ' ' + p.pattern + ' on ' + p.service + '.',
				ok: 'Remove', danger: true,
			});
			if (!ok)
				return;
			try {
				const r = await api('DELETE', '/policies' + qs({ class: p.class, service: p.service, pattern: p.pattern }));
				flash(r.removed + ' rule' + (r.removed === 1 ? '' : 's') + ' removed.');
				refresh();
			} catch (ex) {
				flash('Policy not removed: ' + ex.message, 'error');
			}
		}
		return el('div', { class: 'page', id: 'policies' },
			el('h1', null, 'Policies'),
			el('p', { class: 'muted' }, 'Which device classes may call which backend services (the /authz decision). Anything not listed is refused.'),
			filter,
			panel(null, table(['Class', 'Service', 'Pattern', 'Methods', 'Created'].concat(edit ? [''] : []),
				list.items.map((p) => el('tr', null,
					el('td', null, p.class), el('td', null, p.service), el('td', { class: 'mono' }, p.pattern),
					el('td', null, p.methods), el('td', null, timeCell(p.created_at)),
					edit ? el('td', null, el('button', { type: 'button', class: 'btn small danger', onclick: () => remove(p) }, 'Remove')) : '')),
				'No policies: every device is refused by /authz.')),
			edit ? panel('Allow a class to call a service', add) : '');
	}

	/* ---- audit ---- */

	function objectLink(e) {
		if (!e.object)
			return '';
		if (e.action.startsWith('device.'))
			return deviceLink(e.object);
		if (e.action === 'cert.issue' || e.action === 'cert.revoke')
			return certLink(e.object);
		return el('span', { class: 'mono', title: e.object }, shortSerial(e.object));
	}

	async function viewAudit(params) {
		const f = { object: params.get('object') || '', cursor: params.get('cursor') || '' };
		const list = await api('GET', '/audit' + qs(Object.assign({ limit: PAGE }, f)));
		const verifyOut = el('span', { id: 'audit-verify', class: 'small' });
		const form = el('form', { class: 'filters', onsubmit: (e) => {
			e.preventDefault();
			go('/audit', Object.fromEntries([...new FormData(form).entries()].filter(([, v]) => v)));
		} },
		field('Object (device id, serial, class…)', el('input', { name: 'object', value: f.object })),
		el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'btn primary' }, 'Filter'),
			link('#/audit', 'Clear', { class: 'btn' })));
		async function verify() {
			verifyOut.textContent = 'verifying…';
			try {
				const r = await api('GET', '/audit/verify');
				verifyOut.className = 'small ' + (r.ok ? 'ok-text' : 'error-text');
				verifyOut.textContent = r.ok ? 'Chain intact: ' + r.verified + ' events verified.'
					: 'Chain broken at event ' + r.first_broken + ': ' + r.message;
			} catch (e) {
				verifyOut.className = 'small error-text';
				verifyOut.textContent = e.message;
			}
		}
		return el('div', { class: 'page', id: 'audit', 'data-object': f.object, 'data-cursor': f.cursor },
			el('div', { class: 'page-head' }, el('h1', null, 'Audit log'),
				can('auditVerify') ? el('div', { class: 'actions' },
					el('button', { type: 'button', class: 'btn', onclick: verify }, 'Verify hash chain'), ' ', verifyOut) : ''),
			el('p', { class: 'muted' }, 'Append-only and hash-chained, oldest first.'),
			form,
			panel(null, table(['#', 'Time', 'Actor', 'Action', 'Object', 'Reason', 'Details'],
				list.items.map((e) => el('tr', null,
					el('td', { class: 'num' }, String(e.seq)),
					el('td', { class: 'nowrap' }, fmtTime(e.time)),
					el('td', { class: 'mono' }, e.actor),
					el('td', null, e.action),
					el('td', null, objectLink(e)),
					el('td', null, e.reason),
					el('td', { class: 'details small' }, detailsText(e.details)))),
				'No events.'),
			pager('/audit', f, list.next_cursor)));
	}

	window.addEventListener('hashchange', route);
	if (document.readyState === 'loading')
		document.addEventListener('DOMContentLoaded', start);
	else
		start();
})();
