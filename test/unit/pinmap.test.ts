/**
 * hardware/pinmap.json is the single source of truth: diagram.json (Wokwi) and wiring.svg must agree
 * with it, and no pin may be used twice.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ANALOG_NAMES,
  avrPortBit,
  BUTTON_NAMES,
  LED_NAMES,
  loadPinMap,
  type PinMap,
  parsePinMap,
  pinLabel,
  pinmap,
  pinUses,
} from '../../hardware/pinmap.ts';

const hardware = new URL('../../hardware/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, hardware), 'utf8');

interface DiagramPart {
  type: string;
  id: string;
  attrs: Record<string, string>;
}
interface Diagram {
  parts: DiagramPart[];
  connections: Array<[string, string, string, unknown[]]>;
}

const diagram = JSON.parse(read('diagram.json')) as Diagram;
const svg = read('wiring.svg');

/** Wokwi pin names on the Uno: 2 -> "2", "A0" -> "A0". */
const unoPin = (pin: number | string) => `uno:${pin}`;
const GND = new Set(['uno:GND.1', 'uno:GND.2', 'uno:GND.3']);
const FIVE_V = 'uno:5V';

/** Parts whose pins are joined inside the part (the pushbutton's two legs on each side). */
const INTERNAL: Record<string, string[][]> = {
  'wokwi-pushbutton': [
    ['1.l', '1.r'],
    ['2.l', '2.r'],
  ],
};

/** Union-find over "part:pin" endpoints: the electrical nets of diagram.json. */
function nets(d: Diagram): (endpoint: string) => Set<string> {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    if (!parent.has(x)) parent.set(x, x);
    const p = parent.get(x)!;
    if (p === x) return x;
    const root = find(p);
    parent.set(x, root);
    return root;
  };
  const union = (a: string, b: string) => parent.set(find(a), find(b));
  for (const [a, b] of d.connections) union(a, b);
  for (const part of d.parts) {
    for (const group of INTERNAL[part.type] ?? []) {
      for (const pin of group.slice(1)) union(`${part.id}:${group[0]}`, `${part.id}:${pin}`);
    }
  }
  // All the Uno's GND pins are one net on the board itself.
  for (const g of GND) union('uno:GND.1', g);
  return (endpoint) => {
    const root = find(endpoint);
    return new Set([...parent.keys()].filter((k) => find(k) === root));
  };
}

const netOf = nets(diagram);
const partById = new Map(diagram.parts.map((p) => [p.id, p]));
const inNet = (endpoint: string, predicate: (e: string) => boolean) => [...netOf(endpoint)].some(predicate);
const partPins = (net: Set<string>, part: string) => [...net].filter((e) => e.startsWith(`${part}:`));
const isGnd = (e: string) => GND.has(e);

describe('hardware/pinmap.json', () => {
  it('parses, and names every button, LED and analog input', () => {
    const map = loadPinMap();
    expect(Object.keys(map.buttons).sort()).toEqual([...BUTTON_NAMES].sort());
    expect(Object.keys(map.leds).sort()).toEqual([...LED_NAMES].sort());
    expect(Object.keys(map.analog).sort()).toEqual([...ANALOG_NAMES].sort());
    expect(map.lcd.address).toBe(0x27);
  });

  it('uses no pin twice (A4 = D18 and so on are the same pin)', () => {
    const keys = pinUses(pinmap).map((u) => {
      const { port, bit } = avrPortBit(u.label);
      return `${port}${bit}`;
    });
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('rejects a map that uses a pin twice, or the serial pins', () => {
    const clone = () =>
      JSON.parse(read('pinmap.json')) as Record<string, Record<string, Record<string, unknown>>>;
    const twice = clone();
    twice['leds']!['fault']!['pin'] = (pinmap as PinMap).buttons.pick.pin;
    expect(() => parsePinMap(twice)).toThrow(/D3 is used by both buttons\.pick and leds\.fault/);
    const serial = clone();
    serial['buttons']!['restock']!['pin'] = 1;
    expect(() => parsePinMap(serial)).toThrow(/buttons\.restock\.pin: D0\/D1 are the serial port/);
    const analogClash = clone();
    analogClash['analog']!['count']!['pin'] = 'A4';
    expect(() => parsePinMap(analogClash)).toThrow(/A4 is used by both lcd\.sda and analog\.count/);
  });
});

describe('hardware/diagram.json agrees with the pin map', () => {
  it('has every part of the pin map, of the right Wokwi type and value', () => {
    expect(partById.get(pinmap.board.part)?.type).toBe('wokwi-arduino-uno');
    for (const name of BUTTON_NAMES)
      expect(partById.get(pinmap.buttons[name].part)?.type).toBe('wokwi-pushbutton');
    for (const name of LED_NAMES) {
      const led = pinmap.leds[name];
      expect(partById.get(led.part)).toMatchObject({ type: 'wokwi-led', attrs: { color: led.color } });
      expect(partById.get(led.resistor)).toMatchObject({
        type: 'wokwi-resistor',
        attrs: { value: String(led.resistorOhms) },
      });
    }
    const lcd = partById.get(pinmap.lcd.part);
    expect(lcd).toMatchObject({ type: 'wokwi-lcd1602', attrs: { pins: 'i2c' } });
    expect(Number.parseInt(lcd!.attrs['i2cAddress'] ?? '0x27', 16)).toBe(pinmap.lcd.address);
    expect(partById.get(pinmap.analog.count.part)?.type).toBe('wokwi-potentiometer');
  });

  it('connects only parts that exist', () => {
    for (const [a, b] of diagram.connections) {
      for (const endpoint of [a, b]) expect(partById.has(endpoint.split(':')[0]!), endpoint).toBe(true);
    }
  });

  it('wires each button between its pin and GND', () => {
    for (const name of BUTTON_NAMES) {
      const { pin, part } = pinmap.buttons[name];
      const signal = netOf(unoPin(pin));
      const side = partPins(signal, part);
      expect(side.length, `${pinLabel(pin)} reaches ${part}`).toBeGreaterThan(0);
      const otherSide = side[0]!.startsWith(`${part}:1`) ? `${part}:2.l` : `${part}:1.l`;
      expect(inNet(otherSide, isGnd), `${part}'s other side is on GND`).toBe(true);
      expect(inNet(unoPin(pin), isGnd), `${pinLabel(pin)} is not shorted to GND`).toBe(false);
    }
  });

  it('wires each LED: pin -> resistor -> anode, cathode -> GND', () => {
    for (const name of LED_NAMES) {
      const { pin, part, resistor } = pinmap.leds[name];
      const toResistor = partPins(netOf(unoPin(pin)), resistor);
      expect(toResistor.length, `${pinLabel(pin)} reaches ${resistor}`).toBe(1);
      const otherEnd = toResistor[0] === `${resistor}:1` ? `${resistor}:2` : `${resistor}:1`;
      expect(netOf(otherEnd).has(`${part}:A`), `${resistor} reaches the anode of ${part}`).toBe(true);
      expect(inNet(`${part}:C`, isGnd), `${part}'s cathode is on GND`).toBe(true);
      expect(netOf(unoPin(pin)).has(`${part}:A`), `${part} is not wired without its resistor`).toBe(false);
    }
  });

  it('wires the I2C LCD to A4/A5 with power, and the potentiometer to A0', () => {
    const { part, sda, scl } = pinmap.lcd;
    expect(netOf(unoPin(sda)).has(`${part}:SDA`)).toBe(true);
    expect(netOf(unoPin(scl)).has(`${part}:SCL`)).toBe(true);
    expect(netOf(`${part}:VCC`).has(FIVE_V)).toBe(true);
    expect(inNet(`${part}:GND`, isGnd)).toBe(true);
    const pot = pinmap.analog.count;
    expect(netOf(unoPin(pot.pin)).has(`${pot.part}:SIG`)).toBe(true);
    expect(netOf(`${pot.part}:VCC`).has(FIVE_V)).toBe(true);
    expect(inNet(`${pot.part}:GND`, isGnd)).toBe(true);
    expect(inNet(FIVE_V, isGnd), '5V is not shorted to GND').toBe(false);
  });

  it('uses each Uno pin for one thing only, and only the pins of the map', () => {
    const mapped = new Set(pinUses(pinmap).map((u) => u.label.replace(/^D/, '')));
    const used = new Set<string>();
    for (const [a, b] of diagram.connections) {
      for (const e of [a, b]) if (e.startsWith('uno:')) used.add(e.slice(4));
    }
    for (const pin of used) {
      if (pin === '5V' || /^GND\.\d$/.test(pin)) continue;
      expect(mapped.has(pin), `uno:${pin} is wired in diagram.json but not in pinmap.json`).toBe(true);
    }
    // Distinct signal pins are distinct nets (no two roles share a wire).
    const signals = pinUses(pinmap).filter((u) => !u.role.startsWith('serial.'));
    const roots = signals.map((u) => [...netOf(unoPin(u.label.replace(/^D/, '')))].sort().join(','));
    expect(new Set(roots).size).toBe(signals.length);
  });
});

describe('hardware/wiring.svg agrees with the pin map', () => {
  const wires = [...svg.matchAll(/<(?:path|polyline|line)\b[^>]*\bclass="wire"[^>]*>/g)].map((m) => ({
    pin: /\bdata-pin="([^"]+)"/.exec(m[0])?.[1],
    part: /\bdata-part="([^"]+)"/.exec(m[0])?.[1],
  }));
  const groups = new Map(
    [...svg.matchAll(/<g\b[^>]*\bdata-part="([^"]+)"[^>]*>/g)].map((m) => [m[1]!, m[0]] as const),
  );

  it('is an SVG with a title and a description', () => {
    expect(svg).toMatch(/^<\?xml[^>]*\?>\s*<svg\b[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg).toMatch(/<title>[^<]+<\/title>/);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(wires.length).toBeGreaterThan(10);
    for (const w of wires) expect(w.pin && w.part, 'every wire has data-pin and data-part').toBeTruthy();
  });

  it('draws every part of the pin map', () => {
    const parts = [
      pinmap.board.part,
      pinmap.lcd.part,
      ...BUTTON_NAMES.map((n) => pinmap.buttons[n].part),
      ...LED_NAMES.flatMap((n) => [pinmap.leds[n].part, pinmap.leds[n].resistor]),
      ...ANALOG_NAMES.map((n) => pinmap.analog[n].part),
    ];
    for (const part of parts) expect(groups.has(part), `<g data-part="${part}">`).toBe(true);
    for (const name of LED_NAMES) {
      const led = pinmap.leds[name];
      expect(groups.get(led.part)).toContain(`data-color="${led.color}"`);
      expect(groups.get(led.resistor)).toContain(`data-ohms="${led.resistorOhms}"`);
    }
    expect(groups.get(pinmap.lcd.part)).toContain(`data-address="0x${pinmap.lcd.address.toString(16)}"`);
  });

  it('has a wire from every mapped pin to its part, and none from other pins', () => {
    for (const use of pinUses(pinmap).filter((u) => !u.role.startsWith('serial.'))) {
      expect(
        wires.some((w) => w.pin === use.label && w.part === use.part),
        `wire ${use.label} -> ${use.part} (${use.role})`,
      ).toBe(true);
    }
    const byPin = new Map<string, Set<string>>();
    for (const w of wires) {
      if (w.pin === 'GND' || w.pin === '5V') continue;
      if (!byPin.has(w.pin!)) byPin.set(w.pin!, new Set());
      byPin.get(w.pin!)!.add(w.part!);
    }
    const labels = new Set(pinUses(pinmap).map((u) => u.label));
    for (const [pin, parts] of byPin) {
      expect(labels.has(pin), `wiring.svg wires ${pin}, which pinmap.json does not use`).toBe(true);
      expect(parts.size, `${pin} goes to one part only (${[...parts].join(', ')})`).toBe(1);
    }
  });

  it('grounds every button and LED cathode', () => {
    for (const name of BUTTON_NAMES) {
      expect(wires.some((w) => w.pin === 'GND' && w.part === pinmap.buttons[name].part)).toBe(true);
    }
    for (const name of LED_NAMES) {
      expect(wires.some((w) => w.pin === 'GND' && w.part === pinmap.leds[name].part)).toBe(true);
    }
  });
});

describe('hardware/BOM.md agrees with the pin map', () => {
  it('lists the parts in the right quantities and values', () => {
    const bom = read('BOM.md');
    const ohms = new Set(LED_NAMES.map((n) => pinmap.leds[n].resistorOhms));
    for (const value of ohms) expect(bom).toContain(`${value} Ω`);
    expect(bom).toMatch(new RegExp(`\\|\\s*${BUTTON_NAMES.length}\\s*\\|[^\\n]*push ?button`, 'i'));
    expect(bom).toMatch(new RegExp(`\\|\\s*${LED_NAMES.length}\\s*\\|[^\\n]*resistor`, 'i'));
    expect(bom).toMatch(/0x27/);
  });
});
