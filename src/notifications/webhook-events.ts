/** What a webhook can subscribe to; each is sent with a payload that names what it is about. */
export const WEBHOOK_EVENTS = [
  /** A plan of a manual or partially-automated cluster waits for an operator. */
  'recommendation.proposed',
  /** A maintenance operation is past its deadline with VMs still on the host. */
  'maintenance.stalled',
  /** A host was put in quarantine (degraded: no new VMs). */
  'host.degraded',
  /** A host became unreachable. */
  'host.failed',
  /** A migration ended failed (the VM stays on its source). */
  'migration.failed',
  /** A VM of a failed host was restarted on another host. */
  'ha.restart',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
export const DELIVERY_STATES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];
