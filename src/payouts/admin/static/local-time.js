// payouts admin: shows every <time data-local> in this browser's time zone. The page
// renders UTC; the title (hover) keeps it. Used for dates and times on every page.
"use strict";

(() => {
  const pad = (n) => String(n).padStart(2, "0");

  function local(date) {
    const zone = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
      .formatToParts(date)
      .find((part) => part.type === "timeZoneName");
    const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
    const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
    return `${day} ${time}${zone ? ` ${zone.value}` : ""}`;
  }

  function localise(root) {
    for (const element of root.querySelectorAll("time[data-local][datetime]")) {
      const date = new Date(element.getAttribute("datetime"));
      if (Number.isNaN(date.getTime())) continue;
      element.textContent = local(date);
    }
  }

  window.payoutsLocalTime = { local, localise };
  document.addEventListener("DOMContentLoaded", () => localise(document));
})();
