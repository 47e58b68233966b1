import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, open, readdir, readFile, rename, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { macAddressFor } from '../mac-address.js';
import type { EngineVm, VmPlacement } from '../migration-engine.js';
import { fileNameFor, idFromFileName, readJson, shortSocketDir, socketPathFor, writeJsonAtomic } from './files.js';
import { BOOT_MARKER, BOOT_MARKER_ADDRESS, GUEST_KERNEL, guestKernelArgument } from './guest-kernel.js';
import { execFileAsync, isLiveProcess, sleep, terminate } from './processes.js';
import { QmpClient } from './qmp-client.js';
import { newOwner, VmLock } from './vm-lock.js';

export interface QemuLabOptions {
  /** Where the lab keeps its hosts, VMs, datastores and records (default `<os tmpdir>/ballast-qemu`). */
  stateDir?: string;
  /** Default `qemu-system-x86_64` (found on PATH). */
  qemuBinary?: string;
  /** Default `qemu-img` (found on PATH); needed for VMs with a datastore. */
  qemuImgBinary?: string;
  /** A guest gets the VM's memory, capped at this (default 64 MiB) and at least 16 MiB. */
  maxGuestMemoryMb?: number;
  /** How fast a guest dirties its memory when the VM does not say (default 8 Mb/s). */
  defaultDirtyRateMbps?: number;
  /** Virtual size of a lab disk: the VM's diskMb capped at this (default 64 MiB). */
  maxDiskMb?: number;
  /** How long a guest may take to boot (answer on its QMP socket, kernel running) after it is spawned (default 10 s). */
  startTimeoutMs?: number;
}

/** A VM of the lab, as stored in `vms/<vm>.json`. */
export interface LabVm {
  id: string;
  /** The guest's RAM. */
  memoryMb: number;
  macAddress: string;
  dirtyRateMbps: number;
  /** The host the lab last saw the VM on; the processes are the truth, this is the memory of it. */
  hostId: string;
  /** Powered on. */
  running: boolean;
  datastoreId: string | null;
  diskPath: string | null;
}

/** One QEMU process of a VM on a host: `hosts/<host>/<vm>/`. */
export interface GuestInstance {
  vmId: string;
  hostId: string;
  dir: string;
  pidFile: string;
  /** Two monitors: `control` for the operation in charge of the VM, `probe` for short questions. */
  controlSocket: string;
  probeSocket: string;
  pid: number | null;
}

export interface GuestProbe {
  instance: GuestInstance;
  alive: boolean;
  /** QEMU's run state (`running`, `inmigrate`, `postmigrate`, `paused`, ...) or null when it did not answer. */
  status: string | null;
  /** The outgoing migration's status (`none`, `setup`, `active`, `completed`, ...). */
  migrationStatus: string | null;
  blockJobs: string[];
  /** The image the guest's disk uses now. */
  diskFile: string | null;
}

export class GuestStartError extends Error {
  constructor(
    message: string,
    readonly addressInUse: boolean,
  ) {
    super(message);
    this.name = 'GuestStartError';
  }
}

/** The qdev id of a guest's disk. */
export const DISK_DEVICE = 'vdisk0';
const GUEST_MIN_MEMORY_MB = 16;
const DISK_DATA_MAX_BYTES = 4 * 1024 * 1024;
const REGISTER_CONCURRENCY = 4;
const PROBE_TIMEOUT_MS = 3_000;

/** Migration statuses during which QEMU is still moving the VM. */
export const ACTIVE_MIGRATION_STATUSES = new Set(['setup', 'active', 'pre-switchover', 'device', 'cancelling', 'wait-unplug', 'postcopy-active', 'postcopy-paused', 'postcopy-recover']);

/**
 * A QEMU lab cluster on this machine. Each Ballast host is a directory holding that host's QEMU
 * processes; a VM is a small TCG guest with a virtio NIC (its MAC derived from its id), a tiny
 * kernel that dirties its memory, and a qcow2 disk on one of the lab's datastores (directories
 * every host sees, like a SAN). Guests are detached processes with pid files, so they outlive the
 * Ballast process that started them and any process with the same state dir finds them again.
 *
 *   <stateDir>/vms/<vm>.json                 the VM's definition (memory, MAC, disk, last host)
 *   <stateDir>/vms/<vm>.lock                 who is operating on the VM (migration, start)
 *   <stateDir>/hosts/<host>/<vm>/            one QEMU of the VM on that host:
 *       qemu.pid  control.sock  probe.sock  qemu.log  argv.json
 *   <stateDir>/datastores/<datastore>/<vm>.qcow2
 *   <stateDir>/migrations/<migration>.json   the engine's record of each migration
 *   <stateDir>/guest-kernel.bin
 */
export class QemuLab {
  readonly stateDir: string;
  private readonly qemuBinary: string;
  private readonly qemuImgBinary: string;
  private readonly maxGuestMemoryMb: number;
  private readonly defaultDirtyRateMbps: number;
  private readonly maxDiskMb: number;
  private readonly startTimeoutMs: number;
  private ready: Promise<void> | null = null;
  private qemuImgChecked: Promise<void> | null = null;

  constructor(options: QemuLabOptions = {}) {
    this.stateDir = options.stateDir ?? join(tmpdir(), 'ballast-qemu');
    this.qemuBinary = options.qemuBinary ?? 'qemu-system-x86_64';
    this.qemuImgBinary = options.qemuImgBinary ?? 'qemu-img';
    this.maxGuestMemoryMb = positive(options.maxGuestMemoryMb ?? 64, 'maxGuestMemoryMb');
    this.defaultDirtyRateMbps = options.defaultDirtyRateMbps ?? 8;
    if (!(this.defaultDirtyRateMbps >= 0)) throw new Error(`defaultDirtyRateMbps must be 0 or more: ${options.defaultDirtyRateMbps}`);
    this.maxDiskMb = positive(options.maxDiskMb ?? 64, 'maxDiskMb');
    this.startTimeoutMs = positive(options.startTimeoutMs ?? 10_000, 'startTimeoutMs');
  }

  get vmsDir(): string {
    return join(this.stateDir, 'vms');
  }

  get hostsDir(): string {
    return join(this.stateDir, 'hosts');
  }

  get datastoresDir(): string {
    return join(this.stateDir, 'datastores');
  }

  get migrationsDir(): string {
    return join(this.stateDir, 'migrations');
  }

  get kernelPath(): string {
    return join(this.stateDir, 'guest-kernel.bin');
  }

  /** Creates the layout and checks QEMU is installed; every other method calls it first. */
  init(): Promise<void> {
    this.ready ??= this.prepare().catch((error: unknown) => {
      this.ready = null;
      throw error;
    });
    return this.ready;
  }

  private async prepare(): Promise<void> {
    try {
      await execFileAsync(this.qemuBinary, ['--version']);
    } catch {
      throw new Error(`the QEMU lab needs ${this.qemuBinary} (apt-get install -y qemu-system-x86)`);
    }
    for (const dir of [this.vmsDir, this.hostsDir, this.datastoresDir, this.migrationsDir]) await mkdir(dir, { recursive: true });
    const kernel = await readFile(this.kernelPath).catch(() => null);
    if (!kernel?.equals(GUEST_KERNEL)) await writeFile(this.kernelPath, GUEST_KERNEL);
  }

  private checkQemuImg(): Promise<void> {
    this.qemuImgChecked ??= execFileAsync(this.qemuImgBinary, ['--version']).then(
      () => undefined,
      () => {
        this.qemuImgChecked = null;
        throw new Error(`lab disks need ${this.qemuImgBinary} (apt-get install -y qemu-utils)`);
      },
    );
    return this.qemuImgChecked;
  }

  vmFile(vmId: string): string {
    return join(this.vmsDir, `${fileNameFor(vmId)}.json`);
  }

  vmLockFile(vmId: string): string {
    return join(this.vmsDir, `${fileNameFor(vmId)}.lock`);
  }

  hostDir(hostId: string): string {
    return join(this.hostsDir, fileNameFor(hostId));
  }

  datastoreDir(datastoreId: string): string {
    return join(this.datastoresDir, fileNameFor(datastoreId));
  }

  diskPathFor(vmId: string, datastoreId: string): string {
    return join(this.datastoreDir(datastoreId), `${fileNameFor(vmId)}.qcow2`);
  }

  /** The datastore holding a lab image, or null for a path outside the lab's datastores. */
  datastoreOf(diskPath: string): string | null {
    const parent = dirname(diskPath);
    return dirname(parent) === this.datastoresDir ? idFromFileName(basename(parent)) : null;
  }

  async vm(vmId: string): Promise<LabVm | null> {
    await this.init();
    return readJson<LabVm>(this.vmFile(vmId));
  }

  async saveVm(vm: LabVm): Promise<void> {
    await this.init();
    await writeJsonAtomic(this.vmFile(vm.id), vm);
  }

  /** A host is usable when its directory exists (or can be made) and is writable. */
  async ensureHost(hostId: string): Promise<void> {
    await this.init();
    const dir = this.hostDir(hostId);
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  }

  async ensureDatastore(datastoreId: string): Promise<void> {
    await this.init();
    const dir = this.datastoreDir(datastoreId);
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  }

  instance(vmId: string, hostId: string): GuestInstance {
    const dir = join(this.hostDir(hostId), fileNameFor(vmId));
    return {
      vmId,
      hostId,
      dir,
      pidFile: join(dir, 'qemu.pid'),
      controlSocket: socketPathFor(dir, 'control.sock'),
      probeSocket: socketPathFor(dir, 'probe.sock'),
      pid: null,
    };
  }

  /** Every QEMU instance directory of this VM, on any host, with the pid QEMU wrote. */
  async instances(vmId: string): Promise<GuestInstance[]> {
    await this.init();
    const found: GuestInstance[] = [];
    for (const hostName of await readdir(this.hostsDir)) {
      const instance = this.instance(vmId, idFromFileName(hostName));
      if (await exists(instance.dir)) found.push(await this.withPid(instance));
    }
    return found;
  }

  private async allInstances(): Promise<GuestInstance[]> {
    const found: GuestInstance[] = [];
    for (const hostName of await readdir(this.hostsDir).catch(() => [])) {
      for (const vmName of await readdir(join(this.hostsDir, hostName)).catch(() => [])) {
        found.push(await this.withPid(this.instance(idFromFileName(vmName), idFromFileName(hostName))));
      }
    }
    return found;
  }

  private async withPid(instance: GuestInstance): Promise<GuestInstance> {
    const raw = await readFile(instance.pidFile, 'utf8').catch(() => '');
    const pid = Number.parseInt(raw.trim(), 10);
    return { ...instance, pid: Number.isInteger(pid) && pid > 0 ? pid : null };
  }

  async isAlive(instance: GuestInstance): Promise<boolean> {
    return instance.pid !== null && isLiveProcess(instance.pid, instance.pidFile);
  }

  /**
   * Opens the instance's probe monitor for a few quick questions and closes it again. The probe
   * monitor is for anyone; the control monitor is held by whoever is operating on the VM.
   */
  async withProbe<T>(instance: GuestInstance, use: (client: QmpClient) => Promise<T>): Promise<T> {
    const client = await QmpClient.connect(instance.probeSocket, { timeoutMs: PROBE_TIMEOUT_MS, commandTimeoutMs: PROBE_TIMEOUT_MS });
    try {
      return await use(client);
    } finally {
      await client.close();
    }
  }

  /** Asks an instance, on its probe monitor, how it is; a dead or silent one says so. */
  async probe(instance: GuestInstance): Promise<GuestProbe> {
    const alive = await this.isAlive(instance);
    const unanswered: GuestProbe = { instance, alive, status: null, migrationStatus: null, blockJobs: [], diskFile: null };
    if (!alive) return unanswered;
    try {
      return await this.withProbe(instance, async (client) => {
        const status = await client.execute<{ status: string }>('query-status');
        const migration = await client.execute<{ status?: string }>('query-migrate');
        const jobs = await client.execute<{ device: string }[]>('query-block-jobs');
        const disks = await client.execute<{ qdev?: string; inserted?: { file: string } }[]>('query-block');
        return {
          instance,
          alive,
          status: status.status,
          migrationStatus: migration.status ?? 'none',
          blockJobs: jobs.map((j) => j.device),
          diskFile: disks.find((d) => d.qdev?.includes(`/${DISK_DEVICE}/`))?.inserted?.file ?? null,
        };
      });
    } catch {
      return { ...unanswered, alive: await this.isAlive(instance) };
    }
  }

  /** Probes every instance of the VM. */
  async inspect(vmId: string): Promise<GuestProbe[]> {
    const instances = await this.instances(vmId);
    return Promise.all(instances.map((instance) => this.probe(instance)));
  }

  /** Opens the instance's control monitor: the one an operation in charge of the VM holds. */
  connectControl(instance: GuestInstance, timeoutMs = 5_000): Promise<QmpClient> {
    return QmpClient.connect(instance.controlSocket, { timeoutMs });
  }

  /**
   * Makes sure the lab knows these VMs and runs the powered-on ones. A VM the lab already knows
   * keeps its definition and its place; one that is not running anywhere but should be is started
   * on the host the lab last saw it on. Safe to call from several processes at once.
   */
  async register(placements: VmPlacement[]): Promise<void> {
    await this.init();
    const queue = [...placements];
    const errors: Error[] = [];
    const worker = async () => {
      for (let placement = queue.shift(); placement; placement = queue.shift()) {
        try {
          await this.registerOne(placement);
        } catch (error) {
          errors.push(new Error(`VM ${placement.vm.id}: ${(error as Error).message}`));
        }
      }
    };
    await Promise.all(Array.from({ length: REGISTER_CONCURRENCY }, worker));
    if (errors.length > 0) throw new AggregateError(errors, `the QEMU lab could not register ${errors.length} VM(s): ${errors[0].message}`);
  }

  private async registerOne({ vm, hostId, running }: VmPlacement): Promise<void> {
    if (!vm.id) throw new Error('vm.id must not be empty');
    if (!hostId) throw new Error('hostId must not be empty');
    const owner = await newOwner();
    const lock = await VmLock.acquire(this.vmLockFile(vm.id), owner, 'register');
    if (!(lock instanceof VmLock)) return; // someone is starting or moving it right now: it is known
    try {
      let known = await this.vm(vm.id);
      if (!known) {
        known = await this.define(vm, hostId, running);
        await this.saveVm(known);
      }
      if (!known.running && !running) return;
      const probes = await this.inspect(vm.id);
      if (probes.some((p) => p.alive)) return;
      known = { ...known, running: true };
      await this.start(known, known.hostId);
      await this.saveVm(known);
    } finally {
      await lock.release();
    }
  }

  private async define(vm: EngineVm, hostId: string, running: boolean): Promise<LabVm> {
    const datastoreId = vm.datastores[0] ?? null;
    let diskPath: string | null = null;
    if (datastoreId !== null) {
      diskPath = this.diskPathFor(vm.id, datastoreId);
      if (!(await exists(diskPath))) {
        await this.ensureDatastore(datastoreId);
        await this.createSeededDisk(diskPath, Math.min(vm.diskMb ?? this.maxDiskMb, this.maxDiskMb));
      }
    }
    return {
      id: vm.id,
      memoryMb: Math.max(GUEST_MIN_MEMORY_MB, Math.min(Math.round(vm.memoryMb), this.maxGuestMemoryMb)),
      macAddress: macAddressFor(vm.id),
      dirtyRateMbps: vm.memoryDirtyRateMbps ?? this.defaultDirtyRateMbps,
      hostId,
      running,
      datastoreId,
      diskPath,
    };
  }

  /** A qcow2 disk holding a few MiB of data (so that moving it copies something), the rest unallocated. */
  private async createSeededDisk(path: string, sizeMb: number): Promise<void> {
    await this.checkQemuImg();
    const seed = `${path}.seed.raw`;
    const sizeBytes = Math.max(1, Math.round(sizeMb)) * 1024 * 1024;
    try {
      await writeFile(seed, randomBytes(Math.min(DISK_DATA_MAX_BYTES, sizeBytes / 4)));
      await truncate(seed, sizeBytes);
      await execFileAsync(this.qemuImgBinary, ['convert', '-f', 'raw', '-O', 'qcow2', seed, `${path}.tmp`]);
      await rename(`${path}.tmp`, path);
    } finally {
      await unlink(seed).catch(() => undefined);
      await unlink(`${path}.tmp`).catch(() => undefined);
    }
  }

  /** An empty qcow2 image of `sizeBytes` (the target of a block mirror). */
  async createImage(path: string, sizeBytes: number): Promise<void> {
    await this.checkQemuImg();
    await execFileAsync(this.qemuImgBinary, ['create', '-q', '-f', 'qcow2', path, String(sizeBytes)]);
  }

  /** The command line of a VM's guest on a host: the same on every host but for the instance's own files. */
  commandLine(vm: LabVm, instance: GuestInstance, incomingPort?: number): string[] {
    const args = [
      '-name', `guest=${qemuOption(fileNameFor(vm.id))}`,
      '-machine', 'pc,accel=tcg',
      '-m', String(vm.memoryMb),
      '-nodefaults',
      '-no-user-config',
      '-display', 'none',
      '-kernel', this.kernelPath,
      '-append', guestKernelArgument(vm.dirtyRateMbps),
      '-netdev', 'user,id=n0',
      // romfile= : no iPXE option ROM, so the guest never busy-waits trying to boot from the network
      '-device', `virtio-net-pci,netdev=n0,id=net0,mac=${vm.macAddress},romfile=`,
    ];
    if (vm.diskPath) {
      args.push(
        '-blockdev', JSON.stringify({ driver: 'qcow2', 'node-name': 'disk0', file: { driver: 'file', filename: vm.diskPath } }),
        '-device', `virtio-blk-pci,drive=disk0,id=${DISK_DEVICE}`,
      );
    }
    args.push(
      '-chardev', `socket,id=control,path=${qemuOption(instance.controlSocket)},server=on,wait=off`,
      '-mon', 'chardev=control,mode=control',
      '-chardev', `socket,id=probe,path=${qemuOption(instance.probeSocket)},server=on,wait=off`,
      '-mon', 'chardev=probe,mode=control',
      '-pidfile', instance.pidFile,
    );
    if (incomingPort !== undefined) args.push('-incoming', `tcp:127.0.0.1:${incomingPort}`);
    return args;
  }

  /**
   * Starts the VM's guest on a host (as the destination of a migration when `incomingPort` is
   * given) and waits until it answers on its monitors. The process is detached: it belongs to the
   * lab, not to this Node process.
   */
  async start(vm: LabVm, hostId: string, options: { incomingPort?: number } = {}): Promise<GuestInstance> {
    await this.ensureHost(hostId);
    const instance = this.instance(vm.id, hostId);
    if (await this.isAlive(await this.withPid(instance))) {
      throw new GuestStartError(`VM ${vm.id} already has a QEMU on host ${hostId}`, false);
    }
    await this.removeInstance(instance);
    await mkdir(instance.dir, { recursive: true });
    await mkdir(shortSocketDir(), { recursive: true });
    const args = this.commandLine(vm, instance, options.incomingPort);
    await writeJsonAtomic(join(instance.dir, 'argv.json'), [this.qemuBinary, ...args]);
    const logPath = join(instance.dir, 'qemu.log');
    const log = await open(logPath, 'w');
    let exited: string | null = null;
    try {
      const child = spawn(this.qemuBinary, args, { detached: true, stdio: ['ignore', log.fd, log.fd] });
      child.once('error', (error) => (exited = error.message));
      child.once('exit', (code, signal) => (exited = signal ? `killed by ${signal}` : `exit code ${code}`));
      child.unref();
    } finally {
      await log.close();
    }
    const deadline = Date.now() + this.startTimeoutMs;
    for (;;) {
      if (exited !== null) {
        const output = (await readFile(logPath, 'utf8').catch(() => '')).trim();
        await this.removeInstance(instance);
        throw new GuestStartError(`QEMU for VM ${vm.id} on host ${hostId} did not start (${exited}): ${output || 'no output'}`, /Address already in use/i.test(output));
      }
      const started = await this.withPid(instance);
      if (started.pid !== null) {
        const probe = await this.probe(started);
        // A destination's memory comes from the source; a fresh guest is started once its kernel runs.
        if (probe.status === 'inmigrate' || (probe.status !== null && (await this.hasBooted(started)))) return started;
      }
      if (Date.now() > deadline) {
        await this.removeInstance(started);
        throw new GuestStartError(`QEMU for VM ${vm.id} on host ${hostId} did not boot within ${this.startTimeoutMs} ms`, false);
      }
      await sleep(20);
    }
  }

  /** Whether the guest kernel has taken its memory into use (it then writes its boot marker). */
  private async hasBooted(instance: GuestInstance): Promise<boolean> {
    const dump = join(instance.dir, 'boot-marker.bin');
    try {
      await this.withProbe(instance, (client) => client.execute('pmemsave', { val: BOOT_MARKER_ADDRESS, size: BOOT_MARKER.length, filename: dump }));
      return (await readFile(dump)).equals(BOOT_MARKER);
    } catch {
      return false;
    }
  }

  /** Stops an instance (SIGTERM, then SIGKILL) and removes its directory and sockets. */
  async removeInstance(instance: GuestInstance): Promise<void> {
    const current = await this.withPid(instance);
    if (current.pid !== null) await terminate(current.pid, current.pidFile);
    await rm(instance.dir, { recursive: true, force: true });
    for (const socket of [instance.controlSocket, instance.probeSocket]) await rm(socket, { force: true });
  }

  /** Asks the guest to quit over its monitor (clean exit), then removes what is left. */
  async quitInstance(instance: GuestInstance, client?: QmpClient): Promise<void> {
    if (client && !client.closed) await client.execute('quit').catch(() => undefined);
    const current = await this.withPid(instance);
    if (current.pid !== null) {
      const deadline = Date.now() + 2_000;
      while (Date.now() < deadline && (await isLiveProcess(current.pid, current.pidFile))) await sleep(20);
    }
    await this.removeInstance(current);
  }

  /** Stops every guest of the lab (the VMs' definitions and disks stay). */
  async stopAll(): Promise<void> {
    const instances = await this.allInstances();
    await Promise.all(instances.map((instance) => this.removeInstance(instance)));
  }

  /** Stops every guest and deletes the whole state dir. */
  async destroy(): Promise<void> {
    await this.stopAll();
    await rm(this.stateDir, { recursive: true, force: true });
    this.ready = null;
  }
}

/** QEMU's option syntax splits on commas; a literal comma is written twice. */
function qemuOption(value: string): string {
  return value.replaceAll(',', ',,');
}

function positive(value: number, name: string): number {
  if (!(value > 0)) throw new Error(`${name} must be a positive number: ${value}`);
  return value;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
