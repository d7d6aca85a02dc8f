/**
 * An Arduino Uno in software: the real StandardFirmata image running on avr8js (ATmega328P, 16 MHz),
 * with the stock terminal's peripherals from hardware/pinmap.json attached:
 *
 * - USART0 bridged to `port` (a Duplex for firmata-io); bytes enter the USART paced at the baud rate
 *   the firmware configured (57600), bytes leave as the firmware transmits them.
 * - the buttons (INPUT_PULLUP: pressed drives the pin LOW, released lets the pull-up hold it HIGH),
 * - the LEDs (state read from the port registers, 'led' events on change),
 * - the potentiometer / any analog input (`setAnalog`, raw 0..1023),
 * - a PCF8574 + HD44780 16x2 LCD on the TWI bus (`lcdLines()`).
 *
 * The run loop executes the CPU in slices of `sliceMs` emulated milliseconds, paced to the wall clock
 * (times `speed`), and never holds the event loop for more than about `budgetMs` at once. When it falls
 * behind (a busy event loop) it catches up faster than real time, up to `maxLagMs` of debt; beyond
 * that the debt is dropped and counted in `stats().droppedMs`.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import {
  type ADCMuxInput,
  ADCMuxInputType,
  AVRADC,
  AVRClock,
  AVREEPROM,
  AVRIOPort,
  AVRTimer,
  AVRTWI,
  AVRUSART,
  adcConfig,
  avrInstruction,
  CPU,
  clockConfig,
  EEPROMMemoryBackend,
  eepromConfig,
  PinState,
  portBConfig,
  portCConfig,
  portDConfig,
  timer0Config,
  timer1Config,
  timer2Config,
  twiConfig,
  usart0Config,
} from 'avr8js';
import {
  ANALOG_NAMES,
  type AnalogName,
  type AnalogPin,
  avrPortBit,
  BUTTON_NAMES,
  type ButtonName,
  pinmap as defaultPinMap,
  LED_NAMES,
  type LedName,
  type PinMap,
} from '../../../hardware/pinmap.ts';
import { ATMEGA328P_FLASH_BYTES, type HexImage, loadStandardFirmata } from '../hex.ts';
import { I2CBus } from './i2c.ts';
import { type LcdSnapshot, Pcf8574Lcd } from './lcd.ts';
import { EmulatedSerialPort } from './serialPort.ts';

export const UNO_CLOCK_HZ = 16_000_000;
const CYCLES_PER_MS = UNO_CLOCK_HZ / 1000;

export interface EmulatedBoardOptions {
  /** Used in the port path (`emulated:<name>`) and messages. Default "uno". */
  name?: string;
  /** The firmware image. Default: StandardFirmata from avrgirl-arduino. */
  hex?: HexImage;
  /** Default: hardware/pinmap.json. */
  pinmap?: PinMap;
  /** Emulated time per wall time: 1 = real time (default), 2 = twice as fast, Infinity = flat out. */
  speed?: number;
  /** Emulated milliseconds per slice (default 1). */
  sliceMs?: number;
  /** Wall milliseconds the loop may hold the event loop before yielding (default 4). */
  budgetMs?: number;
  /** Catch-up debt kept when the loop falls behind (default 250 ms); more is dropped. */
  maxLagMs?: number;
  /** Initial raw values (0..1023) of analog inputs, by channel 0..5. */
  analog?: Partial<Record<number, number>>;
  /** Whether the LCD is fitted (default true). */
  lcd?: boolean;
}

export interface EmulatedBoardStats {
  /** CPU cycles executed since power-on (or the last reset). */
  cycles: number;
  /** Emulated time since power-on, ms. */
  emulatedMs: number;
  /** Wall time since start(), ms (excluding pauses). */
  wallMs: number;
  /** Emulated MHz achieved over the last second or so (16 = real time at speed 1). */
  mhz: number;
  /** Emulated MHz while actually executing: the capacity of one core for this board. */
  busyMhz: number;
  /** Fraction of wall time spent executing this board. */
  load: number;
  /** Catch-up debt discarded because the loop fell more than maxLagMs behind. */
  droppedMs: number;
  /** Bytes host -> board and board -> host. */
  rxBytes: number;
  txBytes: number;
  /** Bytes waiting to enter the USART. */
  rxQueued: number;
}

export interface EmulatedBoardEvents {
  led: [name: LedName, on: boolean];
  lcd: [lines: string[]];
  button: [name: ButtonName, pressed: boolean];
  /** A pin's mode or level changed ("D3", "A0"...). */
  pin: [label: string, state: PinLevel];
  start: [];
  stop: [];
  reset: [];
  error: [error: Error];
}

type PortName = 'B' | 'C' | 'D';
export type PinLevel = 'low' | 'high' | 'input' | 'input-pullup';

const PIN_STATE_NAMES: Record<number, PinLevel> = {
  [PinState.Low]: 'low',
  [PinState.High]: 'high',
  [PinState.Input]: 'input',
  [PinState.InputPullUp]: 'input-pullup',
};

/** Uno label of an AVR port bit: D0..D7 = PORTD, D8..D13 = PORTB, A0..A5 = PORTC. */
function portBitLabel(port: PortName, bit: number): string {
  if (port === 'D') return `D${bit}`;
  if (port === 'B') return `D${bit + 8}`;
  return `A${bit}`;
}

interface Mcu {
  cpu: CPU;
  ports: Record<PortName, AVRIOPort>;
  usart: AVRUSART;
  adc: AVRADC;
  twi: AVRTWI;
}

export type AnalogInput = AnalogName | AnalogPin | number;

/** The emulated Uno terminal. */
export class EmulatedBoard extends EventEmitter<EmulatedBoardEvents> {
  readonly name: string;
  readonly pinmap: PinMap;
  /** USART0 as a Duplex: give it to firmata-io / connectBoard(). */
  readonly port: EmulatedSerialPort;
  /** The LCD backpack on the I2C bus (null when not fitted). */
  readonly lcdDevice: Pcf8574Lcd | null;

  private readonly program: Uint16Array;
  private mcu: Mcu;
  private speed: number;
  private readonly sliceCycles: number;
  private readonly budgetMs: number;
  private readonly maxLagMs: number;

  private running = false;
  private stopped = false;
  private immediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  private baseWall = 0;
  private baseCycles = 0;
  private startedWall = 0;
  private pausedWallTotal = 0;
  private pausedAt = 0;
  private busyWall = 0;
  private busyCycles = 0;
  private droppedMs = 0;
  private window: Array<{ wall: number; cycles: number }> = [];

  private readonly rxQueue: Buffer[] = [];
  private rxOffset = 0;
  private rxInFlight = false;
  private rxBytes = 0;
  private txBytes = 0;
  private txBuffer: number[] = [];

  private readonly pressed = new Set<ButtonName>();
  private readonly analog = new Array<number>(8).fill(0);
  private readonly ledState = new Map<LedName, boolean>();
  private readonly ledPins: Array<{ name: LedName; port: PortName; bit: number }>;
  private readonly buttonPins: Record<ButtonName, { port: PortName; bit: number }>;
  private readonly lastPinStates: Record<PortName, Array<PinState | undefined>> = { B: [], C: [], D: [] };

  constructor(options: EmulatedBoardOptions = {}) {
    super();
    this.name = options.name ?? 'uno';
    this.pinmap = options.pinmap ?? defaultPinMap;
    this.speed = options.speed ?? 1;
    if (!(this.speed > 0)) throw new Error(`speed must be > 0 (got ${this.speed})`);
    this.sliceCycles = Math.max(1, Math.round((options.sliceMs ?? 1) * CYCLES_PER_MS));
    this.budgetMs = options.budgetMs ?? 4;
    this.maxLagMs = options.maxLagMs ?? 250;
    for (const [channel, value] of Object.entries(options.analog ?? {})) {
      if (value !== undefined) this.analog[Number(channel)] = clampAdc(value);
    }

    const hex = options.hex ?? loadStandardFirmata('uno');
    if (hex.data.length > ATMEGA328P_FLASH_BYTES) {
      throw new Error(`${hex.source}: ${hex.data.length} bytes do not fit the ATmega328P's 32 KiB flash`);
    }
    this.program = new Uint16Array(ATMEGA328P_FLASH_BYTES / 2).fill(0xffff);
    new Uint8Array(this.program.buffer).set(hex.data);

    this.ledPins = LED_NAMES.map((name) => {
      const { port, bit } = avrPortBit(this.pinmap.leds[name].pin);
      return { name, port, bit };
    });
    for (const name of LED_NAMES) this.ledState.set(name, false);
    this.buttonPins = Object.fromEntries(
      BUTTON_NAMES.map((name) => [name, avrPortBit(this.pinmap.buttons[name].pin)]),
    ) as Record<ButtonName, { port: PortName; bit: number }>;

    this.lcdDevice =
      options.lcd === false
        ? null
        : new Pcf8574Lcd(this.pinmap.lcd.address, this.pinmap.lcd.cols, this.pinmap.lcd.rows);
    if (this.lcdDevice) this.lcdDevice.lcd.onChange = () => this.emit('lcd', this.lcdLines());

    this.port = new EmulatedSerialPort(`emulated:${this.name}`, (chunk) => this.enqueueRx(chunk));
    this.mcu = this.buildMcu();
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /** Power on: the port opens (its 'open' event fires on the next tick) and the firmware boots. */
  start(): void {
    if (this.stopped) throw new Error(`emulated board ${this.name} was stopped; create a new one`);
    if (this.running) return;
    if (this.startedWall !== 0) {
      this.resume(); // started before, then paused
      return;
    }
    this.running = true;
    const now = performance.now();
    this.startedWall = now;
    this.rebase(now);
    this.port.markOpen();
    this.emit('start');
    this.schedule(0);
  }

  /** Power off for good: the run loop ends, no timer is left, the port emits 'close'. */
  stop(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.stopped = true;
    this.running = false;
    this.cancelSchedule();
    this.flushTx();
    this.emit('stop');
    return new Promise((resolve) => this.port.close(() => resolve()));
  }

  /** Freeze the CPU (a hung terminal): the port stays open but nothing runs. */
  pause(): void {
    if (!this.running) return;
    this.running = false;
    this.pausedAt = performance.now();
    this.cancelSchedule();
  }

  /** Continue after pause(); emulated time does not jump. */
  resume(): void {
    if (this.running || this.stopped || this.startedWall === 0) return;
    this.running = true;
    const now = performance.now();
    this.pausedWallTotal += now - this.pausedAt;
    this.rebase(now);
    this.schedule(0);
  }

  /**
   * Change the emulated time per wall time (1 = real time, Infinity = flat out), e.g. boot flat out
   * and then run in real time. Emulated time does not jump.
   */
  setSpeed(speed: number): void {
    if (!(speed > 0)) throw new Error(`speed must be > 0 (got ${speed})`);
    if (speed === this.speed) return;
    this.speed = speed;
    this.rebase(performance.now());
  }

  get currentSpeed(): number {
    return this.speed;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /**
   * Reset the microcontroller (the RESET button, or DTR on a real Uno): the firmware reboots.
   * The LCD keeps its contents, as the real module is powered separately; buttons and analog inputs
   * keep their levels.
   */
  reset(): void {
    this.mcu = this.buildMcu();
    this.rxInFlight = false;
    this.txBuffer = [];
    this.rebase(performance.now());
    for (const name of LED_NAMES) this.updateLed(name);
    this.emit('reset');
  }

  // ---- peripherals -----------------------------------------------------------------------------

  /** Press a button (drives its pin LOW). */
  press(button: ButtonName): void {
    this.setButton(button, true);
  }

  /** Release a button (the pull-up holds its pin HIGH). */
  release(button: ButtonName): void {
    this.setButton(button, false);
  }

  isPressed(button: ButtonName): boolean {
    return this.pressed.has(button);
  }

  /** Whether an LED is lit (its pin is an output driven HIGH). */
  led(name: LedName): boolean {
    return this.ledState.get(name) ?? false;
  }

  leds(): Record<LedName, boolean> {
    return { online: this.led('online'), pickPending: this.led('pickPending'), fault: this.led('fault') };
  }

  /** The level of any Uno pin as the outside world sees it: "D9", "A0", or a digital number. */
  pinState(pin: number | string): PinLevel {
    const { port, bit } = avrPortBit(typeof pin === 'string' && /^\d+$/.test(pin) ? Number(pin) : pin);
    return PIN_STATE_NAMES[this.mcu.ports[port].pinState(bit)] ?? 'input';
  }

  /** Resolve when pin `pin` ("D3", 3, "A0") is in `state`. */
  waitForPin(pin: number | string, state: PinLevel, timeoutMs = 10_000): Promise<void> {
    return this.waitFor(
      'pin',
      () => (this.pinState(pin) === state ? true : undefined),
      timeoutMs,
      () => `pin ${String(pin)} to be ${state} (is ${this.pinState(pin)})`,
    ).then(() => undefined);
  }

  /** Set an analog input: raw ADC value 0..1023 (5 V reference). `input` is "count", "A0" or 0..5. */
  setAnalog(input: AnalogInput, value: number): void {
    this.analog[this.analogChannel(input)] = clampAdc(value);
  }

  getAnalog(input: AnalogInput): number {
    return this.analog[this.analogChannel(input)] ?? 0;
  }

  /** The two lines the LCD shows (16 characters each; blanks are spaces). */
  lcdLines(): string[] {
    return this.lcdDevice ? this.lcdDevice.lcd.lines() : [];
  }

  lcd(): LcdSnapshot | null {
    return this.lcdDevice ? this.lcdDevice.snapshot() : null;
  }

  /** Emulated MHz over the last second or so (about 16 at speed 1 when keeping up). */
  mhz(): number {
    const w = this.window;
    if (w.length < 2) return 0;
    const first = w[0]!;
    const last = w[w.length - 1]!;
    const dt = last.wall - first.wall;
    return dt > 0 ? (last.cycles - first.cycles) / dt / 1000 : 0;
  }

  stats(): EmulatedBoardStats {
    const now = this.running ? performance.now() : this.pausedAt || performance.now();
    const wallMs = this.startedWall === 0 ? 0 : now - this.startedWall - this.pausedWallTotal;
    return {
      cycles: this.mcu.cpu.cycles,
      emulatedMs: this.mcu.cpu.cycles / CYCLES_PER_MS,
      wallMs,
      mhz: this.mhz(),
      busyMhz: this.busyWall > 0 ? this.busyCycles / this.busyWall / 1000 : 0,
      load: wallMs > 0 ? this.busyWall / wallMs : 0,
      droppedMs: this.droppedMs,
      rxBytes: this.rxBytes,
      txBytes: this.txBytes,
      rxQueued: this.rxQueue.reduce((n, b) => n + b.length, 0) - this.rxOffset,
    };
  }

  /** Resolve when the LCD shows `text` (a substring of one line, or a RegExp over both lines joined by \n). */
  waitForLcd(text: string | RegExp, timeoutMs = 10_000): Promise<string[]> {
    const matches = (lines: string[]) =>
      typeof text === 'string' ? lines.some((l) => l.includes(text)) : text.test(lines.join('\n'));
    return this.waitFor(
      'lcd',
      () => {
        const lines = this.lcdLines();
        return matches(lines) ? lines : undefined;
      },
      timeoutMs,
      () => `LCD to show ${String(text)} (shows ${JSON.stringify(this.lcdLines())})`,
    );
  }

  /** Resolve when LED `name` is `on`. */
  waitForLed(name: LedName, on: boolean, timeoutMs = 10_000): Promise<void> {
    return this.waitFor(
      'led',
      () => (this.led(name) === on ? true : undefined),
      timeoutMs,
      () => `LED ${name} to be ${on ? 'on' : 'off'}`,
    ).then(() => undefined);
  }

  private waitFor<T>(
    event: 'lcd' | 'led' | 'pin',
    check: () => T | undefined,
    timeoutMs: number,
    what: () => string,
  ): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const listener = () => {
        const v = check();
        if (v !== undefined) {
          cleanup();
          resolve(v);
        }
      };
      const onStop = () => {
        cleanup();
        reject(new Error(`emulated board ${this.name} stopped while waiting for ${what()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.off(event, listener);
        this.off('stop', onStop);
      };
      this.on(event, listener);
      this.on('stop', onStop);
    });
  }

  // ---- the machine -----------------------------------------------------------------------------

  private buildMcu(): Mcu {
    for (const states of Object.values(this.lastPinStates)) states.length = 0;
    const cpu = new CPU(this.program);
    // Timers 0 (millis, PWM D5/D6), 1 (PWM D9/D10), 2 (PWM D3/D11).
    new AVRTimer(cpu, timer0Config);
    new AVRTimer(cpu, timer1Config);
    new AVRTimer(cpu, timer2Config);
    new AVRClock(cpu, UNO_CLOCK_HZ, clockConfig);
    new AVREEPROM(cpu, new EEPROMMemoryBackend(1024), eepromConfig);
    const ports: Record<PortName, AVRIOPort> = {
      B: new AVRIOPort(cpu, portBConfig),
      C: new AVRIOPort(cpu, portCConfig),
      D: new AVRIOPort(cpu, portDConfig),
    };
    const usart = new AVRUSART(cpu, usart0Config, UNO_CLOCK_HZ);
    fixUsartFlags(cpu, usart);
    const adc = new AVRADC(cpu, adcConfig);
    const twi = new AVRTWI(cpu, twiConfig, UNO_CLOCK_HZ);
    const bus = new I2CBus(twi);
    if (this.lcdDevice) bus.attach(this.lcdDevice);

    usart.onByteTransmit = (value) => {
      this.txBuffer.push(value);
    };
    usart.onRxComplete = () => {
      this.rxInFlight = false;
      this.feedRx();
    };
    adc.onADCRead = (input: ADCMuxInput) => {
      let raw = 0;
      if (input.type === ADCMuxInputType.SingleEnded) raw = this.analog[input.channel] ?? 0;
      else if (input.type === ADCMuxInputType.Constant)
        raw = clampAdc((input.voltage / adc.referenceVoltage) * 1024);
      cpu.addClockEvent(() => adc.completeADCRead(raw), adc.sampleCycles);
    };

    // Buttons (see buttonLevel): follow the firmware's pull-up configuration.
    for (const name of BUTTON_NAMES) {
      const { port, bit } = this.buttonPins[name];
      ports[port].setPin(bit, this.buttonLevel(name, ports[port], bit));
      ports[port].addListener(() => {
        ports[port].setPin(bit, this.buttonLevel(name, ports[port], bit));
      });
    }
    // I2C lines idle HIGH (the backpack has pull-ups).
    ports.C.setPin(4, true);
    ports.C.setPin(5, true);
    // USART RX idles HIGH.
    ports.D.setPin(0, true);

    for (const name of ['B', 'C', 'D'] as const) {
      ports[name].addListener(() => {
        for (const l of this.ledPins) if (l.port === name) this.updateLed(l.name);
        this.reportPins(name, ports[name]);
      });
    }
    return { cpu, ports, usart, adc, twi };
  }

  /**
   * A button wired to GND: pressed = LOW. Released, the pin floats and reads HIGH only through the
   * internal pull-up (input with its PORT bit set, which is what johnny-five's Button `isPullup` and
   * INPUT_PULLUP do); a floating pin reads LOW here, so firmware that forgets the pull-up sees it.
   */
  private buttonLevel(name: ButtonName, port: AVRIOPort, bit: number): boolean {
    if (this.pressed.has(name)) return false;
    const state = port.pinState(bit);
    if (state === PinState.InputPullUp) return true;
    if (state === PinState.High) return true; // driven HIGH by the firmware itself
    return false;
  }

  private reportPins(name: PortName, port: AVRIOPort): void {
    const last = this.lastPinStates[name];
    for (let bit = 0; bit < 8; bit++) {
      const state = port.pinState(bit);
      if (last[bit] !== state) {
        last[bit] = state;
        this.emit('pin', portBitLabel(name, bit), PIN_STATE_NAMES[state] ?? 'input');
      }
    }
  }

  private updateLed(name: LedName): void {
    const l = this.ledPins.find((p) => p.name === name)!;
    const on = this.mcu.ports[l.port].pinState(l.bit) === PinState.High;
    if (this.ledState.get(name) !== on) {
      this.ledState.set(name, on);
      this.emit('led', name, on);
    }
  }

  private setButton(button: ButtonName, down: boolean): void {
    if (!BUTTON_NAMES.includes(button)) throw new Error(`unknown button "${String(button)}"`);
    if (this.pressed.has(button) === down) return;
    if (down) this.pressed.add(button);
    else this.pressed.delete(button);
    const { port, bit } = this.buttonPins[button];
    const p = this.mcu.ports[port];
    p.setPin(bit, this.buttonLevel(button, p, bit));
    this.emit('button', button, down);
  }

  private analogChannel(input: AnalogInput): number {
    let channel: number;
    if (typeof input === 'number') channel = input;
    else if ((ANALOG_NAMES as readonly string[]).includes(input)) {
      channel = Number(this.pinmap.analog[input as AnalogName].pin.slice(1));
    } else if (/^A[0-5]$/.test(input)) channel = Number(input.slice(1));
    else throw new Error(`unknown analog input "${input}"`);
    if (!Number.isInteger(channel) || channel < 0 || channel > 5) {
      throw new Error(`analog channel must be 0..5 (got ${String(input)})`);
    }
    return channel;
  }

  private enqueueRx(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.rxQueue.push(chunk);
    this.rxBytes += chunk.length;
  }

  /** Start the next host byte into the USART, unless one is on the wire (paced by avr8js at the baud rate). */
  private feedRx(): void {
    if (this.rxInFlight) return;
    const { usart } = this.mcu;
    if (!usart.rxEnable) return;
    const head = this.rxQueue[0];
    if (!head) return;
    const byte = head[this.rxOffset]!;
    if (usart.writeByte(byte)) {
      this.rxInFlight = true;
      this.rxOffset++;
      if (this.rxOffset >= head.length) {
        this.rxQueue.shift();
        this.rxOffset = 0;
      }
    }
  }

  private flushTx(): void {
    if (this.txBuffer.length === 0) return;
    const bytes = Uint8Array.from(this.txBuffer);
    this.txBuffer = [];
    this.txBytes += bytes.length;
    this.port.deliver(bytes);
  }

  // ---- run loop --------------------------------------------------------------------------------

  private rebase(now: number): void {
    this.baseWall = now;
    this.baseCycles = this.mcu.cpu.cycles;
    this.window = [{ wall: now, cycles: this.baseCycles }];
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    if (delayMs <= 0) this.immediate = setImmediate(this.tick);
    else this.timer = setTimeout(this.tick, delayMs);
  }

  private cancelSchedule(): void {
    if (this.immediate) clearImmediate(this.immediate);
    if (this.timer) clearTimeout(this.timer);
    this.immediate = null;
    this.timer = null;
  }

  private readonly tick = (): void => {
    this.immediate = null;
    this.timer = null;
    if (!this.running) return;
    try {
      this.runSlices();
    } catch (err) {
      this.running = false;
      this.cancelSchedule();
      this.emit('error', err instanceof Error ? err : new Error(String(err)));
    }
  };

  private runSlices(): void {
    const cpu = this.mcu.cpu;
    const start = performance.now();
    const cyclesPerWallMs = CYCLES_PER_MS * this.speed;
    let target = Number.isFinite(this.speed)
      ? this.baseCycles + (start - this.baseWall) * cyclesPerWallMs
      : Number.POSITIVE_INFINITY;
    const debtMs = (target - cpu.cycles) / cyclesPerWallMs;
    if (Number.isFinite(target) && debtMs > this.maxLagMs) {
      // Too far behind (event loop blocked, or more boards than the CPU can carry): drop the debt.
      this.droppedMs += debtMs - this.maxLagMs;
      this.baseCycles = cpu.cycles;
      this.baseWall = start - this.maxLagMs;
      target = cpu.cycles + this.maxLagMs * cyclesPerWallMs;
    }
    const deadline = start + this.budgetMs;
    const startCycles = cpu.cycles;
    let now = start;
    this.feedRx();
    while (cpu.cycles < target) {
      const sliceEnd = Math.min(target, cpu.cycles + this.sliceCycles);
      while (cpu.cycles < sliceEnd) {
        avrInstruction(cpu);
        cpu.tick();
      }
      this.flushTx();
      this.feedRx();
      now = performance.now();
      if (now >= deadline || !this.running) break;
    }
    this.busyWall += now - start;
    this.busyCycles += cpu.cycles - startCycles;
    this.window.push({ wall: now, cycles: cpu.cycles });
    while (this.window.length > 2 && now - this.window[0]!.wall > 1000) this.window.shift();

    if (!this.running) return; // a listener stopped us
    if (cpu.cycles < target) {
      this.schedule(0); // behind: yield to I/O, then catch up
    } else {
      // Caught up: come back when a slice of emulated time is due.
      this.schedule(Math.max(1, Math.round(this.sliceCycles / cyclesPerWallMs)));
    }
  }
}

/**
 * Two avr8js 0.21.1 USART defects that lost received bytes, fixed here:
 *
 * - a write to UCSR0A stores only U2X/MPCM, wiping the read-only RXC0 and UDRE0 flags (the Arduino
 *   core writes UCSR0A on every transmitted byte, to clear TXC0);
 * - a write to UCSR0B that keeps the receiver enabled drops a pending RX-complete interrupt (the
 *   core writes UCSR0B to toggle UDRIE0 whenever it sends).
 *
 * So a byte that arrived just before the firmware transmitted was never read, and the next one
 * overwrote it: Firmata messages from the host were corrupted whenever a report (a button, the
 * knob) went out while the host was writing; it showed as garbage on the LCD. On the ATmega328P
 * those flags are read-only and only disabling the receiver flushes it: keep them.
 */
function fixUsartFlags(cpu: CPU, usart: AVRUSART): void {
  const { UCSRA, UCSRB } = usart0Config;
  const RXC_FLAG = 0x80;
  const READ_ONLY = 0x80 | 0x20 | 0x10 | 0x08 | 0x04; // RXC, UDRE, FE, DOR, UPE
  const RXEN = 0x10;
  const rxc = (usart as unknown as { RXC: Parameters<CPU['setInterruptFlag']>[0] }).RXC;
  const writeA = cpu.writeHooks[UCSRA];
  const writeB = cpu.writeHooks[UCSRB];
  if (!writeA || !writeB) throw new Error('avr8js USART hooks not found: check the avr8js version');
  cpu.writeHooks[UCSRA] = (value, oldValue, addr, mask) => {
    const keep = cpu.data[UCSRA]! & READ_ONLY;
    const result = writeA(value, oldValue, addr, mask);
    cpu.data[UCSRA] = (cpu.data[UCSRA]! & ~READ_ONLY) | keep;
    return result;
  };
  cpu.writeHooks[UCSRB] = (value, oldValue, addr, mask) => {
    const pending = (cpu.data[UCSRA]! & RXC_FLAG) !== 0;
    const result = writeB(value, oldValue, addr, mask);
    if (pending && value & RXEN && oldValue & RXEN) cpu.setInterruptFlag(rxc);
    return result;
  };
}

function clampAdc(value: number): number {
  if (!Number.isFinite(value)) throw new Error(`analog value must be a number 0..1023 (got ${value})`);
  return Math.min(1023, Math.max(0, Math.round(value)));
}
