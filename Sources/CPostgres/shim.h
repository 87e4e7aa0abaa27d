// Debian's libpq (libpq-dev), used by Sv2Accounting's PostgreSQL replication.
#include <postgresql/libpq-fe.h>
