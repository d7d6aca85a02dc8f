/**
 * Regression: the emulated Uno must not lose a received byte when the firmware transmits. avr8js
 * 0.21.1 wiped RXC0 on a UCSR0A write and dropped the pending RX interrupt on a UCSR0B write; the
 * Arduino core does both on every byte it sends, so Firmata messages from the host got corrupted
 * whenever a report went out (garbage on the panel's LCD). No boot needed: the USART is driven
 * directly, as the firmware's register writes would.
 */
import { describe, expect, it } from 'vitest';
import { EmulatedBoard } from '../../firmware/boards/emulated/index.ts';

interface Usart {
  writeByte(value: number, immediate?: boolean): boolean | undefined;
}
interface Cpu {
  data: Uint8Array;
  writeHooks: Array<((value: number, old: number, addr: number, mask: number) => unknown) | undefined>;
  readHooks: Array<((addr: number) => number) | undefined>;
  pendingInterrupts: Array<unknown>;
}

const UCSR0A = 0xc0;
const UCSR0B = 0xc1;
const UDR0 = 0xc6;
const RXC_VECTOR = 0x24; // USART_RX (vector 18, word address 0x24)

function mcu(): { cpu: Cpu; usart: Usart } {
  const board = new EmulatedBoard({ name: 'usart', lcd: false });
  return (board as unknown as { mcu: { cpu: Cpu; usart: Usart } }).mcu;
}

/** What Arduino's Serial.begin leaves in UCSR0B: RXEN0, TXEN0, RXCIE0. */
function begin(cpu: Cpu): void {
  const value = 0x10 | 0x08 | 0x80;
  const old = cpu.data[UCSR0B]!;
  cpu.writeHooks[UCSR0B]?.(value, old, UCSR0B, 0xff);
  cpu.data[UCSR0B] = value;
}

function write(cpu: Cpu, addr: number, value: number): void {
  const old = cpu.data[addr]!;
  if (!cpu.writeHooks[addr]?.(value, old, addr, 0xff)) cpu.data[addr] = value;
}

describe('emulated USART0 keeps a received byte while the firmware transmits', () => {
  it('RXC0 survives a UCSR0A write (clearing TXC0, as Serial.write does)', () => {
    const { cpu, usart } = mcu();
    begin(cpu);
    usart.writeByte(0x5a, true);
    expect(cpu.data[UCSR0A]! & 0x80).toBe(0x80);
    write(cpu, UCSR0A, 0x40); // TXC0 written 1 = clear it
    expect(cpu.data[UCSR0A]! & 0x80).toBe(0x80);
    expect(cpu.pendingInterrupts[RXC_VECTOR]).toBeTruthy();
  });

  it('the RX interrupt stays pending across UCSR0B writes (UDRIE0 on and off), until UDR0 is read', () => {
    const { cpu, usart } = mcu();
    begin(cpu);
    usart.writeByte(0xa5, true);
    write(cpu, UCSR0A, 0x40);
    write(cpu, UCSR0B, cpu.data[UCSR0B]! | 0x20); // sbi UDRIE0
    write(cpu, UCSR0B, cpu.data[UCSR0B]! & ~0x20); // cbi UDRIE0
    expect(cpu.pendingInterrupts[RXC_VECTOR]).toBeTruthy();
    expect(cpu.readHooks[UDR0]?.(UDR0)).toBe(0xa5);
    expect(cpu.data[UCSR0A]! & 0x80).toBe(0);
    expect(cpu.pendingInterrupts[RXC_VECTOR]).toBeFalsy();
  });

  it('disabling the receiver still flushes it', () => {
    const { cpu, usart } = mcu();
    begin(cpu);
    usart.writeByte(0x11, true);
    write(cpu, UCSR0B, cpu.data[UCSR0B]! & ~0x10 & ~0x80);
    expect(cpu.pendingInterrupts[RXC_VECTOR]).toBeFalsy();
  });
});
