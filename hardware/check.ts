/**
 * Panel self-test for a freshly wired terminal: lights each LED in turn, writes on the LCD, reports
 * button presses and the potentiometer. Runs on a real Uno or on the emulated one.
 *
 *   npx tsx hardware/check.ts --port /dev/ttyACM0     # a real board flashed with StandardFirmata
 *   npx tsx hardware/check.ts --emulated              # the emulated Uno (presses each button itself)
 *
 * Ctrl-C ends it (the real board keeps its last state).
 */
import type { EventEmitter } from 'node:events';
import five from 'johnny-five';
import { EmulatedBoard } from '../firmware/boards/emulated/index.ts';
import { connectBoard, firmwareLabel, type J5Board, pinmapLcd } from '../firmware/boards/firmata.ts';
import { closeSerialPort, openSerialPort } from '../firmware/boards/serial.ts';
import { BUTTON_NAMES, LED_NAMES, pinLabel, pinmap } from './pinmap.ts';

const log = (s: string) => process.stdout.write(`${s}\n`);

async function main(argv: string[]): Promise<void> {
  const i = argv.indexOf('--port');
  const path = i >= 0 ? argv[i + 1] : undefined;
  const emulated = argv.includes('--emulated');
  if (!path && !emulated) {
    process.stderr.write('usage: npx tsx hardware/check.ts --port /dev/ttyACM0 | --emulated\n');
    process.exitCode = 2;
    return;
  }
  let emu: EmulatedBoard | null = null;
  let board: J5Board;
  let close: () => Promise<void>;
  if (emulated) {
    emu = new EmulatedBoard({ name: 'check' });
    emu.start();
    board = await connectBoard(emu.port);
    close = () => emu!.stop();
  } else {
    log(`opening ${path} (the Uno resets; StandardFirmata blinks its version for ~2 s)...`);
    const port = await openSerialPort(path!);
    board = await connectBoard(port);
    close = () => closeSerialPort(port);
  }
  log(`ready: ${firmwareLabel(board)}`);

  const lcd = pinmapLcd(board);
  lcd.clear().cursor(0, 0).print('stockgate check');
  lcd.cursor(1, 0).print('press buttons');
  log(`LCD at 0x${pinmap.lcd.address.toString(16)}: should read "stockgate check / press buttons"`);

  for (const name of LED_NAMES) {
    const spec = pinmap.leds[name];
    const led = new five.Led({ pin: spec.pin, board });
    led.on();
    log(`LED ${spec.color} (${name}, ${pinLabel(spec.pin)}) on`);
    await new Promise((r) => setTimeout(r, 400));
    led.off();
  }

  const seen = new Set<string>();
  for (const name of BUTTON_NAMES) {
    const spec = pinmap.buttons[name];
    const button = new five.Button({ pin: spec.pin, isPullup: true, board });
    button.on('press', () => {
      seen.add(name);
      log(`button ${name} (${pinLabel(spec.pin)}) pressed`);
      lcd.cursor(1, 0).print(name.padEnd(pinmap.lcd.cols));
    });
  }
  const pot = new five.Sensor({ pin: pinmap.analog.count.pin, board, freq: 250, threshold: 8 });
  (pot as unknown as EventEmitter).once('data', () =>
    log(`potentiometer (${pinmap.analog.count.pin}) = ${pot.value}`),
  );
  pot.on('change', () => log(`potentiometer (${pinmap.analog.count.pin}) = ${pot.value}`));

  if (emu) {
    const e = emu;
    e.setAnalog('count', 512);
    for (const name of BUTTON_NAMES) {
      await e.waitForPin(pinmap.buttons[name].pin, 'input-pullup', 5000);
      e.press(name);
      await new Promise((r) => setTimeout(r, 50));
      e.release(name);
    }
    const deadline = Date.now() + 3000;
    while (seen.size < BUTTON_NAMES.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    log(`LCD shows: ${JSON.stringify(e.lcdLines())}; LEDs ${JSON.stringify(e.leds())}`);
    log(
      seen.size === BUTTON_NAMES.length
        ? 'all buttons seen: OK'
        : `missing buttons: ${BUTTON_NAMES.filter((b) => !seen.has(b))}`,
    );
    (pot as unknown as { freq: number | null }).freq = null;
    await close();
    process.exit(seen.size === BUTTON_NAMES.length ? 0 : 1);
  }
  log('press each button and turn the potentiometer; Ctrl-C to end');
  process.once('SIGINT', () => {
    void close().then(() => process.exit(0));
  });
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
