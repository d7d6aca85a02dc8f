/**
 * The host side of the emulated board's USART0: a Node Duplex that looks enough like a serialport
 * `SerialPort` for firmata-io (`on('data')`, `write(buf, cb)`, an 'open' event, `isOpen`, `close()`).
 */
import { Duplex } from 'node:stream';

export class EmulatedSerialPort extends Duplex {
  /** True between 'open' and 'close', as on a serialport SerialPort. */
  isOpen = false;
  readonly baudRate: number;
  private portClosed = false;

  constructor(
    readonly path: string,
    private readonly sink: (chunk: Buffer) => void,
    baudRate = 57600,
  ) {
    // emitClose: false, because 'close' means "the port closed" here and is emitted by close().
    super({ emitClose: false, allowHalfOpen: true, highWaterMark: 1 << 16 });
    this.baudRate = baudRate;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // Bytes written to a closed port are lost, as on a cable that has been pulled. No error is raised:
    // firmata-io would turn it into an unhandled 'error' during shutdown.
    if (this.isOpen) this.sink(chunk);
    callback();
  }

  override _read(): void {
    // Data is pushed by the board as the USART transmits it.
  }

  /** Called by the board: bytes the firmware transmitted. */
  deliver(bytes: Uint8Array): void {
    if (this.isOpen && bytes.length > 0) this.push(Buffer.from(bytes));
  }

  /** Called by the board when it starts. Emits 'open' on the next tick. */
  markOpen(): void {
    if (this.portClosed) return;
    process.nextTick(() => {
      if (this.portClosed || this.isOpen) return;
      this.isOpen = true;
      this.emit('open');
    });
  }

  /** Close the port (emits 'close' once). The board stops delivering bytes. */
  close(callback?: (error?: Error | null) => void): void {
    if (!this.portClosed) {
      this.portClosed = true;
      const wasOpen = this.isOpen;
      this.isOpen = false;
      this.push(null);
      process.nextTick(() => {
        if (wasOpen) this.emit('close');
        callback?.(null);
      });
      return;
    }
    if (callback) process.nextTick(callback, null);
  }

  get isClosed(): boolean {
    return this.portClosed;
  }
}
