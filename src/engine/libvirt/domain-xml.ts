/**
 * The little of libvirt's domain XML that Ballast reads (identity, size, NICs, disks) and writes
 * (the lab's guests). libvirt generates this XML itself, attributes in single quotes, so a small
 * reader of elements and attributes is enough; no general XML parser is needed.
 */

export interface DomainDisk {
  /** The guest's device name (`vda`). */
  target: string;
  /** The image file (or block device) behind the disk, when it has one. */
  path: string | null;
  /** For `<disk type='volume'>`: the storage pool and volume. */
  pool: string | null;
  volume: string | null;
  format: string | null;
}

export interface DomainNic {
  mac: string;
  /** The libvirt network or bridge it is plugged into, or its type (`user`) when neither. */
  network: string;
}

export interface DomainDescription {
  uuid: string;
  name: string;
  memoryMb: number;
  vcpus: number;
  nics: DomainNic[];
  disks: DomainDisk[];
}

const UNIT_KIB: Record<string, number> = { b: 1 / 1024, bytes: 1 / 1024, k: 1, kib: 1, kb: 1000 / 1024, m: 1024, mib: 1024, mb: 1000 ** 2 / 1024, g: 1024 ** 2, gib: 1024 ** 2, gb: 1000 ** 3 / 1024 };

function attributes(tag: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of tag.matchAll(/([\w:-]+)=(?:'([^']*)'|"([^"]*)")/g)) found.set(match[1], unescape(match[2] ?? match[3]));
  return found;
}

function unescape(text: string): string {
  return text.replace(/&apos;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

/** The first `<name ...>text</name>` directly in `xml`: its attributes and text. */
function element(xml: string, name: string): { attrs: Map<string, string>; text: string } | null {
  const match = new RegExp(`<${name}(\\s[^>]*)?>([\\s\\S]*?)</${name}>|<${name}(\\s[^>]*)?/>`).exec(xml);
  if (!match) return null;
  return { attrs: attributes(match[1] ?? match[3] ?? ''), text: unescape((match[2] ?? '').trim()) };
}

/** Every `<name ...>...</name>` block (or empty element) in `xml`. */
function blocks(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}(?:\\s[^>]*)?(?:/>|>[\\s\\S]*?</${name}>)`, 'g'))].map((m) => m[0]);
}

function openingTag(block: string): Map<string, string> {
  return attributes(/^<[^>]*>/.exec(block)?.[0] ?? '');
}

function memoryMb(el: { attrs: Map<string, string>; text: string } | null): number {
  if (!el) return 0;
  const unit = (el.attrs.get('unit') ?? 'KiB').toLowerCase();
  return (Number(el.text) * (UNIT_KIB[unit] ?? 1)) / 1024;
}

export function parseDomainXml(xml: string): DomainDescription {
  const devices = element(xml, 'devices')?.text ?? '';
  const uuid = element(xml, 'uuid')?.text;
  const name = element(xml, 'name')?.text;
  if (!uuid || !name) throw new Error('domain XML without a name or uuid');
  const current = element(xml, 'currentMemory');
  return {
    uuid,
    name,
    memoryMb: memoryMb(current ?? element(xml, 'memory')),
    vcpus: Number(element(xml, 'vcpu')?.text ?? 1) || 1,
    nics: blocks(devices, 'interface').map((block) => {
      const type = openingTag(block).get('type') ?? 'unknown';
      const source = element(block, 'source')?.attrs;
      return {
        mac: (element(block, 'mac')?.attrs.get('address') ?? '').toLowerCase(),
        network: source?.get('network') ?? source?.get('bridge') ?? source?.get('dev') ?? type,
      };
    }),
    disks: blocks(devices, 'disk')
      .filter((block) => (openingTag(block).get('device') ?? 'disk') === 'disk')
      .map((block) => {
        const source = element(block, 'source')?.attrs;
        return {
          target: element(block, 'target')?.attrs.get('dev') ?? '',
          path: source?.get('file') ?? source?.get('dev') ?? null,
          pool: source?.get('pool') ?? null,
          volume: source?.get('volume') ?? null,
          format: element(block, 'driver')?.attrs.get('type') ?? null,
        };
      }),
  };
}

/** `<permissions><mode>` of a storage volume's XML (`virsh vol-dumpxml`). */
export function volumeMode(xml: string): string | null {
  return element(element(xml, 'permissions')?.text ?? '', 'mode')?.text ?? null;
}

/** `<target><path>` of a storage pool's XML (`virsh pool-dumpxml`). */
export function poolPath(xml: string): string | null {
  return element(element(xml, 'target')?.text ?? '', 'path')?.text ?? null;
}
