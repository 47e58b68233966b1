import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { macAddressFor } from '../mac-address.js';
import type { EngineVm } from '../migration-engine.js';
import { GUEST_KERNEL } from './guest-kernel.js';
import { isLiveProcess, sleep } from './processes.js';
import { QemuLab } from './qemu-lab.js';

const exec = promisify(execFile);

function vm(id: string, overrides: Partial<EngineVm> = {}): EngineVm {
  return { id, memoryMb: 32, macAddress: macAddressFor(id), datastores: [], ...overrides };
}

async function livePids(lab: QemuLab, vmId: string): Promise<number[]> {
  const pids: number[] = [];
  for (const instance of await lab.instances(vmId)) if (await lab.isAlive(instance)) pids.push(instance.pid!);
  return pids;
}

describe('QemuLab', () => {
  let lab: QemuLab;

  beforeAll(async () => {
    lab = new QemuLab({ stateDir: await mkdtemp(join(tmpdir(), 'bq-lab-')) });
  });

  afterAll(async () => {
    await lab.destroy();
  });

  it('starts a detached TCG guest per VM with the MAC derived from its id and a disk on its datastore', async () => {
    await lab.register([{ vm: vm('web-1', { datastores: ['ds-a'], diskMb: 16 }), hostId: 'host-a', running: true }]);
    const [instance] = await lab.instances('web-1');
    expect(instance.hostId).toBe('host-a');
    const probe = await lab.probe(instance);
    expect(probe).toMatchObject({ alive: true, status: 'running', migrationStatus: 'none' });
    const mac = await lab.withProbe(instance, (c) => c.execute<string>('qom-get', { path: '/machine/peripheral/net0', property: 'mac' }));
    expect(mac).toBe(macAddressFor('web-1'));
    const disk = join(lab.stateDir, 'datastores', 'ds-a', 'web-1.qcow2');
    const info = JSON.parse((await exec('qemu-img', ['info', '-U', '--output=json', disk])).stdout) as { format: string; 'virtual-size': number };
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 16 * 1024 * 1024 });
    // Detached: the guest leads its own session, so it outlives the process that spawned it.
    const sid = (await readFile(`/proc/${instance.pid}/stat`, 'utf8')).split(') ')[1].split(' ')[3];
    expect(Number(sid)).toBe(instance.pid);
    expect(await lab.vm('web-1')).toMatchObject({ hostId: 'host-a', running: true, datastoreId: 'ds-a', macAddress: macAddressFor('web-1') });
  });

  it('registers idempotently: a running VM keeps its process and its place', async () => {
    const before = await livePids(lab, 'web-1');
    await lab.register([
      { vm: vm('web-1', { datastores: ['ds-a'] }), hostId: 'host-b', running: true },
      { vm: vm('off-1'), hostId: 'host-b', running: false },
    ]);
    expect(await livePids(lab, 'web-1')).toEqual(before);
    expect((await lab.instances('web-1')).map((i) => i.hostId)).toEqual(['host-a']);
    expect(await lab.vm('off-1')).toMatchObject({ hostId: 'host-b', running: false });
    expect(await lab.instances('off-1')).toEqual([]);
  });

  it('restarts a registered VM whose guest died, on the host it was last seen on', async () => {
    const [pid] = await livePids(lab, 'web-1');
    process.kill(pid, 'SIGKILL');
    while (await isLiveProcess(pid, 'qemu.pid')) await sleep(20);
    await lab.register([{ vm: vm('web-1'), hostId: 'host-b', running: true }]);
    const [instance] = await lab.instances('web-1');
    expect(instance.hostId).toBe('host-a');
    expect(instance.pid).not.toBe(pid);
    expect((await lab.probe(instance)).status).toBe('running');
  });

  it('runs guests that dirty their memory at the rate asked for', async () => {
    await lab.register([
      { vm: vm('busy-1', { memoryDirtyRateMbps: 80 }), hostId: 'host-a', running: true },
      { vm: vm('idle-1', { memoryDirtyRateMbps: 0 }), hostId: 'host-a', running: true },
    ]);
    const measure = async (vmId: string) => {
      const [instance] = await lab.instances(vmId);
      return lab.withProbe(instance, async (client) => {
        const sample = async () => {
          await client.execute('calc-dirty-rate', { 'calc-time': 1, 'sample-pages': 4096 });
          for (;;) {
            const rate = await client.execute<{ status: string; 'dirty-rate'?: number }>('query-dirty-rate');
            if (rate.status === 'measured') return rate['dirty-rate']!;
            await sleep(100);
          }
        };
        return sample();
      });
    };
    const [busy, idle] = await Promise.all([measure('busy-1'), measure('idle-1')]);
    // 80 Mb/s is 10 MB/s; QEMU samples and reports MiB/s.
    expect(busy).toBeGreaterThanOrEqual(6);
    expect(busy).toBeLessThanOrEqual(14);
    expect(idle).toBe(0);
  });

  it('keeps QMP sockets under the unix path limit when the state dir is long', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'bq-long-'));
    const deep = join(parent, 'a-very-long-directory-name-that-goes-on'.repeat(2));
    const longLab = new QemuLab({ stateDir: deep });
    try {
      await longLab.register([{ vm: vm('a-vm-with-a-rather-long-identifier-0001'), hostId: 'a-host-with-a-long-name', running: true }]);
      const [instance] = await longLab.instances('a-vm-with-a-rather-long-identifier-0001');
      expect(Buffer.byteLength(instance.controlSocket)).toBeLessThan(108);
      expect((await longLab.probe(instance)).status).toBe('running');
    } finally {
      await longLab.destroy();
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('stops every guest it runs', async () => {
    const pids = [...(await livePids(lab, 'web-1')), ...(await livePids(lab, 'busy-1')), ...(await livePids(lab, 'idle-1'))];
    expect(pids).toHaveLength(3);
    await lab.stopAll();
    for (const pid of pids) expect(await isLiveProcess(pid, 'qemu.pid')).toBe(false);
    expect(await readdir(join(lab.stateDir, 'hosts', 'host-a'))).toEqual([]);
    expect(await lab.vm('web-1')).not.toBeNull(); // definitions and disks stay
  });
});

describe('the guest kernel', () => {
  it('is the assembled guest/dirtier.S, when binutils are here to check', async () => {
    const haveBinutils = await exec('as', ['--version']).then(() => true, () => false);
    if (!haveBinutils) return; // nothing to compare with; the dirty-rate test above still runs the bytes
    const dir = await mkdtemp(join(tmpdir(), 'bq-kernel-'));
    const source = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'guest', 'dirtier.S');
    await exec('as', ['--32', '-o', join(dir, 'k.o'), source]);
    await exec('ld', ['-m', 'elf_i386', '-Ttext=0', '--oformat', 'binary', '-o', join(dir, 'k.bin'), join(dir, 'k.o')]);
    expect((await readFile(join(dir, 'k.bin'))).equals(GUEST_KERNEL)).toBe(true);
    expect((await stat(join(dir, 'k.bin'))).size).toBe(GUEST_KERNEL.length);
    await rm(dir, { recursive: true, force: true });
  });
});
