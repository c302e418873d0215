// The page of `migrate supervise`: reads /api/v1/migrations (and each
// migration's detail) every POLL_MS and draws it. Written by hand, served
// by migrate itself; no library, no build step. Everything from the API is
// put in the page as text (textContent, SVG attributes), never as markup.
'use strict';

(function () {
  const POLL_MS = 1500;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  // ---- small helpers -----------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function add(parent, ...children) {
    for (const c of children) {
      if (c !== null && c !== undefined && c !== false) parent.appendChild(c);
    }
    return parent;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const k of Object.keys(attrs || {})) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function pad(n) {
    return String(n).padStart(2, '0');
  }

  function time(iso, withDate) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    const t = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    const today = new Date();
    if (!withDate && d.toDateString() === today.toDateString()) return t;
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + t;
  }

  function num(v) {
    if (v === null || v === undefined) return 'no data';
    if (typeof v !== 'number') return String(v);
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 0.001 || a >= 1e6)) return v.toExponential(3);
    return String(Number(v.toPrecision(4)));
  }

  function spanWords(ms) {
    const s = Math.round(ms / 1000);
    if (s < 120) return s + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    if (s < 172800) return Math.round(s / 3600) + ' h';
    return Math.round(s / 86400) + ' days';
  }

  function words(condition) {
    return String(condition || '').replace(/_/g, ' ');
  }

  function badge(text, kind) {
    return el('span', 'badge ' + kind, text);
  }

  async function getJson(path) {
    const r = await fetch(path, {
      cache: 'no-store',
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.json();
  }

  // ---- the header --------------------------------------------------------

  function renderTop(overview) {
    const sup = overview.supervisor || {};
    const role = document.getElementById('role');
    role.textContent = sup.role || 'unknown';
    role.className = 'badge role-' + (sup.role || 'unknown');
    const health = document.getElementById('health');
    health.textContent = sup.health || '';
    health.className = 'health ' + (sup.healthy ? 'healthy' : 'unhealthy');
    document.getElementById('updated').textContent = 'updated ' + time(overview.now);
  }

  function setOffline(error) {
    const box = document.getElementById('offline');
    if (error) {
      box.textContent = 'Cannot reach the supervisor (' + error.message + '); retrying. What is shown may be out of date.';
      box.hidden = false;
    } else {
      box.hidden = true;
    }
  }

  // ---- one migration -----------------------------------------------------

  function renderMigration(m) {
    const sec = el('section', 'migration');
    sec.dataset.migration = m.name;
    sec.dataset.condition = m.condition || '';
    if (m.error) {
      add(sec, el('h2', null, m.name), el('p', 'banner banner-problem', m.error));
      return sec;
    }
    const head = el('header', 'mig-head');
    const title = add(el('div', 'mig-title'), el('h2', null, m.name),
      badge(words(m.condition), 'cond cond-' + m.condition));
    const meta = [];
    if (m.steps) meta.push('step ' + Math.min(m.position + 1, m.steps) + ' of ' + m.steps);
    if (m.serial !== null && m.serial !== undefined) meta.push('serial ' + m.serial);
    if (m.last_change) {
      meta.push('last change ' + time(m.last_change.at) + ' by ' + m.last_change.actor);
    }
    add(head, title, el('div', 'mig-meta', meta.join(' · ')));
    add(sec, head);

    if (m.problem) {
      const p = el('div', 'banner banner-problem');
      p.dataset.problem = '';
      add(p, el('strong', null, 'Problem: '), el('span', null, m.problem));
      add(sec, p);
    }
    if (m.rollback) add(sec, renderRollback(m.rollback, m.condition));
    if (m.paused) {
      const p = el('div', 'banner banner-paused');
      add(p, el('strong', null, m.paused.breach ? 'Paused by a gate: ' : 'Paused by ' + m.paused.actor + ': '),
        el('span', null, m.paused.reason + ' (' + time(m.paused.at) + ')'));
      add(sec, p);
    }

    add(sec, renderProgress(m));

    const grid = el('div', 'grid');
    add(grid, renderTargets(m.targets), renderGates(m.gates || []));
    if ((m.reconciliations || []).length) add(grid, renderParity(m.reconciliations));
    add(sec, grid);
    add(sec, renderJournal(m));
    return sec;
  }

  function renderRollback(rb, condition) {
    const box = el('div', 'banner banner-rollback');
    box.dataset.rollback = rb.finished ? 'finished' : 'running';
    const what = rb.breach ? 'Rolled back after a breach' : 'Rolled back';
    add(box, el('strong', null, what + ' — '),
      el('span', null, rb.reason + ' (by ' + rb.actor + ', ' + time(rb.at, true) + ')'));
    if (rb.remaining && rb.remaining.length) {
      add(box, el('div', 'still-wrong', 'STILL WRONG: ' + rb.remaining.join(', ') + ' — run migrate rollback'));
    } else if (!rb.finished) {
      add(box, el('div', null, 'restoring…'));
    } else if (condition === 'rolled_back' && rb.phase) {
      add(box, el('div', 'banner-hint', 'Every target is back. migrate retry starts again at phase ' + rb.phase + '.'));
    }
    return box;
  }

  function renderProgress(m) {
    const wrap = el('div', 'progress');
    const steps = m.steps_detail || [];
    if (!steps.length) {
      add(wrap, el('p', 'empty', 'Not started: no step has run.'));
      return wrap;
    }
    const line = el('div', 'phases');
    let phase = null;
    let list = null;
    for (const s of steps) {
      if (!phase || phase.dataset.phase !== s.phase) {
        phase = el('div', 'phase');
        phase.dataset.phase = s.phase;
        list = el('ol', 'steps');
        add(phase, el('div', 'phase-name', s.phase), list);
        add(line, phase);
      }
      const li = el('li', 'step ' + s.place);
      li.dataset.step = s.id;
      li.dataset.place = s.place;
      li.title = s.action;
      const mark = { done: '✓', failed: '✕', current: '●', next: '›', pending: '' }[s.place] || '';
      add(li, el('span', 'dot', mark), el('span', 'step-id', s.id));
      if (s.approved) add(li, el('span', 'approved', 'approved by ' + s.approved.actor));
      add(list, li);
    }
    add(wrap, line);

    const cur = steps.find((s) => s.place === 'current' || s.place === 'failed');
    const next = steps.find((s) => s.place === 'next');
    const now = el('div', 'current-step');
    if (cur) {
      now.dataset.currentStep = cur.id;
      add(now, el('span', 'label', 'Now'), el('span', 'step-name', cur.id),
        el('span', 'step-action', cur.action), el('span', 'step-phase', 'phase ' + cur.phase));
      if (cur.error) add(now, el('div', 'step-error', 'last attempt failed: ' + cur.error));
    } else if (m.condition === 'completed') {
      add(now, el('span', 'label', 'Done'), el('span', 'step-action', 'every step is done'));
    } else {
      add(now, el('span', 'label', 'Now'), el('span', 'step-action', m.words));
    }
    if (next) add(now, el('span', 'next', 'next: ' + next.id + ' — ' + next.action));
    add(wrap, now);

    if (m.soak) add(wrap, renderSoak(m.soak));
    return wrap;
  }

  function renderSoak(k) {
    const box = el('div', 'soak');
    box.dataset.soak = k.step;
    const bar = el('div', 'bar');
    const fill = el('div', 'fill' + (k.clock_held ? ' held' : ''));
    const share = k.duration_ms ? Math.min(100, (100 * k.elapsed_ms) / k.duration_ms) : 100;
    fill.style.width = share.toFixed(2) + '%';
    add(bar, fill);
    let text = 'soak ' + k.step + ': ' + k.remaining + ' left of ' + k.duration;
    if (k.clock_held) text += ' — clock held while paused (gates still evaluated)';
    else if (k.ends_at) text += ' — ends ' + time(k.ends_at, true);
    const label = el('div', 'soak-text', text);
    label.dataset.remainingMs = String(k.remaining_ms);
    add(box, bar, label);
    return box;
  }

  // ---- targets -----------------------------------------------------------

  function renderTargets(t) {
    const panel = add(el('div', 'panel'), el('h3', null, 'Targets'));
    const items = (t && t.items) || [];
    if (!items.length) {
      add(panel, el('p', 'empty', 'No target changed yet.'));
      return panel;
    }
    const table = el('table', 'targets');
    const head = el('tr');
    for (const h of ['Target', 'Baseline', 'Set by migrate', 'Live']) add(head, el('th', null, h));
    add(table, add(el('thead'), head));
    const body = el('tbody');
    for (const it of items) {
      const tr = el('tr', it.drift ? 'drift' : '');
      tr.dataset.target = it.target;
      add(tr, el('td', 'mono', it.target), el('td', null, it.baseline), el('td', null, it.expected));
      const live = el('td', 'live');
      if (it.error) {
        add(live, el('span', 'unreadable', 'unreadable: ' + it.error));
      } else if (it.live === null || it.live === undefined) {
        add(live, el('span', 'muted', 'reading…'));
      } else {
        const v = el('span', 'live-value', it.live);
        add(live, v);
        if (typeof it.live_percent === 'number') {
          const bar = el('span', 'share');
          const fill = el('span', 'share-fill');
          fill.style.width = Math.max(0, Math.min(100, it.live_percent)) + '%';
          add(bar, fill);
          add(live, bar);
        }
        if (it.drift) add(live, badge('DRIFT', 'fail'));
      }
      add(tr, live);
      add(body, tr);
    }
    add(table, body);
    add(panel, table);
    if (t.read_at) add(panel, el('div', 'foot-note', 'live values read ' + time(t.read_at)));
    return panel;
  }

  // ---- gates -------------------------------------------------------------

  function renderGates(gates) {
    const panel = add(el('div', 'panel panel-wide'), el('h3', null, 'Gates'));
    if (!gates.length) {
      add(panel, el('p', 'empty', 'No gates.'));
      return panel;
    }
    for (const g of gates) add(panel, renderGate(g));
    return panel;
  }

  function definitionWords(def) {
    if (!def) return '';
    const parts = [];
    if (def.provider !== undefined && def.query !== undefined) parts.push(def.provider + ': ' + def.query);
    else if (def.reconcile !== undefined) parts.push('parity of ' + def.reconcile);
    for (const k of Object.keys(def)) {
      if (['provider', 'query', 'query_secret', 'reconcile', 'min', 'max', 'failure_limit',
        'no_data', 'interval', 'interval_ms', 'max_age', 'max_age_ms', 'kept_by_soak'].includes(k)) continue;
      const v = def[k];
      if (v === null || v === undefined) continue;
      parts.push(k + ': ' + (typeof v === 'object' ? JSON.stringify(v) : v));
    }
    return parts.join(' · ');
  }

  function renderGate(g) {
    const last = g.last;
    const ok = last ? last.ok : null;
    const card = el('div', 'gate ' + (ok === false ? 'bad' : ok === true ? 'good' : 'none'));
    card.dataset.gate = g.name;
    card.dataset.ok = ok === null ? 'none' : String(ok);
    const head = el('div', 'gate-head');
    const value = el('span', 'gate-value', last ? num(last.value) : '—');
    if (last && last.value !== null && last.value !== undefined) card.dataset.value = String(last.value);
    add(head, el('span', 'gate-name', g.name), value);
    if (ok === true) add(head, badge('pass', 'pass'));
    else if (ok === false) add(head, badge('breached', 'fail'));
    else add(head, badge('no reading', 'muted'));
    add(card, head);

    const meta = [];
    if (g.threshold) meta.push('threshold ' + g.threshold);
    const src = definitionWords(g.definition);
    if (src) meta.push(src);
    if (g.breaches_this_soak !== null && g.breaches_this_soak !== undefined) {
      meta.push('breaches this soak ' + g.breaches_this_soak + ' (limit ' + (g.failure_limit || 0) + ')');
    }
    if (g.readings_total) {
      meta.push(g.readings_total + (g.readings_total === 1 ? ' reading, ' : ' readings, ') + g.readings_failed + ' breached');
    }
    if (last) meta.push('last ' + time(last.at));
    add(card, el('div', 'gate-meta', meta.join(' · ')));

    const readings = (g.readings || []).map((r) => ({ at: r.at, value: r.value, ok: r.ok }));
    add(card, chart(readings, g.min, g.max, g.trips || []));
    const h = g.history;
    if (h && h.buckets && h.buckets.length > 1 && g.readings_total > readings.length) {
      add(card, el('div', 'chart-caption', 'Above: the last ' + readings.length + ' readings. Below: all ' +
        g.readings_total + ', each span of ' + spanWords(h.bucket_ms) + ' as its lowest to highest value.'));
      add(card, chart([], g.min, g.max, g.trips || [], { height: 110, bands: h.buckets }));
    }

    for (const t of (g.trips || []).slice(-3).reverse()) {
      const trip = el('div', 'trip');
      trip.dataset.trip = g.name;
      add(trip, el('span', 'trip-at', time(t.at)), el('span', null, t.reason));
      add(card, trip);
    }
    const withEvidence = (g.readings || []).filter((r) => r.evidence);
    const evidence = withEvidence.length ? withEvidence[withEvidence.length - 1] : last && last.evidence ? last : null;
    if (evidence) add(card, renderEvidence(evidence));
    if (last && last.note) add(card, el('div', 'gate-note', last.note));
    return card;
  }

  // The evidence a reading carries (a comparison's arms, its ratio and
  // interval...), whatever its shape: nested keys flattened, values as text.
  function renderEvidence(reading) {
    const box = el('div', 'evidence');
    add(box, el('div', 'evidence-title', 'Evidence of the reading at ' + time(reading.at)));
    const table = el('table', 'kv');
    const rows = [];
    (function walk(prefix, v) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        for (const k of Object.keys(v)) walk(prefix ? prefix + '.' + k : k, v[k]);
      } else {
        rows.push([prefix, Array.isArray(v) ? JSON.stringify(v) : typeof v === 'number' ? num(v) : String(v)]);
      }
    })('', reading.evidence);
    for (const [k, v] of rows.slice(0, 40)) {
      add(table, add(el('tr'), el('th', null, k), el('td', 'mono', v)));
    }
    add(box, table);
    return box;
  }

  // Round values between lo and hi for the axis: about n of them, a step
  // of 1, 2, 2.5 or 5 times a power of ten.
  function ticks(lo, hi, n) {
    const raw = (hi - lo) / n;
    if (!(raw > 0) || !isFinite(raw)) return [lo];
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((v) => v >= raw) || 10 * mag;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9 && out.length < 12; v += step) {
      out.push(Number(v.toPrecision(12)));
    }
    return out;
  }

  // Readings over time against the thresholds, drawn as SVG.
  function chart(points, min, max, trips, opts) {
    const o = opts || {};
    const W = 640;
    const H = o.height || 150;
    const L = 52;
    const R = 10;
    const T = 10;
    const B = 22;
    const box = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart', role: 'img' });
    const bands = (o.bands || []).filter((b) => typeof b.min === 'number');
    const valued = points.filter((p) => typeof p.value === 'number');
    if (!points.length && !bands.length) {
      add(box, svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'chart-empty' }, 'no readings yet'));
      return box;
    }
    const times = points.map((p) => new Date(p.at).getTime());
    for (const b of o.bands || []) times.push(new Date(b.at).getTime());
    for (const t of trips) times.push(new Date(t.at).getTime());
    let t0 = Math.min(...times);
    let t1 = Math.max(...times);
    if (t1 - t0 < 1000) {
      t0 -= 500;
      t1 += 500;
    }
    const vals = valued.map((p) => p.value);
    for (const b of bands) vals.push(b.min, b.max);
    for (const v of [min, max]) if (typeof v === 'number') vals.push(v);
    if (o.ceiling !== undefined) vals.push(o.ceiling);
    let lo = vals.length ? Math.min(...vals) : 0;
    let hi = vals.length ? Math.max(...vals) : 1;
    if (hi - lo < 1e-12) {
      hi += Math.abs(hi) * 0.1 || 1;
      lo -= Math.abs(lo) * 0.1 || 0;
    }
    const span = hi - lo;
    const nonNegative = lo >= 0;
    hi += span * 0.08;
    lo -= span * 0.04;
    if (nonNegative && lo < 0) lo = 0;
    const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);

    // Frame, grid and axis labels.
    add(box, svg('rect', { x: L, y: T, width: W - L - R, height: H - T - B, class: 'chart-frame' }));
    for (const v of ticks(lo, hi, 4)) {
      add(box, svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'chart-grid' }));
      add(box, svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'chart-label' }, num(v)));
    }
    add(box, svg('text', { x: L, y: H - 6, class: 'chart-label' }, time(new Date(t0).toISOString())));
    add(box, svg('text', { x: W - R, y: H - 6, 'text-anchor': 'end', class: 'chart-label' }, time(new Date(t1).toISOString())));

    // Thresholds: the breach side shaded, the line dashed.
    const thresholds = [];
    if (typeof max === 'number') thresholds.push(['max', max]);
    if (typeof min === 'number') thresholds.push(['min', min]);
    for (const [kind, v] of thresholds) {
      const yy = y(v);
      const shade = kind === 'max'
        ? { x: L, y: T, width: W - L - R, height: Math.max(0, yy - T) }
        : { x: L, y: yy, width: W - L - R, height: Math.max(0, H - B - yy) };
      shade.class = 'chart-breach-zone';
      add(box, svg('rect', shade));
      add(box, svg('line', { x1: L, x2: W - R, y1: yy, y2: yy, class: 'chart-threshold' }));
      add(box, svg('text', { x: L + 6, y: kind === 'max' ? yy - 4 : yy + 12, class: 'chart-threshold-label' }, kind + ' ' + num(v)));
    }

    // Trips of the breaker.
    for (const t of trips) {
      const xx = x(new Date(t.at).getTime());
      add(box, svg('line', { x1: xx, x2: xx, y1: T, y2: H - B, class: 'chart-trip' }));
    }

    // Spans of time: lowest to highest as a band, the mean as a line, a
    // span with a breached reading marked.
    if (bands.length) {
      let top = '';
      let bottom = '';
      let mean = '';
      bands.forEach((b, i) => {
        const xx = x(new Date(b.at).getTime()).toFixed(1);
        top += (i ? 'L' : 'M') + xx + ' ' + y(b.max).toFixed(1) + ' ';
        bottom = 'L' + xx + ' ' + y(b.min).toFixed(1) + ' ' + bottom;
        mean += (i ? 'L' : 'M') + xx + ' ' + y(b.mean).toFixed(1) + ' ';
      });
      add(box, svg('path', { d: top + bottom + 'Z', class: 'chart-band' }));
      add(box, svg('path', { d: mean.trim(), class: 'chart-line' }));
    }
    for (const b of o.bands || []) {
      if (!b.failed) continue;
      const xx = x(new Date(b.at).getTime());
      const c = svg('circle', { cx: xx, cy: typeof b.max === 'number' ? y(b.max) : H - B - 3, r: 3.5, class: 'chart-bad' });
      add(c, svg('title', {}, time(b.at, true) + ': ' + b.failed + ' breached'));
      add(box, c);
    }

    // The readings: a line through those with a value, failed ones marked,
    // no-data ones as ticks on the axis.
    let d = '';
    let pen = false;
    for (const p of points) {
      if (typeof p.value !== 'number') {
        pen = false;
        continue;
      }
      const xx = x(new Date(p.at).getTime()).toFixed(1);
      const yy = y(p.value).toFixed(1);
      d += (pen ? 'L' : 'M') + xx + ' ' + yy + ' ';
      pen = true;
    }
    if (d) add(box, svg('path', { d: d.trim(), class: 'chart-line' }));
    for (const p of points) {
      const xx = x(new Date(p.at).getTime());
      if (typeof p.value !== 'number') {
        add(box, svg('line', { x1: xx, x2: xx, y1: H - B - 6, y2: H - B, class: 'chart-nodata' }));
      } else if (p.ok === false) {
        const c = svg('circle', { cx: xx, cy: y(p.value), r: 3.5, class: 'chart-bad' });
        add(c, svg('title', {}, time(p.at) + ': ' + num(p.value) + ' breached'));
        add(box, c);
      } else if (valued.length <= 60) {
        add(box, svg('circle', { cx: xx, cy: y(p.value), r: 2, class: 'chart-point' }));
      }
    }
    return box;
  }

  // ---- reconciliations ---------------------------------------------------

  function renderParity(recs) {
    const panel = add(el('div', 'panel panel-wide'), el('h3', null, 'Reconciliations'));
    for (const r of recs) {
      const card = el('div', 'gate');
      card.dataset.reconciliation = r.name;
      const head = add(el('div', 'gate-head'), el('span', 'gate-name', r.name),
        el('span', 'gate-value', r.parity === null || r.parity === undefined ? '—' : 'parity ' + num(r.parity)));
      if (r.complete === false) add(head, badge('sweep in progress', 'muted'));
      add(card, head);
      const diff = r.differences || {};
      const parts = [];
      for (const k of ['rows_compared', 'rows', 'missing', 'extra', 'different', 'differing']) {
        if (diff[k] !== undefined) parts.push(k.replace('_', ' ') + ' ' + diff[k]);
      }
      if (r.at) parts.push('at ' + time(r.at));
      add(card, el('div', 'gate-meta', parts.join(' · ')));
      const points = (r.readings || []).map((p) => ({ at: p.at, value: p.parity, ok: true }));
      add(card, chart(points, undefined, undefined, [], { height: 110, ceiling: 1 }));
      if (diff.unrepaired_keys && diff.unrepaired_keys.length) {
        const keys = diff.unrepaired_keys.map((k) => Object.keys(k).map((c) => c + '=' + k[c]).join(',')).join('  ');
        add(card, el('div', 'gate-note', 'rows not repaired (keys): ' + keys));
      }
      add(panel, card);
    }
    return panel;
  }

  // ---- journal -----------------------------------------------------------

  const MARKS = { rollback: 'rollback', approval: 'approval', breach: 'breach', pause: 'pause', failure: 'failed' };

  function renderJournal(m) {
    const panel = add(el('div', 'panel journal'), el('h3', null, 'Journal'));
    const rows = m.journal || [];
    if (!rows.length) {
      add(panel, el('p', 'empty', m.journal_read ? 'Nothing recorded yet.' : 'Reading the journal…'));
      return panel;
    }
    const table = el('table', 'journal-table');
    const head = el('tr');
    for (const h of ['#', 'Time', 'Who', 'What', 'Step', 'Details']) add(head, el('th', null, h));
    add(table, add(el('thead'), head));
    const body = el('tbody');
    for (const r of rows) {
      const tr = el('tr', r.mark ? 'mark-' + r.mark : '');
      tr.dataset.event = r.event;
      if (r.mark) tr.dataset.mark = r.mark;
      const what = el('td', 'event');
      add(what, el('span', null, r.event.replace(/_/g, ' ')));
      if (r.mark) add(what, badge(MARKS[r.mark] || r.mark, 'mark mark-' + r.mark));
      add(tr, el('td', 'muted', r.seq), el('td', 'mono nowrap', time(r.at, true)), el('td', null, r.actor),
        what, el('td', 'mono', r.step || ''), el('td', 'details', r.text));
      add(body, tr);
    }
    add(table, body);
    add(panel, table);
    add(panel, el('div', 'foot-note', 'Newest first; the last ' + rows.length + ' records (passing gate readings are plotted above, not listed).'));
    return panel;
  }

  // ---- the loop ----------------------------------------------------------

  // A migration's detail is asked for again when its state changed (its
  // serial), and every DETAIL_MS for its live values and soak clock.
  const DETAIL_MS = 5000;
  const details = new Map();

  async function detail(m) {
    const known = details.get(m.name);
    if (known && known.serial === m.serial && Date.now() - known.fetched < DETAIL_MS) return known.data;
    try {
      const data = await getJson('api/v1/migrations/' + encodeURIComponent(m.name));
      details.set(m.name, { serial: m.serial, fetched: Date.now(), data: data });
      return data;
    } catch (e) {
      return { name: m.name, condition: m.condition, error: String(e.message || e) };
    }
  }

  async function refresh() {
    try {
      const overview = await getJson('api/v1/migrations');
      for (const name of Array.from(details.keys())) {
        if (!overview.migrations.some((m) => m.name === name)) details.delete(name);
      }
      const shown = await Promise.all(overview.migrations.map(detail));
      renderTop(overview);
      const main = document.getElementById('main');
      const sections = shown.map(renderMigration);
      if (!sections.length) sections.push(el('p', 'empty', 'No migration is watched.'));
      main.replaceChildren(...sections);
      setOffline(null);
    } catch (e) {
      setOffline(e);
    } finally {
      setTimeout(refresh, POLL_MS);
    }
  }

  document.addEventListener('DOMContentLoaded', refresh);
})();
