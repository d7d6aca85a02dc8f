/**
 * A PCF8574 I2C port expander driving an HD44780 16x2 character LCD in 4-bit mode, as on the common
 * "LCM1602 IIC" backpack: P0=RS, P1=RW, P2=EN, P3=backlight, P4..P7=D4..D7.
 *
 * The HD44780 latches a nibble on the falling edge of EN. It powers up in 8-bit mode (only D4..D7
 * are wired, so each latch is a whole instruction with the low nibble 0) until a "function set"
 * selects 4-bit mode; then instructions and data arrive as high nibble, low nibble. This is the
 * sequence johnny-five's LCD controller "PCF8574" (alias LCM1602) sends; re-initialising with
 * 0x3, 0x3, 0x3, 0x2 resynchronises it from any state, as on the real chip.
 */

/** One device on the emulated I2C bus. */
export interface I2CDevice {
  readonly address: number;
  /** A START + address (write) was acknowledged. */
  begin?(write: boolean): void;
  /** A byte written by the master; return false to NACK. */
  write(value: number): boolean;
  /** A byte read by the master. */
  read(): number;
  /** STOP. */
  end?(): void;
}

const RS = 0x01;
const RW = 0x02;
const EN = 0x04;
const BACKLIGHT = 0x08;

export interface LcdSnapshot {
  lines: string[];
  backlight: boolean;
  displayOn: boolean;
}

/** HD44780 controller with 80 bytes of DDRAM (2 lines x 40). */
export class HD44780 {
  private readonly ddram = new Uint8Array(0x80).fill(0x20);
  private readonly cgram = new Uint8Array(64);
  private addr = 0;
  private inCgram = false;
  private eightBit = true;
  private pendingHigh: number | null = null;
  private increment = true;
  private displayShift = 0;
  private shiftOnWrite = false;
  twoLines = false;
  displayOn = false;
  cursorOn = false;
  blinkOn = false;
  /** Called after anything visible changed. */
  onChange: (() => void) | null = null;

  constructor(
    readonly cols = 16,
    readonly rows = 2,
  ) {}

  /** Latch a nibble (D4..D7) with RS on a falling EN edge. */
  latch(nibble: number, rs: boolean): void {
    if (this.eightBit) {
      // Only the upper four data lines are wired: the low nibble reads as 0.
      this.execute((nibble & 0x0f) << 4, rs);
      return;
    }
    if (this.pendingHigh === null) {
      this.pendingHigh = nibble & 0x0f;
      return;
    }
    const value = (this.pendingHigh << 4) | (nibble & 0x0f);
    this.pendingHigh = null;
    this.execute(value, rs);
  }

  private execute(value: number, rs: boolean): void {
    if (rs) {
      this.writeData(value);
      return;
    }
    if (value & 0x80) {
      this.inCgram = false;
      this.addr = value & 0x7f;
    } else if (value & 0x40) {
      this.inCgram = true;
      this.addr = value & 0x3f;
    } else if (value & 0x20) {
      // Function set: DL (0x10) selects 8-bit, N (0x08) two lines.
      const eight = (value & 0x10) !== 0;
      if (eight !== this.eightBit) this.pendingHigh = null;
      this.eightBit = eight;
      this.twoLines = (value & 0x08) !== 0;
    } else if (value & 0x10) {
      // Cursor or display shift.
      const right = (value & 0x04) !== 0;
      if (value & 0x08) this.displayShift = (this.displayShift + (right ? -1 : 1) + 40) % 40;
      else this.moveCursor(right);
    } else if (value & 0x08) {
      this.displayOn = (value & 0x04) !== 0;
      this.cursorOn = (value & 0x02) !== 0;
      this.blinkOn = (value & 0x01) !== 0;
    } else if (value & 0x04) {
      this.increment = (value & 0x02) !== 0;
      this.shiftOnWrite = (value & 0x01) !== 0;
    } else if (value & 0x02) {
      this.addr = 0;
      this.inCgram = false;
      this.displayShift = 0;
    } else if (value & 0x01) {
      this.ddram.fill(0x20);
      this.addr = 0;
      this.inCgram = false;
      this.displayShift = 0;
      this.increment = true;
    }
    this.onChange?.();
  }

  private moveCursor(forward: boolean): void {
    if (this.inCgram) {
      this.addr = (this.addr + (forward ? 1 : -1)) & 0x3f;
      return;
    }
    // DDRAM addresses 0x00..0x27 and 0x40..0x67 in two-line mode, 0x00..0x4F in one-line mode.
    let a = this.addr + (forward ? 1 : -1);
    if (this.twoLines) {
      if (a === 0x28) a = 0x40;
      else if (a === 0x68) a = 0x00;
      else if (a === 0x3f) a = 0x27;
      else if (a === -1) a = 0x67;
    } else {
      a = (a + 0x50) % 0x50;
    }
    this.addr = a;
  }

  private writeData(value: number): void {
    if (this.inCgram) this.cgram[this.addr & 0x3f] = value;
    else this.ddram[this.addr & 0x7f] = value;
    this.moveCursor(this.increment);
    if (this.shiftOnWrite && !this.inCgram) {
      this.displayShift = (this.displayShift + (this.increment ? 1 : -1) + 40) % 40;
    }
    this.onChange?.();
  }

  /** The text visible on each row (custom characters 0..7 shown as U+0000..U+0007). */
  lines(): string[] {
    const out: string[] = [];
    for (let row = 0; row < this.rows; row++) {
      // 16x2: row 0 = 0x00, row 1 = 0x40 (20x4 adds 0x14, 0x54).
      const rowBase = [0x00, 0x40, 0x14, 0x54][row] ?? 0;
      let s = '';
      for (let col = 0; col < this.cols; col++) {
        const lineStart = rowBase & 0x40;
        const within = ((rowBase & 0x3f) + col + this.displayShift) % 40;
        s += String.fromCharCode(this.ddram[lineStart + within]!);
      }
      out.push(s);
    }
    return out;
  }
}

/** PCF8574 quasi-bidirectional port with an HD44780 on its pins. */
export class Pcf8574Lcd implements I2CDevice {
  readonly lcd: HD44780;
  private port = 0xff;
  /** Number of bytes written to the expander (each is one port update). */
  writes = 0;

  constructor(
    readonly address = 0x27,
    cols = 16,
    rows = 2,
  ) {
    this.lcd = new HD44780(cols, rows);
  }

  get backlight(): boolean {
    return (this.port & BACKLIGHT) !== 0;
  }

  write(value: number): boolean {
    const previous = this.port;
    this.port = value & 0xff;
    this.writes++;
    const falling = (previous & EN) !== 0 && (value & EN) === 0;
    // RW high means a read from the LCD: nothing is latched into it.
    if (falling && (value & RW) === 0) this.lcd.latch(value >> 4, (value & RS) !== 0);
    if ((previous ^ value) & BACKLIGHT) this.lcd.onChange?.();
    return true;
  }

  read(): number {
    return this.port;
  }

  snapshot(): LcdSnapshot {
    return { lines: this.lcd.lines(), backlight: this.backlight, displayOn: this.lcd.displayOn };
  }
}
