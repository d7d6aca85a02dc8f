/**
 * EmulatedBoard lifecycle: start/stop/pause/resume, no timers left behind. Its own file, so that no
 * other test's timers are alive in this worker while counting.
 */
import { describe, expect, it } from 'vitest';
import { EmulatedBoard } from '../../firmware/boards/emulated/index.ts';

function nextEvent(
  emitter: {
    once(e: string, l: (...a: never[]) => void): unknown;
    removeListener(e: string, l: (...a: never[]) => void): unknown;
  },
  event: string,
  timeoutMs: number,
  accept: (label: string) => boolean = () => true,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const listener = (label: string) => {
      if (!accept(label)) return;
      clearTimeout(timer);
      emitter.removeListener(event, listener);
      resolve();
    };
    const timer = setTimeout(() => {
      emitter.removeListener(event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${event}'`));
    }, timeoutMs);
    (emitter as unknown as NodeJS.EventEmitter).on(event, listener);
  });
}

describe('EmulatedBoard lifecycle', () => {
  const timers = () =>
    process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length;

  it('stop() leaves no timer behind and closes the port', async () => {
    const before = timers();
    const emu = new EmulatedBoard({ name: 'lifecycle', lcd: false });
    const opened = nextEvent(emu.port, 'open', 2000);
    emu.start();
    await opened;
    // Let it run until the firmware's version blink lights D13.
    await emu.waitForPin('D13', 'high', 5000);
    expect(emu.stats().cycles).toBeGreaterThan(0);
    const closed = nextEvent(emu.port, 'close', 2000);
    await emu.stop();
    await closed;
    expect(emu.port.isOpen).toBe(false);
    expect(timers()).toBeLessThanOrEqual(before);
    expect(() => emu.start()).toThrow(/stopped/);
  });

  it('pause() freezes emulated time and resume() continues', async () => {
    const emu = new EmulatedBoard({ name: 'pause', lcd: false });
    emu.start();
    await emu.waitForPin('D13', 'high', 5000);
    emu.pause();
    const frozen = emu.stats().cycles;
    // Give the event loop a few turns: nothing may run while paused.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(emu.stats().cycles).toBe(frozen);
    emu.resume();
    // The version blink goes on: D13 toggles again.
    await nextEvent(emu, 'pin', 5000, (label: string) => label === 'D13');
    expect(emu.stats().cycles).toBeGreaterThan(frozen);
    await emu.stop();
  });
});
