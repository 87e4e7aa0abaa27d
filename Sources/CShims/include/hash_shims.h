// Hashing helpers for the mining share path (SHA-256d of headers, merkle steps). Owned by Sv2Mining.
#ifndef CSHIMS_HASH_H
#define CSHIMS_HASH_H
#include <stddef.h>
#include <stdint.h>
#endif
