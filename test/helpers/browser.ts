/**
 * Debian's Chromium for the browser tests (playwright-core drives it; nothing is downloaded): its
 * path and the flags that make it run headless, offline and quiet in a container.
 */
export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
