// payouts admin: shows every <time data-local> in this browser's time zone, compactly
// (the time alone for today, the day and time this year, the date and time before), with
// "(3 min ago)" after those marked data-relative. The page renders UTC; the title (hover)
// keeps it.
"use strict";

(() => {
  const pad = (n) => String(n).padStart(2, "0");
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function local(date, now = new Date()) {
    const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
    if (date.toDateString() === now.toDateString()) return time;
    const day = `${date.getDate()} ${MONTHS[date.getMonth()]}`;
    if (date.getFullYear() === now.getFullYear()) return `${day}, ${time.slice(0, 5)}`;
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time.slice(0, 5)}`;
  }

  function ago(date, now = new Date()) {
    const seconds = Math.max(0, Math.round((now - date) / 1000));
    if (seconds < 60) return "just now";
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
    return `${Math.floor(seconds / 86400)} d ago`;
  }

  function localise(root) {
    for (const element of root.querySelectorAll("time[data-local][datetime]")) {
      const date = new Date(element.getAttribute("datetime"));
      if (Number.isNaN(date.getTime())) continue;
      const relative = element.hasAttribute("data-relative") ? ` (${ago(date)})` : "";
      element.textContent = local(date) + relative;
    }
  }

  window.payoutsLocalTime = { local, localise };
  document.addEventListener("DOMContentLoaded", () => localise(document));
})();
