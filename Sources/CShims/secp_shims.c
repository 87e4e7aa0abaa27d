#include "secp_shims.h"
