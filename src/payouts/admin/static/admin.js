// payouts admin: keeps each active job's progress row live. Every 2 seconds it asks
// GET /api/admin/payout-jobs/{jobId}/status for each row marked data-poll, and stops
// polling a row once its job is completed or failed. The session cookie authorises these
// reads; no token is visible to this script.
"use strict";

(() => {
  const POLL_MS = 2000;
  const TERMINAL = new Set(["completed", "failed"]);
  const STATUSES = ["queued", "running", "completed", "failed"];
  const LIST_EVERY = 5; // polls between checks for jobs started elsewhere
  const number = new Intl.NumberFormat("en-US");
  let stopped = false;
  let rounds = 0;

  const polled = () => [...document.querySelectorAll("li[data-job-id][data-poll]")];
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

  async function poll(row) {
    try {
      const job = await fetchJson(`/api/admin/payout-jobs/${encodeURIComponent(row.dataset.jobId)}/status`);
      if (job === null) return;
      row.classList.remove("stale");
      update(row, job);
      if (TERMINAL.has(job.status)) delete row.dataset.poll;
    } catch (error) {
      row.classList.add("stale"); // keep polling: the server may be restarting
      console.warn(error);
    }
  }

  // A job resolved in another tab or by the API: offer a reload rather than guess its row.
  async function lookForNewJobs() {
    const banner = document.getElementById("new-jobs");
    if (!banner) return;
    try {
      const jobs = await fetchJson("/api/admin/payout-jobs?status=queued,running");
      if (jobs === null) return;
      const known = new Set([...document.querySelectorAll("[data-job-id]")].map((el) => el.dataset.jobId));
      banner.hidden = !jobs.some((job) => !known.has(job.jobId));
    } catch (error) {
      console.warn(error);
    }
  }

  async function round() {
    if (stopped) return;
    rounds += 1;
    await Promise.all(polled().map(poll));
    if (rounds % LIST_EVERY === 0) await lookForNewJobs();
    if (!stopped && (polled().length || document.getElementById("new-jobs"))) setTimeout(round, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (polled().length || document.getElementById("new-jobs")) setTimeout(round, POLL_MS);
  });
})();
