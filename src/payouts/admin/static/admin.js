// payouts admin: keeps the jobs page (and a job's page) one live view of the truth. Every
// 2 seconds it asks ONE endpoint, GET /admin/feed, for every active job, every job created
// since the page loaded and the jobs this page shows as active; rows move between the
// Active, Failed and Completed sections as their status changes (the server renders each
// row), the counts follow, a failure is announced, and the header says how fresh the
// numbers are. The session cookie authorises these reads; no token is visible to this script.
"use strict";

(() => {
  const POLL_MS = 2000;
  const STATUSES = ["queued", "running", "completed", "failed"];
  const SINCE_MARGIN_MS = 10000;
  const ENDED_SHOWN = 20; // as the server renders them
  const number = new Intl.NumberFormat("en-US");
  let stopped = false;
  const field = (row, name) => row.querySelector(`[data-field="${name}"]`);

  function duration(seconds) {
    if (!Number.isFinite(seconds)) return "—";
    if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
    if (seconds < 60) return `${seconds.toFixed(1)} s`;
    const minutes = Math.floor(Math.round(seconds) / 60);
    if (minutes < 60) return `${minutes} min ${String(Math.round(seconds) % 60).padStart(2, "0")} s`;
    return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
  }

  function rateText(perSecond) {
    if (!perSecond) return "—";
    return perSecond >= 10 ? `${number.format(Math.round(perSecond))}/s` : `${perSecond.toFixed(1)}/s`;
  }

  function show(row, status) {
    for (const s of STATUSES) row.classList.toggle(`status-${s}`, s === status);
    row.dataset.status = status;
    field(row, "status").textContent = status;
    for (const element of row.querySelectorAll("[data-show-when]")) {
      element.hidden = element.dataset.showWhen !== status;
    }
  }

  function update(row, job) {
    const bar = row.querySelector("progress");
    bar.max = Math.max(job.totalWinners, 1);
    bar.value = job.processedWinners;
    show(row, job.status);
    row.dataset.processed = job.processedWinners;
    field(row, "count").textContent =
      `${number.format(job.processedWinners)} / ${number.format(job.totalWinners)}`;
    field(row, "percent").textContent = `${job.progressPercent}%`;
    const failed = field(row, "failed");
    failed.hidden = !job.failedWinners;
    failed.textContent = `${number.format(job.failedWinners)} failed`;
    const error = field(row, "error");
    error.hidden = !job.error;
    error.textContent = job.error || "";

    // The server's timing (domain/timing.py): rate per second of paying time, ETA from its
    // smoothed recent rate, phase; this page computes none of it.
    const etaLabel = field(row, "eta-label");
    if (etaLabel) etaLabel.textContent = job.phase === "completed" ? "Took" : "ETA";
    const paying = !["queued", "planning"].includes(job.phase);
    field(row, "rate").textContent = paying ? rateText(job.paidPerSecond) : "—";
    const words = { queued: "not started yet", planning: "planning…", paused: "paused", failed: "stopped" };
    if (job.phase === "completed") field(row, "eta").textContent = duration(job.tookSeconds);
    else if (job.phase === "paying") field(row, "eta").textContent = job.etaSeconds == null ? "—" : duration(job.etaSeconds);
    else field(row, "eta").textContent = words[job.phase] || "—";
  }

  async function fetchJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (response.status === 401) {
      stopped = true;
      document.getElementById("signed-out").hidden = false;
      return null;
    }
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  // --- the live view ------------------------------------------------------------------------
  const live = document.getElementById("live");
  const watchOne = live && live.dataset.watch; // a job's own page watches only that job
  let lastOk = null;
  let failing = false;

  const rowOf = (id) => document.getElementById(`job-${id}`);
  const sectionOf = (row) => row.closest("[data-list]")?.dataset.list;
  const plural = (n, one, many) => `${number.format(n)} ${n === 1 ? one : many}`;

  function fragment(html, section) {
    const holder = document.createElement(section === "completed" ? "tbody" : "ul");
    holder.innerHTML = html;
    return holder.firstElementChild;
  }

  function announce(job) {
    const box = document.getElementById("announcements");
    if (!box) return;
    const text =
      `${job.kind === "refund" ? "Refund job" : "Job"} for challenge #${job.challengeId} failed: ` +
      plural(job.failedWinners, "entry", "entries");
    const line = document.createElement("p");
    line.className = "alert";
    line.textContent = text;
    const link = document.createElement("a");
    link.href = `/admin/jobs/${job.jobId}`;
    link.textContent = "Open it";
    line.append(" ", link);
    box.prepend(line);
  }

  function tidy() {
    for (const empty of document.querySelectorAll("[data-empty]")) {
      const list = document.querySelector(`[data-list="${empty.dataset.empty}"]`);
      const has = Boolean(list && list.querySelector("[data-job-id]"));
      empty.hidden = has;
      const wrap = document.querySelector(`[data-empty-hide="${empty.dataset.empty}"]`);
      if (wrap) wrap.hidden = !has;
    }
  }

  // One job from the feed: update its row in place, or move it to the section it belongs in.
  function place(job) {
    const row = rowOf(job.jobId);
    if (watchOne) {
      if (job.jobId !== watchOne || !row) return false;
      const changed = row.dataset.status !== job.status;
      if (changed && job.status === "failed") announce(job);
      update(row, job);
      return changed;
    }
    if (row && sectionOf(row) === job.section) {
      if (job.section === "active") update(row, job);
      return false;
    }
    const list = document.querySelector(`[data-list="${job.section}"]`);
    if (!list) return false;
    const fresh = fragment(job.html, job.section);
    if (row) row.remove();
    list.prepend(fresh);
    if (job.status === "failed") announce(job);
    localTimes(fresh);
    return true;
  }

  // Ended sections keep the newest rows; the history page has the rest.
  function trim() {
    for (const section of ["failed", "completed"]) {
      const list = document.querySelector(`[data-list="${section}"]`);
      while (list && list.children.length > ENDED_SHOWN) list.lastElementChild.remove();
    }
  }

  function counts(byStatus) {
    const active = (byStatus.queued || 0) + (byStatus.running || 0);
    const values = { active, failed: byStatus.failed || 0, completed: byStatus.completed || 0 };
    for (const badge of document.querySelectorAll("[data-count]")) {
      badge.textContent = number.format(values[badge.dataset.count] ?? 0);
    }
  }

  function indicator() {
    if (!live) return;
    const text = live.querySelector("[data-field=live]");
    live.classList.toggle("lost", failing);
    document.body.classList.toggle("offline", failing);
    if (failing) {
      const ago = lastOk === null ? "" : ` (numbers from ${agoText(lastOk)})`;
      text.textContent = `connection lost, retrying${ago}`;
    } else if (lastOk !== null) {
      text.textContent = `live · updated ${agoText(lastOk)}`;
    }
    for (const row of document.querySelectorAll("[data-list=active] > li, [data-list=job] > li")) {
      row.classList.toggle("stale", failing);
    }
  }

  function agoText(at) {
    const seconds = Math.max(0, Math.round((Date.now() - at) / 1000));
    if (seconds < 2) return "just now";
    if (seconds < 90) return `${seconds} s ago`;
    return `${Math.round(seconds / 60)} min ago`;
  }

  async function refreshJobPage() {
    // The job changed status: its details, timeline and failed entries come from the server.
    const response = await fetch(location.pathname + location.search, { cache: "no-store" });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = doc.querySelector("[data-refresh=job]");
    const current = document.querySelector("[data-refresh=job]");
    if (fresh && current) {
      current.replaceWith(document.adoptNode(fresh));
      localTimes(document);
    }
  }

  async function feedRound() {
    if (stopped) return;
    const watched = watchOne
      ? [watchOne]
      : [...document.querySelectorAll("[data-list=active] > li[data-job-id]")].map((r) => r.dataset.jobId);
    const url =
      `${live.dataset.feed}?since=${encodeURIComponent(live.dataset.since)}&watch=${watched.join(",")}` +
      (watchOne ? "&only=true" : "");
    try {
      const feed = await fetchJson(url);
      if (feed === null) return;
      let moved = false;
      // Oldest first, so each prepend leaves the newest on top.
      for (const job of [...feed.jobs].reverse()) moved = place(job) || moved;
      if (!watchOne) {
        counts(feed.counts);
        tidy();
      } else if (moved) {
        await refreshJobPage();
      }
      // Next time, only jobs created since a little before this answer (a resolve commits
      // within milliseconds of stamping its job): a page open all day stays cheap.
      live.dataset.since = new Date(Date.parse(feed.now) - SINCE_MARGIN_MS).toISOString();
      if (!watchOne) trim();
      lastOk = Date.now();
      failing = false;
    } catch (error) {
      failing = true;
      console.warn(error);
    }
    indicator();
    if (!stopped) setTimeout(feedRound, POLL_MS);
  }

  // Times in the browser's zone, UTC on hover: local-time.js, for rows that arrive later too.
  function localTimes(root) {
    if (window.payoutsLocalTime) window.payoutsLocalTime.localise(root);
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!live) return;
    lastOk = Date.now();
    setInterval(indicator, 1000);
    setTimeout(feedRound, POLL_MS);
  });
})();
