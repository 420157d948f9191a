export { startVirtualPeers } from './virtual-peers.js';
export type { VirtualPeers, VirtualPeersOptions } from './virtual-peers.js';
