import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GUEST_KERNEL, guestKernelArgument } from '../qemu/guest-kernel.js';
import { escapeXml } from './domain-xml.js';
import type { HostConnection } from './host-connections.js';
import { runWithDocument, Virsh } from './virsh.js';

const exec = promisify(execFile);

/** The system users whose session daemons play the lab's hosts (`.ci/run` creates them too). */
export const LAB_USERS = ['ballast-lab1', 'ballast-lab2'] as const;
/** The lab's datastores: storage pools of the same names on every host, over directories all of them see. */
export const LAB_DATASTORES = ['lab-ds-a', 'lab-ds-b'] as const;

export interface LabGuest {
  /** The VM id: the domain's UUID. */
  id: string;
  name: string;
  memoryMb?: number;
  vcpus?: number;
  /** Memory the guest kernel dirties per second (0: an idle guest that halts; a high rate also burns its vCPU). */
  dirtyRateMbps?: number;
  mac?: string;
  datastore?: (typeof LAB_DATASTORES)[number];
  /** Defined but not started. */
  off?: boolean;
}

interface LabHost {
  hostId: string;
  user: string;
  dir: string;
  runtimeDir: string;
  uri: string;
  pidFile: string;
}

/**
 * Two libvirt "hosts" on this machine: a session `libvirtd` for each of two system users, each with
 * its own host UUID (libvirt refuses to migrate to a host with its own UUID) and runtime directory,
 * reached as root through its socket. Guests are small TCG domains running the QEMU lab's guest
 * kernel, with a qcow2 disk in a storage pool both hosts define over the same directory (shared
 * storage, as a SAN would be). Everything lives under one temporary directory; stop() destroys the
 * guests, stops the daemons and removes it. Needs root (runuser, useradd).
 */
export class LibvirtLab {
  readonly hosts: LabHost[] = [];
  private readonly virsh = new Virsh();
  private baseDir = '';

  constructor(private readonly options: { hostIds?: string[]; users?: readonly string[] } = {}) {}

  get dir(): string {
    return this.baseDir;
  }

  get connections(): HostConnection[] {
    return this.hosts.map((h) => ({ hostId: h.hostId, uri: h.uri, migrationAddress: '127.0.0.1' }));
  }

  host(hostId: string): LabHost {
    const host = this.hosts.find((h) => h.hostId === hostId);
    if (!host) throw new Error(`no lab host ${hostId}`);
    return host;
  }

  datastoreDir(datastore: string): string {
    return join(this.baseDir, 'datastores', datastore);
  }

  /** Creates the users if needed, writes the configuration and starts both daemons with their pools. */
  async start(): Promise<HostConnection[]> {
    const users = this.options.users ?? LAB_USERS;
    const hostIds = this.options.hostIds ?? users.map((_, i) => `lab-kvm-${i + 1}`);
    await ensureLabUsers(users);
    this.baseDir = await mkdtemp(join(tmpdir(), 'ballast-libvirt-lab-'));
    await chmod(this.baseDir, 0o755);
    await writeFile(join(this.baseDir, 'guest-kernel.bin'), GUEST_KERNEL, { mode: 0o644 });
    for (const datastore of LAB_DATASTORES) {
      await mkdir(this.datastoreDir(datastore), { recursive: true });
      await chmod(this.datastoreDir(datastore), 0o777);
    }
    for (const [i, user] of users.entries()) {
      const dir = join(this.baseDir, `host-${i + 1}`);
      const runtimeDir = join(dir, 'run');
      for (const sub of ['config/libvirt', 'cache', 'data', 'run']) await mkdir(join(dir, sub), { recursive: true });
      await writeFile(join(dir, 'config/libvirt/libvirtd.conf'), `host_uuid = "${randomUUID()}"\n`);
      // Guests' consoles to plain files: no virtlogd left behind by the lab.
      await writeFile(join(dir, 'config/libvirt/qemu.conf'), 'stdio_handler = "file"\n');
      await exec('chown', ['-R', `${user}:`, dir]);
      await chmod(runtimeDir, 0o700);
      const host = { hostId: hostIds[i], user, dir, runtimeDir, uri: `qemu+unix:///session?socket=${runtimeDir}/libvirt/libvirt-sock`, pidFile: join(runtimeDir, 'libvirtd.pid') };
      this.hosts.push(host);
      await this.startDaemon(host.hostId);
      for (const datastore of LAB_DATASTORES) {
        await this.virsh.run(host.uri, ['pool-define-as', datastore, 'dir', '--target', this.datastoreDir(datastore)]);
        await this.virsh.run(host.uri, ['pool-start', datastore]);
      }
    }
    return this.connections;
  }

  /** Starts a host's daemon (again, after killDaemon) and waits until it answers. */
  async startDaemon(hostId: string): Promise<void> {
    const host = this.host(hostId);
    const env = [`HOME=${host.dir}`, `XDG_CONFIG_HOME=${host.dir}/config`, `XDG_RUNTIME_DIR=${host.runtimeDir}`, `XDG_CACHE_HOME=${host.dir}/cache`, `XDG_DATA_HOME=${host.dir}/data`, 'PATH=/usr/sbin:/usr/bin:/sbin:/bin'];
    await exec('runuser', ['-u', host.user, '--', 'env', '-i', ...env, '/usr/sbin/libvirtd', '--daemon', `--pid-file=${host.pidFile}`]);
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await this.virsh.run(host.uri, ['uri'], { timeoutMs: 5_000 });
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`the libvirt daemon of lab host ${hostId} did not answer: ${(error as Error).message}`, { cause: error });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** SIGKILL to a host's daemon: its guests' QEMU processes keep running, as on a real host. */
  async killDaemon(hostId: string): Promise<void> {
    const pid = await this.daemonPid(hostId);
    if (pid) process.kill(pid, 'SIGKILL');
    await rm(this.host(hostId).pidFile, { force: true });
  }

  /** The whole host fails: its daemon and its guests' QEMU processes are killed (SIGKILL). */
  async killHost(hostId: string): Promise<void> {
    await this.killDaemon(hostId);
    for (const pid of await this.guestPids(this.host(hostId))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }

  /** The QEMU processes of a host's guests (from the daemon's pid files), whether or not the daemon still runs. */
  private async guestPids(host: LabHost): Promise<number[]> {
    const runDir = join(host.runtimeDir, 'libvirt/qemu/run');
    const pids: number[] = [];
    for (const file of (await readdir(runDir).catch(() => [])).filter((f) => f.endsWith('.pid'))) {
      const pid = Number.parseInt(await readFile(join(runDir, file), 'utf8').catch(() => ''), 10);
      const cmdline = pid > 0 ? await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '') : '';
      if (cmdline.includes(this.baseDir)) pids.push(pid);
    }
    return pids;
  }

  async daemonPid(hostId: string): Promise<number | null> {
    const raw = await readFile(this.host(hostId).pidFile, 'utf8').catch(() => '');
    const pid = Number.parseInt(raw, 10);
    return pid > 0 ? pid : null;
  }

  /** Defines a guest on a host and starts it (unless `off`). */
  async defineGuest(hostId: string, guest: LabGuest): Promise<{ mac: string; diskPath: string }> {
    const host = this.host(hostId);
    const mac = guest.mac ?? `52:54:00:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
    const datastore = guest.datastore ?? LAB_DATASTORES[0];
    const diskPath = join(this.datastoreDir(datastore), `${guest.name}.qcow2`);
    await exec('qemu-img', ['create', '-q', '-f', 'qcow2', diskPath, '32M']);
    await chmod(diskPath, 0o666);
    await this.virsh.run(host.uri, ['pool-refresh', datastore]);
    const xml = `<domain type='qemu'>
  <name>${escapeXml(guest.name)}</name>
  <uuid>${escapeXml(guest.id)}</uuid>
  <memory unit='MiB'>${guest.memoryMb ?? 64}</memory>
  <vcpu>${guest.vcpus ?? 1}</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>${escapeXml(join(this.baseDir, 'guest-kernel.bin'))}</kernel><cmdline>${guestKernelArgument(guest.dirtyRateMbps ?? 0)}</cmdline></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${escapeXml(diskPath)}'/><target dev='vda' bus='virtio'/></disk>
    <interface type='user'><mac address='${mac}'/><model type='virtio'/></interface>
    <memballoon model='virtio'/>
  </devices>
</domain>`;
    await runWithDocument(this.virsh, host.uri, ['define'], xml);
    if (!guest.off) await this.virsh.run(host.uri, ['start', guest.id]);
    return { mac, diskPath };
  }

  /** Destroys and undefines every guest, stops the daemons and removes the lab's directory. */
  async stop(): Promise<void> {
    for (const host of this.hosts) {
      if (!(await this.daemonPid(host.hostId))) await this.startDaemon(host.hostId).catch(() => undefined);
      const ids = (await this.virsh.run(host.uri, ['list', '--all', '--uuid']).catch(() => '')).split('\n').map((l) => l.trim()).filter(Boolean);
      for (const id of ids) {
        await this.virsh.run(host.uri, ['destroy', id]).catch(() => undefined);
        await this.virsh.run(host.uri, ['undefine', id]).catch(() => undefined);
      }
      const pid = await this.daemonPid(host.hostId);
      if (pid) {
        process.kill(pid, 'SIGTERM');
        await waitGone(pid, 10_000);
      }
      // A QEMU the daemon lost track of (its daemon killed mid-migration) must not outlive the lab.
      for (const pid of await this.guestPids(host)) await waitGone(pid, 0);
    }
    if (this.baseDir) await rm(this.baseDir, { recursive: true, force: true });
    this.hosts.length = 0;
  }
}

/** Creates the lab's system users when they are missing (idempotent; `.ci/run` does the same). */
export async function ensureLabUsers(users: readonly string[] = LAB_USERS): Promise<void> {
  for (const user of users) {
    const known = await exec('id', ['-u', user]).then(() => true, () => false);
    if (!known) await exec('useradd', ['--system', '--create-home', '--home-dir', `/var/lib/${user}`, '--shell', '/usr/sbin/nologin', user]);
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}
