/**
 * The panel on a board: johnny-five Buttons, Leds, the I2C LCD and the knob (Sensor on A0), wired
 * to a started `Terminal` through the pure logic in panelLogic.ts. Pin numbers come only from
 * hardware/pinmap. The board must be a ready johnny-five Board with an `io` (connectBoard()).
 *
 * Rendering is diffed (only the characters that changed are sent: every character costs ~28
 * bytes of Firmata I2C traffic, ~5 ms at 57600 baud) and throttled to one pass per `renderMs`.
 * Ledger actions run one at a time, in the order the buttons asked for them.
 */
import { EventEmitter } from 'node:events';
import five from 'johnny-five';
import {
  BUTTON_NAMES,
  type ButtonName,
  pinmap as defaultPinMap,
  LED_NAMES,
  type LedName,
  type PinMap,
} from '../../hardware/pinmap.ts';
import { type J5Board, pinmapLcd } from '../boards/firmata.ts';
import type { Terminal } from '../terminal.ts';
import {
  type Connection,
  initialPanelState,
  nextChangeAt,
  type PanelAction,
  type PanelConfig,
  type PanelEvent,
  type PanelState,
  type PanelView,
  panelView,
  updatePanel,
} from './panelLogic.ts';

export interface PanelOptions {
  board: J5Board;
  /** A started terminal. */
  terminal: Terminal;
  pinmap?: PinMap;
  config?: Partial<Omit<PanelConfig, 'id' | 'cols' | 'rows'>>;
  /** For `countFrom: 'prompt'`: ask for the units of `sku` (null: cancelled). */
  countPrompt?: (sku: string) => Promise<number | null>;
  /** At most one LCD/LED pass per this many ms (default 100). */
  renderMs?: number;
  /** Hold time of the buttons, ms (default 800). */
  holdMs?: number;
  /** How often the knob is read, ms (default 100). */
  knobMs?: number;
  /** Knob changes smaller than this (raw units) are ignored (default 4). */
  knobThreshold?: number;
}

export interface PanelEvents {
  /** A button edge as johnny-five reported it. */
  button: [button: ButtonName, edge: 'down' | 'hold' | 'up'];
  /** A ledger action the panel performed, and how it went. */
  action: [action: PanelAction, ok: boolean, detail: string | undefined];
  /** What was just sent to the LCD and LEDs. */
  render: [view: PanelView];
  /** The buttons are live. */
  armed: [];
  error: [error: Error];
}

type LcdLike = {
  cursor(row: number, col: number): LcdLike;
  print(text: string, options?: { dontProcessSpecials?: boolean }): LcdLike;
};

export class Panel extends EventEmitter<PanelEvents> {
  private state: PanelState;
  private readonly opts: PanelOptions;
  private readonly pins: PinMap;
  private lcd: LcdLike | null = null;
  private readonly leds = new Map<LedName, five.Led>();
  private readonly buttons = new Map<ButtonName, five.Button>();
  /** Last level seen per button. */
  private readonly pressed = new Map<ButtonName, boolean>();
  private armed = false;
  private sensor: five.Sensor | null = null;
  private readonly shown: string[] = [];
  private readonly ledShown = new Map<LedName, boolean>();
  private renderTimer: NodeJS.Timeout | null = null;
  private lastRender = 0;
  private actions: Promise<void> = Promise.resolve();
  private started = false;
  private stopped = false;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(opts: PanelOptions) {
    super();
    this.opts = opts;
    this.pins = opts.pinmap ?? defaultPinMap;
    this.state = initialPanelState(
      { ...opts.config, id: opts.terminal.id, cols: this.pins.lcd.cols, rows: this.pins.lcd.rows },
      Date.now(),
    );
  }

  /** The panel's current logical view (what the LCD shows once rendering caught up). */
  view(): PanelView {
    return panelView(this.state, Date.now());
  }

  get panelState(): PanelState {
    return this.state;
  }

  /** Create the johnny-five components, follow the terminal, draw. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const { board } = this.opts;
    const pins = this.pins;
    const io = board.io as unknown as {
      setSamplingInterval(ms: number): void;
      reportVersion(callback: () => void): void;
    };
    // Buttons first, so that their pin setup reaches the firmware before the LCD's long init.
    for (const name of BUTTON_NAMES) {
      const button = new five.Button({
        pin: pins.buttons[name].pin,
        isPullup: true,
        holdtime: this.opts.holdMs ?? 800,
        board,
      });
      button.on('down', () => this.onButton(name, 'down'));
      button.on('hold', () => this.onButton(name, 'hold'));
      button.on('up', () => this.onButton(name, 'up'));
      this.buttons.set(name, button);
      this.pressed.set(name, false);
    }
    // A pin reads LOW between INPUT and its pull-up: edges before the firmware answers a version
    // request (which it does after every byte sent before it) are set-up noise, not presses.
    io.reportVersion(() => {
      if (this.stopped) return;
      this.armed = true;
      this.emit('armed');
    });
    // Fewer analog reports than Firmata's default 19 ms: the knob needs no more.
    io.setSamplingInterval(this.opts.knobMs ?? 100);
    for (const name of LED_NAMES) {
      const led = new five.Led({ pin: pins.leds[name].pin, board });
      led.off();
      this.leds.set(name, led);
      this.ledShown.set(name, false);
    }
    this.lcd = pinmapLcd(board, pins) as unknown as LcdLike;
    for (let r = 0; r < pins.lcd.rows; r++) this.shown[r] = ' '.repeat(pins.lcd.cols);
    const knobThreshold = this.opts.knobThreshold ?? 4;
    const sensor = new five.Sensor({ pin: pins.analog.count.pin, board, freq: this.opts.knobMs ?? 100 });
    let lastKnob: number | null = null;
    (sensor as unknown as EventEmitter).on('data', () => {
      const raw = sensor.value;
      if (typeof raw !== 'number' || !Number.isFinite(raw)) return;
      if (lastKnob !== null && Math.abs(raw - lastKnob) < knobThreshold) return;
      lastKnob = raw;
      this.dispatch({ type: 'analog', raw });
    });
    this.sensor = sensor;

    const terminal = this.opts.terminal;
    const onChanged = () => this.readLedger();
    const onConnection = () => this.readConnection();
    terminal.on('changed', onChanged);
    terminal.on('connection', onConnection);
    this.unsubscribe.push(() => terminal.off('changed', onChanged));
    this.unsubscribe.push(() => terminal.off('connection', onConnection));
    const onFaults = () => this.readFaults();
    terminal.faults.on('changed', onFaults);
    this.unsubscribe.push(() => terminal.faults.off('changed', onFaults));
    this.readConnection();
    this.readFaults();
    this.readLedger();
    this.render(true);
  }

  /** Whether the buttons are live (the firmware has set up their pull-ups). */
  get isArmed(): boolean {
    return this.armed;
  }

  /** Resolves once the buttons are live. */
  whenArmed(timeoutMs = 10_000): Promise<void> {
    if (this.armed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onArmed = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off('armed', onArmed);
        reject(new Error(`panel of ${this.opts.terminal.id}: buttons not live after ${timeoutMs} ms`));
      }, timeoutMs);
      this.once('armed', onArmed);
    });
  }

  /** Detach from the terminal and the board. Leaves the LEDs and LCD as they are. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.renderTimer) clearTimeout(this.renderTimer);
    this.renderTimer = null;
    for (const off of this.unsubscribe) off();
    this.unsubscribe.length = 0;
    for (const b of this.buttons.values()) (b as unknown as EventEmitter).removeAllListeners();
    if (this.sensor) {
      // Stops johnny-five's sampling interval, then the board's analog reports.
      (this.sensor as unknown as { disable(): void }).disable();
      (this.sensor as unknown as EventEmitter).removeAllListeners();
      try {
        const channel = Number(this.pins.analog.count.pin.slice(1));
        (this.opts.board.io as unknown as { reportAnalogPin(ch: number, on: 0 | 1): void }).reportAnalogPin(
          channel,
          0,
        );
      } catch {
        // the port may be gone already
      }
    }
    this.sensor = null;
  }

  /** Resolves once every ledger action asked for so far has run. */
  idle(): Promise<void> {
    return this.actions;
  }

  /**
   * Only real edges pass, and only once the panel is armed (see start()). johnny-five's hold
   * interval may keep firing after a release on the same port: holds count only while down.
   */
  private onButton(button: ButtonName, edge: 'down' | 'hold' | 'up'): void {
    if (this.stopped) return;
    const was = this.pressed.get(button) ?? false;
    if (edge === 'hold') {
      if (!was || !this.armed) return;
    } else {
      const down = edge === 'down';
      this.pressed.set(button, down);
      if (was === down || !this.armed) return;
    }
    this.emit('button', button, edge);
    this.dispatch({ type: 'button', button, edge });
  }

  private dispatch(event: PanelEvent): void {
    if (this.stopped) return;
    const { state, actions } = updatePanel(this.state, event, Date.now());
    this.state = state;
    for (const action of actions) this.enqueue(action);
    this.render();
  }

  private enqueue(action: PanelAction): void {
    this.actions = this.actions.then(() => this.perform(action)).catch((err: Error) => this.report(err));
  }

  /** 'error' only if someone listens (an EventEmitter throws an unheard 'error'). */
  private report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private async perform(action: PanelAction): Promise<void> {
    if (this.stopped) return;
    const terminal = this.opts.terminal;
    let ok = false;
    let detail: string | undefined;
    let onHand: number | undefined;
    try {
      if (!terminal.isStarted) throw new Error('terminal down');
      switch (action.kind) {
        case 'pick': {
          // The oldest pending pick (Terminal.pick without a tx), as the button promises.
          const tx = await terminal.pick();
          ok = tx !== null;
          if (tx === null) detail = 'nothing';
          else if (tx !== action.tx) {
            // Someone else picked the one shown first: report the one this press picked.
            action = { kind: 'pick', tx, lines: [...(terminal.ledger.tx(tx)?.lines ?? [])] };
          }
          break;
        }
        case 'restock': {
          const r = await terminal.restock(action.sku, action.qty);
          ok = r.ok;
          if (!ok) detail = r.code;
          onHand = terminal.ledger.item(action.sku)?.onHand;
          break;
        }
        case 'count': {
          let qty = action.qty;
          if (qty === null) {
            qty = this.opts.countPrompt ? await this.opts.countPrompt(action.sku) : null;
            if (qty === null) {
              detail = 'cancelled';
              break;
            }
          }
          const r = await terminal.count(action.sku, qty);
          ok = r.ok;
          if (!ok) detail = r.code === 'below_held' ? 'below held' : r.code;
          onHand = terminal.ledger.item(action.sku)?.onHand;
          action = { ...action, qty };
          break;
        }
      }
    } catch (err) {
      detail = (err as Error).message;
      this.report(err as Error);
    }
    const result: PanelEvent = { type: 'result', action, ok };
    if (onHand !== undefined) result.onHand = onHand;
    const error = ok ? undefined : detail;
    if (error !== undefined) result.error = error;
    this.dispatch(result);
    this.emit('action', action, ok, detail);
  }

  private readConnection(): void {
    const t = this.opts.terminal;
    const prev = this.state.connection;
    const connection: Connection = t.isOnline ? 'online' : prev === 'connecting' ? 'connecting' : 'offline';
    if (connection !== prev) this.dispatch({ type: 'connection', connection });
  }

  private readFaults(): void {
    const f = this.opts.terminal.faults;
    const faults = f.kinds().map((k) => (k === 'slow' ? `slow ${f.slowMs}ms` : k));
    this.dispatch({ type: 'faults', faults });
  }

  private readLedger(): void {
    const t = this.opts.terminal;
    if (!t.isStarted) return;
    const ledger = t.ledger;
    const items = ledger.inventory().items;
    const picks = ledger.pendingPicks().map((p) => ({ tx: p.tx, lines: p.lines }));
    this.dispatch({ type: 'ledger', items, picks });
  }

  /** Draw now if allowed, else once the throttle allows; also when the view changes by itself. */
  private render(force = false): void {
    if (this.stopped || !this.lcd) return;
    const now = Date.now();
    const minGap = this.opts.renderMs ?? 100;
    if (!force && now - this.lastRender < minGap) {
      this.arm(this.lastRender + minGap);
      return;
    }
    this.lastRender = now;
    const view = panelView(this.state, now);
    this.draw(view);
    const next = nextChangeAt(this.state, now);
    if (next !== null) this.arm(next);
    this.emit('render', view);
  }

  private arm(at: number): void {
    if (this.stopped) return;
    if (this.renderTimer) clearTimeout(this.renderTimer);
    this.renderTimer = setTimeout(
      () => {
        this.renderTimer = null;
        this.render();
      },
      Math.max(1, at - Date.now()),
    );
  }

  private draw(view: PanelView): void {
    const lcd = this.lcd!;
    view.lines.forEach((line, row) => {
      const before = this.shown[row] ?? '';
      let first = 0;
      while (first < line.length && line[first] === before[first]) first++;
      if (first === line.length) return;
      let last = line.length - 1;
      while (last > first && line[last] === before[last]) last--;
      lcd.cursor(row, first).print(line.slice(first, last + 1), { dontProcessSpecials: true });
      this.shown[row] = line;
    });
    for (const name of LED_NAMES) {
      const on = view.leds[name];
      if (this.ledShown.get(name) === on) continue;
      this.ledShown.set(name, on);
      const led = this.leds.get(name)!;
      if (on) led.on();
      else led.off();
    }
  }
}
