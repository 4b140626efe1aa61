/*! Lighthouse Coffee site script — MIT licence */
// Shows whether the shop is open now. Readable on purpose: the edge minifies it.

(function () {
  'use strict';

  const HOURS = {
    1: [7, 18], 2: [7, 18], 3: [7, 18], 4: [7, 18], 5: [7, 18],
    6: [8, 14],
  };

  /**
   * Is the shop open at `date`?
   */
  function isOpen(date) {
    const hours = HOURS[date.getDay()];
    if (!hours) return false;
    const h = date.getHours() + date.getMinutes() / 60;
    return h >= hours[0] && h < hours[1];
  }

  const el = document.getElementById('open-now');
  if (el) {
    el.textContent = isOpen(new Date())
      ? 'We are open — come in!'
      : `We are closed now. See you ${'soon'}.`;
  }
})();
