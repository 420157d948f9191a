export { startVirtualPeers } from './virtual-peers.js';
export type { VirtualPeers, VirtualPeersOptions } from './virtual-peers.js';
export { startBoardServices } from './board-services.js';
export type { BoardServices, BoardServicesOptions } from './board-services.js';
