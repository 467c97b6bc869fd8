// The emulated Raspberry Pi Pico: the RP2040 of the npm package rp2040js running a
// MicroPython RPI_PICO .uf2, driven by posturepod.devices.pico.bridge (Python), which
// starts this script and talks to it through pipes. See docs/pico.md.
//
//   node emulator.mjs --modules DIR --uf2 FILE --bootrom FILE --flash FILE
//                     --reply-fd N [--i2c ID,SDA,SCL,ADDR[,ADDR...]]
//
// What it adds to rp2040js:
// - flash: the boot ROM's flash_range_erase / flash_range_program entries are replaced by
//   breakpoints, done here on the flash array and written through to --flash at once (the
//   littlefs filesystem survives restarts and kills);
// - resets: a watchdog trigger (machine.reset()) builds a new chip, keeping the flash;
// - USB CDC: host bytes go into the device's 512-byte input FIFO only while it has room;
//   each byte taken is credited back to the bridge, which never has more in flight;
// - I2C: the controller's events go to the bridge, where the project's chip model answers;
//   each START, byte and STOP completes after its bus time (9 SCL periods a byte, at the
//   SCL period the firmware programmed); the SDA/SCL pins acknowledge a bit-banged address
//   (machine.I2C.scan() probes that way) for the addresses the bridge declared.
//
// Frames, both ways: type (1 byte), payload length (u16 LE), payload.
//   to the bridge (stdout): S serial bytes out; A u16 host bytes taken; C addr, mode, t;
//     W byte, t; R ack, t (the reply, one byte, comes on --reply-fd); P t; B reason text;
//     L log text. t: emulated ns since the emulator started (f64 LE), across resets.
//   from the bridge (stdin): S serial bytes in; Q quit.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const CYCLE_NS = 8;                 // 125 MHz
const SLICE_CYCLES = 250000;        // between looks at the pipes (2 ms emulated)
const IDLE_STEP_NS = 10000;         // a waiting core with no alarm: time still passes
const AHEAD_NS = 20e6;              // emulated time may lead wall time by this much
const FLASH_BYTES = 2 * 1024 * 1024;
const ROM_HOOKS = { RE: 1, RP: 2 }; // boot ROM function code -> breakpoint number

function parseArgs(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i += 2) a[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['modules', 'uf2', 'bootrom', 'flash']) {
    if (!a[k]) throw new Error(`missing --${k}`);
  }
  return a;
}

const args = parseArgs(process.argv.slice(2));
const debug = !!process.env.POSTUREPOD_PICO_DEBUG;
// stdout carries frames only; rp2040js's own console messages (unemulated registers such
// as the core-1 FIFO, read at boot) are shown only with POSTUREPOD_PICO_DEBUG set
console.log = debug ? console.error : () => {};
console.warn = debug ? console.error : () => {};
const rp = await import(pathToFileURL(
  path.join(args.modules, 'node_modules', 'rp2040js', 'dist', 'esm', 'index.js')).href);
const { SimulationClock } = await import(pathToFileURL(path.join(
  args.modules, 'node_modules', 'rp2040js', 'dist', 'esm', 'clock', 'simulation-clock.js')).href);

// ---- frames ---------------------------------------------------------------------------
function send(type, payload) {
  const buf = Buffer.alloc(3 + payload.length);
  buf[0] = type.charCodeAt(0);
  buf.writeUInt16LE(payload.length, 1);
  Buffer.from(payload).copy(buf, 3);
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(1, buf, off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}
const log = (msg) => send('L', Buffer.from(msg));
const timed = (bytes) => {
  const b = Buffer.alloc(bytes.length + 8);
  Buffer.from(bytes).copy(b, 0);
  b.writeDoubleLE(nowNs(), bytes.length);
  return b;
};

// ---- images ---------------------------------------------------------------------------
function readUf2(file) {
  const data = fs.readFileSync(file);
  const blocks = [];
  for (let o = 0; o + 512 <= data.length; o += 512) {
    if (data.readUInt32LE(o) !== 0x0a324655 || data.readUInt32LE(o + 4) !== 0x9e5d5157) {
      throw new Error(`${file}: not a UF2 file (block at byte ${o})`);
    }
    if (data.readUInt32LE(o + 8) & 1) continue;           // not for the main flash
    const addr = data.readUInt32LE(o + 12);
    const size = data.readUInt32LE(o + 16);
    blocks.push([addr - 0x10000000, data.subarray(o + 32, o + 32 + size)]);
  }
  if (!blocks.length) throw new Error(`${file}: no flash blocks`);
  return blocks;
}

function readBootrom(file) {
  const data = fs.readFileSync(file);
  if (data.length !== 16384) throw new Error(`${file}: a boot ROM is 16384 bytes, not ${data.length}`);
  const words = new Uint32Array(4096);
  for (let i = 0; i < 4096; i++) words[i] = data.readUInt32LE(4 * i);
  return words;
}

function romFunction(rom, code) {
  const byteAt = (a) => (rom[a >> 2] >>> (8 * (a & 3))) & 0xff;
  const half = (a) => byteAt(a) | (byteAt(a + 1) << 8);
  const want = code.charCodeAt(0) | (code.charCodeAt(1) << 8);
  for (let t = half(0x14); half(t); t += 4) {
    if (half(t) === want) return half(t + 2) & ~1;
  }
  throw new Error(`boot ROM has no function ${code}`);
}

function patchBkpt(rom, addr, n) {
  const shift = addr & 2 ? 16 : 0;
  rom[addr >> 2] = (rom[addr >> 2] & ~(0xffff << shift)) | ((0xbe00 | n) << shift);
}

const uf2 = readUf2(args.uf2);
const bootrom = readBootrom(args.bootrom);
for (const [code, n] of Object.entries(ROM_HOOKS)) patchBkpt(bootrom, romFunction(bootrom, code), n);

// the flash, kept in a file: loaded, then the firmware image written over it
let flashFd = -1;
const flash = new Uint8Array(FLASH_BYTES).fill(0xff);
if (fs.existsSync(args.flash)) {
  const kept = fs.readFileSync(args.flash);
  flash.set(kept.subarray(0, FLASH_BYTES));
}
for (const [off, payload] of uf2) flash.set(payload, off);
fs.writeFileSync(args.flash, flash);
flashFd = fs.openSync(args.flash, 'r+');

function persist(mcu, off, len) {
  fs.writeSync(flashFd, mcu.flash, off, len, off);
}

// ---- the chip -------------------------------------------------------------------------
let mcu = null;
let cdc = null;
let baseNs = 0;                     // emulated ns before the current chip was built
let resetWanted = '';
let resets = 0;
const nowNs = () => baseNs + mcu.clock.nanos;

const hostIn = [];                  // host bytes not yet in the device FIFO
let i2cBus = null;
if (args.i2c) {
  const [id, sda, scl, ...addrs] = args.i2c.split(',').map((x) => parseInt(x, 0));
  i2cBus = { id, sda, scl, addrs: new Set(addrs) };
}

function romCall(code) {
  const core = mcu.core;
  const r = core.registers;
  if (code === ROM_HOOKS.RE) {                    // (addr, count, block_size, block_cmd)
    const off = r[0] & 0xffffff;
    const n = r[1];
    mcu.flash.fill(0xff, off, off + n);
    persist(mcu, off, n);
  } else if (code === ROM_HOOKS.RP) {             // (addr, data, count): NOR, bits to 0
    const off = r[0] & 0xffffff;
    const n = r[2];
    for (let i = 0; i < n; i++) mcu.flash[off + i] &= mcu.readUint8(r[1] + i);
    persist(mcu, off, n);
  } else {
    log(`breakpoint ${code} at 0x${core.PC.toString(16)}`);
  }
  core.PC = core.LR & ~1;                         // return to the caller
}

const I2C_TX_EMPTY = 1 << 4;        // IC_RAW_INTR_STAT bit

function busDelay(bits, done) {
  const i2c = mcu.i2c[i2cBus.id];
  const period = (i2c.sclLowPeriod + i2c.sclHighPeriod) * CYCLE_NS || 2500;
  mcu.clock.createAlarm(done).schedule(bits * period);
}

const replyBuf = Buffer.alloc(1);
const replyFd = parseInt(args['reply-fd'] ?? '3', 10);
function askByte(ack) {
  send('R', timed([ack ? 1 : 0]));
  for (;;) {
    try {
      if (fs.readSync(replyFd, replyBuf, 0, 1, null) === 1) return replyBuf[0];
      throw new Error('the bridge closed the reply pipe');
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

function attachI2C() {
  const i2c = mcu.i2c[i2cBus.id];
  i2c.onStart = () => busDelay(1, () => i2c.completeStart());
  i2c.onConnect = (addr, mode) => {
    const ack = i2cBus.addrs.has(addr);
    if (ack) send('C', timed([addr, mode]));
    busDelay(9, () => {
      i2c.completeConnect(ack);
      // a NACK flushes the TX FIFO: the raw TX_EMPTY status the firmware waits for is a
      // level on the chip, which rp2040js only raises when it takes a command
      if (!ack) i2c.setInterrupts(I2C_TX_EMPTY);
    });
  };
  i2c.onWriteByte = (v) => {
    send('W', timed([v]));
    busDelay(9, () => i2c.completeWrite(true));
  };
  i2c.onReadByte = (ack) => {
    const v = askByte(ack);
    busDelay(9, () => i2c.completeRead(v));
  };
  i2c.onStop = () => {
    send('P', timed([]));
    busDelay(1, () => i2c.completeStop());
  };
  attachPins();
}

// Open-drain lines at the pins, for bit-banged transfers (machine.I2C.scan()): a line is
// low when the Pico drives it low or the device holds SDA low (its address acknowledge).
function attachPins() {
  const sdaPin = mcu.gpio[i2cBus.sda];
  const sclPin = mcu.gpio[i2cBus.scl];
  const LOW = 0;
  const st = { sda: true, scl: true, hold: false, bit: -1, byte: 0 };
  const update = () => {
    const scl = sclPin.value !== LOW;
    let sda = sdaPin.value !== LOW && !st.hold;
    if (scl && st.scl && sda !== st.sda) {        // START or STOP
      st.bit = sda ? -1 : 0;
      st.byte = 0;
    } else if (scl && !st.scl && st.bit >= 0 && st.bit < 8) {
      st.byte = (st.byte << 1) | (sda ? 1 : 0);   // rising SCL: sample
      st.bit++;
    } else if (!scl && st.scl && st.bit >= 8) {   // falling SCL
      if (st.bit === 8 && i2cBus.addrs.has(st.byte >> 1)) {
        st.hold = true;                           // acknowledge the address
        st.bit = 9;
      } else {
        st.hold = false;
        st.bit = -1;                              // one address byte only: a probe
      }
      sda = sdaPin.value !== LOW && !st.hold;
    }
    st.sda = sda;
    st.scl = scl;
    sdaPin.setInputValue(sda);
    sclPin.setInputValue(scl);
  };
  sdaPin.addListener(update);
  sclPin.addListener(update);
  sdaPin.setInputValue(true);
  sclPin.setInputValue(true);
}

function build(reason) {
  const old = mcu;
  if (old) baseNs += old.clock.nanos;
  mcu = new rp.RP2040(new SimulationClock());
  mcu.logger = {
    debug() {}, info() {},
    warn(c, m) { if (debug) log(`${c}: ${m}`); },
    error(c, m) { log(`${c}: ${m}`); },
  };
  mcu.loadBootrom(bootrom);
  mcu.flash.set(old ? old.flash.subarray(0, FLASH_BYTES) : flash);
  mcu.onBreak = romCall;
  const wd = mcu.peripherals[0x40058];
  if (old) {                        // what a watchdog reset keeps: its reason, scratch
    const was = old.peripherals[0x40058];
    wd.reason = was.reason;
    wd.scratchData.set(was.scratchData);
  }
  wd.onWatchdogTrigger = () => { resetWanted = 'watchdog'; };
  cdc = new rp.USBCDC(mcu.usbCtrl);
  cdc.onSerialData = (data) => send('S', data);
  if (i2cBus) attachI2C();
  mcu.core.PC = 0x10000000;
  send('B', Buffer.from(reason));
}

// ---- the run loop ---------------------------------------------------------------------
let pending = Buffer.alloc(0);
let quitting = false;
process.stdin.on('data', (chunk) => {
  pending = Buffer.concat([pending, chunk]);
  while (pending.length >= 3) {
    const n = pending.readUInt16LE(1);
    if (pending.length < 3 + n) break;
    const type = String.fromCharCode(pending[0]);
    const body = pending.subarray(3, 3 + n);
    pending = pending.subarray(3 + n);
    if (type === 'S') for (const b of body) hostIn.push(b);
    else if (type === 'Q') quitting = true;
  }
});
process.stdin.on('end', () => { quitting = true; });

function feedUsb() {
  let n = 0;
  const fifo = cdc.txFIFO;
  while (hostIn.length && !fifo.full) {
    fifo.push(hostIn.shift());
    n++;
  }
  if (n) {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(n);
    send('A', b);
  }
}

const wall0 = process.hrtime.bigint();
function slice() {
  if (quitting) {
    fs.closeSync(flashFd);
    process.exit(0);
  }
  if (resetWanted) {
    resets++;
    build(`${resetWanted} reset ${resets}`);
    resetWanted = '';
  }
  feedUsb();
  const core = mcu.core;
  const clock = mcu.clock;
  let cycles = 0;
  while (cycles < SLICE_CYCLES && !resetWanted) {
    if (core.waiting) {
      const d = clock.nanosToNextAlarm > 0 ? clock.nanosToNextAlarm : IDLE_STEP_NS;
      clock.tick(d);
      cycles += d / CYCLE_NS;
    } else {
      const c = core.executeInstruction();
      clock.tick(c * CYCLE_NS);
      cycles += c;
    }
  }
  const aheadNs = nowNs() - Number(process.hrtime.bigint() - wall0);
  if (aheadNs > AHEAD_NS) setTimeout(slice, Math.ceil((aheadNs - AHEAD_NS) / 1e6));
  else setImmediate(slice);
}

build('power on');
slice();
