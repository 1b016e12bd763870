/* abi.h: the module ABI version, its rules and its changelog */
#ifndef POSTA_ABI_H
#define POSTA_ABI_H

/*
 * Rules.  A module records the ABI it was compiled against in the first
 * fields of its descriptor.  postad loads it only when the major numbers are
 * equal and the module's minor is not newer than postad's.
 *
 *  - Appending a function to struct posta_host_api, a field to the end of a
 *    public struct, or a value to the end of an enum bumps the minor.
 *  - Removing, reordering or changing the meaning of anything bumps the
 *    major and resets the minor to 0.
 *
 * Changelog.
 *  2026-11-27  1.0  first version: modules, settings, connections, hooks,
 *                   auth providers, mail stores, the outbound queue.
 *  2026-11-27  1.1  store.h: struct posta_quota, the store's quota member
 *                   and posta_store_quota().
 */
#define POSTA_ABI_MAJOR 1
#define POSTA_ABI_MINOR 1

#endif
