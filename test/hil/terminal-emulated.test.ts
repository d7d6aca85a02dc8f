/**
 * A stock terminal on real firmware: StandardFirmata on the emulated Uno, its panel (buttons, LEDs,
 * I2C LCD) driven by johnny-five, the terminal host on MQTT, against a real gateway (TestSystem).
 * Each test builds on the previous one: boards are slow to boot, so this file boots two (the
 * first start and the restart after a crash). Every wait is on an event, with a timeout.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoardTerminal } from '../../firmware/panel/boardTerminal.ts';
import type { TerminalOptions } from '../../firmware/terminal.ts';
import { connectMqttAsync } from '../../lib/mqtt.ts';
import { until } from '../../lib/wait.ts';
import type { Command, Inventory, TerminalState } from '../../protocol/index.ts';
import { PASSWORD, TestSystem } from '../helpers/system.ts';

let sys: TestSystem;
let unit: BoardTerminal;
let operator: MqttClient;
/** Emits 'seen' for every state or inventory message the operator receives. */
const seen = new EventEmitter();
const inventories: Inventory[] = [];
const states: TerminalState[] = [];

function emulatedTerminal(extra: Partial<TerminalOptions> = {}): BoardTerminal {
  return new BoardTerminal({
    terminal: {
      ...extra,
      id: 'e1',
      url: sys.url,
      password: PASSWORD,
      dataDir: join(sys.dataDir, 'terminals', 'e1'),
      initialStock: { apple: 10, pear: 10 },
      reconnectPeriodMs: 100,
      inquiryCheckMs: 100,
    },
    board: { kind: 'emulated' },
    // Shorter than the defaults (2 s pages, 3 s messages), so the waits below are short.
    panel: { config: { cycleMs: 700, messageMs: 700 } },
  });
}

const gatewaySees = (online: boolean) =>
  until(
    sys.gateway.bus,
    ['terminal', 'inventory'],
    () => sys.gateway.view.isOnline('e1') === online,
    10_000,
    `gateway sees e1 online=${online}`,
  );

/** A gate that holds the commands `hold` selects until opened; emits 'held' for each. */
function gate(hold: (cmd: Command) => boolean) {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const events = new EventEmitter();
  const held: Command[] = [];
  const fn = (cmd: Command) => {
    if (!hold(cmd)) return Promise.resolve(true);
    held.push(cmd);
    events.emit('held');
    return opened.then(() => true);
  };
  return { fn, open, held, events };
}

beforeAll(async () => {
  // t2 (virtual) also stocks pear: where pear orders go once e1 is unplugged.
  sys = await TestSystem.start({ terminals: [{ id: 't2', stock: { pear: 10 } }] });
  await sys.provision('e1', 'terminal');
  operator = await connectMqttAsync(sys.url, {
    clientId: 'operator-hil',
    username: 'operator',
    password: PASSWORD,
  });
  operator.on('message', (topic, payload) => {
    const body = JSON.parse(payload.toString());
    if (topic === sys.topics.terminal('e1', 'inventory')) inventories.push(body as Inventory);
    if (topic === sys.topics.terminal('e1', 'state')) states.push(body as TerminalState);
    seen.emit('seen');
  });
  await operator.subscribeAsync(
    [sys.topics.terminal('e1', 'inventory'), sys.topics.terminal('e1', 'state')],
    { qos: 1 },
  );
}, 30_000);

afterAll(async () => {
  await unit?.crash().catch(() => undefined);
  await operator?.endAsync(true);
  await sys?.stop();
});

describe('stock terminal on the emulated Uno (real StandardFirmata)', () => {
  it('boots the real firmware, comes online and says so on the LCD and the green LED', async () => {
    unit = emulatedTerminal();
    const times = await unit.startOnline(20_000);
    await gatewaySees(true);
    const emu = unit.emulated!;
    // The retained state names the board and the firmware it reported in the handshake.
    await until(seen, 'seen', () => states.at(-1)?.state === 'online', 5000, 'an online state');
    expect(states.at(-1)).toMatchObject({
      state: 'online',
      board: 'emulated',
      firmware: expect.stringMatching(/^StandardFirmata/),
      skus: ['apple', 'pear'],
    });
    await emu.waitForLcd('e1        online', 10_000);
    await emu.waitForLed('online', true, 5000);
    expect(emu.leds()).toEqual({ online: true, pickPending: false, fault: false });
    console.info(
      `[terminal-emulated] board ${times.boardMs.toFixed(0)} ms, boot-to-online ${times.onlineMs.toFixed(0)} ms wall`,
    );
  }, 60_000);

  it('serves an order end to end: pick list on the LCD, yellow LED, pick button -> fulfilled', async () => {
    const emu = unit.emulated!;
    const c = sys.client();
    await c.place('o1', [{ sku: 'apple', qty: 2 }]);
    await c.waitFor('o1', 'confirmed');
    expect(c.last('o1')!.allocation).toEqual([{ terminal: 'e1', sku: 'apple', qty: 2 }]);
    const lines = await emu.waitForLcd('P1 apple x2', 10_000);
    expect(lines[0]).toBe('e1     online P1');
    await emu.waitForLed('pickPending', true, 5000);

    await unit.click('pick');
    await c.waitFor('o1', 'fulfilled');
    expect(unit.terminal.ledger.item('apple')).toEqual({ onHand: 8, reserved: 0, committed: 0 });
    await emu.waitForLcd('picked apple x2', 5000);
    await emu.waitForLed('pickPending', false, 5000);
    expect(c.statuses.get('o1')!.map((s) => s.state)).toEqual(['accepted', 'confirmed', 'fulfilled']);
  });

  it('the restock button raises onHand on the inventory topic', async () => {
    const emu = unit.emulated!;
    const before = unit.terminal.ledger.item('apple')!.onHand;
    const from = inventories.length;
    await unit.click('restock'); // the selected SKU: apple, the first
    await until(
      seen,
      'seen',
      () => inventories.slice(from).some((inv) => inv.items.apple?.onHand === before + 10),
      5000,
      'inventory with apple restocked',
    );
    await emu.waitForLcd(`+10 apple =${before + 10}`, 5000);
    // The gateway's view follows: the next order sees the new stock.
    expect(unit.terminal.ledger.item('apple')!.onHand).toBe(before + 10);
  });

  it('count sets onHand from the knob on A0; reset-fault clears the red LED of a low-stock alert', async () => {
    const emu = unit.emulated!;
    // Hold restock: select the next SKU (pear), then dial 1 unit (1023 * 1/100 ~ 10 raw) and count.
    await unit.click('restock', { holds: 1 });
    await emu.waitForLcd('>pear      10/10', 5000);
    emu.setAnalog('count', 10);
    await emu.waitForLcd('#pear ->1', 5000);
    await unit.click('count');
    expect(unit.terminal.ledger.item('pear')).toEqual({ onHand: 1, reserved: 0, committed: 0 });
    await emu.waitForLcd('LOW pear 1', 10_000);
    await emu.waitForLed('fault', true, 5000);
    await unit.click('resetFault');
    await emu.waitForLed('fault', false, 5000);
    // Back to 10, so that the next tests have pear to sell.
    emu.setAnalog('count', 102);
    await emu.waitForLcd('#pear ->10', 5000);
    await unit.click('count');
    expect(unit.terminal.ledger.item('pear')!.onHand).toBe(10);
  });

  it('crashed and restarted, it keeps its prepared and committed transactions', async () => {
    const c = sys.client();
    // o2 is committed (waits for its pick); o3 stays prepared: its commit is held at the terminal.
    await c.place('o2', [{ sku: 'apple', qty: 1 }]);
    await c.waitFor('o2', 'confirmed');
    await unit.emulated!.waitForLcd('P1 apple x1', 10_000);
    await unit.crash();
    const held = gate((cmd) => cmd.op === 'commit');
    unit = emulatedTerminal({ commandGate: held.fn });
    await unit.startOnline(20_000);
    await gatewaySees(true);
    await c.place('o3', [{ sku: 'apple', qty: 3 }]);
    await until(held.events, 'held', () => held.held.length > 0, 10_000, 'the commit of o3 at e1');
    const tx3 = held.held[0]!.tx;
    expect(unit.terminal.ledger.tx(tx3)?.status).toBe('prepared');

    // Kill it with o3 prepared and o2 committed, then start it again from its ledger.
    await unit.crash();
    await gatewaySees(false);
    const held2 = gate((cmd) => cmd.op === 'commit');
    unit = emulatedTerminal({ commandGate: held2.fn });
    await unit.start();
    const ledger = unit.terminal.ledger;
    expect(ledger.tx(tx3)?.status).toBe('prepared');
    expect(ledger.pendingPicks().map((p) => p.lines)).toEqual([[{ sku: 'apple', qty: 1 }]]);
    expect(ledger.item('apple')).toEqual({ onHand: 18, reserved: 3, committed: 1 });
    // The panel of the restarted board shows the pick that survived.
    await unit.emulated!.waitForLcd('P1 apple x1', 10_000);

    // The gateway re-drives the decided commit; once let through, o3 is confirmed.
    await unit.waitOnline(10_000);
    held2.open();
    await c.waitFor('o3', 'confirmed');
    expect(unit.terminal.ledger.tx(tx3)?.status).toBe('committed');
    await unit.emulated!.waitForLcd('online P2', 10_000);
    // Two presses pick both, oldest first.
    await unit.click('pick');
    await c.waitFor('o2', 'fulfilled');
    await unit.click('pick');
    await c.waitFor('o3', 'fulfilled');
    expect(unit.terminal.ledger.item('apple')).toEqual({ onHand: 14, reserved: 0, committed: 0 });
  }, 60_000);

  it('unplugged, it goes offline through its last will and the gateway stops allocating to it', async () => {
    const lost = new Promise<string>((resolve) => unit.once('lost', resolve));
    const from = states.length;
    await unit.unplug();
    expect(await lost).toMatch(/board stopped/);
    await gatewaySees(false);
    await until(seen, 'seen', () => states.slice(from).some((s) => s.state === 'offline'), 5000, 'offline');
    // pear is at e1 (10) and t2 (10): with e1 gone, every pear order goes to t2.
    const c = sys.client();
    for (const id of ['o4', 'o5']) {
      await c.place(id, [{ sku: 'pear', qty: 2 }]);
      await c.waitFor(id, 'confirmed');
      expect(c.last(id)!.allocation).toEqual([{ terminal: 't2', sku: 'pear', qty: 2 }]);
    }
    // apple is only at e1: it fails for want of terminals.
    await c.place('o6', [{ sku: 'apple', qty: 1 }]);
    await c.waitFor('o6', 'failed');
  });
});
