/**
 * Hardware-in-the-loop, emulated: the real StandardFirmata image on avr8js, driven by johnny-five
 * through firmata-io, exactly as a physical Uno would be. Every wait is on an event with a timeout.
 */
import type { EventEmitter } from 'node:events';
import five from 'johnny-five';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmulatedBoard } from '../../firmware/boards/emulated/index.ts';
import { connectBoard, firmwareLabel, type J5Board, pinmapLcd } from '../../firmware/boards/firmata.ts';
import { pinmap } from '../../hardware/pinmap.ts';

/** Resolve with the first event `event` on `emitter` for which `accept` returns true. */
function nextEvent(
  emitter: unknown,
  event: string,
  timeoutMs: number,
  accept: (...args: unknown[]) => boolean = () => true,
): Promise<unknown[]> {
  const em = emitter as EventEmitter;
  return new Promise((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      em.removeListener(event, listener);
      resolve(args);
    };
    const timer = setTimeout(() => {
      em.removeListener(event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${event}'`));
    }, timeoutMs);
    em.on(event, listener);
  });
}

describe('emulated Uno running StandardFirmata', () => {
  let emu: EmulatedBoard;
  let board: J5Board;
  let bootMs = 0;

  beforeAll(async () => {
    emu = new EmulatedBoard({ name: 't01' });
    const t0 = performance.now();
    emu.start();
    board = await connectBoard(emu.port, { handshakeTimeoutMs: 20_000 });
    bootMs = performance.now() - t0;
  }, 30_000);

  afterAll(async () => {
    await emu?.stop();
  });

  it('boots the real firmware and johnny-five becomes ready', () => {
    expect(board.isReady).toBe(true);
    expect(firmwareLabel(board)).toMatch(/^StandardFirmata/);
    // The firmware's version blink on D13 alone takes ~1.9 s of emulated time.
    expect(emu.stats().emulatedMs).toBeGreaterThan(1000);
    expect(emu.mhz()).toBeGreaterThan(0);
    console.info(
      `[emulated-board] boot-to-ready ${bootMs.toFixed(0)} ms wall, ` +
        `${emu.stats().emulatedMs.toFixed(0)} ms emulated, capacity ${emu.stats().busyMhz.toFixed(1)} MHz`,
    );
  });

  it('sees an Led on the green (online) pin toggle', async () => {
    const led = new five.Led({ pin: pinmap.leds.online.pin, board });
    expect(emu.led('online')).toBe(false);
    led.on();
    await emu.waitForLed('online', true, 5000);
    expect(emu.leds()).toEqual({ online: true, pickPending: false, fault: false });
    led.off();
    await emu.waitForLed('online', false, 5000);
    expect(emu.pinState(pinmap.leds.online.pin)).toBe('low');
  });

  it("fires a Button's 'press' on the pick pin when press('pick') is called", async () => {
    const button = new five.Button({ pin: pinmap.buttons.pick.pin, isPullup: true, board });
    // johnny-five enables the pull-up (INPUT + digitalWrite HIGH on Firmata 2.4): wait until the firmware did.
    await emu.waitForPin(pinmap.buttons.pick.pin, 'input-pullup', 5000);
    const pressed = nextEvent(button, 'press', 5000);
    emu.press('pick');
    await pressed;
    const released = nextEvent(button, 'release', 5000);
    emu.release('pick');
    await released;
    expect(emu.isPressed('pick')).toBe(false);
  });

  it('shows what an I2C LCD prints in lcdLines()', async () => {
    const lcd = pinmapLcd(board);
    lcd.print('t01 online');
    await emu.waitForLcd('t01 online', 5000);
    expect(emu.lcdLines()[0]).toBe('t01 online'.padEnd(16));
    lcd.cursor(1, 0).print('sku A   qty 12');
    await emu.waitForLcd('qty 12', 5000);
    expect(emu.lcdLines()).toEqual(['t01 online'.padEnd(16), 'sku A   qty 12'.padEnd(16)]);
    expect(emu.lcd()?.backlight).toBe(true);
    lcd.clear();
    await emu.waitForLcd(/^\s+\n\s+$/, 5000);
  });

  it('reads the analog value set on A0 with a Sensor', async () => {
    emu.setAnalog('count', 700);
    const sensor = new five.Sensor({ pin: pinmap.analog.count.pin, freq: 20, board });
    try {
      await nextEvent(sensor, 'data', 5000, () => sensor.value === 700);
      emu.setAnalog('A0', 123);
      await nextEvent(sensor, 'data', 5000, () => sensor.value === 123);
      expect(emu.getAnalog('count')).toBe(123);
    } finally {
      // Stop johnny-five's sampling interval (freq null clears it).
      (sensor as unknown as { freq: number | null }).freq = null;
    }
  });
});
