#include "hash_shims.h"
