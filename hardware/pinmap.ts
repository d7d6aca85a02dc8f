/**
 * The stock terminal's pin map, typed and validated.
 *
 * `hardware/pinmap.json` is the single source of truth; this module parses it with zod, checks that no
 * pin is used twice and that every pin exists on an Arduino Uno, and exports it. `firmware/` imports
 * `pinmap` from here rather than hard-coding pin numbers.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export const BUTTON_NAMES = ['restock', 'pick', 'count', 'resetFault'] as const;
export const LED_NAMES = ['online', 'pickPending', 'fault'] as const;
export const ANALOG_NAMES = ['count'] as const;

export type ButtonName = (typeof BUTTON_NAMES)[number];
export type LedName = (typeof LED_NAMES)[number];
export type AnalogName = (typeof ANALOG_NAMES)[number];

/** An Arduino Uno digital pin number (D0..D13). */
export type DigitalPin = number;
/** An Arduino Uno analog pin name (A0..A5). */
export type AnalogPin = `A${0 | 1 | 2 | 3 | 4 | 5}`;

const digitalPin = z.number().int().min(0).max(13);
const analogPin = z
  .string()
  .regex(/^A[0-5]$/, 'an analog pin is "A0".."A5"') as unknown as z.ZodType<AnalogPin>;
const partId = z.string().regex(/^[a-z][a-z0-9-]*$/, 'part ids are lower-case kebab-case');

const buttonSchema = z.object({
  pin: digitalPin.min(2, 'D0/D1 are the serial port'),
  part: partId,
  mode: z.literal('INPUT_PULLUP'),
  pressed: z.literal('LOW'),
  description: z.string(),
});

const ledSchema = z.object({
  pin: digitalPin.min(2, 'D0/D1 are the serial port'),
  part: partId,
  resistor: partId,
  color: z.enum(['green', 'yellow', 'red', 'blue', 'white']),
  resistorOhms: z.number().int().positive(),
  activeHigh: z.boolean(),
  description: z.string(),
});

const i2cAddress = z
  .string()
  .regex(/^0x[0-7][0-9a-fA-F]$/, 'an I2C address is a 7-bit hex string like "0x27"')
  .transform((s) => Number.parseInt(s, 16));

const pinMapSchema = z.object({
  $comment: z.string().optional(),
  version: z.literal(1),
  board: z.object({
    name: z.literal('uno'),
    mcu: z.literal('atmega328p'),
    clockHz: z.literal(16_000_000),
    firmware: z.string(),
    part: partId,
  }),
  serial: z.object({
    baudRate: z.number().int().positive(),
    rx: z.literal(0),
    tx: z.literal(1),
    $comment: z.string().optional(),
  }),
  buttons: z.object({
    restock: buttonSchema,
    pick: buttonSchema,
    count: buttonSchema,
    resetFault: buttonSchema,
  }),
  leds: z.object({ online: ledSchema, pickPending: ledSchema, fault: ledSchema }),
  lcd: z.object({
    part: partId,
    controller: z.enum(['PCF8574', 'PCF8574A', 'PCF8574T', 'PCF8574AT', 'LCM1602']),
    address: i2cAddress,
    rows: z.number().int().positive(),
    cols: z.number().int().positive(),
    sda: z.literal('A4'),
    scl: z.literal('A5'),
    description: z.string(),
  }),
  analog: z.object({
    count: z.object({ pin: analogPin, part: partId, optional: z.boolean(), description: z.string() }),
  }),
});

export type PinMap = z.output<typeof pinMapSchema>;
export type ButtonSpec = PinMap['buttons'][ButtonName];
export type LedSpec = PinMap['leds'][LedName];

/** One physical pin use, for listings and clash checks. */
export interface PinUse {
  /** "D2", "A4"... */
  label: string;
  /** "buttons.pick", "lcd.sda", "serial.rx"... */
  role: string;
  /** The diagram part wired to it ("btn-pick"; the board itself for serial). */
  part: string;
}

/** Arduino's name for a pin: 2 -> "D2", "A0" -> "A0". */
export function pinLabel(pin: DigitalPin | AnalogPin): string {
  return typeof pin === 'number' ? `D${pin}` : pin;
}

/** Where an Uno pin lives on the ATmega328P: D0..7 = PORTD, D8..13 = PORTB, A0..5 = PORTC. */
export function avrPortBit(pin: DigitalPin | AnalogPin | string): { port: 'B' | 'C' | 'D'; bit: number } {
  const label = typeof pin === 'number' ? `D${pin}` : pin;
  const m = /^([DA])(\d{1,2})$/.exec(label);
  if (!m) throw new Error(`not an Arduino Uno pin: ${String(pin)}`);
  const n = Number(m[2]);
  if (m[1] === 'A') {
    if (n > 5) throw new Error(`not an Arduino Uno analog pin: ${label}`);
    return { port: 'C', bit: n };
  }
  if (n <= 7) return { port: 'D', bit: n };
  if (n <= 13) return { port: 'B', bit: n - 8 };
  if (n <= 19) return { port: 'C', bit: n - 14 };
  throw new Error(`not an Arduino Uno pin: ${label}`);
}

/** Every pin the terminal uses, with its role. */
export function pinUses(map: PinMap): PinUse[] {
  const uses: PinUse[] = [
    { label: pinLabel(map.serial.rx), role: 'serial.rx', part: map.board.part },
    { label: pinLabel(map.serial.tx), role: 'serial.tx', part: map.board.part },
  ];
  for (const name of BUTTON_NAMES) {
    const b = map.buttons[name];
    uses.push({ label: pinLabel(b.pin), role: `buttons.${name}`, part: b.part });
  }
  for (const name of LED_NAMES) {
    const l = map.leds[name];
    uses.push({ label: pinLabel(l.pin), role: `leds.${name}`, part: l.resistor });
  }
  uses.push({ label: map.lcd.sda, role: 'lcd.sda', part: map.lcd.part });
  uses.push({ label: map.lcd.scl, role: 'lcd.scl', part: map.lcd.part });
  for (const name of ANALOG_NAMES) {
    const a = map.analog[name];
    uses.push({ label: a.pin, role: `analog.${name}`, part: a.part });
  }
  return uses;
}

/** Validate a parsed pinmap.json; throws an Error listing every problem. */
export function parsePinMap(json: unknown, source = 'pinmap.json'): PinMap {
  const result = pinMapSchema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${source} is invalid:\n${problems.join('\n')}`);
  }
  const map = result.data;
  const byLabel = new Map<string, string>();
  const clashes: string[] = [];
  for (const use of pinUses(map)) {
    // A4/A5 are also D18/D19; A0..A3 are D14..D17: compare on the AVR port bit, not the label.
    const { port, bit } = avrPortBit(use.label);
    const key = `${port}${bit}`;
    const previous = byLabel.get(key);
    if (previous) clashes.push(`  ${use.label} is used by both ${previous} and ${use.role}`);
    else byLabel.set(key, use.role);
  }
  const parts = new Map<string, string>();
  for (const use of pinUses(map)) {
    if (use.role.startsWith('serial.') || use.role.startsWith('lcd.')) continue;
    const previous = parts.get(use.part);
    if (previous) clashes.push(`  part ${use.part} is used by both ${previous} and ${use.role}`);
    else parts.set(use.part, use.role);
  }
  if (clashes.length > 0) throw new Error(`${source} uses a pin or part twice:\n${clashes.join('\n')}`);
  return map;
}

export const PINMAP_PATH = new URL('./pinmap.json', import.meta.url);

/** Read and validate a pin map file (default: hardware/pinmap.json). */
export function loadPinMap(path: string | URL = PINMAP_PATH): PinMap {
  const text = readFileSync(path, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${String(path)} is not valid JSON: ${(err as Error).message}`);
  }
  return parsePinMap(json, String(path));
}

/** The terminal's pin map (hardware/pinmap.json), validated at import. */
export const pinmap: PinMap = loadPinMap();
