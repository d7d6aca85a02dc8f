import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { connectBoard, FirmataHandshakeError } from '../../firmware/boards/firmata.ts';

/** A port that opens and swallows everything, answering nothing (no firmware, wrong baud...). */
class SilentPort extends Duplex {
  written = 0;
  isOpen = false;
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    this.written += chunk.length;
    cb();
  }
  open(): this {
    process.nextTick(() => {
      this.isOpen = true;
      this.emit('open');
    });
    return this;
  }
}

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('Firmata handshake', () => {
  it('rejects with a clear error when the board never answers', async () => {
    const before = timers();
    const port = new SilentPort().open();
    const t0 = performance.now();
    const err = await connectBoard(port, { handshakeTimeoutMs: 400 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FirmataHandshakeError);
    expect((err as Error).message).toMatch(/^board did not answer the Firmata handshake within 400 ms/);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(390);
    // firmata-io asked for the version again half-way through: the port saw REPORT_VERSION (0xF9).
    expect(port.written).toBeGreaterThan(0);
    // firmata-io's and johnny-five's timers are cleared.
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('also handles a port that is already open (no further open event)', async () => {
    const port = new SilentPort();
    port.isOpen = true;
    await expect(connectBoard(port, { handshakeTimeoutMs: 200 })).rejects.toThrow(
      'board did not answer the Firmata handshake within 200 ms',
    );
  });

  it('rejects when the port closes during the handshake', async () => {
    const port = new SilentPort().open();
    const pending = connectBoard(port, { handshakeTimeoutMs: 5000 });
    port.once('open', () => port.emit('close'));
    await expect(pending).rejects.toThrow(/port closed before the Firmata handshake finished/);
  });

  it('can be aborted', async () => {
    const port = new SilentPort().open();
    const ac = new AbortController();
    const pending = connectBoard(port, { handshakeTimeoutMs: 5000, signal: ac.signal });
    ac.abort();
    await expect(pending).rejects.toThrow(/aborted/);
  });
});
