// vspec view: keyboard navigation of filmstrips and steps, live reload of runs in progress.
// Plain script, no dependencies: pages also work from a static export opened from disk.
(() => {
  "use strict";
  const body = document.body;

  // A page of a run in progress polls the run's signature and reloads when it changes.
  if (body.dataset.live) {
    let signature = body.dataset.signature;
    setInterval(async () => {
      try {
        const reply = await fetch(body.dataset.live, {cache: "no-store"});
        const data = await reply.json();
        if (data.signature && data.signature !== signature) {
          signature = data.signature;
          location.reload();
        }
      } catch (e) { /* the server is gone or busy: try again at the next tick */ }
    }, 2000);
  }

  const typing = (e) => e.target.matches && e.target.matches("input, textarea, select");
  const follow = (selector, hash) => {
    const a = document.querySelector(selector);
    if (a) location.href = a.href.split("#")[0] + (hash || "");
    return Boolean(a);
  };

  // Filmstrip: arrows move the selection, Enter opens the step; the page edge goes on.
  const strip = document.querySelector(".filmstrip");
  if (strip) {
    const steps = Array.from(strip.querySelectorAll(".step"));
    let current = -1;
    const select = (i, scroll = true) => {
      if (!steps.length) return;
      current = Math.max(0, Math.min(steps.length - 1, i));
      steps.forEach((s) => { s.classList.remove("selected"); s.removeAttribute("aria-current"); });
      const el = steps[current];
      el.classList.add("selected");
      el.setAttribute("aria-current", "step");
      if (!scroll) return;  // a fresh page stays at its top, its address without a step
      el.focus({preventScroll: true});
      el.scrollIntoView({block: "nearest", inline: "nearest"});
      history.replaceState(null, "", "#" + el.id);
    };
    const hash = location.hash.slice(1);
    if (hash === "last") select(steps.length - 1);
    else if (hash) select(Math.max(0, steps.findIndex((s) => s.id === hash)));
    else select(0, false);  // a fresh page keeps its header in view
    steps.forEach((s, i) => s.addEventListener("focus", () => { if (current !== i) select(i); }));
    document.addEventListener("keydown", (e) => {
      if (typing(e) || e.altKey || e.ctrlKey || e.metaKey) return;
      const k = e.key;
      if (k === "ArrowRight" || k === "ArrowDown" || k === "j") {
        e.preventDefault();
        if (current < steps.length - 1) select(current + 1);
        else follow(".pager a[rel=next]", "#first");
      } else if (k === "ArrowLeft" || k === "ArrowUp" || k === "k") {
        e.preventDefault();
        if (current > 0) select(current - 1);
        else follow(".pager a[rel=prev]", "#last");
      } else if (k === "Home") { e.preventDefault(); select(0); }
      else if (k === "End") { e.preventDefault(); select(steps.length - 1); }
      else if (k === "Enter" && current >= 0) { e.preventDefault(); location.href = steps[current].href; }
    });
  }

  // One step (or answer): arrows go to the neighbours, Escape back to the filmstrip.
  if (body.dataset.page === "step") {
    document.addEventListener("keydown", (e) => {
      if (typing(e) || e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === "ArrowRight" || e.key === "j") { if (follow(".pager a[rel=next]")) e.preventDefault(); }
      else if (e.key === "ArrowLeft" || e.key === "k") { if (follow(".pager a[rel=prev]")) e.preventDefault(); }
      else if (e.key === "Escape") {
        const up = document.querySelector(".pager a[rel=up]");
        if (up) location.href = up.href;
      }
    });
  }
})();
