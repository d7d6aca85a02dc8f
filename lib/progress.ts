/**
 * A live one-line progress display for long-running commands: rewritten in place on a TTY,
 * printed every few seconds otherwise (CI logs, files).
 */
export class ProgressLine {
  private timer: NodeJS.Timeout | null = null;
  private lastPlain = 0;
  private readonly tty: boolean;

  constructor(
    private readonly render: () => string,
    private readonly opts: { intervalMs?: number; plainEveryMs?: number; stream?: NodeJS.WriteStream } = {},
  ) {
    this.tty = Boolean((opts.stream ?? process.stderr).isTTY);
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Stops and prints the final line. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const stream = this.opts.stream ?? process.stderr;
    stream.write(this.tty ? `\r\x1b[2K${this.render()}\n` : `${this.render()}\n`);
  }

  private tick(): void {
    const stream = this.opts.stream ?? process.stderr;
    if (this.tty) {
      stream.write(`\r\x1b[2K${this.render()}`);
      return;
    }
    const now = Date.now();
    if (now - this.lastPlain >= (this.opts.plainEveryMs ?? 5000)) {
      this.lastPlain = now;
      stream.write(`${this.render()}\n`);
    }
  }
}
