// ValueSpectrum local feed page. A person scrolls it (ArrowDown / swipe / wheel); an agent
// drives it through window.vspec with the "manual" clock (advance(seconds), then ArrowDown).
(() => {
  "use strict";
  const q = new URLSearchParams(location.search);
  const style = document.body.dataset.style;
  const session = q.get("session") || "web-" + Math.random().toString(36).slice(2, 10);
  const seed = parseInt(q.get("seed") || "0", 10) || 0;
  const clock = q.get("clock") === "manual" ? "manual" : "realtime";
  const speed = parseFloat(q.get("speed") || "1") || 1;
  // a fresh page on a session in progress (an agent's page replaced to free what the old
  // one held): it shows the session's current post and serves nothing
  const resume = q.get("resume") === "1";
  // animated posts: zoom and drift over the image during the first seconds (motion=panzoom);
  // the same formula as valuespectrum/environments/observation.py `panzoom`
  const motion = q.get("motion") === "panzoom" ? "panzoom" : "none";
  const MOTION_SECONDS = 4.0, MOTION_ZOOM = 0.3, MOTION_PAN = 0.08;
  const DIRECTIONS = [[1, 0], [-1, 0], [0, 1], [0, -1]];
  const $ = (id) => document.getElementById(id);
  const post = $("post"), img = $("post-image"), bar = $("progress-bar"), status = $("status");
  let waiters = [];
  let lastTick = performance.now();

  const api = {
    ready: false, busy: false, error: null, session, style, seed, clock, speed, motion,
    item: null, itemId: null, duration: null, watched: 0, step: 0, t: 0, lastEvent: null,
    imageLoaded: null,
    renderTime: null,
    advance(seconds) {  // manual clock: the viewer has watched `seconds` more
      api.watched += Math.max(0, Number(seconds) || 0);
      paint();
      return api.watched;
    },
    next() { return next(); },
    renderAt(seconds) {  // show the post as at video time `seconds` (null: follow the clock)
      api.renderTime = seconds === null || seconds === undefined ? null : Number(seconds);
      paint();
      // resolve once the frame is on screen, so a screenshot taken next shows it
      return new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(api.renderTime))));
    },
    snapshot() {
      return {
        item_id: api.itemId, duration_s: api.duration, watched_s: api.watched, t_s: api.t,
        step: api.step, url: location.href, error: api.error, last_event: api.lastEvent,
        image_loaded: api.imageLoaded,
        link: api.item ? api.item.link || "" : "", posted: api.item ? api.item.posted || "" : "",
        caption: $("caption").textContent, creator: $("creator").textContent,
        hashtags: Array.from($("hashtags").querySelectorAll("span"), (s) => s.textContent.trim().replace(/^#/, "")),
        // the post as the feed sent it (category, value tags...): the agent's record of
        // the step, never shown to its model
        item: api.item,
      };
    },
    waitForItem(prevId, timeoutMs = 10000) {  // resolves once a post other than prevId is shown
      return new Promise((resolve) => {
        const done = () => (api.ready && api.itemId !== prevId) || api.error;
        if (done()) return resolve(api.snapshot());
        const timer = setTimeout(() => resolve(api.snapshot()), timeoutMs);
        waiters.push(() => { if (done()) { clearTimeout(timer); resolve(api.snapshot()); return true; } return false; });
      });
    },
  };
  window.vspec = api;

  function notify() { waiters = waiters.filter((w) => !w()); }

  function panzoom(t, id) {
    const p = Math.min(Math.max(t, 0), MOTION_SECONDS) / MOTION_SECONDS;
    let sum = 0;
    for (const c of id) sum += c.codePointAt(0);
    const [dx, dy] = DIRECTIONS[sum % DIRECTIONS.length];
    return [1 + MOTION_ZOOM * p, dx * MOTION_PAN * p, dy * MOTION_PAN * p];
  }

  function paint() {
    const d = api.duration || 1;
    bar.style.width = Math.min(100, (100 * api.watched) / d).toFixed(2) + "%";
    if (motion === "panzoom" && api.itemId) {
      const t = api.renderTime === null ? api.watched : api.renderTime;
      const [s, fx, fy] = panzoom(t, api.itemId);
      img.style.transform = `translate(${fx * innerWidth}px, ${fy * innerHeight}px) scale(${s})`;
    }
  }

  function fail(message) {
    api.error = message; api.ready = false;
    status.textContent = message; status.hidden = false;
    notify();
  }

  async function call(method, path, body) {
    const r = await fetch(path, {
      method, headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await r.json().catch(() => ({ error: r.statusText }));
    if (!r.ok) throw new Error(data.error || r.statusText);
    return data;
  }

  // An image that fails to load is tried again (the feed server may be restarting: the
  // chaos soak found posts screenshotted without their image, so viewers that read pixels
  // saw another post than the same trial without the fault); after 5 attempts over ~3 s the
  // post shows without it, its text still there, and the snapshot says image_loaded false
  // (agents then restart the trial rather than show a viewer a post without its picture).
  async function loadImage(url) {
    for (let attempt = 0; attempt < 5; attempt++) {
      img.src = attempt ? `${url}${url.includes("?") ? "&" : "?"}retry=${attempt}` : url;
      try { await img.decode(); return true; } catch (e) { /* tried again below */ }
      if (attempt < 4) await new Promise((done) => setTimeout(done, 200 * 2 ** attempt));
    }
    return false;
  }

  async function show(item) {
    api.imageLoaded = await loadImage(item.image_url);
    post.dataset.itemId = item.item_id;
    $("caption").textContent = item.caption;
    $("creator").textContent = item.creator;
    const tags = $("hashtags");
    tags.replaceChildren(...item.hashtags.map((h) => {
      const s = document.createElement("span"); s.textContent = "#" + h + " "; return s;
    }));
    $("likes").textContent = String(Math.round(item.popularity * 9000 + 12));
    $("comments").textContent = String(Math.round(item.popularity * 700 + 3));
    Object.assign(api, { item, itemId: item.item_id, duration: item.duration_s, watched: 0,
                         renderTime: null });
    api.step += 1;
    paint();
    lastTick = performance.now();
    api.ready = true;
    notify();
  }

  async function next() {
    if (api.busy || !api.ready) return;  // key repeat while a post loads
    api.busy = true; api.ready = false;
    try {
      const watched = Math.min(api.watched, api.duration);
      // one request per scroll: the event's answer carries the next post
      const ev = { session, item_id: api.itemId, watched_s: watched, skipped: watched < api.duration,
                   next: true };
      const { next: item, ...r } = await call("POST", "/api/events", ev);
      api.lastEvent = r; api.t = r.t_s;
      await show(item);
    } catch (e) { fail(String(e.message || e)); } finally { api.busy = false; }
  }

  function tick() {  // realtime clock: real seconds x speed
    const now = performance.now();
    if (clock === "realtime" && api.ready) { api.watched += ((now - lastTick) / 1000) * speed; paint(); }
    lastTick = now;
  }

  document.addEventListener("keydown", (e) => {
    if (["ArrowDown", "PageDown", " ", "j"].includes(e.key)) { e.preventDefault(); next(); }
  });
  let wheelAt = 0;
  addEventListener("wheel", (e) => {
    if (e.deltaY > 20 && performance.now() - wheelAt > 400) { wheelAt = performance.now(); next(); }
  }, { passive: true });
  let touchY = null;
  addEventListener("touchstart", (e) => { touchY = e.touches[0].clientY; }, { passive: true });
  addEventListener("touchend", (e) => {
    if (touchY !== null && touchY - e.changedTouches[0].clientY > 50) next();
    touchY = null;
  }, { passive: true });
  if (clock === "realtime") setInterval(tick, 100);

  (async () => {
    try {
      if (resume) {
        const now = await call("GET", "/api/current?session=" + encodeURIComponent(session));
        api.t = now.t_s;
        await show(now.item);
        return;
      }
      await call("POST", "/api/session", { session, style, seed, clock, speed });
      await show(await call("GET", "/api/next?session=" + encodeURIComponent(session)));
    } catch (e) { fail(String(e.message || e)); }
  })();
})();
