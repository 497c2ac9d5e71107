/** The src/fs module's public surface: everything other modules may import. */
export { canWalkSafely, readEntry, walkTree, type EntryKind, type TreeEntry, type WalkTreeOptions } from './tree.js';
